//! `ftl-window tick`: run every minute, it asks the policy ([`crate::policy`]) what this domain
//! does now and does it: record a request, acquire, release (at `window end + grace` even with
//! jobs running, saying which), or resume an interrupted sequence. A tick never waits for another
//! domain: when the library is elsewhere it records a request and acts on a later tick. It is
//! idempotent: a tick that finds a sequence of its domain already running, or nothing to do,
//! exits 0.
//!
//! The time a tick decides for (`--now` in a rehearsal) is only that: the ledger and the journal
//! always record the real time of what is done.

use crate::error::Error;
use crate::ledger::record::{Event, Operation, Request};
use crate::policy::{self, Decision, Site, Trigger};
use crate::runbook::acquire::{self, AcquireOptions};
use crate::runbook::release::{self, ReleaseOptions};
use crate::runbook::{precheck, Context};
use chrono::{DateTime, TimeZone, Utc};

/// What this domain's tick decides at `now`, without doing it, and the active jobs when they
/// matter. The jobs are asked (a query) only when the holder would release if idle: idleness
/// changes nothing else.
pub fn decide<Tz: TimeZone>(ctx: &Context, now: DateTime<Utc>, tz: &Tz) -> Result<(Decision, Option<String>), Error> {
    let record = ctx.ledger.read()?;
    let site = Site::read(ctx, now, tz)?;
    let decision = policy::decide(Trigger::Tick, &site.situation(&record, &ctx.domain, now, true));
    if !matches!(decision, Decision::Release { .. }) {
        return Ok((decision, None));
    }
    let jobs = precheck::jobs(ctx);
    if jobs.ok {
        return Ok((decision, None));
    }
    Ok((policy::decide(Trigger::Tick, &site.situation(&record, &ctx.domain, now, false)), Some(jobs.evidence)))
}

/// Runs one tick deciding for `now`; returns what was decided and what came of it.
pub fn tick<Tz: TimeZone>(ctx: &Context, now: DateTime<Utc>, tz: &Tz) -> Result<(Decision, String), Error> {
    let (decision, jobs) = decide(ctx, now, tz)?;
    let outcome = match &decision {
        Decision::Nothing { why }
        | Decision::Keep { why }
        | Decision::WaitForJobs { why }
        | Decision::BringUp { why } => why.clone(),
        Decision::Request { until, .. } => {
            // The claim began at the time decided for: its place in the queue is that time's.
            let request = Request { domain: ctx.domain.clone(), at: now, until: Some(*until) };
            ctx.ledger.commit(&ctx.holder, &Event::Request(request), decided_at(ctx, now), ctx.clock.now())?;
            "request recorded".into()
        }
        Decision::Acquire { .. } => quiet_busy(acquire::acquire(ctx, &AcquireOptions::default()).map(|r| r.outcome))?,
        Decision::Release { why, ended_jobs } => {
            let force = ended_jobs
                .then(|| format!("ftl-window tick: {why} ({})", jobs.as_deref().unwrap_or("jobs were running")));
            let options = ReleaseOptions { if_idle: !ended_jobs, force: force.clone() };
            let outcome = quiet_busy(release::release(ctx, &options).map(|r| r.outcome))?;
            match force {
                Some(_) => format!(
                    "{outcome}; the grace had passed, so the running jobs were ended: {}",
                    jobs.unwrap_or_default()
                ),
                None => outcome,
            }
        }
        Decision::Resume { .. } => {
            let record = ctx.ledger.read()?;
            let result = match record.state.step().map(|s| s.operation) {
                Some(Operation::Release) => release::release(ctx, &ReleaseOptions::default()),
                _ => acquire::acquire(ctx, &AcquireOptions::default()),
            };
            quiet_busy(result.map(|r| r.outcome))?
        }
    };
    Ok((decision, outcome))
}

/// The journal detail of a transition made for an assumed time (`--now`).
fn decided_at(ctx: &Context, now: DateTime<Utc>) -> serde_json::Value {
    if (now - ctx.clock.now()).num_seconds().abs() > 60 {
        serde_json::json!({ "decided_for": now })
    } else {
        serde_json::Value::Null
    }
}

