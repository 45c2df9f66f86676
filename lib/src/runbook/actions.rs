//! The actions a runbook step is made of. Each action knows its commands (for `--dry-run`), how
//! to run them, and how to check that they did what they should. Every action is idempotent:
//! it first looks at the current state and does nothing when the work is already done, so a
//! rerun resumes safely from any step.

use super::{ActionError, Context};
use crate::exec::{Command, Output};
use crate::netbackup::{self, Control, NetBackup};
use crate::os::Tape;
use crate::platform::{Condition, Location, Reading};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `vmoprcmd -down I` for every drive, in parallel; `vmoprcmd -d ds` shows them DOWN.
    DrivesDown,
    /// `vmoprcmd -up I` for every drive, in parallel; `vmoprcmd -d ds` shows them UP.
    DrivesUp,
    /// The stop script, then `bpps -x` until empty; TERM, then KILL, what outlives the grace.
    StopNetBackup,
    /// The start script, unless the daemons already run; `bpps -x` shows them.
    StartNetBackup,
    /// The host's rewind then status for every drive, in parallel: empty or at BOT.
    RewindDrives,
    /// The host lets go of the library's devices ([`crate::host::HostOs::quiesce`]: Solaris
    /// unloads the robot driver).
    Quiesce,
    /// The host's devices are usable again ([`crate::host::HostOs::restore`]: Solaris loads the
    /// robot driver).
    Restore,
    /// The controller detaches the unit from this domain, once it has placed it here.
    Detach,
    /// The controller detaches the unit from another domain (a forced override of a domain that
    /// cannot release), once it has placed it there.
    DetachFrom(String),
    /// The controller attaches the unit to this domain.
    Attach,
    /// `nbpemreq -suspend_scheduling`: no new job starts (only in runbooks of a site that
    /// configures `netbackup.nbpemreq`).
    SuspendScheduling,
    /// `nbpemreq -resume_scheduling`.
    ResumeScheduling,
    /// `nbpemreq -resume_scheduling` in a rollback: a scheduler left suspended is noted, never a
    /// reason to leave the ledger broken (the library is still here and in use either way).
    TryResumeScheduling,
}

/// Commands shown by `--dry-run`: one group per line, parallel groups marked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Group {
    pub parallel: bool,
    pub commands: Vec<String>,
}

impl Group {
    /// The commands as the run builds them.
    pub fn of(commands: Vec<Command>, parallel: bool) -> Group {
        Group { parallel, commands: commands.iter().map(|c| c.to_string()).collect() }
    }
}

fn group(commands: Vec<Command>, parallel: bool) -> Group {
    Group::of(commands, parallel)
}

/// A move's commands: where the unit is, the move, where it is now.
fn moving(ctx: &Context, domain: &str, attach: bool) -> Vec<Group> {
    let locate = ctx.platform.locate(&ctx.domain);
    let mut commands = locate.clone();
    commands.extend(if attach { ctx.platform.attach(domain) } else { ctx.platform.detach(domain) });
    commands.extend(locate);
    vec![group(commands, false)]
}

impl Action {
    /// How many commands of this action run side by side.
    pub fn width(&self, ctx: &Context) -> usize {
        match self {
            Action::DrivesDown | Action::DrivesUp | Action::RewindDrives => ctx.config.drives.len(),
            _ => 1,
        }
    }

