//! `explain`: which server, virtual host and route would take a request, or why it would be
//! refused. It runs the real decision procedure of the filters (`portcullis_core::Gateway`)
//! over the compiled wire config, so what it says is what the gateway does.

use std::fmt;

use portcullis_core::host::strip_port;
use portcullis_core::wire::WireConfig;
use portcullis_core::{Decision, Gateway, Outcome, RequestView, SplitMix64};
use serde::Serialize;
use serde_json::{Value, json};

/// The request to explain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExplainRequest {
    /// Host header (`:authority`), possibly with a port.
    pub host: String,
    /// `:path`, query included.
    pub path: String,
    /// `:method`.
    pub method: String,
    /// `http` or `https`; `None` = https when the listener terminates TLS, else http.
    pub scheme: Option<String>,
    /// TLS SNI of the connection, which selects the server on a TLS port (G-11); `None` = for
    /// an https request the Host without its port (what clients send), else none. `Some("")`
    /// means the client sent no SNI.
    pub sni: Option<String>,
    /// Other headers (lowercase names).
    pub headers: Vec<(String, String)>,
    /// Gateway port; `None` = the only listener (an error when there are several).
    pub port: Option<u16>,
}

/// Why a request could not be explained.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// No listener for the requested port, or several and none chosen.
    #[error("{0}")]
    Port(String),
    /// The core refused the compiled config (a compiler or core bug: `compile` validates with
    /// the same core, so a user only sees this for a hand-written wire config).
    #[error("the filters' core rejected the compiled config: {0}")]
    Core(String),
}

/// The decision, in a form for people (`Display`) and tools (`Serialize`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// `configVersion` of the compiled config.
    pub config_version: String,
    /// Gateway port of the listener.
    pub listener_port: u16,
    /// Port Envoy binds for it.
    pub bind_port: u16,
    /// TLS SNI the request was explained with (`None`: plain text or no SNI).
    pub sni: Option<String>,
    /// Server that admitted the host (on a TLS port: the one the SNI selected, G-11).
    pub server: Option<String>,
    /// Host pattern that matched.
    pub matched_host: Option<String>,
    /// Virtual host chosen.
    pub virtual_host: Option<String>,
    /// Route chosen.
    pub route: Option<String>,
    /// VirtualService of the route.
    pub virtual_service: Option<String>,
    /// `forward`, `redirect`, `directResponse`, `abort`, `corsPreflight` or `refused`.
    pub outcome: String,
    /// Outcome details (status, location, cluster, …).
    pub details: Value,
}

/// Runs the gateway decision for `request` over `wire`. Weighted choices use a fixed seed, so
/// the answer is reproducible.
pub fn explain(
    wire: &WireConfig,
    request: &ExplainRequest,
    seed: u64,
) -> Result<Explanation, ExplainError> {
    let listener = match request.port {
        Some(p) => wire.listeners.iter().find(|l| l.port == p),
        None if wire.listeners.len() == 1 => wire.listeners.first(),
        None => {
            let ports: Vec<String> = wire.listeners.iter().map(|l| l.port.to_string()).collect();
            return Err(ExplainError::Port(format!(
                "choose a gateway port with --port (listeners: {})",
                ports.join(", ")
            )));
        }
    };
    let Some(listener) = listener else {
        return Err(ExplainError::Port(format!(
            "no HTTP listener on gateway port {}",
            request.port.unwrap_or_default()
        )));
    };
    let gateway = Gateway::compile(wire).map_err(|e| ExplainError::Core(e.to_string()))?;
    let scheme = request.scheme.clone().unwrap_or_else(|| {
        if listener.servers.iter().any(|s| s.tls) {
            "https"
        } else {
            "http"
        }
        .to_string()
    });
    let headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let sni = match &request.sni {
        Some(sni) => sni.clone(),
        None if scheme.eq_ignore_ascii_case("https") => strip_port(&request.host).to_string(),
        None => String::new(),
    };
    let view = RequestView {
        bind_port: listener.effective_bind_port(),
        authority: &request.host,
        path: &request.path,
        method: &request.method,
        scheme: &scheme,
        sni: Some(sni.as_str()).filter(|s| !s.is_empty()),
        headers: &headers,
    };
    let decision = gateway.decide(&view, &mut SplitMix64(seed));
    let mut explanation = describe(
        &decision,
        wire,
        listener.port,
        listener.effective_bind_port(),
    );
    explanation.sni = view.sni.map(str::to_string);
    Ok(explanation)
}

