//! TLS termination, passthrough and the egress section (G-6, G-11, E-1, E-3).

use crate::compile::GatewayIdentity;
use crate::diagnostics::Effect;
use crate::plan::{ListenerKind, PemSource, TlsVersion};
use portcullis_core::wire::{AuditSink, FailureMode};

use super::*;

const HTTPS: &str = "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [secure.example.com]
    tls: {mode: SIMPLE, credentialName: secure-cert}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v, namespace: default}
spec:
  hosts: [secure.example.com]
  gateways: [gw]
  http:
  - route: [{destination: {host: a.org}}]
---
";

const SECRET: &str = "
apiVersion: v1
kind: Secret
metadata: {name: secure-cert, namespace: istio-system}
type: kubernetes.io/tls
data:
  tls.crt: Q0VSVA==
  tls.key: S0VZ
";

/// G-6/G-11: SIMPLE with a credentialName Secret in the gateway namespace → a TLS chain.
#[test]
fn simple_tls_from_secret() {
    let out = compile_yaml(&(HTTPS.to_string() + SECRET));
    let l = &out.envoy.listeners[0];
    assert_eq!(l.name, "https.443");
    assert_eq!(l.tls_chains.len(), 1);
    assert_eq!(l.tls_chains[0].server_names, ["secure.example.com"]);
    assert_eq!(
        (
            &l.tls_chains[0].certificate_chain,
            &l.tls_chains[0].private_key
        ),
        (
            &PemSource::Inline("CERT".into()),
            &PemSource::Inline("KEY".into())
        )
    );
    assert!(out.wire.listeners[0].servers[0].tls);
    vhost(&out, 443, "secure.example.com");
}

/// G-6: a missing Secret drops the server with an error.
#[test]
fn missing_secret_drops_server() {
    let out = compile_yaml(HTTPS);
    assert!(out.envoy.listeners.is_empty());
    let d = with_rule(&out, "G-6");
    assert_eq!(d[0].severity, Severity::Error);
    assert!(
        d[0].message.contains("istio-system/secure-cert"),
        "{}",
        d[0].message
    );
}

/// G-6: without `credentialName`, the server's certificate, key and client CA are the files
/// `serverCertificate`, `privateKey` and `caCertificates` name, for Envoy to read.
#[test]
fn file_mounted_certificates_are_read_by_envoy_from_their_paths() {
    let tls = "tls: {mode: SIMPLE, credentialName: secure-cert}";
    let files = "tls: {mode: MUTUAL, serverCertificate: /etc/certs/server.pem, \
                 privateKey: /etc/certs/key.pem, caCertificates: /etc/certs/ca.pem}";
    let out = compile_yaml(&HTTPS.replace(tls, files));
    assert!(with_rule(&out, "G-6").is_empty(), "{:#?}", out.diagnostics);
    let chain = &out.envoy.listeners[0].tls_chains[0];
    let file = |p: &str| PemSource::File(p.into());
    assert_eq!(chain.certificate_chain, file("/etc/certs/server.pem"));
    assert_eq!(chain.private_key, file("/etc/certs/key.pem"));
    assert_eq!(chain.client_ca, Some(file("/etc/certs/ca.pem")));
    assert!(chain.require_client_certificate);
    // Moving the key to another file is a new configuration (the path is all the plan has).
    let moved = compile_yaml(&HTTPS.replace(tls, &files.replace("key.pem", "key2.pem")));
    assert_ne!(out.content_hash, moved.content_hash);
}

