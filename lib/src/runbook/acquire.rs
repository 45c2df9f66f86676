//! Acquiring the library (SPEC section 2, A0 to A6): take it when it is free, ask for it (and
//! optionally wait) when another domain has it, resume an interrupted acquire, or take it over
//! by force from a domain that cannot release, after confirming the board with the controller.

use super::precheck;
use super::release::forced_detail;
use super::{executor, Action, Context, OnFailure, Plan, PlanStep, Report, Runbook, Step};
use crate::error::Error;
use crate::ledger::record::{Event, Forced, Operation, Request, State, StepRef};
use crate::platform::{Condition, Location};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct AcquireOptions {
    /// Wait this long for the owner to release and for this domain to be idle.
    pub wait: Option<Duration>,
    /// `--force --reason TEXT`.
    pub force: Option<String>,
    /// Acquire only for a claim of this domain that is still valid, and only when no earlier
    /// claim waits (a hook's background worker); an operator's acquire is its own claim.
    pub for_claim: bool,
}

pub fn runbook(ctx: &Context) -> Runbook {
    use Action::*;
    use OnFailure::*;
    let mut steps = vec![
        Step::new("A1", "stop NetBackup", &[StopNetBackup], &[StartNetBackup], RollBack),
        Step::new("A2", ctx.host.quiesce_name(), &[Quiesce], &[Restore], RollBack),
        // Undone only when the board was left assigned here but unused (see `after_failed_move`):
        // deleteboard returns it, right after showusage placed it here.
        Step::new("A3", ctx.platform.move_name(true), &[Attach], &[Detach], AskController { attach: true }),
        Step::new(
            "A4",
            format!("{}, start NetBackup", ctx.host.restore_name()),
            &[Restore, StartNetBackup],
            &[],
            Broken,
        ),
        Step::new("A5", "drives up", &[DrivesUp], &[], Broken),
    ];
    if ctx.config.netbackup.nbpemreq.is_some() {
        // The library is here and in use either way; a scheduler left suspended is a warning.
        steps.push(Step::new("A6", "resume the policy scheduler", &[ResumeScheduling], &[], Warn));
    }
    Runbook { operation: Operation::Acquire, steps }
}

enum Decision {
    Nothing(String),
    Fresh,
    Resume(usize),
    /// Override the domain that holds or owns the library.
    Force(String),
    Elsewhere(String),
}

fn decide(ctx: &Context, book: &Runbook, force: bool) -> Result<(Decision, bool), Error> {
    let record = ctx.ledger.read()?;
    let me = &ctx.domain;
    let requested = record.request_of(me).is_some();
    let decision = match &record.state {
        State::Owned { owner } if owner == me => Decision::Nothing(format!("{me} already owns the library")),
        State::Free => Decision::Fresh,
        State::Acquiring { holder, step } | State::Broken { holder, step }
            if &holder.domain == me && step.operation == Operation::Acquire =>
        {
            Decision::Resume(book.position(&step.id).ok_or_else(|| {
                Error::Usage(format!("the ledger names step {}, which this runbook does not have", step.id))
            })?)
        }
        state if state.holder().is_some_and(|h| &h.domain == me) => {
            return Err(Error::Busy(format!(
                "this domain has an unfinished release (ledger {}, step {}); run ftl-release to finish it first",
                state.name(),
                state.step().map(|s| s.id.as_str()).unwrap_or("?")
            )))
        }
        state if force => {
            Decision::Force(state.owner().or(state.holder().map(|h| h.domain.as_str())).unwrap_or_default().to_string())
        }
        state => {
            let who = state.owner().or(state.holder().map(|h| h.domain.as_str())).unwrap_or("another domain");
            Decision::Elsewhere(format!("domain {who} has the library (ledger {})", state.name()))
        }
    };
    Ok((decision, requested))
}

pub fn acquire(ctx: &Context, options: &AcquireOptions) -> Result<Report, Error> {
    super::validate_reason(options.force.as_deref())?;
    let result = acquire_validated(ctx, options);
    super::audit_force(ctx, "acquire", options.force.as_deref(), &result);
    result
}

