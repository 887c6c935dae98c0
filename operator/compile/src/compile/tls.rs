//! TLS termination (G-6, G-11): certificates from Kubernetes Secrets, and the Envoy listener
//! plan of a port.

use super::context::Ctx;
use super::hosts::ServerHost;
use super::servers::{PortGroup, ServerMode};
use crate::istio::{Gateway, GatewayServer};
use crate::plan::{ListenerKind, ListenerPlan, TlsChainPlan};

/// The filter chain of a terminated HTTPS server: SNI names from its hosts (G-11) and the
/// certificate from Secret `<gateway workload namespace>/<credentialName>` (as istiod reads it
/// for the gateway pod). Any problem drops the server, with an error.
pub(super) fn chain_for(
    ctx: &mut Ctx<'_>,
    gateway: &Gateway,
    server: &GatewayServer,
    field: &str,
    hosts: &[ServerHost],
) -> Option<TlsChainPlan> {
    let ns = ctx.identity.namespace.clone();
    let tls = server.tls.clone().unwrap_or_default();
    let mode = tls.mode.clone().unwrap_or_default();
    let secrets = (
        tls.credential_name
            .as_ref()
            .and_then(|n| ctx.secret(&ns, n)),
        tls.credential_name
            .as_ref()
            .and_then(|n| ctx.secret(&ns, &format!("{n}-cacert"))),
    );
    let mut r = ctx.reporter(gateway);
    let Some(credential) = tls.credential_name.as_deref() else {
        let why = if tls.server_certificate.is_some() {
            "file-mounted certificates (serverCertificate) are not supported"
        } else {
            "credentialName is required"
        };
        r.error(
            &format!("{field}.tls.credentialName"),
            format!("{why}; server dropped"),
            Some("G-6"),
        );
        return None;
    };
    let Some(secret) = secrets.0 else {
        r.error(
            &format!("{field}.tls.credentialName"),
            format!("Secret {ns}/{credential} not found (it must be in the gateway workload namespace); server dropped"),
            Some("G-6"),
        );
        return None;
    };
    let mut read = |key: &str| match secret.value(key) {
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            r.error(
                &format!("{field}.tls.credentialName"),
                format!("{} key {key}: {e}; server dropped", secret.reference()),
                Some("G-6"),
            );
            None
        }
        None => None,
    };
    let (Some(cert), Some(key)) = (read("tls.crt"), read("tls.key")) else {
        r.error(
            &format!("{field}.tls.credentialName"),
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
        && let Some(ca_secret) = secrets.1
    {
        ca = ca_secret
            .value("ca.crt")
            .or_else(|| ca_secret.value("cacert"))
            .and_then(Result::ok);
    }
    let mutual = matches!(mode.as_str(), "MUTUAL" | "OPTIONAL_MUTUAL");
    if mutual && ca.is_none() {
        r.error(
            &format!("{field}.tls.mode"),
            format!("{mode} needs a client CA (ca.crt in {} or Secret {ns}/{credential}-cacert); server dropped", secret.reference()),
            Some("G-6"),
        );
        return None;
    }
    if tls.min_protocol_version.is_some() || tls.max_protocol_version.is_some() {
        r.warning(
            &format!("{field}.tls"),
            "TLS protocol versions are not enforced yet (Envoy defaults apply)",
            Some("G-6"),
        );
    }
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
        certificate_chain_pem: cert,
        private_key_pem: key,
        client_ca_pem: if mutual { ca } else { None },
        require_client_certificate: mode == "MUTUAL",
    })
}

/// The Envoy listener of one Gateway port.
pub(super) fn plan_listener(
    ctx: &mut Ctx<'_>,
    group: &PortGroup<'_>,
    bind_port: u16,
    kind: ListenerKind,
) -> ListenerPlan {
    let tls_chains = group
        .servers
        .iter()
        .filter_map(|s| s.chain.clone())
        .collect();
    let passthrough = super::passthrough::build(ctx, group);
    let terminated = group
        .servers
        .iter()
        .any(|s| s.mode == ServerMode::Terminated);
    ListenerPlan {
        name: format!(
            "{}.{}",
            if group.tls && terminated {
                "https"
            } else if group.tls {
                "tls"
            } else {
                "http"
            },
            group.port
        ),
        gateway_port: group.port,
        bind_port,
        kind,
        tls_chains,
        passthrough,
    }
}