/// A tick that meets its own domain's running sequence, or a domain still busy with jobs, has
/// nothing to do this minute.
fn quiet_busy(result: Result<String, Error>) -> Result<String, Error> {
    match result {
        Err(Error::Busy(why)) | Err(Error::Refused(why)) => Ok(format!("not now: {why}")),
        Err(e @ (Error::RunLockHeld { .. } | Error::HolderRunning { .. })) => Ok(format!("not now: {e}")),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    //! The tick's rules of the first design, kept: with `schedule.release_at_window_end` set (a
    //! site that wants the library let go at window end), the policy decides exactly as the tick
    //! did.
    use super::*;
    use crate::ledger::record::{Record, State};
    use crate::policy::Settings;
    use crate::schedule::{self, Occurrence};
    use crate::window::Window;
    use chrono::Duration;
    use std::collections::BTreeMap;

    fn utc(d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, mi, 0).unwrap()
    }

    fn occ(window: &str) -> BTreeMap<String, Vec<Occurrence>> {
        let list = schedule::occurrences("me", &[Window::parse(window).unwrap()], utc(20, 0, 0), utc(30, 0, 0), &Utc);
        BTreeMap::from([("me".to_string(), list), ("them".to_string(), Vec::new())])
    }

    fn record(state: State) -> Record {
        Record::new("L", state, utc(25, 0, 0))
    }

    fn decide_for(r: &Record, at: DateTime<Utc>, idle: bool) -> Decision {
        let site = Site {
            domains: vec!["me".to_string(), "them".to_string()],
            occurrences: occ("Mon-Sun 02:00-07:00"),
            settings: Settings {
                lead: Duration::minutes(30),
                grace: Duration::minutes(30),
                release_at_window_end: true,
                request_ttl: Duration::hours(2),
                release_at_shutdown: true,
            },
        };
        policy::decide(Trigger::Tick, &site.situation(r, "me", at, idle))
    }

    fn run(state: State, at: DateTime<Utc>, idle: bool) -> Decision {
        decide_for(&record(state), at, idle)
    }

    #[test]
    fn acquires_at_start_minus_lead_when_free() {
        assert!(matches!(run(State::Free, utc(25, 1, 29), true), Decision::Nothing { .. }));
        assert!(matches!(run(State::Free, utc(25, 1, 30), true), Decision::Acquire { .. }));
    }

    #[test]
    fn requests_when_elsewhere_once() {
        let other = State::Owned { owner: "them".into() };
        let d = run(other.clone(), utc(25, 3, 0), true);
        assert!(matches!(d, Decision::Request { until, .. } if until == utc(25, 7, 0)), "{d:?}");
        let mut r = record(other);
        r.requests.push(Request { domain: "me".into(), at: utc(25, 3, 0), until: Some(utc(25, 7, 0)) });
        let d = decide_for(&r, utc(25, 3, 1), true);
        assert!(matches!(d, Decision::Nothing { .. }), "{d:?}");
    }

    #[test]
    fn keeps_in_window_releases_when_idle_or_after_grace() {
        let mine = State::Owned { owner: "me".into() };
        assert!(matches!(run(mine.clone(), utc(25, 6, 59), true), Decision::Keep { .. }));
        assert!(matches!(run(mine.clone(), utc(25, 7, 0), true), Decision::Release { ended_jobs: false, .. }));
        assert!(matches!(run(mine.clone(), utc(25, 7, 10), false), Decision::Keep { .. }));
        assert!(matches!(run(mine, utc(25, 7, 30), false), Decision::Release { ended_jobs: true, .. }));
    }

    #[test]
    fn resumes_an_interrupted_sequence_but_not_a_broken_one() {
        use crate::ledger::record::{Holder, StepRef};
        let holder = Holder { domain: "me".into(), host: "h".into(), pid: 1, boot_id: "b".into() };
        let step = StepRef {
            operation: Operation::Release,
            id: "R3".into(),
            name: "drives at BOT".into(),
            started: utc(25, 0, 0),
        };
        assert!(matches!(
            run(State::Releasing { holder: holder.clone(), step: step.clone() }, utc(25, 12, 0), true),
            Decision::Resume { .. }
        ));
        assert!(matches!(run(State::Broken { holder, step }, utc(25, 12, 0), true), Decision::Nothing { .. }));
    }
}
