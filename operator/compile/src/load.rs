//! Reads Istio resources from YAML text into [`Resources`], with located diagnostics.
//!
//! A document is parsed into a JSON value first, then into the typed resource through
//! `serde_ignored` (unknown fields become warnings: the Istio API is larger than what Portcullis
//! compiles, and a silently ignored field is a routing surprise) and `serde_path_to_error`
//! (a type error names the field). Documents of other kinds are ignored with an info.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::diagnostics::Diagnostic;
use crate::istio::{ISTIO_GROUP, ISTIO_VERSIONS, Object, Resources, Secret};

/// What the loader read, and what it had to say about it.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// The resources read.
    pub resources: Resources,
    /// Problems found while reading (unreadable files, bad YAML, type errors, unknown fields).
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses one (multi-document) YAML text. `file` is only used in diagnostics.
pub fn load_str(text: &str, file: Option<&str>) -> Loaded {
    let mut loaded = Loaded::default();
    let what = file.unwrap_or("<input>");
    let docs: Vec<Value> = match serde_saphyr::from_multiple(text) {
        Ok(docs) => docs,
        Err(e) => {
            loaded
                .diagnostics
                .push(Diagnostic::error(what, format!("invalid YAML: {e}")).file(file));
            return loaded;
        }
    };
    for (index, doc) in docs.into_iter().enumerate() {
        load_value(doc, file, index, &mut loaded);
    }
    loaded
}

fn load_value(doc: Value, file: Option<&str>, index: usize, loaded: &mut Loaded) {
    let what = format!("{} (document {})", file.unwrap_or("<input>"), index + 1);
    let Value::Object(map) = &doc else {
        if !doc.is_null() {
            loaded.diagnostics.push(
                Diagnostic::error(
                    &what,
                    "a document must be a mapping with apiVersion and kind",
                )
                .file(file),
            );
        }
        return;
    };
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let reference = reference_of(&kind, map);
    if kind == "List" {
        if let Some(Value::Array(items)) = map.get("items") {
            for item in items.clone() {
                load_value(item, file, index, loaded);
            }
        }
        return;
    }
    let (group, version) = api_version
        .split_once('/')
        .unwrap_or(("", api_version.as_str()));
    let istio = group == ISTIO_GROUP && ISTIO_VERSIONS.contains(&version);
    let r = &mut loaded.resources;
    let d = &mut loaded.diagnostics;
    match (istio, kind.as_str(), api_version.as_str()) {
        (true, "Gateway", _) => push(&doc, &reference, file, d, &mut r.gateways),
        (true, "VirtualService", _) => push(&doc, &reference, file, d, &mut r.virtual_services),
        (true, "ServiceEntry", _) => push(&doc, &reference, file, d, &mut r.service_entries),
        (true, "DestinationRule", _) => push(&doc, &reference, file, d, &mut r.destination_rules),
        (_, "Secret", "v1") => {
            if let Some(mut secret) = typed::<Secret>(&doc, &reference, file, d, &SECRET_KEYS) {
                secret.file = file.map(str::to_string);
                r.secrets.push(secret);
            }
        }
        (false, _, _) if group == ISTIO_GROUP && !api_version.is_empty() && is_istio_kind(&kind) => d.push(
            Diagnostic::warning(&reference, format!("apiVersion {api_version} is not supported (use v1, v1beta1 or v1alpha3); resource ignored"))
                .file(file),
        ),
        _ if kind.is_empty() || api_version.is_empty() => d.push(
            Diagnostic::error(&what, "document without apiVersion or kind; ignored").file(file),
        ),
        _ => d.push(
            Diagnostic::info(&reference, format!("{api_version} {kind} is not used by Portcullis; ignored")).file(file),
        ),
    }
}

fn is_istio_kind(kind: &str) -> bool {
    matches!(
        kind,
        "Gateway" | "VirtualService" | "ServiceEntry" | "DestinationRule"
    )
}

fn reference_of(kind: &str, map: &serde_json::Map<String, Value>) -> String {
    let meta = map.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>");
    let ns = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    format!("{kind} {ns}/{name}")
}

