//! The held-records ledger in Envoy's shared data ([`portcullis_core::audit::Ledger`]): each
//! collector pipeline refreshes its entry on its tick and removes it when it retires; any
//! pipeline reaps the entries of VMs that died (a trap) and counts their records as dropped.

use portcullis_core::audit::Ledger;
use portcullis_glue::abi;

/// The shared-data key (per `vm_id`, like the queue).
const KEY: &str = "portcullis.audit.held";

/// Attempts at a compare-and-swap update before giving up until the next tick.
const ATTEMPTS: usize = 4;

/// Refreshes entry `id` with `held` records at `now_ms`, reaping dead VMs' entries; returns
/// the records those held (lost in a trap).
pub fn refresh(id: &str, held: u64, now_ms: u64) -> u64 {
    update(|ledger| {
        ledger.refresh(id, held, now_ms);
        ledger.reap(now_ms)
    })
}

/// Removes entry `id`: its pipeline retired and handed its records on.
pub fn remove(id: &str) {
    update(|ledger| {
        ledger.remove(id);
        0
    });
}

/// Applies `change` under compare-and-swap; what `change` returns counts only for the attempt
/// that was stored (a lost race is retried on fresh data, so nothing is counted twice).
fn update(change: impl Fn(&mut Ledger) -> u64) -> u64 {
    for _ in 0..ATTEMPTS {
        // The glue's calls, not the SDK's, which panic (trap the VM) on a status they do not
        // expect.
        let Ok((value, cas)) = abi::get_shared_data(KEY) else {
            return 0;
        };
        let mut ledger = Ledger::parse(&String::from_utf8_lossy(&value.unwrap_or_default()));
        let result = change(&mut ledger);
        match abi::set_shared_data(KEY, ledger.render().as_bytes(), cas) {
            Ok(()) => return result,
            Err(_) => continue,
        }
    }
    0
}
