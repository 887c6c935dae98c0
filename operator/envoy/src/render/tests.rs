//! Render snapshots of hand-built plans. Regenerate with `cargo xtask gen`.

use std::path::PathBuf;

use expect_test::{ExpectFile, expect_file};
use portcullis_core::wire::{Egress, Listener, WIRE_VERSION, WireConfig};
use serde_json::Value;

use super::*;
use crate::api::to_json_value;
use crate::delivery::{WasmCode, XdsServer};
use crate::{ConfigDir, filter_config_response};
use portcullis_compile::plan::{
    ClientCertificate, ClusterPlan, Discovery, Endpoint, ListenerPlan, PassthroughPlan, PemSource,
    ServerVerification, TlsChainPlan, TlsSettings, TlsVersion, UpstreamTlsPlan,
    WeightedClusterPlan,
};

fn opts() -> RenderOptions {
    RenderOptions {
        delivery: ConfigDelivery::Files(ConfigDir::new("/cfg")),
        bind_address: "127.0.0.1".into(),
        wasm: WasmModules::local(
            "/wasm/portcullis_router.wasm",
            Some(PathBuf::from("/wasm/portcullis_egress_audit.wasm")),
        ),
        tls: TlsDelivery::Inline,
        failure_policy: Default::default(),
        access_log: Some(PathBuf::from("/logs/access.log")),
    }
}

/// The same gateway delivered over ADS, with modules fetched from the server and TLS by SDS.
fn ads_opts() -> RenderOptions {
    let remote = |name: &str, sha256: &str| WasmCode::Remote {
        url: format!("http://portcullis.portcullis-system:15081/modules/{sha256}/{name}"),
        cluster: "portcullis-xds-http".into(),
        sha256: sha256.into(),
    };
    RenderOptions {
        delivery: ConfigDelivery::Ads(XdsServer {
            address: "portcullis.portcullis-system".into(),
            port: 15080,
        }),
        wasm: WasmModules {
            router: remote("portcullis_router.wasm", "aa11"),
            egress_audit: Some(remote("portcullis_egress_audit.wasm", "bb22")),
        },
        tls: TlsDelivery::Sds,
        ..opts()
    }
}

fn bootstrap_opts(delivery: ConfigDelivery) -> BootstrapOptions {
    BootstrapOptions {
        node_id: "portcullis-test".into(),
        labels: Default::default(),
        namespace: None,
        admin_port: 15000,
        delivery,
    }
}

fn wire(ports: &[(u16, u16)], egress: bool) -> WireConfig {
    WireConfig {
        version: WIRE_VERSION,
        config_version: "sha256:test".into(),
        listeners: ports
            .iter()
            .map(|&(port, bind)| Listener {
                port,
                bind_port: Some(bind),
                servers: vec![],
                virtual_hosts: vec![],
            })
            .collect(),
        egress: egress.then(|| Egress {
            allowed_hosts: vec![],
            deny_status: 404,
            explain_denials: false,
            audit: Default::default(),
            passthrough_ports: vec![],
        }),
    }
}

fn listener(name: &str, port: u16, kind: ListenerKind) -> ListenerPlan {
    ListenerPlan {
        name: name.into(),
        gateway_port: port,
        bind_port: port + 10000,
        bind_address: None,
        kind,
        tls_chains: vec![],
        passthrough: vec![],
        tcp: None,
    }
}

fn static_cluster(name: &str, port: u16) -> ClusterPlan {
    ClusterPlan {
        name: name.into(),
        discovery: Discovery::Static(vec![Endpoint {
            address: "127.0.0.1".into(),
            port,
        }]),
        http2: false,
        tls: None,
    }
}

fn pretty(v: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(&to_json_value(v)).unwrap_or_default() + "\n"
}

fn check(v: &impl serde::Serialize, expect: ExpectFile) {
    expect.assert_eq(&pretty(v));
}

fn ecds(s: &Snapshot, name: &str) -> Value {
    to_json_value(&filter_config_response(
        &s.version,
        s.filter_config(name).unwrap(),
    ))
}

