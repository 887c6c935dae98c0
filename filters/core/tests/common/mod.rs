//! Builders shared by the scenario tests: wire configs as JSON (so the tests also exercise the
//! wire format) and requests.
#![allow(dead_code, reason = "each test binary uses a subset of the helpers")]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a failure must stop the test at once, like an assert"
)]

use portcullis_core::wire::WireConfig;
use portcullis_core::{
    Decision, ForwardPlan, Gateway, HostVerdict, Outcome, Refusal, RequestView, SplitMix64,
};
use serde_json::{Value, json};

/// A config with the given listeners.
pub fn config(listeners: Vec<Value>) -> Value {
    json!({ "version": 1, "configVersion": "sha256:test", "listeners": listeners })
}

/// A listener on `port` with servers and virtual hosts.
pub fn listener(port: u16, servers: Vec<Value>, vhosts: Vec<Value>) -> Value {
    json!({ "port": port, "servers": servers, "virtualHosts": vhosts })
}

/// A plain server listing `hosts`.
pub fn server(name: &str, hosts: &[&str]) -> Value {
    json!({ "name": name, "hosts": hosts })
}

/// A virtual host.
pub fn vhost(name: &str, domains: &[&str], routes: Vec<Value>) -> Value {
    json!({ "name": name, "domains": domains, "routes": routes })
}

/// A route with a match (use `json!({})` for none) and an action.
pub fn route(name: &str, matcher: Value, action: Value) -> Value {
    json!({ "name": name, "virtualService": "ns/vs", "match": matcher, "action": action })
}

/// A forward action to one cluster.
pub fn fwd(cluster: &str) -> Value {
    json!({ "route": { "destinations": [{ "cluster": cluster, "weight": 100 }] } })
}

/// Compiles a JSON config, failing the test on any error.
pub fn gateway(config: Value) -> Gateway {
    let wire = WireConfig::from_json(config.to_string().as_bytes()).unwrap();
    Gateway::compile(&wire).unwrap()
}

/// Compiles a JSON config that must be refused; returns the error text.
pub fn refused(config: Value) -> String {
    let wire = WireConfig::from_json(config.to_string().as_bytes()).unwrap();
    Gateway::compile(&wire).unwrap_err().to_string()
}

/// One listener on port 80 with a `*` server and the given vhosts.
pub fn simple(vhosts: Vec<Value>) -> Gateway {
    gateway(config(vec![listener(
        80,
        vec![server("ns/gw/http", &["*"])],
        vhosts,
    )]))
}

/// One listener, `*` server, one `*` vhost holding `routes`.
pub fn routes(routes: Vec<Value>) -> Gateway {
    simple(vec![vhost("all", &["*"], routes)])
}

/// An owned request.
#[derive(Clone, Debug)]
pub struct Req {
    pub bind_port: u16,
    pub authority: String,
    pub path: String,
    pub method: String,
    pub scheme: String,
    pub tls: bool,
    pub sni: Option<String>,
    pub filter_chain: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl Req {
    pub fn view(&self) -> RequestView<'_> {
        RequestView {
            bind_port: self.bind_port,
            authority: &self.authority,
            path: &self.path,
            method: &self.method,
            scheme: &self.scheme,
            tls: self.tls,
            sni: self.sni.as_deref(),
            filter_chain: self.filter_chain.as_deref(),
            headers: &self.headers,
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }

    pub fn method(mut self, m: &str) -> Self {
        self.method = m.to_string();
        self
    }

    /// The scheme, on a connection of that kind (`https`: TLS, as Envoy would report it).
    pub fn scheme(mut self, s: &str) -> Self {
        self.scheme = s.to_string();
        self.tls = s.eq_ignore_ascii_case("https");
        self
    }

    /// `:scheme` as a client claims it, whatever the connection (a cleartext HTTP/2 client may
    /// send `https`).
    pub fn claimed_scheme(mut self, s: &str) -> Self {
        self.scheme = s.to_string();
        self
    }

    /// An https request on a TLS connection with this SNI (`None`: the client sent none).
    pub fn tls(mut self, sni: Option<&str>) -> Self {
        self.scheme = "https".to_string();
        self.tls = true;
        self.sni = sni.map(str::to_string);
        self
    }

    pub fn port(mut self, p: u16) -> Self {
        self.bind_port = p;
        self
    }
}

/// A plain-text GET on port 80.
pub fn get(authority: &str, path: &str) -> Req {
    Req {
        bind_port: 80,
        authority: authority.to_string(),
        path: path.to_string(),
        method: "GET".to_string(),
        scheme: "http".to_string(),
        tls: false,
        sni: None,
        filter_chain: None,
        headers: Vec::new(),
    }
}

/// Decides with a fixed seed.
pub fn decide<'g>(gw: &'g Gateway, req: &Req) -> Decision<'g> {
    gw.decide(&req.view(), &mut SplitMix64(7))
}

/// The refusal of a decision, if any.
pub fn refusal(gw: &Gateway, req: &Req) -> Option<Refusal> {
    match decide(gw, req).outcome {
        Outcome::Refused(r) => Some(r),
        _ => None,
    }
}

/// The forward plan of a decision; fails the test otherwise.
pub fn plan<'g>(gw: &'g Gateway, req: &Req) -> ForwardPlan<'g> {
    match decide(gw, req).outcome {
        Outcome::Forward(p) => p,
        other => panic!("expected a forward for {req:?}, got {other:?}"),
    }
}

/// The cluster chosen, or `None` when the request is not forwarded.
pub fn cluster(gw: &Gateway, req: &Req) -> Option<String> {
    match decide(gw, req).outcome {
        Outcome::Forward(p) => Some(p.cluster.to_string()),
        _ => None,
    }
}

/// The route chosen (evidence), if any.
pub fn route_name(gw: &Gateway, req: &Req) -> Option<String> {
    decide(gw, req).evidence.route.map(str::to_string)
}

/// The redirect (status, location) of a decision; fails the test otherwise.
pub fn redirect(gw: &Gateway, req: &Req) -> (u16, String) {
    match decide(gw, req).outcome {
        Outcome::Redirect {
            status, location, ..
        } => (status, location),
        other => panic!("expected a redirect for {req:?}, got {other:?}"),
    }
}

/// True when the host filter admits the request.
pub fn admitted(gw: &Gateway, req: &Req) -> bool {
    matches!(gw.admit_host(&req.view()), HostVerdict::Admitted(_))
}

/// A terminated HTTPS server listing `hosts` with its own route table (G-11).
pub fn tls_server(name: &str, hosts: &[&str], vhosts: Vec<Value>) -> Value {
    json!({ "name": name, "hosts": hosts, "tls": true, "virtualHosts": vhosts })
}
