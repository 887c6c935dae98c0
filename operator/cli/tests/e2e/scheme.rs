//! G-7: `httpsRedirect` and `requireTls` decide on the connection, through a real Envoy. A
//! cleartext HTTP/2 client (prior knowledge) may send `:scheme: https` and
//! `x-forwarded-proto: https`; Envoy overwrites `x-forwarded-proto` from the connection, and
//! the router reads that, so the client is still redirected.

use crate::support::http::get;
use crate::support::*;
use portcullis_compile::plan::{EnvoyPlan, ListenerKind};
use serde_json::json;

/// `curl --http2-prior-knowledge` over cleartext with the given extra headers; returns
/// (status, location).
async fn h2c(port: u16, host: &str, path: &str, headers: &[&str]) -> (u16, String) {
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "10",
        "--http2-prior-knowledge",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{redirect_url}",
    ]);
    cmd.args(["-H", &format!("host: {host}")]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (code, location) = text.split_once(' ').unwrap_or((&text, ""));
    (
        code.trim().parse().unwrap_or(0),
        location.trim().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g7_redirect_follows_the_connection_not_the_claimed_scheme() {
    let (bind, upstream) = (free_port(), free_port());
    let to = |c: &str| json!({ "route": { "destinations": [{ "cluster": c, "weight": 100 }] } });
    let wire = wire(json!({
        "version": 1,
        "configVersion": "scheme",
        "listeners": [{
            "port": 80,
            "bindPort": bind,
            "servers": [
                { "name": "default/gw/redirect", "hosts": ["dev.example.com"], "httpsRedirect": true },
                { "name": "default/gw/http", "hosts": ["*"] }
            ],
            "virtualHosts": [
                { "name": "dev", "domains": ["dev.example.com"], "routes": [
                    { "name": "dev", "action": to("up") } ] },
                { "name": "tls-only", "domains": ["tls.example.com"], "requireTls": true, "routes": [
                    { "name": "tls", "action": to("up") } ] },
                { "name": "open", "domains": ["open.example.com"], "routes": [
                    { "name": "open", "action": to("up") } ] }
            ],
        }],
    }));
    let plan = EnvoyPlan {
        listeners: vec![http_listener(80, bind, ListenerKind::Ingress)],
        clusters: vec![local_cluster("up", upstream)],
    };
    let gw = start(wire, plan).await;

    for host in ["dev.example.com", "tls.example.com"] {
        let expected = (301, format!("https://{host}/x"));
        // HTTP/1.1 cleartext, as before.
        let r = get(host, "/x").send(bind).await;
        assert_eq!(
            (
                r.status,
                r.header("location").unwrap_or_default().to_string()
            ),
            expected,
            "{host}"
        );
        // h2c claiming https in :scheme, and in x-forwarded-proto too.
        assert_eq!(
            h2c(bind, host, "/x", &[":scheme: https"]).await,
            expected,
            "{host} with :scheme https over cleartext"
        );
        assert_eq!(
            h2c(
                bind,
                host,
                "/x",
                &[":scheme: https", "x-forwarded-proto: https"]
            )
            .await,
            expected,
            "{host} with x-forwarded-proto https over cleartext"
        );
    }
    // A host without a redirect is served over h2c, whatever it claims.
    assert_eq!(
        h2c(bind, "open.example.com", "/x", &[":scheme: https"]).await,
        (200, String::new())
    );
    finish(gw).await;
}