/// An ingress gateway with plain HTTP on 80 and HTTPS on 443 (two SNI chains).
fn ingress_plan() -> EnvoyPlan {
    let mut https = listener("https.443", 443, ListenerKind::Ingress);
    https.tls_chains = vec![
        TlsChainPlan {
            name: "default/gw/https".into(),
            server_names: vec!["dev.example.com".into()],
            certificate_chain: PemSource::Inline("CERT".into()),
            private_key: PemSource::Inline("KEY".into()),
            client_ca: None,
            require_client_certificate: false,
            settings: Default::default(),
            tcp: None,
        },
        TlsChainPlan {
            name: "default/gw/https-any".into(),
            server_names: vec![],
            certificate_chain: PemSource::Inline("CERT2".into()),
            private_key: PemSource::Inline("KEY2".into()),
            client_ca: Some(PemSource::Inline("CA".into())),
            require_client_certificate: true,
            settings: TlsSettings {
                min_protocol_version: Some(TlsVersion::V1_2),
                max_protocol_version: Some(TlsVersion::V1_3),
                cipher_suites: vec!["ECDHE-RSA-AES128-GCM-SHA256".into()],
                client_subject_alt_names: vec!["client.example.org".into()],
                client_spki_sha256: vec!["NvqYIYSbgK2vCJpQhObf77vv+bQWtc5ek5RIOwPiC9A=".into()],
                client_certificate_sha256: vec![
                    "df6ff72fe9116521268f6f2dd4966f51df479883fe7037b39f75916ac3049d1a".into(),
                ],
            },
            tcp: None,
        },
    ];
    EnvoyPlan {
        listeners: vec![listener("http.80", 80, ListenerKind::Ingress), https],
        clusters: vec![
            static_cluster("outbound|8080||dev.svc", 18081),
            ClusterPlan {
                name: "outbound|443||api.example.org".into(),
                discovery: Discovery::Dns(vec![Endpoint {
                    address: "api.example.org".into(),
                    port: 443,
                }]),
                http2: true,
                tls: Some(UpstreamTlsPlan {
                    sni: "api.example.org".into(),
                    verify: Some(ServerVerification {
                        trusted_ca: PemSource::SystemBundle,
                        subject_alt_names: vec!["api.example.org".into()],
                        crl: None,
                    }),
                    client_certificate: None,
                }),
            },
            ClusterPlan {
                name: "outbound|443||mtls.example.org".into(),
                discovery: Discovery::Dns(vec![Endpoint {
                    address: "mtls.example.org".into(),
                    port: 443,
                }]),
                http2: false,
                tls: Some(UpstreamTlsPlan {
                    sni: "mtls.example.org".into(),
                    verify: Some(ServerVerification {
                        trusted_ca: PemSource::Inline("UPSTREAM-CA".into()),
                        subject_alt_names: vec![
                            "spiffe://example.org/ns/a/sa/b".into(),
                            "10.0.0.1".into(),
                        ],
                        crl: Some(PemSource::File("/etc/crl.pem".into())),
                    }),
                    client_certificate: Some(ClientCertificate {
                        certificate_chain: PemSource::Inline("CLIENT-CERT".into()),
                        private_key: PemSource::Inline("CLIENT-KEY".into()),
                    }),
                }),
            },
        ],
    }
}

/// An egress gateway: HTTP on 80 and TLS passthrough on 443.
fn egress_plan() -> EnvoyPlan {
    let mut tls = listener("tls.443", 443, ListenerKind::Egress);
    tls.passthrough = vec![PassthroughPlan {
        server_names: vec!["api.example.org".into()],
        clusters: vec![
            WeightedClusterPlan {
                cluster: "outbound|443||api.example.org".into(),
                weight: 80,
            },
            WeightedClusterPlan {
                cluster: "outbound|443|v2|api.example.org".into(),
                weight: 20,
            },
        ],
    }];
    EnvoyPlan {
        listeners: vec![listener("http.80", 80, ListenerKind::Egress), tls],
        clusters: vec![static_cluster("outbound|80||httpbin.org", 18080)],
    }
}

/// The bootstrap only points at the files: it never changes with the plan.
#[test]
fn bootstrap() {
    check(
        &render_bootstrap(&bootstrap_opts(opts().delivery)),
        expect_file!["snapshots/bootstrap.json"],
    );
}

/// Ingress: router filter via ECDS, catch-all cluster_header route, SNI-selected TLS chains.
#[test]
fn ingress_resources() {
    let r = render(
        &ingress_plan(),
        &wire(&[(80, 10080), (443, 10443)], false),
        &opts(),
    )
    .unwrap();
    check(
        &r.listeners_response(),
        expect_file!["snapshots/ingress_lds.json"],
    );
    check(
        &r.clusters_response(),
        expect_file!["snapshots/ingress_cds.json"],
    );
    check(
        &ecds(&r, ROUTER_FILTER),
        expect_file!["snapshots/ingress_ecds_router.json"],
    );
    assert!(r.filter_config(EGRESS_AUDIT_FILTER).is_none());
    assert!(r.secrets.is_empty(), "inline TLS has no SDS secrets");
}

