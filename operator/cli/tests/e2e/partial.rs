//! A-1 through `portcullis up` and a real Envoy: a server Portcullis cannot serve is dropped and
//! the rest of its Gateway serves; an invalid edit keeps the version accepted before, while a
//! valid edit saved with it applies; a new invalid resource is left out.

use std::time::Duration;

use crate::support::http::get;
use crate::support::*;
use crate::up::{service_entry, spawn_up, wait_upstream, write};

/// An HTTP server next to one that needs a mesh identity Portcullis does not have.
const GATEWAY: &str = "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [dev.example.com, test.example.com, new.example.com]
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ['*']
    tls: {mode: ISTIO_MUTUAL}
";

/// VirtualService `name` sending `host` to `to`; `bad_regex` adds a first rule whose regex
/// RE2 cannot parse, which Istio's validation refuses.
fn virtual_service(name: &str, host: &str, to: &str, bad_regex: bool) -> String {
    let invalid = if bad_regex {
        "  - match: [{uri: {regex: '/a(('}}]\n    route: [{destination: {host: blue.demo.local}}]\n"
    } else {
        ""
    };
    format!(
        "
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: default}}
spec:
  hosts: [{host}]
  gateways: [gw]
  http:
{invalid}  - route:
    - destination: {{host: {to}.demo.local}}
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_what_istio_would_accept() {
    let dir = state_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let (blue, green, admin, listen) = (free_port(), free_port(), free_port(), free_port());
    write(&dir, "gateway.yaml", GATEWAY);
    write(
        &dir,
        "upstreams.yaml",
        &format!(
            "{}---{}",
            service_entry("blue", blue),
            service_entry("green", green)
        ),
    );
    write(
        &dir,
        "dev.yaml",
        &virtual_service("dev", "dev.example.com", "blue", false),
    );
    let mut child = spawn_up(&dir, listen, admin);

    // The ISTIO_MUTUAL server is dropped; the HTTP server serves.
    wait_upstream(listen, "outbound|80||blue.demo.local").await;

    // One change: an invalid edit of `dev`, a valid new `test`, an invalid new `new`.
    write(
        &dir,
        "dev.yaml",
        &virtual_service("dev", "dev.example.com", "green", true),
    );
    write(
        &dir,
        "new.yaml",
        &virtual_service("new", "new.example.com", "green", true),
    );
    write(
        &dir,
        "test.yaml",
        &virtual_service("test", "test.example.com", "green", false),
    );
    let mut applied = None;
    for _ in 0..200 {
        if let Ok(r) = get("test.example.com", "/").try_send(listen).await
            && r.status == 200
        {
            applied = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let applied = applied.expect("the valid new VirtualService was never served");
    assert_eq!(applied.upstream(), "outbound|80||green.demo.local");
    // Held back: the version accepted before still serves, whole.
    let dev = get("dev.example.com", "/").send(listen).await;
    assert_eq!(dev.upstream(), "outbound|80||blue.demo.local", "{dev:?}");
    // Left out: no earlier version, so the host has no route (Istio's 404).
    let new = get("new.example.com", "/").send(listen).await;
    assert_eq!(new.status, 404, "{new:?}");

    // Mended, the edit applies.
    write(
        &dir,
        "dev.yaml",
        &virtual_service("dev", "dev.example.com", "green", false),
    );
    wait_upstream(listen, "outbound|80||green.demo.local").await;

    stop_up(&mut child).await;
    let _ = std::fs::remove_dir_all(&dir);
}
