//! TLS termination (G-6, G-11): certificates from Kubernetes Secrets, and the Envoy listener
//! plan of a port.

use super::context::Ctx;
use super::hosts::ServerHost;
use super::servers::{PortGroup, ServerMode};
use crate::istio::{Gateway, GatewayServer, ServerTls};
use crate::plan::{ListenerKind, ListenerPlan, PemSource, TlsChainPlan, TlsSettings, TlsVersion};

/// The filter chain of a terminated HTTPS server: SNI names from its hosts (G-11) and the
/// certificate from Secret `<gateway workload namespace>/<credentialName>` (as istiod reads it
/// for the gateway pod) or, without `credentialName`, from the files `serverCertificate`,
/// `privateKey` and `caCertificates` name on the gateway's disk. Any problem drops the server,
/// with an error.
pub(super) fn chain_for(
    ctx: &mut Ctx<'_>,
    gateway: &Gateway,
    server: &GatewayServer,
    field: &str,
    hosts: &[ServerHost],
) -> Option<TlsChainPlan> {
    let tls = server.tls.clone().unwrap_or_default();
    let mode = tls.mode.clone().unwrap_or_default();
    let mutual = matches!(mode.as_str(), "MUTUAL" | "OPTIONAL_MUTUAL");
    // As in Istio, `credentialName` wins when both are given.
    let credentials = if tls.credential_name.is_some() {
        from_secret(ctx, gateway, &tls, field, &mode, mutual)?
    } else {
        from_files(ctx, gateway, &tls, field, &mode, mutual)?
    };
    let mut r = ctx.reporter(gateway);
    let settings = settings(&mut r, &tls, field, mutual)?;
    let mut server_names: Vec<String> = hosts.iter().map(|h| h.dns.clone()).collect();
    server_names.sort();
    server_names.dedup();
    if server_names.iter().any(|h| h == "*") {
        server_names.clear();
    }
    Some(TlsChainPlan {
        // Made unique within the port when the server joins it (`servers::add_to_port`).
        name: String::new(),
        server_names,
        certificate_chain: credentials.certificate_chain,
        private_key: credentials.private_key,
        client_ca: if mutual { credentials.client_ca } else { None },
        require_client_certificate: mode == "MUTUAL",
        settings,
        // Set when the port's listener is planned (`plan_listener`).
        tcp: None,
    })
}

/// A terminated server's certificate, key and client CA, wherever they come from.
struct Credentials {
    certificate_chain: PemSource,
    private_key: PemSource,
    client_ca: Option<PemSource>,
}

/// The credentials of Secret `credentialName` in the gateway workload's namespace (its
/// `ca.crt`, or the `<name>-cacert` Secret's, for the client CA).
fn from_secret(
    ctx: &mut Ctx<'_>,
    gateway: &Gateway,
    tls: &ServerTls,
    field: &str,
    mode: &str,
    mutual: bool,
) -> Option<Credentials> {
    let ns = ctx.identity.namespace.clone();
    let credential = tls.credential_name.as_deref()?;
    let secret = ctx.secret(&ns, credential);
    let ca_secret = ctx.secret(&ns, &format!("{credential}-cacert"));
    let mut r = ctx.reporter(gateway);
    let credential_field = format!("{field}.tls.credentialName");
    let Some(secret) = secret else {
        r.dropped(
            &credential_field,
            format!("Secret {ns}/{credential} not found (it must be in the gateway workload namespace); server dropped"),
            Some("G-6"),
        );
        return None;
    };
    let mut read = |key: &str| match secret.value(key) {
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            r.dropped(
                &credential_field,
                format!("{} key {key}: {e}; server dropped", secret.reference()),
                Some("G-6"),
            );
            None
        }
        None => None,
    };
    let (Some(cert), Some(key)) = (read("tls.crt"), read("tls.key")) else {
        r.dropped(
            &credential_field,
            format!(
                "{} has no tls.crt and tls.key; server dropped",
                secret.reference()
            ),
            Some("G-6"),
        );
        return None;
    };
    let mut ca = read("ca.crt");
    if ca.is_none()
        && let Some(ca_secret) = ca_secret
    {
        ca = ca_secret
            .value("ca.crt")
            .or_else(|| ca_secret.value("cacert"))
            .and_then(Result::ok);
    }
    if mutual && ca.is_none() {
        r.error(
            &format!("{field}.tls.mode"),
            format!("{mode} needs a client CA (ca.crt in {} or Secret {ns}/{credential}-cacert); server dropped", secret.reference()),
            Some("G-6"),
        );
        return None;
    }
    Some(Credentials {
        certificate_chain: PemSource::Inline(cert),
        private_key: PemSource::Inline(key),
        client_ca: ca.map(PemSource::Inline),
    })
}