fn acquire_validated(ctx: &Context, options: &AcquireOptions) -> Result<Report, Error> {
    let _sequence = crate::signals::sequence();
    let _run = super::run_lock(ctx)?;
    let book = runbook(ctx);
    let started = Instant::now();
    let out_of_time = || options.wait.is_none_or(|w| started.elapsed() >= w);
    let mut pause = Duration::from_millis(100);
    let mut announced = false;
    let mut requested: Option<chrono::DateTime<chrono::Utc>> = None;
    loop {
        if let Some(signal) = crate::signals::interrupted() {
            return Err(match requested {
                // The request is a change, and it stays: say so (exit 3, as without --wait).
                Some(until) => Error::Busy(format!(
                    "stopped by {signal} while waiting; the request of {} stays in the ledger until {} \
                     (ftl-acquire --cancel withdraws it)",
                    ctx.domain,
                    until.format("%Y-%m-%d %H:%M UTC")
                )),
                None => Error::Interrupted { signal, during: None },
            });
        }
        // A waiting acquire rides out a ledger that is unreachable for a while (an etcd leader
        // election, a restart): it asks again after its pause until its wait is over.
        let waiting = options.wait.is_some() && !out_of_time();
        let outage = |e: &Error| matches!(e, Error::Ledger(crate::ledger::LedgerError::Unreachable { .. }));
        let record = match ctx.ledger.read().map_err(Error::from) {
            Err(e) if waiting && outage(&e) => {
                ctx.progress.note(&format!("{e}; asking again in {}", crate::duration::format(pause)));
                std::thread::sleep(pause);
                pause = (pause * 3 / 2).min(Duration::from_secs(10));
                continue;
            }
            other => other?,
        };
        // A request this run recorded, withdrawn meanwhile (ftl-acquire --cancel): stop waiting.
        if requested.is_some()
            && record.request_of(&ctx.domain).is_none()
            && record.state.owner() != Some(ctx.domain.as_str())
        {
            return Ok(Report::nothing(
                Operation::Acquire,
                &ctx.domain,
                "the request was withdrawn (ftl-acquire --cancel); stopped waiting".into(),
                record.epoch,
            ));
        }
        match decide(ctx, &book, options.force.is_some())? {
            (Decision::Nothing(why), _) => {
                let epoch = ctx.ledger.read()?.epoch;
                return Ok(Report::nothing(Operation::Acquire, &ctx.domain, why, epoch));
            }
            (Decision::Resume(at), _) => {
                ctx.progress
                    .note(&format!("resuming the acquire at {} (a previous run stopped there)", book.steps[at].id));
                return executor::execute(ctx, &book, at, json!({ "resumed": true }));
            }
            (Decision::Force(holder), _) => {
                // The holder being overridden must provably run no sequence: hold its run lock
                // for the whole takeover, then decide again on what the record says now.
                let _fenced = super::fence_out(ctx, &holder)?;
                match decide(ctx, &book, true)? {
                    (Decision::Force(again), _) if again == holder => {
                        return force_takeover(ctx, &book, options.force.as_deref().unwrap_or_default())
                    }
                    (Decision::Force(again), _) => {
                        return Err(Error::Busy(format!(
                            "refusing to force: the library moved from {holder} to {again} while this override \
                             waited; look again (ftl-status) before overriding {again}. Nothing was changed"
                        )))
                    }
                    _ => continue,
                }
            }
            (Decision::Elsewhere(why), _) => {
                let until = match (options.for_claim, requested) {
                    (true, _) => match place(ctx, false)?.claim_until {
                        Some(until) => until,
                        None => return expired(ctx),
                    },
                    (false, Some(until)) => until,
                    // Recorded once, with the expiry the operator asked for: a waiting acquire
                    // never renews or moves its own claim.
                    (false, None) => {
                        let until = record_request(ctx, options.wait)?;
                        requested = Some(until);
                        until
                    }
                };
                if out_of_time() {
                    let waited = options
                        .wait
                        .map(|w| format!(" after waiting {}", crate::duration::format(w)))
                        .unwrap_or_default();
                    return Err(Error::Busy(format!(
                        "{why}{waited}; a request from {} is recorded in the ledger until {}; the owner releases \
                         once its own claim has ended and it is idle (rerun with --wait DURATION to wait for it, \
                         or --cancel to withdraw it)",
                        ctx.domain,
                        until.format("%Y-%m-%d %H:%M UTC")
                    )));
                }
                if !announced {
                    ctx.progress.note(&format!("{why}; request recorded, waiting for it to be released"));
                    announced = true;
                }
            }
            (Decision::Fresh, _) => {
                // The free library goes to the earliest claim: a hook's worker and a waiting
                // operator queue behind an earlier one (a force does not).
                let behind = match options.force {
                    None => Some(place(ctx, !options.for_claim)?).filter(|p| !p.first),
                    Some(_) => None,
                };
                if let Some(place) = behind {
                    let until = match (requested, place.claim_until) {
                        (Some(until), _) => until,
                        (None, Some(until)) if options.for_claim => until,
                        (None, None) if options.for_claim => return expired(ctx),
                        (None, _) => {
                            let until = record_request(ctx, options.wait)?;
                            requested = Some(until);
                            until
                        }
                    };
                    if out_of_time() {
                        return Err(Error::Busy(format!(
                            "the library is free, but another domain's claim is earlier and goes first; the \
                             request of {} is recorded until {} (ftl-acquire --cancel withdraws it)",
                            ctx.domain,
                            until.format("%Y-%m-%d %H:%M UTC")
                        )));
                    }
                } else {
                    let jobs = precheck::active_jobs(ctx);
                    if jobs.ok || options.force.is_some() {
                        match fresh(ctx, &book, options, jobs) {
                            // Another domain took the free library first: keep waiting for it.
                            Err(Error::Ledger(crate::ledger::LedgerError::Forbidden(_))) if !out_of_time() => {}
                            result => return result,
                        }
                    } else {
                        if out_of_time() {
                            let request = requested
                                .map(|u| {
                                    format!(
                                        "; the request of {} stays until {}",
                                        ctx.domain,
                                        u.format("%Y-%m-%d %H:%M UTC")
                                    )
                                })
                                .unwrap_or_else(|| " (nothing was changed)".into());
                            return Err(Error::Refused(format!(
                                "acquiring restarts NetBackup on {}, which has work running: {}{request}",
                                ctx.domain, jobs.evidence
                            )));
                        }
                        if !announced {
                            ctx.progress.note(&format!(
                                "the library is free; waiting for this domain to be idle ({})",
                                jobs.evidence
                            ));
                            announced = true;
                        }
                    }
                }
            }
        }
        // Wakes at once when the record changes (the store watches it), else after the pause:
        // idleness and claims change without a new record.
        if let Err(e) = ctx.ledger.wait_for_change(record.epoch, pause) {
            if !(options.wait.is_some() && matches!(e, crate::ledger::LedgerError::Unreachable { .. })) {
                return Err(e.into());
            }
            std::thread::sleep(pause);
        }
        pause = (pause * 3 / 2).min(Duration::from_secs(10));
    }
}

