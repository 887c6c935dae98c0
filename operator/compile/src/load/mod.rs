//! Reads Istio resources from YAML text into [`Resources`], with located diagnostics.
//!
//! A document is parsed into a JSON value and the location of each of its fields first (the
//! locations stay with the resource, so the compiler locates its own diagnostics too), then into
//! the typed resource through `serde_ignored` (unknown fields become warnings: the Istio API is
//! larger than what Portcullis compiles, and a silently ignored field is a routing surprise) and
//! `serde_path_to_error` (a type error names the field). Documents of other kinds are ignored
//! with an info.

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_saphyr::{DefaultMessageFormatter, MessageFormatter as _, Spanned};

use crate::diagnostics::{Diagnostic, Effect, FieldLocations};
use crate::istio::{ISTIO_GROUP, ISTIO_VERSIONS, Object, Resources, Secret};

mod located;

use located::{Node, field_locations};

/// What the loader read, and what it had to say about it.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// The resources read, each with its file and the locations of its fields.
    pub resources: Resources,
    /// Problems found while reading (unreadable files, bad YAML, type errors, unknown fields),
    /// located in the text.
    pub diagnostics: Vec<Diagnostic>,
}

/// The parser's limits. Those against hostile input (aliases, anchors, depth, property
/// expansion) stay at serde-saphyr's defaults; those that only grow with the size of an honest
/// file are raised so one file can hold a large installation (the defaults stop at 1,024
/// documents and 250,000 nodes; 10,000 VirtualServices take about 11,000 and 400,000).
fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_documents = 100_000;
    budget.max_nodes = 10_000_000;
    budget.max_events = 40_000_000;
    budget.max_total_scalar_bytes = 256 << 20;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// Parses one (multi-document) YAML text. `file` names the text in diagnostics; locations are
/// lines and columns of the whole text, whichever document they are in.
pub fn load_str(text: &str, file: Option<&str>) -> Loaded {
    let mut loaded = Loaded::default();
    let what = file.unwrap_or("<input>");
    let docs: Vec<Spanned<Node>> = match serde_saphyr::from_multiple_with_options(text, options()) {
        Ok(docs) => docs,
        Err(e) => {
            loaded.diagnostics.push(
                Diagnostic::error(what, format!("invalid YAML: {}", yaml_message(&e)))
                    .effect(Effect::KeepsLastGood)
                    .file(file)
                    .at(e.location().as_ref().and_then(located::location)),
            );
            return loaded;
        }
    };
    for (index, doc) in docs.iter().enumerate() {
        load_node(doc, file, index, &mut loaded);
    }
    loaded
}

/// The parser's message without its location (the diagnostic carries that) or source snippet.
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let message = DefaultMessageFormatter.format_message(e.without_snippet());
    // `format_message` leaves control characters (from the input) as they are.
    let mut out = String::with_capacity(message.len());
    for c in message.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

fn load_node(node: &Spanned<Node>, file: Option<&str>, index: usize, loaded: &mut Loaded) {
    let doc = node.value.to_value();
    if kind_of(&doc) == "List" {
        if let Some(Node::Seq(items)) = node.value.get("items").map(|items| &items.value) {
            for item in items {
                load_node(item, file, index, loaded);
            }
        }
        return;
    }
    let what = format!("{} (document {})", file.unwrap_or("<input>"), index + 1);
    dispatch(&doc, &field_locations(node), file, &what, loaded);
}

/// Reads one object as the Kubernetes API returns it (JSON, no file, no source locations):
/// what the in-cluster controller's watches deliver. Diagnostics name the resource and field.
pub fn load_json(doc: &Value) -> Loaded {
    let mut loaded = Loaded::default();
    if kind_of(doc) == "List" {
        for item in doc
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let one = load_json(item);
            loaded.resources.extend(one.resources);
            loaded.diagnostics.extend(one.diagnostics);
        }
        return loaded;
    }
    dispatch(
        doc,
        &FieldLocations::default(),
        None,
        "<API object>",
        &mut loaded,
    );
    loaded
}

fn kind_of(doc: &Value) -> &str {
    doc.get("kind").and_then(Value::as_str).unwrap_or("")
}