/// S-7: a verified upstream gets a validation context (CA, names), an unverified one
/// (`insecureSkipVerify`) none; HTTP/2 clusters offer `h2` by ALPN.
#[test]
fn upstream_tls_is_verified() {
    let w = wire(&[(80, 10080), (443, 10443)], false);
    let r = render(&ingress_plan(), &w, &opts()).unwrap();
    let cds = to_json_value(&r.clusters_response());
    let tls = |name: &str| {
        cds["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["transport_socket"]["typed_config"]
            .clone()
    };
    let api = tls("outbound|443||api.example.org");
    assert_eq!(
        api["common_tls_context"]["validation_context"]["trusted_ca"]["filename"],
        SYSTEM_CA_BUNDLE
    );
    assert_eq!(
        api["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"][0],
        serde_json::json!({"san_type": "DNS", "matcher": {"exact": "api.example.org"}})
    );
    assert_eq!(api["common_tls_context"]["alpn_protocols"][0], "h2");

    let mut plan = ingress_plan();
    plan.clusters[1].tls.as_mut().unwrap().verify = None;
    let r = render(&plan, &w, &opts()).unwrap();
    let cds = to_json_value(&r.clusters_response());
    let api = &cds["resources"][1]["transport_socket"]["typed_config"];
    assert_eq!(api["sni"], "api.example.org");
    assert!(
        api["common_tls_context"]
            .get("validation_context")
            .is_none(),
        "{api}"
    );
}

/// Egress: audit filter before the router; passthrough chains audited and split by weight,
/// unknown SNI blackholed.
#[test]
fn egress_resources() {
    let r = render(&egress_plan(), &wire(&[(80, 10080)], true), &opts()).unwrap();
    check(
        &r.listeners_response(),
        expect_file!["snapshots/egress_lds.json"],
    );
    check(
        &r.clusters_response(),
        expect_file!["snapshots/egress_cds.json"],
    );
    check(
        &ecds(&r, EGRESS_AUDIT_FILTER),
        expect_file!["snapshots/egress_ecds_audit.json"],
    );
}

/// A bind port the wire config does not know would 404 every request: refuse to render it.
#[test]
fn bind_port_mismatch_is_an_error() {
    let err = render(&ingress_plan(), &wire(&[(80, 10080)], false), &opts()).unwrap_err();
    assert!(
        matches!(err, Error::BindPortMismatch { port: 10443, .. }),
        "{err}"
    );
}

/// Egress listeners need the egress-audit module.
#[test]
fn egress_without_audit_module_is_an_error() {
    let mut o = opts();
    o.wasm.egress_audit = None;
    let err = render(&egress_plan(), &wire(&[(80, 10080)], true), &o).unwrap_err();
    assert!(matches!(err, Error::MissingEgressModule { .. }), "{err}");
}

/// The same inputs render the same versions; a changed plan changes the version.
#[test]
fn versions_are_content_digests() {
    let w = wire(&[(80, 10080), (443, 10443)], false);
    let a = render(&ingress_plan(), &w, &opts()).unwrap();
    let b = render(&ingress_plan(), &w, &opts()).unwrap();
    assert_eq!(
        a.listeners_response().version_info,
        b.listeners_response().version_info
    );
    let mut plan = ingress_plan();
    plan.clusters.pop();
    let c = render(&plan, &w, &opts()).unwrap();
    assert_ne!(
        a.clusters_response().version_info,
        c.clusters_response().version_info
    );
    assert_eq!(
        a.listeners_response().version_info,
        c.listeners_response().version_info
    );
}

/// Over ADS: the bootstrap names the xDS server as an HTTP/2 cluster and every dynamic
/// resource says `ads`.
#[test]
fn ads_bootstrap() {
    check(
        &render_bootstrap(&BootstrapOptions {
            labels: [("istio".to_string(), "ingressgateway".to_string())].into(),
            namespace: Some("istio-system".into()),
            ..bootstrap_opts(ads_opts().delivery)
        }),
        expect_file!["snapshots/ads_bootstrap.json"],
    );
}

/// With SDS, private keys leave the listener: the chains reference secrets by name, and the
/// snapshot carries the secrets; wasm code is remote, pinned by its sha256.
#[test]
fn ads_resources_with_sds_and_remote_code() {
    let r = render(
        &ingress_plan(),
        &wire(&[(80, 10080), (443, 10443)], false),
        &ads_opts(),
    )
    .unwrap();
    let listeners = pretty(&r.listeners_response());
    assert!(
        !listeners.contains("KEY"),
        "a private key is inline:\n{listeners}"
    );
    let clusters = pretty(&r.clusters_response());
    assert!(
        !clusters.contains("KEY") && clusters.contains("client.outbound|443||mtls.example.org"),
        "an upstream client key is inline:\n{clusters}"
    );
    check(
        &r.listeners_response(),
        expect_file!["snapshots/ads_lds.json"],
    );
    check(&r.secrets, expect_file!["snapshots/ads_sds.json"]);
    check(
        &ecds(&r, ROUTER_FILTER),
        expect_file!["snapshots/ads_ecds_router.json"],
    );
}

/// Secret files cannot escape the SDS directory, whatever the secret is called.
#[test]
fn secret_files_stay_in_their_directory() {
    let dir = ConfigDir::new("/cfg");
    assert_eq!(
        dir.secret_file("../../etc/passwd"),
        PathBuf::from("/cfg/sds/.._.._etc_passwd.json")
    );
    assert_eq!(dir.secret_file(".."), PathBuf::from("/cfg/sds/_...json"));
}

/// Durations are written as proto3 JSON writes them.
#[test]
fn durations_use_the_proto3_json_form() {
    use crate::api::Duration;
    let text = |d: std::time::Duration| serde_json::to_string(&Duration(d)).unwrap();
    assert_eq!(text(std::time::Duration::from_secs(5)), "\"5s\"");
    assert_eq!(text(std::time::Duration::from_millis(250)), "\"0.25s\"");
    assert_eq!(
        text(std::time::Duration::from_nanos(1_000_000_001)),
        "\"1.000000001s\""
    );
}
