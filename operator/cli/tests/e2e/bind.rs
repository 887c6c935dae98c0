//! G-4 through a real Envoy: a server's `bind` makes its port's listener bind that address
//! (here 127.0.0.2, another loopback address) instead of the gateway's default 127.0.0.1.

use crate::support::*;
use portcullis_compile::compile::GatewayIdentity;

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
---{}",
        local_service_entry("echo", 80, "HTTP", upstream)
    );
    let (wire, plan) = compile_istio(&yaml, &GatewayIdentity::default());
    let gw = start(wire, plan).await;

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