/// This domain's place in the queue for the library, as the policy ([`crate::policy`]) sees it.
struct Place {
    /// The free library goes to this domain now.
    first: bool,
    /// Until when this domain's own claim lasts, if it has one.
    claim_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Reads this domain's place once. A waiting acquire can last hours: it reads the site's
/// configuration afresh each time, so that it follows an edit. A hook's worker (`operator` false)
/// goes first only when the policy gives it the library. An operator's acquire is a claim of its
/// own, beginning now at the latest: it goes first unless an earlier request of another domain
/// waits (a queue of people who asked); another domain's open window does not hold it back, since
/// an operator's acquire overrides the schedule, as an operator's release does.
fn place(ctx: &Context, operator: bool) -> Result<Place, Error> {
    use crate::policy::{self, Site, Trigger};
    let now = ctx.clock.now();
    let record = ctx.ledger.read()?;
    let fresh =
        (!ctx.config.path.as_os_str().is_empty()).then(|| crate::config::Config::load(&ctx.config.path)).transpose()?;
    let config = fresh.as_ref().unwrap_or(ctx.config);
    let site = Site::read_config(config, &ctx.domain, ctx.runner, now, &chrono::Local)?;
    let s = site.situation(&record, &ctx.domain, now, true);
    let mine = policy::claim(&s, &ctx.domain, false);
    let first = if operator {
        let since = mine.as_ref().map_or(now, |c| c.since.min(now));
        let rank = |d: &str| config.domain_order.iter().position(|x| x == d).unwrap_or(usize::MAX);
        !policy::waiting(&s)
            .iter()
            .filter(|c| c.by == policy::By::Request)
            .any(|c| (c.since, rank(&c.domain)) < (since, rank(&ctx.domain)))
    } else {
        matches!(policy::decide(Trigger::Tick, &s), policy::Decision::Acquire { .. })
    };
    Ok(Place { first, claim_until: mine.map(|c| c.until) })
}

fn expired(ctx: &Context) -> Result<Report, Error> {
    let epoch = ctx.ledger.read()?.epoch;
    Ok(Report::nothing(
        Operation::Acquire,
        &ctx.domain,
        "this domain's claim has expired (its request and its window are over); nothing acquired".into(),
        epoch,
    ))
}

/// The expiry of an operator's request: the wait, else the end of the open window or the ttl.
fn request_until(ctx: &Context, wait: Option<Duration>) -> Result<chrono::DateTime<chrono::Utc>, Error> {
    let now = ctx.clock.now();
    if let Some(wait) = wait {
        return Ok(now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX));
    }
    let record = ctx.ledger.read()?;
    let site = crate::policy::Site::read(ctx, now, &chrono::Local)?;
    Ok(crate::policy::request_until(&site.situation(&record, &ctx.domain, now, true)))
}

