//! Actions and route options (V-17 … V-25).

use portcullis_core::wire::{Action, DerivePort};

use super::*;

/// Compiles one rule (YAML list item under `http:`) for host `*` and returns the output.
fn one_rule(rule: &str) -> CompileOutput {
    let yaml = gateway("default", "gw", "['*']")
        + "
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v, namespace: default}
spec:
  hosts: ['*']
  gateways: [gw]
  http:
" + rule;
    compile_yaml(&yaml)
}

fn only_route(out: &CompileOutput) -> &Route {
    let routes = &out.wire.listeners[0].virtual_hosts[0].routes;
    assert_eq!(routes.len(), 1, "{routes:#?}");
    &routes[0]
}

fn no_routes(out: &CompileOutput) -> bool {
    out.wire.listeners[0]
        .virtual_hosts
        .iter()
        .all(|v| v.routes.is_empty())
}

/// V-17: actions are exclusive; a rule with two is dropped with an error.
#[test]
fn v17_exclusive_actions() {
    let out =
        one_rule("  - route: [{destination: {host: a.org}}]\n    directResponse: {status: 200}\n");
    assert!(no_routes(&out));
    assert_eq!(with_rule(&out, "V-17")[0].severity, Severity::Error);
    let out = one_rule("  - redirect: {uri: /x}\n    rewrite: {uri: /y}\n");
    assert!(no_routes(&out));
    assert_eq!(with_rule(&out, "V-17").len(), 1);
}

/// V-18: weights as in Istio: a single destination takes 100, weight 0 is dropped.
#[test]
fn v18_weights() {
    let out = one_rule("  - route: [{destination: {host: a.org}, weight: 5}]\n");
    assert_eq!(
        destinations(only_route(&out)),
        [("outbound|80||a.org", 100)]
    );
    let out = one_rule(
        "  - route:\n    - {destination: {host: a.org, subset: v1}, weight: 90}\n    - {destination: {host: a.org, subset: v2}, weight: 10}\n    - {destination: {host: b.org}, weight: 0}\n",
    );
    assert_eq!(
        destinations(only_route(&out)),
        [("outbound|80|v1|a.org", 90), ("outbound|80|v2|a.org", 10)]
    );
}

/// V-18: cluster port = explicit, else the ServiceEntry's only port, else the listener port.
#[test]
fn v18_cluster_port_choice() {
    let se = "
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: se, namespace: default}
spec:
  hosts: [one-port.org]
  ports: [{number: 8443, name: http, protocol: HTTP}]
  resolution: DNS
";
    let rule = "  - route:\n    - {destination: {host: one-port.org}, weight: 1}\n    - {destination: {host: x.org, port: {number: 9000}}, weight: 1}\n    - {destination: {host: web}, weight: 1}\n";
    let out = one_rule(&(rule.to_string() + se));
    assert_eq!(
        destinations(only_route(&out)),
        [
            ("outbound|8443||one-port.org", 1),
            ("outbound|9000||x.org", 1),
            ("outbound|80||web.default.svc.cluster.local", 1)
        ]
    );
    // x.org is not in the registry: the route stays, the cluster does not, a warning says so.
    let names: Vec<&str> = out.envoy.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "outbound|80||web.default.svc.cluster.local",
            "outbound|8443||one-port.org"
        ]
    );
    let d = with_rule(&out, "V-18");
    assert_eq!(d.len(), 1);
    assert!(d[0].message.contains("x.org"), "{}", d[0].message);
    assert_eq!(
        d[0].field.as_deref(),
        Some("spec.http[0].route[1].destination")
    );
}

