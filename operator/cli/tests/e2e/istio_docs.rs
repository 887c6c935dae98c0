//! Istio's documentation examples for gateways, run unchanged under the real `portcullis up`
//! through a real Envoy. Each directory of `istio_docs/` holds one example: the YAML files
//! exactly as the page gives them (sources in `istio_docs/README.md`), a `local.yaml` of local
//! stand-ins (ServiceEntries mapping the Kubernetes services the example routes to onto
//! loopback ports), and a `cases.yaml`: the certificates the page makes with openssl, the
//! Secrets it creates, and steps, each applying files (as `kubectl apply` does: a document
//! replaces the stored one of the same kind, namespace and name) and sending requests whose
//! answers must be Istio's.
//!
//! Per example the harness generates the certificates (rcgen), gives every `${port:NAME}` of
//! the files a free port, serves the TLS stand-ins (127.0.0.2, so `--demo-upstreams`, which
//! serves the 127.0.0.1 endpoints with echo upstreams, leaves them alone), writes the applied
//! documents into a fresh directory, starts `portcullis up` on it with a port offset that puts
//! every Gateway port on a free port, waits until Envoy runs the configuration (the xDS
//! server's `/status`), runs the cases, and applies the next step live.
//!
//! A case marked `knownGap` is where Portcullis does not (yet) answer as Istio: it keeps
//! Istio's expected answer, is reported and skipped; `PORTCULLIS_DOCS_GAPS=run` runs such
//! cases too and reports whether they still fail, without failing the test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

use crate::support::http::Request;
use crate::support::{free_port, free_port_offset, state_dir};

macro_rules! examples {
    ($($test:ident => $dir:literal,)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            run($dir).await;
        }
    )*};
}

examples! {
    ingress_control => "ingress-control",
    ingress_control_wildcard => "ingress-control-wildcard",
    secure_ingress => "secure-ingress",
    ingress_sni_passthrough => "ingress-sni-passthrough",
    tcp_traffic_shifting => "tcp-traffic-shifting",
    egress_gateway_http => "egress-gateway-http",
    egress_gateway_https => "egress-gateway-https",
    egress_gateway_tls_origination => "egress-gateway-tls-origination",
    bookinfo => "bookinfo",
    reference_gateway => "reference-gateway",
    reference_virtualservice_delegate => "reference-virtualservice-delegate",
    reference_virtualservice_tls => "reference-virtualservice-tls",
}

// ---------------------------------------------------------------------------------------------
// cases.yaml

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    gateway: Workload,
    #[serde(default)]
    pki: Vec<PkiItem>,
    #[serde(default)]
    tls_upstreams: Vec<TlsUpstream>,
    steps: Vec<Step>,
}

/// The gateway workload `portcullis up` compiles for (`--gateway-labels`, `--gateway-namespace`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Workload {
    #[serde(default = "ingress_labels")]
    labels: BTreeMap<String, String>,
    #[serde(default = "istio_system")]
    namespace: String,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            labels: ingress_labels(),
            namespace: istio_system(),
        }
    }
}

fn ingress_labels() -> BTreeMap<String, String> {
    BTreeMap::from([("istio".into(), "ingressgateway".into())])
}

fn istio_system() -> String {
    "istio-system".into()
}

/// A certificate the page makes with openssl: `<name>.crt` and `<name>.key`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PkiItem {
    name: String,
    #[serde(default)]
    ca: bool,
    /// Signed by this CA (a `ca: true` item); self-signed without.
    #[serde(default)]
    issuer: Option<String>,
    /// Distinguished name: `CN`, `O`.
    subject: BTreeMap<String, String>,
    /// DNS subject alternative names.
    #[serde(default)]
    dns: Vec<String>,
    /// A client certificate (extended key usage clientAuth) rather than a server's.
    #[serde(default)]
    client: bool,
}

/// A TLS echo server on 127.0.0.2:`${port:<name>}` presenting the certificate `cert`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsUpstream {
    name: String,
    cert: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    #[serde(default)]
    title: Option<String>,
    /// Secrets created (or replaced) before the files are applied, as `kubectl create secret`.
    #[serde(default)]
    secrets: Vec<SecretSpec>,
    /// Files applied, relative to the example's directory.
    #[serde(default)]
    apply: Vec<String>,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretSpec {
    name: String,
    namespace: String,
    #[serde(default = "opaque", rename = "type")]
    kind: String,
    /// Key → generated file (`example_certs1/httpbin.example.com.crt`), as `--from-file`.
    files: BTreeMap<String, String>,
}

