//! An Envoy left running by an earlier run on the same state directory.
//!
//! `portcullis up` stops its Envoy when it is stopped (SIGTERM, Ctrl-C), but a SIGKILL (an OOM
//! kill, `kill -9`, a crashed terminal) gives it no chance: the Envoy lives on, orphaned, with
//! the gateway's ports bound, and the next `up` could not bind them. So the Envoy's pid is kept
//! in the state directory, and a start on that directory first stops the Envoy the pid names,
//! if it is still the one started there (its command line names this state directory's
//! bootstrap: a pid the system has since reused for something else is left alone) and no
//! `portcullis` process still owns it (two runs on one state directory are refused instead).
//!
//! Linux: processes are read from `/proc`; elsewhere nothing is found and nothing is stopped.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Error, Result};

/// Where the pid of the Envoy logging to `log_path` is kept.
pub fn pid_file(log_path: &Path) -> PathBuf {
    log_path.with_extension("pid")
}

/// Records the pid of the Envoy just started.
pub fn record(log_path: &Path, pid: u32) -> Result<()> {
    use std::io::Write as _;
    let path = pid_file(log_path);
    let mut file = super::files::create_private_file(&path)?;
    file.write_all(pid.to_string().as_bytes())
        .map_err(|e| Error::io("write", &path, e))
}

/// Forgets the recorded pid (the Envoy is gone).
pub fn forget(log_path: &Path) {
    let _ = std::fs::remove_file(pid_file(log_path));
}

/// Stops the Envoy an earlier run left behind for `bootstrap`, if there is one. Errors when
/// that Envoy still has a live `portcullis` parent: another run owns the state directory.
pub async fn stop(log_path: &Path, bootstrap: &Path) -> Result<()> {
    let Some(pid) = std::fs::read_to_string(pid_file(log_path))
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
    else {
        return Ok(());
    };
    if !runs_bootstrap(pid, bootstrap) {
        // Gone, or the pid now names another process.
        forget(log_path);
        return Ok(());
    }
    if let Some(parent) = parent(pid).filter(|p| *p != std::process::id())
        && command_name(parent).as_deref() == Some("portcullis")
    {
        return Err(Error::Process(format!(
            "another portcullis (pid {parent}) runs Envoy (pid {pid}) on this state directory \
             ({}); stop it first or use another --state-dir",
            bootstrap.parent().unwrap_or(bootstrap).display()
        )));
    }
    tracing::warn!(
        pid,
        "stopping the Envoy an earlier run left behind on this state directory"
    );
    signal("-TERM", pid).await;
    if !gone_within(pid, bootstrap, Duration::from_secs(5)).await {
        signal("-KILL", pid).await;
        gone_within(pid, bootstrap, Duration::from_secs(2)).await;
    }
    forget(log_path);
    Ok(())
}

/// Whether process `pid` is an Envoy started with `-c bootstrap`.
fn runs_bootstrap(pid: u32, bootstrap: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let bootstrap = bootstrap.as_os_str().as_encoded_bytes();
    args.windows(2).any(|w| w[0] == b"-c" && w[1] == bootstrap)
}

/// The parent pid of `pid` (`/proc/<pid>/stat`, the field after the command name).
fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or parentheses.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

fn command_name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim().to_string())
}

/// Sends a signal with `kill(1)`: there is no libc binding here (unsafe is forbidden).
async fn signal(which: &str, pid: u32) {
    let _ = tokio::process::Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .await;
}

async fn gone_within(pid: u32, bootstrap: &Path, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if !runs_bootstrap(pid, bootstrap) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parent pid is read after the command name, whatever that name contains.
    #[test]
    fn parent_of_this_process() {
        let me = std::process::id();
        let expected = std::fs::read_to_string(format!("/proc/{me}/status"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .map(|p| p.trim().parse::<u32>().unwrap());
        assert_eq!(parent(me), expected);
    }

    /// A recorded pid that no longer runs this bootstrap is forgotten, and nothing is stopped.
    #[tokio::test]
    async fn a_stale_pid_is_forgotten() {
        let dir = std::env::temp_dir().join(format!("portcullis-leftover-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("envoy.log");
        // This test process is alive but is no Envoy for this bootstrap.
        record(&log, std::process::id()).unwrap();
        stop(&log, &dir.join("bootstrap.json")).await.unwrap();
        assert!(!pid_file(&log).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
