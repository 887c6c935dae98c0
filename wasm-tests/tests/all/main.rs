//! Suites that load the built filters and the probe.

mod callouts;
mod config_reload;
mod egress_collector;
mod egress_http;
mod egress_tcp;
mod filters;
mod fixtures;
mod headers;
mod host_filter;
mod hostile;
mod lifecycle;
mod memory;
mod metering;
mod metrics;
mod properties;
mod queues;
mod router_actions;
mod router_faults;
mod router_hosts;
mod router_matches;
mod router_mirror;
mod routing;
mod shared_data;
mod support;
mod timers;
mod wasi;
