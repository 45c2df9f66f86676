//! Releasing the library (SPEC section 2, R0 to R7): decide whether there is anything to do,
//! resume an interrupted release, refuse on a failed precheck, or force a release for an owner
//! that cannot do it itself.

use super::precheck::{self, Check};
use super::{executor, Action, Context, OnFailure, Plan, PlanStep, Report, Runbook, Step};
use crate::error::Error;
use crate::ledger::record::{Event, Forced, Operation, State};
use crate::platform::Location;
use serde_json::{json, Value};

#[derive(Debug, Clone, Default)]
pub struct ReleaseOptions {
    /// Release only when no job is active; otherwise do nothing and succeed.
    pub if_idle: bool,
    /// `--force --reason TEXT`.
    pub force: Option<String>,
}

pub fn runbook(ctx: &Context) -> Runbook {
    use Action::*;
    use OnFailure::*;
    let r1 = if ctx.config.netbackup.nbpemreq.is_some() {
        Step::new(
            "R1",
            "suspend the policy scheduler, drives down in NetBackup",
            &[SuspendScheduling, DrivesDown],
            // The scheduler first, so that a drive that cannot come up does not leave it suspended.
            &[TryResumeScheduling, DrivesUp],
            RollBack,
        )
    } else {
        Step::new("R1", "drives down in NetBackup", &[DrivesDown], &[DrivesUp], RollBack)
    };
    let mut steps = vec![
        r1,
        Step::new("R2", "stop NetBackup", &[StopNetBackup], &[StartNetBackup], RollBack),
        Step::new("R3", "drives at BOT", &[RewindDrives], &[], RollBack),
        Step::new("R4", ctx.host.quiesce_name(), &[Quiesce], &[Restore], RollBack),
        Step::new("R5", ctx.platform.move_name(false), &[Detach], &[], AskController { attach: false }),
    ];
    if ctx.config.netbackup.restart_after_release {
        steps.push(Step::new("R6", "NetBackup back up without the library", &[Restore, StartNetBackup], &[], Warn));
    }
    Runbook { operation: Operation::Release, steps }
}

/// What a release would start from: `Err` when there is nothing to do, with the reason.
enum Start {
    Fresh,
    Resume(usize),
    ForOther(String),
}

fn decide(ctx: &Context, book: &Runbook, force: bool) -> Result<Result<Start, String>, Error> {
    let record = ctx.ledger.read()?;
    let me = &ctx.domain;
    Ok(match &record.state {
        State::Owned { owner } if owner == me => Ok(Start::Fresh),
        State::Free => Err("the library is free; nothing to release".into()),
        State::Owned { owner } if force => Ok(Start::ForOther(owner.clone())),
        State::Owned { owner } => return Err(Error::Busy(format!("domain {owner} owns the library, not {me}"))),
        State::Releasing { holder, step } | State::Broken { holder, step }
            if &holder.domain == me && step.operation == Operation::Release =>
        {
            let at = book.position(&step.id).ok_or_else(|| {
                Error::Usage(format!("the ledger names step {}, which this runbook does not have", step.id))
            })?;
            Ok(Start::Resume(at))
        }
        state => {
            let holder = state.holder().map(|h| h.domain.clone()).unwrap_or_default();
            let step = state.step().map(|s| format!("{} {} {}", s.operation, s.id, s.name)).unwrap_or_default();
            return Err(if &holder == me {
                Error::Busy(format!(
                    "this domain has an unfinished {step} (ledger {}); run ftl-acquire to finish it first",
                    state.name()
                ))
            } else {
                Error::Busy(format!(
                    "domain {holder} is moving the library ({step}, ledger {}); if its process is gone \
                     (ftl-status --check), take the library over with ftl-acquire --force --reason TEXT",
                    state.name()
                ))
            });
        }
    })
}

