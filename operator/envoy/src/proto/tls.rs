//! TLS contexts and SDS secrets.

use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3 as tls_pb;

use super::bool_value;
use super::core::{config_source, data_source};
use crate::api;

pub(super) fn downstream(d: &api::DownstreamTlsContext) -> tls_pb::DownstreamTlsContext {
    tls_pb::DownstreamTlsContext {
        common_tls_context: Some(common(&d.common_tls_context)),
        require_client_certificate: Some(bool_value(d.require_client_certificate)),
        ..Default::default()
    }
}

pub(super) fn upstream(u: &api::UpstreamTlsContext) -> tls_pb::UpstreamTlsContext {
    tls_pb::UpstreamTlsContext {
        common_tls_context: Some(common(&u.common_tls_context)),
        sni: u.sni.clone(),
        ..Default::default()
    }
}

fn common(c: &api::CommonTlsContext) -> tls_pb::CommonTlsContext {
    use tls_pb::common_tls_context::ValidationContextType;
    let validation = match (
        &c.validation_context,
        &c.validation_context_sds_secret_config,
    ) {
        (Some(v), _) => Some(ValidationContextType::ValidationContext(
            validation_context(v),
        )),
        (None, Some(sds)) => Some(ValidationContextType::ValidationContextSdsSecretConfig(
            sds_config(sds),
        )),
        (None, None) => None,
    };
    tls_pb::CommonTlsContext {
        tls_certificates: c.tls_certificates.iter().map(certificate).collect(),
        tls_certificate_sds_secret_configs: c
            .tls_certificate_sds_secret_configs
            .iter()
            .map(sds_config)
            .collect(),
        validation_context_type: validation,
        alpn_protocols: c.alpn_protocols.clone(),
        tls_params: c.tls_params.as_ref().map(tls_params),
        ..Default::default()
    }
}

fn tls_params(p: &api::TlsParameters) -> tls_pb::TlsParameters {
    use tls_pb::tls_parameters::TlsProtocol as P;
    let version = |v: Option<api::TlsProtocol>| {
        (match v {
            None | Some(api::TlsProtocol::Auto) => P::TlsAuto,
            Some(api::TlsProtocol::V1_0) => P::TlSv10,
            Some(api::TlsProtocol::V1_1) => P::TlSv11,
            Some(api::TlsProtocol::V1_2) => P::TlSv12,
            Some(api::TlsProtocol::V1_3) => P::TlSv13,
        }) as i32
    };
    tls_pb::TlsParameters {
        tls_minimum_protocol_version: version(p.tls_minimum_protocol_version),
        tls_maximum_protocol_version: version(p.tls_maximum_protocol_version),
        cipher_suites: p.cipher_suites.clone(),
        ..Default::default()
    }
}

fn certificate(t: &api::TlsCertificate) -> tls_pb::TlsCertificate {
    tls_pb::TlsCertificate {
        certificate_chain: Some(data_source(&t.certificate_chain)),
        private_key: Some(data_source(&t.private_key)),
        ..Default::default()
    }
}

fn validation_context(
    v: &api::CertificateValidationContext,
) -> tls_pb::CertificateValidationContext {
    use envoy_types::pb::envoy::r#type::matcher::v3 as matcher_pb;
    use tls_pb::subject_alt_name_matcher::SanType as S;
    tls_pb::CertificateValidationContext {
        trusted_ca: Some(data_source(&v.trusted_ca)),
        match_typed_subject_alt_names: v
            .match_typed_subject_alt_names
            .iter()
            .map(|m| tls_pb::SubjectAltNameMatcher {
                san_type: (match m.san_type {
                    api::SanType::Dns => S::Dns,
                    api::SanType::Uri => S::Uri,
                    api::SanType::Email => S::Email,
                    api::SanType::IpAddress => S::IpAddress,
                }) as i32,
                matcher: Some(matcher_pb::StringMatcher {
                    match_pattern: Some(matcher_pb::string_matcher::MatchPattern::Exact(
                        m.matcher.exact.clone(),
                    )),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect(),
        verify_certificate_spki: v.verify_certificate_spki.clone(),
        verify_certificate_hash: v.verify_certificate_hash.clone(),
        crl: v.crl.as_ref().map(data_source),
        ..Default::default()
    }
}

fn sds_config(s: &api::SdsSecretConfig) -> tls_pb::SdsSecretConfig {
    tls_pb::SdsSecretConfig {
        name: s.name.clone(),
        sds_config: Some(config_source(&s.sds_config)),
    }
}

/// An SDS resource.
pub fn secret(s: &api::Secret) -> tls_pb::Secret {
    let kind = match &s.kind {
        api::SecretKind::TlsCertificate(t) => tls_pb::secret::Type::TlsCertificate(certificate(t)),
        api::SecretKind::ValidationContext(v) => {
            tls_pb::secret::Type::ValidationContext(validation_context(v))
        }
    };
    tls_pb::Secret {
        name: s.name.clone(),
        r#type: Some(kind),
    }
}