    pub fn plan(&self, ctx: &Context) -> Vec<Group> {
        let nb = NetBackup::new(ctx.config);
        let drives = &ctx.config.drives;
        let c = &ctx.config.commands;
        match self {
            Action::DrivesDown => vec![
                group(drives.iter().map(|d| nb.drive_down(d.index)).collect(), true),
                group(vec![nb.drive_status()], false),
            ],
            Action::DrivesUp => vec![
                group(drives.iter().map(|d| nb.drive_up(d.index)).collect(), true),
                group(vec![nb.drive_status()], false),
            ],
            Action::StopNetBackup => vec![
                group(vec![nb.processes(), nb.stop(), nb.processes()], false),
                Group {
                    parallel: false,
                    commands: vec![format!(
                        "(after {}: {} -TERM <remaining pids>, then {} -KILL <remaining pids>)",
                        crate::duration::format(ctx.config.timeouts.stop_grace),
                        c.kill,
                        c.kill
                    )],
                },
            ],
            Action::StartNetBackup => vec![group(vec![nb.processes(), nb.start(), nb.processes()], false)],
            Action::RewindDrives => vec![Group {
                parallel: true,
                commands: drives
                    .iter()
                    .map(|d| format!("{} ; {}", ctx.host.rewind(ctx, d), ctx.host.tape_status(ctx, d)))
                    .collect(),
            }],
            Action::Quiesce => ctx.host.plan_quiesce(ctx),
            Action::Restore => ctx.host.plan_restore(ctx),
            Action::Detach => moving(ctx, &ctx.domain, false),
            Action::DetachFrom(other) => moving(ctx, other, false),
            Action::Attach => moving(ctx, &ctx.domain, true),
            Action::SuspendScheduling | Action::ResumeScheduling | Action::TryResumeScheduling => {
                let suspend = *self == Action::SuspendScheduling;
                vec![group(nb.scheduling(suspend).into_iter().collect(), false)]
            }
        }
    }

    /// Runs the action; the outcome says what was found or done, and whether anything changed
    /// (an undo restores only what its step changed).
    pub fn run(&self, ctx: &Context) -> Result<Outcome, ActionError> {
        match self {
            Action::DrivesDown => set_drives(ctx, Control::Down).map(Outcome::changed),
            Action::DrivesUp => set_drives(ctx, Control::Up).map(Outcome::changed),
            Action::StopNetBackup => stop_netbackup(ctx),
            Action::StartNetBackup => start_netbackup(ctx),
            Action::RewindDrives => rewind_drives(ctx).map(Outcome::changed),
            Action::Quiesce => ctx.host.quiesce(ctx),
            Action::Restore => ctx.host.restore(ctx),
            Action::Detach => move_board(ctx, &ctx.domain, false),
            Action::DetachFrom(other) => move_board(ctx, other, false),
            Action::Attach => move_board(ctx, &ctx.domain, true),
            Action::SuspendScheduling => scheduling(ctx, true),
            Action::ResumeScheduling => scheduling(ctx, false),
            Action::TryResumeScheduling => scheduling(ctx, false).or_else(|e| {
                let note = format!(
                    "could not resume the policy scheduler: {}; if it was suspended, it stays so until resumed by hand",
                    e.message
                );
                ctx.progress.note(&note);
                Ok(Outcome::found(note))
            }),
        }
    }
}

/// What an action did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub summary: String,
    /// It changed the domain or the platform (it did not find its work already done).
    pub changed: bool,
}

impl Outcome {
    pub fn changed(summary: String) -> Outcome {
        Outcome { summary, changed: true }
    }

    pub fn found(summary: String) -> Outcome {
        Outcome { summary, changed: false }
    }
}

pub(crate) fn unexpected(command: &Command, output: &Output, reason: String) -> ActionError {
    ActionError {
        command: Some(command.to_string()),
        message: format!("`{command}` printed what ftl cannot read: {reason}"),
        output: Some(output.text()),
    }
}

/// Runs `work` once per drive, all drives at once, and gathers every drive's error (identical
/// ones once, with the drives listed).
fn per_drive<T: Send>(
    ctx: &Context,
    work: impl Fn(&crate::config::Drive) -> Result<T, ActionError> + Sync,
) -> Result<Vec<T>, ActionError> {
    let results: Vec<Result<T, ActionError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = ctx.config.drives.iter().map(|drive| scope.spawn(|| work(drive))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(ActionError::new("a drive worker panicked"))))
            .collect()
    });
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (r, drive) in results.into_iter().zip(&ctx.config.drives) {
        match r {
            Ok(v) => ok.push(v),
            Err(e) => errors.push((drive, e)),
        }
    }
    match errors.len() {
        0 => Ok(ok),
        1 => Err(errors.remove(0).1),
        n => Err(ActionError {
            command: errors[0].1.command.clone(),
            message: format!("{n} drives failed:\n  {}", same_failures(&errors).join("\n  ")),
            output: errors[0].1.output.clone(),
        }),
    }
}

