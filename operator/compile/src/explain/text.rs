//! The text form of an [`Explanation`], as `portcullis explain` prints it: one aligned
//! `label value` line per step of the decision, then the outcome and the config version.

use std::fmt::Write as _;

use super::{ExplainedOutcome, Explanation};

/// Renders `e` for a terminal (no trailing newline).
pub fn render(e: &Explanation) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: &str| {
        let _ = writeln!(out, "{label:<15} {value}");
    };
    let or_none = |v: &Option<String>| v.as_deref().unwrap_or("-").to_string();
    line(
        "listener",
        &format!(
            "gateway port {} (Envoy binds {})",
            e.listener_port, e.bind_port
        ),
    );
    if let Some(sni) = &e.sni {
        line("sni", sni);
    }
    line("server", &or_none(&e.server));
    line("matched host", &or_none(&e.matched_host));
    line("virtual host", &or_none(&e.virtual_host));
    line("route", &or_none(&e.route));
    line("virtualService", &or_none(&e.virtual_service));
    match &e.outcome {
        ExplainedOutcome::Refused {
            status,
            code,
            reason,
        } => line("outcome", &format!("refused: {status} {code} ({reason})")),
        ExplainedOutcome::Redirect {
            status, location, ..
        } => line("outcome", &format!("redirect {status} to {location}")),
        ExplainedOutcome::DirectResponse { status, .. } => {
            line("outcome", &format!("direct response {status}"));
        }
        ExplainedOutcome::Abort { status, .. } => line("outcome", &format!("fault abort {status}")),
        ExplainedOutcome::CorsPreflight { .. } => {
            line("outcome", "CORS preflight answered locally")
        }
        ExplainedOutcome::Forward {
            cluster,
            path,
            authority,
            ..
        } => {
            line("outcome", &format!("forward to {cluster}"));
            if let Some(path) = path {
                line("  path rewrite", path);
            }
            if let Some(authority) = authority {
                line("  authority", authority);
            }
        }
    }
    let _ = write!(out, "{:<15} {}", "config", e.config_version);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::Header;

    fn explanation(outcome: ExplainedOutcome) -> Explanation {
        Explanation {
            config_version: "sha256:00".into(),
            listener_port: 80,
            bind_port: 10080,
            sni: None,
            server: Some("shop/gw/http".into()),
            matched_host: Some("shop.example".into()),
            virtual_host: Some("shop.example:80".into()),
            route: Some("shop/shop/0/0".into()),
            virtual_service: Some("shop/shop".into()),
            outcome,
        }
    }

    #[test]
    fn forward_with_rewrites() {
        let e = explanation(ExplainedOutcome::Forward {
            cluster: "outbound|80||web.shop.svc.cluster.local".into(),
            path: Some("/v1/x".into()),
            authority: Some("api.internal".into()),
            delay_ms: None,
            timeout_ms: Some(1500),
            retries: None,
            mirrors: vec![],
            request_headers: vec![],
            response_headers: vec![],
        });
        assert_eq!(
            render(&e),
            "\
listener        gateway port 80 (Envoy binds 10080)
server          shop/gw/http
matched host    shop.example
virtual host    shop.example:80
route           shop/shop/0/0
virtualService  shop/shop
outcome         forward to outbound|80||web.shop.svc.cluster.local
  path rewrite  /v1/x
  authority     api.internal
config          sha256:00"
        );
    }

    #[test]
    fn local_answers_and_refusals() {
        let outcome_line = |outcome| {
            render(&explanation(outcome))
                .lines()
                .find(|l| l.starts_with("outcome"))
                .map(str::to_string)
        };
        let cases = [
            (
                ExplainedOutcome::Redirect {
                    status: 308,
                    location: "http://shop.example/new".into(),
                    response_headers: None,
                },
                "outcome         redirect 308 to http://shop.example/new",
            ),
            (
                ExplainedOutcome::DirectResponse {
                    status: 200,
                    body: "ok\n".into(),
                    response_headers: None,
                },
                "outcome         direct response 200",
            ),
            (
                ExplainedOutcome::Abort {
                    status: 503,
                    grpc_status: None,
                },
                "outcome         fault abort 503",
            ),
            (
                ExplainedOutcome::CorsPreflight {
                    status: 200,
                    headers: vec![Header {
                        name: "access-control-allow-origin".into(),
                        value: "https://shop.example".into(),
                    }],
                },
                "outcome         CORS preflight answered locally",
            ),
            (
                ExplainedOutcome::Refused {
                    status: 404,
                    code: "host_not_allowed",
                    reason: "no gateway server on this port lists the host",
                },
                "outcome         refused: 404 host_not_allowed (no gateway server on this port lists the host)",
            ),
        ];
        for (outcome, expected) in cases {
            assert_eq!(outcome_line(outcome).as_deref(), Some(expected));
        }
    }

    #[test]
    fn sni_and_missing_steps() {
        let mut e = explanation(ExplainedOutcome::Abort {
            status: 503,
            grpc_status: None,
        });
        e.sni = Some("secure.shop.example".into());
        e.route = None;
        let text = render(&e);
        assert!(
            text.contains("\nsni             secure.shop.example\n"),
            "{text}"
        );
        assert!(text.contains("\nroute           -\n"), "{text}");
    }
}