/// V-19: redirect defaults to 301, derivePort is kept, invalid codes are rejected.
#[test]
fn v19_redirect() {
    let out =
        one_rule("  - redirect: {uri: /new, authority: b.com, derivePort: FROM_REQUEST_PORT}\n");
    let Action::Redirect(r) = &only_route(&out).action else {
        panic!()
    };
    assert_eq!(
        (r.code, r.uri.as_deref(), r.authority.as_deref()),
        (301, Some("/new"), Some("b.com"))
    );
    assert_eq!(r.derive_port, Some(DerivePort::FromRequestPort));
    assert!(only_route(&out).retries.is_none());
    let out = one_rule("  - redirect: {uri: /new, redirectCode: 304}\n");
    assert!(no_routes(&out));
    assert_eq!(with_rule(&out, "V-19")[0].severity, Severity::Error);
}

/// V-19: `prefixRewrite` is carried to the wire (the core swaps the matched prefix); with
/// `uri` as well the rule is dropped with an error.
#[test]
fn v19_redirect_prefix_rewrite() {
    let out = one_rule("  - match: [{uri: {prefix: /v1}}]\n    redirect: {prefixRewrite: /v2}\n");
    let Action::Redirect(r) = &only_route(&out).action else {
        panic!()
    };
    assert_eq!(
        (r.prefix_rewrite.as_deref(), r.uri.as_deref()),
        (Some("/v2"), None)
    );
    let out = one_rule("  - redirect: {uri: /a, prefixRewrite: /b}\n");
    assert!(no_routes(&out));
    let errors = with_rule(&out, "V-19");
    assert_eq!(errors[0].severity, Severity::Error);
    assert!(
        errors[0].message.contains("mutually exclusive"),
        "{}",
        errors[0].message
    );
}

/// V-20: direct responses with string or base64 bodies; status must be 200-599.
#[test]
fn v20_direct_response() {
    let out = one_rule("  - directResponse: {status: 418, body: {bytes: aGVsbG8=}}\n");
    let Action::DirectResponse(d) = &only_route(&out).action else {
        panic!()
    };
    assert_eq!((d.status, d.body.as_str()), (418, "hello"));
    assert_eq!(d.body_base64, None, "a UTF-8 body travels as text");
    // Bytes that are not UTF-8 travel as base64, canonically encoded.
    let out = one_rule("  - directResponse: {status: 200, body: {bytes: \"AP8K\\nw6k=\"}}\n");
    let Action::DirectResponse(d) = &only_route(&out).action else {
        panic!()
    };
    assert_eq!(
        (d.body.as_str(), d.body_base64.as_deref()),
        ("", Some("AP8Kw6k="))
    );
    let out = one_rule("  - directResponse: {status: 99}\n");
    assert!(no_routes(&out));
}

