//! Diagnostics: every resource or field the compiler ignores, rejects or wants a human to look
//! at. They are data (serialised into golden files and `render` output), never log lines, so a
//! test can assert on them and the in-cluster operator can turn them into Kubernetes Events.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU32;

use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// Something was rejected: the resource, server or rule it names has no effect.
    Error,
    /// Accepted, but probably not what the author meant (or only partly supported).
    Warning,
    /// For the record: e.g. a resource of a kind Portcullis does not use.
    Info,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

/// What an error does to the configuration that is served (`None` for warnings and infos).
///
/// Istio refuses an invalid resource when it is applied (its validating webhook), so the
/// resource's previous version keeps serving; it skips a valid piece it cannot serve and serves
/// the rest. Portcullis does the same, and one thing more: input it cannot read at all keeps the
/// whole last good configuration serving, since nothing says what its author meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Effect {
    /// The input cannot be read as resources (a file that is not YAML, a document without a
    /// kind) or the compiled whole would be refused by the filters: nothing of this change is
    /// served, and the last good configuration keeps serving as a whole.
    KeepsLastGood,
    /// The resource is invalid as Istio validates resources: it is refused as a whole. The
    /// version accepted before keeps serving; a resource with no accepted version is left out.
    RefusesResource,
    /// Only the piece named (a server, a rule, a destination, a duplicate copy) is dropped,
    /// because Portcullis does not support it or it conflicts with another resource; the rest of
    /// the resource serves.
    DropsPiece,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::KeepsLastGood => "keeps the last good configuration",
            Effect::RefusesResource => "refuses the resource",
            Effect::DropsPiece => "drops the piece",
        })
    }
}

/// A position in a YAML text: line and column, both 1-based, the column counted in characters
/// (not bytes). Positions are relative to the whole text (file), not to one of its documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Location {
    line: NonZeroU32,
    column: NonZeroU32,
}

impl Location {
    /// The location at `line`, `column` (1-based); `None` when either is 0.
    pub fn new(line: u32, column: u32) -> Option<Self> {
        Some(Location {
            line: NonZeroU32::new(line)?,
            column: NonZeroU32::new(column)?,
        })
    }

    /// The line, from 1.
    pub fn line(&self) -> u32 {
        self.line.get()
    }

    /// The column, from 1, in characters.
    pub fn column(&self) -> u32 {
        self.column.get()
    }
}

impl fmt::Display for Location {
    /// `line:column`, as compilers and editors print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Where the fields of one resource are in its YAML text, recorded by the loader.
///
/// Keys are field paths as diagnostics write them (`spec.http[0].match[1].uri.regex`); a mapping
/// entry is located at its key, a sequence element at the element, and the empty path at the
/// resource itself (the start of its document, or of its item in a `List`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldLocations(BTreeMap<String, Location>);

impl FieldLocations {
    /// Records that `path` is at `location` (a later record for the same path wins, as a later
    /// duplicate key does in the YAML).
    pub(crate) fn insert(&mut self, path: impl Into<String>, location: Location) {
        self.0.insert(path.into(), location);
    }

    /// The location of exactly `path`.
    pub fn get(&self, path: &str) -> Option<Location> {
        self.0.get(path).copied()
    }

    /// The location of `path`, else of the nearest enclosing field that exists (a diagnostic can
    /// name a field the author left out, such as a missing `port`), else of the resource. `None`
    /// only when nothing was recorded (resources not read from YAML).
    pub fn resolve(&self, path: &str) -> Option<Location> {
        let mut path = path;
        loop {
            if let Some(location) = self.get(path) {
                return Some(location);
            }
            if path.is_empty() {
                return None;
            }
            path = parent(path);
        }
    }

