//! The hand-over runbooks (SPEC section 2) as data, and what they need to run.
//!
//! A [`Runbook`] is a list of [`Step`]s; each step is a list of [`Action`]s, the actions that
//! undo it, and what a failure of it means ([`OnFailure`]). [`executor`] is the one place that
//! runs, times, logs, journals and rolls back; [`release`] and [`acquire`] only decide which
//! runbook to run from which step, after the prechecks of [`precheck`].

pub mod acquire;
pub mod actions;
pub mod executor;
pub mod precheck;
pub mod progress;
pub mod release;

use crate::clock::Clock;
use crate::config::Config;
use crate::exec::{ExecError, Runner};
use crate::ledger::record::{Failure, Holder, Operation};
use crate::ledger::{Guard, Store};
use crate::platform::Platform;
pub use actions::Action;
pub use progress::Progress;
use std::time::Duration;

/// Everything a runbook touches, passed in.
pub struct Context<'a> {
    pub config: &'a Config,
    pub domain: String,
    pub holder: Holder,
    pub runner: &'a dyn Runner,
    pub clock: &'a dyn Clock,
    pub ledger: &'a dyn Store,
    pub platform: Box<dyn Platform>,
    pub host: Box<dyn crate::host::HostOs>,
    pub progress: &'a dyn Progress,
}

/// What a failed step means for the hand-over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Nothing irreversible happened yet: undo this step and every earlier one.
    RollBack,
    /// The step moves the unit (`attach`, or detach): ask the controller where it is. Where the
    /// step wanted it, the step is done after all; where it was, roll back; anywhere else, broken.
    AskController { attach: bool },
    /// No safe state to go back to: the ledger says `broken`.
    Broken,
    /// The hand-over is complete without this step; record the failure and go on.
    Warn,
}

pub struct Step {
    pub id: &'static str,
    pub name: String,
    pub actions: Vec<Action>,
    pub undo: Vec<Action>,
    pub on_failure: OnFailure,
}

impl Step {
    pub fn new(
        id: &'static str,
        name: impl Into<String>,
        actions: &[Action],
        undo: &[Action],
        on_failure: OnFailure,
    ) -> Step {
        Step { id, name: name.into(), actions: actions.to_vec(), undo: undo.to_vec(), on_failure }
    }
}

pub struct Runbook {
    pub operation: Operation,
    pub steps: Vec<Step>,
}