/// Failures that differ only by the drive print once, with the drives listed.
fn same_failures(errors: &[(&crate::config::Drive, ActionError)]) -> Vec<String> {
    let mut groups: Vec<(String, Vec<u32>, String)> = Vec::new();
    for (drive, e) in errors {
        let device = drive.device.display().to_string();
        let key = e
            .message
            .replace(&format!("drive {} ({device})", drive.index), "drive")
            .replace(&device, "DEVICE")
            .replace(&format!("drive {}", drive.index), "drive");
        match groups.iter_mut().find(|(k, ..)| *k == key) {
            Some((_, drives, _)) => drives.push(drive.index),
            None => groups.push((key, vec![drive.index], e.message.clone())),
        }
    }
    groups
        .into_iter()
        .map(|(_, drives, first)| match drives.len() {
            1 => first.replace('\n', "\n  "),
            _ => format!(
                "drives {}, the same way; drive {}: {}",
                drives.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
                drives[0],
                first.replace('\n', "\n  ")
            ),
        })
        .collect()
}

fn drive_controls(ctx: &Context) -> Result<std::collections::BTreeMap<u32, (Control, String)>, ActionError> {
    let cmd = NetBackup::new(ctx.config).drive_status();
    let out = ctx.runner.run_ok(&cmd)?;
    netbackup::parse_drive_status(&out.stdout).map_err(|e| unexpected(&cmd, &out, e))
}

fn set_drives(ctx: &Context, want: Control) -> Result<String, ActionError> {
    let nb = NetBackup::new(ctx.config);
    per_drive(ctx, |drive| {
        let cmd = if want == Control::Down { nb.drive_down(drive.index) } else { nb.drive_up(drive.index) };
        ctx.runner.run_ok(&cmd).map_err(ActionError::from)
    })?;
    let controls = drive_controls(ctx)?;
    let wrong: Vec<String> = ctx
        .config
        .drives
        .iter()
        .filter_map(|d| match controls.get(&d.index) {
            Some((c, _)) if *c == want => None,
            Some((_, raw)) => Some(format!("drive {} shows {raw}", d.index)),
            None => Some(format!("drive {} is not listed", d.index)),
        })
        .collect();
    if !wrong.is_empty() {
        return Err(ActionError {
            command: Some(nb.drive_status().to_string()),
            message: format!("after vmoprcmd, {}", wrong.join(", ")),
            output: None,
        });
    }
    Ok(format!("{} drives {}", ctx.config.drives.len(), if want == Control::Up { "UP" } else { "DOWN" }))
}

/// NetBackup's own processes (`bpps -x` without the shared vendor section: a `pbx_exchange`
/// serves other products too and is neither waited for nor signalled).
fn processes(ctx: &Context) -> Result<Vec<netbackup::Process>, ActionError> {
    let cmd = NetBackup::new(ctx.config).processes();
    let out = ctx.runner.run_ok(&cmd)?;
    let all = netbackup::parse_processes(&out.stdout).map_err(|e| unexpected(&cmd, &out, e))?;
    Ok(all.into_iter().filter(netbackup::Process::own).collect())
}

/// Polls `bpps -x` until `done` holds or `limit` passes.
fn poll_processes(
    ctx: &Context,
    limit: Duration,
    done: impl Fn(&[netbackup::Process]) -> bool,
) -> Result<Vec<netbackup::Process>, ActionError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        let found = processes(ctx)?;
        if done(&found) || start.elapsed() >= limit {
            return Ok(found);
        }
        std::thread::sleep(pause.min(limit.saturating_sub(start.elapsed())));
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

