//! When each domain wants the library: its windows (from the configuration and from its
//! NetBackup policies) turned into dated occurrences in the host's local time.
//!
//! A window is wall-clock time, as in NetBackup. On a daylight-saving day a window keeps its
//! wall-clock start and end: a start that falls in the hour skipped in spring moves to the first
//! minute that exists after it, and a time in the hour repeated in autumn means its first
//! occurrence. A window across the change is therefore an hour shorter or longer in real time.

use crate::config::Config;
use crate::exec::{ExecError, Runner};
use crate::netbackup::{self, NetBackup};
use crate::window::Window;
use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};

/// One dated opening of a domain's window.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Occurrence {
    pub domain: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub window: String,
}

/// The local wall-clock time `naive` as an instant (see the module notes for DST).
fn resolve<Tz: TimeZone>(tz: &Tz, naive: NaiveDateTime) -> DateTime<Utc> {
    let mut t = naive;
    for _ in 0..=180 {
        if let Some(first) = earliest_instant(tz, t) {
            return first;
        }
        t += Duration::minutes(1);
    }
    Utc.from_utc_datetime(&naive)
}

/// The earliest instant whose wall-clock time in `tz` is `t`, if any. It is found from the
/// offsets in force a day either side rather than from `from_local_datetime`, whose answer for
/// the repeated hour of autumn is not the first occurrence with every time zone implementation
/// (with the host's zone, `Local`, it gave the second).
fn earliest_instant<Tz: TimeZone>(tz: &Tz, t: NaiveDateTime) -> Option<DateTime<Utc>> {
    let offsets = [t - Duration::days(1), t, t + Duration::days(1)]
        .map(|around| tz.offset_from_utc_datetime(&around).fix().local_minus_utc());
    offsets
        .iter()
        .map(|secs| Utc.from_utc_datetime(&(t - Duration::seconds(i64::from(*secs)))))
        .filter(|u| u.with_timezone(tz).naive_local() == t)
        .min()
        .or_else(|| match tz.from_local_datetime(&t) {
            LocalResult::Single(x) => Some(x.with_timezone(&Utc)),
            LocalResult::Ambiguous(a, b) => Some(a.with_timezone(&Utc).min(b.with_timezone(&Utc))),
            LocalResult::None => None,
        })
}

/// Every occurrence of `windows` that overlaps `[from, to)`, sorted by start, overlapping
/// occurrences merged.
pub fn occurrences<Tz: TimeZone>(
    domain: &str,
    windows: &[Window],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tz: &Tz,
) -> Vec<Occurrence> {
    let first = from.with_timezone(tz).date_naive() - Duration::days(8);
    let last = to.with_timezone(tz).date_naive() + Duration::days(1);
    let mut found = Vec::new();
    let mut date = first;
    while date <= last {
        let weekday = date.weekday().num_days_from_monday();
        for w in windows {
            for (open, length) in w.openings() {
                if open / crate::window::MINUTES_PER_DAY != weekday {
                    continue;
                }
                let start_naive = date.and_hms_opt(0, 0, 0).expect("midnight exists")
                    + Duration::minutes(i64::from(open % crate::window::MINUTES_PER_DAY));
                let end_naive = start_naive + Duration::minutes(i64::from(length));
                let (start, end) = (resolve(tz, start_naive), resolve(tz, end_naive));
                if end > from && start < to && end > start {
                    found.push(Occurrence { domain: domain.into(), start, end, window: w.to_string() });
                }
            }
        }
        date += Duration::days(1);
    }
    found.sort_by_key(|o| o.start);
    let mut merged: Vec<Occurrence> = Vec::new();
    for o in found {
        match merged.last_mut() {
            Some(prev) if o.start <= prev.end => {
                if o.end > prev.end {
                    prev.end = o.end;
                    // One window that runs into its own next day is named once.
                    if !prev.window.split(" + ").any(|w| w == o.window) {
                        prev.window = format!("{} + {}", prev.window, o.window);
                    }
                }
            }
            _ => merged.push(o),
        }
    }
    merged
}

/// A domain's windows: the configured ones and those of its NetBackup policies.
pub fn windows(config: &Config, domain: &str, runner: &dyn Runner) -> Result<Vec<Window>, ExecError> {
    let Some(d) = config.domains.get(domain) else {
        return Ok(Vec::new());
    };
    let mut all = d.windows.clone();
    for policy in &d.policies {
        let cmd = NetBackup::new(config).policy(policy);
        let out = runner.run_ok(&cmd)?;
        let found = netbackup::parse_policy_windows(&out.stdout).map_err(|reason| ExecError::Unexpected {
            command: cmd.to_string(),
            reason,
            output: out.clone(),
        })?;
        all.extend(found);
    }
    Ok(all)
}

