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
    /// Client certificate, validation of the server's certificate, ALPN.
    pub common_tls_context: CommonTlsContext,
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
    /// Protocol versions and cipher suites.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_params: Option<TlsParameters>,
}

/// `tls.v3.TlsParameters`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TlsParameters {
    /// Lowest version accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_minimum_protocol_version: Option<TlsProtocol>,
    /// Highest version accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_maximum_protocol_version: Option<TlsProtocol>,
    /// Cipher suites offered (TLS 1.2 and below), in order of preference.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cipher_suites: Vec<String>,
}

/// `tls.v3.TlsParameters.TlsProtocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TlsProtocol {
    /// Envoy chooses.
    #[serde(rename = "TLS_AUTO")]
    Auto,
    /// TLS 1.0.
    #[serde(rename = "TLSv1_0")]
    V1_0,
    /// TLS 1.1.
    #[serde(rename = "TLSv1_1")]
    V1_1,
    /// TLS 1.2.
    #[serde(rename = "TLSv1_2")]
    V1_2,
    /// TLS 1.3.
    #[serde(rename = "TLSv1_3")]
    V1_3,
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
    /// The peer's certificate must carry one of these names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub match_typed_subject_alt_names: Vec<SubjectAltNameMatcher>,
    /// Base64 SHA-256 hashes of acceptable SubjectPublicKeyInfos.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verify_certificate_spki: Vec<String>,
    /// Hex SHA-256 hashes of acceptable certificates.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verify_certificate_hash: Vec<String>,
    /// PEM certificate revocation list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crl: Option<DataSource>,
}

impl CertificateValidationContext {
    /// Trusts `ca`, with no further checks.
    pub fn trusting(ca: DataSource) -> Self {
        CertificateValidationContext {
            trusted_ca: ca,
            match_typed_subject_alt_names: Vec::new(),
            verify_certificate_spki: Vec::new(),
            verify_certificate_hash: Vec::new(),
            crl: None,
        }
    }
}

/// `tls.v3.SubjectAltNameMatcher`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubjectAltNameMatcher {
    /// Which kind of name.
    pub san_type: SanType,
    /// How it must read.
    pub matcher: ExactMatcher,
}

/// `tls.v3.SubjectAltNameMatcher.SanType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SanType {
    /// A DNS name (a wildcard certificate name matches as RFC 6125 says).
    Dns,
    /// A URI (SPIFFE identities).
    Uri,
    /// An e-mail address.
    Email,
    /// An IP address.
    IpAddress,
}

/// `type.matcher.v3.StringMatcher` with `exact` set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExactMatcher {
    /// The exact value.
    pub exact: String,
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
