//! Running Envoy as a child process and talking to its admin endpoint.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use super::{Error, Result};

/// How to start Envoy.
#[derive(Clone, Debug)]
pub struct EnvoyProcessOptions {
    /// The executable.
    pub binary: PathBuf,
    /// `bootstrap.json`.
    pub bootstrap: PathBuf,
    /// Envoy's own log (audit records of the egress filter land here at info level).
    pub log_path: PathBuf,
    /// Worker threads; each has its own V8 VM per module.
    pub concurrency: u16,
    /// Admin port, for readiness and stats; 0 lets Envoy pick a free one (read back from
    /// `--admin-address-path`), so parallel tests never race for a port.
    pub admin_port: u16,
}

/// A running Envoy. Dropping it kills the process.
#[derive(Debug)]
pub struct EnvoyProcess {
    child: Child,
    admin: Admin,
    log_path: PathBuf,
}

impl EnvoyProcess {
    /// Starts Envoy and waits until the admin endpoint reports `LIVE`.
    ///
    /// `--disable-hot-restart`: no shared-memory segment, so any number of Envoys (parallel
    /// tests) can run on one machine without choosing distinct `--base-id`s.
    pub async fn start(opts: &EnvoyProcessOptions, ready_timeout: Duration) -> Result<Self> {
        // Errors before Envoy's logger is up (flag parsing) only reach stderr: keep them.
        let stderr_path = opts.log_path.with_extension("stderr");
        let stderr = super::files::create_private_file(&stderr_path)?;
        // A stale file from an earlier run must not be read as this Envoy's address.
        let _ = std::fs::remove_file(opts.log_path.with_extension("admin-address"));
        let child = Command::new(&opts.binary)
            .arg("-c")
            .arg(&opts.bootstrap)
            .arg("--disable-hot-restart")
            .args(["--concurrency", &opts.concurrency.to_string()])
            .arg("--log-path")
            .arg(&opts.log_path)
            .args(["-l", "warning", "--component-log-level", "wasm:info"])
            // A replaced listener drains for this long; keep local reloads snappy.
            .args(["--drain-time-s", "2"])
            // Envoy buffers its log and access-log files for 10 s by default; audit records
            // and access logs should be readable at once.
            .args(["--file-flush-interval-msec", "100"])
            .arg("--admin-address-path")
            .arg(opts.log_path.with_extension("admin-address"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::Process(format!("spawn {}: {e}", opts.binary.display())))?;
        // Kept so that a later start on this state directory can stop this Envoy should the
        // process that owns it be killed (`stop_leftover_envoy`, called by `portcullis up`
        // before it checks its ports).
        if let Some(pid) = child.id() {
            super::leftover::record(&opts.log_path, pid)?;
        }
        let mut envoy = EnvoyProcess {
            child,
            admin: Admin::new(opts.admin_port),
            log_path: opts.log_path.clone(),
        };
        envoy
            .wait_ready(
                ready_timeout,
                &opts.log_path.with_extension("admin-address"),
            )
            .await?;
        Ok(envoy)
    }

    /// The admin client.
    pub fn admin(&self) -> &Admin {
        &self.admin
    }

    /// Envoy's log file.
    pub fn log_path(&self) -> &std::path::Path {
        &self.log_path
    }

    /// The process id, if running.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    async fn wait_ready(
        &mut self,
        timeout: Duration,
        address_file: &std::path::Path,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.admin.port == 0
                && let Some(port) = std::fs::read_to_string(address_file)
                    .ok()
                    .and_then(|a| a.trim().rsplit_once(':')?.1.parse().ok())
            {
                self.admin = Admin::new(port);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::Process(format!(
                    "envoy exited with {status} during startup; last log lines:\n{}",
                    self.log_tail(20)
                )));
            }
            if self.admin.port != 0
                && let Ok(body) = self.admin.get("/ready").await
                && body.trim() == "LIVE"
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Process(format!(
                    "envoy not ready after {timeout:?}; last log lines:\n{}",
                    self.log_tail(20)
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `Some(reason)` once Envoy has exited on its own.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!(
                "envoy exited with {status}; last log lines:\n{}",
                self.log_tail(20)
            )),
            Ok(None) => None,
            Err(e) => Some(format!("envoy process: {e}")),
        }
    }

    /// The last `n` lines of Envoy's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Kills Envoy at once and waits for it to be gone (a crashed one is reaped).
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
        super::leftover::forget(&self.log_path);
    }

    /// Stops Envoy: SIGTERM, then SIGKILL after two seconds.
    pub async fn stop(mut self) -> Result<()> {
        let stopped = self.stop_process().await;
        super::leftover::forget(&self.log_path);
        stopped
    }

    async fn stop_process(&mut self) -> Result<()> {
        if let Some(pid) = self.child.id() {
            // No libc binding (unsafe is forbidden); `kill` is on every Unix.
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
            if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
                .await
                .is_ok()
            {
                return Ok(());
            }
        }
        self.child
            .kill()
            .await
            .map_err(|e| Error::Process(format!("kill: {e}")))
    }
}

