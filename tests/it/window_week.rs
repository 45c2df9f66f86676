//! A simulated week of minute ticks for two domains with alternating windows, replayed with a
//! clock that is passed in (no sleeping for the windows): the library changes hands when the
//! other domain's claim begins (never back and forth), and is never owned by a domain whose claim
//! ended while another claim waited.

use crate::support::*;
use chrono::{Duration, TimeZone, Utc};
use ftl::clock::FixedClock;
use ftl::exec::SystemRunner;
use ftl::ledger::record::State;
use ftl::runbook::progress::Silent;
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
            let _ = occ;
            ftl::tick::tick(ctx, now, &Utc).unwrap_or_else(|e| panic!("tick of {} at {now}: {e}", ctx.domain));
        }
        let record = setups[0].ledger.read().unwrap();
        let owner = match &record.state {
            State::Owned { owner } => Some(owner.clone()),
            State::Free => None,
            other => panic!("at {now} a sequence was left in flight: {other:?}"),
        };
        if let Some(o) = &owner {
            // The owner holds it inside its own claim, or until the other's claim begins.
            let (mine, theirs) = if o == "marmaduke" { (0, 1) } else { (1, 0) };
            let claims =
                |occ: &[ftl::schedule::Occurrence]| occ.iter().any(|w| w.start - lead <= now && now < w.end + grace);
            let other_waits = occurrences[theirs].iter().any(|w| w.start - lead < now && now < w.end);
            assert!(
                claims(&occurrences[mine]) || !other_waits,
                "{o} owns the library at {now}: its claim has ended and the other domain's has begun"
            );
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
    // Each day flinstones acquires at 01:30 (when its claim begins) and marmaduke at 19:30 or the
    // minute after (its tick records its request first, then flinstones lets go).
    let acquisitions: Vec<&String> = log.iter().filter(|l| l.contains("owned by")).collect();
    assert_eq!(acquisitions.len(), 13, "two acquisitions a day, no others:\n{all}");
    for (i, line) in acquisitions.iter().enumerate() {
        let (times, who) =
            if i % 2 == 0 { (["01:30", "01:30"], "flinstones") } else { (["19:30", "19:31"], "marmaduke") };
        assert!(times.iter().any(|t| line.contains(t)) && line.ends_with(who), "hand-over {i} is `{line}`:\n{all}");
    }
    // No release at the end of a window while nobody else claims the library.
    assert!(!all.contains("01:00  free") && !all.contains("07:00  free"), "{all}");
    let forced = site
        .journal()
        .into_iter()
        .find(|e| e["detail"]["forced"]["reason"].as_str().is_some_and(|r| r.contains("grace")));
    let forced = forced.expect("a forced release at the end of the grace");
    assert_eq!(forced["at"].as_str().unwrap().get(..16), Some("2026-11-26T01:30"));
    // The week ends (Monday noon) with flinstones keeping the library until marmaduke's claim.
    assert_eq!(site.ledger("marmaduke")["owner"], "flinstones");
    assert_eq!(site.board_domain().as_deref(), Some("flinstones"));
}