fn describe(decision: &Decision<'_>, wire: &WireConfig, port: u16, bind_port: u16) -> Explanation {
    let e = &decision.evidence;
    let (outcome, details) = match &decision.outcome {
        Outcome::Refused(r) => (
            "refused",
            json!({"status": r.status(), "code": r.code(), "reason": r.message()}),
        ),
        Outcome::Redirect {
            status, location, ..
        } => ("redirect", json!({"status": status, "location": location})),
        Outcome::DirectResponse { status, body, .. } => {
            ("directResponse", json!({"status": status, "body": body}))
        }
        Outcome::Abort {
            status,
            grpc_status,
        } => (
            "abort",
            json!({"status": status, "grpcStatus": grpc_status}),
        ),
        Outcome::CorsPreflight { headers } => {
            ("corsPreflight", json!({"status": 200, "headers": headers}))
        }
        Outcome::Forward(plan) => (
            "forward",
            json!({
                "cluster": plan.cluster,
                "path": plan.path,
                "authority": plan.authority,
                "delayMs": plan.delay_ms,
                "timeoutMs": plan.timeout_ms,
                "retries": plan.retries,
                "mirrors": plan.mirrors,
                "requestHeaders": plan.request_headers,
                "responseHeaders": plan.response_headers,
            }),
        ),
    };
    Explanation {
        config_version: wire.config_version.clone(),
        listener_port: e.listener_port.unwrap_or(port),
        bind_port,
        sni: None,
        server: e.server.map(str::to_string),
        matched_host: e.matched_host.map(str::to_string),
        virtual_host: e.virtual_host.map(str::to_string),
        route: e.route.map(str::to_string),
        virtual_service: e.virtual_service.map(str::to_string),
        outcome: outcome.to_string(),
        details,
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_string());
        writeln!(
            f,
            "listener        gateway port {} (Envoy binds {})",
            self.listener_port, self.bind_port
        )?;
        if let Some(sni) = &self.sni {
            writeln!(f, "sni             {sni}")?;
        }
        writeln!(f, "server          {}", or_none(&self.server))?;
        writeln!(f, "matched host    {}", or_none(&self.matched_host))?;
        writeln!(f, "virtual host    {}", or_none(&self.virtual_host))?;
        writeln!(f, "route           {}", or_none(&self.route))?;
        writeln!(f, "virtualService  {}", or_none(&self.virtual_service))?;
        let d = &self.details;
        match self.outcome.as_str() {
            "refused" => writeln!(
                f,
                "outcome         refused: {} {} ({})",
                d["status"],
                d["code"].as_str().unwrap_or(""),
                d["reason"].as_str().unwrap_or("")
            )?,
            "redirect" => writeln!(
                f,
                "outcome         redirect {} to {}",
                d["status"],
                d["location"].as_str().unwrap_or("")
            )?,
            "directResponse" => writeln!(f, "outcome         direct response {}", d["status"])?,
            "abort" => writeln!(f, "outcome         fault abort {}", d["status"])?,
            "corsPreflight" => writeln!(f, "outcome         CORS preflight answered locally")?,
            _ => {
                writeln!(
                    f,
                    "outcome         forward to {}",
                    d["cluster"].as_str().unwrap_or("")
                )?;
                if let Some(p) = d["path"].as_str() {
                    writeln!(f, "  path rewrite  {p}")?;
                }
                if let Some(a) = d["authority"].as_str() {
                    writeln!(f, "  authority     {a}")?;
                }
            }
        }
        write!(f, "config          {}", self.config_version)
    }
}