/// Records this domain's request until the wait's end (or the open window's, or the ttl).
fn record_request(ctx: &Context, wait: Option<Duration>) -> Result<chrono::DateTime<chrono::Utc>, Error> {
    let until = request_until(ctx, wait)?;
    let request = Request { domain: ctx.domain.clone(), at: ctx.clock.now(), until: Some(until) };
    // Asking again for as long changes nothing; a longer wait renews the claim; a shorter one
    // leaves the longer claim standing, and the messages give the one the ledger keeps.
    match ctx.ledger.read()?.request_of(&ctx.domain).and_then(|r| r.until) {
        Some(kept) if kept >= until => Ok(kept),
        _ => {
            ctx.ledger.commit(&ctx.holder, &Event::Request(request), Value::Null, ctx.clock.now())?;
            Ok(until)
        }
    }
}

/// `ftl-acquire --cancel`: withdraws this domain's request.
pub fn cancel(ctx: &Context) -> Result<Report, Error> {
    let before = ctx.ledger.read()?;
    let Some(request) = before.request_of(&ctx.domain).cloned() else {
        return Ok(Report::nothing(
            Operation::Acquire,
            &ctx.domain,
            "no request of this domain to withdraw".into(),
            before.epoch,
        ));
    };
    let record = ctx.ledger.commit(
        &ctx.holder,
        &Event::Withdraw { domain: ctx.domain.clone() },
        json!({ "cancelled": request }),
        ctx.clock.now(),
    )?;
    Ok(Report::nothing(Operation::Acquire, &ctx.domain, "request withdrawn".into(), record.epoch))
}

fn fresh(ctx: &Context, book: &Runbook, options: &AcquireOptions, jobs: precheck::Check) -> Result<Report, Error> {
    let record = ctx.ledger.read()?;
    let (controller, _) = precheck::controller(ctx, &record);
    if let Some(signal) = crate::signals::interrupted() {
        return Err(Error::Interrupted { signal, during: None });
    }
    let mut checks = vec![precheck::programs(ctx), jobs, controller];
    checks.extend(ctx.host.checks(ctx, false, true));
    // A force overrides the prechecks, not the hardware: a unit that cannot be attached is refused.
    if options.force.is_some() {
        if let Ok(reading) = super::actions::read_board(ctx) {
            if let Some(why) = unattachable(ctx, &reading) {
                return Err(why);
            }
        }
    }
    let opening = match (precheck::failures(&checks), &options.force) {
        (Some(failed), None) => {
            return Err(Error::Refused(format!(
                "acquire prechecks failed (nothing was changed; --force --reason TEXT overrides):\n  {failed}"
            )))
        }
        (failed, Some(reason)) => forced_detail(reason, failed),
        (None, None) => Value::Null,
    };
    executor::execute(ctx, book, 0, opening)
}

/// In no domain but not attachable (absent, powered off): an attach cannot succeed, and stopping
/// NetBackup for it would only cost a rollback, forced or not.
fn unattachable(ctx: &Context, reading: &crate::platform::Reading) -> Option<Error> {
    (reading.location == Location::Unassigned && reading.condition == Condition::Unused).then(|| {
        Error::Refused(format!(
            "refusing to force: the controller reports {} {reading}, which cannot be attached (absent or powered \
             off); power it on first. Nothing was changed",
            ctx.platform.unit()
        ))
    })
}

