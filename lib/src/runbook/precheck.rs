//! Prechecks (R0, A0, and `ftl-status --check`): each check reports pass or fail with the
//! evidence it saw, so an operator can act on a refusal without running anything by hand.
//! Checks only read; none changes the platform or the ledger.

use super::{actions, Context};
use crate::exec::Command;
use crate::ledger::record::{Record, State};
use crate::netbackup::{self, NetBackup};
use crate::os;
use crate::platform::{Condition, Location};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub evidence: String,
    /// The check could not look (its command failed): not a finding about the domain.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unknown: bool,
}

impl Check {
    pub(crate) fn pass(name: &'static str, evidence: impl Into<String>) -> Check {
        Check { name, ok: true, evidence: evidence.into(), unknown: false }
    }
    pub(crate) fn fail(name: &'static str, evidence: impl Into<String>) -> Check {
        Check { name, ok: false, evidence: evidence.into(), unknown: false }
    }
    pub(crate) fn unknown(name: &'static str, evidence: impl Into<String>) -> Check {
        Check { name, ok: false, evidence: evidence.into(), unknown: true }
    }
}

/// Before a release: no active job on this domain's NetBackup, and (unless
/// `netbackup.pending_jobs_block` is false) no queued, re-queued, suspended or incomplete one,
/// which would come back for a drive.
pub fn jobs(ctx: &Context) -> Check {
    job_check(ctx, "no active job, none pending", ctx.config.netbackup.pending_jobs_block)
}

/// Before an acquire: no active job here (its NetBackup is about to stop). Pending jobs are what
/// the acquire is for, so they are listed but never refuse it.
pub fn active_jobs(ctx: &Context) -> Check {
    job_check(ctx, "no active job here", false)
}

