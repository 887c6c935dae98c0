//! G-4 through a real Envoy: a server's `bind` makes its port's listener bind that address
//! (here 127.0.0.2, another loopback address) instead of the gateway's default 127.0.0.1.

use crate::support::*;
use portcullis_compile::compile::{CompileOptions, GatewayIdentity, compile};
use portcullis_compile::diagnostics::has_errors;
use portcullis_compile::load::load_str;

/// The status of `GET http://<address>:<port>/` with Host `bind.example.com` (0: no answer).
async fn status(address: &str, port: u16) -> u16 {
    let out = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "--max-time",
            "5",
            "-w",
            "%{http_code}",
        ])
        .args(["-H", "host: bind.example.com"])
        .arg(format!("http://{address}:{port}/"))
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_bind_address_is_the_listener_address() {
    let (bound, default, upstream) = (free_port(), free_port(), free_port());
    let yaml = format!(
        "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {bound}, name: http-bound, protocol: HTTP}}
    hosts: [bind.example.com]
    bind: 127.0.0.2
  - port: {{number: {default}, name: http-default, protocol: HTTP}}
    hosts: [bind.example.com]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: bind, namespace: default}}
spec:
  hosts: [bind.example.com]
  gateways: [gw]
  http:
  - route: [{{destination: {{host: echo.demo.local, port: {{number: 80}}}}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: echo, namespace: default}}
spec:
  hosts: [echo.demo.local]
  location: MESH_INTERNAL
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints: [{{address: 127.0.0.1, ports: {{http: {upstream}}}}}]
"
    );
    let loaded = load_str(&yaml, None);
    assert!(
        !has_errors(&loaded.diagnostics),
        "{:#?}",
        loaded.diagnostics
    );
    let out = compile(
        &loaded.resources,
        &GatewayIdentity::default(),
        &CompileOptions::default(),
    );
    assert!(!has_errors(&out.diagnostics), "{:#?}", out.diagnostics);
    let gw = start(out.wire, out.envoy).await;

    assert_eq!(
        status("127.0.0.2", bound).await,
        200,
        "the bound address serves"
    );
    assert_eq!(
        status("127.0.0.1", bound).await,
        0,
        "the default address does not listen on the bound server's port"
    );
    assert_eq!(
        status("127.0.0.1", default).await,
        200,
        "a server without bind keeps the default"
    );
    assert_eq!(status("127.0.0.2", default).await, 0);

    finish(gw).await;
}
