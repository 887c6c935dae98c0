//! Diagnostics: every resource or field the compiler ignores, rejects or wants a human to look
//! at. They are data (serialised into golden files and `render` output), never log lines, so a
//! test can assert on them and the in-cluster operator can turn them into Kubernetes Events.

use std::fmt;

use serde::Serialize;

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

/// One finding about the input resources.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnostic {
    /// Severity.
    pub severity: Severity,
    /// The resource, as `Kind namespace/name` (or the file name when no resource could be read).
    pub resource: String,
    /// The file the resource came from, when loaded from disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Field path inside the resource, e.g. `spec.http[0].match[1].uri.regex`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What happened and what it means for traffic.
    pub message: String,
    /// The Istio semantics rule this follows (`G-2`, `V-3`, …), see `istio-semantics.md`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
}

impl Diagnostic {
    /// A diagnostic about `resource` without field, file or rule.
    pub fn new(
        severity: Severity,
        resource: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity,
            resource: resource.into(),
            file: None,
            field: None,
            message: message.into(),
            rule: None,
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

    /// Sets the rule id.
    pub fn rule(mut self, rule: &'static str) -> Self {
        self.rule = Some(rule);
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity, self.resource)?;
        if let Some(field) = &self.field {
            write!(f, " at {field}")?;
        }
        if let Some(file) = &self.file {
            write!(f, " ({file})")?;
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
