//! S-2, G-9: the core selects the virtual host exactly as Envoy does with
//! `ignore_port_in_host_matching` (what Istio's gateway sets). A generated corpus of Hosts —
//! ports that are not numbers, empty, too long or doubled, IPv6 literals with and without
//! brackets, case, trailing dots — is sent through a real Envoy twice: once to Envoy's own
//! route table with the same domains (each vhost answers its name), once to the router filter
//! (each vhost's route answers its name). Envoy's choice, the filter's choice in Envoy and the
//! core's native decision must be the same for every Host.

use std::time::Duration;

use crate::support::http::get;
use crate::support::*;
use portcullis::envoy::{EnvoyProcess, EnvoyProcessOptions};
use portcullis_compile::plan::{EnvoyPlan, ListenerKind};
use portcullis_core::{Gateway, RequestView, SplitMix64};
use serde_json::{Value, json};

/// The vhosts, by name and domain; the same table in Envoy and in the wire config.
const VHOSTS: [(&str, &str); 8] = [
    ("exact", "dev.example.com"),
    ("suffix", "*.example.com"),
    ("prefix", "api.*"),
    ("ipv4", "10.0.0.1"),
    ("ipv6", "[::1]"),
    ("ipv6-long", "[2001:db8::1]"),
    ("short", "h"),
    ("any", "*"),
];

/// Hosts built from bases and suffixes that Envoy and a naive port strip treat differently.
fn corpus() -> Vec<String> {
    let bases = [
        "dev.example.com",
        "DEV.Example.COM",
        "a.b.example.com",
        "example.com",
        "dev.example.com.",
        "api.internal",
        "10.0.0.1",
        "[::1]",
        "[2001:db8::1]",
        "[2001:DB8::1]",
        "::1",
        "2001:db8::1",
        "[::1",
        "h",
        "",
    ];
    let suffixes = [
        "", ":80", ":8080", ":65535", ":65536", ":123456", ":0", ":abc", ":", ":80:90", "::",
        ":-1", ":8o",
    ];
    let mut hosts = Vec::new();
    for b in bases {
        for s in suffixes {
            let h = format!("{b}{s}");
            if !h.is_empty() && !hosts.contains(&h) {
                hosts.push(h);
            }
        }
    }
    hosts
}

/// A static Envoy whose only route table is `VHOSTS`, answering each vhost's name.
fn native_bootstrap(port: u16) -> Value {
    let virtual_hosts: Vec<Value> = VHOSTS
        .iter()
        .map(|(name, domain)| {
            json!({
                "name": name,
                "domains": [domain],
                "routes": [{ "match": { "prefix": "/" },
                             "direct_response": { "status": 200, "body": { "inline_string": name } } }]
            })
        })
        .collect();
    json!({
        "admin": { "address": { "socket_address": { "address": "127.0.0.1", "port_value": 0 } } },
        "static_resources": { "listeners": [{
            "name": "native",
            "address": { "socket_address": { "address": "127.0.0.1", "port_value": port } },
            "filter_chains": [{ "filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": "native",
                    "route_config": {
                        "name": "native",
                        "ignore_port_in_host_matching": true,
                        "virtual_hosts": virtual_hosts
                    },
                    "http_filters": [{
                        "name": "envoy.filters.http.router",
                        "typed_config": { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" }
                    }]
                }
            }] }]
        }] }
    })
}

fn wire_config(bind: u16) -> Value {
    let virtual_hosts: Vec<Value> = VHOSTS
        .iter()
        .map(|(name, domain)| {
            json!({ "name": name, "domains": [domain], "routes": [
                { "name": name, "action": { "directResponse": { "status": 200, "body": name } } }
            ]})
        })
        .collect();
    json!({
        "version": 1,
        "configVersion": "host-parity",
        "listeners": [{
            "port": 80,
            "bindPort": bind,
            "servers": [{ "name": "default/gw/http", "hosts": ["*"] }],
            "virtualHosts": virtual_hosts,
        }],
    })
}

/// The vhost the core chooses natively for `host` (None: refused).
fn core_choice(gateway: &Gateway, bind: u16, host: &str) -> Option<String> {
    let headers: Vec<(String, String)> = Vec::new();
    let view = RequestView {
        bind_port: bind,
        authority: host,
        path: "/",
        method: "GET",
        scheme: "http",
        tls: false,
        sni: None,
        filter_chain: None,
        headers: &headers,
    };
    let decision = gateway.decide(&view, &mut SplitMix64(1));
    decision.evidence.virtual_host.map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s2_core_selects_the_vhost_envoy_selects() {
    let (native_port, bind) = (free_port(), free_port());
    let dir = state_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let bootstrap = dir.join("native.json");
    std::fs::write(&bootstrap, native_bootstrap(native_port).to_string()).unwrap();
    let (envoy, _) = envoy_and_modules();
    let native = EnvoyProcess::start(
        &EnvoyProcessOptions {
            binary: envoy.path.clone(),
            bootstrap,
            log_path: dir.join("native.log"),
            concurrency: 1,
            admin_port: 0,
        },
        Duration::from_secs(30),
    )
    .await
    .unwrap();

    let wire = wire(wire_config(bind));
    let core = Gateway::compile(&wire).unwrap();
    let plan = EnvoyPlan {
        listeners: vec![http_listener(80, bind, ListenerKind::Ingress)],
        clusters: vec![],
    };
    let gw = start_with(wire, plan, false).await;

    // Envoy holds a closed connection up to its delayed-close timeout, so the requests go
    // out together rather than one after another.
    let mut requests = tokio::task::JoinSet::new();
    for host in corpus() {
        requests.spawn(async move {
            let from_envoy = get(&host, "/").send(native_port).await;
            let from_filter = get(&host, "/").send(bind).await;
            (host, from_envoy, from_filter)
        });
    }
    let mut compared = 0;
    let mut mismatches = Vec::new();
    while let Some(answer) = requests.join_next().await {
        let (host, from_envoy, from_filter) = answer.unwrap();
        if from_envoy.status != 200 {
            // Envoy's codec refused the Host before any routing; it does so on both paths.
            assert_eq!(
                from_filter.status, from_envoy.status,
                "{host:?}: Envoy refused it natively, the filter path did not"
            );
            continue;
        }
        compared += 1;
        let native_choice = Some(from_envoy.body.clone());
        let filter_choice = (from_filter.status == 200).then(|| from_filter.body.clone());
        let core = core_choice(&core, bind, &host);
        if native_choice != core || native_choice != filter_choice {
            mismatches.push(format!(
                "{host:?}: envoy {native_choice:?}, core {core:?}, filter {filter_choice:?}"
            ));
        }
    }
    mismatches.sort();
    assert!(
        mismatches.is_empty(),
        "the core and Envoy chose different vhosts:\n{}",
        mismatches.join("\n")
    );
    // Most of the corpus is valid HTTP: the comparison is not vacuous.
    assert!(compared > 100, "only {compared} Hosts reached routing");
    native.stop().await.unwrap();
    finish(gw).await;
    let _ = std::fs::remove_dir_all(dir);
}
