//! Before a local gateway stops Envoy: letting the egress filter deliver the audit records it
//! still holds for its collector.
//!
//! The filter counts every record it makes (`audited`) and where each ended (`logged`, `sent`,
//! `dropped`); the difference is what is still held, in a worker's buffer or on its way
//! through the shared queue. Stopping Envoy loses those, so `up` waits, within a bound, until
//! the difference is zero, and reports what it could not deliver.

use std::time::{Duration, Instant};

use portcullis_core::wire::AuditSink;

use super::LocalGateway;

/// How often the counters are read while waiting.
const POLL: Duration = Duration::from_millis(100);

/// What a flush achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditFlush {
    /// Records the filter made since Envoy started.
    pub made: u64,
    /// Records still held when the wait ended: lost when Envoy stops.
    pub undelivered: u64,
    /// How long the wait took.
    pub waited: Duration,
}

impl LocalGateway {
    /// Waits up to `within` until every audit record made is logged, sent or counted as
    /// dropped. `None` when the gateway has no HTTP collector (records go to Envoy's log as
    /// they are made) or Envoy's counters cannot be read.
    pub async fn flush_audit(&self, within: Duration) -> Option<AuditFlush> {
        let egress = self.current().wire.egress.as_ref()?;
        let AuditSink::Http(_) = egress.audit.sink else {
            return None;
        };
        let start = Instant::now();
        loop {
            let (made, undelivered) = self.held_audit_records().await?;
            if undelivered == 0 || start.elapsed() >= within {
                return Some(AuditFlush {
                    made,
                    undelivered,
                    waited: start.elapsed(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// `(made, held)` from the egress filter's counters.
    async fn held_audit_records(&self) -> Option<(u64, u64)> {
        let admin = self.admin();
        let counter = |name: &'static str| async move {
            admin
                .counter(&format!("wasmcustom.portcullis.egress.{name}"))
                .await
                .ok()
        };
        let made = counter("audited").await?;
        let ended = counter("logged").await? + counter("sent").await? + counter("dropped").await?;
        Some((made, made.saturating_sub(ended)))
    }
}
