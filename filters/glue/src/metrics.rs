//! Counters and gauges that tolerate a host without metrics.

use crate::abi;
use proxy_wasm::types::MetricType;

/// A monotonically increasing counter.
#[derive(Clone, Copy, Debug)]
pub struct Counter(Option<u32>);

impl Counter {
    /// Defines (or re-opens) the counter `name`.
    pub fn define(name: &str) -> Self {
        Counter(abi::define_metric(MetricType::Counter, name).ok())
    }

    /// Adds one.
    pub fn inc(self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(self, n: u64) {
        if let Some(id) = self.0 {
            let _ = abi::increment_metric(id, i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

/// A gauge.
#[derive(Clone, Copy, Debug)]
pub struct Gauge(Option<u32>);

impl Gauge {
    /// Defines (or re-opens) the gauge `name`.
    pub fn define(name: &str) -> Self {
        Gauge(abi::define_metric(MetricType::Gauge, name).ok())
    }

    /// Sets the value.
    pub fn set(self, value: u64) {
        if let Some(id) = self.0 {
            let _ = abi::record_metric(id, value);
        }
    }

    /// Adds `delta` (negative to subtract). Where several root contexts (one per worker)
    /// report into one gauge, each adds its own changes, so the gauge is their sum; `set`
    /// would leave the last writer's value.
    pub fn add(self, delta: i64) {
        if let Some(id) = self.0 {
            let _ = abi::increment_metric(id, delta);
        }
    }
}

/// A numeric fingerprint of a config version (`sha256:<hex>` or any string) that fits a gauge
/// exactly: the first 13 hex digits (52 bits, exact in a double for Prometheus), or an FNV-1a
/// hash of the string when it is not hex.
pub fn version_fingerprint(config_version: &str) -> u64 {
    let hex = config_version.rsplit(':').next().unwrap_or(config_version);
    let prefix: String = hex.chars().take(13).collect();
    if let (13, Ok(value)) = (prefix.len(), u64::from_str_radix(&prefix, 16)) {
        return value;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in config_version.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash & ((1 << 52) - 1)
}