impl Runbook {
    /// The step the ledger names (a resume).
    pub fn position(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// The step that moves the unit (attach, or detach).
    pub fn moving(&self, attach: bool) -> Option<usize> {
        self.steps.iter().position(|s| s.on_failure == OnFailure::AskController { attach })
    }
}

/// Why an action failed: the command involved (as typed), what was wrong, what it printed.
#[derive(Debug, Clone)]
pub struct ActionError {
    pub command: Option<String>,
    pub message: String,
    pub output: Option<String>,
}

impl From<ExecError> for ActionError {
    fn from(e: ExecError) -> Self {
        ActionError { command: Some(e.command().to_string()), message: e.to_string(), output: e.output_text() }
    }
}

impl ActionError {
    pub fn new(message: impl Into<String>) -> Self {
        ActionError { command: None, message: message.into(), output: None }
    }
}

/// A hand-over that stopped at a step, and where it left the library.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed at {step} ({name}): {message}{}", match .left { Left::RolledBack => format!("\nrolled back: {}", restored_note(*.operation, .restored)), Left::Broken => "\nthe ledger is now `broken`; fix the cause, then run the same command again to resume from this step (or use --force --reason TEXT)".to_string() })]
pub struct StepFailure {
    pub operation: Operation,
    pub step: String,
    pub name: String,
    pub message: String,
    pub command: Option<String>,
    pub output: Option<String>,
    pub left: Left,
    /// What the rollback restored, in words (only what the failed sequence had changed).
    pub restored: Vec<String>,
}

/// What a rollback restored, and who owns the library after it.
pub(crate) fn restored_note(op: Operation, restored: &[String]) -> String {
    let what = if restored.is_empty() {
        "nothing needed restoring (the steps done had found their work already done)".to_string()
    } else {
        format!("restored {}", restored.join(", "))
    };
    match op {
        Operation::Release => format!("{what}; this domain still owns the library"),
        Operation::Acquire => format!("{what}; the domain is as the acquire found it and the library is free"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Left {
    RolledBack,
    Broken,
}

impl StepFailure {
    pub fn to_failure(&self, at: chrono::DateTime<chrono::Utc>) -> Failure {
        Failure {
            step: format!("{} {}", self.step, self.name),
            command: self.command.clone(),
            message: self.message.clone(),
            output: self.output.clone(),
            at,
        }
    }
}

/// How long one step took, for the time line, the journal and the demo.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepTiming {
    pub id: String,
    pub name: String,
    pub secs: f64,
    /// How many commands ran side by side (the drives), 1 for sequential steps.
    pub parallel: usize,
    pub summary: String,
}

/// A completed hand-over (or a request that needed nothing done).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub operation: Operation,
    pub domain: String,
    pub outcome: String,
    pub epoch: u64,
    pub steps: Vec<StepTiming>,
    pub total_secs: f64,
}

impl Report {
    pub fn nothing(operation: Operation, domain: &str, why: String, epoch: u64) -> Report {
        Report { operation, domain: domain.into(), outcome: why, epoch, steps: Vec::new(), total_secs: 0.0 }
    }
}

pub(crate) fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Takes this domain's run lock for the whole sequence: one hand-over per domain at a time.
/// When it is free, any `releasing`/`acquiring` record held by this domain belongs to a process
/// that died, and may be resumed. A hook probing the lock holds it for an instant, so the lock
/// is waited for briefly before another sequence is called running.
pub fn run_lock(ctx: &Context) -> Result<Guard, crate::Error> {
    match ctx.ledger.run_lock(&ctx.domain, &ctx.holder, PROBE_WAIT)? {
        Ok(guard) => Ok(guard),
        Err(note) => Err(crate::Error::RunLockHeld { domain: ctx.domain.clone(), note }),
    }
}

/// Refuses `--force` with a reason that says nothing, before anything is looked at or run.
pub fn validate_reason(reason: Option<&str>) -> Result<(), crate::Error> {
    match reason {
        // Spaces, or characters that print nothing (a zero-width space), say nothing.
        Some(r) if !r.chars().any(char::is_alphanumeric) => Err(crate::Error::BlankReason),
        _ => Ok(()),
    }
}

/// Journals a `--force` that did not go through (refused, or failed on the way) with the
/// operator, the host, the reason and what came of it; one that acted is journaled by the
/// transitions it made. The audit line changes no record.
pub fn audit_force(ctx: &Context, operation: &str, reason: Option<&str>, result: &Result<Report, crate::Error>) {
    let (Some(reason), Err(error)) = (reason, result) else {
        return;
    };
    let mut detail = release::forced_detail(reason, None);
    detail["forced"]["outcome"] =
        serde_json::json!(format!("refused or failed (exit {}): {error}", error.exit().code()));
    detail["forced"]["operation"] = serde_json::json!(operation);
    if let Err(e) = ctx.ledger.audit(&ctx.holder, "force not done", detail, ctx.clock.now()) {
        ctx.progress.note(&format!("the refused --force could not be journaled: {e}"));
    }
}

/// How long a sequence waits for a run lock held by a probe.
pub const PROBE_WAIT: Duration = Duration::from_secs(1);

/// For a forced override: takes the run lock of `domain`, the holder being overridden, which
/// proves that no sequence of it runs (a live one holds its lock). Refused otherwise, before
/// anything is changed.
pub fn fence_out(ctx: &Context, domain: &str) -> Result<Guard, crate::Error> {
    match ctx.ledger.run_lock(domain, &ctx.holder, PROBE_WAIT)? {
        Ok(guard) => Ok(guard),
        Err(note) => Err(crate::Error::HolderRunning { domain: domain.to_string(), note }),
    }
}

/// What `--dry-run` prints: every command in order, parallel groups marked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub operation: Operation,
    pub domain: String,
    pub note: String,
    pub steps: Vec<PlanStep>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanStep {
    pub id: String,
    pub name: String,
    pub groups: Vec<actions::Group>,
    pub on_failure: String,
}

impl PlanStep {
    /// R0 or A0: what the prechecks of a release (`attach` false) or an acquire run and read.
    pub fn precheck(ctx: &Context, id: &str, attach: bool, forced: bool) -> PlanStep {
        PlanStep {
            id: id.into(),
            name: "precheck".into(),
            groups: vec![actions::Group {
                parallel: false,
                commands: [crate::netbackup::NetBackup::new(ctx.config).jobs()]
                    .into_iter()
                    .chain(ctx.platform.locate(&ctx.domain))
                    .map(|c| c.to_string())
                    .chain(ctx.host.plan_checks(ctx, attach))
                    .collect(),
            }],
            on_failure: if forced { "overridden by --force".into() } else { "refuse, exit 4".into() },
        }
    }
}

impl Plan {
    pub fn new(
        ctx: &Context,
        book: &Runbook,
        from: usize,
        note: String,
        prelude: Vec<PlanStep>,
        last: PlanStep,
    ) -> Plan {
        let mut steps = prelude;
        steps.extend(book.steps.iter().skip(from).map(|s| PlanStep {
            id: s.id.into(),
            name: s.name.clone(),
            groups: s.actions.iter().flat_map(|a| a.plan(ctx)).collect(),
            on_failure: match s.on_failure {
                OnFailure::RollBack => "roll back".into(),
                OnFailure::AskController { .. } => format!("ask the controller where the {} is", ctx.platform.noun()),
                OnFailure::Broken => "ledger broken; rerun resumes here".into(),
                OnFailure::Warn => "warn and go on".into(),
            },
        }));
        steps.push(last);
        Plan { operation: book.operation, domain: ctx.domain.clone(), note, steps }
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} plan for domain {} (dry run: nothing is run or changed)", self.operation, self.domain)?;
        if !self.note.is_empty() {
            writeln!(f, "  {}", self.note)?;
        }
        for step in &self.steps {
            let failure = if step.on_failure.is_empty() {
                String::new()
            } else {
                format!("   [on failure: {}]", step.on_failure)
            };
            writeln!(f, "{} {}{failure}", step.id, step.name)?;
            for group in &step.groups {
                if group.parallel && group.commands.len() > 1 {
                    writeln!(f, "  in parallel ({}):", group.commands.len())?;
                    for c in &group.commands {
                        writeln!(f, "    | {c}")?;
                    }
                } else {
                    for c in &group.commands {
                        writeln!(f, "    {c}")?;
                    }
                }
            }
        }
        Ok(())
    }
}