/// A minimal admin client (HTTP/1.1 GET on 127.0.0.1).
#[derive(Clone, Debug)]
pub struct Admin {
    port: u16,
}

impl Admin {
    /// Admin endpoint on 127.0.0.1:`port`.
    pub fn new(port: u16) -> Self {
        Admin { port }
    }

    /// The admin port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// GETs `path` and returns the body of a 200 response.
    pub async fn get(&self, path: &str) -> Result<String> {
        let fut = async {
            let mut stream = TcpStream::connect(("127.0.0.1", self.port)).await?;
            let req = format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
            stream.write_all(req.as_bytes()).await?;
            let mut buf = Vec::new();
            stream.read_to_end(&mut buf).await?;
            Ok::<_, std::io::Error>(buf)
        };
        let buf = tokio::time::timeout(Duration::from_secs(5), fut)
            .await
            .map_err(|_| Error::Admin(format!("GET {path}: timeout")))?
            .map_err(|e| Error::Admin(format!("GET {path}: {e}")))?;
        let text = String::from_utf8_lossy(&buf);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        if !head.starts_with("HTTP/1.1 200") {
            return Err(Error::Admin(format!(
                "GET {path}: {}",
                head.lines().next().unwrap_or("")
            )));
        }
        // Envoy's admin uses chunked encoding for some endpoints.
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            return Ok(dechunk(body));
        }
        Ok(body.to_string())
    }

    /// Stats whose name matches the regex `filter`, as name → value text.
    pub async fn stats(&self, filter: &str) -> Result<BTreeMap<String, String>> {
        let body = self
            .get(&format!("/stats?filter={}", percent_encode(filter)))
            .await?;
        Ok(body
            .lines()
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_string(), v.trim().trim_matches('"').to_string()))
            .collect())
    }

    /// One counter or gauge; 0 when absent.
    pub async fn counter(&self, name: &str) -> Result<u64> {
        let stats = self.stats(&format!("^{}$", regex_escape(name))).await?;
        Ok(stats.get(name).and_then(|v| v.parse().ok()).unwrap_or(0))
    }
}

/// Decodes a chunked HTTP/1.1 body (hex sizes, each chunk followed by CRLF) by bytes, so a
/// multi-byte character split across chunks cannot make it panic.
pub(crate) fn dechunk(body: &str) -> String {
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

/// Escapes regex metacharacters (cluster names hold `|`).
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Percent-encodes a query parameter value.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stat names become exact, URL-safe regex filters.
    #[test]
    fn stat_filters_are_escaped_and_encoded() {
        assert_eq!(
            regex_escape("cluster.a|1||b.c"),
            "cluster\\.a\\|1\\|\\|b\\.c"
        );
        assert_eq!(percent_encode("^a\\.b|c$"), "%5Ea%5C.b%7Cc%24");
    }
}