/// File-mounted credentials: paths on the gateway's disk, which Envoy reads (for `up`, this
/// machine). Istio's validation requires the certificate and the key, and a client CA bundle
/// for the mutual modes; a server without them is invalid, so it is dropped with an error.
fn from_files(
    ctx: &mut Ctx<'_>,
    gateway: &Gateway,
    tls: &ServerTls,
    field: &str,
    mode: &str,
    mutual: bool,
) -> Option<Credentials> {
    let local_files = ctx.local_files;
    let mut r = ctx.reporter(gateway);
    fn path(v: &Option<String>) -> Option<&str> {
        v.as_deref().filter(|p| !p.is_empty())
    }
    let files = [
        ("serverCertificate", &tls.server_certificate, true),
        ("privateKey", &tls.private_key, true),
        ("caCertificates", &tls.ca_certificates, mutual),
    ];
    for (name, value, needed) in files {
        let message = match path(value) {
            None if needed && name == "serverCertificate" => format!(
                "{mode} needs credentialName or serverCertificate and privateKey; server dropped"
            ),
            None if needed => {
                format!("{mode} with file-mounted certificates needs {name}; server dropped")
            }
            // `up`'s gateway is this machine: a file Envoy could not read drops the server here.
            Some(file) if local_files => match std::fs::File::open(file) {
                Ok(_) => continue,
                Err(e) => {
                    r.dropped(
                        &format!("{field}.tls.{name}"),
                        format!("cannot read {file} on this machine, where the gateway runs: {e}; server dropped"),
                        Some("G-6"),
                    );
                    return None;
                }
            },
            _ => continue,
        };
        r.error(&format!("{field}.tls.{name}"), message, Some("G-6"));
        return None;
    }
    let file = |v: &Option<String>| path(v).map(|p| PemSource::File(p.to_string()));
    Some(Credentials {
        certificate_chain: file(&tls.server_certificate)?,
        private_key: file(&tls.private_key)?,
        client_ca: file(&tls.ca_certificates),
    })
}

/// The cipher suites Envoy (BoringSSL) accepts, as Istio's validation lists them.
const CIPHER_SUITES: [&str; 15] = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES256-SHA",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-SHA",
    "AES256-SHA",
    "DES-CBC3-SHA",
];