/// Every domain's windows as this host knows them: the local domain's (`me`) with its NetBackup
/// policies' windows, the others' as configured (their policies live on their own master
/// servers, and reach this host only as their requests). Also returns the domains whose policy
/// windows are read elsewhere.
pub fn known_windows(
    config: &Config,
    me: &str,
    runner: &dyn Runner,
) -> Result<(DomainWindows, Vec<String>), ExecError> {
    let mut known = Vec::new();
    let mut elsewhere = Vec::new();
    for (name, d) in &config.domains {
        if name == me {
            known.push((name.clone(), windows(config, name, runner)?));
        } else {
            if !d.policies.is_empty() {
                elsewhere.push(name.clone());
            }
            known.push((name.clone(), d.windows.clone()));
        }
    }
    Ok((known, elsewhere))
}

/// The occurrence that makes `domain` want the library now: `start - lead <= now < end`.
pub fn wanted(occurrences: &[Occurrence], now: DateTime<Utc>, lead: Duration) -> Option<&Occurrence> {
    occurrences.iter().find(|o| o.start - lead <= now && now < o.end)
}

/// The latest occurrence that has ended by `now`.
pub fn last_ended(occurrences: &[Occurrence], now: DateTime<Utc>) -> Option<&Occurrence> {
    occurrences.iter().filter(|o| o.end <= now).max_by_key(|o| o.end)
}

/// Pairs of occurrences of different domains that overlap.
pub fn overlaps(all: &[Occurrence]) -> Vec<(&Occurrence, &Occurrence)> {
    let mut found = Vec::new();
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            if a.domain != b.domain && a.start < b.end && b.start < a.end {
                found.push((a, b));
            }
        }
    }
    found
}

/// Each domain with its windows, in the order of `[domains]`.
pub type DomainWindows = Vec<(String, Vec<Window>)>;

