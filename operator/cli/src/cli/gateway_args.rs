//! Flags that name the gateway workload being compiled for; shared by `render`, `explain` and
//! `up`.

use clap::Args;

use portcullis_compile::compile::{CompileOptions, GatewayIdentity};

/// Which gateway workload to compile for, and how local mode maps its ports.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct GatewayArgs {
    /// Labels of the gateway workload, `k=v,k2=v2` (or the flag repeated). Gateways whose
    /// selector is a subset of these labels apply (Istio G-1).
    #[arg(
        long = "gateway-labels",
        visible_alias = "gateway-label",
        value_name = "KEY=VALUE,...",
        value_delimiter = ',',
        value_parser = parse_key_value,
        default_value = "istio=ingressgateway"
    )]
    pub gateway_labels: Vec<(String, String)>,
    /// Namespace of the gateway workload: VirtualService `exportTo` and `credentialName`
    /// Secrets are resolved there.
    #[arg(long, value_name = "NAMESPACE", default_value = "istio-system")]
    pub gateway_namespace: String,
    /// Added to every Gateway port to get the port Envoy binds (e.g. 10000 turns 80 into
    /// 10080, so no privileges are needed).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub port_offset: u16,
}

impl Default for GatewayArgs {
    fn default() -> Self {
        GatewayArgs {
            gateway_labels: vec![("istio".into(), "ingressgateway".into())],
            gateway_namespace: "istio-system".into(),
            port_offset: 0,
        }
    }
}

impl GatewayArgs {
    /// The workload identity these flags describe.
    pub fn identity(&self) -> GatewayIdentity {
        GatewayIdentity {
            labels: self.gateway_labels.iter().cloned().collect(),
            namespace: self.gateway_namespace.clone(),
        }
    }

    /// The compile options these flags describe.
    pub fn options(&self) -> CompileOptions {
        CompileOptions {
            port_offset: self.port_offset,
            ..CompileOptions::default()
        }
    }
}

/// Parses `key=value`.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}
