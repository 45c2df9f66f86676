//! A simulated week of minute ticks for two domains with alternating windows, replayed with a
//! clock that is passed in (no sleeping for the windows): the library changes hands at each
//! boundary and is never owned by a domain outside its window plus lead and grace.

use chrono::{Duration, TimeZone, Utc};
use ftl::clock::FixedClock;
use ftl::exec::SystemRunner;
use ftl::ledger::record::State;
use ftl::runbook::progress::Silent;
use ftl_tests::*;
use std::io::Write;

#[test]
fn a_replayed_week_hands_the_library_over_at_every_boundary() {
    let site = SimSite::with_args(&["--speed", "2000"]);
    let start = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap(); // a Monday noon
    let clock = FixedClock::new(start);
    let setups: Vec<ftl::cli::Setup> =
        ["marmaduke", "flinstones"].iter().map(|d| ftl::cli::Setup::load(&site.config(d), None).unwrap()).collect();
    let contexts: Vec<ftl::runbook::Context> =
        setups.iter().map(|s| s.context(&SystemRunner, &clock, &Silent)).collect();
    // Windows in UTC here, so the test does not depend on the host's time zone.
    let occurrences: Vec<Vec<ftl::schedule::Occurrence>> = contexts
        .iter()
        .map(|ctx| {
            let windows = ftl::schedule::windows(ctx.config, &ctx.domain, ctx.runner).unwrap();
            ftl::schedule::occurrences(
                &ctx.domain,
                &windows,
                start - Duration::days(2),
                start + Duration::days(9),
                &Utc,
            )
        })
        .collect();
    let lead = Duration::minutes(30);
    let grace = Duration::minutes(30);
    // On Wednesday night a job on marmaduke runs past its window: it must go at end + grace.
    let late_job = Utc.with_ymd_and_hms(2026, 11, 25, 23, 0, 0).unwrap();
    let mut log = Vec::new();
    let mut last_owner: Option<String> = Some("marmaduke".into());
    for minute in 0..7 * 24 * 60 {
        let now = start + Duration::minutes(minute);
        clock.set(now);
        if now == late_job {
            assert_eq!(code(&site.sim(&["job", "marmaduke", "start"])), 0);
        }
        for (ctx, occ) in contexts.iter().zip(&occurrences) {
            ftl::tick::tick(ctx, occ).unwrap_or_else(|e| panic!("tick of {} at {now}: {e}", ctx.domain));
        }
        let record = setups[0].ledger.read().unwrap();
        let owner = match &record.state {
            State::Owned { owner } => Some(owner.clone()),
            State::Free => None,
            other => panic!("at {now} a sequence was left in flight: {other:?}"),
        };
        if let Some(o) = &owner {
            let occ = &occurrences[if o == "marmaduke" { 0 } else { 1 }];
            let allowed = occ.iter().any(|w| w.start - lead <= now && now <= w.end + grace);
            assert!(allowed, "{o} owns the library at {now}, outside its windows plus lead and grace");
        }
        if owner != last_owner {
            log.push(format!(
                "{}  {}",
                now.format("%a %H:%M"),
                match &owner {
                    Some(o) => format!("owned by {o}"),
                    None => "free".into(),
                }
            ));
            last_owner = owner;
        }
    }
    let mut out = std::io::stderr();
    let _ = writeln!(out, "replayed week: {} ownership changes", log.len());
    for line in &log {
        let _ = writeln!(out, "  {line}");
    }
    let all = log.join("\n");
    // Each day marmaduke acquires at 19:30 and flinstones at 01:30.
    let acquisitions: Vec<&String> = log.iter().filter(|l| l.contains("owned by")).collect();
    assert_eq!(acquisitions.len(), 14, "two acquisitions a day:\n{all}");
    for (i, line) in acquisitions.iter().enumerate() {
        let (time, who) = if i % 2 == 0 { ("19:30", "marmaduke") } else { ("01:30", "flinstones") };
        assert!(line.contains(time) && line.ends_with(who), "hand-over {i} is `{line}`:\n{all}");
    }
    // marmaduke releases at 01:00 once idle, except on Thursday when the late job keeps it
    // until end + grace (01:30), when the release is forced.
    assert!(!all.contains("Thu 01:00  free"), "{all}");
    let forced = site
        .journal()
        .into_iter()
        .find(|e| e["detail"]["forced"]["reason"].as_str().is_some_and(|r| r.contains("grace")));
    let forced = forced.expect("a forced release at the end of the grace");
    assert_eq!(forced["at"].as_str().unwrap().get(..16), Some("2026-11-26T01:30"));
    // The week ends (Monday noon) with the library free and the board in no domain.
    assert_eq!(site.ledger("marmaduke")["state"], "free");
    assert_eq!(site.board_domain(), None);
}