/// G-6 under `up` (`local_files`): the gateway is this machine, so a certificate file that
/// cannot be read here drops the server with an error naming it; a readable one is kept.
#[test]
fn local_gateways_check_that_the_certificate_files_are_readable() {
    let dir = std::env::temp_dir().join(format!("portcullis-local-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&cert, "CERT").unwrap();
    std::fs::write(&key, "KEY").unwrap();
    let compile_local = |key: &std::path::Path| {
        let files = format!(
            "tls: {{mode: SIMPLE, serverCertificate: {}, privateKey: {}}}",
            cert.display(),
            key.display()
        );
        let yaml = HTTPS.replace("tls: {mode: SIMPLE, credentialName: secure-cert}", &files);
        let loaded = load_str(&yaml, None);
        let options = CompileOptions {
            local_files: true,
            ..CompileOptions::default()
        };
        compile(&loaded.resources, &GatewayIdentity::default(), &options)
    };
    let out = compile_local(&key);
    assert_eq!(out.envoy.listeners.len(), 1, "{:#?}", out.diagnostics);
    let missing = dir.join("missing.key");
    let out = compile_local(&missing);
    assert!(out.envoy.listeners.is_empty());
    let d = with_rule(&out, "G-6");
    assert!(
        d[0].message.contains(&missing.display().to_string()),
        "{:?}",
        d[0]
    );
    assert_eq!(d[0].effect, Some(Effect::DropsPiece));
    let _ = std::fs::remove_dir_all(dir);
}

/// G-6: `credentialName` wins over files given with it; a server with a certificate file but
/// no key, or MUTUAL files without a CA, is invalid as Istio validates it: an error drops it.
#[test]
fn incomplete_file_mounted_certificates_drop_the_server() {
    let tls = "tls: {mode: SIMPLE, credentialName: secure-cert}";
    let both = "tls: {mode: SIMPLE, credentialName: secure-cert, serverCertificate: /c.pem, privateKey: /k.pem}";
    let out = compile_yaml(&(HTTPS.replace(tls, both) + SECRET));
    let chain = &out.envoy.listeners[0].tls_chains[0];
    assert_eq!(chain.certificate_chain, PemSource::Inline("CERT".into()));

    for (files, field) in [
        (
            "tls: {mode: SIMPLE, serverCertificate: /c.pem}",
            "privateKey",
        ),
        ("tls: {mode: SIMPLE}", "serverCertificate"),
        (
            "tls: {mode: MUTUAL, serverCertificate: /c.pem, privateKey: /k.pem}",
            "caCertificates",
        ),
    ] {
        let out = compile_yaml(&HTTPS.replace(tls, files));
        assert!(out.envoy.listeners.is_empty(), "{files}");
        let d = with_rule(&out, "G-6");
        assert_eq!(d[0].severity, Severity::Error, "{files}");
        let at = d[0].field.as_deref().unwrap_or_default();
        assert!(at.ends_with(&format!("tls.{field}")), "{files}: {:?}", d[0]);
    }
}

/// Rotating only the private key changes the content hash (the key is not in the JSON).
#[test]
fn key_rotation_changes_hash() {
    let a = compile_yaml(&(HTTPS.to_string() + SECRET));
    let b = compile_yaml(&(HTTPS.to_string() + &SECRET.replace("S0VZ", "S0VZMg==")));
    assert_ne!(a.content_hash, b.content_hash);
}

const EGRESS: &str = "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: egress
  namespace: default
  annotations:
    portcullis.dev/audit-sink: http://collector.obs.svc.cluster.local:9000/ingest
    portcullis.dev/audit-failure-mode: closed
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 443, name: tls, protocol: TLS}
    hosts: [api.ext.org]
    tls: {mode: PASSTHROUGH}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: sni, namespace: default}
