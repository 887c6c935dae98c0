//! Mutual TLS (Gateway `tls.mode: MUTUAL`) through a real Envoy: the HTTPS chain carries the
//! client CA and requires a client certificate. A client presenting a certificate signed by that
//! CA is routed (200 from the echo upstream); a client without a certificate, or with one from
//! another CA, fails the handshake; the upstream of a verified client learns its certificate
//! from `x-forwarded-client-cert`. CA, server and client certificates are generated here.

use crate::support;

use std::path::{Path, PathBuf};

use crate::support::pki::{ca, leaf};
use crate::support::*;
use portcullis_compile::plan::{
    EnvoyPlan, ListenerKind, ListenerPlan, PemSource, TlsChainPlan, TlsSettings, TlsVersion,
};
use rcgen::ExtendedKeyUsagePurpose;
use serde_json::json;

const HOST: &str = "mtls.example.com";

/// `curl https://HOST:port/path` trusting `ca_file`, optionally with a client certificate.
/// Returns (curl exit code, HTTP status, body).
async fn curl(
    port: u16,
    path: &str,
    ca_file: &Path,
    client: Option<(&Path, &Path)>,
    extra: &[&str],
) -> (i32, u16, String) {
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "10",
        "-w",
        "\n%{http_code}",
        "--cacert",
    ])
    .arg(ca_file)
    .args(["--resolve", &format!("{HOST}:{port}:127.0.0.1")]);
    if let Some((cert, key)) = client {
        cmd.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    cmd.args(extra);
    let out = cmd
        .arg(format!("https://{HOST}:{port}{path}"))
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        out.status.code().unwrap_or(-1),
        code.trim().parse().unwrap_or(0),
        body.to_string(),
    )
}

fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_requires_a_client_certificate_from_the_ca() {
    let (bind, upstream) = (free_port(), free_port());
    let ca = ca("portcullis e2e CA");
    let (server_cert, server_key) = leaf(&ca, HOST, &[HOST], ExtendedKeyUsagePurpose::ServerAuth);
    let (client_cert, client_key) = leaf(
        &ca,
        "client.example.com",
        &["client.example.com"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let rogue = support::pki::ca("rogue CA");
    let (rogue_cert, rogue_key) = leaf(
        &rogue,
        "rogue.example.com",
        &["rogue.example.com"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );

    let dir = state_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = write(&dir, "ca.pem", &ca.pem());
    let client_cert = write(&dir, "client.pem", &client_cert);
    let client_key = write(&dir, "client.key", &client_key);
    let rogue_cert = write(&dir, "rogue.pem", &rogue_cert);
    let rogue_key = write(&dir, "rogue.key", &rogue_key);

    let wire = wire(json!({
        "version": 1,
        "configVersion": "mtls",
        "listeners": [{
            "port": 443,
            "bindPort": bind,
            "servers": [
                { "name": "default/gw/mtls", "hosts": [HOST], "tls": true,
                  "virtualHosts": [{ "name": "mtls", "domains": [HOST], "routes": [
                      { "name": "mtls", "action": { "route": { "destinations": [{ "cluster": "mtls", "weight": 100 }] } } }
                  ]}] }
            ],
        }],
    }));
    let plan = EnvoyPlan {
        listeners: vec![ListenerPlan {
            name: "https.443".into(),
            gateway_port: 443,
            bind_port: bind,
            bind_address: None,
            kind: ListenerKind::Ingress,
            tls_chains: vec![TlsChainPlan {
                name: String::new(),
                server_names: vec![HOST.into()],
                certificate_chain: PemSource::Inline(server_cert),
                private_key: PemSource::Inline(server_key),
                client_ca: Some(PemSource::Inline(ca.pem())),
                require_client_certificate: true,
                settings: Default::default(),
                tcp: None,
            }],
            passthrough: vec![],
            tcp: None,
        }],
        clusters: vec![local_cluster("mtls", upstream)],
    };
    let gw = start(wire, plan).await;

    // A certificate signed by the client CA: routed.
    let (exit, status, body) =
        curl(bind, "/m", &ca_file, Some((&client_cert, &client_key)), &[]).await;
    assert_eq!((exit, status), (0, 200), "{body}");
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["upstream"], "mtls");
    assert_eq!(echo["path"], "/m");
    // S-5: as at Istio's gateway (SANITIZE_SET), the upstream learns the verified client
    // certificate from x-forwarded-client-cert: its hash, subject, whole certificate and DNS
    // SANs.
    let xfcc = echo["headers"]["x-forwarded-client-cert"]
        .as_str()
        .unwrap_or_else(|| panic!("no x-forwarded-client-cert upstream: {echo}"));
    for part in [
        "Hash=",
        "Subject=\"CN=client.example.com\"",
        "Cert=\"-----BEGIN%20CERTIFICATE-----",
        "DNS=client.example.com",
    ] {
        assert!(xfcc.contains(part), "{part} missing in {xfcc}");
    }

    // No client certificate: the handshake (or the first read after it, in TLS 1.3) fails.
    let (exit, status, body) = curl(bind, "/m", &ca_file, None, &[]).await;
    assert_ne!(exit, 0, "without a client certificate: {status} {body}");
    assert_eq!(status, 0, "{body}");

    // A certificate from another CA: refused as well.
    let (exit, status, body) =
        curl(bind, "/m", &ca_file, Some((&rogue_cert, &rogue_key)), &[]).await;
    assert_ne!(
        exit, 0,
        "with a foreign client certificate: {status} {body}"
    );
    assert_eq!(status, 0, "{body}");

    finish(gw).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// G-14: a mutual server's protocol floor and client-name check are Envoy's to enforce: a
/// client certificate from the right CA but for another name is refused, and so is a client
/// that offers nothing newer than TLS 1.2 to a server with `minProtocolVersion: TLSV1_3`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_settings_are_enforced_by_envoy() {
    let (bind, upstream) = (free_port(), free_port());
    let ca = ca("portcullis e2e CA");
    let (server_cert, server_key) = leaf(&ca, HOST, &[HOST], ExtendedKeyUsagePurpose::ServerAuth);
    let (client_cert, client_key) = leaf(
        &ca,
        "client.example.com",
        &["client.example.com"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let (other_cert, other_key) = leaf(
        &ca,
        "other.example.com",
        &["other.example.com"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let dir = state_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = write(&dir, "ca.pem", &ca.pem());
    let client = (
        write(&dir, "client.pem", &client_cert),
        write(&dir, "client.key", &client_key),
    );
    let other = (
        write(&dir, "other.pem", &other_cert),
        write(&dir, "other.key", &other_key),
    );

    let wire = wire(json!({
        "version": 1,
        "configVersion": "tls-settings",
        "listeners": [{
            "port": 443,
            "bindPort": bind,
            "servers": [
                { "name": "default/gw/mtls", "hosts": [HOST], "tls": true,
                  "virtualHosts": [{ "name": "mtls", "domains": [HOST], "routes": [
                      { "name": "mtls", "action": { "route": { "destinations": [{ "cluster": "mtls", "weight": 100 }] } } }
                  ]}] }
            ],
        }],
    }));
    let plan = EnvoyPlan {
        listeners: vec![ListenerPlan {
            name: "https.443".into(),
            gateway_port: 443,
            bind_port: bind,
            bind_address: None,
            kind: ListenerKind::Ingress,
            tls_chains: vec![TlsChainPlan {
                name: String::new(),
                server_names: vec![HOST.into()],
                certificate_chain: PemSource::Inline(server_cert),
                private_key: PemSource::Inline(server_key),
                client_ca: Some(PemSource::Inline(ca.pem())),
                require_client_certificate: true,
                settings: TlsSettings {
                    min_protocol_version: Some(TlsVersion::V1_3),
                    client_subject_alt_names: vec!["client.example.com".into()],
                    ..TlsSettings::default()
                },
                tcp: None,
            }],
            passthrough: vec![],
            tcp: None,
        }],
        clusters: vec![local_cluster("mtls", upstream)],
    };
    let gw = start(wire, plan).await;

    let (exit, status, body) = curl(bind, "/m", &ca_file, Some((&client.0, &client.1)), &[]).await;
    assert_eq!((exit, status), (0, 200), "{body}");

    let (exit, status, body) = curl(bind, "/m", &ca_file, Some((&other.0, &other.1)), &[]).await;
    assert_ne!(
        exit, 0,
        "a client certificate for another name: {status} {body}"
    );

    let (exit, status, body) = curl(
        bind,
        "/m",
        &ca_file,
        Some((&client.0, &client.1)),
        &["--tls-max", "1.2"],
    )
    .await;
    assert_ne!(exit, 0, "TLS 1.2 against a TLS 1.3 floor: {status} {body}");

    finish(gw).await;
    let _ = std::fs::remove_dir_all(dir);
}
