//! V-25: delegate VirtualServices merged into the root rules that delegate to them.

use portcullis_core::wire::StringMatch;

use super::*;
use crate::diagnostics::{Effect, Severity};

/// The delegation example of Istio's VirtualService reference: a root for `bookinfo.com`
/// delegating `/productpage` and `/reviews` to VirtualServices in other namespaces.
fn bookinfo(productpage_rules: &str) -> String {
    gateway("default", "gw", "['*']")
        + &format!(
            "
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: bookinfo, namespace: default}}
spec:
  hosts: [bookinfo.com]
  gateways: [gw]
  http:
  - match: [{{uri: {{prefix: /productpage}}}}]
    delegate: {{name: productpage, namespace: nsa}}
  - match: [{{uri: {{prefix: /reviews}}}}]
    delegate: {{name: reviews, namespace: nsb}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: productpage, namespace: nsa}}
spec:
  http:
{productpage_rules}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews, namespace: nsb}}
spec:
  http:
  - route: [{{destination: {{host: reviews}}}}]
"
        )
}

const PRODUCTPAGE: &str = "  - match: [{uri: {prefix: /productpage/v1/}}]
    route: [{destination: {host: productpage-v1}}]
  - route: [{destination: {host: productpage}}]
";

fn uri_and_cluster(out: &CompileOutput) -> Vec<(Option<StringMatch>, String)> {
    vhost(out, 80, "bookinfo.com")
        .routes
        .iter()
        .map(|r| (r.matcher.uri.clone(), destinations(r)[0].0.to_string()))
        .collect()
}

fn prefix(p: &str) -> Option<StringMatch> {
    Some(StringMatch::Prefix(p.into()))
}

/// Each delegating rule is replaced by the delegate's rules, in order, each within the root's
/// match; a delegate's short names are its own namespace's.
#[test]
fn v25_delegate_rules_take_the_place_of_the_delegating_rule() {
    let out = compile_yaml(&bookinfo(PRODUCTPAGE));
    assert_eq!(
        uri_and_cluster(&out),
        [
            (
                prefix("/productpage/v1/"),
                "outbound|80||productpage-v1.nsa.svc.cluster.local".to_string()
            ),
            (
                prefix("/productpage"),
                "outbound|80||productpage.nsa.svc.cluster.local".to_string()
            ),
            (
                prefix("/reviews"),
                "outbound|80||reviews.nsb.svc.cluster.local".to_string()
            ),
        ]
    );
    assert!(
        out.diagnostics
            .iter()
            .all(|d| d.severity != Severity::Error),
        "{:#?}",
        out.diagnostics
    );
}

/// Istio's `hasConflict`: a delegate block outside the root's match (another prefix, a regex)
/// leaves that delegate rule out, with a warning naming it; an exact path within the prefix
/// and a longer prefix merge.
#[test]
fn v25_a_delegate_rule_outside_the_root_match_is_left_out() {
    let out = compile_yaml(&bookinfo(
        "  - match: [{uri: {prefix: /other}}]
    route: [{destination: {host: other}}]
  - match: [{uri: {regex: '/productpage/.*'}}]
    route: [{destination: {host: regex}}]
  - match: [{uri: {exact: /productpage/x}}, {uri: {prefix: /elsewhere}}]
    route: [{destination: {host: half}}]
  - match: [{uri: {exact: /productpage/x}}, {method: {exact: POST}}]
    route: [{destination: {host: exact}}]
",
    ));
    assert_eq!(
        uri_and_cluster(&out),
        [
            (
                Some(StringMatch::Exact("/productpage/x".into())),
                "outbound|80||exact.nsa.svc.cluster.local".to_string()
            ),
            // A block without a uri takes the root's.
            (
                prefix("/productpage"),
                "outbound|80||exact.nsa.svc.cluster.local".to_string()
            ),
            (
                prefix("/reviews"),
                "outbound|80||reviews.nsb.svc.cluster.local".to_string()
            ),
        ]
    );
    let left_out: Vec<(&str, Option<&str>, Severity)> = with_rule(&out, "V-25")
        .into_iter()
        .map(|d| (d.resource.as_str(), d.field.as_deref(), d.severity))
        .collect();
    assert_eq!(
        left_out,
        [
            (
                "VirtualService nsa/productpage",
                Some("spec.http[0].match"),
                Severity::Warning
            ),
            (
                "VirtualService nsa/productpage",
                Some("spec.http[1].match"),
                Severity::Warning
            ),
            (
                "VirtualService nsa/productpage",
                Some("spec.http[2].match"),
                Severity::Warning
            ),
        ]
    );
}

/// Istio's `mergeHTTPRoute`: the delegate rule keeps its own settings and takes the root's
/// where it has none; names join as `root-delegate`; header conditions are the union.
#[test]
fn v25_merged_rules_inherit_the_root_settings() {
    let yaml = gateway("default", "gw", "['*']")
        + "
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: root, namespace: default}
spec:
  hosts: ['*']
  gateways: [gw]
  http:
  - name: api
    match: [{name: team, uri: {prefix: /api}, headers: {x-team: {exact: a}}}]
    timeout: 3s
    headers: {request: {set: {x-from: root}}}
    delegate: {name: child}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: child, namespace: default}
spec:
  http:
  - name: slow
    match: [{name: user, uri: {prefix: /api/slow}, headers: {x-user: {exact: b}}}]
    timeout: 9s
    route: [{destination: {host: slow}}]
  - route: [{destination: {host: rest}}]