/// V-21/V-22: rewrite; `headers.request.set[host]` becomes an authority rewrite unless
/// `rewrite.authority` is set; pseudo-headers in `remove` are dropped.
#[test]
fn v21_v22_rewrite_and_headers() {
    let out = one_rule(
        "  - route: [{destination: {host: a.org}, headers: {response: {add: {x-dest: '1'}}}}]\n    rewrite: {uri: /v2}\n    headers:\n      request: {set: {Host: up.internal, x-a: b}, remove: [':path', host, x-gone]}\n",
    );
    let route = only_route(&out);
    let Action::Route(f) = &route.action else {
        panic!()
    };
    let rw = f.rewrite.as_ref().unwrap();
    assert_eq!(
        (rw.uri.as_deref(), rw.authority.as_deref()),
        (Some("/v2"), Some("up.internal"))
    );
    assert_eq!(
        route.headers.request.set.get("x-a").map(String::as_str),
        Some("b")
    );
    assert!(!route.headers.request.set.contains_key("host"));
    assert_eq!(route.headers.request.remove, ["x-gone"]);
    assert_eq!(
        f.destinations[0]
            .headers
            .response
            .add
            .get("x-dest")
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(with_rule(&out, "V-22").len(), 2);

    let out = one_rule(
        "  - route: [{destination: {host: a.org}}]\n    rewrite: {authority: wins}\n    headers: {request: {set: {':authority': loses}}}\n",
    );
    let Action::Route(f) = &only_route(&out).action else {
        panic!()
    };
    assert_eq!(
        f.rewrite.as_ref().unwrap().authority.as_deref(),
        Some("wins")
    );

    // A destination's `host` is its own authority rewrite, not a forwarded header.
    let out = one_rule(
        "  - route:\n    - {destination: {host: a.org}, weight: 50, headers: {request: {set: {host: a.internal}}}}\n    - {destination: {host: b.org}, weight: 50}\n",
    );
    let Action::Route(f) = &only_route(&out).action else {
        panic!()
    };
    let authorities: Vec<_> = f
        .destinations
        .iter()
        .map(|d| d.authority.as_deref())
        .collect();
    assert_eq!(authorities, [Some("a.internal"), None]);
    assert!(f.destinations[0].headers.request.set.is_empty());

    let out = one_rule(
        "  - route: [{destination: {host: a.org}}]\n    rewrite: {uri: /a, uriRegexRewrite: {match: x, rewrite: 'z'}}\n",
    );
    assert!(no_routes(&out));
}

/// S-8: header operations on the cluster header or an Envoy control header, at the rule and
/// per destination, request and response, are errors naming the resource and the header; the
/// operations are dropped and the others kept.
#[test]
fn s8_reserved_headers_are_errors() {
    let out = one_rule(
        "  - route: [{destination: {host: a.org}, headers: {request: {set: {X-Portcullis-Cluster: 'outbound|80||b.org'}}, response: {remove: [x-envoy-upstream-service-time]}}}]\n    headers:\n      request: {set: {x-envoy-upstream-rq-timeout-ms: '1', x-kept: '1'}, add: {x-envoy-max-retries: '5'}, remove: [x-portcullis-cluster]}\n      response: {set: {x-envoy-overloaded: 'true'}}\n",
    );
    let errors = with_rule(&out, "S-8");
    let fields: Vec<&str> = errors.iter().filter_map(|d| d.field.as_deref()).collect();
    assert_eq!(errors.len(), 6, "{errors:#?}");
    for d in &errors {
        assert_eq!(d.severity, Severity::Error);
        assert_eq!(d.resource, "VirtualService default/v");
        assert!(d.message.contains("reserved"), "{}", d.message);
    }
    for (field, header) in [
        (
            "request.set.x-envoy-upstream-rq-timeout-ms",
            "x-envoy-upstream-rq-timeout-ms",
        ),
        ("request.add.x-envoy-max-retries", "x-envoy-max-retries"),
        ("request.remove", "x-portcullis-cluster"),
        ("response.set.x-envoy-overloaded", "x-envoy-overloaded"),
        ("request.set.X-Portcullis-Cluster", "X-Portcullis-Cluster"),
        ("response.remove", "x-envoy-upstream-service-time"),
    ] {
        assert!(
            errors
                .iter()
                .any(|d| d.field.as_deref().is_some_and(|f| f.ends_with(field))
                    && d.message.contains(header)),
            "{field}: {fields:?}"
        );
    }
    // The route survives without the refused operations.
    let route = only_route(&out);
    assert_eq!(
        route.headers.request.set.keys().collect::<Vec<_>>(),
        ["x-kept"]
    );
    assert!(route.headers.request.add.is_empty() && route.headers.request.remove.is_empty());
    let Action::Route(f) = &route.action else {
        panic!()
    };
    assert!(f.destinations[0].headers.is_empty());
}

/// V-23: fault percentages; an absent percentage means 0 with a warning.
#[test]
fn v23_fault() {
    let out = one_rule(
        "  - route: [{destination: {host: a.org}}]\n    fault:\n      delay: {fixedDelay: 1.5s, percentage: {value: 10}}\n      abort: {grpcStatus: UNAVAILABLE}\n",
    );
    let route = only_route(&out);
    let fault = route.fault.as_ref().unwrap();
    assert_eq!(
        fault
            .delay
            .as_ref()
            .map(|d| (d.fixed_delay_ms, d.percentage)),
        Some((1500, 10.0))
    );
    assert_eq!(
        fault.abort.as_ref().map(|a| (a.grpc_status, a.percentage)),
        Some((Some(14), 0.0))
    );
    let d = with_rule(&out, "V-23");
    assert_eq!(d.len(), 1);
    assert_eq!(
        d[0].message,
        "fault configured but percentage absent: never injected"
    );
    // The API documents retries as disabled on a rule with a fault.
    assert!(route.retries.is_none());
    let out = one_rule(
        "  - route: [{destination: {host: a.org}}]\n    fault: {abort: {httpStatus: 700, percentage: {value: 1}}}\n",
    );
    assert!(no_routes(&out));
}

/// V-24: mirrors, timeout, retries (mesh default when unset) and CORS.
#[test]
fn v24_mirror_timeout_retries_cors() {
    let out = one_rule(
        "  - route: [{destination: {host: a.org}}]\n    mirror: {host: m.org}\n    mirrorPercentage: {value: 25}\n    timeout: 100ms\n    retries: {attempts: 3, perTryTimeout: 2s}\n    corsPolicy: {allowOrigins: [{exact: 'https://a.com'}], allowMethods: [GET], maxAge: 24h, unmatchedPreflights: IGNORE}\n",
    );
    let route = only_route(&out);
    assert_eq!(route.mirrors.len(), 1);
    assert_eq!(
        (
            route.mirrors[0].cluster.as_str(),
            route.mirrors[0].percentage
        ),
        ("outbound|80||m.org", 25.0)
    );
    assert_eq!(route.timeout_ms, Some(100));
    let retries = route.retries.as_ref().unwrap();
    assert_eq!(
        (retries.attempts, retries.per_try_timeout_ms),
        (3, Some(2000))
    );
    let cors = route.cors.as_ref().unwrap();
    assert_eq!(
        (cors.max_age_s, cors.ignore_unmatched_preflights),
        (Some(86400), true)
    );

    let out = one_rule("  - route: [{destination: {host: a.org}}]\n");
    let retries = only_route(&out).retries.as_ref().unwrap();
    assert_eq!(retries.attempts, 2);
    let out = one_rule("  - route: [{destination: {host: a.org}}]\n    retries: {attempts: 0}\n");
    assert!(only_route(&out).retries.is_none());
    let out = one_rule(
        "  - route: [{destination: {host: a.org}}]\n    mirror: {host: m.org}\n    mirrors: [{destination: {host: n.org}}]\n",
    );
    assert!(no_routes(&out));
}

/// V-27: durations Istio's validation refuses (under 1 ms, sub-millisecond precision, beyond
/// protobuf's range, maxAge not in whole seconds) drop the rule with an error; none of them
/// reaches the filters as a wrapped or saturated number.
#[test]
fn v27_durations_out_of_range_are_errors() {
    let cases = [
        ("    timeout: 0s\n", "timeout"),
        ("    timeout: 1.5ms\n", "timeout"),
        ("    timeout: 99999999999999999999999h\n", "timeout"),
        (
            "    retries: {attempts: 1, perTryTimeout: 315576000001s}\n",
            "perTryTimeout",
        ),
        (
            "    fault: {delay: {fixedDelay: 87660001h, percentage: {value: 1}}}\n",
            "fixedDelay",
        ),
        (
            "    corsPolicy: {allowOrigins: [{exact: 'https://a.com'}], maxAge: 1500ms}\n",
            "maxAge",
        ),
    ];
    for (option, field) in cases {
        let out = one_rule(&format!(
            "  - route: [{{destination: {{host: a.org}}}}]\n{option}"
        ));
        assert!(no_routes(&out), "{option}");
        let d: Vec<_> = out
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        assert_eq!(d.len(), 1, "{option}: {d:#?}");
        assert!(
            d[0].field.as_deref().is_some_and(|f| f.ends_with(field)),
            "{option}: {:?}",
            d[0].field
        );
    }
    let out = one_rule("  - route: [{destination: {host: a.org}}]\n    timeout: 315576000000s\n");
    assert_eq!(only_route(&out).timeout_ms, Some(315_576_000_000_000));
}