/// Reads one document (not a List) into `loaded`, by its apiVersion and kind.
fn dispatch(
    doc: &Value,
    locations: &FieldLocations,
    file: Option<&str>,
    what: &str,
    loaded: &mut Loaded,
) {
    let at = |field: &str| locations.resolve(field);
    let Value::Object(map) = doc else {
        if !doc.is_null() {
            loaded.diagnostics.push(
                Diagnostic::error(
                    what,
                    "a document must be a mapping with apiVersion and kind",
                )
                .effect(Effect::KeepsLastGood)
                .file(file)
                .at(at("")),
            );
        }
        return;
    };
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let kind = kind_of(doc).to_string();
    let reference = reference_of(&kind, map);
    let (group, version) = api_version
        .split_once('/')
        .unwrap_or(("", api_version.as_str()));
    let istio = group == ISTIO_GROUP && ISTIO_VERSIONS.contains(&version);
    let source = Source {
        reference: &reference,
        file,
        locations,
    };
    let r = &mut loaded.resources;
    let d = &mut loaded.diagnostics;
    match (istio, kind.as_str(), api_version.as_str()) {
        (true, "Gateway", _) => push(doc, &source, d, &mut r.gateways),
        (true, "VirtualService", _) => push(doc, &source, d, &mut r.virtual_services),
        (true, "ServiceEntry", _) => push(doc, &source, d, &mut r.service_entries),
        (true, "DestinationRule", _) => push(doc, &source, d, &mut r.destination_rules),
        (_, "Secret", "v1") => {
            if let Some(mut secret) = typed::<Secret>(doc, &source, d, &SECRET_KEYS) {
                secret.file = file.map(str::to_string);
                secret.locations = locations.clone();
                r.secrets.push(secret);
            }
        }
        (false, _, _) if group == ISTIO_GROUP && !api_version.is_empty() && is_istio_kind(&kind) => d.push(
            Diagnostic::warning(&reference, format!("apiVersion {api_version} is not supported (use v1, v1beta1 or v1alpha3); resource ignored"))
                .field("apiVersion")
                .file(file)
                .at(at("apiVersion")),
        ),
        _ if kind.is_empty() || api_version.is_empty() => d.push(
            Diagnostic::error(what, "document without apiVersion or kind; ignored")
                .effect(Effect::KeepsLastGood)
                .file(file)
                .at(at("")),
        ),
        _ => d.push(
            Diagnostic::info(&reference, format!("{api_version} {kind} is not used by Portcullis; ignored"))
                .file(file)
                .at(at("")),
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

/// Where a document came from, for its diagnostics.
struct Source<'a> {
    reference: &'a str,
    file: Option<&'a str>,
    locations: &'a FieldLocations,
}

impl Source<'_> {
    fn diagnostic(&self, d: Diagnostic, field: String) -> Diagnostic {
        let at = self.locations.resolve(&field);
        d.field(field).file(self.file).at(at)
    }
}

fn push<S: DeserializeOwned + Default>(
    doc: &Value,
    source: &Source<'_>,
    diagnostics: &mut Vec<Diagnostic>,
    into: &mut Vec<Object<S>>,
) {
    if let Some(mut object) = typed::<Object<S>>(doc, source, diagnostics, &OBJECT_KEYS) {
        object.file = source.file.map(str::to_string);
        object.locations = source.locations.clone();
        into.push(object);
    }
}

/// Deserialises `doc`, reporting unknown fields as warnings and a type error as an error with
/// its field path, each at the field's location.
fn typed<T: DeserializeOwned>(
    doc: &Value,
    source: &Source<'_>,
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
                diagnostics.push(source.diagnostic(
                    Diagnostic::warning(
                        source.reference,
                        "field is not understood by Portcullis and is ignored",
                    ),
                    path,
                ));
            }
            Some(value)
        }
        Err(e) => {
            diagnostics.push(source.diagnostic(
                Diagnostic::error(
                    source.reference,
                    format!("invalid resource: {}; ignored", e.inner()),
                ),
                e.path().to_string(),
            ));
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
    fn bad_yaml_is_an_error_at_the_parsers_location() {
        let loaded = load_str("a: 1\n---\nb: [\n", Some("bad.yaml"));
        let d = &loaded.diagnostics[0];
        assert_eq!(d.severity, Severity::Error);
        assert_eq!(at(d), Some((3, 4)));
        assert_eq!(d.message, "invalid YAML: unclosed bracket '['");
        assert_eq!(
            d.to_string(),
            "error: bad.yaml (bad.yaml:3:4): invalid YAML: unclosed bracket '['"
        );
    }

    /// `(line, column)` of a diagnostic.
    fn at(d: &Diagnostic) -> Option<(u32, u32)> {
        d.location.map(|l| (l.line(), l.column()))
    }

    #[test]
    fn unknown_fields_are_located_at_their_key() {
        let text = "
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: c}
spec:
  hosts: [a.com]
  http:
  - route: [{destination: {host: x}}]
    frobnicate: true
  - route: [{destination: {host: z, colour: blue}}]
";
        let loaded = load_str(text, Some("f.yaml"));
        let located: Vec<_> = loaded
            .diagnostics
            .iter()
            .map(|d| (d.field.as_deref(), at(d)))
            .collect();
        assert_eq!(
            located,
            [
                (Some("spec.http[0].frobnicate"), Some((9, 5))),
                (
                    Some("spec.http[1].route[0].destination.colour"),
                    Some((10, 37))
                ),
            ]
        );
    }

    #[test]
    fn type_errors_are_located_at_the_field() {
        let text = "
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: g, namespace: ns}
spec:
  servers:
  - port:
      name: http
      number: eighty