spec:
  hosts: [api.ext.org]
  gateways: [egress]
  tls:
  - match: [{sniHosts: [api.ext.org], port: 443}]
    route: [{destination: {host: api.ext.org, port: {number: 443}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec:
  hosts: [api.ext.org]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
";

fn egress_identity() -> GatewayIdentity {
    GatewayIdentity {
        labels: [("istio".to_string(), "egressgateway".to_string())].into(),
        namespace: "istio-system".into(),
    }
}

/// E-1/E-3: an egress workload gets egress listeners, SNI passthrough, the allow-list from
/// Gateway servers and ServiceEntries, and audit settings from annotations.
#[test]
fn egress_passthrough_allow_list_and_audit() {
    let out = compile_for(EGRESS, &egress_identity());
    let l = &out.envoy.listeners[0];
    assert_eq!((l.name.as_str(), l.kind), ("tls.443", ListenerKind::Egress));
    assert_eq!(l.passthrough.len(), 1);
    assert_eq!(l.passthrough[0].server_names, ["api.ext.org"]);
    assert_eq!(
        l.passthrough[0].clusters[0].cluster,
        "outbound|443||api.ext.org"
    );
    // A passthrough-only port has no HTTP listener in the wire config.
    assert!(out.wire.listeners.is_empty());
    let egress = out.wire.egress.as_ref().unwrap();
    let rules: Vec<&str> = egress
        .allowed_hosts
        .iter()
        .map(|h| h.rule.as_str())
        .collect();
    assert_eq!(
        rules,
        ["Gateway default/egress", "ServiceEntry default/ext"]
    );
    assert_eq!(egress.audit.failure_mode, FailureMode::Closed);
    let AuditSink::Http(c) = &egress.audit.sink else {
        panic!("{:?}", egress.audit.sink)
    };
    assert_eq!(
        (c.cluster.as_str(), c.authority.as_str(), c.path.as_str()),
        (
            "outbound|9000||collector.obs.svc.cluster.local",
            "collector.obs.svc.cluster.local:9000",
            "/ingest"
        )
    );
    assert!(out.envoy.clusters.iter().any(|k| k.name == c.cluster));
    assert!(out.diagnostics.is_empty(), "{:#?}", out.diagnostics);
}

/// G-13: a passthrough-only port has no wire listener, so its bind port reaches the egress
/// filter in `passthroughPorts`: with a port offset, a connection to 10443 is judged as one to
/// Gateway port 443, the port the allow-list names.
#[test]
fn a_passthrough_only_port_maps_its_bind_port_for_the_egress_filter() {
    let loaded = load_str(EGRESS, None);
    let compile_with_offset = |port_offset| {
        compile(
            &loaded.resources,
            &egress_identity(),
            &CompileOptions {
                port_offset,
                ..CompileOptions::default()
            },
        )
    };
    let ports = |out: &CompileOutput| {
        let egress = out.wire.egress.as_ref().unwrap();
        egress
            .passthrough_ports
            .iter()
            .map(|p| (p.port, p.effective_bind_port()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ports(&compile_with_offset(0)), [(443, 443)]);
    let offset = compile_with_offset(10000);
    assert_eq!(ports(&offset), [(443, 10443)]);
    let policy = portcullis_core::EgressPolicy::from_wire(&offset.wire).unwrap();
    assert!(policy.decide_sni(Some("api.ext.org"), 443).is_allowed());
}

/// The dry run validates with every filter's compile step, the egress filter's included: a
/// header name the audit cannot record (`x bad` is not an HTTP token) compiles into the wire
/// config, the router's `Gateway::compile` accepts it, and the egress filter would refuse the
/// whole config, so it is an error diagnostic here.
#[test]
fn config_the_egress_filter_rejects_is_an_error() {
    let yaml = EGRESS.replace(
        "portcullis.dev/audit-failure-mode: closed",
        "portcullis.dev/audit-failure-mode: closed\n    portcullis.dev/audit-include-headers: user-agent, x bad",
    );
    let out = compile_for(&yaml, &egress_identity());
    let egress = out.wire.egress.as_ref().unwrap();
    assert_eq!(egress.audit.include_headers, ["user-agent", "x bad"]);
    assert!(portcullis_core::Gateway::compile(&out.wire).is_ok());
    let errors: Vec<&Diagnostic> = out
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{:#?}", out.diagnostics);
    assert!(
        errors[0].message.starts_with(
            "the filters would reject this configuration: egress.audit.includeHeaders[1]"
        ),
        "{}",
        errors[0].message
    );
}

/// The ingress identity does not select the egress Gateway and has no egress section.
#[test]
fn ingress_workload_has_no_egress_section() {
    let out = compile_yaml(EGRESS);
    assert!(out.wire.egress.is_none());
    assert!(out.envoy.listeners.is_empty());
}

/// E-2: the two-hop egress VirtualService (`gateways: [mesh, egress]`, per-rule
/// `match.gateways`): at the egress gateway only the rule matching it exists, and it sends the
/// request to the external host; the `mesh` rule (sidecar → egress gateway) is not emitted.
#[test]
fn e2_two_hop_virtual_service_keeps_only_the_gateway_rule() {
    let yaml = "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: egress, namespace: istio-system}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [edition.cnn.com]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cnn, namespace: default}
spec:
  hosts: [edition.cnn.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: direct-cnn-through-egress-gateway, namespace: default}
spec:
  hosts: [edition.cnn.com]
  gateways: [istio-system/egress, mesh]
  http:
  - match: [{gateways: [mesh], port: 80}]
    route:
    - destination: {host: istio-egressgateway.istio-system.svc.cluster.local, subset: cnn, port: {number: 80}}
  - match: [{gateways: [istio-system/egress], port: 80}]
    route:
    - destination: {host: edition.cnn.com, port: {number: 80}}
      weight: 100
";
    let out = compile_for(yaml, &egress_identity());
    let vh = vhost(&out, 80, "edition.cnn.com");
    assert_eq!(vh.routes.len(), 1, "{:#?}", vh.routes);
    assert_eq!(
        destinations(&vh.routes[0]),
        [("outbound|80||edition.cnn.com", 100)]
    );
    assert!(
        out.envoy
            .clusters
            .iter()
            .all(|c| !c.name.contains("istio-egressgateway")),
        "the mesh hop is not the gateway's business: {:#?}",
        out.envoy.clusters
    );
}

/// G-4: `bind` makes the port's listener bind that address; every server of the port must
/// name the same one (a server with another is dropped); an address that is neither an IP nor
/// a unix:// path is invalid, and a Unix domain socket is not supported.
#[test]
fn g4_bind_sets_the_listener_address() {
    let server = |port: u16, host: &str, bind: &str| {
        format!(
            "  - port: {{number: {port}, name: http-{host}, protocol: HTTP}}\n    hosts: [{host}.example.com]\n{bind}"
        )
    };
    let gateway = |servers: &[String]| {
        format!(
            "apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: default}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
{}",
            servers.join("")
        )
    };
    let out = compile_yaml(&gateway(&[
        server(80, "a", "    bind: 10.0.0.1\n"),
        server(80, "b", "    bind: 10.0.0.1\n"),
        server(81, "c", ""),
        server(82, "d", "    bind: '::1'\n"),
    ]));
    let addresses: Vec<_> = out
        .envoy
        .listeners
        .iter()
        .map(|l| (l.gateway_port, l.bind_address.as_deref()))
        .collect();
    assert_eq!(
        addresses,
        [(80, Some("10.0.0.1")), (81, None), (82, Some("::1"))]
    );
    assert!(
        out.diagnostics.iter().all(|d| d.rule != Some("G-4")),
        "{:#?}",
        out.diagnostics
    );

    // Istio's validation refuses a bind that is not an address; the others are valid Istio
    // that Portcullis cannot serve, so only the server goes.
    let drops = Some(Effect::DropsPiece);
    for (second, effect, says) in [
        ("", drops, "different bind addresses"),
        ("    bind: 10.0.0.2\n", drops, "different bind addresses"),
        (
            "    bind: not-an-ip\n",
            Some(Effect::RefusesResource),
            "not an IP address",
        ),
        (
            "    bind: unix:///var/run/gw.sock\n",
            drops,
            "Unix domain socket",
        ),
    ] {
        let out = compile_yaml(&gateway(&[
            server(80, "a", "    bind: 10.0.0.1\n"),
            server(80, "b", second),
        ]));
        let l = &out.envoy.listeners[0];
        assert_eq!(l.bind_address.as_deref(), Some("10.0.0.1"), "{second}");
        assert_eq!(
            out.wire.listeners[0].servers.len(),
            1,
            "{second}: b is dropped"
        );
        let d = with_rule(&out, "G-4");
        assert!(d[0].message.contains(says), "{second}: {:?}", d[0]);
        assert_eq!(d[0].severity, Severity::Error, "{second}");
        assert_eq!(d[0].effect, effect, "{second}");
    }
}

/// E-5: a workload's own settings (what a GatewayFilter sets) take precedence over the
/// Gateway's annotations, one setting at a time; unset ones keep the annotation's value.
#[test]
fn workload_audit_settings_override_annotations() {
    let loaded = load_str(EGRESS, Some("test.yaml"));
    let options = CompileOptions {
        audit: [
            (
                "portcullis.dev/audit-failure-mode".to_string(),
                "open".to_string(),
            ),
            (
                "portcullis.dev/audit-redact-headers".to_string(),
                "X-Token".to_string(),
            ),
        ]
        .into(),
        ..CompileOptions::default()
    };
    let out = compile(&loaded.resources, &egress_identity(), &options);
    let audit = &out.wire.egress.as_ref().unwrap().audit;
    assert_eq!(audit.failure_mode, FailureMode::Open);
    assert_eq!(audit.redact_headers, ["x-token"]);
    assert!(
        matches!(audit.sink, AuditSink::Http(_)),
        "the annotation's sink stays"
    );

    let bad = CompileOptions {
        audit: [(
            "portcullis.dev/audit-failure-mode".to_string(),
            "sometimes".to_string(),
        )]
        .into(),
        ..CompileOptions::default()
    };
    let out = compile(&loaded.resources, &egress_identity(), &bad);
    assert!(
        out.diagnostics.iter().any(|d| d.severity == Severity::Error
            && d.message.contains("\"sometimes\" is not open or closed")),
        "{:#?}",
        out.diagnostics
    );
}

/// An HTTPS server whose `tls` mapping is `tls`, with its Secret (which carries a CA).
fn https_with(tls: &str) -> CompileOutput {
    let yaml = HTTPS.replace("{mode: SIMPLE, credentialName: secure-cert}", tls)
        + &SECRET.replace("tls.key: S0VZ", "tls.key: S0VZ\n  ca.crt: Q0E=");
    compile_yaml(&yaml)
}

/// G-14: protocol versions, cipher suites and the client-certificate checks of a mutual
/// server reach the chain; none of them is an unknown field.
#[test]
fn tls_settings_are_enforced() {
    let out = https_with(
        "{mode: MUTUAL, credentialName: secure-cert, minProtocolVersion: TLSV1_2, maxProtocolVersion: TLSV1_3, cipherSuites: [ECDHE-RSA-AES128-GCM-SHA256, '[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]'], subjectAltNames: [client.example.com], verifyCertificateSpki: [NvqYIYSbgK2vCJpQhObf77vv+bQWtc5ek5RIOwPiC9A=], verifyCertificateHash: ['DF:6F:F7:2F:E9:11:65:21:26:8F:6F:2D:D4:96:6F:51:DF:47:98:83:FE:70:37:B3:9F:75:91:6A:C3:04:9D:1A']}",
    );
    assert!(
        out.diagnostics.iter().all(|d| d.rule == Some("V-18")),
        "{:#?}",
        out.diagnostics
    );
    let s = &out.envoy.listeners[0].tls_chains[0].settings;
    assert_eq!(s.min_protocol_version, Some(TlsVersion::V1_2));
    assert_eq!(s.max_protocol_version, Some(TlsVersion::V1_3));
    assert_eq!(s.cipher_suites.len(), 2);
    assert_eq!(s.client_subject_alt_names, ["client.example.com"]);
    assert_eq!(s.client_spki_sha256.len(), 1);
    assert_eq!(s.client_certificate_sha256.len(), 1);
}

/// G-14: a setting Envoy could not enforce drops the server with an error.
#[test]
fn unenforceable_tls_settings_drop_the_server() {
    let cases = [
        ("minProtocolVersion: TLSV9", "unknown TLS version"),
        (
            "minProtocolVersion: TLSV1_3, maxProtocolVersion: TLSV1_2",
            "above maxProtocolVersion",
        ),
        ("cipherSuites: [NOT-A-CIPHER]", "unknown cipher suite"),
        ("verifyCertificateSpki: [abc]", "base64 SHA-256"),
        ("verifyCertificateHash: [abc]", "hex SHA-256"),
    ];
    for (extra, needle) in cases {
        let out = https_with(&format!(
            "{{mode: MUTUAL, credentialName: secure-cert, {extra}}}"
        ));
        assert!(out.envoy.listeners.is_empty(), "{extra}: server kept");
        let d = with_rule(&out, "G-14");
        assert_eq!(d[0].severity, Severity::Error, "{extra}");
        assert!(d[0].message.contains(needle), "{extra}: {}", d[0].message);
    }
}

/// G-14: a SIMPLE server asks for no client certificate: client checks are ignored, with a
/// warning.
#[test]
fn client_checks_on_simple_are_ignored_with_a_warning() {
    let out =
        https_with("{mode: SIMPLE, credentialName: secure-cert, subjectAltNames: [c.example.com]}");
    let s = &out.envoy.listeners[0].tls_chains[0].settings;
    assert!(s.client_subject_alt_names.is_empty());
    let d = with_rule(&out, "G-14");
    assert_eq!(d[0].severity, Severity::Warning);
}

/// E-4: a denied HTTP request gets Istio's egress gateway answer by default (a bare 404); the
/// Gateway's `portcullis.dev/egress-deny-answer: registry-only` asks for Istio's REGISTRY_ONLY
/// 502 with the reason; another value is an error on the Gateway and the default applies.
#[test]
fn the_deny_answer_is_istios_404_unless_asked() {
    let deny = |yaml: &str| {
        let out = compile_for(yaml, &egress_identity());
        let egress = out.wire.egress.clone().unwrap();
        let errors: Vec<String> = out
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| format!("{}: {}", d.field.as_deref().unwrap_or(""), d.message))
            .collect();
        ((egress.deny_status, egress.explain_denials), errors)
    };
    assert_eq!(deny(EGRESS), ((404, false), Vec::<String>::new()));
    let with = |value: &str| {
        EGRESS.replace(
            "portcullis.dev/audit-failure-mode: closed",
            &format!(
                "portcullis.dev/audit-failure-mode: closed\n    portcullis.dev/egress-deny-answer: {value}"
            ),
        )
    };
    assert_eq!(deny(&with("registry-only")), ((502, true), vec![]));
    assert_eq!(deny(&with("not-found")), ((404, false), vec![]));
    let (answer, errors) = deny(&with("teapot"));
    assert_eq!(answer, (404, false));
    assert_eq!(
        errors,
        [
            "metadata.annotations.portcullis.dev/egress-deny-answer: \"teapot\" is not not-found or registry-only; not-found used"
        ]
    );
}
