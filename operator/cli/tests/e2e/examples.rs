//! The shipped examples, compiled from their YAML by the real compiler and served by a real
//! Envoy with demo upstreams (the upstream ports are the examples' own: 18081/18082 seed,
//! 19080 bookinfo, 18090 egress; each test uses a different example, so they run in parallel).

use std::path::{Path, PathBuf};

use crate::support::http::get;
use crate::support::*;
use portcullis::cli::{GatewayArgs, compile_files};
use portcullis::local::LocalGateway;
use portcullis_compile::diagnostics::has_errors;

/// Compiles `examples/<name>` with a port offset putting Gateway port `port` on a free port.
async fn serve_example(name: &str, port: u16, labels: &[(&str, &str)]) -> (LocalGateway, u16) {
    let bind = free_port();
    let mut gateway = GatewayArgs {
        port_offset: bind - port,
        ..GatewayArgs::default()
    };
    if !labels.is_empty() {
        gateway.gateway_labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let out = compile_files(&[dir], &gateway.identity(), &gateway.options());
    assert!(!has_errors(&out.diagnostics), "{:?}", out.diagnostics);
    (start(out.wire, out.envoy).await, bind)
}

/// Seed: each host to its own upstream; unknown hosts 404 (G-10).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed() {
    let (gw, port) = serve_example("seed", 80, &[]).await;
    let r = get("dev.example.com", "/").send(port).await;
    assert_eq!(
        (r.status, r.upstream().as_str()),
        (200, "outbound|80||dev-upstream.demo.local"),
        "{r:?}"
    );
    let r = get("test.example.com", "/x").send(port).await;
    assert_eq!(
        (r.status, r.upstream().as_str()),
        (200, "outbound|80||test-upstream.demo.local"),
        "{r:?}"
    );
    assert_eq!(r.echo()["path"], "/x");
    let r = get("prod.example.com", "/").send(port).await;
    assert_eq!((r.status, r.upstream().as_str()), (404, ""), "{r:?}");
    finish(gw).await;
}

/// Bookinfo: the listed paths reach productpage, any host; other paths 404 (V-9).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookinfo() {
    let (gw, port) = serve_example("bookinfo", 8080, &[]).await;
    let productpage = "outbound|9080||productpage.default.svc.cluster.local";
    for path in [
        "/productpage",
        "/static/css/x.css",
        "/login",
        "/logout",
        "/api/v1/products/1",
    ] {
        let r = get("bookinfo.local", path).send(port).await;
        assert_eq!(
            (r.status, r.upstream().as_str()),
            (200, productpage),
            "{path}: {r:?}"
        );
        assert_eq!(r.echo()["path"], path);
    }
    for path in ["/", "/productpage/x", "/admin"] {
        let r = get("anything.example.com", path).send(port).await;
        assert_eq!(
            (r.status, r.upstream().as_str()),
            (404, ""),
            "{path}: {r:?}"
        );
    }
    finish(gw).await;
}

/// Egress: httpbin.org goes out (to the local stand-in) with an `allowed` audit record naming
/// the Gateway/ServiceEntry; another host is denied with a `denied` record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress() {
    let (gw, port) = serve_example("egress", 80, &[("istio", "egressgateway")]).await;
    let r = get("httpbin.org", "/get")
        .header("user-agent", "e2e")
        .send(port)
        .await;
    assert_eq!(
        (r.status, r.upstream().as_str()),
        (200, "outbound|80||httpbin.org"),
        "{r:?}"
    );
    let allowed = wait_audit(&gw, |a| a["authority"] == "httpbin.org").await;
    assert_eq!(allowed["decision"], "allowed", "{allowed:#}");
    assert!(
        allowed.to_string().contains("e2e"),
        "included user-agent header: {allowed}"
    );

    let r = get("example.com", "/").send(port).await;
    assert_eq!(r.upstream(), "", "{r:?}");
    assert!(r.status >= 400, "{r:?}");
    let denied = wait_audit(&gw, |a| a["authority"] == "example.com").await;
    assert_eq!(denied["decision"], "denied", "{denied:#}");
    finish(gw).await;
}
