//! Upstream TLS origination (S-7): verified by default, MUTUAL client certificates, and
//! settings that cannot be honoured refused on the DestinationRule, never plain text.

use crate::plan::{ClientCertificate, PemSource, ServerVerification, UpstreamTlsPlan};

use super::*;

/// An egress-style registry entry for `api.ext.org:443` and a DestinationRule whose
/// `trafficPolicy.tls` is `tls` (a YAML flow mapping).
fn with_tls(tls: &str, extra: &str) -> CompileOutput {
    let yaml = gateway("default", "gw", "['*']")
        + "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec:
  hosts: [api.ext.org]
  ports: [{number: 443, name: https, protocol: TLS}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ext, namespace: default}
spec:
  host: api.ext.org
  trafficPolicy: {tls: "
        + tls
        + "}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v, namespace: default}
spec:
  hosts: ['*']
  gateways: [gw]
  http:
  - route: [{destination: {host: api.ext.org, port: {number: 443}}}]
---
" + extra;
    compile_yaml(&yaml)
}

fn tls_of(out: &CompileOutput) -> Option<&UpstreamTlsPlan> {
    out.envoy
        .clusters
        .iter()
        .find(|c| c.name == "outbound|443||api.ext.org")
        .and_then(|c| c.tls.as_ref())
}

/// The one error of rule S-7, whose cluster was not built.
fn refused(out: &CompileOutput) -> &Diagnostic {
    assert!(
        !out.envoy
            .clusters
            .iter()
            .any(|c| c.name.contains("api.ext.org")),
        "a cluster was built: {:#?}",
        out.envoy.clusters
    );
    let d = with_rule(out, "S-7");
    assert_eq!(d.len(), 1, "{:#?}", out.diagnostics);
    assert_eq!(d[0].severity, Severity::Error);
    d[0]
}

/// S-7: SIMPLE without a CA verifies against the system bundle, and the name against the SNI.
#[test]
fn simple_verifies_by_default() {
    let out = with_tls("{mode: SIMPLE}", "");
    assert_eq!(
        tls_of(&out),
        Some(&UpstreamTlsPlan {
            sni: "api.ext.org".into(),
            verify: Some(ServerVerification {
                trusted_ca: PemSource::SystemBundle,
                subject_alt_names: vec!["api.ext.org".into()],
                crl: None,
            }),
            client_certificate: None,
        })
    );
    assert!(out.diagnostics.is_empty(), "{:#?}", out.diagnostics);
}

/// S-7: caCertificates, subjectAltNames, sni and caCrl are honoured; none is an unknown field.
#[test]
fn simple_with_ca_names_and_crl() {
    let out = with_tls(
        "{mode: SIMPLE, sni: edge.ext.org, caCertificates: /etc/ca.pem, caCrl: /etc/crl.pem, subjectAltNames: [a.ext.org, b.ext.org]}",
        "",
    );
    let tls = tls_of(&out).unwrap();
    assert_eq!(tls.sni, "edge.ext.org");
    assert_eq!(
        tls.verify,
        Some(ServerVerification {
            trusted_ca: PemSource::File("/etc/ca.pem".into()),
            subject_alt_names: vec!["a.ext.org".into(), "b.ext.org".into()],
            crl: Some(PemSource::File("/etc/crl.pem".into())),
        })
    );
    assert!(out.diagnostics.is_empty(), "{:#?}", out.diagnostics);
}

/// S-7: without subjectAltNames on the rule, the ServiceEntry's are required.
#[test]
fn service_entry_names_apply() {
    let yaml_se = "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext2, namespace: default}
spec:
  hosts: [api2.ext.org]
  ports: [{number: 443, name: https, protocol: TLS}]
  resolution: DNS
  subjectAltNames: [spiffe://ext.org/api2]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ext2, namespace: default}
spec:
  host: api2.ext.org
  trafficPolicy: {tls: {mode: SIMPLE}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v2, namespace: default}
spec:
  hosts: [api2.example.com]
  gateways: [gw]
  http:
  - route: [{destination: {host: api2.ext.org, port: {number: 443}}}]
---
";
    let out = with_tls("{mode: SIMPLE}", yaml_se);
    let c = out
        .envoy
        .clusters
        .iter()
        .find(|c| c.name == "outbound|443||api2.ext.org")
        .unwrap();
    assert_eq!(
        c.tls
            .as_ref()
            .unwrap()
            .verify
            .as_ref()
            .unwrap()
            .subject_alt_names,
        ["spiffe://ext.org/api2"]
    );
}

/// S-7: insecureSkipVerify accepts any certificate, with a warning.
#[test]
fn insecure_skip_verify_is_explicit() {
    let out = with_tls("{mode: SIMPLE, insecureSkipVerify: true}", "");
    assert_eq!(tls_of(&out).unwrap().verify, None);
    let d = with_rule(&out, "S-7");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].severity, Severity::Warning);
    assert!(
        d[0].field
            .as_deref()
            .is_some_and(|f| f.ends_with("insecureSkipVerify")),
        "{:?}",
        d[0].field
    );
}

