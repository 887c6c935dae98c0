//! G-11: the router routes in the table of the server whose filter chain Envoy chose, so the
//! filter and Envoy cannot disagree on the server, through a real Envoy. One port carries a
//! MUTUAL server for `secure.example.com`, a SIMPLE server for `*.example.com` and a SIMPLE
//! server for `*`, each with its own certificate (told apart by its common name) and its own
//! upstream. Hostile SNIs — trailing dot, `:port`, case, none, IP literals, a leading dot,
//! over-long and non-ASCII names — are sent without a client certificate: the certificate
//! Envoy presents shows the chain it chose, the upstream that answers shows the table the
//! filter routed in, and the two must name the same server, which must also be the server the
//! core's Envoy-rule SNI match predicts (what `explain --sni` says). No SNI ever reaches the
//! MUTUAL server's routes without a client certificate.

use crate::support::*;
use portcullis_compile::plan::{EnvoyPlan, ListenerKind, ListenerPlan, PemSource, TlsChainPlan};
use portcullis_core::{Gateway, RequestView, SplitMix64};
use rcgen::{CertificateParams, DnType, KeyPair};
use serde_json::{Value, json};

/// (server name, hosts, certificate CN, upstream cluster, MUTUAL).
const SERVERS: [(&str, &str, &str, &str, bool); 3] = [
    (
        "default/secure/https",
        "secure.example.com",
        "cn-secure",
        "secure",
        true,
    ),
    (
        "default/wild/https",
        "*.example.com",
        "cn-wild",
        "wild",
        false,
    ),
    ("default/any/https", "*", "cn-any", "any", false),
];