    /// True when no location was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `a.b[0]` → `a.b` → `a` → ``.
fn parent(path: &str) -> &str {
    let cut = if path.ends_with(']') {
        path.rfind('[')
    } else {
        path.rfind('.')
    };
    cut.map_or("", |i| &path[..i])
}

/// One finding about the input resources.
///
/// Diagnostics sort by severity, resource, file, field, message and rule (the location only
/// breaks ties), so a list of them reads resource by resource.
///
/// Serialised as an object with `severity`, `effect`, `resource`, `file`, `line`, `column`,
/// `field`, `message` and `rule`; absent values are left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Severity.
    pub severity: Severity,
    /// The resource, as `Kind namespace/name` (or the file name when no resource could be read).
    pub resource: String,
    /// The file the resource came from, when loaded from disk.
    pub file: Option<String>,
    /// Where in the YAML text (of `file`, when set) the field, or else the resource, is:
    /// serialised as `line` and `column`.
    pub location: Option<Location>,
    /// Field path inside the resource, e.g. `spec.http[0].match[1].uri.regex`.
    pub field: Option<String>,
    /// What happened and what it means for traffic.
    pub message: String,
    /// The Istio semantics rule this follows (`G-2`, `V-3`, …), defined in `docs/semantics.md`.
    pub rule: Option<&'static str>,
    /// What the error does to the served configuration; `None` unless `severity` is `Error`.
    pub effect: Option<Effect>,
}

/// By hand rather than with `#[serde(flatten)]` for the location: a flattened struct is
/// serialised as a map, which e.g. `serde-wasm-bindgen` turns into a JS `Map`, not an object.
impl Serialize for Diagnostic {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn field<S: SerializeStruct, T: Serialize>(
            s: &mut S,
            key: &'static str,
            value: Option<T>,
        ) -> Result<(), S::Error> {
            match value {
                Some(value) => s.serialize_field(key, &value),
                None => s.skip_field(key),
            }
        }
        let mut s = serializer.serialize_struct("Diagnostic", 9)?;
        s.serialize_field("severity", &self.severity)?;
        field(&mut s, "effect", self.effect)?;
        s.serialize_field("resource", &self.resource)?;
        field(&mut s, "file", self.file.as_ref())?;
        field(&mut s, "line", self.location.map(|l| l.line()))?;
        field(&mut s, "column", self.location.map(|l| l.column()))?;
        field(&mut s, "field", self.field.as_ref())?;
        s.serialize_field("message", &self.message)?;
        field(&mut s, "rule", self.rule)?;
        s.end()
    }
}

impl Diagnostic {
    /// A diagnostic about `resource` without field, file or rule; an error refuses its
    /// resource ([`Effect::RefusesResource`]) unless [`Diagnostic::effect`] says otherwise.
    pub fn new(
        severity: Severity,
        resource: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity,
            resource: resource.into(),
            file: None,
            location: None,
            field: None,
            message: message.into(),
            rule: None,
            effect: (severity == Severity::Error).then_some(Effect::RefusesResource),
        }
    }

    /// Shorthand for an error.
    pub fn error(resource: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, resource, message)
    }

    /// Shorthand for a warning.
    pub fn warning(resource: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, resource, message)
    }

    /// Shorthand for an info.
    pub fn info(resource: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Info, resource, message)
    }

    /// Sets the field path.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Sets the source file.
    pub fn file(mut self, file: Option<&str>) -> Self {
        self.file = file.map(str::to_string);
        self
    }

    /// Sets the location in the source text.
    pub fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    /// Sets the rule id.
    pub fn rule(mut self, rule: &'static str) -> Self {
        self.rule = Some(rule);
        self
    }

    /// Sets what an error does to the served configuration (ignored for other severities).
    pub fn effect(mut self, effect: Effect) -> Self {
        if self.severity == Severity::Error {
            self.effect = Some(effect);
        }
        self
    }
}

