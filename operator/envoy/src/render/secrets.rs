//! TLS material of a terminated chain: inline, or as SDS secrets.

use portcullis_compile::plan::TlsChainPlan;

use super::clusters::data_source;
use super::{RenderOptions, Source};
use crate::api::{
    CertificateValidationContext, CommonTlsContext, SdsSecretConfig, Secret, SecretKind,
    TlsCertificate,
};
use crate::delivery::TlsDelivery;

/// Names of one chain's secrets: `<listener>.<chain index>` for the certificate, with `.ca`
/// for the client CA. Stable while the plan's chain order is (the plan is sorted).
#[derive(Clone, Copy, Debug)]
pub(super) struct Naming<'a> {
    listener: &'a str,
    index: usize,
}

impl<'a> Naming<'a> {
    pub(super) fn new(listener: &'a str, index: usize) -> Self {
        Naming { listener, index }
    }
    fn certificate(self) -> String {
        format!("{}.{}", self.listener, self.index)
    }
    fn ca(self) -> String {
        format!("{}.{}.ca", self.listener, self.index)
    }
}

/// Puts the chain's certificate (and client CA) into `common`, inline or as SDS references
/// whose secrets are pushed to `secrets`.
pub(super) fn attach(
    c: &TlsChainPlan,
    common: &mut CommonTlsContext,
    opts: &RenderOptions,
    naming: Naming<'_>,
    secrets: &mut Vec<Secret>,
) {
    let certificate = TlsCertificate {
        certificate_chain: data_source(&c.certificate_chain),
        private_key: data_source(&c.private_key),
    };
    let ca = c.client_ca.as_ref().map(|ca| CertificateValidationContext {
        // G-14: further checks of the client's certificate.
        match_typed_subject_alt_names: c
            .settings
            .client_subject_alt_names
            .iter()
            .flat_map(|name| super::clusters::san_matchers(name))
            .collect(),
        verify_certificate_spki: c.settings.client_spki_sha256.clone(),
        verify_certificate_hash: c.settings.client_certificate_sha256.clone(),
        ..CertificateValidationContext::trusting(data_source(ca))
    });
    match opts.tls {
        TlsDelivery::Inline => {
            common.tls_certificates = vec![certificate];
            common.validation_context = ca;
        }
        TlsDelivery::Sds => {
            let name = naming.certificate();
            common.tls_certificate_sds_secret_configs = vec![sds_config(&name, opts)];
            secrets.push(Secret {
                name,
                kind: SecretKind::TlsCertificate(certificate),
            });
            if let Some(ca) = ca {
                let name = naming.ca();
                common.validation_context_sds_secret_config = Some(sds_config(&name, opts));
                secrets.push(Secret {
                    name,
                    kind: SecretKind::ValidationContext(ca),
                });
            }
        }
    }
}

pub(super) fn sds_config(name: &str, opts: &RenderOptions) -> SdsSecretConfig {
    SdsSecretConfig {
        name: name.into(),
        sds_config: opts.source(Source::Secret(name)),
    }
}
