//! Upstream TLS origination (S-7): a DestinationRule's `ClientTLSSettings` → the cluster's TLS.
//!
//! The server's certificate is verified unless `insecureSkipVerify: true` says otherwise: its
//! chain against the CA bundle (the credential Secret's CA, `caCertificates`, else the gateway's
//! system bundle) and its names against `subjectAltNames` (else the ServiceEntry's, else the
//! SNI). A setting that cannot be honoured (`ISTIO_MUTUAL`, `MUTUAL` without a client
//! certificate, a missing Secret) is an error on the DestinationRule and the cluster is not
//! built: requests to it get 503, never plain text.

use super::super::context::{ClusterRef, Ctx};
use crate::istio::{ClientTls, DestinationRule, Secret, ServiceEntry, Subset};
use crate::plan::{ClientCertificate, PemSource, ServerVerification, UpstreamTlsPlan};

/// The error was reported on the DestinationRule.
pub(super) struct Reported;

/// The TLS settings that apply to `r` (the subset's policy overrides the rule's; a port-level
/// setting overrides both) turned into a plan; `Ok(None)` for plain text.
pub(super) fn plan(
    ctx: &mut Ctx<'_>,
    dr: &DestinationRule,
    subset: Option<&Subset>,
    se: Option<&ServiceEntry>,
    r: &ClusterRef,
) -> Result<Option<UpstreamTlsPlan>, Reported> {
    let Some((tls, field)) = effective(dr, subset, r.port) else {
        return Ok(None);
    };
    let mode = tls.mode.as_deref().unwrap_or("DISABLE");
    let mutual = match mode {
        "DISABLE" => return Ok(None),
        "SIMPLE" => false,
        "MUTUAL" => true,
        "ISTIO_MUTUAL" => {
            return Err(error(
                ctx,
                dr,
                &format!("{field}.mode"),
                "ISTIO_MUTUAL needs istiod-issued workload certificates, which Portcullis does not have (use MUTUAL with a client certificate)",
                r,
            ));
        }
        other => {
            return Err(error(
                ctx,
                dr,
                &format!("{field}.mode"),
                &format!("unknown upstream tls.mode {other:?}"),
                r,
            ));
        }
    };
    let files = [
        ("clientCertificate", &tls.client_certificate),
        ("privateKey", &tls.private_key),
        ("caCertificates", &tls.ca_certificates),
    ];
    let credential = match tls.credential_name.as_deref() {
        Some(name) => {
            if let Some((key, _)) = files.iter().find(|(_, v)| v.is_some()) {
                return Err(error(
                    ctx,
                    dr,
                    &format!("{field}.{key}"),
                    "only one of credentialName and certificate files can be given",
                    r,
                ));
            }
            let ns = ctx.identity.namespace.clone();
            let Some(secret) = ctx.secret(&ns, name) else {
                return Err(error(
                    ctx,
                    dr,
                    &format!("{field}.credentialName"),
                    &format!(
                        "Secret {ns}/{name} not found (it must be in the gateway workload namespace)"
                    ),
                    r,
                ));
            };
            let ca_secret = ctx.secret(&ns, &format!("{name}-cacert"));
            Some((secret, ca_secret))
        }
        None => None,
    };

    let sni = tls.sni.clone().unwrap_or_else(|| r.fqdn.clone());
    let skip = tls.insecure_skip_verify == Some(true);
    let verify = if skip {
        ctx.reporter(dr).warning(
            &format!("{field}.insecureSkipVerify"),
            format!(
                "the certificate of {} is not verified: any server can impersonate it",
                r.fqdn
            ),
            Some("S-7"),
        );
        None
    } else {
        let (trusted_ca, crl) = match credential {
            Some((secret, ca_secret)) => {
                let read = |s: &Secret, keys: &[&str]| {
                    keys.iter()
                        .find_map(|k| s.value(k))
                        .and_then(Result::ok)
                        .map(PemSource::Inline)
                };
                let ca = read(secret, &["ca.crt", "cacert"])
                    .or_else(|| ca_secret.and_then(|s| read(s, &["ca.crt", "cacert"])));
                let Some(ca) = ca else {
                    return Err(error(
                        ctx,
                        dr,
                        &format!("{field}.credentialName"),
                        &format!(
                            "{} has no CA to verify the server with (ca.crt or cacert, here or in Secret {}-cacert); set insecureSkipVerify to accept any certificate",
                            secret.reference(),
                            secret.metadata.name
                        ),
                        r,
                    ));
                };
                let crl = read(secret, &["ca.crl", "crl"])
                    .or_else(|| ca_secret.and_then(|s| read(s, &["ca.crl", "crl"])));
                (ca, crl)
            }
            None => (
                tls.ca_certificates
                    .clone()
                    .map_or(PemSource::SystemBundle, PemSource::File),
                tls.ca_crl.clone().map(PemSource::File),
            ),
        };
        let mut subject_alt_names = tls.subject_alt_names.clone();
        if subject_alt_names.is_empty() {
            subject_alt_names = se
                .map(|s| s.spec.subject_alt_names.clone())
                .unwrap_or_default();
        }
        if subject_alt_names.is_empty() {
            subject_alt_names = vec![sni.clone()];
        }
        Some(ServerVerification {
            trusted_ca,
            subject_alt_names,
            crl,
        })
    };

    let client_certificate = if mutual {
        let pair = match credential {
            Some((secret, _)) => {
                let read = |keys: &[&str]| {
                    keys.iter()
                        .find_map(|k| secret.value(k))
                        .and_then(Result::ok)
                        .map(PemSource::Inline)
                };
                read(&["tls.crt", "cert"]).zip(read(&["tls.key", "key"]))
            }
            None => tls
                .client_certificate
                .clone()
                .map(PemSource::File)
                .zip(tls.private_key.clone().map(PemSource::File)),
        };
        let Some((certificate_chain, private_key)) = pair else {
            let why = match credential {
                Some((secret, _)) => format!(
                    "MUTUAL needs a client certificate: {} has no tls.crt and tls.key (or cert and key)",
                    secret.reference()
                ),
                None => "MUTUAL needs a client certificate: set clientCertificate and privateKey, or credentialName".to_string(),
            };
            return Err(error(ctx, dr, &field, &why, r));
        };
        Some(ClientCertificate {
            certificate_chain,
            private_key,
        })
    } else {
        if tls.client_certificate.is_some() || tls.private_key.is_some() {
            ctx.reporter(dr).warning(
                &field,
                "clientCertificate and privateKey are used only with mode MUTUAL",
                Some("S-7"),
            );
        }
        None
    };
    Ok(Some(UpstreamTlsPlan {
        sni,
        verify,
        client_certificate,
    }))
}

/// The TLS settings in force for `port` and where they are written.
fn effective<'a>(
    dr: &'a DestinationRule,
    subset: Option<&'a Subset>,
    port: u16,
) -> Option<(&'a ClientTls, String)> {
    super::policy::in_force(
        dr,
        subset,
        port,
        "tls",
        |p| p.tls.as_ref(),
        |s| s.tls.as_ref(),
    )
}

fn error(
    ctx: &mut Ctx<'_>,
    dr: &DestinationRule,
    field: &str,
    why: &str,
    r: &ClusterRef,
) -> Reported {
    let port = r.port;
    ctx.reporter(dr).dropped(
        field,
        format!(
            "{why}; no cluster for {} port {port} (requests get 503, never plain text)",
            r.fqdn
        ),
        Some("S-7"),
    );
    Reported
}
