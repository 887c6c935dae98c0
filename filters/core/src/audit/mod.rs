//! Audit of egress: the record of each decision, its redaction, and its delivery.
//!
//! - `record`: [`AuditRecord`] and its JSON Lines form;
//! - `redact`: [`Redaction`], the only way a path or headers enter a record;
//! - `time`: RFC 3339 formatting of the caller's clock;
//! - `sink`: the `log` sink line and sink validation;
//! - `delivery`: the HTTP collector's batching, retry and backoff state machine;
//! - `ledger`: the records each VM holds, kept outside the VMs so a trapped VM's are counted.
//!
//! A filter's flow: `EgressPolicy::decide_*` → [`AuditRecord::new`] → fill fields,
//! `Redaction::set_path` / `set_headers` → [`SinkLine::new`] → log it, or
//! [`Delivery::push`] and, on each tick, [`Delivery::poll`] → POST → [`Delivery::on_result`].

mod delivery;
mod ledger;
mod record;
mod redact;
mod sink;
mod time;

#[cfg(test)]
mod tests;

pub use delivery::{Batch, BatchOutcome, Delivery, DeliveryStats, DropReason, Drops, PushResult};
pub use ledger::{Ledger, STALE_MS};
pub use record::{AuditRecord, Event, Protocol, Verdict};
pub use redact::{REDACTED_QUERY, REDACTED_VALUE, Redaction};
pub use sink::SinkLine;
pub(crate) use sink::validate_sink;
