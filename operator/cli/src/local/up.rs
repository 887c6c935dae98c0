//! The `up` loop: compile, start, watch, apply, stop on Ctrl-C.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::watch::Fingerprint;
use super::{Compiler, GatewayOptions, LocalGateway};

/// How often the directory is scanned when no change notification arrives: the safety net
/// for filesystems that do not notify (network mounts), and the pace of the Envoy check.
const POLL: Duration = Duration::from_millis(250);

/// How long `up` waits, when stopping, for the egress filter to deliver the audit records it
/// holds for a collector (Kubernetes' default grace period is 30 s; this stays well inside).
const AUDIT_FLUSH: Duration = Duration::from_secs(5);

/// Envoy restarts in a row, without one lasting a minute, before `up` gives up.
const MAX_RESTARTS: u32 = 5;

/// Options of `portcullis up`.
#[derive(Clone, Debug)]
pub struct UpOptions {
    /// The directory of resources.
    pub dir: PathBuf,
    /// Everything about the gateway process.
    pub gateway: GatewayOptions,
}

/// Runs until Ctrl-C (SIGINT) or SIGTERM. A change that fails to compile or that Envoy
/// rejects is reported and the last good configuration keeps serving.
pub async fn run_up(compiler: Arc<dyn Compiler>, opts: UpOptions) -> anyhow::Result<()> {
    // The fingerprint is taken before the files are read: an edit made while the first
    // compile or Envoy's start is under way then differs from it and is applied. Taken after,
    // it would already hold the edit, and the edit would never be served.
    let mut seen = Fingerprint::scan(&opts.dir);
    let compiled = compile(&compiler, &opts)
        .await
        .map_err(|e| anyhow::anyhow!("{} does not compile:\n{e}", opts.dir.display()))?;
    let mut gateway = LocalGateway::start(compiled, opts.gateway.clone()).await?;
    print_banner(&gateway, &opts);

    let mut ticker = tokio::time::interval(POLL);
    let mut notified = super::watch::Notifications::watch(&opts.dir);
    let (mut restarts, mut healthy_since) = (0u32, std::time::Instant::now());
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = ticker.tick() => {}
            _ = notified.next() => {}
        }
        if let Some(reason) = gateway.envoy_exited() {
            restarts += 1;
            if restarts > MAX_RESTARTS {
                anyhow::bail!("{reason}\nEnvoy exited {MAX_RESTARTS} times in a row; giving up");
            }
            eprintln!("✗ {reason}\n  restarting Envoy ({restarts} of {MAX_RESTARTS})");
            tokio::time::sleep(Duration::from_millis(200 * u64::from(restarts))).await;
            match gateway.restart_envoy().await {
                Ok(()) => {
                    eprintln!(
                        "✓ Envoy restarted; serving {}",
                        gateway.current().wire.config_version
                    );
                    healthy_since = std::time::Instant::now();
                }
                Err(e) => eprintln!("✗ Envoy did not come back: {e}"),
            }
            continue;
        }
        if restarts > 0 && healthy_since.elapsed() > Duration::from_secs(60) {
            restarts = 0;
        }
        let now = Fingerprint::scan(&opts.dir);
        if now == seen {
            continue;
        }
        seen = super::watch::settle(&opts.dir, now).await;
        match compile(&compiler, &opts).await {
            Err(e) => {
                eprintln!("✗ change does not compile; still serving the last good config:\n{e}")
            }
            Ok(c) if &c == gateway.current() => eprintln!("· change compiles to the same config"),
            Ok(c) => {
                let version = c.wire.config_version.clone();
                match gateway.apply(c).await {
                    Ok(r) => {
                        eprintln!(
                            "✓ applied {version}: updated {} in {:.1?}",
                            r.updated.join(", "),
                            r.elapsed
                        );
                        for (port, cluster) in r.new_demo_upstreams {
                            eprintln!("  demo upstream 127.0.0.1:{port} ({cluster})");
                        }
                    }
                    Err(e) => eprintln!("✗ {e}; still serving the last good config"),
                }
            }
        }
    }
    if let Some(flush) = gateway.flush_audit(AUDIT_FLUSH).await {
        if flush.undelivered == 0 {
            eprintln!(
                "audit: all {} records delivered (waited {:.1?})",
                flush.made, flush.waited
            );
        } else {
            eprintln!(
                "✗ audit: {} of {} records not delivered to the collector within {:?}; \
                 they are lost with Envoy",
                flush.undelivered, flush.made, AUDIT_FLUSH
            );
        }
    }
    eprintln!("stopping Envoy");
    gateway.stop().await?;
    Ok(())
}

/// Compiling is synchronous file and CPU work: keep it off the async workers.
async fn compile(
    compiler: &Arc<dyn Compiler>,
    opts: &UpOptions,
) -> Result<super::Compiled, String> {
    let compiler = Arc::clone(compiler);
    let dir = opts.dir.clone();
    tokio::task::spawn_blocking(move || compiler.compile(&dir))
        .await
        .map_err(|e| format!("compiler task failed: {e}"))?
}

fn print_banner(gateway: &LocalGateway, opts: &UpOptions) {
    println!("Portcullis gateway is up ({})", opts.dir.display());
    for (name, url) in gateway.listen_urls() {
        println!("  {name:<12} {url}");
    }
    println!("  admin        http://127.0.0.1:{}", gateway.admin().port());
    println!(
        "  xds          127.0.0.1:{} (portcullis status --server 127.0.0.1:{0})",
        gateway.xds_port()
    );
    println!("  envoy log    {}", gateway.envoy_log().display());
    println!("  access log   {}", gateway.access_log().display());
    let hosts = gateway.current().wire.listeners.iter().flat_map(|l| {
        l.virtual_hosts
            .iter()
            .flat_map(|v| v.domains.iter())
            .map(move |d| (l, d))
    });
    println!("Try:");
    for (l, domain) in hosts.take(6) {
        let host = domain.replace('*', "any");
        let scheme = if l.servers.iter().any(|s| s.tls) {
            "https"
        } else {
            "http"
        };
        let port = l.effective_bind_port();
        if scheme == "https" {
            println!("  curl -k --resolve {host}:{port}:127.0.0.1 https://{host}:{port}/");
        } else {
            println!("  curl -H 'Host: {host}' http://127.0.0.1:{port}/");
        }
    }
    if opts.gateway.demo_upstreams {
        println!("Demo upstreams echo what they receive as JSON.");
    }
    println!("Watching {} for changes; Ctrl-C stops.", opts.dir.display());
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