";
        let d = &load_str(text, Some("g.yaml")).diagnostics[0];
        assert_eq!(d.field.as_deref(), Some("spec.servers[0].port.number"));
        assert_eq!(at(d), Some((9, 7)));
        assert!(
            d.to_string().starts_with(
                "error: Gateway ns/g (g.yaml:9:7) at spec.servers[0].port.number: invalid resource:"
            ),
            "{d}"
        );
    }

    /// Locations count lines of the whole file, whichever document a resource is in; empty
    /// documents count too.
    #[test]
    fn locations_are_relative_to_the_file_not_the_document() {
        let text = "\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: a}
spec: {servers: []}
---
---
# a comment
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: b}
spec:
  hosts: [a.com]
  bogus: 1
";
        let loaded = load_str(text, Some("f.yaml"));
        assert_eq!(at(&loaded.diagnostics[0]), Some((13, 3)));
        let gw = &loaded.resources.gateways[0];
        let vs = &loaded.resources.virtual_services[0];
        assert_eq!(gw.locate("").map(|l| l.line()), Some(1));
        assert_eq!(vs.locate("").map(|l| l.line()), Some(8));
        assert_eq!(
            vs.locate("spec.hosts[0]").map(|l| (l.line(), l.column())),
            Some((12, 11))
        );
        // A field the author did not write resolves to the nearest one that exists.
        assert_eq!(vs.locate("spec.http[3].route").map(|l| l.line()), Some(11));
    }

    /// A `List` (what `kubectl get -o yaml` prints) locates each item's fields from the item.
    #[test]
    fn list_items_are_located_in_the_file() {
        let text = "\
apiVersion: v1
kind: List
items:
- apiVersion: networking.istio.io/v1
  kind: Gateway
  metadata: {name: a}
  spec: {servers: []}
- apiVersion: networking.istio.io/v1
  kind: VirtualService
  metadata: {name: b}
  spec:
    hosts: [a.com]
    bogus: 1
";
        let loaded = load_str(text, Some("list.yaml"));
        assert_eq!(loaded.resources.gateways.len(), 1);
        let vs = &loaded.resources.virtual_services[0];
        assert_eq!(vs.locate("").map(|l| (l.line(), l.column())), Some((8, 3)));
        assert_eq!(vs.locate("spec.hosts").map(|l| l.line()), Some(12));
        let d = &loaded.diagnostics[0];
        assert_eq!(
            (d.field.as_deref(), at(d)),
            (Some("spec.bogus"), Some((13, 5)))
        );
    }

    /// Fields reached through a merge key or an alias are located where they are written.
    #[test]
    fn anchored_fields_are_located_at_their_definition() {
        let text = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: b}
spec:
  hosts: [a.com]
  http:
  - &rule
    route: [{destination: {host: x}}]
    frobnicate: true
  - *rule
";
        let loaded = load_str(text, Some("f.yaml"));
        let located: Vec<_> = loaded
            .diagnostics
            .iter()
            .map(|d| (d.field.as_deref(), at(d)))
            .collect();
        assert_eq!(
            located,
            [
                (Some("spec.http[0].frobnicate"), Some((9, 5))),
                (Some("spec.http[1].frobnicate"), Some((9, 5))),
            ]
        );
    }

    /// Documents the loader cannot use are located at their start.
    #[test]
    fn ignored_documents_are_located() {
        let text = "\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: a}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
---
- just a list
";
        let loaded = load_str(text, None);
        let located: Vec<_> = loaded
            .diagnostics
            .iter()
            .map(|d| (d.severity, at(d)))
            .collect();
        assert_eq!(
            located,
            [
                (Severity::Info, Some((5, 1))),
                (Severity::Error, Some((9, 1)))
            ]
        );
        assert_eq!(
            loaded.diagnostics[0].to_string(),
            "info: Deployment default/d (line 5, column 1): apps/v1 Deployment is not used by Portcullis; ignored"
        );
    }

    /// An object as the API server returns it: metadata the server adds is kept quietly,
    /// `status` is not the author's, unknown spec fields still warn, a List is unpacked.
    #[test]
    fn api_objects_load_like_files() {
        let gateway = serde_json::json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "gw", "namespace": "edge", "uid": "u-1", "resourceVersion": "42",
                         "generation": 3, "managedFields": [{"manager": "kubectl"}]},
            "spec": {"selector": {"istio": "ingressgateway"}, "servers": [
                {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["a.example.com"], "frob": 1}
            ]},
            "status": {"conditions": []}
        });
        let loaded = load_json(&gateway);
        assert_eq!(loaded.resources.gateways.len(), 1);
        assert_eq!(loaded.resources.gateways[0].namespace(), "edge");
        assert_eq!(loaded.diagnostics.len(), 1, "{:?}", loaded.diagnostics);
        let d = &loaded.diagnostics[0];
        assert_eq!(d.field.as_deref(), Some("spec.servers[0].frob"));
        assert_eq!((d.file.as_deref(), d.location), (None, None));

        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [gateway.clone(), gateway]});
        assert_eq!(load_json(&list).resources.gateways.len(), 2);
    }
}
