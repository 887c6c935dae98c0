//! G-6 through a real Envoy: a terminated HTTPS server whose certificate and key are files on
//! the gateway's disk (`serverCertificate`, `privateKey`), and a MUTUAL one whose client CA is
//! too (`caCertificates`). Envoy reads the files; the compiler only passes their paths.

use std::path::Path;

use crate::support::http::curl_https;
use crate::support::*;
use portcullis_compile::compile::GatewayIdentity;
use rcgen::ExtendedKeyUsagePurpose;

const HOST: &str = "files.example.com";

/// The Gateway (one HTTPS server with `tls`), a VirtualService to an echo upstream on
/// 127.0.0.1:`upstream`, and its ServiceEntry.
fn resources(bind: u16, upstream: u16, tls: &str) -> String {
    format!(
        "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {bind}, name: https, protocol: HTTPS}}
    hosts: [{HOST}]
    tls: {tls}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: files, namespace: default}}
spec:
  hosts: [{HOST}]
  gateways: [gw]
  http:
  - route: [{{destination: {{host: echo.demo.local, port: {{number: 80}}}}}}]
---{}",
        local_service_entry("echo", 80, "HTTP", upstream)
    )
}

fn write(dir: &Path, name: &str, pem: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path.display().to_string()
}

/// `curl` over HTTPS presenting the client certificate `cert`/`key`. Returns the status (0:
/// the handshake failed).
async fn curl_with_client_cert(port: u16, ca: &Path, cert: &Path, key: &Path) -> u16 {
    let out = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "--max-time",
            "10",
            "-w",
            "%{http_code}",
        ])
        .arg("--cacert")
        .arg(ca)
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .args(["--resolve", &format!("{HOST}:{port}:127.0.0.1")])
        .arg(format!("https://{HOST}:{port}/"))
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_mounted_certificates_terminate_tls() {
    let (simple_port, mutual_port, upstream) = (free_port(), free_port(), free_port());
    let dir = state_dir().join("gateway-certs");
    std::fs::create_dir_all(&dir).unwrap();
    let ca = pki::ca("Portcullis file-certs CA");
    let (cert, key) = pki::leaf(&ca, HOST, &[HOST], ExtendedKeyUsagePurpose::ServerAuth);
    let (client_cert, client_key) = pki::leaf(
        &ca,
        "client",
        &["client"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let ca_file = write(&dir, "ca.pem", &ca.pem());
    let cert_file = write(&dir, "server.pem", &cert);
    let key_file = write(&dir, "server.key", &key);
    let client_cert_file = write(&dir, "client.pem", &client_cert);
    let client_key_file = write(&dir, "client.key", &client_key);

    let simple = resources(
        simple_port,
        upstream,
        &format!("{{mode: SIMPLE, serverCertificate: {cert_file}, privateKey: {key_file}}}"),
    );
    let mutual = resources(
        mutual_port,
        upstream,
        &format!(
            "{{mode: MUTUAL, serverCertificate: {cert_file}, privateKey: {key_file}, caCertificates: {ca_file}}}"
        ),
    )
    .replace("name: gw,", "name: gw-mutual,")
    .replace("gateways: [gw]", "gateways: [gw-mutual]")
    .replace("name: files,", "name: files-mutual,")
    .replace("name: echo,", "name: echo-mutual,");
    let (wire, plan) = compile_istio(&format!("{simple}---{mutual}"), &GatewayIdentity::default());
    let gw = start(wire, plan).await;

    let ca_path = Path::new(&ca_file);
    let (status, body) = curl_https(HOST, simple_port, "/simple", ca_path).await;
    assert_eq!(status, 200, "SIMPLE with the files' certificate: {body}");
    let (status, _) = curl_https(HOST, mutual_port, "/", ca_path).await;
    assert_ne!(status, 200, "MUTUAL refuses a client without a certificate");
    let status = curl_with_client_cert(
        mutual_port,
        ca_path,
        Path::new(&client_cert_file),
        Path::new(&client_key_file),
    )
    .await;
    assert_eq!(
        status, 200,
        "MUTUAL accepts a certificate the CA file issued"
    );

    finish(gw).await;
    let _ = std::fs::remove_dir_all(dir);
}