fn opaque() -> String {
    "Opaque".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Case {
    name: String,
    #[serde(default)]
    known_gap: Option<String>,
    /// The Gateway port, as the page addresses it.
    port: u16,
    /// HTTPS through curl; without it plain HTTP/1.1.
    #[serde(default)]
    https: Option<Https>,
    /// A raw TCP connection carrying the request (for TCP servers).
    #[serde(default)]
    tcp: bool,
    host: String,
    #[serde(default = "slash")]
    path: String,
    #[serde(default = "get")]
    method: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Send the request this many times (one connection each), for weights.
    #[serde(default = "one")]
    repeat: u32,
    expect: Expect,
}

fn slash() -> String {
    "/".into()
}

fn get() -> String {
    "GET".into()
}

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Https {
    /// The TLS SNI; the URL's host.
    sni: String,
    /// A generated file the client trusts.
    cacert: String,
    #[serde(default)]
    cert: Option<String>,
    #[serde(default)]
    key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Expect {
    /// No HTTP answer at all: connection refused or closed, or the TLS handshake failed.
    #[serde(default)]
    fails: bool,
    #[serde(default)]
    status: Option<u16>,
    /// The stand-in that answered: an echo upstream's cluster, a TLS stand-in's name.
    #[serde(default)]
    upstream: Option<String>,
    /// With `repeat`: relative weights of the answering stand-ins.
    #[serde(default)]
    upstreams: BTreeMap<String, f64>,
    /// The path the stand-in received.
    #[serde(default)]
    path: Option<String>,
    /// The HTTP version of the answer (`2`, `1.1`), HTTPS only.
    #[serde(default)]
    http_version: Option<String>,
    /// Response headers.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Request headers as the stand-in received them; `null`: absent.
    #[serde(default)]
    upstream_headers: BTreeMap<String, Option<String>>,
    /// The SNI a TLS stand-in received.
    #[serde(default)]
    sni: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The run

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/istio_docs")
}

/// Runs every step of the example in `istio_docs/<name>`; panics listing every failed case.
async fn run(name: &str) {
    let dir = examples_dir().join(name);
    let spec_text = std::fs::read_to_string(dir.join("cases.yaml")).unwrap();
    let spec: Spec =
        serde_saphyr::from_str(&spec_text).unwrap_or_else(|e| panic!("{name}/cases.yaml: {e}"));
    for case in spec.steps.iter().flat_map(|s| &s.cases) {
        // A TCP case's request is bytes on a plain connection, never TLS through curl.
        assert!(
            !(case.tcp && case.https.is_some()),
            "{name}: {}: tcp and https",
            case.name
        );
    }
    let root = state_dir();
    let (served, pki_dir) = (root.join("config"), root.join("pki"));
    std::fs::create_dir_all(&served).unwrap();
    std::fs::create_dir_all(&pki_dir).unwrap();

    let pki = generate_pki(&spec.pki, &pki_dir);

    // Every `${port:NAME}` of every file the steps apply gets one free port.
    let mut ports = Ports::default();
    let mut texts: Vec<Vec<(String, String)>> = Vec::new();
    for step in &spec.steps {
        let files = step
            .apply
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(dir.join(f))
                    .unwrap_or_else(|e| panic!("{name}/{f}: {e}"));
                (f.clone(), ports.substitute(&text))
            })
            .collect();
        texts.push(files);
    }
    let mut stand_ins = Vec::new();
    for up in &spec.tls_upstreams {
        let port = ports.port(&up.name);
        let cert = pki
            .get(&up.cert)
            .unwrap_or_else(|| panic!("{name}: no certificate {}", up.cert));
        let listener = std::net::TcpListener::bind(("127.0.0.2", port))
            .unwrap_or_else(|e| panic!("TLS stand-in {} on 127.0.0.2:{port}: {e}", up.name));
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        stand_ins.push(tokio::spawn(serve_tls(
            listener,
            up.name.clone(),
            cert.clone(),
        )));
    }

    // One offset for every Gateway port any step defines.
    let mut gateway_ports: Vec<u16> = texts
        .iter()
        .flatten()
        .flat_map(|(file, text)| {
            portcullis_compile::load::load_str(text, Some(file))
                .resources
                .gateways
                .into_iter()
                .flat_map(|g| g.spec.servers.into_iter().map(|s| s.port.number))
        })
        .filter_map(|p| u16::try_from(p).ok())
        .collect();
    gateway_ports.sort_unstable();
    gateway_ports.dedup();
    let offset = free_port_offset(&gateway_ports);

    let store = Store {
        dir: served.clone(),
    };
    let gaps_run = std::env::var("PORTCULLIS_DOCS_GAPS").is_ok_and(|v| v == "run");
    let mut report: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut up: Option<Up> = None;
    let mut version: Option<String> = None;

    for (i, (step, files)) in spec.steps.iter().zip(&texts).enumerate() {
        let title = step
            .title
            .clone()
            .unwrap_or_else(|| format!("step {}", i + 1));
        for secret in &step.secrets {
            store.put_secret(secret, &pki_dir);
        }
        for (file, text) in files {
            store.apply(file, text);
        }
        let running = match &mut up {
            Some(running) => running,
            None => up.insert(Up::spawn(&root, &served, offset, &spec.gateway)),
        };
        match running.wait_synced(version.as_deref()).await {
            Ok(v) => version = Some(v),
            Err(e) => {
                failures.push(format!("{title}: {e}\n{}", running.stderr_tail()));
                break;
            }
        }
        let ready_ports: Vec<u16> = step
            .cases
            .iter()
            .filter(|c| c.known_gap.is_none() && !c.expect.fails)
            .map(|c| c.port)
            .collect();
        for port in ready_ports {
            wait_listening(port + offset).await;
        }

        for case in &step.cases {
            let label = format!("{name}: {title}: {}", case.name);
            if let Some(gap) = &case.known_gap {
                if !gaps_run {
                    report.push(format!("KNOWN GAP {label}\n    {gap}"));
                    continue;
                }
                match run_case(case, offset, &pki_dir).await {
                    Ok(()) => report.push(format!(
                        "KNOWN GAP NOW PASSES {label}: remove its knownGap\n    {gap}"
                    )),
                    Err(e) => report.push(format!("KNOWN GAP still fails {label}: {e}")),
                }
                continue;
            }
            match run_case(case, offset, &pki_dir).await {
                Ok(()) => report.push(format!("PASS {label}")),
                Err(e) => {
                    report.push(format!("FAIL {label}: {e}"));
                    failures.push(format!("{label}: {e}"));
                }
            }
        }
    }

    let stderr = up.as_ref().map(Up::stderr_tail).unwrap_or_default();
    if let Some(mut running) = up.take() {
        running.stop().await;
    }
    for h in stand_ins {
        h.abort();
    }
    for line in &report {
        println!("{line}");
    }
    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(&root);
    } else {
        panic!(
            "{} case(s) of {name} failed (state kept in {}):\n{}\n--- portcullis up stderr ---\n{stderr}",
            failures.len(),
            root.display(),
            failures.join("\n")
        );
    }
}