/// A self-signed certificate whose subject is `CN=<cn>`: (certificate PEM, key PEM).
fn cert(cn: &str) -> (String, String) {
    let mut params = CertificateParams::new(vec!["secure.example.com".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    let key = KeyPair::generate().unwrap();
    (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

/// What one TLS connection showed: the common name of the certificate Envoy presented (None:
/// no handshake) and the HTTP answer, if any.
#[derive(Debug)]
struct Seen {
    cn: Option<String>,
    response: String,
}

/// `openssl s_client` sends the SNI bytes exactly as given (curl drops a trailing dot, for
/// one), presents no client certificate, and sends one HTTP/1.1 request for `host`.
async fn connect(port: u16, sni: Option<&str>, host: &str) -> Seen {
    let mut cmd = tokio::process::Command::new("openssl");
    cmd.args([
        "s_client",
        "-quiet",
        "-connect",
        &format!("127.0.0.1:{port}"),
    ]);
    match sni {
        Some(name) => cmd.args(["-servername", name]),
        None => cmd.arg("-noservername"),
    };
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        let request = format!("GET /x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let _ = stdin.write_all(request.as_bytes()).await;
        // Dropping stdin would make s_client close before the answer; -quiet implies
        // -ign_eof, so keep it open until the server closes.
        let out = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            child.wait_with_output().await
        })
        .await
        .expect("openssl s_client did not finish")
        .unwrap();
        drop(stdin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let cn = stderr
            .lines()
            .find_map(|l| l.strip_prefix("depth=0 CN = "))
            .map(|cn| cn.trim().to_string());
        Seen {
            cn,
            response: String::from_utf8_lossy(&out.stdout).to_string(),
        }
    }
}

fn upstream_of(response: &str) -> Option<String> {
    let body = response.split_once("\r\n\r\n")?.1;
    let echo: Value = serde_json::from_str(body.trim()).ok()?;
    echo["upstream"].as_str().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g11_the_filter_routes_in_the_table_of_the_chain_envoy_chose() {
    let bind = free_port();
    let certs: Vec<(String, String)> = SERVERS.iter().map(|s| cert(s.2)).collect();
    let ca = cert("client-ca").0;
    let servers: Vec<Value> = SERVERS
        .iter()
        .map(|(name, host, _, cluster, _)| {
            json!({ "name": name, "hosts": [host], "tls": true, "filterChain": name,
                    "virtualHosts": [{ "name": cluster, "domains": ["*"], "routes": [
                        { "name": cluster, "action": { "route": {
                            "destinations": [{ "cluster": cluster, "weight": 100 }] } } }
                    ]}] })
        })
        .collect();
    let wire = wire(json!({
        "version": 1,
        "configVersion": "sni",
        "listeners": [{ "port": 443, "bindPort": bind, "servers": servers }],
    }));
    let core = Gateway::compile(&wire).unwrap();
    let plan = EnvoyPlan {
        listeners: vec![ListenerPlan {
            name: "https.443".into(),
            gateway_port: 443,
            bind_port: bind,
            bind_address: None,
            kind: ListenerKind::Ingress,
            tls_chains: SERVERS
                .iter()
                .zip(&certs)
                .map(|((name, host, _, _, mutual), (cert, key))| TlsChainPlan {
                    name: (*name).into(),
                    server_names: if *host == "*" {
                        vec![]
                    } else {
                        vec![(*host).into()]
                    },
                    certificate_chain: PemSource::Inline(cert.clone()),
                    private_key: PemSource::Inline(key.clone()),
                    client_ca: mutual.then(|| PemSource::Inline(ca.clone())),
                    require_client_certificate: *mutual,
                    settings: Default::default(),
                    tcp: None,
                })
                .collect(),
            passthrough: vec![],
            tcp: None,
        }],
        clusters: SERVERS
            .iter()
            .map(|s| local_cluster(s.3, free_port()))
            .collect(),
    };
    let gw = start(wire, plan).await;

    let long = format!("{}.example.com", ["a"; 115].join("."));
    let snis: Vec<Option<String>> = [
        "secure.example.com",
        "SECURE.Example.COM",
        "secure.example.com.",
        "secure.example.com:443",
        "secure.example.com.:443",
        "a.example.com",
        "a.b.example.com",
        ".example.com",
        "example.com",
        "example.com.",
        "127.0.0.1",
        "[::1]",
        "::1",
        "sécure.example.com",
        long.as_str(),
    ]
    .into_iter()
    .map(|s| Some(s.to_string()))
    .chain([None])
    .collect();

    let mut connections = tokio::task::JoinSet::new();
    for sni in snis {
        connections.spawn(async move {
            let seen = connect(bind, sni.as_deref(), "secure.example.com").await;
            (sni, seen)
        });
    }
    let mut problems = Vec::new();
    let mut reached = 0;
    while let Some(done) = connections.join_next().await {
        let (sni, seen) = done.unwrap();
        // The server the core predicts from the SNI alone, as Envoy matches server names.
        let headers: Vec<(String, String)> = Vec::new();
        let view = RequestView {
            bind_port: bind,
            authority: "secure.example.com",
            path: "/x",
            method: "GET",
            scheme: "https",
            tls: true,
            sni: sni.as_deref(),
            filter_chain: None,
            headers: &headers,
        };
        let predicted = core
            .decide(&view, &mut SplitMix64(1))
            .evidence
            .server
            .map(str::to_string);
        let chain = SERVERS
            .iter()
            .find(|s| seen.cn.as_deref() == Some(s.2))
            .map(|s| s.0.to_string());
        if chain != predicted {
            problems.push(format!(
                "{sni:?}: Envoy chose {chain:?} ({:?}), the core predicts {predicted:?}",
                seen.cn
            ));
        }
        let upstream = upstream_of(&seen.response);
        match SERVERS.iter().find(|s| Some(s.0.to_string()) == chain) {
            Some((_, _, _, _, true)) => {
                if upstream.is_some() {
                    problems.push(format!(
                        "{sni:?}: the MUTUAL server answered without a client certificate"
                    ));
                }
            }
            Some((_, _, _, cluster, false)) => {
                reached += 1;
                if upstream.as_deref() != Some(*cluster) {
                    problems.push(format!(
                        "{sni:?}: Envoy's chain is {chain:?} but {upstream:?} answered: {:?}",
                        seen.response
                    ));
                }
            }
            None => problems.push(format!("{sni:?}: no certificate seen: {seen:?}")),
        }
    }
    problems.sort();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(reached >= 10, "only {reached} connections were routed");
    finish(gw).await;
}