impl Ord for Diagnostic {
    fn cmp(&self, other: &Self) -> Ordering {
        fn key(d: &Diagnostic) -> impl Ord + '_ {
            (
                d.severity,
                &d.resource,
                &d.file,
                &d.field,
                &d.message,
                d.rule,
                d.location,
            )
        }
        key(self).cmp(&key(other))
    }
}

impl PartialOrd for Diagnostic {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Diagnostic {
    /// `error: VirtualService shop/web (vs.yaml:12:7) at spec.http[0].match[0].uri.regex:
    /// message [V-13]`; the parts without a value are left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.resource)?;
        match (&self.file, self.location) {
            (Some(file), Some(at)) => write!(f, " ({file}:{at})")?,
            (Some(file), None) => write!(f, " ({file})")?,
            (None, Some(at)) => write!(f, " (line {}, column {})", at.line, at.column)?,
            (None, None) => {}
        }
        if let Some(field) = &self.field {
            write!(f, " at {field}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(rule) = self.rule {
            write!(f, " [{rule}]")?;
        }
        Ok(())
    }
}

/// True when any diagnostic is an error.
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(|d| d.severity == Severity::Error)
}

/// True when some diagnostic keeps the last good configuration serving as a whole.
pub fn keeps_last_good(diagnostics: &[Diagnostic]) -> bool {
    diagnostics
        .iter()
        .any(|d| d.effect == Some(Effect::KeepsLastGood))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn loc(line: u32, column: u32) -> Location {
        Location::new(line, column).unwrap()
    }

    #[test]
    fn locations_resolve_to_the_nearest_recorded_field() {
        let mut locations = FieldLocations::default();
        locations.insert("", loc(1, 1));
        locations.insert("spec", loc(4, 1));
        locations.insert("spec.http[0]", loc(6, 5));
        assert_eq!(locations.resolve("spec.http[0]"), Some(loc(6, 5)));
        assert_eq!(
            locations.resolve("spec.http[0].route[2].x"),
            Some(loc(6, 5))
        );
        assert_eq!(locations.resolve("spec.http[1]"), Some(loc(4, 1)));
        assert_eq!(
            locations.resolve("metadata.annotations.a.b/c"),
            Some(loc(1, 1))
        );
        assert_eq!(FieldLocations::default().resolve("spec"), None);
        assert_eq!(Location::new(0, 3), None);
    }

    #[test]
    fn display_and_json_show_the_location_only_when_known() {
        let d = Diagnostic::error("VirtualService shop/web", "bad regex")
            .field("spec.http[0].match[0].uri")
            .rule("V-10");
        assert_eq!(
            d.to_string(),
            "error: VirtualService shop/web at spec.http[0].match[0].uri: bad regex [V-10]"
        );
        let json = serde_json::to_value(&d).unwrap();
        assert!(json.get("line").is_none() && json.get("column").is_none());

        let d = d.file(Some("vs.yaml")).at(Some(loc(12, 7)));
        assert_eq!(
            d.to_string(),
            "error: VirtualService shop/web (vs.yaml:12:7) at spec.http[0].match[0].uri: bad regex [V-10]"
        );
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            serde_json::json!({
                "severity": "error",
                "effect": "refusesResource",
                "resource": "VirtualService shop/web",
                "file": "vs.yaml",
                "line": 12,
                "column": 7,
                "field": "spec.http[0].match[0].uri",
                "message": "bad regex",
                "rule": "V-10",
            })
        );
        let d = Diagnostic::warning("<input> (document 2)", "x").at(Some(loc(3, 1)));
        assert_eq!(
            d.to_string(),
            "warning: <input> (document 2) (line 3, column 1): x"
        );
    }

    /// The location only breaks ties: diagnostics still read resource by resource, field by
    /// field.
    #[test]
    fn location_does_not_change_the_order() {
        let a = Diagnostic::error("R", "m").field("a").at(Some(loc(9, 1)));
        let b = Diagnostic::error("R", "m").field("b").at(Some(loc(2, 1)));
        assert!(a < b);
    }
}
