//! The `render` and `explain` entry points as `main.rs` mounts them.

#![allow(
    clippy::unwrap_used,
    reason = "test helper: a bad command line should fail the test"
)]

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use portcullis::cli::{ExplainArgs, RenderArgs, explain_command, render_command};
use portcullis_compile::explain::{ExplainError, ExplainRequest, ExplainedOutcome, explain};

#[derive(Parser)]
enum Cli {
    Render(RenderArgs),
    Explain(ExplainArgs),
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
        .display()
        .to_string()
}

fn run(args: &[&str]) -> ExitCode {
    match Cli::try_parse_from(std::iter::once("portcullis").chain(args.iter().copied())).unwrap() {
        Cli::Render(a) => render_command(&a),
        Cli::Explain(a) => explain_command(&a),
    }
}

/// `render` succeeds on a clean example and fails on resources with errors.
#[test]
fn render_exit_codes() {
    assert_eq!(
        run(&["render", "-f", &example("seed"), "--port-offset", "10000"]),
        ExitCode::SUCCESS
    );
    let bad = std::env::temp_dir().join(format!("portcullis-bad-{}.yaml", std::process::id()));
    std::fs::write(&bad, "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {servers: [{port: {number: x}}]}\n").unwrap();
    assert_eq!(
        run(&["render", "-f", &bad.display().to_string()]),
        ExitCode::FAILURE
    );
    let _ = std::fs::remove_file(bad);

    // Warnings only (a destination no registry knows, V-18): success, unless `--strict`.
    let warned =
        std::env::temp_dir().join(format!("portcullis-warned-{}.yaml", std::process::id()));
    std::fs::write(&warned, "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  selector: {istio: ingressgateway}\n  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n  hosts: ['*']\n  gateways: [g]\n  http: [{route: [{destination: {host: unknown.example.org}}]}]\n").unwrap();
    let path = warned.display().to_string();
    assert_eq!(run(&["render", "-f", &path]), ExitCode::SUCCESS);
    assert_eq!(run(&["render", "-f", &path, "--strict"]), ExitCode::FAILURE);
    let _ = std::fs::remove_file(warned);
}

/// The gateway flags have Istio's defaults and parse `key=value` labels.
#[test]
fn gateway_flags() {
    let Cli::Render(a) = Cli::try_parse_from(["p", "render", "-f", "x"]).unwrap() else {
        panic!()
    };
    assert_eq!(
        a.gateway.gateway_labels,
        [("istio".to_string(), "ingressgateway".to_string())]
    );
    assert_eq!(a.gateway.gateway_namespace, "istio-system");
    let Cli::Render(a) = Cli::try_parse_from([
        "p",
        "render",
        "-f",
        "x",
        "--gateway-label",
        "istio=egressgateway",
        "--gateway-label",
        "app=gw",
    ])
    .unwrap() else {
        panic!()
    };
    assert!(a.gateway.identity().is_egress());
    assert!(Cli::try_parse_from(["p", "render", "-f", "x", "--gateway-label", "novalue"]).is_err());
    // The documented form: one flag, comma-separated.
    let Cli::Explain(a) = Cli::try_parse_from([
        "p",
        "explain",
        "-f",
        "x",
        "--host",
        "h",
        "--path",
        "/",
        "--gateway-labels",
        "istio=egressgateway,app=gw",
    ])
    .unwrap() else {
        panic!()
    };
    assert_eq!(
        a.gateway.gateway_labels,
        [
            ("istio".to_string(), "egressgateway".to_string()),
            ("app".to_string(), "gw".to_string())
        ]
    );
}

/// `explain` needs a port it can find before anything else.
#[test]
fn explain_port_errors() {
    let out = portcullis::cli::compile_files(
        &[example("seed").into()],
        &Default::default(),
        &Default::default(),
    );
    let request = ExplainRequest {
        host: "dev.example.com".into(),
        path: "/".into(),
        method: "GET".into(),
        port: Some(81),
        ..Default::default()
    };
    assert_eq!(
        explain(&out.wire, &request, 1),
        Err(ExplainError::NoListenerOnPort {
            port: 81,
            listeners: vec![80]
        })
    );
    let features = portcullis::cli::compile_files(
        &[example("features").into()],
        &Default::default(),
        &Default::default(),
    );
    let request = ExplainRequest {
        port: None,
        ..request
    };
    let e = explain(&features.wire, &request, 1).unwrap_err();
    assert_eq!(
        e,
        ExplainError::PortNeeded {
            listeners: vec![80, 443]
        }
    );
    assert_eq!(
        e.to_string(),
        "several HTTP listeners and no gateway port chosen (listeners: 80, 443)"
    );
    assert_eq!(
        run(&[
            "explain",
            "-f",
            &example("features"),
            "--host",
            "shop.example"
        ]),
        ExitCode::from(2)
    );
}

