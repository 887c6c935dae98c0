//! Istio durations (`1.5s`, `100ms`, `1m30s`) as milliseconds, validated as Istio validates
//! them (V-27): at least 1 ms, whole milliseconds, within protobuf's `Duration` range.

/// The largest protobuf `Duration`: 10,000 years, in seconds.
const MAX_SECONDS: u128 = 315_576_000_000;
const NANOS_PER_MS: u128 = 1_000_000;

/// Parses a duration into milliseconds. Exact integer arithmetic: a value too large for a
/// protobuf `Duration` is an error, never a wrapped or saturated number.
pub(super) fn parse_ms(text: &str) -> Result<u64, String> {
    let ns = parse_ns(text)?;
    if ns < NANOS_PER_MS {
        return Err(format!(
            "duration {text:?} must be at least 1ms (Istio's validation)"
        ));
    }
    if ns % NANOS_PER_MS != 0 {
        return Err(format!(
            "duration {text:?}: only whole milliseconds are supported (Istio's validation)"
        ));
    }
    // At most MAX_SECONDS * 1000, which fits in a u64.
    u64::try_from(ns / NANOS_PER_MS).map_err(|_| out_of_range(text))
}

fn out_of_range(text: &str) -> String {
    format!("duration {text:?} is out of range (at most 315576000000s, protobuf's Duration)")
}

/// Go's duration syntax (what Kubernetes and Istio's CRDs accept): a sequence of decimal
/// numbers, each with a unit, no sign.
fn parse_ns(text: &str) -> Result<u128, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration".into());
    }
    let invalid = || format!("invalid duration {text:?}");
    let mut total: u128 = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int, tail) = rest.split_at(int_len);
        let (frac, tail) = match tail.strip_prefix('.') {
            Some(t) => {
                let n = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
                t.split_at(n)
            }
            None => ("", tail),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(invalid());
        }
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale: u128 = match unit {
            "h" => 3_600_000_000_000,
            "m" => 60_000_000_000,
            "s" => 1_000_000_000,
            "ms" => 1_000_000,
            "us" | "µs" => 1_000,
            "ns" => 1,
            "" => {
                return Err(format!(
                    "invalid duration {text:?}: a unit is required (h, m, s, ms)"
                ));
            }
            _ => {
                return Err(format!(
                    "invalid duration {text:?}: unit {unit:?} (use h, m, s, ms)"
                ));
            }
        };
        // Digits beyond what any range check needs only make the number bigger.
        let whole: u128 = if int.is_empty() {
            0
        } else if int.trim_start_matches('0').len() > 20 {
            return Err(out_of_range(text));
        } else {
            int.parse().map_err(|_| invalid())?
        };
        let mut part = whole.checked_mul(scale).ok_or_else(|| out_of_range(text))?;
        // The fraction, to nanosecond precision (further digits are below 1 ns).
        let mut unit_ns = scale;
        for digit in frac.bytes() {
            unit_ns /= 10;
            if unit_ns == 0 {
                break;
            }
            part += u128::from(digit - b'0') * unit_ns;
        }
        total = total.checked_add(part).ok_or_else(|| out_of_range(text))?;
        if total > MAX_SECONDS * 1_000_000_000 {
            return Err(out_of_range(text));
        }
        rest = tail;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::parse_ms;

    #[test]
    fn parses_istio_durations() {
        assert_eq!(parse_ms("1.5s"), Ok(1500));
        assert_eq!(parse_ms("100ms"), Ok(100));
        assert_eq!(parse_ms("1m30s"), Ok(90_000));
        assert_eq!(parse_ms("1000us"), Ok(1));
        assert_eq!(parse_ms(".5s"), Ok(500));
        assert!(parse_ms("5").is_err());
        assert!(parse_ms("abc").is_err());
        assert!(parse_ms("-1s").is_err());
        assert!(parse_ms("1.s5").is_err());
    }

    /// V-27: Istio refuses durations under 1 ms and sub-millisecond precision.
    #[test]
    fn below_a_millisecond_is_refused() {
        for text in ["0s", "0ms", "10us", "999999ns", "1.5ms", "1000001ns"] {
            assert!(parse_ms(text).is_err(), "{text}");
        }
    }

    /// V-27: the protobuf range bounds every duration; nothing overflows or saturates.
    #[test]
    fn huge_durations_are_refused_not_wrapped() {
        assert_eq!(parse_ms("315576000000s"), Ok(315_576_000_000_000));
        for text in [
            "315576000001s",
            "87660001h",
            "99999999999999999999999999999999999999999h",
            "18446744073709551616ms",
            "1e400s",
            "5259600000m1s",
        ] {
            let e = parse_ms(text);
            assert!(e.is_err(), "{text}: {e:?}");
        }
        assert!(
            parse_ms("99999999999999999999999h")
                .unwrap_err()
                .contains("out of range")
        );
    }
}