/// Free ports by placeholder name.
#[derive(Default)]
struct Ports(BTreeMap<String, u16>);

impl Ports {
    fn port(&mut self, name: &str) -> u16 {
        *self.0.entry(name.to_string()).or_insert_with(free_port)
    }

    /// `text` with every `${port:NAME}` replaced by NAME's port.
    fn substitute(&mut self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${port:") {
            out.push_str(&rest[..start]);
            let tail = &rest[start + "${port:".len()..];
            let end = tail.find('}').expect("an unterminated ${port:...}");
            out.push_str(&self.port(&tail[..end]).to_string());
            rest = &tail[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// The directory `portcullis up` serves: one file per stored document, named by its kind,
/// namespace and name, so applying a document of the same identity replaces it, as the API
/// server stores one object per identity. Each document's text is written as the file has it.
struct Store {
    dir: PathBuf,
}

impl Store {
    fn apply(&self, file: &str, text: &str) {
        for doc in documents(text) {
            let value: Value = serde_saphyr::from_str(&doc)
                .unwrap_or_else(|e| panic!("{file}: a document is not YAML: {e}\n{doc}"));
            let kind = value["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{file}: no kind"));
            let name = value["metadata"]["name"]
                .as_str()
                .unwrap_or_else(|| panic!("{file}: no metadata.name"));
            let namespace = value["metadata"]["namespace"].as_str().unwrap_or("default");
            self.write(&format!("{kind}.{namespace}.{name}"), &doc);
        }
    }

    fn put_secret(&self, s: &SecretSpec, pki_dir: &Path) {
        let data: BTreeMap<&String, String> = s
            .files
            .iter()
            .map(|(k, f)| {
                let text = std::fs::read_to_string(pki_dir.join(f))
                    .unwrap_or_else(|e| panic!("secret {}: {f}: {e}", s.name));
                (k, text)
            })
            .collect();
        let secret = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": s.name, "namespace": s.namespace},
            "type": s.kind,
            "stringData": data,
        });
        // JSON is YAML.
        self.write(
            &format!("Secret.{}.{}", s.namespace, s.name),
            &serde_json::to_string_pretty(&secret).unwrap(),
        );
    }

    /// Writes then renames, so the watcher never reads half a file.
    fn write(&self, key: &str, text: &str) {
        let file = format!("{}.yaml", key.to_ascii_lowercase());
        let tmp = self.dir.join(format!(".{file}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.dir.join(&file)).unwrap();
    }
}

/// The documents of a YAML stream, each as written (comments included); documents holding
/// nothing but comments are left out.
fn documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else if let Some(doc) = docs.last_mut() {
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs.into_iter()
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// `portcullis up`

/// A running `portcullis up`; dropped without [`Up::stop`] (a panic), it is still sent SIGTERM,
/// so it stops its Envoy rather than leaving it holding the ports.
struct Up {
    child: Option<tokio::process::Child>,
    xds: u16,
    stderr: PathBuf,
}

impl Up {
    fn spawn(root: &Path, served: &Path, offset: u16, workload: &Workload) -> Up {
        let (xds, admin) = (free_port(), free_port());
        let stderr = root.join("up.stderr");
        let labels: Vec<String> = workload
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["up", "-f"])
            .arg(served)
            .args(["--port-offset", &offset.to_string()])
            .args(["--gateway-labels", &labels.join(",")])
            .args(["--gateway-namespace", &workload.namespace])
            .args(["--admin-port", &admin.to_string()])
            .args(["--xds-port", &xds.to_string(), "--demo-upstreams"])
            .arg("--state-dir")
            .arg(root.join("state"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Up {
            child: Some(child),
            xds,
            stderr,
        }
    }

    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// The configuration every connected Envoy serves as a whole, when they all do.
    async fn synced(&self) -> Option<String> {
        let r = Request {
            method: "GET".into(),
            host: "127.0.0.1".into(),
            path: "/status".into(),
            headers: vec![],
        }
        .try_send(self.xds)
        .await
        .ok()?;
        let proxies: Vec<Value> = serde_json::from_str(&r.body).ok()?;
        let mut version = None;
        for p in &proxies {
            let acked = p["acked"].as_str()?;
            if p["sent"].as_str() != Some(acked) || p["rollingOut"].as_bool() != Some(false) {
                return None;
            }
            version = Some(acked.to_string());
        }
        version
    }

    /// Waits until Envoy serves a configuration other than `previous` and has kept it for a
    /// second and a half (a step writes several files; none may be served half-applied).
    async fn wait_synced(&mut self, previous: Option<&str>) -> Result<String, String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut stable: Option<(String, Instant)> = None;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("portcullis up exited: {status}"));
            }
            match self.synced().await {
                Some(v) if Some(v.as_str()) != previous => match &stable {
                    Some((s, since)) if *s == v => {
                        if since.elapsed() >= Duration::from_millis(1500) {
                            return Ok(v);
                        }
                    }
                    _ => stable = Some((v, Instant::now())),
                },
                _ => stable = None,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "Envoy never served a new configuration (previous {previous:?})"
        ))
    }

    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            crate::support::stop_up(&mut child).await;
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut()
            && let Some(pid) = child.id()
        {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            for _ in 0..100 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

async fn wait_listening(port: u16) {
    for _ in 0..150 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Requests

/// An answer: status line, headers, body (the stand-in's JSON report).
#[derive(Debug)]
struct Answer {
    status: u16,
    version: String,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Answer {
    fn echo(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

async fn send(case: &Case, offset: u16, pki_dir: &Path) -> Result<Answer, String> {
    let port = case.port + offset;
    let Some(https) = &case.https else {
        let r = Request {
            method: case.method.clone(),
            host: case.host.clone(),
            path: case.path.clone(),
            headers: case
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
        .try_send(port)
        .await
        .map_err(|e| format!("no answer: {e}"))?;
        return Ok(Answer {
            status: r.status,
            version: "1.1".into(),
            headers: r.headers,
            body: r.body,
        });
    };
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args(["-sS", "-i", "--max-time", "10"])
        .args(["--resolve", &format!("{}:{port}:127.0.0.1", https.sni)])
        .arg("--cacert")
        .arg(pki_dir.join(&https.cacert));
    if let (Some(cert), Some(key)) = (&https.cert, &https.key) {
        cmd.arg("--cert")
            .arg(pki_dir.join(cert))
            .arg("--key")
            .arg(pki_dir.join(key));
    }
    if case.method != "GET" {
        cmd.args(["-X", &case.method]);
    }
    cmd.args(["-H", &format!("host: {}", case.host)]);
    for (k, v) in &case.headers {
        cmd.args(["-H", &format!("{k}: {v}")]);
    }
    let out = cmd
        .arg(format!("https://{}:{port}{}", https.sni, case.path))
        .output()
        .await
        .map_err(|e| format!("curl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "no answer: curl {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no header end in {text:?}"))?;
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.split_whitespace();
    let version = parts
        .next()
        .and_then(|v| v.strip_prefix("HTTP/"))
        .unwrap_or("")
        .to_string();
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Answer {
        status,
        version,
        headers,
        body: body.to_string(),
    })
}

/// Sends the case's request(s) and checks every answer against Istio's.
async fn run_case(case: &Case, offset: u16, pki_dir: &Path) -> Result<(), String> {
    let e = &case.expect;
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    for i in 0..case.repeat {
        let answer = send(case, offset, pki_dir).await;
        let at = if case.repeat > 1 {
            format!(" (request {} of {})", i + 1, case.repeat)
        } else {
            String::new()
        };
        let answer = match (answer, e.fails) {
            (Err(_), true) => continue,
            (Ok(a), true) => {
                return Err(format!(
                    "expected no answer, got {} {}{at}",
                    a.status, a.body
                ));
            }
            (Err(err), false) => return Err(format!("{err}{at}")),
            (Ok(a), false) => a,
        };
        check(e, &answer)
            .map_err(|m| format!("{m}{at}; answer: {} {}", answer.status, answer.body))?;
        if !e.upstreams.is_empty() {
            let who = answer.echo()["upstream"].as_str().unwrap_or("").to_string();
            *seen.entry(who).or_default() += 1;
        }
    }
    if !e.upstreams.is_empty() {
        check_weights(&e.upstreams, &seen, case.repeat)?;
    }
    Ok(())
}

fn check(e: &Expect, a: &Answer) -> Result<(), String> {
    if let Some(status) = e.status
        && a.status != status
    {
        return Err(format!("status {} (expected {status})", a.status));
    }
    if let Some(v) = &e.http_version
        && &a.version != v
    {
        return Err(format!("HTTP/{} (expected HTTP/{v})", a.version));
    }
    for (k, v) in &e.headers {
        if a.headers.get(k) != Some(v) {
            return Err(format!(
                "response header {k}: {:?} (expected {v:?})",
                a.headers.get(k)
            ));
        }
    }
    let echo = a.echo();
    let field = |name: &str| echo[name].as_str().map(String::from);
    for (name, want) in [
        ("upstream", &e.upstream),
        ("path", &e.path),
        ("sni", &e.sni),
    ] {
        if let Some(want) = want
            && field(name).as_ref() != Some(want)
        {
            return Err(format!("{name} {:?} (expected {want:?})", field(name)));
        }
    }
    for (k, want) in &e.upstream_headers {
        let got = echo["headers"][k.as_str()].as_str();
        if got != want.as_deref() {
            return Err(format!(
                "upstream request header {k}: {got:?} (expected {want:?})"
            ));
        }
    }
    Ok(())
}

/// Each weighted upstream answered about its share: within 4.5 standard deviations of the
/// binomial count (one in ~150,000 runs fails by chance), at least once, and nothing else did.
fn check_weights(
    weights: &BTreeMap<String, f64>,
    seen: &BTreeMap<String, u32>,
    n: u32,
) -> Result<(), String> {
    let total: f64 = weights.values().sum();
    if let Some(other) = seen.keys().find(|k| !weights.contains_key(*k)) {
        return Err(format!(
            "answered by {other:?}, not a weighted upstream; counts {seen:?}"
        ));
    }
    for (upstream, w) in weights {
        let p = w / total;
        let got = f64::from(seen.get(upstream).copied().unwrap_or(0));
        let mean = f64::from(n) * p;
        let sigma = (mean * (1.0 - p)).sqrt();
        if (got - mean).abs() > 4.5 * sigma + 1.0 || (p > 0.0 && got == 0.0) {
            return Err(format!(
                "{upstream} answered {got} of {n} (expected about {mean:.0}); counts {seen:?}"
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Certificates and TLS stand-ins

/// A generated certificate and its key.
#[derive(Clone)]
struct Pem {
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

/// Generates the certificates, writing `<name>.crt` and `<name>.key` under `dir`.
fn generate_pki(items: &[PkiItem], dir: &Path) -> BTreeMap<String, Pem> {
    let mut issuers: BTreeMap<&str, CertifiedIssuer<'static, KeyPair>> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for item in items {
        let mut params = CertificateParams::new(item.dns.clone()).unwrap();
        for (k, v) in &item.subject {
            let t = match k.as_str() {
                "CN" => DnType::CommonName,
                "O" => DnType::OrganizationName,
                other => panic!("pki {}: subject {other} is not CN or O", item.name),
            };
            params.distinguished_name.push(t, v.as_str());
        }
        let key = KeyPair::generate().unwrap();
        let key_pem = key.serialize_pem();
        let key_der = key.serialize_der();
        let (cert_pem, cert_der) = if item.ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            let ca = match &item.issuer {
                None => CertifiedIssuer::self_signed(params, key).unwrap(),
                Some(i) => CertifiedIssuer::signed_by(params, key, &issuers[i.as_str()]).unwrap(),
            };
            let pair = (ca.pem(), ca.der().to_vec());
            issuers.insert(&item.name, ca);
            pair
        } else {
            params.extended_key_usages = vec![if item.client {
                ExtendedKeyUsagePurpose::ClientAuth
            } else {
                ExtendedKeyUsagePurpose::ServerAuth
            }];
            let cert = match &item.issuer {
                None => params.self_signed(&key).unwrap(),
                Some(i) => params
                    .signed_by(&key, &issuers[i.as_str()])
                    .unwrap_or_else(|e| panic!("pki {}: {e}", item.name)),
            };
            (cert.pem(), cert.der().to_vec())
        };
        let base = dir.join(&item.name);
        std::fs::create_dir_all(base.parent().unwrap()).unwrap();
        std::fs::write(dir.join(format!("{}.crt", item.name)), cert_pem).unwrap();
        std::fs::write(dir.join(format!("{}.key", item.name)), key_pem).unwrap();
        out.insert(item.name.clone(), Pem { cert_der, key_der });
    }
    out
}

/// A TLS echo server on `listener` (an upstream that terminates TLS itself, like the
/// pages' nginx): each connection's first request is answered 200 with a JSON report of what
/// arrived (`upstream`: `name`, the SNI, method, path, headers), then the connection closes.
async fn serve_tls(listener: tokio::net::TcpListener, name: String, cert: Pem) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(cert.cert_der)],
            rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_der.into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    while let Ok((tcp, _)) = listener.accept().await {
        let (acceptor, name) = (acceptor.clone(), name.clone());
        tokio::spawn(async move {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                return;
            };
            let sni = tls.get_ref().1.server_name().map(str::to_string);
            let mut head = Vec::new();
            let mut chunk = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&chunk[..n]),
                }
                if head.len() > 65_536 {
                    return;
                }
            }
            let head = String::from_utf8_lossy(&head).to_string();
            let mut lines = head.lines();
            let mut request = lines.next().unwrap_or("").split_whitespace();
            let (method, path) = (request.next().unwrap_or(""), request.next().unwrap_or(""));
            let headers: BTreeMap<String, String> = lines
                .take_while(|l| !l.is_empty())
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            let body = json!({
                "upstream": name, "sni": sni, "method": method, "path": path, "headers": headers,
            })
            .to_string();
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.write_all(response.as_bytes()).await;
            let _ = tls.shutdown().await;
        });
    }
}
