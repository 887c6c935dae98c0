//! Random choices of the route actions: weighted destinations (V-18) and percentages (faults
//! V-23, mirrors V-24). Randomness comes from the caller's [`Entropy`].

use crate::Entropy;
use crate::wire::Destination;

use super::Destinations;

/// Picks a destination with probability `weight / total weight`, and its index in wire order.
/// One destination always wins (V-18: 100% whatever its weight); zero-weight destinations are
/// never picked. The total is checked at compile time to be positive when there are several.
pub fn pick_weighted<'d>(
    dests: &'d Destinations,
    entropy: &mut dyn Entropy,
) -> (usize, &'d Destination) {
    let total = dests.total_weight();
    if dests.len() <= 1 || total == 0 {
        return (0, dests.first());
    }
    // Scale a 32-bit draw to [0, total) by multiply-shift (no modulo); u128 because the sum of
    // many u32 weights may exceed 2^32.
    let scaled = (u128::from(entropy.next_u32()) * u128::from(total)) >> 32;
    let mut point = u64::try_from(scaled).unwrap_or(u64::MAX);
    for (i, d) in dests.iter().enumerate() {
        let w = u64::from(d.weight);
        if point < w {
            return (i, d);
        }
        point -= w;
    }
    // Unreachable while the total is the sum of the weights; the last positive weight is a
    // safe answer anyway.
    dests
        .iter()
        .enumerate()
        .filter(|(_, d)| d.weight > 0)
        .last()
        .unwrap_or((0, dests.first()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SplitMix64;

    fn dest(weight: u32) -> Destination {
        Destination {
            cluster: String::new(),
            weight,
            headers: Default::default(),
            authority: None,
        }
    }

    /// V-18: huge weights do not overflow; the extreme draws land on the first and last
    /// positive weights.
    #[test]
    fn extreme_weights() {
        let dests = vec![dest(u32::MAX), dest(0), dest(u32::MAX), dest(u32::MAX)];
        let dests = Destinations::new(&dests).unwrap();
        assert_eq!(dests.total_weight(), 3 * u64::from(u32::MAX));
        let pick = |entropy: &mut dyn Entropy| pick_weighted(&dests, entropy).0;
        struct Fixed(u32);
        impl Entropy for Fixed {
            fn next_u32(&mut self) -> u32 {
                self.0
            }
        }
        assert_eq!(pick(&mut Fixed(0)), 0);
        assert_eq!(pick(&mut Fixed(u32::MAX)), 3);
        let mut rng = SplitMix64(3);
        for _ in 0..1000 {
            assert_ne!(pick(&mut rng), 1);
        }
    }

    /// V-23: 0 and 100 never draw; out-of-range values clamp.
    #[test]
    fn percent_bounds() {
        let mut rng = SplitMix64(1);
        assert!(!fires(0.0, &mut rng) && !fires(-1.0, &mut rng) && !fires(f64::NAN, &mut rng));
        assert!(fires(100.0, &mut rng) && fires(150.0, &mut rng));
        assert_eq!(rng.0, SplitMix64(1).0, "no draw consumed");
    }
}