/// G-14: protocol versions, cipher suites and client-certificate checks, each enforced by
/// Envoy or, when it cannot be, an error that drops the server. The client checks apply to
/// the mutual modes; a SIMPLE server asks for no client certificate, so they are ignored there
/// with a warning, as in Istio.
fn settings(
    r: &mut super::context::Reporter<'_>,
    tls: &crate::istio::ServerTls,
    field: &str,
    mutual: bool,
) -> Option<TlsSettings> {
    let mut ok = true;
    let mut version = |name: &str, value: &Option<String>| -> Option<TlsVersion> {
        let v = value.as_deref()?;
        let parsed = match v.to_ascii_uppercase().as_str() {
            "TLS_AUTO" => Some(TlsVersion::Auto),
            "TLSV1_0" => Some(TlsVersion::V1_0),
            "TLSV1_1" => Some(TlsVersion::V1_1),
            "TLSV1_2" => Some(TlsVersion::V1_2),
            "TLSV1_3" => Some(TlsVersion::V1_3),
            _ => None,
        };
        if parsed.is_none() {
            r.error(
                &format!("{field}.tls.{name}"),
                format!("unknown TLS version {v:?} (TLS_AUTO, TLSV1_0 … TLSV1_3); server dropped"),
                Some("G-14"),
            );
            ok = false;
        }
        parsed
    };
    let min = version("minProtocolVersion", &tls.min_protocol_version);
    let max = version("maxProtocolVersion", &tls.max_protocol_version);
    if let (Some(lo), Some(hi)) = (min, max)
        && lo != TlsVersion::Auto
        && hi != TlsVersion::Auto
        && lo > hi
    {
        r.error(
            &format!("{field}.tls.minProtocolVersion"),
            "minProtocolVersion is above maxProtocolVersion; server dropped",
            Some("G-14"),
        );
        ok = false;
    }
    let mut cipher_suites: Vec<String> = Vec::new();
    for (i, suite) in tls.cipher_suites.iter().enumerate() {
        let members = suite
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .map_or_else(|| vec![suite.as_str()], |g| g.split('|').collect());
        if members.iter().any(|m| !CIPHER_SUITES.contains(m)) {
            r.error(
                &format!("{field}.tls.cipherSuites[{i}]"),
                format!("unknown cipher suite {suite:?}; server dropped"),
                Some("G-14"),
            );
            ok = false;
        } else if !cipher_suites.contains(suite) {
            cipher_suites.push(suite.clone());
        }
    }
    for (i, spki) in tls.verify_certificate_spki.iter().enumerate() {
        if crate::base64::decode(spki).map(|b| b.len()) != Ok(32) {
            r.error(
                &format!("{field}.tls.verifyCertificateSpki[{i}]"),
                "not a base64 SHA-256 (32 bytes); server dropped",
                Some("G-14"),
            );
            ok = false;
        }
    }
    for (i, hash) in tls.verify_certificate_hash.iter().enumerate() {
        let hex: String = hash.chars().filter(|c| *c != ':').collect();
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            r.error(
                &format!("{field}.tls.verifyCertificateHash[{i}]"),
                "not a hex SHA-256 (64 hex digits, colons allowed); server dropped",
                Some("G-14"),
            );
            ok = false;
        }
    }
    let client_checks = !tls.subject_alt_names.is_empty()
        || !tls.verify_certificate_spki.is_empty()
        || !tls.verify_certificate_hash.is_empty();
    if client_checks && !mutual {
        r.warning(
            &format!("{field}.tls"),
            "subjectAltNames, verifyCertificateSpki and verifyCertificateHash check client certificates, which only MUTUAL and OPTIONAL_MUTUAL ask for; ignored",
            Some("G-14"),
        );
    }
    if !ok {
        return None;
    }
    let keep = |v: &Vec<String>| if mutual { v.clone() } else { Vec::new() };
    Some(TlsSettings {
        min_protocol_version: min,
        max_protocol_version: max,
        cipher_suites,
        client_subject_alt_names: keep(&tls.subject_alt_names),
        client_spki_sha256: keep(&tls.verify_certificate_spki),
        client_certificate_sha256: keep(&tls.verify_certificate_hash),
    })
}

/// The Envoy listener of one Gateway port; `None` for a TCP port no rule applies to (G-15).
pub(super) fn plan_listener(
    ctx: &mut Ctx<'_>,
    group: &PortGroup<'_>,
    bind_port: u16,
    kind: ListenerKind,
) -> Option<ListenerPlan> {
    let tcp_port = group.servers.iter().any(|s| s.mode == ServerMode::Tcp);
    let tcp = if tcp_port {
        Some(super::tcp::build(ctx, group)?)
    } else {
        None
    };
    let mut tls_chains = Vec::new();
    for s in &group.servers {
        let Some(mut chain) = s.chain.clone() else {
            continue;
        };
        if s.mode == ServerMode::TerminatedTcp {
            match super::tcp::terminated(ctx, s, group.port) {
                Some(tcp) => chain.tcp = Some(tcp),
                None => continue,
            }
        }
        tls_chains.push(chain);
    }
    let passthrough = super::passthrough::build(ctx, group);
    if group.tls && tls_chains.is_empty() && passthrough.is_empty() {
        // No chain for any SNI: a listener without chains would fall back to plain text.
        return None;
    }
    let terminated = group
        .servers
        .iter()
        .any(|s| s.mode == ServerMode::Terminated);
    let scheme = if tcp_port {
        "tcp"
    } else if group.tls && terminated {
        "https"
    } else if group.tls {
        "tls"
    } else {
        "http"
    };
    Some(ListenerPlan {
        name: format!("{scheme}.{}", group.port),
        gateway_port: group.port,
        bind_port,
        bind_address: group.bind().map(str::to_string),
        kind,
        tls_chains,
        passthrough,
        tcp,
    })
}
