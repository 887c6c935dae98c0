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
        return Ok(dechunk(body));
    }
    Ok(body.to_string())
}

/// Decodes a chunked body (sizes in hex, each chunk followed by CRLF), by bytes.
fn dechunk(body: &str) -> String {
    let mut out = Vec::new();
    let mut rest = body.as_bytes();
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&rest[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok());
        let Some(size) = size.filter(|n| *n > 0) else {
            break;
        };
        let data = &rest[line_end + 2..];
        let Some(chunk) = data.get(..size) else { break };
        out.extend_from_slice(chunk);
        rest = data.get(size + 2..).unwrap_or_default();
    }
    String::from_utf8_lossy(&out).into_owned()
}
