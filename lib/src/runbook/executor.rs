//! The executor: the one place that runs a runbook's steps, times them, reports progress,
//! journals them and rolls back.
//!
//! Before each step starts, the ledger is advanced to it (`releasing`/`acquiring` with the step),
//! so a crash always leaves a record of where it stopped, and the journal line of that advance
//! carries the previous step's duration and result. On failure the step's [`OnFailure`] decides:
//! undo this step and every earlier one in reverse (each undo is idempotent) and record the last
//! safe state, or ask the controller where the board is, or mark the ledger `broken` with the
//! step, the command and its output.
//!
//! Every commit after the sequence's first is fenced ([`Fence`]): the record must still be the
//! one this sequence wrote, or the sequence stops without running anything more. A ledger that
//! cannot be written in the middle of a sequence is handled like a failed step, with one
//! difference: the rollback is recorded before it is undone, and when even that cannot be
//! recorded nothing is undone, so that the domain stays exactly as the ledger says. A signal
//! ([`crate::signals`]) lets the running command finish, then the sequence records where it
//! stands and stops.

use super::progress::StepInfo;
use super::{secs, Action, ActionError, Context, Left, OnFailure, Report, Runbook, Step, StepFailure, StepTiming};
use crate::error::Error;
use crate::ledger::lock::LockError;
use crate::ledger::record::{Event, Failure, Operation, Record, StepRef};
use crate::ledger::{Fence, LedgerError};
use crate::signals;
use serde_json::{json, Value};
use std::time::Instant;

/// Runs `book` from step index `from`. `opening` is journaled with the first step (a forced
/// takeover's reason, a resume).
pub fn execute(ctx: &Context, book: &Runbook, from: usize, opening: Value) -> Result<Report, Error> {
    execute_fenced(ctx, book, from, opening, None)
}

