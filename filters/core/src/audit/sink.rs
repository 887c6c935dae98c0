//! Sinks: the log line of the `log` sink, and validation of the `http` sink settings.

use super::AuditRecord;
use crate::ConfigError;
use crate::wire::AuditSink;

/// One record as the line written by the `log` sink (and buffered by [`super::Delivery`]):
/// exactly [`AuditRecord::to_json_line`], no prefix, no trailing newline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkLine(String);

impl SinkLine {
    /// The line for `record`.
    pub fn new(record: &AuditRecord<'_>) -> Self {
        SinkLine(record.to_json_line())
    }

    /// The line.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The line, owned (what [`super::Delivery::push`] takes).
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for SinkLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Validates the sink settings; `at` is their field path (`egress.audit.sink`).
pub(crate) fn validate_sink(sink: &AuditSink, at: &str) -> Result<(), ConfigError> {
    let AuditSink::Http(http) = sink else {
        return Ok(());
    };
    let invalid = |field: &str, reason: String| {
        Err(ConfigError::Invalid {
            at: format!("{at}.http.{field}"),
            reason,
        })
    };
    if http.cluster.trim().is_empty() {
        return invalid("cluster", "empty cluster name".to_string());
    }
    if http.authority.trim().is_empty() {
        return invalid("authority", "empty authority".to_string());
    }
    if !http.path.starts_with('/') {
        return invalid("path", format!("{:?} does not start with '/'", http.path));
    }
    let positive = [
        ("batchSize", http.batch_size),
        ("flushIntervalMs", http.flush_interval_ms),
        ("maxBuffered", http.max_buffered),
        ("maxBufferedBytes", http.max_buffered_bytes),
        ("timeoutMs", http.timeout_ms),
        ("initialBackoffMs", http.initial_backoff_ms),
    ];
    if let Some((field, _)) = positive.iter().find(|(_, v)| *v == 0) {
        return invalid(field, "must be greater than 0".to_string());
    }
    if http.batch_size > http.max_buffered {
        return invalid(
            "batchSize",
            format!(
                "{} exceeds maxBuffered ({})",
                http.batch_size, http.max_buffered
            ),
        );
    }
    if http.max_backoff_ms < http.initial_backoff_ms {
        return invalid(
            "maxBackoffMs",
            format!(
                "{} is less than initialBackoffMs ({})",
                http.max_backoff_ms, http.initial_backoff_ms
            ),
        );
    }
    Ok(())
}