fn checks(ctx: &Context) -> Result<Vec<Check>, Error> {
    let record = ctx.ledger.read()?;
    let mut checks = vec![precheck::programs(ctx), precheck::jobs(ctx), precheck::controller(ctx, &record).0];
    checks.extend(ctx.host.checks(ctx, true, false));
    Ok(checks)
}

pub fn release(ctx: &Context, options: &ReleaseOptions) -> Result<Report, Error> {
    super::validate_reason(options.force.as_deref())?;
    let result = release_validated(ctx, options);
    super::audit_force(ctx, "release", options.force.as_deref(), &result);
    result
}

fn release_validated(ctx: &Context, options: &ReleaseOptions) -> Result<Report, Error> {
    let _sequence = crate::signals::sequence();
    let _run = super::run_lock(ctx)?;
    let book = runbook(ctx);
    let epoch = || ctx.ledger.read().map(|r| r.epoch).unwrap_or(0);
    let mut start = match decide(ctx, &book, options.force.is_some())? {
        Err(why) => return Ok(Report::nothing(Operation::Release, &ctx.domain, why, epoch())),
        Ok(start) => start,
    };
    // A force overrides an owner only when that owner provably runs no sequence: hold its run
    // lock for the whole override, then look again at the record it may have changed.
    let _fenced = match &start {
        Start::ForOther(owner) => {
            let guard = super::fence_out(ctx, owner)?;
            start = match decide(ctx, &book, true)? {
                Err(why) => return Ok(Report::nothing(Operation::Release, &ctx.domain, why, epoch())),
                // Only the owner whose run lock is held may be overridden.
                Ok(Start::ForOther(again)) if again != *owner => {
                    return Err(Error::Busy(format!(
                        "refusing to force: the library moved from {owner} to {again} while this override \
                         waited; look again (ftl-status) before overriding {again}. Nothing was changed"
                    )))
                }
                Ok(start) => start,
            };
            Some(guard)
        }
        _ => None,
    };
    match start {
        Start::Resume(at) => {
            ctx.progress.note(&format!("resuming the release at {} (a previous run stopped there)", book.steps[at].id));
            executor::execute(ctx, &book, at, json!({ "resumed": true }))
        }
        Start::ForOther(owner) => force_for_other(ctx, &owner, options.force.as_deref().unwrap_or_default()),
        Start::Fresh => {
            if options.if_idle {
                let jobs = precheck::jobs(ctx);
                if jobs.unknown {
                    // Not knowing is no reason to release, and no "nothing to do" either.
                    return Err(Error::Refused(format!(
                        "--if-idle needs to know that no job runs, and cannot (nothing was changed): {}",
                        jobs.evidence
                    )));
                }
                if !jobs.ok {
                    return Ok(Report::nothing(
                        Operation::Release,
                        &ctx.domain,
                        format!("not idle, not released: {}", jobs.evidence),
                        epoch(),
                    ));
                }
            }
            let checks = checks(ctx)?;
            // A signal during the prechecks makes them fail for that reason alone: say so instead.
            if let Some(signal) = crate::signals::interrupted() {
                return Err(Error::Interrupted { signal, during: None });
            }
            let opening = match (precheck::failures(&checks), &options.force) {
                (Some(failed), None) => {
                    return Err(Error::Refused(format!(
                        "release prechecks failed (nothing was changed; --force --reason TEXT overrides):\n  {failed}"
                    )))
                }
                (failed, Some(reason)) => forced_detail(reason, failed),
                (None, None) => Value::Null,
            };
            executor::execute(ctx, &book, 0, opening)
        }
    }
}

/// The step of a forced override that takes the unit from a domain that cannot release it.
pub(crate) fn forced_detach(other: &str) -> Step {
    Step::new(
        "F1",
        format!("detach from {other} on the controller"),
        &[Action::DetachFrom(other.to_string())],
        &[],
        OnFailure::AskController { attach: false },
    )
}