/// S-7: MUTUAL presents the client certificate files.
#[test]
fn mutual_with_files() {
    let out = with_tls(
        "{mode: MUTUAL, clientCertificate: /etc/client.pem, privateKey: /etc/client.key}",
        "",
    );
    assert_eq!(
        tls_of(&out).unwrap().client_certificate,
        Some(ClientCertificate {
            certificate_chain: PemSource::File("/etc/client.pem".into()),
            private_key: PemSource::File("/etc/client.key".into()),
        })
    );
    assert!(out.diagnostics.is_empty(), "{:#?}", out.diagnostics);
}

const CREDENTIAL: &str = "apiVersion: v1
kind: Secret
metadata: {name: client-cred, namespace: istio-system}
type: kubernetes.io/tls
stringData: {tls.crt: CLIENT-CERT, tls.key: CLIENT-KEY, ca.crt: UPSTREAM-CA}
---
";

/// S-7: MUTUAL with credentialName: certificate, key and CA from the Secret in the gateway
/// workload's namespace; the key changes the content hash.
#[test]
fn mutual_with_credential_name() {
    let out = with_tls("{mode: MUTUAL, credentialName: client-cred}", CREDENTIAL);
    let tls = tls_of(&out).unwrap();
    assert_eq!(
        tls.client_certificate,
        Some(ClientCertificate {
            certificate_chain: PemSource::Inline("CLIENT-CERT".into()),
            private_key: PemSource::Inline("CLIENT-KEY".into()),
        })
    );
    assert_eq!(
        tls.verify.as_ref().unwrap().trusted_ca,
        PemSource::Inline("UPSTREAM-CA".into())
    );
    assert!(out.diagnostics.is_empty(), "{:#?}", out.diagnostics);
    let rotated = with_tls(
        "{mode: MUTUAL, credentialName: client-cred}",
        &CREDENTIAL.replace("CLIENT-KEY", "CLIENT-KEY-2"),
    );
    assert_ne!(out.content_hash, rotated.content_hash);
}

/// S-7: SIMPLE with credentialName takes the CA from `<name>-cacert` when the Secret has none.
#[test]
fn simple_with_credential_ca_secret() {
    let secrets = "apiVersion: v1
kind: Secret
metadata: {name: ca-only, namespace: istio-system}
stringData: {other: x}
---
apiVersion: v1
kind: Secret
metadata: {name: ca-only-cacert, namespace: istio-system}
stringData: {cacert: THE-CA}
---
";
    let out = with_tls("{mode: SIMPLE, credentialName: ca-only}", secrets);
    assert_eq!(
        tls_of(&out).unwrap().verify.as_ref().unwrap().trusted_ca,
        PemSource::Inline("THE-CA".into())
    );
}

/// S-7: settings that cannot be honoured drop the cluster with an error, never plain text.
#[test]
fn unhonourable_settings_are_errors() {
    let cases = [
        ("{mode: ISTIO_MUTUAL}", "", "ISTIO_MUTUAL"),
        ("{mode: MUTUAL}", "", "clientCertificate"),
        (
            "{mode: MUTUAL, clientCertificate: /c.pem}",
            "",
            "clientCertificate",
        ),
        (
            "{mode: SIMPLE, credentialName: nowhere}",
            "",
            "istio-system/nowhere",
        ),
        (
            "{mode: SIMPLE, credentialName: client-cred, caCertificates: /ca.pem}",
            CREDENTIAL,
            "only one of",
        ),
        ("{mode: BOGUS}", "", "BOGUS"),
    ];
    for (tls, extra, needle) in cases {
        let out = with_tls(tls, extra);
        let d = refused(&out);
        assert!(d.message.contains(needle), "{tls}: {}", d.message);
        assert!(d.message.contains("never plain text"), "{}", d.message);
    }
    let no_ca = "apiVersion: v1
kind: Secret
metadata: {name: no-ca, namespace: istio-system}
stringData: {tls.crt: C, tls.key: K}
---
";
    let d = refused(&with_tls("{mode: MUTUAL, credentialName: no-ca}", no_ca)).clone();
    assert!(d.message.contains("no CA"), "{}", d.message);
}