fn stop_netbackup(ctx: &Context) -> Result<Outcome, ActionError> {
    if processes(ctx)?.is_empty() {
        return Ok(Outcome::found("NetBackup was already stopped".into()));
    }
    let stop = NetBackup::new(ctx.config).stop();
    let script_note = match ctx.runner.run_ok(&stop) {
        Ok(_) => String::new(),
        Err(e) => {
            ctx.progress.note(&format!("{e}; stopping what remains by signal"));
            format!(" ({} failed)", stop)
        }
    };
    let grace = ctx.config.timeouts.stop_grace;
    let mut left = poll_processes(ctx, grace, |p| p.is_empty())?;
    for signal in ["-TERM", "-KILL"] {
        if left.is_empty() {
            break;
        }
        let mut argv = vec![ctx.config.commands.kill.clone(), signal.to_string()];
        argv.extend(left.iter().map(|p| p.pid.to_string()));
        let kill = Command::new(argv, ctx.config.timeouts.command);
        ctx.progress.note(&format!(
            "{} NetBackup process(es) outlived {}; running {kill}",
            left.len(),
            crate::duration::format(grace)
        ));
        // A process may exit between bpps and kill; the next bpps is what counts.
        let _ = ctx.runner.run(&kill);
        left = poll_processes(ctx, Duration::from_secs(5), |p| p.is_empty())?;
    }
    if !left.is_empty() {
        let list: Vec<String> = left.iter().map(|p| format!("{} {}", p.pid, p.command)).collect();
        return Err(ActionError {
            command: Some(NetBackup::new(ctx.config).processes().to_string()),
            message: format!("NetBackup processes survived stop, TERM and KILL: {}", list.join(", ")),
            output: None,
        });
    }
    Ok(Outcome::changed(format!("NetBackup stopped{script_note}")))
}

fn scheduling(ctx: &Context, suspend: bool) -> Result<Outcome, ActionError> {
    let Some(cmd) = NetBackup::new(ctx.config).scheduling(suspend) else {
        return Ok(Outcome::found("netbackup.nbpemreq is not configured".into()));
    };
    ctx.runner.run_ok(&cmd)?;
    Ok(Outcome::changed(format!("policy scheduling {} ({cmd})", if suspend { "suspended" } else { "resumed" })))
}

fn start_netbackup(ctx: &Context) -> Result<Outcome, ActionError> {
    if !processes(ctx)?.is_empty() {
        return Ok(Outcome::found("NetBackup was already running".into()));
    }
    ctx.runner.run_ok(&NetBackup::new(ctx.config).start())?;
    let running = poll_processes(ctx, ctx.config.timeouts.netbackup_start, |p| !p.is_empty())?;
    if running.is_empty() {
        return Err(ActionError {
            command: Some(NetBackup::new(ctx.config).processes().to_string()),
            message: "the start script succeeded but bpps -x lists no NetBackup daemon".into(),
            output: None,
        });
    }
    Ok(Outcome::changed(format!("NetBackup running ({} processes)", running.len())))
}

fn rewind_drives(ctx: &Context) -> Result<String, ActionError> {
    let states = per_drive(ctx, |drive| {
        let rewind = ctx.host.rewind(ctx, drive);
        let out = ctx.runner.run(&rewind)?;
        let empty = ctx.host.rewind_found_empty(&out);
        if !out.status.success() && !empty {
            return Err(ActionError {
                command: Some(rewind.to_string()),
                message: format!(
                    "drive {} ({}): `{rewind}` failed ({})",
                    drive.index,
                    drive.device.display(),
                    out.status
                ),
                output: Some(out.text()),
            });
        }
        let status = ctx.host.tape_status(ctx, drive);
        let out = ctx.runner.run(&status)?;
        match ctx.host.read_tape(&out) {
            Ok(away @ Tape::Away { .. }) => Err(ActionError {
                command: Some(status.to_string()),
                message: format!(
                    "drive {} ({}) is not at BOT after rewind: mt status says `{away}`",
                    drive.index,
                    drive.device.display()
                ),
                output: Some(out.text()),
            }),
            Ok(tape) => Ok(tape),
            Err(e) => Err(ActionError {
                command: Some(status.to_string()),
                message: format!(
                    "drive {} ({}): `{status}` ({}) printed what ftl cannot read: {e}",
                    drive.index,
                    drive.device.display(),
                    out.status
                ),
                output: Some(out.text()),
            }),
        }
    })?;
    let empty = states.iter().filter(|t| **t == Tape::Empty).count();
    Ok(format!("{} at BOT, {empty} empty", states.len() - empty))
}

