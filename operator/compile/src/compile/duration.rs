//! Istio durations (`1.5s`, `100ms`, `1m30s`) as milliseconds.

/// Parses a duration into milliseconds, rounding sub-millisecond remainders up so that a tiny
/// non-zero timeout never becomes "disabled".
pub(super) fn parse_ms(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    let mut total_ns: f64 = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("invalid duration {text:?}"))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "h" => 3.6e12,
            "m" => 6e10,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" => 1e3,
            "ns" => 1.0,
            _ => {
                return Err(format!(
                    "invalid duration {text:?}: unit {unit:?} (use h, m, s, ms)"
                ));
            }
        };
        total_ns += value * scale;
        rest = tail;
    }
    Ok((total_ns / 1e6).ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_ms;

    #[test]
    fn parses_istio_durations() {
        assert_eq!(parse_ms("1.5s"), Ok(1500));
        assert_eq!(parse_ms("100ms"), Ok(100));
        assert_eq!(parse_ms("1m30s"), Ok(90_000));
        assert_eq!(parse_ms("0s"), Ok(0));
        assert_eq!(parse_ms("10us"), Ok(1));
        assert!(parse_ms("5").is_err());
        assert!(parse_ms("abc").is_err());
    }
}