";
    let out = compile_yaml(&yaml);
    let vh = vhost(&out, 80, "*");
    assert_eq!(route_names(vh), ["api-slow.team-user", "api.team"]);
    let slow = &vh.routes[0];
    assert_eq!(slow.timeout_ms, Some(9000));
    assert_eq!(
        slow.matcher.headers.keys().collect::<Vec<_>>(),
        ["x-team", "x-user"]
    );
    assert_eq!(
        slow.headers.request.set.get("x-from").map(String::as_str),
        Some("root"),
        "the root's header operations apply"
    );
    let rest = &vh.routes[1];
    assert_eq!(rest.timeout_ms, Some(3000));
    assert_eq!(rest.matcher.uri, prefix("/api"));
    assert_eq!(
        destinations(rest)[0].0,
        "outbound|80||rest.default.svc.cluster.local"
    );
}

/// A delegate that does not exist, or is not exported to the root's namespace, leaves the
/// delegating rule out with a warning, as Istio does; the rest of the root serves.
#[test]
fn v25_a_missing_or_hidden_delegate_leaves_only_that_rule_out() {
    let yaml = bookinfo("  - route: [{destination: {host: productpage}}]\n").replace(
        "metadata: {name: reviews, namespace: nsb}\nspec:\n",
        "metadata: {name: reviews, namespace: nsb}\nspec:\n  exportTo: ['.']\n",
    );
    let out = compile_yaml(&yaml);
    assert_eq!(
        uri_and_cluster(&out),
        [(
            prefix("/productpage"),
            "outbound|80||productpage.nsa.svc.cluster.local".to_string()
        )]
    );
    let warning = &with_rule(&out, "V-25")[0];
    assert_eq!(
        (warning.resource.as_str(), warning.field.as_deref()),
        (
            "VirtualService default/bookinfo",
            Some("spec.http[1].delegate")
        )
    );
    assert!(
        warning.message.contains("not exported"),
        "{}",
        warning.message
    );

    let out = compile_yaml(&bookinfo(PRODUCTPAGE).replace(
        "delegate: {name: reviews, namespace: nsb}",
        "delegate: {name: missing, namespace: nsb}",
    ));
    let missing = with_rule(&out, "V-25");
    assert!(
        missing.iter().any(|d| d.message.contains("not found")),
        "{missing:#?}"
    );
}

/// A diagnostic about a merged rule names what the user wrote: an invalid regex in a delegate
/// rule refuses the delegate, at its own field; one in the delegating rule's match
/// refuses the root.
#[test]
fn v25_diagnostics_name_the_resource_that_holds_the_field() {
    let out = compile_yaml(&bookinfo(
        "  - match: [{headers: {x-id: {regex: '('}}}]
    route: [{destination: {host: productpage}}]
",
    ));
    let error = out
        .diagnostics
        .iter()
        .find(|d| d.severity == Severity::Error)
        .expect("an error");
    assert_eq!(
        (
            error.resource.as_str(),
            error.field.as_deref(),
            error.effect
        ),
        (
            "VirtualService nsa/productpage",
            Some("spec.http[0].match[0].headers.x-id"),
            Some(Effect::RefusesResource)
        )
    );

    let out = compile_yaml(&bookinfo(PRODUCTPAGE).replace(
        "match: [{uri: {prefix: /productpage}}]",
        "match: [{uri: {prefix: /productpage}, headers: {x-id: {regex: '('}}}]",
    ));
    let error = out
        .diagnostics
        .iter()
        .find(|d| d.severity == Severity::Error)
        .expect("an error");
    assert_eq!(
        (error.resource.as_str(), error.field.as_deref()),
        (
            "VirtualService default/bookinfo",
            Some("spec.http[0].match[0].headers.x-id")
        )
    );
}

/// Istio's validation of a delegate: no gateways, no tcp or tls rules, no delegation of its
/// own; each refuses the delegate. A delegate nothing delegates to is reported as unused.
#[test]
fn v25_delegate_validation() {
    let out = compile_yaml(&bookinfo(
        "  - route: [{destination: {host: productpage}}]
  - match: [{uri: {prefix: /productpage/deeper}}]
    delegate: {name: reviews, namespace: nsb}
",
    ));
    let nested = out
        .diagnostics
        .iter()
        .find(|d| d.message.contains("cannot delegate again"))
        .expect("nested delegation refused");
    assert_eq!(
        (
            nested.resource.as_str(),
            nested.field.as_deref(),
            nested.effect
        ),
        (
            "VirtualService nsa/productpage",
            Some("spec.http[1].delegate"),
            Some(Effect::RefusesResource)
        )
    );

    let yaml = bookinfo(PRODUCTPAGE).replace(
        "metadata: {name: productpage, namespace: nsa}\nspec:\n",
        "metadata: {name: productpage, namespace: nsa}\nspec:\n  gateways: [default/gw]\n",
    ) + "---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: orphan, namespace: default}
spec:
  http:
  - route: [{destination: {host: a}}]
";
    let out = compile_yaml(&yaml);
    let mut refs: Vec<(&str, Severity)> = with_rule(&out, "V-25")
        .into_iter()
        .map(|d| (d.resource.as_str(), d.severity))
        .collect();
    refs.sort_by_key(|(resource, _)| *resource);
    assert_eq!(
        refs,
        [
            ("VirtualService default/orphan", Severity::Info),
            ("VirtualService nsa/productpage", Severity::Error),
        ]
    );
}
