//! A minimal async HTTP/1.1 client (one request per connection) and curl for HTTPS.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Response {
    /// The body as JSON (the echo upstream's report), or Null.
    pub fn echo(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    /// Which upstream answered (from the echo body).
    pub fn upstream(&self) -> String {
        self.echo()["upstream"].as_str().unwrap_or("").to_string()
    }
    /// A header the upstream received.
    pub fn upstream_header(&self, name: &str) -> Option<String> {
        self.echo()["headers"][name].as_str().map(String::from)
    }
    /// A response header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A request builder.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub host: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

/// `GET http://<host><path>` sent to 127.0.0.1:`port`.
pub fn get(host: &str, path: &str) -> Request {
    Request {
        method: "GET".into(),
        host: host.into(),
        path: path.into(),
        headers: vec![],
    }
}

impl Request {
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn method(mut self, m: &str) -> Self {
        self.method = m.into();
        self
    }

    /// Sends to 127.0.0.1:`port`; errors are transport errors.
    pub async fn try_send(&self, port: u16) -> std::io::Result<Response> {
        let mut req = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.method, self.path, self.host
        );
        for (k, v) in &self.headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let io = async {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
            s.write_all(req.as_bytes()).await?;
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).await?;
            Ok::<_, std::io::Error>(buf)
        };
        let buf = tokio::time::timeout(Duration::from_secs(10), io)
            .await
            .map_err(|_| std::io::Error::other("timeout"))??;
        parse(&String::from_utf8_lossy(&buf))
    }

    /// Sends and panics on transport errors.
    pub async fn send(&self, port: u16) -> Response {
        self.try_send(port)
            .await
            .unwrap_or_else(|e| panic!("{} {}{}: {e}", self.method, self.host, self.path))
    }
}

fn parse(text: &str) -> std::io::Result<Response> {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no header end in {text:?}")))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|v| v == "chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// `curl` over HTTPS with SNI `host`, trusting `ca_file`. Returns (status, body).
pub async fn curl_https(
    host: &str,
    port: u16,
    path: &str,
    ca_file: &std::path::Path,
) -> (u16, String) {
    curl_https_with_host(host, host, port, path, ca_file).await
}

/// Like [`curl_https`], but the TLS SNI is `sni` (also the URL host) while the `Host` header is
/// `host` (G-11: the SNI selects the server, the Host the vhost).
pub async fn curl_https_with_host(
    sni: &str,
    host: &str,
    port: u16,
    path: &str,
    ca_file: &std::path::Path,
) -> (u16, String) {
    let out = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code}",
            "--cacert",
        ])
        .arg(ca_file)
        .args(["--resolve", &format!("{sni}:{port}:127.0.0.1")])
        .args(["-H", &format!("host: {host}")])
        .arg(format!("https://{sni}:{port}{path}"))
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}