/// Three domains for a week: a and b with alternating windows, c with a short weekday window,
/// seeded random manual requests (with random expiries) and jobs. Every hand-over in the journal
/// is explained by a claim of the acquiring domain that began and had not been served yet, so
/// there are never more hand-overs than claims (P1), and no claim is served twice (no
/// ping-pong). The hand-overs per day are printed.
#[test]
fn a_replayed_week_of_three_domains_moves_the_library_only_for_new_claims() {
    use ftl::ledger::record::{Event, Holder, Request};
    let site = SimSite::with_args(&["--domains", "a,b,c", "--owner", "a", "--speed", "2000"]);
    site.set_windows_of(&["a", "b", "c"], "c", "[\"Mon-Fri 12:00-14:00\"]");
    let start = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap(); // a Monday noon
    let clock = FixedClock::new(start);
    let names = ["a", "b", "c"];
    let setups: Vec<ftl::cli::Setup> =
        names.iter().map(|d| ftl::cli::Setup::load(&site.config(d), None).unwrap()).collect();
    let contexts: Vec<ftl::runbook::Context> =
        setups.iter().map(|s| s.context(&SystemRunner, &clock, &Silent)).collect();
    let mut rng = Rng(0x3d0_a1a5);
    // Claim starts: (domain, time), from the windows and from the requests recorded.
    let mut claim_starts: Vec<(String, chrono::DateTime<Utc>)> = Vec::new();
    let lead = Duration::minutes(30);
    let site_now =
        ftl::policy::Site::read_span(&contexts[0], start - Duration::days(1), start + Duration::days(8), &Utc).unwrap();
    // A window already open at the start counts as a claim beginning then.
    for (d, occ) in &site_now.occurrences {
        for o in occ.iter().filter(|o| o.end > start && o.start - lead < start + Duration::days(7)) {
            claim_starts.push((d.clone(), (o.start - lead).max(start)));
        }
    }
    let window_claims = claim_starts.len();
    let mut busy = [false; 3];
    // The same week through the pure policy alone, hand-overs instant: the number of claim changes
    // that required a hand-over, to compare with what the site did.
    let mut model = setups[0].ledger.read().unwrap();
    let mut jobs = [0u32; 3];
    let mut required = 0;
    for minute in 0..7 * 24 * 60 {
        let now = start + Duration::minutes(minute);
        clock.set(now);
        // About six manual requests a day, and jobs that come and go.
        if rng.below(240) == 0 {
            let i = rng.below(3) as usize;
            let record = setups[i].ledger.read().unwrap();
            if record.state.owner() != Some(names[i]) {
                let until = now + Duration::minutes(10 + rng.below(170) as i64);
                let request = Request { domain: names[i].into(), at: now, until: Some(until) };
                let actor = Holder { domain: names[i].into(), host: "operator".into(), pid: 1, boot_id: "b".into() };
                setups[i]
                    .ledger
                    .commit(&actor, &Event::Request(request.clone()), serde_json::Value::Null, now)
                    .unwrap();
                claim_starts.push((names[i].into(), now));
                model.requests.retain(|r| r.domain != names[i]);
                model.requests.push(request);
            }
        }
        if rng.below(180) == 0 {
            let i = rng.below(3) as usize;
            busy[i] = !busy[i];
            let action = if busy[i] { "start" } else { "end" };
            // A job starts only where NetBackup runs: the model follows what the site answered.
            if code(&site.sim(&["job", names[i], action])) == 0 {
                jobs[i] = if busy[i] { jobs[i] + 1 } else { jobs[i].saturating_sub(1) };
            }
        }
        for (i, ctx) in contexts.iter().enumerate() {
            let me = names[i];
            let situation = site_now.situation(&model, me, now, jobs[i] == 0);
            match ftl::policy::decide(ftl::policy::Trigger::Tick, &situation) {
                // An acquire restarts NetBackup: it waits for the domain to be idle.
                ftl::policy::Decision::Acquire { .. } if jobs[i] == 0 => {
                    model.state = State::Owned { owner: me.into() };
                    required += 1;
                }
                ftl::policy::Decision::Release { ended_jobs, .. } if ended_jobs || jobs[i] == 0 => {
                    model.state = State::Free;
                    model.requests.retain(|r| r.domain != me);
                    // Stopping NetBackup ends its jobs.
                    jobs[i] = 0;
                }
                ftl::policy::Decision::Request { until, .. } => {
                    model.requests.retain(|r| r.domain != me);
                    model.requests.push(Request { domain: me.into(), at: now, until: Some(until) });
                }
                _ => {}
            }
            model.requests.retain(|r| r.until.is_some_and(|u| u > now));
            ftl::tick::tick(ctx, now, &Utc).unwrap_or_else(|e| panic!("tick of {} at {now}: {e}", ctx.domain));
        }
    }
    // Every acquire in the journal, matched to an unserved claim start of the same domain.
    let acquires: Vec<(String, chrono::DateTime<Utc>)> = site
        .journal()
        .into_iter()
        .filter(|e| e["event"] == "finish" && e["to"] == "owned")
        .map(|e| (e["domain"].as_str().unwrap().to_string(), e["at"].as_str().unwrap().parse().unwrap()))
        .collect();
    let mut served = vec![false; claim_starts.len()];
    let mut per_day = std::collections::BTreeMap::<String, usize>::new();
    for (domain, at) in &acquires {
        let found = claim_starts
            .iter()
            .enumerate()
            .filter(|(i, (d, t))| !served[*i] && d == domain && t <= at)
            .map(|(i, _)| i)
            .next_back();
        let i = found.unwrap_or_else(|| panic!("{domain} acquired at {at} for no new claim: {claim_starts:?}"));
        // Claims of the same domain started before this one are served by it too.
        for (j, (d, t)) in claim_starts.iter().enumerate() {
            if d == domain && t <= &claim_starts[i].1 {
                served[j] = true;
            }
        }
        *per_day.entry(at.format("%Y-%m-%d %a").to_string()).or_default() += 1;
    }
    assert!(
        acquires.len() <= claim_starts.len(),
        "P1: {} hand-overs for {} claims",
        acquires.len(),
        claim_starts.len()
    );
    assert_eq!(acquires.len(), required, "the site's hand-overs against the claim changes that required one");
    let mut out = std::io::stderr();
    let _ = writeln!(
        out,
        "three domains, one week: {} hand-overs ({required} required by the claims' changes) for {} claims that began ({} of them requests)",
        acquires.len(),
        claim_starts.len(),
        claim_starts.len() - window_claims
    );
    for (day, n) in &per_day {
        let _ = writeln!(out, "  {day}: {n} hand-over(s)");
    }
    // The ledger and the board agree at the end.
    let l = site.ledger("a");
    if l["state"] == "owned" {
        assert_eq!(site.board_domain().as_deref(), l["owner"].as_str());
    }
}
