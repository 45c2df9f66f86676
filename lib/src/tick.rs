//! `ftl-window tick`: run every minute, it moves the library by the windows. A domain acquires at
//! `window start - lead`; the owner releases at window end once idle, and at `window end +
//! grace` whatever runs. A tick never waits for another domain: when the library is elsewhere it
//! records a request and acts on a later tick. It is idempotent: a tick that finds a sequence of
//! its domain already running, or nothing to do, exits 0.
//!
//! The decision ([`decide`]) is a pure function of the record, the windows and the time, so that
//! a whole week of minute ticks can be replayed without sleeping.

use crate::error::Error;
use crate::ledger::record::{Event, Record, Request, State};
use crate::runbook::acquire::{self, AcquireOptions};
use crate::runbook::release::{self, ReleaseOptions};
use crate::runbook::{precheck, Context};
use crate::schedule::{self, Occurrence};
use chrono::{DateTime, Duration, TimeZone, Utc};

/// What a tick decided, and why, in words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Decision {
    Nothing {
        why: String,
    },
    Acquire {
        why: String,
    },
    Request {
        why: String,
        until: DateTime<Utc>,
    },
    Release {
        why: String,
        forced: bool,
    },
    /// Finish this domain's interrupted sequence (its process died).
    Resume {
        why: String,
    },
}

/// Decides what this domain's tick does. `idle` is asked only when it matters.
pub fn decide(
    record: &Record,
    me: &str,
    mine: &[Occurrence],
    now: DateTime<Utc>,
    lead: Duration,
    grace: Duration,
    idle: &mut dyn FnMut() -> bool,
) -> Decision {
    let wanted = schedule::wanted(mine, now, lead);
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    match &record.state {
        State::Releasing { holder, .. } | State::Acquiring { holder, .. } if holder.domain == me => {
            Decision::Resume { why: format!("this domain's {} was interrupted", record.state.name()) }
        }
        State::Broken { step, .. } if record.state.holder().is_some_and(|h| h.domain == me) => Decision::Nothing {
            why: format!(
                "the ledger is broken at {} {}; an operator must rerun the command or use --force",
                step.id, step.name
            ),
        },
        State::Owned { owner } if owner == me => match wanted {
            Some(o) => Decision::Nothing {
                why: format!("window {} is open until {}; keeping the library", o.window, fmt(o.end)),
            },
            None => {
                let ended = schedule::last_ended(mine, now);
                let late = ended.is_some_and(|o| now >= o.end + grace);
                if idle() {
                    Decision::Release { why: "the window is closed and no job is active".into(), forced: false }
                } else if late {
                    let o = ended.expect("late implies an ended window");
                    Decision::Release {
                        why: format!(
                            "window {} ended at {} and the grace of {} has passed",
                            o.window,
                            fmt(o.end),
                            crate::duration::format(grace.to_std().unwrap_or_default())
                        ),
                        forced: true,
                    }
                } else {
                    Decision::Nothing {
                        why: "the window is closed; waiting for the active jobs to end (or the grace to pass)".into(),
                    }
                }
            }
        },
        _ => match wanted {
            None => Decision::Nothing { why: "outside this domain's windows".into() },
            Some(o) if record.state == State::Free => Decision::Acquire {
                why: format!(
                    "window {} starts at {} (lead {})",
                    o.window,
                    fmt(o.start),
                    crate::duration::format(lead.to_std().unwrap_or_default())
                ),
            },
            Some(o) => {
                if record.request_of(me).is_some() {
                    Decision::Nothing { why: "the library is elsewhere; our request is recorded".into() }
                } else {
                    Decision::Request {
                        why: format!("window {} wants the library, which is elsewhere", o.window),
                        until: o.end,
                    }
                }
            }
        },
    }
}

/// The occurrences of this domain's windows around `now`.
pub fn my_occurrences<Tz: TimeZone>(ctx: &Context, now: DateTime<Utc>, tz: &Tz) -> Result<Vec<Occurrence>, Error> {
    let windows = schedule::windows(ctx.config, &ctx.domain, ctx.runner)?;
    Ok(schedule::occurrences(&ctx.domain, &windows, now - Duration::days(8), now + Duration::days(8), tz))
}

