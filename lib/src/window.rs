//! Backup windows written like NetBackup's: `Mon-Fri 22:00-06:00`, `Sat 00:00-24:00`,
//! `Mon,Wed,Fri 20:00-23:30`.
//!
//! A window opens on each named day at its start time and closes at its end time, on the next day
//! when the end is not after the start (crossing midnight, and Sunday night crosses into
//! Monday). Windows are wall-clock times in the host's local time zone, as NetBackup's are: on a
//! daylight-saving day a window keeps its wall-clock start and end, so it is an hour shorter or
//! longer in real time. Evaluation works on minutes of the week, so it is exact and cheap.

use chrono::{Datelike, NaiveDateTime, Timelike};
use std::fmt;

pub const MINUTES_PER_DAY: u32 = 24 * 60;
pub const MINUTES_PER_WEEK: u32 = 7 * MINUTES_PER_DAY;
const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// One window: the days it opens on (bit 0 = Monday) and its start and length in minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    days: u8,
    start: u32,
    length: u32,
    text: String,
}

impl Window {
    pub fn parse(text: &str) -> Result<Window, String> {
        let text = text.trim();
        let (days_text, times_text) = text
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("`{text}`: expected DAYS START-END, for example `Mon-Fri 22:00-06:00`"))?;
        let days = parse_days(days_text).map_err(|e| format!("`{text}`: {e}"))?;
        let (start_text, end_text) = times_text
            .trim()
            .split_once('-')
            .ok_or_else(|| format!("`{text}`: expected a time range like 22:00-06:00 after the days"))?;
        let start = parse_time(start_text).map_err(|e| format!("`{text}`: {e}"))?;
        let end = parse_time(end_text).map_err(|e| format!("`{text}`: {e}"))?;
        if start == MINUTES_PER_DAY {
            return Err(format!("`{text}`: a window cannot start at 24:00"));
        }
        if start == end {
            return Err(format!("`{text}`: the window is empty (start equals end)"));
        }
        let length = if end > start { end - start } else { end + MINUTES_PER_DAY - start };
        Ok(Window { days, start, length, text: text.to_string() })
    }

    /// Builds a window from its parts (used for windows read from NetBackup policies).
    pub fn from_parts(day: u32, start: u32, length: u32) -> Window {
        let start_of_week = day * MINUTES_PER_DAY + start;
        let end = (start_of_week + length) % MINUTES_PER_WEEK;
        let text = format!(
            "{} {}-{}",
            DAY_NAMES[day as usize],
            hhmm(start),
            hhmm(if length == MINUTES_PER_DAY && start == 0 { MINUTES_PER_DAY } else { end % MINUTES_PER_DAY })
        );
        Window { days: 1 << day, start, length, text }
    }

    /// The opening minutes of the week of every occurrence, with the length.
    pub fn openings(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        (0..7u32)
            .filter(move |d| self.days & (1 << d) != 0)
            .map(move |d| (d * MINUTES_PER_DAY + self.start, self.length))
    }

    /// Whether the window is open at this local wall-clock time.
    pub fn contains(&self, local: NaiveDateTime) -> bool {
        let now = minute_of_week(local);
        self.openings().any(|(open, len)| (now + MINUTES_PER_WEEK - open) % MINUTES_PER_WEEK < len)
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Minutes since Monday 00:00 of the week containing `local`.
pub fn minute_of_week(local: NaiveDateTime) -> u32 {
    local.weekday().num_days_from_monday() * MINUTES_PER_DAY + local.hour() * 60 + local.minute()
}

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn parse_day(name: &str) -> Result<u32, String> {
    let lower = name.to_ascii_lowercase();
    const FULL: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    FULL.iter()
        .position(|full| lower == *full || (lower.len() == 3 && full.starts_with(&lower)))
        .map(|i| i as u32)
        .ok_or_else(|| format!("`{name}` is not a day (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)"))
}

fn parse_days(text: &str) -> Result<u8, String> {
    let mut days = 0u8;
    for item in text.split(',') {
        match item.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (parse_day(from)?, parse_day(to)?);
                let mut d = from;
                loop {
                    days |= 1 << d;
                    if d == to {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => days |= 1 << parse_day(item)?,
        }
    }
    Ok(days)
}

fn parse_time(text: &str) -> Result<u32, String> {
    let bad = || format!("`{text}` is not a time (write HH:MM, 00:00 to 24:00)");
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d).unwrap().and_hms_opt(h, mi, 0).unwrap()
    }

    #[test]
    fn crossing_midnight_and_the_week_end() {
        // 2026-11-29 is a Sunday, 2026-11-30 a Monday.
        let w = Window::parse("Sun 22:00-06:00").unwrap();
        assert!(w.contains(at(2026, 11, 29, 23, 0)));
        assert!(w.contains(at(2026, 11, 30, 5, 59)));
        assert!(!w.contains(at(2026, 11, 30, 6, 0)));
        assert!(!w.contains(at(2026, 11, 29, 21, 59)));
    }

    #[test]
    fn whole_days_and_lists() {
        let w = Window::parse("Sat 00:00-24:00").unwrap();
        assert!(w.contains(at(2026, 11, 28, 0, 0)));
        assert!(w.contains(at(2026, 11, 28, 23, 59)));
        assert!(!w.contains(at(2026, 11, 29, 0, 0)));
        let w = Window::parse("Mon,Wed,Fri-Sat 20:00-23:30").unwrap();
        assert!(w.contains(at(2026, 11, 25, 21, 0))); // Wednesday
        assert!(!w.contains(at(2026, 11, 26, 21, 0))); // Thursday
        assert!(w.contains(at(2026, 11, 28, 23, 29))); // Saturday
    }

    #[test]
    fn refuses_bad_windows() {
        for bad in [
            "",
            "Mon",
            "Mon 22:00",
            "Xyz 22:00-06:00",
            "Mon 25:00-06:00",
            "Mon 22:00-22:00",
            "Mon 24:00-06:00",
            "Mon 22:60-23:00",
            "Mon 2200-0600",
            "Mon-Fry 22:00-06:00",
        ] {
            assert!(Window::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
