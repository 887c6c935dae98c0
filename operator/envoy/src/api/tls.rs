//! `envoy.extensions.transport_sockets.tls.v3`: TLS contexts and SDS secrets.

use serde::Serialize;

use super::{ConfigSource, DataSource};

/// `tls.v3.DownstreamTlsContext`: TLS termination on a filter chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DownstreamTlsContext {
    /// Certificates, validation, ALPN.
    pub common_tls_context: CommonTlsContext,
    /// Refuse clients without a certificate (MUTUAL).
    pub require_client_certificate: bool,
}

/// `tls.v3.UpstreamTlsContext`: TLS origination on a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UpstreamTlsContext {
    /// The SNI sent.
    pub sni: String,
}

/// `tls.v3.CommonTlsContext`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CommonTlsContext {
    /// Inline certificates.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tls_certificates: Vec<TlsCertificate>,
    /// Certificates by SDS.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tls_certificate_sds_secret_configs: Vec<SdsSecretConfig>,
    /// Inline validation of the peer's certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_context: Option<CertificateValidationContext>,
    /// Validation of the peer's certificate by SDS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_context_sds_secret_config: Option<SdsSecretConfig>,
    /// ALPN protocols offered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alpn_protocols: Vec<String>,
}

/// `tls.v3.TlsCertificate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TlsCertificate {
    /// PEM chain.
    pub certificate_chain: DataSource,
    /// PEM key.
    pub private_key: DataSource,
}

/// `tls.v3.CertificateValidationContext`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertificateValidationContext {
    /// PEM CA bundle.
    pub trusted_ca: DataSource,
}

/// `tls.v3.SdsSecretConfig`: a secret by name and where to fetch it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SdsSecretConfig {
    /// The secret's name.
    pub name: String,
    /// Where it comes from.
    pub sds_config: ConfigSource,
}

/// `tls.v3.Secret`: an SDS resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Secret {
    /// Its name, as `SdsSecretConfig.name` refers to it.
    pub name: String,
    /// What it holds.
    #[serde(flatten)]
    pub kind: SecretKind,
}

/// The `type` oneof of `Secret`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum SecretKind {
    /// A certificate and its key.
    #[serde(rename = "tls_certificate")]
    TlsCertificate(TlsCertificate),
    /// A CA bundle.
    #[serde(rename = "validation_context")]
    ValidationContext(CertificateValidationContext),
}
