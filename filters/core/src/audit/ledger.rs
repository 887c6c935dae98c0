//! The ledger of audit records each VM holds, kept where a VM's death cannot take it: Envoy's
//! shared data. A VM that traps loses the records in its buffer, and with them the only
//! count of them it had; the ledger lets any other root context notice (the dead VM's entry
//! stops being refreshed) and count those records as dropped, reason `trap`.
//!
//! Each collector pipeline has an entry `<id> <held> <last_seen_ms>`, one per line, refreshed
//! on its tick and removed when the pipeline retires. An entry not refreshed for
//! [`STALE_MS`] belongs to a VM that is gone.

/// An entry older than this (ten ticks of the slowest pipeline) belongs to a dead VM.
pub const STALE_MS: u64 = 10_000;

/// The parsed ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    id: String,
    held: u64,
    last_seen_ms: u64,
}

impl Ledger {
    /// Parses the shared-data value; malformed lines are skipped (only this filter writes it).
    pub fn parse(text: &str) -> Self {
        let entries = text
            .lines()
            .filter_map(|line| {
                let mut fields = line.split(' ');
                let id = fields.next().filter(|id| !id.is_empty())?;
                let held = fields.next()?.parse().ok()?;
                let last_seen_ms = fields.next()?.parse().ok()?;
                Some(Entry {
                    id: id.to_string(),
                    held,
                    last_seen_ms,
                })
            })
            .collect();
        Ledger { entries }
    }

    /// The shared-data value.
    pub fn render(&self) -> String {
        self.entries
            .iter()
            .map(|e| format!("{} {} {}\n", e.id, e.held, e.last_seen_ms))
            .collect()
    }

    /// Records that pipeline `id` holds `held` records at `now_ms`.
    pub fn refresh(&mut self, id: &str, held: u64, now_ms: u64) {
        match self.entries.iter_mut().find(|e| e.id == id) {
            Some(entry) => {
                entry.held = held;
                entry.last_seen_ms = now_ms;
            }
            None => self.entries.push(Entry {
                id: id.to_string(),
                held,
                last_seen_ms: now_ms,
            }),
        }
    }

    /// Removes pipeline `id` (it retired, handing its records on).
    pub fn remove(&mut self, id: &str) {
        self.entries.retain(|e| e.id != id);
    }

    /// Removes the entries not refreshed since `now_ms - STALE_MS` and returns the records
    /// they held: lost with their VM.
    pub fn reap(&mut self, now_ms: u64) -> u64 {
        let mut lost = 0;
        self.entries.retain(|e| {
            let alive = now_ms.saturating_sub(e.last_seen_ms) < STALE_MS;
            if !alive {
                lost += e.held;
            }
            alive
        });
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries round-trip; a live entry is refreshed in place; a stale one is reaped with its
    /// held count; a retired one is gone without being counted.
    #[test]
    fn stale_entries_are_reaped_and_counted() {
        let mut ledger = Ledger::parse("");
        ledger.refresh("a", 3, 1_000);
        ledger.refresh("b", 5, 1_000);
        ledger.refresh("c", 7, 1_000);
        ledger.remove("c");
        let mut ledger = Ledger::parse(&ledger.render());
        ledger.refresh("a", 4, 10_500);
        assert_eq!(ledger.reap(10_999), 0, "b is not stale yet");
        assert_eq!(ledger.reap(11_000), 5, "b's VM is gone");
        assert_eq!(ledger.render(), "a 4 10500\n");
        assert_eq!(Ledger::parse("garbage\nx y z\n\n").render(), "");
    }
}
