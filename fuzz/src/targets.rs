//! The targets. Each takes arbitrary bytes; a panic is a finding.

use std::sync::OnceLock;

use portcullis_compile::compile::{CompileOptions, GatewayIdentity, compile};
use portcullis_compile::load::load_str;
use portcullis_core::audit::{BatchOutcome, Delivery};
use portcullis_core::strmatch::full_match_regex;
use portcullis_core::wire::{FailureMode, HttpCollector, WireConfig};
use portcullis_core::{EgressPolicy, Gateway, HostVerdict, Outcome, RequestView, SplitMix64};
use portcullis_envoy::{
    ConfigDelivery, ConfigDir, RenderOptions, TlsDelivery, WasmModules, render,
};

use crate::Fields;

/// The wire config a client of the filters controls: parsed and compiled by every filter's
/// compile step (router, host filter, egress audit). Whatever is accepted once is accepted
/// again, the same way.
pub fn wire_config(data: &[u8]) {
    let Ok(wire) = WireConfig::from_json(data) else {
        return;
    };
    let routed = Gateway::compile(&wire).is_ok();
    let hosts = Gateway::compile_hosts(&wire).is_ok();
    let egress = EgressPolicy::from_wire(&wire).is_ok();
    // The host filter compiles a subset of what the router does: never stricter.
    assert!(
        !routed || hosts,
        "the router accepts what the host filter refuses"
    );
    assert_eq!(
        Gateway::compile(&wire).is_ok(),
        routed,
        "compile is not deterministic"
    );
    assert_eq!(EgressPolicy::from_wire(&wire).is_ok(), egress);
}

/// Istio YAML as a user writes it: load, compile for an ingress and an egress workload, and
/// render what compiled. The compile is deterministic, and whatever compiled renders.
pub fn istio_yaml(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let loaded = load_str(&text, Some("fuzz.yaml"));
    let egress = GatewayIdentity {
        labels: [("istio".to_string(), "egressgateway".to_string())].into(),
        namespace: "istio-system".into(),
    };
    for identity in [GatewayIdentity::default(), egress] {
        let options = CompileOptions {
            port_offset: 10000,
            ..CompileOptions::default()
        };
        let out = compile(&loaded.resources, &identity, &options);
        let again = compile(&loaded.resources, &identity, &options);
        assert_eq!(
            out.content_hash, again.content_hash,
            "compile is not deterministic"
        );
        assert_eq!(out.diagnostics, again.diagnostics);
        // What the filters would refuse is already an error; what is left must render.
        if Gateway::compile(&out.wire).is_ok() {
            render(&out.envoy, &out.wire, &render_options())
                .unwrap_or_else(|e| panic!("a compiled configuration does not render: {e}"));
        }
    }
}

fn render_options() -> RenderOptions {
    RenderOptions {
        delivery: ConfigDelivery::Files(ConfigDir::new("/cfg")),
        bind_address: "127.0.0.1".into(),
        wasm: WasmModules::local("/wasm/router.wasm", Some("/wasm/egress.wasm".into())),
        tls: TlsDelivery::Inline,
        failure_policy: Default::default(),
        access_log: None,
    }
}

/// The wire config in an example's `expected/compiled.json` (what `cargo xtask gen` wrote).
fn example_wire(compiled_json: &str) -> WireConfig {
    let compiled: serde_json::Value =
        serde_json::from_str(compiled_json).expect("an example's compiled.json");
    WireConfig::from_json(compiled["wire"].to_string().as_bytes())
        .expect("an example's wire config")
}

/// The wire config of `examples/features`, which uses every kind of route Portcullis has.
fn features_gateway() -> &'static Gateway {
    static GATEWAY: OnceLock<Gateway> = OnceLock::new();
    GATEWAY.get_or_init(|| {
        let wire = example_wire(include_str!(
            "../../examples/features/expected/compiled.json"
        ));
        Gateway::compile(&wire).expect("the features example compiles")
    })
}

/// A request a client controls, decided by the features example's gateway: fields are the
/// bind port, authority, path, method, scheme, SNI, filter chain, then header pairs. A routed
/// request was admitted by the host filter, and a decision does not depend on anything but
/// the request and the draw.
pub fn decide(data: &[u8]) {
    let f = Fields::new(data);
    let headers = f.headers(8);
    let sni = f.get(6);
    let chain = f.get(7);
    let request = RequestView {
        bind_port: f.port(0),
        authority: f.get(1),
        path: f.get(2),
        method: f.get(3),
        scheme: f.get(4),
        tls: f.get(5).len() % 2 == 1,
        sni: (!sni.is_empty()).then_some(sni),
        filter_chain: (!chain.is_empty()).then_some(chain),
        headers: &headers,
    };
    let gateway = features_gateway();
    let seed = data
        .iter()
        .fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(*b));
    let decision = gateway.decide(&request, &mut SplitMix64(seed));
    let again = gateway.decide(&request, &mut SplitMix64(seed));
    assert_eq!(
        format!("{decision:?}"),
        format!("{again:?}"),
        "decide is not deterministic"
    );
    if matches!(decision.outcome, Outcome::Forward(_)) {
        let verdict = gateway.admit_host(&request);
        assert!(
            matches!(verdict, HostVerdict::Admitted(_)),
            "routed but not admitted: {verdict:?}"
        );
    }
}

