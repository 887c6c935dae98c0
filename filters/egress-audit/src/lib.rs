//! Egress gateway filter: allow-list enforcement and audit records.
