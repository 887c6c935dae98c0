//! Demo upstreams: tiny HTTP/1.1 echo servers for the STATIC 127.0.0.1 endpoints of a plan, so
//! a user (and the e2e tests) can see exactly what the upstream received.
//!
//! Every request is answered `200` with a JSON body
//! `{"upstream": "<cluster>", "method", "path", "headers": {...}, "body"}`.
//! A request header `x-echo-delay-ms: N` delays the answer (timeouts); `x-echo-status: N`
//! changes the status (retries).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use portcullis_compile::plan::{Discovery, EnvoyPlan};

/// The echo servers started so far, by port. Dropping it stops them.
#[derive(Debug, Default)]
pub struct DemoUpstreams {
    servers: BTreeMap<u16, JoinHandle<()>>,
}

/// 127.0.0.1 ports of STATIC endpoints, each with the first cluster (by name) that uses it.
pub fn local_endpoints(plan: &EnvoyPlan) -> BTreeMap<u16, String> {
    let mut ports = BTreeMap::new();
    for c in &plan.clusters {
        if let Discovery::Static(eps) = &c.discovery {
            for e in eps.iter().filter(|e| e.address == "127.0.0.1") {
                ports.entry(e.port).or_insert_with(|| c.name.clone());
            }
        }
    }
    ports
}

impl DemoUpstreams {
    /// Starts an echo server for every local endpoint of `plan` not already served. Returns the
    /// newly started `(port, cluster)` pairs; a port that cannot be bound is an error.
    pub async fn ensure(&mut self, plan: &EnvoyPlan) -> std::io::Result<Vec<(u16, String)>> {
        let mut started = Vec::new();
        for (port, cluster) in local_endpoints(plan) {
            if self.servers.contains_key(&port) {
                continue;
            }
            let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("demo upstream 127.0.0.1:{port}: {e}"))
            })?;
            self.servers
                .insert(port, tokio::spawn(serve(listener, cluster.clone())));
            started.push((port, cluster));
        }
        Ok(started)
    }

    /// Ports being served.
    pub fn ports(&self) -> BTreeSet<u16> {
        self.servers.keys().copied().collect()
    }
}

impl Drop for DemoUpstreams {
    fn drop(&mut self) {
        for handle in self.servers.values() {
            handle.abort();
        }
    }
}

/// Serves one echo upstream on an already bound listener.
pub async fn serve(listener: TcpListener, name: String) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(connection(stream, name.clone()));
    }
}

/// Keep-alive loop over one connection (Envoy pools upstream connections).
async fn connection(stream: TcpStream, name: String) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = BTreeMap::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len.min(1 << 20)];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        if let Some(ms) = headers.get("x-echo-delay-ms").and_then(|v| v.parse().ok()) {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let status: u16 = headers
            .get("x-echo-status")
            .and_then(|v| v.parse().ok())
            .unwrap_or(200);
        let payload = json!({
            "upstream": name,
            "method": method,
            "path": path,
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
        })
        .to_string();
        let response = format!(
            "HTTP/1.1 {status} Echo\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{payload}",
            payload.len()
        );
        if write.write_all(response.as_bytes()).await.is_err() {
            return;
        }
        // RFC 9112 section 9.6: after answering `Connection: close`, the server closes.
        if headers
            .get("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_compile::plan::{ClusterPlan, Endpoint};

    /// Only STATIC 127.0.0.1 endpoints get an echo server, labelled by the first cluster.
    #[test]
    fn local_endpoints_are_static_loopback_only() {
        let ep = |address: &str, port| Endpoint {
            address: address.into(),
            port,
        };
        let cluster = |name: &str, discovery| ClusterPlan {
            name: name.into(),
            discovery,
            http2: false,
            tls: None,
        };
        let plan = EnvoyPlan {
            listeners: vec![],
            clusters: vec![
                cluster(
                    "a",
                    Discovery::Static(vec![ep("127.0.0.1", 1), ep("10.0.0.1", 2)]),
                ),
                cluster(
                    "b",
                    Discovery::Static(vec![ep("127.0.0.1", 1), ep("127.0.0.1", 3)]),
                ),
                cluster("c", Discovery::Dns(vec![ep("127.0.0.1", 4)])),
            ],
        };
        let got: Vec<(u16, String)> = local_endpoints(&plan).into_iter().collect();
        assert_eq!(got, vec![(1, "a".to_string()), (3, "b".to_string())]);
    }

    /// The echo reports method, path, headers and body, over a kept-alive connection.
    #[tokio::test]
    async fn echo_reports_what_it_received() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(serve(listener, "demo".into()));
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let req = "POST /p?q=1 HTTP/1.1\r\nHost: h\r\nX-A: b\r\nContent-Length: 2\r\n\r\nhi";
        for _ in 0..2 {
            s.write_all(req.as_bytes()).await.unwrap();
            let mut buf = vec![0; 4096];
            let n = s.read(&mut buf).await.unwrap();
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["upstream"], "demo");
            assert_eq!(v["method"], "POST");
            assert_eq!(v["path"], "/p?q=1");
            assert_eq!(v["headers"]["x-a"], "b");
            assert_eq!(v["body"], "hi");
        }
    }
}