/// [`execute`] after this sequence has already written the record (a forced takeover): `fence`
/// is what it wrote.
pub fn execute_fenced(
    ctx: &Context,
    book: &Runbook,
    from: usize,
    opening: Value,
    fence: Option<Fence>,
) -> Result<Report, Error> {
    let _sequence = signals::sequence();
    let op = book.operation;
    let started = Instant::now();
    let mut timings: Vec<StepTiming> = Vec::new();
    let mut detail = opening;
    let mut fence = fence;
    // Which steps changed something: an undo restores only that. Steps before `from` were run
    // by an earlier process, so they count as changed.
    let mut changed: Vec<bool> = (0..book.steps.len()).map(|i| i < from).collect();
    for (index, step) in book.steps.iter().enumerate().skip(from) {
        let begin = |ctx: &Context| Event::Begin {
            holder: ctx.holder.clone(),
            step: StepRef { operation: op, id: step.id.into(), name: step.name.clone(), started: ctx.clock.now() },
        };
        if crate::ledger::lock_lost() {
            // Another sequence may hold the run lock now: run nothing more, undo nothing, write
            // nothing (the fence stops a commit anyway once the other writes).
            let done: Vec<&str> = book.steps[..index].iter().map(|s| s.id).collect();
            return Err(Error::Failed(format!(
                "the {op} stopped before {} {}: this process lost its run lock (its lease expired: it was stopped \
                 or cut off from the ledger longer than ledger.lease_ttl), so another sequence may run now. Nothing \
                 more was run or undone (steps done here: {}); the ledger says {}. Run {} on {} again once \
                 ftl-status shows no holder running",
                step.id,
                step.name,
                if done.is_empty() { "none".to_string() } else { done.join(", ") },
                standing(ctx),
                resume_hint(op),
                ctx.domain
            )));
        }
        if let Some(signal) = signals::interrupted() {
            if fence.is_none() {
                return Err(Error::Interrupted { signal, during: None });
            }
            detail["interrupted"] = json!(signal.to_string());
            let recorded = commit(ctx, &mut fence, &begin(ctx), detail);
            return Err(interrupted(ctx, book, index, signal, recorded, "before it started"));
        }
        let first = fence.is_none();
        let record = match commit(ctx, &mut fence, &begin(ctx), detail) {
            Ok(record) => record,
            // Nothing was written yet: the ledger error is the whole story.
            Err(e) if first => return Err(e.into()),
            Err(e) => return Err(ledger_failed(ctx, book, index, e, &mut fence, &changed)),
        };
        let info = StepInfo {
            library: &record.library,
            domain: &ctx.domain,
            operation: op,
            id: step.id,
            name: &step.name,
            epoch: record.epoch,
        };
        let (result, mut timing) = run_step(ctx, &info, step);
        // A failed step may have done part of its work: its undo runs in a rollback.
        changed[index] = result.as_ref().map_or(true, |(_, changed)| *changed);
        match result.map(|(summary, _)| summary) {
            Ok(summary) => {
                timing.summary = summary;
                detail = json!({ "completed": timing });
            }
            Err(error) => {
                timing.summary = format!("failed: {}", error.message);
                if let Some(signal) = signals::interrupted() {
                    let detail = json!({ "interrupted": signal.to_string(), "completed": timing });
                    let recorded = commit(ctx, &mut fence, &begin(ctx), detail);
                    return Err(interrupted(ctx, book, index, signal, recorded, "while it ran"));
                }
                let mut error = error;
                match on_failure(ctx, book, index, &mut error, &changed)? {
                    Continue::Yes(summary) => {
                        timing.summary = summary;
                        detail = json!({ "completed": timing, "warning": error.message });
                    }
                    Continue::No(left, restored) => {
                        return Err(fail(ctx, book, index, error, left, restored, timing, &mut fence))
                    }
                }
            }
        }
        timings.push(timing);
    }
    let total = secs(started.elapsed());
    let finish_detail = json!({ "completed": timings.last(), "steps": timings, "total_secs": total });
    let record = match commit(ctx, &mut fence, &Event::Finish { domain: ctx.domain.clone() }, finish_detail) {
        Ok(record) => record,
        Err(e) => return Err(ledger_failed(ctx, book, book.steps.len(), e, &mut fence, &changed)),
    };
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

/// Runs one step's actions with its progress and timing: the one place a step runs, for a
/// journaled sequence and for [`run_unrecorded`] alike.
fn run_step(ctx: &Context, info: &StepInfo, step: &Step) -> (Result<(String, bool), ActionError>, StepTiming) {
    let width = step.actions.iter().map(|a| a.width(ctx)).max().unwrap_or(1);
    ctx.progress.step_started(info, width);
    let t0 = Instant::now();
    let result = run_all(ctx, &step.actions);
    let elapsed = t0.elapsed();
    match &result {
        Ok((summary, _)) => ctx.progress.step_finished(info, elapsed, Ok(summary)),
        Err(error) => ctx.progress.step_finished(info, elapsed, Err(&error.message)),
    }
    let timing = StepTiming {
        id: step.id.into(),
        name: step.name.clone(),
        secs: secs(elapsed),
        parallel: width,
        summary: result.as_ref().map(|(s, _)| s.clone()).unwrap_or_default(),
    };
    (result, timing)
}

/// Runs steps that change no record: a domain's boot (the ledger names it owner already), and a
/// forced override's detach from the domain that cannot release (before the override is
/// recorded, so that a failure leaves the ledger as it was). The first failure stops them, with
/// its step's index.
pub fn run_unrecorded(ctx: &Context, op: Operation, steps: &[Step]) -> Result<Vec<StepTiming>, (usize, ActionError)> {
    let epoch = ctx.ledger.read().map(|r| r.epoch).unwrap_or_default();
    let mut timings = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let info = StepInfo {
            library: &ctx.config.library.name,
            domain: &ctx.domain,
            operation: op,
            id: step.id,
            name: &step.name,
            epoch,
        };
        match run_step(ctx, &info, step) {
            (Ok(_), timing) => timings.push(timing),
            (Err(e), _) => return Err((index, e)),
        }
    }
    Ok(timings)
}