/// Takes the library from a domain that cannot release: the controller's view of the board
/// decides where the acquire starts.
fn force_takeover(ctx: &Context, book: &Runbook, reason: &str) -> Result<Report, Error> {
    let reading = super::actions::read_board(ctx).map_err(|e| {
        Error::Refused(format!(
            "--force needs the controller to confirm where the {} is: {}",
            ctx.platform.noun(),
            e.message
        ))
    })?;
    let at = &reading.location;
    let attach = book.moving(true).unwrap_or_default();
    let from = match at {
        // Attached here: only the driver, NetBackup and the drives are left to do.
        Location::Domain(d) if d == &ctx.domain && reading.condition == Condition::Settled => attach + 1,
        // Here with the attach unfinished: addboard takes it from there.
        Location::Domain(d) if d == &ctx.domain => attach,
        Location::Unassigned => match unattachable(ctx, &reading) {
            Some(why) => return Err(why),
            None => 0,
        },
        Location::Domain(other) => {
            if let Some(why) = ctx.platform.forced_detach_refusal(other) {
                return Err(Error::Refused(format!("refusing to force: {why}. Nothing was changed")));
            }
            ctx.progress.note(&format!("forced: detaching {} from {other} on the controller", ctx.platform.unit()));
            executor::run_unrecorded(ctx, Operation::Acquire, &[super::release::forced_detach(other)])
                .map_err(|(_, e)| Error::Failed(e.message))?;
            0
        }
    };
    let step = &book.steps[from];
    let mut detail = forced_detail(reason, None);
    detail["board_was"] = json!(at.to_string());
    detail["board_reported"] = json!(reading.reported);
    let to = Forced::Begin {
        holder: ctx.holder.clone(),
        step: StepRef {
            operation: Operation::Acquire,
            id: step.id.into(),
            name: step.name.clone(),
            started: ctx.clock.now(),
        },
    };
    let record = ctx.ledger.commit(
        &ctx.holder,
        &Event::Force { domain: ctx.domain.clone(), reason: reason.into(), to },
        detail,
        ctx.clock.now(),
    )?;
    let fence = crate::ledger::Fence { holder: ctx.holder.clone(), epoch: record.epoch };
    executor::execute_fenced(ctx, book, from, Value::Null, Some(fence))
}

pub fn plan(ctx: &Context, options: &AcquireOptions) -> Result<Plan, Error> {
    let book = runbook(ctx);
    let precheck = PlanStep::precheck(ctx, "A0", true, options.force.is_some());
    let last = PlanStep {
        // A6, or A7 where A6 resumes the policy scheduler.
        id: format!("A{}", book.steps.len() + 1),
        name: format!("ledger: owned by {}", ctx.domain),
        groups: vec![],
        on_failure: String::new(),
    };
    let (decision, _) = decide(ctx, &book, options.force.is_some())?;
    Ok(match decision {
        Decision::Nothing(why) => {
            Plan { operation: Operation::Acquire, domain: ctx.domain.clone(), note: why, steps: vec![] }
        }
        Decision::Fresh => Plan::new(ctx, &book, 0, String::new(), vec![precheck], last),
        Decision::Resume(at) => Plan::new(ctx, &book, at, format!("resumes at {}", book.steps[at].id), vec![], last),
        Decision::Force(holder) => {
            // What F1 runs when the controller places the unit in the domain being overridden.
            let step = super::release::forced_detach(&holder);
            let f1 = PlanStep {
                id: step.id.into(),
                name: format!("{} (only if the controller places {} there)", step.name, ctx.platform.unit()),
                groups: step.actions.iter().flat_map(|a| a.plan(ctx)).collect(),
                on_failure: "exit 1, ledger unchanged".into(),
            };
            let note = format!(
                "forced takeover: the controller's view of {} decides the first step (in {holder}: detached there \
                 first{})",
                ctx.platform.unit(),
                if ctx.platform.forced_detach_refusal(&holder).is_some() {
                    ", which this controller refuses"
                } else {
                    ""
                }
            );
            Plan::new(ctx, &book, 0, note, vec![f1], last)
        }
        Decision::Elsewhere(why) => Plan::new(
            ctx,
            &book,
            0,
            format!(
                "{why}: a request is recorded{}, then these steps run once it is free",
                if options.wait.is_some() { " and ftl waits" } else { " and ftl exits 3" }
            ),
            vec![precheck],
            last,
        ),
    })
}