/// Asks the controller about the board and reads its answer.
pub fn read_board(ctx: &Context) -> Result<Reading, ActionError> {
    let commands = ctx.platform.locate(&ctx.domain);
    let mut answers = Vec::with_capacity(commands.len());
    for cmd in &commands {
        answers.push(ctx.runner.run(cmd)?);
    }
    ctx.platform.read_location(&answers).map_err(|e| ActionError {
        command: Some(commands.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" ; ")),
        message: e,
        output: Some(answers.iter().map(|a| a.text()).collect::<Vec<_>>().join("\n")),
    })
}

/// Where the controller says the board is.
pub fn locate(ctx: &Context) -> Result<Location, ActionError> {
    read_board(ctx).map(|r| r.location)
}

/// What a move of the board finds before it runs its DR command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Before {
    /// The move is done already.
    Done,
    /// Run the DR command.
    Run,
    /// The board is elsewhere: refuse.
    Refuse,
}

/// Before a move: detaching needs the board in this domain, in any state (deleteboard takes a
/// board left half attached or half detached); attaching needs it in no domain, or in this domain
/// with a DR operation unfinished (addboard takes those too).
pub fn before_move(attach: bool, domain: &str, at: &Reading) -> Before {
    let here = matches!(&at.location, Location::Domain(d) if d == domain);
    match (attach, &at.location) {
        (false, Location::Unassigned) => Before::Done,
        (false, _) if here => Before::Run,
        (true, _) if here && at.condition == Condition::Settled => Before::Done,
        (true, Location::Unassigned) => Before::Run,
        (true, _) if here => Before::Run,
        _ => Before::Refuse,
    }
}

/// After a DR command that exited 0: detached means in no domain; attached means in this
/// domain in no documented unfinished state (the SSP may report an undocumented status for a
/// board it has just attached, and addboard said it succeeded).
pub fn moved(attach: bool, domain: &str, at: &Reading) -> bool {
    match &at.location {
        Location::Unassigned => !attach,
        Location::Domain(d) => attach && d == domain && at.condition != Condition::Unused,
    }
}

/// What the controller's answer means after a move's DR command failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// The board is where the move wanted it, settled: the step is done after all.
    Done,
    /// The board is where the move found it, or (an attach) assigned to this domain in a
    /// documented state its operating system does not use, which the undo's deleteboard
    /// returns: undo the sequence.
    RollBack,
    /// Anywhere else, or in a state no source documents: only an operator (or a rerun, which
    /// runs the DR command again) can finish it.
    Broken,
}

pub fn after_failed_move(attach: bool, domain: &str, at: &Reading) -> AfterFailure {
    let here = matches!(&at.location, Location::Domain(d) if d == domain);
    match (attach, &at.location, at.condition) {
        (false, Location::Unassigned, _) => AfterFailure::Done,
        (false, _, Condition::Settled) if here => AfterFailure::RollBack,
        (true, _, Condition::Settled) if here => AfterFailure::Done,
        (true, Location::Unassigned, _) => AfterFailure::RollBack,
        (true, _, Condition::Unused) if here => AfterFailure::RollBack,
        _ => AfterFailure::Broken,
    }
}