/// Runs a step's actions: the summaries, and whether any of them changed something.
fn run_all(ctx: &Context, actions: &[Action]) -> Result<(String, bool), ActionError> {
    let mut summaries = Vec::new();
    let mut changed = false;
    for action in actions {
        let outcome = action.run(ctx)?;
        changed |= outcome.changed;
        summaries.push(outcome.summary);
    }
    Ok((summaries.join("; "), changed))
}

enum Continue {
    Yes(String),
    /// Stop: where the library was left, and what a rollback restored.
    No(Left, Vec<String>),
}

fn on_failure(
    ctx: &Context,
    book: &Runbook,
    index: usize,
    error: &mut ActionError,
    changed: &[bool],
) -> Result<Continue, Error> {
    let step = &book.steps[index];
    if crate::ledger::lock_lost() {
        // Another sequence may act now: an undo would fight it. Leave it to the operator.
        let note = "this process lost its run lock (its lease expired), so nothing is undone";
        ctx.progress.note(note);
        error.message = format!("{}; {note}", error.message);
        return Ok(Continue::No(Left::Broken, Vec::new()));
    }
    match step.on_failure {
        OnFailure::Warn => {
            ctx.progress.note(&format!(
                "{} {} failed, which does not affect the hand-over: {}",
                step.id, step.name, error.message
            ));
            Ok(Continue::Yes(format!("failed (not needed for the hand-over): {}", error.message)))
        }
        OnFailure::Broken => Ok(Continue::No(Left::Broken, Vec::new())),
        OnFailure::RollBack => Ok(roll_back(ctx, book, index, changed)),
        OnFailure::AskController { attach } => {
            use super::actions::{after_failed_move, read_board, AfterFailure};
            match read_board(ctx) {
                Ok(at) => match after_failed_move(attach, &ctx.domain, &at) {
                    AfterFailure::Done => {
                        Ok(Continue::Yes(format!("the command failed but the {} is {at}: done", ctx.platform.noun())))
                    }
                    AfterFailure::RollBack if !attach && ctx.platform.detach_may_finish_later() => {
                        // Still here, but the detach may finish by itself later: rolled back, the
                        // ledger would say "owned" of a unit that can leave at any moment.
                        let note = format!(
                            "the controller still reports {} {at}, but this controller's detach may still finish \
                             later: ftl does not roll back to a state that can change behind the ledger",
                            ctx.platform.unit()
                        );
                        ctx.progress.note(&note);
                        error.message = format!("{}; {note}", error.message);
                        Ok(Continue::No(Left::Broken, Vec::new()))
                    }
                    AfterFailure::RollBack => {
                        ctx.progress.note(&format!("the {} is {at}; rolling back", ctx.platform.noun()));
                        Ok(roll_back(ctx, book, index, changed))
                    }
                    AfterFailure::Broken => {
                        let note = format!(
                            "the controller now reports {} {at}: ftl can neither finish nor undo the move from \
                             there",
                            ctx.platform.unit()
                        );
                        ctx.progress.note(&note);
                        error.message = format!("{}; {note}", error.message);
                        Ok(Continue::No(Left::Broken, Vec::new()))
                    }
                },
                Err(e) => {
                    let note = format!("cannot tell where the {} is: {}", ctx.platform.noun(), e.message);
                    ctx.progress.note(&format!("{note}; leaving the ledger broken"));
                    error.message = format!("{}; {note}", error.message);
                    Ok(Continue::No(Left::Broken, Vec::new()))
                }
            }
        }
    }
}

/// Undoes steps `index` down to the first, in reverse, each only when it changed something.
/// Broken if any undo fails.
fn roll_back(ctx: &Context, book: &Runbook, index: usize, changed: &[bool]) -> Continue {
    match undo(ctx, book, index, changed) {
        Ok(restored) => Continue::No(Left::RolledBack, restored),
        Err(_) => Continue::No(Left::Broken, Vec::new()),
    }
}

