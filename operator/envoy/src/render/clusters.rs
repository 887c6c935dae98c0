//! Upstream clusters.

use std::collections::BTreeMap;

use portcullis_compile::plan::{ClusterPlan, Discovery, Endpoint, PemSource, UpstreamTlsPlan};

use super::RenderOptions;
use super::listeners::BLACKHOLE_CLUSTER;
use crate::api::{
    Address, CertificateValidationContext, Cluster, ClusterLoadAssignment, CommonTlsContext,
    DataSource, DiscoveryType, DnsLookupFamily, Duration, Empty, ExactMatcher, ExplicitHttpConfig,
    HttpProtocolOptions, LbEndpoint, LbPolicy, LocalityLbEndpoints, SanType, Secret, SecretKind,
    SubjectAltNameMatcher, TlsCertificate, TransportSocket, TypedConfig, UpstreamTlsContext,
};
use crate::delivery::TlsDelivery;

/// The CA bundle Envoy verifies upstream certificates with when a DestinationRule names none
/// (S-7): the system bundle of Debian, Ubuntu, Alpine and Envoy's own images.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// One cluster. DNS discovery is STRICT_DNS (every resolved address is an endpoint, as Istio
/// renders ServiceEntry `resolution: DNS`); IPv4 only, since local machines and sandboxes
/// often have no IPv6 route and Envoy would otherwise try AAAA answers first.
pub(super) fn cluster(c: &ClusterPlan, opts: &RenderOptions, secrets: &mut Vec<Secret>) -> Cluster {
    let (discovery_type, endpoints) = match &c.discovery {
        Discovery::Static(eps) => (DiscoveryType::Static, eps),
        Discovery::Dns(eps) => (DiscoveryType::StrictDns, eps),
    };
    let mut typed_extension_protocol_options = BTreeMap::new();
    if c.http2 {
        typed_extension_protocol_options.insert(
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions".to_string(),
            TypedConfig::HttpProtocolOptions(HttpProtocolOptions {
                explicit_http_config: ExplicitHttpConfig {
                    http2_protocol_options: Empty {},
                },
            }),
        );
    }
    Cluster {
        name: c.name.clone(),
        discovery_type,
        connect_timeout: Duration::from_secs(5),
        lb_policy: Some(LbPolicy::RoundRobin),
        load_assignment: load_assignment(&c.name, endpoints),
        dns_lookup_family: (discovery_type == DiscoveryType::StrictDns)
            .then_some(DnsLookupFamily::V4Only),
        typed_extension_protocol_options,
        transport_socket: c.tls.as_ref().map(|tls| TransportSocket {
            name: "envoy.transport_sockets.tls".into(),
            typed_config: TypedConfig::UpstreamTlsContext(Box::new(upstream_tls(
                c, tls, opts, secrets,
            ))),
        }),
    }
}

/// S-7: the server's certificate is checked against the CA and the names of the plan (no
/// validation context only for `insecureSkipVerify`); a client certificate's key travels as an
/// SDS secret when TLS material is delivered by SDS, never inside the cluster.
fn upstream_tls(
    c: &ClusterPlan,
    tls: &UpstreamTlsPlan,
    opts: &RenderOptions,
    secrets: &mut Vec<Secret>,
) -> UpstreamTlsContext {
    let mut common = CommonTlsContext {
        validation_context: tls.verify.as_ref().map(|v| CertificateValidationContext {
            trusted_ca: data_source(&v.trusted_ca),
            match_typed_subject_alt_names: v
                .subject_alt_names
                .iter()
                .flat_map(|name| san_matchers(name))
                .collect(),
            verify_certificate_spki: Vec::new(),
            verify_certificate_hash: Vec::new(),
            crl: v.crl.as_ref().map(data_source),
        }),
        alpn_protocols: if c.http2 {
            vec!["h2".into()]
        } else {
            Vec::new()
        },
        ..CommonTlsContext::default()
    };
    if let Some(client) = &tls.client_certificate {
        let certificate = TlsCertificate {
            certificate_chain: data_source(&client.certificate_chain),
            private_key: data_source(&client.private_key),
        };
        match opts.tls {
            TlsDelivery::Inline => common.tls_certificates = vec![certificate],
            TlsDelivery::Sds => {
                let name = format!("client.{}", c.name);
                common.tls_certificate_sds_secret_configs =
                    vec![super::secrets::sds_config(&name, opts)];
                secrets.push(Secret {
                    name,
                    kind: SecretKind::TlsCertificate(certificate),
                });
            }
        }
    }
    UpstreamTlsContext {
        common_tls_context: common,
        sni: tls.sni.clone(),
    }
}

pub(super) fn data_source(p: &PemSource) -> DataSource {
    match p {
        PemSource::File(path) => DataSource::Filename(path.clone()),
        PemSource::SystemBundle => DataSource::Filename(SYSTEM_CA_BUNDLE.into()),
        PemSource::Inline(pem) => DataSource::InlineString(pem.clone()),
    }
}

/// Istio matches `subjectAltNames` exactly against any kind of name; Envoy's typed matchers
/// name the kind, so a name is offered as each kind it can be.
pub(super) fn san_matchers(name: &str) -> Vec<SubjectAltNameMatcher> {
    let kinds: &[SanType] = if name.parse::<std::net::IpAddr>().is_ok() {
        &[SanType::IpAddress]
    } else if name.contains("://") || name.starts_with("spiffe:") {
        &[SanType::Uri]
    } else if name.contains('@') {
        &[SanType::Email]
    } else {
        &[SanType::Dns, SanType::Uri]
    };
    kinds
        .iter()
        .map(|&san_type| SubjectAltNameMatcher {
            san_type,
            matcher: ExactMatcher {
                exact: name.to_string(),
            },
        })
        .collect()
}

/// The endpoint-less cluster behind egress passthrough's default chain.
pub(super) fn blackhole() -> Cluster {
    Cluster {
        name: BLACKHOLE_CLUSTER.into(),
        discovery_type: DiscoveryType::Static,
        connect_timeout: Duration::from_secs(1),
        lb_policy: None,
        load_assignment: ClusterLoadAssignment {
            cluster_name: BLACKHOLE_CLUSTER.into(),
            endpoints: vec![],
        },
        dns_lookup_family: None,
        typed_extension_protocol_options: BTreeMap::new(),
        transport_socket: None,
    }
}

fn load_assignment(name: &str, endpoints: &[Endpoint]) -> ClusterLoadAssignment {
    ClusterLoadAssignment {
        cluster_name: name.to_string(),
        endpoints: vec![LocalityLbEndpoints {
            lb_endpoints: endpoints
                .iter()
                .map(|e| LbEndpoint {
                    endpoint: crate::api::Endpoint {
                        address: Address::socket(e.address.clone(), e.port),
                    },
                })
                .collect(),
        }],
    }
}