/// What in the site's windows is allowed but probably not meant, for `ftl-status --check` and
/// `ftl-window show`: one domain only, a domain with no window, windows that never end, windows
/// of two domains that overlap, and a lead longer than the gap between two domains' windows
/// (the next domain asks while the previous one's window is still open). `windows` holds each
/// domain's windows as far as this host knows them; `policies` names the domains whose policy
/// windows are read elsewhere. Looks at the week from `now`; each finding is reported once.
pub fn warnings<Tz: TimeZone>(
    windows: &[(String, Vec<Window>)],
    policies: &[String],
    lead: Duration,
    now: DateTime<Utc>,
    tz: &Tz,
) -> Vec<String> {
    let mut found = Vec::new();
    if windows.len() == 1 {
        found.push(format!("only one domain ({}) is declared under [domains]: the library never moves", windows[0].0));
    }
    let week = Duration::days(7);
    let mut all = Vec::new();
    for (domain, list) in windows {
        if list.is_empty() && !policies.contains(domain) {
            found.push(format!(
                "domain {domain} has no window (domains.{domain}.windows is empty): it gets the library only when it asks"
            ));
        }
        let occ = occurrences(domain, list, now, now + week + week, tz);
        if occ.iter().any(|o| o.end - o.start >= week) {
            found.push(format!(
                "domain {domain}'s windows never end (domains.{domain}.windows = {}): it never lets the library go at a window's end",
                list.iter().map(|w| w.to_string()).fold(Vec::<String>::new(), |mut shown, w| {
                    if !shown.contains(&w) {
                        shown.push(w);
                    }
                    shown
                })
                .join(", ")
            ));
        }
        all.extend(occ.into_iter().filter(|o| o.start < now + week));
    }
    let mut push = |text: String| {
        if !found.contains(&text) {
            found.push(text);
        }
    };
    for (a, b) in overlaps(&all) {
        push(format!(
            "the windows of {} ({} in domains.{}.windows) and {} ({} in domains.{}.windows) overlap: both expect the library",
            a.domain, a.window, a.domain, b.domain, b.window, b.domain
        ));
    }
    for a in &all {
        // The next opening of another domain after `a` ends.
        let Some(b) = all.iter().filter(|b| b.domain != a.domain && b.start >= a.end).min_by_key(|b| b.start) else {
            continue;
        };
        let gap = b.start - a.end;
        let between = all.iter().any(|o| o.start >= a.end && o.start < b.start);
        if lead > gap && !between {
            push(format!(
                "the lead (schedule.lead = {}) is longer than the {} between {}'s window {} and {}'s window {}: {} asks for the \
                 library while {}'s window is still open",
                crate::duration::format(lead.to_std().unwrap_or_default()),
                crate::duration::format(gap.to_std().unwrap_or_default()),
                a.domain,
                a.window,
                b.domain,
                b.window,
                b.domain,
                a.domain
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn occurrences_cross_midnight_and_merge() {
        let w = vec![Window::parse("Mon-Sun 20:00-01:00").unwrap(), Window::parse("Wed 23:00-02:00").unwrap()];
        let occ = occurrences("m", &w, utc(2026, 11, 25, 0, 0), utc(2026, 11, 27, 0, 0), &Utc);
        let spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = occ.iter().map(|o| (o.start, o.end)).collect();
        assert_eq!(
            spans,
            vec![
                (utc(2026, 11, 24, 20, 0), utc(2026, 11, 25, 1, 0)),
                (utc(2026, 11, 25, 20, 0), utc(2026, 11, 26, 2, 0)),
                (utc(2026, 11, 26, 20, 0), utc(2026, 11, 27, 1, 0)),
            ]
        );
        assert!(occ[1].window.contains("Wed 23:00-02:00"));
    }

    #[test]
    fn wanted_includes_the_lead_and_last_ended() {
        let w = vec![Window::parse("Mon-Sun 02:00-07:00").unwrap()];
        let occ = occurrences("f", &w, utc(2026, 11, 25, 0, 0), utc(2026, 11, 26, 0, 0), &Utc);
        let lead = Duration::minutes(30);
        assert!(wanted(&occ, utc(2026, 11, 25, 1, 29), lead).is_none());
        assert!(wanted(&occ, utc(2026, 11, 25, 1, 30), lead).is_some());
        assert!(wanted(&occ, utc(2026, 11, 25, 7, 0), lead).is_none());
        assert_eq!(last_ended(&occ, utc(2026, 11, 25, 8, 0)).unwrap().end, utc(2026, 11, 25, 7, 0));
    }

    #[test]
    fn local_time_zone_offsets_apply() {
        let tz = FixedOffset::east_opt(3600).unwrap();
        let w = vec![Window::parse("Wed 22:00-23:00").unwrap()];
        let occ = occurrences("m", &w, utc(2026, 11, 25, 0, 0), utc(2026, 11, 26, 0, 0), &tz);
        assert_eq!(occ[0].start, utc(2026, 11, 25, 21, 0));
    }

    fn site(list: &[(&str, &[&str])]) -> Vec<(String, Vec<Window>)> {
        list.iter().map(|(d, w)| (d.to_string(), w.iter().map(|t| Window::parse(t).unwrap()).collect())).collect()
    }

    fn warned(list: &[(&str, &[&str])], lead: i64) -> Vec<String> {
        warnings(&site(list), &[], Duration::minutes(lead), utc(2026, 11, 25, 12, 0), &Utc)
    }

    #[test]
    fn a_sound_site_has_no_warnings() {
        assert_eq!(
            warned(&[("m", &["Mon-Sun 20:00-01:00"]), ("f", &["Mon-Sun 02:00-07:00"])], 30),
            Vec::<String>::new()
        );
    }

    #[test]
    fn what_is_allowed_but_probably_not_meant_is_warned_about() {
        let one = warned(&[("m", &["Mon-Sun 20:00-01:00"])], 30);
        assert!(one.iter().any(|w| w.contains("only one domain")), "{one:?}");
        let none = warned(&[("m", &["Mon-Sun 20:00-01:00"]), ("f", &[])], 30);
        assert!(none.iter().any(|w| w.contains("f has no window")), "{none:?}");
        let never = warned(&[("m", &["Mon-Sun 00:00-24:00"]), ("f", &["Sat 02:00-07:00"])], 30);
        assert!(never.iter().any(|w| w.contains("never end")), "{never:?}");
        let overlap = warned(&[("m", &["Mon-Sun 20:00-03:00"]), ("f", &["Mon-Sun 02:00-07:00"])], 30);
        assert_eq!(overlap.iter().filter(|w| w.contains("overlap")).count(), 1, "{overlap:?}");
        let lead = warned(&[("m", &["Mon-Sun 20:00-01:00"]), ("f", &["Mon-Sun 01:15-07:00"])], 30);
        assert_eq!(lead.len(), 1, "{lead:?}");
        assert!(lead[0].contains("lead (schedule.lead = 30m) is longer than the 15m"), "{lead:?}");
        // Each names the key it is about, and a window is shown once.
        assert!(none.iter().any(|w| w.contains("domains.f.windows is empty")), "{none:?}");
        let both = overlap.iter().find(|w| w.contains("overlap")).unwrap();
        assert!(both.contains("domains.m.windows") && both.contains("domains.f.windows"), "{both}");
        let never = never.iter().find(|w| w.contains("never end")).unwrap();
        assert_eq!(never.matches("00:00-24:00").count(), 1, "{never}");
    }

    #[test]
    fn overlaps_between_domains_are_found() {
        let a = occurrences(
            "a",
            &[Window::parse("Mon-Sun 20:00-02:00").unwrap()],
            utc(2026, 11, 25, 0, 0),
            utc(2026, 11, 26, 0, 0),
            &Utc,
        );
        let b = occurrences(
            "b",
            &[Window::parse("Mon-Sun 01:00-07:00").unwrap()],
            utc(2026, 11, 25, 0, 0),
            utc(2026, 11, 26, 0, 0),
            &Utc,
        );
        let mut all = [a, b].concat();
        all.sort_by_key(|o| o.start);
        assert!(!overlaps(&all).is_empty());
    }
}