/// Runs the undo actions of steps `index` down to the first that changed something; the first
/// failure stops it. Returns what was restored, in words.
fn undo(ctx: &Context, book: &Runbook, index: usize, changed: &[bool]) -> Result<Vec<String>, String> {
    let _finish_it = signals::rollback();
    let epoch = ctx.ledger.read().map(|r| r.epoch).unwrap_or_default();
    let mut restored = Vec::new();
    for (i, step) in book.steps[..=index].iter().enumerate().rev() {
        if !changed.get(i).copied().unwrap_or(true) {
            continue;
        }
        for action in &step.undo {
            let label = format!("undo {}", step.id);
            let info = StepInfo {
                library: &ctx.config.library.name,
                domain: &ctx.domain,
                operation: book.operation,
                id: &label,
                name: &step.name,
                epoch,
            };
            ctx.progress.step_started(&info, action.width(ctx));
            let t0 = Instant::now();
            match action.run(ctx) {
                Ok(outcome) => {
                    ctx.progress.step_finished(&info, t0.elapsed(), Ok(&outcome.summary));
                    if outcome.changed {
                        restored.push(format!("{} ({label})", outcome.summary));
                    }
                }
                Err(e) => {
                    ctx.progress.step_finished(&info, t0.elapsed(), Err(&e.message));
                    let why = format!("rollback failed at {label}: {}", e.message);
                    ctx.progress.note(&why);
                    return Err(why);
                }
            }
        }
    }
    Ok(restored)
}

/// Commits `event` for this sequence: fenced once the sequence has written the record, and
/// retried when the ledger lock is busy, since giving up in the middle of a hand-over costs more
/// than waiting. Remembers what was written.
fn commit(ctx: &Context, fence: &mut Option<Fence>, event: &Event, detail: Value) -> Result<Record, LedgerError> {
    let mut tries = 0;
    loop {
        match ctx.ledger.commit_fenced(&ctx.holder, event, detail.clone(), ctx.clock.now(), fence.as_ref()) {
            Ok(record) => {
                *fence = Some(Fence { holder: ctx.holder.clone(), epoch: record.epoch });
                return Ok(record);
            }
            Err(LedgerError::Lock(LockError::Timeout { .. })) if fence.is_some() && tries < 2 => {
                tries += 1;
                ctx.progress.note("the ledger lock is busy; trying again");
            }
            Err(e) => return Err(e),
        }
    }
}

fn resume_hint(op: Operation) -> &'static str {
    match op {
        Operation::Release => "ftl-release",
        Operation::Acquire => "ftl-acquire",
    }
}

/// What the ledger says now, in words, for messages.
fn standing(ctx: &Context) -> String {
    match ctx.ledger.read() {
        Ok(r) => {
            let step = r.state.step().map(|s| format!(" at {} {}", s.id, s.name)).unwrap_or_default();
            let who = r.state.owner().map(|o| format!(" by {o}")).unwrap_or_default();
            format!("{}{who}{step} (epoch {})", r.state.name(), r.epoch)
        }
        Err(e) => format!("unreadable ({e})"),
    }
}

/// A signal stopped the sequence at step `index`: it has been recorded there (or could not be).
fn interrupted(
    ctx: &Context,
    book: &Runbook,
    index: usize,
    signal: signals::Signal,
    recorded: Result<Record, LedgerError>,
    when: &str,
) -> Error {
    let step = &book.steps[index];
    let resume = resume_hint(book.operation);
    let note = match recorded {
        Ok(_) => format!("the ledger says {}", standing(ctx)),
        Err(e) => format!("the stop could not be recorded ({e}); the ledger says {}", standing(ctx)),
    };
    Error::Interrupted {
        signal,
        during: Some(format!(
            "the {} stopped at {} {} ({when}); no command was left running; {note}. Run {resume} on {} \
             again to resume from {}",
            book.operation, step.id, step.name, ctx.domain, step.id
        )),
    }
}

