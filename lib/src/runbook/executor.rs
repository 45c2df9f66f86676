//! The executor: the one place that runs a runbook's steps, times them, reports progress,
//! journals them and rolls back.
//!
//! Before each step starts, the ledger is advanced to it (`releasing`/`acquiring` with the step),
//! so a crash always leaves a record of where it stopped, and the journal line of that advance
//! carries the previous step's duration and result. On failure the step's [`OnFailure`] decides:
//! undo this step and every earlier one in reverse (each undo is idempotent) and record the last
//! safe state, or ask the controller where the board is, or mark the ledger `broken` with the
//! step, the command and its output.

use super::progress::StepInfo;
use super::{secs, Action, ActionError, Context, Left, OnFailure, Report, Runbook, StepFailure, StepTiming};
use crate::error::Error;
use crate::ledger::record::{Event, StepRef};
use crate::platform::Location;
use serde_json::{json, Value};
use std::time::Instant;

/// Runs `book` from step index `from`. `opening` is journaled with the first step (a forced
/// takeover's reason, a resume).
pub fn execute(ctx: &Context, book: &Runbook, from: usize, opening: Value) -> Result<Report, Error> {
    let op = book.operation;
    let started = Instant::now();
    let mut timings: Vec<StepTiming> = Vec::new();
    let mut detail = opening;
    for (index, step) in book.steps.iter().enumerate().skip(from) {
        let step_ref = StepRef { operation: op, id: step.id.into(), name: step.name.into(), started: ctx.clock.now() };
        let record = ctx.ledger.commit(
            &ctx.holder,
            &Event::Begin { holder: ctx.holder.clone(), step: step_ref },
            detail,
            ctx.clock.now(),
        )?;
        let info = StepInfo {
            library: &record.library,
            domain: &ctx.domain,
            operation: op,
            id: step.id,
            name: step.name,
            epoch: record.epoch,
        };
        let width = step.actions.iter().map(|a| a.width(ctx)).max().unwrap_or(1);
        ctx.progress.step_started(&info, width);
        let t0 = Instant::now();
        let result = run_all(ctx, &step.actions);
        let elapsed = t0.elapsed();
        let mut timing = StepTiming {
            id: step.id.into(),
            name: step.name.into(),
            secs: secs(elapsed),
            parallel: width,
            summary: String::new(),
        };
        match result {
            Ok(summary) => {
                ctx.progress.step_finished(&info, elapsed, Ok(&summary));
                timing.summary = summary;
                detail = json!({ "completed": timing });
            }
            Err(error) => {
                ctx.progress.step_finished(&info, elapsed, Err(&error.message));
                timing.summary = format!("failed: {}", error.message);
                match on_failure(ctx, book, index, &error)? {
                    Continue::Yes(summary) => {
                        timing.summary = summary;
                        detail = json!({ "completed": timing, "warning": error.message });
                    }
                    Continue::No(left) => return Err(fail(ctx, book, index, error, left, timing)),
                }
            }
        }
        timings.push(timing);
    }
    let total = secs(started.elapsed());
    let finish_detail = json!({ "completed": timings.last(), "steps": timings, "total_secs": total });
    let record = ctx.ledger.commit(
        &ctx.holder,
        &Event::Finish { domain: ctx.domain.clone() },
        finish_detail,
        ctx.clock.now(),
    )?;
    Ok(Report {
        operation: op,
        domain: ctx.domain.clone(),
        outcome: match op {
            crate::ledger::record::Operation::Release => "released: the library is free".into(),
            crate::ledger::record::Operation::Acquire => {
                format!("acquired: {} owns the library", ctx.domain)
            }
        },
        epoch: record.epoch,
        steps: timings,
        total_secs: total,
    })
}

fn run_all(ctx: &Context, actions: &[Action]) -> Result<String, ActionError> {
    let mut summaries = Vec::new();
    for action in actions {
        summaries.push(action.run(ctx)?);
    }
    Ok(summaries.join("; "))
}

enum Continue {
    Yes(String),
    No(Left),
}

fn on_failure(ctx: &Context, book: &Runbook, index: usize, error: &ActionError) -> Result<Continue, Error> {
    let step = &book.steps[index];
    match step.on_failure {
        OnFailure::Warn => {
            ctx.progress.note(&format!(
                "{} {} failed, which does not affect the hand-over: {}",
                step.id, step.name, error.message
            ));
            Ok(Continue::Yes(format!("failed (not needed for the hand-over): {}", error.message)))
        }
        OnFailure::Broken => Ok(Continue::No(Left::Broken)),
        OnFailure::RollBack => Ok(Continue::No(roll_back(ctx, book, index))),
        OnFailure::AskController => {
            let attach = step.actions.contains(&Action::Attach);
            let (wanted, origin) = if attach {
                (Location::Domain(ctx.domain.clone()), Location::Unassigned)
            } else {
                (Location::Unassigned, Location::Domain(ctx.domain.clone()))
            };
            match super::actions::locate(ctx) {
                Ok(at) if at == wanted => Ok(Continue::Yes(format!("the command failed but the board is {at}: done"))),
                Ok(at) if at == origin => {
                    ctx.progress.note(&format!("the board is still {at}; rolling back"));
                    Ok(Continue::No(roll_back(ctx, book, index)))
                }
                Ok(at) => {
                    ctx.progress.note(&format!("the board is {at}, neither where it was nor where it should go"));
                    Ok(Continue::No(Left::Broken))
                }
                Err(e) => {
                    ctx.progress
                        .note(&format!("cannot tell where the board is ({}); leaving the ledger broken", e.message));
                    Ok(Continue::No(Left::Broken))
                }
            }
        }
    }
}

/// Undoes steps `index` down to the first, in reverse. Broken if any undo fails.
fn roll_back(ctx: &Context, book: &Runbook, index: usize) -> Left {
    let epoch = ctx.ledger.read().map(|r| r.epoch).unwrap_or_default();
    for step in book.steps[..=index].iter().rev() {
        for action in &step.undo {
            let label = format!("undo {}", step.id);
            let info = StepInfo {
                library: &ctx.config.library.name,
                domain: &ctx.domain,
                operation: book.operation,
                id: &label,
                name: step.name,
                epoch,
            };
            ctx.progress.step_started(&info, action.width(ctx));
            let t0 = Instant::now();
            match action.run(ctx) {
                Ok(summary) => ctx.progress.step_finished(&info, t0.elapsed(), Ok(&summary)),
                Err(e) => {
                    ctx.progress.step_finished(&info, t0.elapsed(), Err(&e.message));
                    ctx.progress.note(&format!("rollback failed at {label}: {}", e.message));
                    return Left::Broken;
                }
            }
        }
    }
    Left::RolledBack
}

fn fail(ctx: &Context, book: &Runbook, index: usize, error: ActionError, left: Left, timing: StepTiming) -> Error {
    let step = &book.steps[index];
    let failure = StepFailure {
        operation: book.operation,
        step: step.id.into(),
        name: step.name.into(),
        message: error.message,
        command: error.command,
        output: error.output,
        left,
    };
    let record = failure.to_failure(ctx.clock.now());
    let event = match left {
        Left::RolledBack => Event::RollBack { domain: ctx.domain.clone(), failure: record },
        Left::Broken => Event::Fail { domain: ctx.domain.clone(), failure: record },
    };
    if let Err(e) = ctx.ledger.commit(&ctx.holder, &event, json!({ "completed": timing }), ctx.clock.now()) {
        ctx.progress.note(&format!("could not record the failure in the ledger: {e}"));
        return e.into();
    }
    failure.into()
}
