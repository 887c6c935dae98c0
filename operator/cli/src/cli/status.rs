//! `portcullis status`: each proxy connected to an xDS server, what it serves, its last
//! refusal (compare `istioctl proxy-status`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use portcullis_xds::ProxyStatus;

/// `portcullis status [--server HOST:PORT] [--json]`.
#[derive(Args, Clone, Debug)]
pub struct StatusArgs {
    /// The xDS server's address (its HTTP endpoints share the gRPC port).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:15010")]
    pub server: String,
    /// Print the server's JSON as it is.
    #[arg(long)]
    pub json: bool,
}

/// Fetches `/status` and prints a table. Exit 1 when the server cannot be reached.
pub fn status_command(args: &StatusArgs) -> ExitCode {
    let body = match fetch_status(&args.server) {
        Ok(body) => body,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {}: {e}", args.server);
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        let _ = writeln!(std::io::stdout(), "{body}");
        return ExitCode::SUCCESS;
    }
    match serde_json::from_str::<Vec<ProxyStatus>>(&body) {
        Ok(proxies) => {
            let _ = write!(std::io::stdout(), "{}", table(&proxies));
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: unexpected /status answer: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One line per proxy: node, workload, state, versions, last NACK.
pub fn table(proxies: &[ProxyStatus]) -> String {
    let short = |v: &Option<String>| {
        v.as_deref()
            .map(|v| v.trim_start_matches("sha256:").chars().take(12).collect())
            .unwrap_or_else(|| "-".to_string())
    };
    let mut out = format!(
        "{:<28} {:<36} {:<10} {:<12} {:<12} {}\n",
        "NODE", "WORKLOAD", "STATE", "ACKED", "SENT", "LAST NACK"
    );
    for p in proxies {
        let labels: Vec<String> = p.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let workload = format!("{}/{}", p.namespace, labels.join(","));
        let state = if p.rolling_out {
            "pushing"
        } else if p.synced() {
            "synced"
        } else if p.last_nack.is_some() {
            "nacked"
        } else {
            "stale"
        };
        let nack = p
            .last_nack
            .as_ref()
            .map(|n| {
                format!(
                    "{} {}: {}",
                    n.resource,
                    short(&Some(n.version.clone())),
                    n.detail
                )
            })
            .unwrap_or_else(|| p.note.clone().unwrap_or_else(|| "-".into()));
        out.push_str(&format!(
            "{:<28} {:<36} {:<10} {:<12} {:<12} {}\n",
            p.node_id,
            workload,
            state,
            short(&p.acked),
            short(&p.sent),
            nack.replace('\n', " ")
        ));
    }
    out
}

/// `GET /status` over HTTP/1.1.
fn fetch_status(server: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(server)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET /status HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if !head.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(
            head.lines().next().unwrap_or("no answer").to_string(),
        ));
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Ok(crate::envoy::dechunk(body));
    }
    Ok(body.to_string())
}

#[cfg(test)]
mod tests {
    use portcullis_xds::Nack;

    use super::*;

    fn proxy(node: &str) -> ProxyStatus {
        ProxyStatus {
            node_id: node.into(),
            stream: 1,
            labels: [("istio".to_string(), "ingressgateway".to_string())].into(),
            namespace: "istio-system".into(),
            connected_at: 0,
            acked: Some("sha256:aaaaaaaaaaaaaaaaaaaa".into()),
            sent: Some("sha256:aaaaaaaaaaaaaaaaaaaa".into()),
            last_nack: None,
            rolling_out: false,
            last_rollout: vec![],
            note: None,
        }
    }

    /// One row per proxy: synced, or refused with Envoy's reason on one line.
    #[test]
    fn rows_say_what_each_proxy_serves() {
        let mut refused = proxy("gw-2");
        refused.sent = Some("sha256:bbbbbbbbbbbbbbbb".into());
        refused.last_nack = Some(Nack {
            resource_type: "ecds".into(),
            resource: "portcullis.router".into(),
            version: "sha256:bbbbbbbbbbbbbbbb".into(),
            detail: "Unable to create\nWasm filter".into(),
            at: 0,
        });
        let text = table(&[proxy("gw-1"), refused]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[1].contains("gw-1") && lines[1].contains("synced"),
            "{text}"
        );
        assert!(lines[1].contains("aaaaaaaaaaaa"), "{text}");
        assert!(
            lines[2].contains("nacked")
                && lines[2]
                    .contains("portcullis.router bbbbbbbbbbbb: Unable to create Wasm filter"),
            "{text}"
        );
    }

    /// Chunked bodies are decoded by bytes (a multi-byte character may straddle chunks).
    #[test]
    fn chunked_bodies_decode_by_bytes() {
        assert_eq!(
            crate::envoy::dechunk("3\r\n[\u{e9}\r\n1\r\n]\r\n0\r\n\r\n"),
            "[\u{e9}]"
        );
    }
}
