//! `portcullis bootstrap`: the Envoy bootstrap of one gateway, pointing it at an xDS server,
//! or (`--config-dir`) at the files of a mounted ConfigMap (the `ConfigMap` distribution).

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use portcullis_envoy::{BootstrapOptions, ConfigDelivery, ConfigDir, XdsServer, render_bootstrap};

use super::GatewayArgs;

/// `portcullis bootstrap (--xds-address HOST:PORT | --config-dir DIR) [--node-id ID] [gateway flags]`.
#[derive(Args, Clone, Debug)]
pub struct BootstrapArgs {
    /// The xDS server, `host:port` (a hostname is resolved by DNS, e.g. a Kubernetes Service).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:15010")]
    pub xds_address: String,
    /// Read the configuration from files instead: the directory where the pod mounts the
    /// GatewayFilter's ConfigMap (its `configMap.mountPath`, default `/etc/portcullis/config`).
    #[arg(long, value_name = "DIR", conflicts_with = "xds_address")]
    pub config_dir: Option<std::path::PathBuf>,
    /// The proxy's node id (in a pod: its name, e.g. from `$POD_NAME`).
    #[arg(long, default_value = "portcullis-gateway")]
    pub node_id: String,
    /// Envoy's admin port on 127.0.0.1.
    #[arg(long, default_value_t = 15000)]
    pub admin_port: u16,
    /// The gateway workload (labels and namespace, sent as node metadata).
    #[command(flatten)]
    pub gateway: GatewayArgs,
}

/// Prints the bootstrap as JSON. Exit 2 on a malformed address or a relative directory.
pub fn bootstrap_command(args: &BootstrapArgs) -> ExitCode {
    let delivery = match &args.config_dir {
        Some(dir) if dir.is_absolute() => ConfigDelivery::Files(ConfigDir::mounted(dir)),
        Some(dir) => {
            let _ = writeln!(
                std::io::stderr(),
                "error: --config-dir must be an absolute path (Envoy resolves the files from it), got {:?}",
                dir.display().to_string()
            );
            return ExitCode::from(2);
        }
        None => match xds_server(&args.xds_address) {
            Some(server) => ConfigDelivery::Ads(server),
            None => {
                let _ = writeln!(
                    std::io::stderr(),
                    "error: --xds-address must be HOST:PORT, got {:?}",
                    args.xds_address
                );
                return ExitCode::from(2);
            }
        },
    };
    let identity = args.gateway.identity();
    let bootstrap = render_bootstrap(&BootstrapOptions {
        node_id: args.node_id.clone(),
        labels: identity.labels,
        namespace: Some(identity.namespace),
        admin_port: args.admin_port,
        delivery,
    });
    let json = serde_json::to_string_pretty(&portcullis_envoy::api::to_json_value(&bootstrap))
        .unwrap_or_default();
    let _ = writeln!(std::io::stdout(), "{json}");
    ExitCode::SUCCESS
}

fn xds_server(address: &str) -> Option<XdsServer> {
    address
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host.trim_matches(['[', ']']), port.parse().ok()?)))
        .filter(|(host, _)| !host.is_empty())
        .map(|(host, port)| XdsServer {
            address: host.to_string(),
            port,
        })
}
