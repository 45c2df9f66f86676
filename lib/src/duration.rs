//! Durations as operators write them: `90s`, `15m`, `2h`, `1h30m`, `250ms`.
//!
//! One parser for the configuration and for every command-line flag, so that a duration means
//! the same thing everywhere and a bad one is rejected with the same message. A duration is at
//! most [`MAX`] (365 days): every one is added to a date somewhere (a request's expiry, a
//! window's lead and grace), and a larger one would fall off the calendar.

use std::time::Duration;

/// The longest duration accepted anywhere: 365 days.
pub const MAX: Duration = Duration::from_secs(365 * 86_400);

/// Parses `1h30m`, `90s`, `250ms`. A bare number is refused: the unit is never guessed.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration (write it like 90s, 15m, 2h or 1h30m)".into());
    }
    let mut total_ms: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("`{text}` is not a duration (write it like 90s, 15m, 2h or 1h30m)"));
        }
        let value: u64 = rest[..digits].parse().map_err(|_| format!("`{text}`: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit_ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(format!("`{text}` has a number without a unit (write it like 90s, 15m, 2h or 1h30m)")),
            other => return Err(format!("`{text}`: unknown unit `{other}` (use ms, s, m, h or d)")),
        };
        rest = &rest[unit_len..];
        total_ms = value
            .checked_mul(unit_ms)
            .and_then(|ms| total_ms.checked_add(ms))
            .filter(|&ms| ms <= MAX.as_millis() as u64)
            .ok_or_else(|| format!("`{text}`: duration too large (at most 365d)"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration the way [`parse`] reads it, for messages and `--dry-run` plans.
pub fn format(duration: Duration) -> String {
    let ms = duration.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return if ms < 1000 { format!("{ms}ms") } else { format!("{:.1}s", ms as f64 / 1000.0) };
    }
    let mut secs = ms / 1000;
    let mut out = String::new();
    for (unit, size) in [("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(parse("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for bad in ["", "90", "m", "1x", "1h30", "-5s", "1.5h", "99999999999999999999s", "366d", "100000000d"] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_maximum_is_accepted_and_fits_the_calendar() {
        assert_eq!(parse("365d").unwrap(), MAX);
        assert_eq!(parse("364d24h").unwrap(), MAX);
        let max = chrono::Duration::from_std(MAX).unwrap();
        assert!(chrono::DateTime::<chrono::Utc>::MAX_UTC.checked_sub_signed(max * 4).is_some());
    }

    #[test]
    fn formats_round_trip() {
        for text in ["90s", "15m", "2h", "1h30m", "1h0m5s"] {
            let d = parse(text).unwrap();
            assert_eq!(parse(&format(d)).unwrap(), d);
        }
        assert_eq!(format(Duration::from_secs(5400)), "1h30m");
    }
}