/// Once the core matcher lands: every example passes the filters' own validation and explain
/// follows the bookinfo routes.
#[test]
fn examples_pass_core_validation_and_explain() {
    for name in ["seed", "bookinfo"] {
        let out = portcullis::cli::compile_files(
            &[example(name).into()],
            &Default::default(),
            &Default::default(),
        );
        portcullis_core::Gateway::compile(&out.wire).unwrap();
    }
    let out = portcullis::cli::compile_files(
        &[example("bookinfo").into()],
        &Default::default(),
        &Default::default(),
    );
    let request = ExplainRequest {
        host: "bookinfo.local".into(),
        path: "/productpage".into(),
        method: "GET".into(),
        ..Default::default()
    };
    let e = explain(&out.wire, &request, 1).unwrap();
    let ExplainedOutcome::Forward { cluster, .. } = &e.outcome else {
        panic!("{e:?}")
    };
    assert_eq!(
        cluster,
        "outbound|9080||productpage.default.svc.cluster.local"
    );
    // The JSON form (`explain --json`): the outcome is an object tagged with its `kind`.
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["outcome"]["kind"], "forward");
    assert_eq!(
        json["outcome"]["cluster"],
        "outbound|9080||productpage.default.svc.cluster.local"
    );
    let request = ExplainRequest {
        path: "/other".into(),
        ..request
    };
    let e = explain(&out.wire, &request, 1).unwrap();
    assert!(
        matches!(
            e.outcome,
            ExplainedOutcome::Refused {
                status: 404,
                code: "route_not_found",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        serde_json::to_value(&e).unwrap()["outcome"],
        serde_json::json!({
            "kind": "refused",
            "status": 404,
            "code": "route_not_found",
            "reason": "no route of the virtual service matches the request",
        })
    );
}

/// `explain --sni` reaches the request (G-11): the SNI defaults to the Host, `''` is none.
#[test]
fn explain_sni_flag() {
    let Cli::Explain(a) = Cli::try_parse_from([
        "p", "explain", "-f", "x", "--host", "a.test", "--sni", "b.test",
    ])
    .unwrap() else {
        panic!()
    };
    assert_eq!(a.sni.as_deref(), Some("b.test"));
    let Cli::Explain(a) =
        Cli::try_parse_from(["p", "explain", "-f", "x", "--host", "a.test"]).unwrap()
    else {
        panic!()
    };
    assert_eq!(a.sni, None);
    let features = example("features");
    for sni in ["", "other.example"] {
        assert_eq!(
            run(&[
                "explain",
                "-f",
                &features,
                "--port",
                "443",
                "--host",
                "secure.shop.example",
                "--sni",
                sni,
            ]),
            ExitCode::SUCCESS
        );
    }
}

/// Diagnostics from files name the file, line and column (the loader's and the compiler's).
#[test]
fn diagnostics_are_located_in_their_file() {
    let dir = std::env::temp_dir().join(format!("portcullis-located-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("gw.yaml"),
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  selector: {istio: ingressgateway}\n  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("vs.yaml"),
        "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v}
spec:
  hosts: ['*']
  gateways: [gw]
  http:
  - match: [{uri: {regex: '('}}]
    route: [{destination: {host: a.example.org}}]
  frobnicate: 1
",
    )
    .unwrap();
    let out = portcullis::cli::compile_files(
        std::slice::from_ref(&dir),
        &Default::default(),
        &Default::default(),
    );
    let file = dir.join("vs.yaml").display().to_string();
    let text: Vec<String> = out.diagnostics.iter().map(ToString::to_string).collect();
    assert!(
        text.contains(&format!(
            "warning: VirtualService default/v ({file}:10:3) at spec.frobnicate: field is not understood by Portcullis and is ignored"
        )),
        "{text:#?}"
    );
    assert!(
        text.iter().any(|t| t.starts_with(&format!(
            "error: VirtualService default/v ({file}:8:14) at spec.http[0].match[0].uri: "
        ))),
        "{text:#?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
