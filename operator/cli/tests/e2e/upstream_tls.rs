//! Upstream TLS origination through a real Envoy (S-7). The upstream is a TLS server whose
//! certificate a test CA signed (one of Envoy's own listeners, terminating TLS in front of the
//! echo upstream). A cluster that trusts that CA and expects the certificate's name is served;
//! one expecting another name, or trusting another CA, is refused by Envoy's certificate check
//! (503, never a silent plain-text or unverified connection); `insecureSkipVerify` accepts any
//! certificate. MUTUAL presents a client certificate, its key delivered by SDS.

use crate::support;

use crate::support::http::get;
use crate::support::pki::{ca, leaf};
use crate::support::*;
use portcullis_compile::plan::{
    ClientCertificate, ClusterPlan, Discovery, Endpoint, EnvoyPlan, ListenerKind, ListenerPlan,
    PemSource, ServerVerification, TlsChainPlan, UpstreamTlsPlan,
};
use rcgen::ExtendedKeyUsagePurpose;
use serde_json::{Value, json};

const SERVER: &str = "secure.upstream.test";

/// A cluster to the TLS listener on `port`. `localhost` resolves by DNS, so the demo
/// upstreams (which serve STATIC 127.0.0.1 endpoints) leave the port to Envoy.
fn tls_cluster(name: &str, port: u16, tls: UpstreamTlsPlan) -> ClusterPlan {
    ClusterPlan {
        name: name.into(),
        discovery: Discovery::Dns(vec![Endpoint {
            address: "localhost".into(),
            port,
        }]),
        http2: false,
        tls: Some(tls),
    }
}

fn verified(sni: &str, ca: PemSource, names: &[&str]) -> UpstreamTlsPlan {
    UpstreamTlsPlan {
        sni: sni.into(),
        verify: Some(ServerVerification {
            trusted_ca: ca,
            subject_alt_names: names.iter().map(|n| n.to_string()).collect(),
            crl: None,
        }),
        client_certificate: None,
    }
}

/// One vhost per case on the plain listener, each to its own cluster.
fn route(name: &str) -> Value {
    json!({ "name": name, "domains": [format!("{name}.test")], "routes": [
        { "name": name, "action": { "route": { "destinations": [{ "cluster": name, "weight": 100 }] } } }
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_certificates_are_verified() {
    let (bind, tls_bind, mtls_bind, echo) = (free_port(), free_port(), free_port(), free_port());
    let ca = ca("portcullis upstream CA");
    let (server_cert, server_key) =
        leaf(&ca, SERVER, &[SERVER], ExtendedKeyUsagePurpose::ServerAuth);
    let (client_cert, client_key) = leaf(
        &ca,
        "gateway.test",
        &["gateway.test"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let foreign = support::pki::ca("foreign CA");

    let dir = state_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let ca_file = ca_file.display().to_string();
    let client_cert_file = dir.join("client.pem");
    std::fs::write(&client_cert_file, &client_cert).unwrap();

    let cases = [
        "good",
        "wrongname",
        "foreign",
        "insecure",
        "mutual",
        "nocert",
    ];
    let tls_server = |port: u16, name: &str| {
        json!({
            "port": port, "bindPort": port,
            "servers": [{ "name": name, "hosts": ["*"], "tls": true,
                "virtualHosts": [{ "name": "echo", "domains": ["*"], "routes": [
                    { "name": "echo", "action": { "route": { "destinations": [{ "cluster": "echo", "weight": 100 }] } } }
                ]}] }],
        })
    };
    let wire = wire(json!({
        "version": 1,
        "configVersion": "upstream-tls",
        "listeners": [
            { "port": 80, "bindPort": bind, "servers": [{ "name": "default/gw/http", "hosts": ["*"] }],
              "virtualHosts": cases.iter().map(|c| route(c)).collect::<Vec<_>>() },
            tls_server(tls_bind, "default/upstream/https"),
            tls_server(mtls_bind, "default/upstream/mtls"),
        ],
    }));
    let chain = |require_client_certificate: bool| TlsChainPlan {
        // The wire servers name no chain: the router finds them by SNI.
        name: "upstream".into(),
        server_names: vec![],
        certificate_chain: PemSource::Inline(server_cert.clone()),
        private_key: PemSource::Inline(server_key.clone()),
        client_ca: require_client_certificate.then(|| PemSource::Inline(ca.pem())),
        require_client_certificate,
        settings: Default::default(),
        tcp: None,
    };
    let tls_listener = |name: &str, port: u16, mutual: bool| ListenerPlan {
        name: name.into(),
        gateway_port: port,
        bind_port: port,
        bind_address: None,
        kind: ListenerKind::Ingress,
        tls_chains: vec![chain(mutual)],
        passthrough: vec![],
        tcp: None,
    };
    let trusted = || PemSource::File(ca_file.clone());
    let client = Some(ClientCertificate {
        certificate_chain: PemSource::File(client_cert_file.display().to_string()),
        // Inline, as from a credentialName Secret: it must reach Envoy by SDS.
        private_key: PemSource::Inline(client_key.clone()),
    });
    let plan = EnvoyPlan {
        listeners: vec![
            http_listener(80, bind, ListenerKind::Ingress),
            tls_listener("https.upstream", tls_bind, false),
            tls_listener("https.mtls", mtls_bind, true),
        ],
        clusters: vec![
            local_cluster("echo", echo),
            tls_cluster("good", tls_bind, verified(SERVER, trusted(), &[SERVER])),
            tls_cluster(
                "wrongname",
                tls_bind,
                verified(SERVER, trusted(), &["other.upstream.test"]),
            ),
            tls_cluster(
                "foreign",
                tls_bind,
                verified(SERVER, PemSource::Inline(foreign.pem()), &[SERVER]),
            ),
            tls_cluster(
                "insecure",
                tls_bind,
                UpstreamTlsPlan {
                    sni: SERVER.into(),
                    verify: None,
                    client_certificate: None,
                },
            ),
            tls_cluster(
                "mutual",
                mtls_bind,
                UpstreamTlsPlan {
                    client_certificate: client,
                    ..verified(SERVER, trusted(), &[SERVER])
                },
            ),
            tls_cluster("nocert", mtls_bind, verified(SERVER, trusted(), &[SERVER])),
        ],
    };
    let gw = start(wire, plan).await;

    // The right CA and the certificate's name: served.
    let r = get("good.test", "/g").send(bind).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.upstream(), "echo");
    assert_eq!(r.echo()["path"], "/g");

    // The CA signed it, but for another name; and a certificate from a CA not trusted: Envoy's
    // certificate check refuses the connection, and says which check failed.
    for (case, failure) in [
        ("wrongname", "fail_verify_san"),
        ("foreign", "fail_verify_error"),
    ] {
        let r = get(&format!("{case}.test"), "/").send(bind).await;
        assert_eq!(r.status, 503, "{case}: {}", r.body);
        let counter = format!("cluster.{case}.ssl.{failure}");
        let n = gw.admin().counter(&counter).await.unwrap();
        assert!(n >= 1, "{counter} = {n}");
    }

    // insecureSkipVerify: TLS without a certificate check.
    let r = get("insecure.test", "/i").send(bind).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // MUTUAL: the upstream requires a client certificate from its CA.
    let r = get("mutual.test", "/m").send(bind).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get("nocert.test", "/").send(bind).await;
    assert_eq!(r.status, 503, "{}", r.body);

    finish(gw).await;
    let _ = std::fs::remove_dir_all(dir);
}