/// Top-level keys of an object with a spec; `status` is written by controllers, not authors.
const OBJECT_KEYS: [&str; 5] = ["apiVersion", "kind", "metadata", "spec", "status"];
const SECRET_KEYS: [&str; 7] = [
    "apiVersion",
    "kind",
    "metadata",
    "type",
    "data",
    "stringData",
    "immutable",
];

fn push<S: DeserializeOwned + Default>(
    doc: &Value,
    reference: &str,
    file: Option<&str>,
    diagnostics: &mut Vec<Diagnostic>,
    into: &mut Vec<Object<S>>,
) {
    if let Some(mut object) = typed::<Object<S>>(doc, reference, file, diagnostics, &OBJECT_KEYS) {
        object.file = file.map(str::to_string);
        into.push(object);
    }
}

/// Deserialises `doc`, reporting unknown fields as warnings and a type error as an error with
/// its field path.
fn typed<T: DeserializeOwned>(
    doc: &Value,
    reference: &str,
    file: Option<&str>,
    diagnostics: &mut Vec<Diagnostic>,
    known_top: &[&str],
) -> Option<T> {
    let mut unknown = Vec::new();
    let mut record = |path: serde_ignored::Path<'_>| unknown.push(field_path(&path));
    let de = serde_ignored::Deserializer::new(doc.clone(), &mut record);
    let result: Result<T, _> = serde_path_to_error::deserialize(de);
    match result {
        Ok(value) => {
            for path in unknown {
                if known_top.contains(&path.as_str()) {
                    continue;
                }
                diagnostics.push(
                    Diagnostic::warning(
                        reference,
                        "field is not understood by Portcullis and is ignored",
                    )
                    .field(path)
                    .file(file),
                );
            }
            Some(value)
        }
        Err(e) => {
            diagnostics.push(
                Diagnostic::error(
                    reference,
                    format!("invalid resource: {}; ignored", e.inner()),
                )
                .field(e.path().to_string())
                .file(file),
            );
            None
        }
    }
}

/// Formats an ignored field's path like `serde_path_to_error` does (`spec.http[0].x`), so both
/// kinds of diagnostics read the same.
fn field_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_path(parent)),
        Path::Map { parent, key } => {
            let parent = field_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => field_path(parent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::Severity;

    #[test]
    fn reads_all_istio_versions_and_ignores_other_kinds() {
        let text = "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: a}
spec: {servers: []}
---
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: b, namespace: x}
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: c}
spec: {hosts: [a.com]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
";
        let loaded = load_str(text, Some("f.yaml"));
        assert_eq!(loaded.resources.gateways.len(), 2);
        assert_eq!(loaded.resources.virtual_services.len(), 1);
        assert_eq!(loaded.diagnostics.len(), 1);
        assert_eq!(loaded.diagnostics[0].severity, Severity::Info);
        assert_eq!(loaded.diagnostics[0].resource, "Deployment default/d");
    }

    #[test]
    fn unknown_fields_warn_with_their_path() {
        let text = "
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: c, uid: '123'}
spec:
  hosts: [a.com]
  http:
  - route: [{destination: {host: x}}]
    frobnicate: true
status: {}
";
        let loaded = load_str(text, Some("f.yaml"));
        assert_eq!(loaded.resources.virtual_services.len(), 1);
        assert_eq!(loaded.diagnostics.len(), 1, "{:?}", loaded.diagnostics);
        assert_eq!(loaded.diagnostics[0].severity, Severity::Warning);
        assert_eq!(
            loaded.diagnostics[0].field.as_deref(),
            Some("spec.http[0].frobnicate")
        );
    }

    #[test]
    fn type_errors_are_located() {
        let text = "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: g, namespace: ns}
spec:
  servers:
  - port: {number: eighty, name: http, protocol: HTTP}
";
        let loaded = load_str(text, Some("g.yaml"));
        assert!(loaded.resources.gateways.is_empty());
        let d = &loaded.diagnostics[0];
        assert_eq!(d.severity, Severity::Error);
        assert_eq!(d.resource, "Gateway ns/g");
        assert_eq!(d.field.as_deref(), Some("spec.servers[0].port.number"));
        assert_eq!(d.file.as_deref(), Some("g.yaml"));
    }

    #[test]
    fn bad_yaml_is_an_error() {
        let loaded = load_str("a: [", Some("bad.yaml"));
        assert_eq!(loaded.diagnostics[0].severity, Severity::Error);
    }
}
