//! G-6/V-18 through a real Envoy: a TLS PASSTHROUGH server routes each connection by its SNI
//! to the `VirtualService.tls` rule's destinations, split by weight, without terminating it:
//! the client completes its handshake with the upstream itself (it sees the upstream's own
//! certificate). A connection whose SNI no rule names, or that sends none, is refused.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use crate::support::*;
use portcullis_compile::compile::GatewayIdentity;
use rcgen::{CertificateParams, DnType, KeyPair};
use tokio::process::{Child, Command};

/// An `openssl s_server` on 127.0.0.1:`port` presenting a self-signed certificate whose
/// subject is `CN=<cn>`, so a client can tell which upstream it reached.
async fn tls_upstream(dir: &Path, cn: &str, port: u16) -> Child {
    let mut params = CertificateParams::new(vec!["shop.example.com".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    let key = KeyPair::generate().unwrap();
    let (cert_file, key_file) = (dir.join(format!("{cn}.crt")), dir.join(format!("{cn}.key")));
    std::fs::write(&cert_file, params.self_signed(&key).unwrap().pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let child = Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-accept",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("-cert")
        .arg(&cert_file)
        .arg("-key")
        .arg(&key_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("openssl s_server");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return child;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("openssl s_server on {port} did not start");
}

/// The common name of the certificate the peer at `port` presents for `sni` (None: no
/// handshake). `openssl s_client` closes once stdin ends, after the handshake.
async fn presented_cn(port: u16, sni: Option<&str>) -> Option<String> {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")]);
    match sni {
        Some(name) => cmd.args(["-servername", name]),
        None => cmd.arg("-noservername"),
    };
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        cmd.stdin(Stdio::null()).output(),
    )
    .await
    .expect("openssl s_client did not finish")
    .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("depth=0 CN = "))
        .map(|cn| cn.trim().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_connections_follow_the_sni_and_the_weights() {
    let (bind, shop_a, shop_b) = (free_port(), free_port(), free_port());
    let yaml = format!(
        "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: shop-gateway, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {bind}, name: tls, protocol: TLS}}
    tls: {{mode: PASSTHROUGH}}
    hosts: ['*.example.com']
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: shop, namespace: default}}
spec:
  hosts: [shop.example.com]
  gateways: [shop-gateway]
  tls:
  - match: [{{sniHosts: [shop.example.com]}}]
    route:
    - {{destination: {{host: shop-a.demo.local, port: {{number: 443}}}}, weight: 50}}
    - {{destination: {{host: shop-b.demo.local, port: {{number: 443}}}}, weight: 50}}
---{}---{}",
        local_service_entry("shop-a", 443, "TLS", shop_a),
        local_service_entry("shop-b", 443, "TLS", shop_b),
    );
    let (wire, plan) = compile_istio(&yaml, &GatewayIdentity::default());
    let gw = start_with(wire, plan, false).await;
    let certs = gw.state_dir().join("upstream-certs");
    std::fs::create_dir_all(&certs).unwrap();
    let _a = tls_upstream(&certs, "shop-a", shop_a).await;
    let _b = tls_upstream(&certs, "shop-b", shop_b).await;

    let mut seen: BTreeMap<Option<String>, usize> = BTreeMap::new();
    for _ in 0..40 {
        *seen
            .entry(presented_cn(bind, Some("shop.example.com")).await)
            .or_default() += 1;
    }
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        [Some("shop-a".to_string()), Some("shop-b".to_string())],
        "every connection completes its handshake with one of the two upstreams: {seen:?}"
    );

    for sni in [Some("other.example.com"), Some("shop.example.org"), None] {
        assert_eq!(
            presented_cn(bind, sni).await,
            None,
            "SNI {sni:?} is refused, not proxied"
        );
    }
    finish(gw).await;
}
