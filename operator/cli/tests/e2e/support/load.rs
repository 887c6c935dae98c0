//! Concurrent clients sending one request after another to a gateway while a test changes its
//! configuration, recording every answer that is not a 200 from an expected upstream.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::http::get;

/// Clients running until [`Load::finish`].
pub struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

/// What the clients saw.
pub struct Outcome {
    /// Requests sent.
    pub sent: u64,
    /// Each failed request: status and body, or the client error.
    pub failures: Vec<String>,
}

impl Load {
    /// `clients` clients asking `host` for `/` on `port`; an answer counts as good when it is
    /// a 200 from one of `upstreams`.
    pub fn start(
        port: u16,
        host: &'static str,
        upstreams: &'static [&'static str],
        clients: usize,
    ) -> Self {
        let load = Load {
            stop: Arc::default(),
            sent: Arc::default(),
            failures: Arc::default(),
            clients: Vec::new(),
        };
        let clients = (0..clients)
            .map(|_| {
                let (stop, sent, failures) = (
                    Arc::clone(&load.stop),
                    Arc::clone(&load.sent),
                    Arc::clone(&load.failures),
                );
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let answer = get(host, "/").try_send(port).await;
                        sent.fetch_add(1, Ordering::Relaxed);
                        let failure = match answer {
                            Ok(r)
                                if r.status == 200
                                    && upstreams.contains(&r.upstream().as_str()) =>
                            {
                                continue;
                            }
                            Ok(r) => format!("{} {:?}", r.status, r.body),
                            Err(e) => e.to_string(),
                        };
                        failures.lock().unwrap().push(failure);
                    }
                })
            })
            .collect();
        Load { clients, ..load }
    }

    /// Stops the clients and returns what they saw.
    pub async fn finish(self) -> Outcome {
        self.stop.store(true, Ordering::Relaxed);
        for client in self.clients {
            client.await.unwrap();
        }
        Outcome {
            sent: self.sent.load(Ordering::Relaxed),
            failures: std::mem::take(&mut *self.failures.lock().unwrap()),
        }
    }
}
