//! Suites that load the built filters and the probe.

mod callouts;
mod filters;
mod fixtures;
mod headers;
mod lifecycle;
mod metering;
mod metrics;
mod properties;
mod queues;
mod router_actions;
mod router_hosts;
mod router_matches;
mod routing;
mod shared_data;
mod support;
mod timers;
mod wasi;