/// The ledger could not record the start of step `index` (or, past the last step, the end).
/// Steps before `index` are done; `changed` says which of them changed something.
fn ledger_failed(
    ctx: &Context,
    book: &Runbook,
    index: usize,
    error: LedgerError,
    fence: &mut Option<Fence>,
    changed: &[bool],
) -> Error {
    let op = book.operation;
    let resume = resume_hint(op);
    let at = if index < book.steps.len() {
        format!("before {} {}", book.steps[index].id, book.steps[index].name)
    } else {
        "after its last step".into()
    };
    if matches!(error, LedgerError::Fenced { .. } | LedgerError::Behind { .. }) {
        // Somebody else wrote the record: whatever it says now is theirs, so touch nothing.
        let done: Vec<&str> = book.steps[..index].iter().map(|s| s.id).collect();
        let message = format!(
            "the {op} stopped {at}: {error}. Nothing was undone (steps done here: {}); the ledger says {}",
            if done.is_empty() { "none".to_string() } else { done.join(", ") },
            standing(ctx)
        );
        return match error {
            LedgerError::Fenced { .. } => Error::Busy(message),
            _ => Error::Failed(message),
        };
    }
    let reversible = index > 0 && book.steps[..index].iter().all(|s| s.on_failure == OnFailure::RollBack);
    if !reversible {
        return Error::Failed(format!(
            "the {op} stopped {at}: the ledger could not be updated: {error}. Nothing was undone; the \
             ledger says {}. Every step is idempotent: once the ledger can be written, run {resume} on {} \
             again to finish",
            standing(ctx),
            ctx.domain
        ));
    }
    let failure = Failure {
        step: format!("ledger {at}"),
        command: None,
        message: error.to_string(),
        output: None,
        at: ctx.clock.now(),
    };
    // Record the rollback before undoing anything, so that the ledger never disagrees with it.
    if let Err(again) = commit(ctx, fence, &Event::RollBack { domain: ctx.domain.clone(), failure }, Value::Null) {
        return Error::Failed(format!(
            "the {op} stopped {at}: the ledger could not be updated: {error}; nor could a rollback be \
             recorded ({again}), so nothing was undone and the domain is as the ledger says: {}. Once the \
             ledger can be written, run {resume} on {} again to resume",
            standing(ctx),
            ctx.domain
        ));
    }
    match undo(ctx, book, index - 1, changed) {
        Ok(restored) => Error::Failed(format!(
            "the {op} stopped {at}: the ledger could not be updated: {error}. Rolled back: {}; the ledger \
             says {}",
            super::restored_note(op, &restored),
            standing(ctx)
        )),
        Err(undo_error) => Error::Failed(format!(
            "the {op} stopped {at}: the ledger could not be updated: {error}. The rollback is recorded \
             (the ledger says {}) but undoing failed: {undo_error}; finish it by hand",
            standing(ctx)
        )),
    }
}

#[allow(clippy::too_many_arguments)]
fn fail(
    ctx: &Context,
    book: &Runbook,
    index: usize,
    error: ActionError,
    left: Left,
    restored: Vec<String>,
    timing: StepTiming,
    fence: &mut Option<Fence>,
) -> Error {
    let step = &book.steps[index];
    let failure = StepFailure {
        operation: book.operation,
        step: step.id.into(),
        name: step.name.clone(),
        message: error.message,
        command: error.command,
        output: error.output,
        left,
        restored,
    };
    let record = failure.to_failure(ctx.clock.now());
    let event = match left {
        Left::RolledBack => Event::RollBack { domain: ctx.domain.clone(), failure: record },
        Left::Broken => Event::Fail { domain: ctx.domain.clone(), failure: record },
    };
    if let Err(e) = commit(ctx, fence, &event, json!({ "completed": timing })) {
        return Error::Failed(format!("{failure}\nand the ledger could not record it: {e}; it says {}", standing(ctx)));
    }
    failure.into()
}

#[cfg(test)]
mod tests;