fn move_board(ctx: &Context, domain: &str, attach: bool) -> Result<Outcome, ActionError> {
    let there = Location::Domain(domain.to_string());
    let (from, to) = if attach { (Location::Unassigned, there) } else { (there, Location::Unassigned) };
    let unit = ctx.platform.unit();
    let now = read_board(ctx)?;
    match before_move(attach, domain, &now) {
        Before::Done => return Ok(Outcome::found(format!("{unit} was already {to}"))),
        Before::Refuse => {
            return Err(ActionError::new(format!("{unit} is {now}, not {from} as expected; refusing to move it")))
        }
        Before::Run => {}
    }
    let commands = if attach { ctx.platform.attach(domain) } else { ctx.platform.detach(domain) };
    for cmd in &commands {
        ctx.runner.run_ok(cmd)?;
    }
    let shown = commands.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" ; ");
    // A controller whose move completes later is asked again until it shows it, or its time is up.
    let settle = ctx.platform.settle(attach);
    let started = Instant::now();
    let mut pause = Duration::from_millis(100);
    let after = loop {
        let after = read_board(ctx)?;
        if moved(attach, domain, &after) || started.elapsed() >= settle {
            break after;
        }
        std::thread::sleep(pause.min(settle.saturating_sub(started.elapsed())));
        pause = (pause * 2).min(Duration::from_secs(5));
    };
    if !moved(attach, domain, &after) {
        let waited =
            if settle.is_zero() { String::new() } else { format!(" (asked for {})", crate::duration::format(settle)) };
        return Err(ActionError {
            command: Some(shown.clone()),
            message: format!("after `{shown}` the {unit} is {after}, not {to}{waited}"),
            output: None,
        });
    }
    Ok(Outcome::changed(format!("{unit} is now {to}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(location: Location, condition: Condition) -> Reading {
        Reading { location, condition, reported: String::new() }
    }

    #[test]
    fn a_move_runs_its_dr_command_only_from_where_the_ssp_takes_the_board() {
        use Condition::*;
        let me = || Location::Domain("me".into());
        let other = || Location::Domain("other".into());
        let cases = [
            // detach
            (false, at(Location::Unassigned, Settled), Before::Done),
            (false, at(me(), Settled), Before::Run),
            (false, at(me(), Unused), Before::Run),
            (false, at(me(), Unknown), Before::Run),
            (false, at(other(), Settled), Before::Refuse),
            (false, at(other(), Unknown), Before::Refuse),
            // attach
            (true, at(Location::Unassigned, Settled), Before::Run),
            (true, at(me(), Settled), Before::Done),
            (true, at(me(), Unused), Before::Run),
            (true, at(me(), Unknown), Before::Run),
            (true, at(other(), Settled), Before::Refuse),
            (true, at(other(), Unused), Before::Refuse),
        ];
        for (attach, reading, want) in cases {
            assert_eq!(before_move(attach, "me", &reading), want, "attach {attach}, {reading:?}");
        }
        assert!(moved(false, "me", &at(Location::Unassigned, Settled)));
        assert!(!moved(false, "me", &at(me(), Settled)));
        assert!(moved(true, "me", &at(me(), Settled)));
        assert!(moved(true, "me", &at(me(), Unknown)));
        assert!(!moved(true, "me", &at(me(), Unused)));
        assert!(!moved(true, "me", &at(other(), Settled)));
        assert!(!moved(true, "me", &at(Location::Unassigned, Settled)));
    }

    #[test]
    fn a_failed_move_is_done_rolled_back_or_broken_by_the_board_state() {
        use AfterFailure::*;
        use Condition::*;
        let me = || Location::Domain("me".into());
        let other = || Location::Domain("other".into());
        let cases = [
            (false, at(Location::Unassigned, Settled), Done),
            (false, at(me(), Settled), RollBack),
            // A drained board, or one the SSP reports in no documented state: only deleteboard
            // (a rerun) or an operator finishes it.
            (false, at(me(), Unknown), Broken),
            (false, at(me(), Unused), Broken),
            (false, at(other(), Settled), Broken),
            (true, at(me(), Settled), Done),
            (true, at(Location::Unassigned, Settled), RollBack),
            // Assigned here but unconfigured: the domain does not use it; deleteboard returns it.
            (true, at(me(), Unused), RollBack),
            (true, at(me(), Unknown), Broken),
            (true, at(other(), Settled), Broken),
            (true, at(other(), Unused), Broken),
        ];
        for (attach, reading, want) in cases {
            assert_eq!(after_failed_move(attach, "me", &reading), want, "attach {attach}, {reading:?}");
        }
    }
}