fn job_check(ctx: &Context, name: &'static str, pending_block: bool) -> Check {
    let cmd = NetBackup::new(ctx.config).jobs();
    let out = match ctx.runner.run_ok(&cmd) {
        Ok(out) => out,
        Err(e) => {
            // bpdbjobs needs NetBackup running; stopped, it cannot have a job either.
            let ps = NetBackup::new(ctx.config).processes();
            return match ctx.runner.run_ok(&ps).map(|o| netbackup::parse_processes(&o.stdout)) {
                Ok(Ok(p)) if netbackup::own(&p).is_empty() => Check::pass(
                    name,
                    format!(
                        "NetBackup is not running on {} (bpps -x lists none of its daemons), so no job is active",
                        ctx.domain
                    ),
                ),
                _ => Check::unknown(name, format!("cannot tell whether a job runs: {e}")),
            };
        }
    };
    let jobs = match netbackup::parse_jobs(&out.stdout) {
        Err(e) => return Check::unknown(name, format!("`{cmd}` printed what ftl cannot read: {e}")),
        Ok(jobs) => jobs,
    };
    let list = |jobs: &[&netbackup::Job]| -> String {
        jobs.iter()
            .map(|j| format!("job {} {} ({} {} on {})", j.id, j.state.name(), j.policy, j.schedule, j.client))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let active = netbackup::active_jobs(&jobs);
    let pending = netbackup::pending_jobs(&jobs);
    let key = format!("netbackup.pending_jobs_block in {}", ctx.config.path.display());
    match (active.is_empty(), pending.is_empty()) {
        (false, _) => Check::fail(name, format!("{} active: {}", active.len(), list(&active))),
        (true, false) if pending_block => Check::fail(
            name,
            format!(
                "{} pending, which will come back for a drive: {} (set {key} to false to release anyway)",
                pending.len(),
                list(&pending)
            ),
        ),
        (true, false) => Check::pass(name, format!("none active; {} pending: {}", pending.len(), list(&pending))),
        (true, true) => Check::pass(name, format!("bpdbjobs lists {} job(s), none active or pending", jobs.len())),
    }
}

/// Where the ledger says the board should be, when it says.
fn expected(record: &Record) -> Option<Location> {
    match &record.state {
        State::Owned { owner } => Some(Location::Domain(owner.clone())),
        State::Free => Some(Location::Unassigned),
        _ => None,
    }
}

/// The controller answers, and its view of the board agrees with the ledger: where the ledger
/// says the board is, and not left there unused by an unfinished DR operation.
pub fn controller(ctx: &Context, record: &Record) -> (Check, Option<Location>) {
    const NAME: &str = "controller agrees with the ledger";
    match actions::read_board(ctx) {
        Err(e) => (Check::fail(NAME, format!("controller unreachable or unreadable: {}", e.message)), None),
        Ok(at) => {
            let board = ctx.platform.unit();
            let check = match expected(record) {
                Some(Location::Unassigned)
                    if at.location == Location::Unassigned && at.condition == Condition::Unused =>
                {
                    Check::fail(
                        NAME,
                        format!(
                            "{board} is {at}: in no domain, as the ledger says, but not attachable (absent \
                             or powered off); no domain can acquire it until it is powered on"
                        ),
                    )
                }
                Some(want) if want == at.location && at.condition == Condition::Unused => Check::fail(
                    NAME,
                    format!(
                        "{board} is {at}: where the ledger says, but not in use by the domain (a DR \
                         operation left unfinished?)"
                    ),
                ),
                Some(want) if want == at.location => Check::pass(NAME, format!("{board} is {at}, as the ledger says")),
                Some(want) => Check::fail(
                    NAME,
                    format!(
                        "{board} is {at}, but the ledger says it should be {want} (ledger {})",
                        record.state.name()
                    ),
                ),
                None => Check::pass(
                    NAME,
                    format!("{board} is {at} (ledger {}, a sequence is in flight)", record.state.name()),
                ),
            };
            (check, Some(at.location))
        }
    }
}

fn listing(
    ctx: &Context,
    name: &'static str,
    cmd: Command,
    parse: fn(&str, &[u32]) -> Result<Vec<String>, String>,
    good: &str,
) -> Check {
    match ctx.runner.run_ok(&cmd) {
        Err(e) => Check::fail(name, e.to_string()),
        Ok(out) => match parse(&out.stdout, ctx.platform.cpus()) {
            Err(e) => Check::fail(name, format!("`{cmd}` printed what ftl cannot read: {e}")),
            Ok(found) if found.is_empty() => Check::pass(name, good),
            Ok(found) => Check::fail(name, found.join("; ")),
        },
    }
}

/// `psrset -i`.
pub fn processor_sets_command(ctx: &Context) -> Command {
    Command::new([ctx.config.commands.psrset.as_str(), "-i"], ctx.config.timeouts.command)
}

/// `pbind -q`.
pub fn bound_threads_command(ctx: &Context) -> Command {
    Command::new([ctx.config.commands.pbind.as_str(), "-q"], ctx.config.timeouts.command)
}

/// No processor set holds a processor of the board (`psrset -i`).
pub fn processor_sets(ctx: &Context) -> Check {
    let cpus: Vec<String> = ctx.platform.cpus().iter().map(u32::to_string).collect();
    listing(
        ctx,
        "no processor set on the board",
        processor_sets_command(ctx),
        os::parse_psrset,
        &format!("no set holds processors {}", cpus.join(" ")),
    )
}

/// No thread is bound to a processor of the board (`pbind -q`).
pub fn bound_threads(ctx: &Context) -> Check {
    listing(
        ctx,
        "no thread bound to the board",
        bound_threads_command(ctx),
        os::parse_pbind,
        "no process is bound to a board processor",
    )
}

/// `modinfo` is readable and says whether the robot driver is loaded.
pub fn driver(ctx: &Context) -> Check {
    const NAME: &str = "robot driver readable";
    let cmd = crate::host::solaris::modinfo(ctx);
    let driver = &ctx.config.library.driver;
    match ctx.runner.run_ok(&cmd) {
        Err(e) => Check::fail(NAME, e.to_string()),
        Ok(out) => match os::parse_modinfo(&out.stdout, driver) {
            Ok(Some(id)) => Check::pass(NAME, format!("{driver} is loaded (id {id})")),
            Ok(None) => Check::pass(NAME, format!("{driver} is not loaded")),
            Err(e) => Check::fail(NAME, format!("`{cmd}` printed what ftl cannot read: {e}")),
        },
    }
}

/// A moving or broken record whose holder is gone needs an operator (or a tick) to finish it.
/// Whether the holder is alive is judged by its run lock on the shared ledger, which any host
/// can test, never by a process id that only means something on the holder's host
/// ([`crate::ledger::liveness`]); a holder whose run lock nobody holds is LOST, and the check
/// says how long ago the record last changed.
pub fn sequence(ctx: &Context, record: &Record) -> Check {
    use crate::ledger::Liveness;
    const NAME: &str = "no interrupted hand-over";
    let (Some(h), Some(step), Some(holding)) =
        (record.state.holder(), record.state.step(), crate::ledger::liveness(ctx.ledger, record))
    else {
        return Check::pass(NAME, format!("the ledger is {}", record.state.name()));
    };
    let now = ctx.clock.now();
    let changed = format!(
        "the record last changed {} ago ({})",
        crate::duration::format(std::time::Duration::from_secs((now - holding.changed).num_seconds().max(0) as u64)),
        holding.changed.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let lost = format!(
        "the holder is LOST: no process holds {}'s run lock (it was pid {} on {}); {changed}",
        h.domain, h.pid, h.host
    );
    match (&record.state, &holding.liveness) {
        (State::Broken { .. }, liveness) => Check::fail(
            NAME,
            format!(
                "the ledger is broken at {} {} ({}): {}; {}; fix the cause, then on {} rerun ftl-{} to resume, or take over with --force --reason",
                step.id,
                step.name,
                step.operation,
                record.last_error.as_ref().map(|e| e.message.as_str()).unwrap_or("no error recorded"),
                match liveness {
                    Liveness::Running { note } => format!("{note} holds {}'s run lock now", h.domain),
                    Liveness::Lost => lost.clone(),
                    Liveness::Unknown { error } => format!("cannot tell whether its holder runs: {error}"),
                },
                h.domain,
                step.operation
            ),
        ),
        (_, Liveness::Running { note }) => Check::pass(
            NAME,
            format!("{} {} is running on {} ({note} holds its run lock)", step.operation, step.id, h.domain),
        ),
        (_, Liveness::Lost) => Check::fail(
            NAME,
            format!(
                "{} was interrupted at {} {}: {lost}; on {} rerun ftl-{} to resume it, or take over with --force --reason",
                step.operation, step.id, step.name, h.domain, step.operation
            ),
        ),
        (_, Liveness::Unknown { error }) => Check::fail(
            NAME,
            format!(
                "{} at {} {} of {}: cannot tell whether it still runs: {error}; {changed}",
                step.operation, step.id, step.name, h.domain
            ),
        ),
    }
}

/// Every program the configuration names for this host exists and may be run: a missing one is
/// found before a step needs it (after R1 it could only be rolled back, or leave the ledger
/// broken when its undo needs it too).
pub fn programs(ctx: &Context) -> Check {
    use std::os::unix::fs::PermissionsExt;
    const NAME: &str = "configured programs present";
    let file = ctx.config.path.display();
    let missing: Vec<String> = ctx
        .config
        .programs()
        .into_iter()
        .filter(|(program, _)| {
            !std::fs::metadata(program).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .map(|(program, key)| format!("{program} (`{key}` in {file}) is not an executable file"))
        .collect();
    if missing.is_empty() {
        Check::pass(NAME, "every program the configuration names is an executable file")
    } else {
        Check::fail(NAME, missing.join("; "))
    }
}

/// Every check, for `ftl-status --check`.
pub fn all(ctx: &Context, record: &Record) -> Vec<Check> {
    let mut checks = vec![sequence(ctx, record), programs(ctx), jobs(ctx), controller(ctx, record).0];
    checks.extend(ctx.host.checks(ctx, true, true));
    checks
}

/// One line per failed check, for a refusal message.
pub fn failures(checks: &[Check]) -> Option<String> {
    let failed: Vec<String> = checks.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.name, c.evidence)).collect();
    (!failed.is_empty()).then(|| failed.join("\n  "))
}
