//! RFC 3339 timestamps from a caller-supplied clock: the core has no clock of its own.

use std::fmt::Write as _;

/// Formats Unix time in nanoseconds as RFC 3339 UTC with millisecond precision,
/// e.g. `2026-11-26T23:02:30.123Z`. Sub-millisecond digits are truncated, not rounded, so a
/// record never claims a later time than the event. Covers years 1970 to 2554 (`u64` nanos).
pub(crate) fn rfc3339_millis(unix_nanos: u64) -> String {
    let total_ms = unix_nanos / 1_000_000;
    let millis = total_ms % 1000;
    let total_secs = total_ms / 1000;
    let days = total_secs / 86_400;
    let secs_of_day = total_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let mut out = String::with_capacity(24);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60,
    );
    out
}

/// Proleptic Gregorian (year, month, day) of a count of days since 1970-01-01, after Howard
/// Hinnant's `civil_from_days`: shift to eras of 400 years starting on 0000-03-01 so that the
/// leap day is the last day of the shifted year.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // 719_468 days separate 0000-03-01 from 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097; // day of era, 0..=146_096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of shifted year, 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The epoch itself, and the last millisecond of its first day.
    #[test]
    fn epoch() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(86_399_999_999_999),
            "1970-01-01T23:59:59.999Z"
        );
    }

    /// Every day of 400 years round-trips through a naive day counter.
    #[test]
    fn matches_naive_calendar_for_400_years() {
        let mut days = 0u64;
        for year in 1970u64..2370 {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            let lengths = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            for (m, len) in lengths.iter().enumerate() {
                for d in 1..=*len {
                    assert_eq!(civil_from_days(days), (year, m as u64 + 1, d));
                    days += 1;
                }
            }
        }
    }
}
