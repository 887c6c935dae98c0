//! The playground's operations as plain Rust over JSON values, so they run (and are tested)
//! natively exactly as they run in the browser.

use std::collections::BTreeMap;

use portcullis_compile::admission::Admission;
use portcullis_compile::compile::{CompileOptions, GatewayIdentity};
use portcullis_compile::diagnostics::{Diagnostic, Severity};
use portcullis_compile::explain::{ExplainRequest, Explanation, explain as explain_request, text};
use portcullis_compile::load::load_str;
use portcullis_core::wire::WireConfig;
use serde::{Deserialize, Serialize};

/// The version of the crates this build holds.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The seed example, as `examples/seed/` holds it.
pub const SEED_EXAMPLE: &str = concat!(
    include_str!("../../examples/seed/gateway.yaml"),
    "---\n",
    include_str!("../../examples/seed/virtualservice.yaml"),
    "---\n",
    include_str!("../../examples/seed/upstreams.yaml"),
);

/// The seed of the weighted-destination and percentage draws: `portcullis explain`'s default,
/// so both give the same answer for the same request.
pub const SEED: u64 = 1;

/// The gateway workload to compile for; missing fields take Istio's default ingress gateway.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Identity {
    /// Pod labels of the gateway workload.
    pub labels: Option<BTreeMap<String, String>>,
    /// Namespace of the gateway workload.
    pub namespace: Option<String>,
}

/// A compilation: the wire config the filters would get, and every diagnostic.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Compiled {
    /// The filters' configuration (`null` when the identity could not be read).
    pub wire: Option<WireConfig>,
    /// `sha256:…` of the compiled configuration.
    pub content_hash: Option<String>,
    /// Findings, errors first, each with its line and column in the text when known.
    pub diagnostics: Vec<Finding>,
    /// Whether any finding is an error (the gateway would refuse this configuration).
    pub has_errors: bool,
}

/// One diagnostic, with the CLI's one-line text for it.
#[derive(Debug, Serialize)]
pub struct Finding {
    /// The diagnostic's fields (severity, resource, line, column, field, message, rule).
    #[serde(flatten)]
    pub diagnostic: serde_json::Value,
    /// As `portcullis render` prints it.
    pub text: String,
}

/// A request to explain; absent fields as `portcullis explain` defaults them.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Request {
    /// Host header, possibly with a port.
    pub host: String,
    /// Path with query (default `/`).
    pub path: Option<String>,
    /// Method (default `GET`).
    pub method: Option<String>,
    /// `http` or `https` (default: by the listener).
    pub scheme: Option<String>,
    /// TLS SNI (default: the host, for https).
    pub sni: Option<String>,
    /// Gateway port (default: the only listener).
    pub port: Option<u16>,
    /// Other headers, in order; names are lower-cased as HTTP/2 carries them.
    pub headers: Vec<(String, String)>,
}

/// The answer for one request: the decision, or why there is none.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explained {
    /// The decision, as `portcullis explain --json` prints it.
    pub explanation: Option<Explanation>,
    /// The decision as `portcullis explain` prints it.
    pub text: Option<String>,
    /// Why the request could not be explained (no listener on that port, several listeners
    /// and no port chosen, unreadable input).
    pub error: Option<String>,
}

/// Serialises for the page; serialising these types cannot fail, and if it ever did the page
/// would show the message rather than nothing.
pub fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| {
        serde_json::json!({"error": format!("cannot serialise the answer: {e}")}).to_string()
    })
}

/// Loads and compiles `yaml` for the workload `identity_json` names.
pub fn compile(yaml: &str, identity_json: &str) -> Compiled {
    let identity = match identity(identity_json) {
        Ok(identity) => identity,
        Err(message) => {
            return Compiled {
                wire: None,
                content_hash: None,
                diagnostics: vec![Finding {
                    diagnostic: serde_json::json!({"severity": "error", "resource": "gateway identity", "message": message}),
                    text: format!("error: gateway identity: {message}"),
                }],
                has_errors: true,
            };
        }
    };
    let loaded = load_str(yaml, None);
    // What a first `portcullis up` serves: a resource Istio would refuse is left out.
    let mut output = Admission::default().compile(
        &loaded.resources,
        &loaded.diagnostics,
        &identity,
        &CompileOptions::default(),
    );
    output.diagnostics.extend(loaded.diagnostics);
    output.diagnostics.sort();
    let has_errors = output
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error);
    Compiled {
        wire: Some(output.wire),
        content_hash: Some(output.content_hash),
        diagnostics: output.diagnostics.iter().map(finding).collect(),
        has_errors,
    }
}

fn identity(json: &str) -> Result<GatewayIdentity, String> {
    let given: Identity = if json.trim().is_empty() {
        Identity::default()
    } else {
        serde_json::from_str(json).map_err(|e| e.to_string())?
    };
    let default = GatewayIdentity::default();
    Ok(GatewayIdentity {
        labels: given.labels.unwrap_or(default.labels),
        namespace: given.namespace.unwrap_or(default.namespace),
    })
}

fn finding(d: &Diagnostic) -> Finding {
    Finding {
        diagnostic: serde_json::to_value(d).unwrap_or_default(),
        text: d.to_string(),
    }
}

/// Explains `request_json` against the wire config `wire_json`.
pub fn explain(wire_json: &str, request_json: &str) -> Explained {
    let failed = |error: String| Explained {
        explanation: None,
        text: None,
        error: Some(error),
    };
    let wire = match WireConfig::from_json(wire_json.as_bytes()) {
        Ok(wire) => wire,
        Err(e) => return failed(format!("the compiled configuration is unreadable: {e}")),
    };
    let request: Request = match serde_json::from_str(request_json) {
        Ok(request) => request,
        Err(e) => return failed(format!("the request is unreadable: {e}")),
    };
    let request = ExplainRequest {
        host: request.host,
        path: request.path.unwrap_or_else(|| "/".to_string()),
        method: request.method.unwrap_or_else(|| "GET".to_string()),
        scheme: request.scheme,
        sni: request.sni,
        headers: request
            .headers
            .into_iter()
            .filter(|(name, _)| !name.is_empty())
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect(),
        port: request.port,
    };
    match explain_request(&wire, &request, SEED) {
        Ok(explanation) => Explained {
            text: Some(text::render(&explanation)),
            explanation: Some(explanation),
            error: None,
        },
        Err(e) => failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests;