/// Runs one tick at `clock.now()`; returns what was decided and what came of it.
pub fn tick(ctx: &Context, occurrences: &[Occurrence]) -> Result<(Decision, String), Error> {
    let now = ctx.clock.now();
    let mut record = ctx.ledger.read()?;
    if record.request_of(&ctx.domain).is_some_and(|r| r.until.is_some_and(|u| u <= now)) {
        // Our request outlived the window that made it; a later window records a new one.
        record = ctx.ledger.commit(
            &ctx.holder,
            &Event::Withdraw { domain: ctx.domain.clone() },
            serde_json::Value::Null,
            now,
        )?;
    }
    let lead = Duration::from_std(ctx.config.schedule.lead).unwrap_or_default();
    let grace = Duration::from_std(ctx.config.schedule.grace).unwrap_or_default();
    let mut idle = || precheck::jobs(ctx).ok;
    let decision = decide(&record, &ctx.domain, occurrences, now, lead, grace, &mut idle);
    let outcome = match &decision {
        Decision::Nothing { why } => why.clone(),
        Decision::Request { until, .. } => {
            let request = Request { domain: ctx.domain.clone(), at: now, until: Some(*until) };
            ctx.ledger.commit(&ctx.holder, &Event::Request(request), serde_json::Value::Null, now)?;
            "request recorded".into()
        }
        Decision::Acquire { .. } => quiet_busy(acquire::acquire(ctx, &AcquireOptions::default()).map(|r| r.outcome))?,
        Decision::Release { forced, why } => {
            let options = ReleaseOptions { if_idle: !forced, force: forced.then(|| format!("ftl-window tick: {why}")) };
            quiet_busy(release::release(ctx, &options).map(|r| r.outcome))?
        }
        Decision::Resume { .. } => {
            let result = match record.state.step().map(|s| s.operation) {
                Some(crate::ledger::record::Operation::Release) => release::release(ctx, &ReleaseOptions::default()),
                _ => acquire::acquire(ctx, &AcquireOptions::default()),
            };
            quiet_busy(result.map(|r| r.outcome))?
        }
    };
    Ok((decision, outcome))
}

/// A tick that meets its own domain's running sequence, or a domain still busy with jobs, has
/// nothing to do this minute.
fn quiet_busy(result: Result<String, Error>) -> Result<String, Error> {
    match result {
        Err(Error::Busy(why)) | Err(Error::Refused(why)) => Ok(format!("not now: {why}")),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::Window;

    fn utc(d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, mi, 0).unwrap()
    }

    fn occ(window: &str) -> Vec<Occurrence> {
        schedule::occurrences("me", &[Window::parse(window).unwrap()], utc(20, 0, 0), utc(30, 0, 0), &Utc)
    }

    fn record(state: State) -> Record {
        Record::new("L", state, utc(25, 0, 0))
    }

    fn run(state: State, at: DateTime<Utc>, idle: bool) -> Decision {
        let mine = occ("Mon-Sun 02:00-07:00");
        decide(&record(state), "me", &mine, at, Duration::minutes(30), Duration::minutes(30), &mut || idle)
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
        r.requests.push(Request { domain: "me".into(), at: utc(25, 3, 0), until: None });
        let d = decide(
            &r,
            "me",
            &occ("Mon-Sun 02:00-07:00"),
            utc(25, 3, 1),
            Duration::minutes(30),
            Duration::minutes(30),
            &mut || true,
        );
        assert!(matches!(d, Decision::Nothing { .. }));
    }

    #[test]
    fn keeps_in_window_releases_when_idle_or_after_grace() {
        let mine = State::Owned { owner: "me".into() };
        assert!(matches!(run(mine.clone(), utc(25, 6, 59), true), Decision::Nothing { .. }));
        assert!(matches!(run(mine.clone(), utc(25, 7, 0), true), Decision::Release { forced: false, .. }));
        assert!(matches!(run(mine.clone(), utc(25, 7, 10), false), Decision::Nothing { .. }));
        assert!(matches!(run(mine, utc(25, 7, 30), false), Decision::Release { forced: true, .. }));
    }

    #[test]
    fn resumes_an_interrupted_sequence_but_not_a_broken_one() {
        use crate::ledger::record::{Holder, Operation, StepRef};
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