/// The egress example's allow-list: a Host (authority) and an SNI a client controls, with a
/// port. A host is allowed or denied the same whatever its letter case.
pub fn egress(data: &[u8]) {
    static POLICY: OnceLock<EgressPolicy> = OnceLock::new();
    let policy = POLICY.get_or_init(|| {
        let wire = example_wire(include_str!("../../examples/egress/expected/compiled.json"));
        EgressPolicy::from_wire(&wire).expect("the egress example's policy")
    });
    let f = Fields::new(data);
    let (authority, sni, port) = (f.get(0), f.get(1), f.port(2));
    let http = policy.decide_http(authority, port).is_allowed();
    let upper = policy
        .decide_http(&authority.to_ascii_uppercase(), port)
        .is_allowed();
    assert_eq!(
        http, upper,
        "letter case changed the decision for {authority:?}"
    );
    let tls = policy
        .decide_sni((!sni.is_empty()).then_some(sni), port)
        .is_allowed();
    let tls_upper = policy
        .decide_sni((!sni.is_empty()).then_some(&sni.to_ascii_uppercase()), port)
        .is_allowed();
    assert_eq!(
        tls, tls_upper,
        "letter case changed the decision for SNI {sni:?}"
    );
}

/// An RE2 pattern a user writes and a value a client sends: translation and matching never
/// panic, and a pattern that compiles matches the same value the same way twice.
pub fn regex(data: &[u8]) {
    let f = Fields::new(data);
    let (pattern, value) = (f.get(0), f.get(1));
    if let Ok(re) = full_match_regex(pattern) {
        assert_eq!(re.is_match(value), re.is_match(value));
    }
}

/// The audit delivery state machine driven by arbitrary settings and events (records pushed,
/// ticks, collector answers delivered, failed, rejected, stale or lost, reconfigurations that
/// hand the held records to a new machine): every record pushed is, at every
/// step, sent, counted as dropped, or still held; never more than `maxBuffered` records nor
/// `maxBufferedBytes` bytes are held, and no batch is larger than `batchSize`.
pub fn audit_delivery(data: &[u8]) {
    #[derive(Default)]
    struct Carried {
        sent: u64,
        dropped: u64,
    }
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let collector = HttpCollector {
        cluster: "collector".into(),
        authority: "collector".into(),
        path: "/".into(),
        batch_size: u32::from(byte(0) % 9),
        flush_interval_ms: u32::from(byte(1)) * 10,
        max_buffered: u32::from(byte(2) % 17),
        max_buffered_bytes: u32::from(byte(2) / 17) * 8,
        timeout_ms: u32::from(byte(3)) * 10,
        initial_backoff_ms: u32::from(byte(4)) * 10,
        max_backoff_ms: u32::from(byte(5)) * 100,
    };
    let failure_mode = if byte(6) % 2 == 0 {
        FailureMode::Open
    } else {
        FailureMode::Closed
    };
    let mut delivery = Delivery::new(&collector, failure_mode);
    let max_buffered = (collector.max_buffered as usize).max(1);
    let batch_size = (collector.batch_size as usize).clamp(1, max_buffered);
    let max_bytes = (collector.max_buffered_bytes as usize).max(1);
    let (mut now, mut pushed, mut last_batch) = (0u64, 0u64, None::<u64>);
    // Counters of the machines a reconfiguration replaced.
    let mut carried = Carried::default();
    for event in data.get(7..).unwrap_or_default() {
        match event % 6 {
            0 | 1 => {
                let size = usize::from(event / 6) % 24;
                delivery.push(format!("{pushed:0>size$}"));
                pushed += 1;
            }
            2 => {
                now += u64::from(event / 6) * 25;
                if let Some(batch) = delivery.poll(now) {
                    assert!(
                        batch.records >= 1 && batch.records <= batch_size,
                        "{batch:?}"
                    );
                    assert_eq!(batch.body.lines().count(), batch.records);
                    last_batch = Some(batch.id);
                }
            }
            3 => {
                if let Some(id) = last_batch.take() {
                    let outcome = match event / 6 % 3 {
                        0 => BatchOutcome::Delivered,
                        1 => BatchOutcome::Failed,
                        _ => BatchOutcome::Rejected,
                    };
                    delivery.on_result_with_jitter(id, outcome, now, u32::from(*event));
                }
            }
            4 => {
                // A reconfiguration: the held records move to a machine with other settings.
                let mut next = Delivery::new(&collector, failure_mode);
                next.take_over(delivery.hand_over());
                assert_eq!(delivery.buffered(), 0);
                let moved = delivery.stats();
                delivery = next;
                carried.sent += moved.sent;
                carried.dropped += moved.dropped.total();
            }
            _ => {
                // A stale or unknown answer changes nothing.
                let before = delivery.stats();
                assert!(!delivery.on_result(
                    u64::from(*event) + 1_000,
                    BatchOutcome::Delivered,
                    now
                ));
                assert_eq!(delivery.stats(), before);
            }
        }
        let stats = delivery.stats();
        assert!(stats.buffered <= max_buffered, "{stats:?}");
        assert!(delivery.buffered_bytes() <= max_bytes, "{stats:?}");
        assert_eq!(
            carried.sent
                + carried.dropped
                + stats.sent
                + stats.dropped.total()
                + stats.buffered as u64,
            pushed,
            "a record was lost uncounted: {stats:?}"
        );
    }
}
