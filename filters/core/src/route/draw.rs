//! Random choices of the route actions: weighted destinations (V-18) and percentages (faults
//! V-23, mirrors V-24). Randomness comes from the caller's [`Entropy`].

use crate::Entropy;
use crate::config::Destination;

/// Picks a destination index with probability `weight / total`. One destination always wins
/// (V-18: 100% whatever its weight); zero-weight destinations are never picked. `total` is the
/// sum of the weights, checked at compile time to be positive when there are several.
pub fn pick_weighted(dests: &[Destination], total: u64, entropy: &mut dyn Entropy) -> usize {
    if dests.len() <= 1 || total == 0 {
        return 0;
    }
    // Scale a 32-bit draw to [0, total) without modulo bias worth mentioning (total < 2^32·n).
    let mut point = (u64::from(entropy.next_u32()) * total) >> 32;
    for (i, d) in dests.iter().enumerate() {
        let w = u64::from(d.weight);
        if point < w {
            return i;
        }
        point -= w;
    }
    // Unreachable while `total` is the sum of the weights; the last positive weight is a safe
    // answer anyway.
    dests.iter().rposition(|d| d.weight > 0).unwrap_or(0)
}

/// True with probability `percent / 100`. 0 never fires and 100 always fires, without drawing.
pub fn fires(percent: f64, entropy: &mut dyn Entropy) -> bool {
    if percent <= 0.0 || percent.is_nan() {
        return false;
    }
    if percent >= 100.0 {
        return true;
    }
    // Envoy draws per million; a 32-bit draw is finer.
    f64::from(entropy.next_u32()) < percent / 100.0 * 4_294_967_296.0
}