pub(crate) fn forced_detail(reason: &str, overridden: Option<String>) -> Value {
    json!({
        "forced": { "reason": reason, "user": crate::os::user_name(), "host": crate::os::hostname(), "overridden": overridden }
    })
}

/// The owner cannot release (it is down): confirm the board with the controller, detach it from
/// the owner there, and record the library free.
fn force_for_other(ctx: &Context, owner: &str, reason: &str) -> Result<Report, Error> {
    let at = super::actions::read_board(ctx).map_err(|e| {
        Error::Refused(format!("cannot confirm the board's position with the controller: {}", e.message))
    })?;
    match &at.location {
        Location::Domain(d) if d == owner => {
            if let Some(why) = ctx.platform.forced_detach_refusal(owner) {
                return Err(Error::Refused(format!("refusing to force: {why}. Nothing was changed")));
            }
            ctx.progress.note(&format!("forced: detaching {} from {owner} on the controller", ctx.platform.unit()));
            executor::run_unrecorded(ctx, Operation::Release, &[forced_detach(owner)])
                .map_err(|(_, e)| Error::Failed(e.message))?;
        }
        Location::Unassigned => {}
        Location::Domain(d) => {
            return Err(Error::Refused(format!(
                "the ledger says {owner} owns the library but the {} is in {d}; resolve that by hand first",
                ctx.platform.noun()
            )))
        }
    }
    let mut detail = forced_detail(reason, None);
    detail["board_was"] = json!(at.location.to_string());
    detail["board_reported"] = json!(at.reported);
    let record = ctx.ledger.commit(
        &ctx.holder,
        &Event::Force { domain: ctx.domain.clone(), reason: reason.into(), to: Forced::Free },
        detail,
        ctx.clock.now(),
    )?;
    Ok(Report::nothing(
        Operation::Release,
        &ctx.domain,
        format!("forced: {owner}'s library released (board was {})", at.location),
        record.epoch,
    ))
}

pub fn plan(ctx: &Context, options: &ReleaseOptions) -> Result<Plan, Error> {
    let book = runbook(ctx);
    let precheck = PlanStep::precheck(ctx, "R0", false, options.force.is_some());
    let last = PlanStep { id: "R7".into(), name: "ledger: free".into(), groups: vec![], on_failure: String::new() };
    Ok(match decide(ctx, &book, options.force.is_some())? {
        Err(why) => Plan { operation: Operation::Release, domain: ctx.domain.clone(), note: why, steps: vec![] },
        // --if-idle asks the jobs first, as the run does (a query changes nothing).
        Ok(Start::Fresh) => match options.if_idle.then(|| precheck::jobs(ctx)).filter(|j| !j.ok) {
            Some(jobs) => {
                let note = if jobs.unknown {
                    format!(
                        "--if-idle cannot tell whether a job runs, so the run would refuse (exit 4): {}",
                        jobs.evidence
                    )
                } else {
                    format!("not idle, so --if-idle would not release: {}", jobs.evidence)
                };
                Plan { operation: Operation::Release, domain: ctx.domain.clone(), note, steps: vec![] }
            }
            None => Plan::new(ctx, &book, 0, String::new(), vec![precheck], last),
        },
        Ok(Start::Resume(at)) => Plan::new(ctx, &book, at, format!("resumes at {}", book.steps[at].id), vec![], last),
        Ok(Start::ForOther(owner)) => {
            let step = forced_detach(&owner);
            let mut groups = vec![super::actions::Group::of(ctx.platform.locate(&ctx.domain), false)];
            groups.extend(step.actions.iter().flat_map(|a| a.plan(ctx)));
            Plan {
                operation: Operation::Release,
                domain: ctx.domain.clone(),
                note: format!("forced release of {owner}'s library"),
                steps: vec![PlanStep {
                    id: step.id.into(),
                    name: "confirm and detach on the controller".into(),
                    groups,
                    on_failure: "exit 1, ledger unchanged".into(),
                }],
            }
        }
    })
}
