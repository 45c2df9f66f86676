//! The NetBackup notify hooks, all in one binary (`ftl-notify`) installed under the script names.
//!
//! Start hooks (`session_start_notify`, `bpstart_notify[.POLICY[.SCHEDULE]]`,
//! `parent_start_notify`) answer at once when the library is here: one configuration parse and
//! one read of the ledger record, no journal, no controller, no thread. When it is elsewhere they
//! record the job's claim as a request that expires (at the end of the domain's open window, or
//! after `requests.ttl`), start a detached background acquire (which waits for the owner's
//! release and for this domain to be idle, since acquiring restarts NetBackup, and acquires only
//! while that claim lasts) and exit 3 so that NetBackup fails the job now and retries it later
//! (`hooks.fail_job_when_elsewhere = false` exits 0 instead). End hooks (`session_notify`,
//! `bpend_notify`, `backup_exit_notify`, `parent_end_notify`) start a detached background
//! release that waits for the domain to be idle, then does what the policy says
//! ([`crate::policy`]): release only when this domain's claim has ended and another waits. A hook
//! never stops NetBackup itself: its own job is still running while it runs. Many hooks fired
//! at once start one background worker of each kind (a per-domain lock decides), and one
//! hand-over (the run lock decides). Hooks write nothing on stdout.

use crate::error::Error;
use crate::exec::{Command, ExecError, Output, Runner, Status};
use crate::ledger::record::{Event, Record, Request, State};
use crate::policy::{self, Decision, Site, Trigger};
use crate::runbook::acquire::{self, AcquireOptions};
use crate::runbook::release::{self, ReleaseOptions};
use crate::runbook::{precheck, Context};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the site's own hook, set aside by install.sh, is renamed to.
pub const SITE_SUFFIX: &str = ".ftl-site";

const SCHEDULE_TYPES: &[&str] = &["FULL", "INCR", "CINC", "UBAK", "UARC"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A backup is about to run: the library must be here.
    Start,
    /// A backup ended: the library may go.
    End,
}

/// Every NetBackup notify script ftl answers to: its name, the arguments NetBackup passes it,
/// and whether it starts or ends work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// `session_start_notify`: a set of due backups starts (on the master server).
    SessionStart,
    /// `session_notify`: the session ends (on the master server).
    Session,
    /// `bpstart_notify[.POLICY[.SCHEDULE]]`: a backup starts.
    BpStart,
    /// `bpend_notify[.POLICY[.SCHEDULE]]`: a backup ended.
    BpEnd,
    /// `backup_exit_notify`: a backup job exited.
    BackupExit,
    /// `parent_start_notify`: the parent job of a multistream backup starts.
    ParentStart,
    /// `parent_end_notify`: the parent job of a multistream backup ended.
    ParentEnd,
}

impl Hook {
    const ALL: [Hook; 7] = [
        Hook::SessionStart,
        Hook::BpStart,
        Hook::ParentStart,
        Hook::Session,
        Hook::BpEnd,
        Hook::BackupExit,
        Hook::ParentEnd,
    ];

    /// Every hook, start hooks first (the order of `ftl-notify --help`).
    pub fn all() -> &'static [Hook] {
        &Hook::ALL
    }

    /// The script's name in NetBackup's bin directory.
    pub fn name(self) -> &'static str {
        match self {
            Hook::SessionStart => "session_start_notify",
            Hook::Session => "session_notify",
            Hook::BpStart => "bpstart_notify",
            Hook::BpEnd => "bpend_notify",
            Hook::BackupExit => "backup_exit_notify",
            Hook::ParentStart => "parent_start_notify",
            Hook::ParentEnd => "parent_end_notify",
        }
    }

    /// The hook called exactly `name`.
    pub fn from_name(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|h| h.name() == name)
    }

    /// The hook a script name stands for: `bpstart_notify.POLICY.SCHEDULE` is [`Hook::BpStart`].
    pub fn of_script(script: &str) -> Option<Hook> {
        Hook::from_name(script).or_else(|| {
            let (base, _policy) = script.split_once('.')?;
            Hook::from_name(base).filter(|h| h.per_policy())
        })
    }

    /// NetBackup also runs it as `NAME.POLICY` and `NAME.POLICY.SCHEDULE`.
    pub fn per_policy(self) -> bool {
        matches!(self, Hook::BpStart | Hook::BpEnd)
    }

    /// The arguments NetBackup passes, as a usage line shows them.
    pub fn arguments(self) -> &'static str {
        match self {
            Hook::SessionStart | Hook::Session => "",
            Hook::BpStart => "CLIENT POLICY SCHEDULE SCHEDTYPE",
            Hook::BpEnd => "CLIENT POLICY SCHEDULE SCHEDTYPE STATUS",
            Hook::BackupExit => "CLIENT POLICY SCHEDULE SCHEDTYPE STATUS [STREAM DONE_TRYING]",
            Hook::ParentStart | Hook::ParentEnd => "CLIENT POLICY SCHEDULE SCHEDTYPE STATUS STREAM",
        }
    }

    /// How many arguments NetBackup passes.
    pub fn argument_counts(self) -> &'static [usize] {
        match self {
            Hook::SessionStart | Hook::Session => &[0],
            Hook::BpStart => &[4],
            Hook::BpEnd => &[5],
            Hook::BackupExit => &[5, 7],
            Hook::ParentStart | Hook::ParentEnd => &[6],
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Hook::SessionStart | Hook::BpStart | Hook::ParentStart => Kind::Start,
            Hook::Session | Hook::BpEnd | Hook::BackupExit | Hook::ParentEnd => Kind::End,
        }
    }

    /// One line of `ftl-notify --help`: how NetBackup calls it.
    pub fn synopsis(self) -> String {
        let name = if self.per_policy() { format!("{}[.POLICY[.SCHEDULE]]", self.name()) } else { self.name().into() };
        match self {
            Hook::SessionStart => format!("{name:<52} (master, start of a due set)"),
            Hook::Session => format!("{name:<52} (master, end of the session)"),
            _ => format!("{name} {}", self.arguments()),
        }
    }
}

impl std::fmt::Display for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A validated hook call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The hook (`bpstart_notify` for `bpstart_notify.daily.full`).
    pub hook: Hook,
    pub args: Vec<String>,
}

impl Call {
    pub fn kind(&self) -> Kind {
        self.hook.kind()
    }
}

/// Validates NetBackup's positional arguments for `name`.
pub fn parse(name: &str, args: &[String]) -> Result<Call, String> {
    let hook = Hook::of_script(name).ok_or_else(|| {
        format!(
            "`{name}` is not a NetBackup notify script ftl answers to (known: {})",
            Hook::all().iter().map(|h| h.name()).collect::<Vec<_>>().join(", ")
        )
    })?;
    let bad = |why: String| format!("{name}: {why} (expected: {name} {})", hook.arguments());
    if !hook.argument_counts().contains(&args.len()) {
        return Err(bad(format!("{} argument(s) given", args.len())));
    }
    for (i, what) in ["CLIENT", "POLICY", "SCHEDULE"].iter().enumerate() {
        if let Some(a) = args.get(i) {
            if a.is_empty() || a.starts_with('-') || a.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad(format!("{what} `{a}` is not a NetBackup name")));
            }
        }
    }
    if let Some(t) = args.get(3) {
        if !SCHEDULE_TYPES.contains(&t.as_str()) {
            return Err(bad(format!("SCHEDTYPE `{t}` is not one of {}", SCHEDULE_TYPES.join(", "))));
        }
    }
    if let Some(s) = args.get(4) {
        if s.parse::<u32>().is_err() {
            return Err(bad(format!("STATUS `{s}` is not a status code")));
        }
    }
    if let Some(s) = args.get(5) {
        if s.parse::<i64>().is_err() {
            return Err(bad(format!("STREAM `{s}` is not a stream number")));
        }
    }
    if let Some(d) = args.get(6) {
        if d != "0" && d != "1" {
            return Err(bad(format!("DONE_TRYING `{d}` is not 0 or 1")));
        }
    }
    Ok(Call { hook, args: args.to_vec() })
}

/// Where NetBackup keeps its notify scripts (and install.sh the site's own, set aside).
pub const NETBACKUP_BIN: &str = "/usr/openv/netbackup/bin";

/// The site's own hook for a call: `NAME.ftl-site` beside the script NetBackup ran (`invoked`,
/// as NetBackup runs it, by absolute path), or in NetBackup's bin directory when ftl-notify was
/// called by a relative name or given the hook as an argument. Never a path relative to the
/// current directory.
pub fn site_hook(invoked: &Path, by_link: bool) -> Option<PathBuf> {
    let name = invoked.file_name()?;
    // NetBackup runs its scripts by absolute path; a relative one says nothing trustworthy.
    let script =
        if by_link && invoked.is_absolute() { invoked.to_path_buf() } else { Path::new(NETBACKUP_BIN).join(name) };
    let mut site = script.into_os_string();
    site.push(SITE_SUFFIX);
    Some(PathBuf::from(site))
}

/// What the site's own hook did: its exit code (1 when a signal killed it) and what it printed,
/// which the caller passes on to where it always went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteHookRun {
    /// Its exit status; 128 + N when signal N killed it (as a shell reports it); 1 when it
    /// could not be started or did not finish in time.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// Why it failed when its status does not say (a signal, a timeout, no start).
    pub note: Option<String>,
}

/// How long the site's own hook may run.
pub const SITE_HOOK_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs the site's own hook, set aside by install.sh, before ftl's work, through `runner` (its
/// argument vector is the hook and NetBackup's arguments, never a shell). Returns what it did,
/// or why it was not run or did not finish. It runs as root on the word of its file, so it must
/// pass the trust checks of the configuration ([`crate::trust`]).
pub fn run_site_hook(
    runner: &dyn Runner,
    site: &Path,
    args: &[String],
    timeout: Duration,
) -> Option<Result<SiteHookRun, String>> {
    if !site.is_file() {
        return None;
    }
    // The very file that was checked is the one run: links resolved first, and the file and
    // every directory above it trusted, so that nobody else could swap it in between.
    let site = match site.canonicalize() {
        Ok(real) => real,
        Err(e) => return Some(Err(format!("{}: cannot resolve the site's hook: {e}", site.display()))),
    };
    if let Err(e) = crate::trust::check_chain(&site, "site hook") {
        return Some(Err(e.to_string()));
    }
    let mut argv = vec![site.display().to_string()];
    argv.extend(args.iter().cloned());
    Some(match runner.run(&Command::new(argv, timeout)) {
        Ok(Output { status, stdout, stderr, .. }) => Ok(match status {
            Status::Exited(code) => SiteHookRun { code, stdout, stderr, note: None },
            Status::Signalled(sig) => SiteHookRun {
                code: 128 + sig,
                stdout,
                stderr,
                note: Some(format!("the site's hook {} was killed by signal {sig}", site.display())),
            },
        }),
        // The site's hook failed (it is not a configuration error of ftl's): status 1.
        Err(e) => {
            let note = match e {
                ExecError::Timeout { .. } => format!(
                    "the site's hook {} did not finish within {} and was killed with its process group",
                    site.display(),
                    crate::duration::format(timeout)
                ),
                ExecError::Spawn { reason, .. } => format!("cannot run the site's hook {}: {reason}", site.display()),
                e => e.to_string(),
            };
            Ok(SiteHookRun { code: 1, stdout: String::new(), stderr: String::new(), note: Some(note) })
        }
    })
}

/// What a hook decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The library is here (start) or nothing needs doing (end).
    Here,
    /// The library is elsewhere: a request and a background acquire were arranged.
    Elsewhere { worker_started: bool },
    /// A background release was arranged.
    ReleaseScheduled { worker_started: bool },
}

/// What a hook is to do, decided from the record alone: the one decision that both a hook and
/// its `--dry-run` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// A start hook with the library here, or an end hook of a domain that does not own it.
    Nothing,
    /// A start hook with the library elsewhere: record the job's claim as a request (when the
    /// policy says one is needed) and start a background acquire.
    Acquire,
    /// An end hook of the owner: start a background release, which asks the policy once idle.
    Release,
}

pub fn intent(record: &Record, domain: &str, call: &Call) -> Intent {
    let mine = matches!(&record.state, State::Owned { owner } if owner == domain);
    match call.kind() {
        Kind::Start if mine => Intent::Nothing,
        Kind::Start => Intent::Acquire,
        Kind::End if mine => Intent::Release,
        Kind::End => Intent::Nothing,
    }
}

/// What the policy says a start hook does with the library elsewhere (see [`crate::policy`]).
fn start_decision(ctx: &Context, record: &Record) -> Result<Decision, Error> {
    let now = ctx.clock.now();
    let site = Site::read(ctx, now, &chrono::Local)?;
    Ok(policy::decide(Trigger::StartHook, &site.situation(record, &ctx.domain, now, false)))
}

/// The fast, common part of every hook: read the record and decide. `spawn` starts a detached
/// background worker (`acquire` or `release`) and is only called when one is needed.
pub fn answer(ctx: &Context, call: &Call, spawn: &mut dyn FnMut(&str) -> Result<(), Error>) -> Result<Answer, Error> {
    let record = ctx.ledger.read()?;
    match intent(&record, &ctx.domain, call) {
        Intent::Nothing => Ok(Answer::Here),
        Intent::Acquire => {
            if let Decision::Request { until, .. } = start_decision(ctx, &record)? {
                let request = Request { domain: ctx.domain.clone(), at: ctx.clock.now(), until: Some(until) };
                match ctx.ledger.commit(
                    &ctx.holder,
                    &Event::Request(request),
                    serde_json::json!({ "hook": call.hook.name() }),
                    ctx.clock.now(),
                ) {
                    Ok(_) | Err(crate::ledger::LedgerError::Forbidden(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(Answer::Elsewhere { worker_started: start_worker(ctx, "acquire", spawn)? })
        }
        Intent::Release => Ok(Answer::ReleaseScheduled { worker_started: start_worker(ctx, "release", spawn)? }),
    }
}

/// What [`answer`] would do, in words, for `--dry-run`: it reads the record and changes nothing
/// (not even a worker's lock file).
pub fn describe(ctx: &Context, call: &Call, fail_job_when_elsewhere: bool) -> Result<String, Error> {
    let record = ctx.ledger.read()?;
    let domain = &ctx.domain;
    let where_ = match record.state.owner() {
        Some(owner) => format!("owned by {owner}"),
        None => format!("{:?}", record.state.name()).to_lowercase(),
    };
    Ok(match intent(&record, domain, call) {
        Intent::Nothing if call.kind() == Kind::Start => {
            format!("{}: the library is here ({where_}): would exit 0 and do nothing else", call.hook)
        }
        Intent::Nothing => format!("{}: the library is not this domain's ({where_}): would do nothing", call.hook),
        Intent::Acquire => {
            let request = match start_decision(ctx, &record)? {
                Decision::Request { until, .. } => {
                    format!("record a request for {domain} until {}, ", until.format("%Y-%m-%d %H:%M UTC"))
                }
                _ => String::new(),
            };
            format!(
                "{}: the library is elsewhere ({where_}): would {request}start a background acquire for {domain} \
                 (unless one is already running), then exit {}",
                call.hook,
                if fail_job_when_elsewhere { 3 } else { 0 }
            )
        }
        Intent::Release => format!(
            "{}: {domain} owns the library: would start a background release (unless one is already \
             running) that waits until {domain} is idle and then does what the policy says (it releases \
             only when {domain}'s claim has ended and another domain claims the library), then exit 0",
            call.hook
        ),
    })
}

/// Starts a worker unless one of that kind (or a hand-over of this domain) is already running.
fn start_worker(ctx: &Context, kind: &str, spawn: &mut dyn FnMut(&str) -> Result<(), Error>) -> Result<bool, Error> {
    // This domain's own run lock: missing means no sequence of it ran yet (the first creates it).
    let running = match ctx.ledger.running(&ctx.domain) {
        Err(crate::ledger::LedgerError::Lock(crate::ledger::lock::LockError::Missing { .. })) => false,
        other => other?.is_some(),
    };
    if ctx.ledger.worker_lock(kind, &ctx.domain)?.is_none() || running {
        return Ok(false);
    }
    spawn(kind)?;
    Ok(true)
}

/// The detached background worker. Exactly one of each kind runs per domain; a second one exits.
pub fn background(ctx: &Context, kind: &str, acquire_wait: Duration, release_wait: Duration) -> Result<String, Error> {
    let Some(_guard) = ctx.ledger.worker_lock(kind, &ctx.domain)? else {
        return Ok(format!("another background {kind} is already running"));
    };
    match kind {
        "acquire" => Ok(acquire::acquire(
            ctx,
            &AcquireOptions { wait: Some(acquire_wait), for_claim: true, ..AcquireOptions::default() },
        )?
        .outcome),
        _ => release_when_due(ctx, release_wait),
    }
}

/// Waits (at most `limit`) for this domain to be idle, then does what the policy says for an end
/// hook: release when this domain's claim has ended and another claim waits, otherwise keep.
fn release_when_due(ctx: &Context, limit: Duration) -> Result<String, Error> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(200);
    loop {
        let record = ctx.ledger.read()?;
        if !matches!(&record.state, State::Owned { owner } if *owner == ctx.domain) {
            return Ok("the library is no longer owned by this domain".into());
        }
        let now = ctx.clock.now();
        let site = Site::read(ctx, now, &chrono::Local)?;
        let jobs = precheck::jobs(ctx);
        match policy::decide(Trigger::EndHook, &site.situation(&record, &ctx.domain, now, jobs.ok)) {
            Decision::Release { why, ended_jobs } => {
                let force = ended_jobs.then(|| format!("end hook: {why} ({})", jobs.evidence));
                return Ok(release::release(ctx, &ReleaseOptions { if_idle: !ended_jobs, force })?.outcome);
            }
            Decision::WaitForJobs { .. } if start.elapsed() < limit => {}
            Decision::WaitForJobs { why } => {
                return Ok(format!(
                    "{why}; still busy after {}, the window tick takes over",
                    crate::duration::format(limit)
                ))
            }
            other => return Ok(other.why().to_string()),
        }
        // A change of the record (a request, another holder) is acted on at once.
        ctx.ledger.wait_for_change(record.epoch, pause)?;
        pause = (pause * 2).min(Duration::from_secs(15));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{RecordingRunner, Reply};

    fn s(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn names_and_suffixes() {
        assert_eq!(Hook::of_script("bpstart_notify"), Some(Hook::BpStart));
        assert_eq!(Hook::of_script("bpstart_notify.daily"), Some(Hook::BpStart));
        assert_eq!(Hook::of_script("bpstart_notify.daily.full"), Some(Hook::BpStart));
        assert_eq!(Hook::of_script("bpend_notify.daily"), Some(Hook::BpEnd));
        assert_eq!(Hook::of_script("session_notify"), Some(Hook::Session));
        assert_eq!(Hook::of_script("session_notify.x"), None);
        assert_eq!(Hook::of_script("bpstart_notifyx"), None);
        assert_eq!(Hook::of_script("ftl-notify"), None);
    }

    #[test]
    fn every_hook_is_found_by_its_name_and_says_what_it_takes() {
        assert_eq!(Hook::all().len(), 7);
        for hook in Hook::all() {
            assert_eq!(Hook::from_name(hook.name()), Some(*hook));
            assert_eq!(Hook::of_script(hook.name()), Some(*hook));
            // The usage line names as many arguments as NetBackup passes (the most of them).
            let named = hook.arguments().split_whitespace().count();
            assert_eq!(hook.argument_counts().iter().max(), Some(&named), "{hook}");
            assert!(hook.synopsis().starts_with(hook.name()), "{}", hook.synopsis());
        }
        let starts: Vec<&str> = Hook::all().iter().filter(|h| h.kind() == Kind::Start).map(|h| h.name()).collect();
        assert_eq!(starts, ["session_start_notify", "bpstart_notify", "parent_start_notify"]);
    }

    #[test]
    fn valid_arguments() {
        assert_eq!(parse("session_start_notify", &[]).unwrap().kind(), Kind::Start);
        assert_eq!(parse("session_notify", &[]).unwrap().kind(), Kind::End);
        assert_eq!(parse("bpstart_notify.p.s", &s(&["db1", "p", "s", "FULL"])).unwrap().kind(), Kind::Start);
        assert_eq!(parse("bpend_notify", &s(&["db1", "p", "s", "INCR", "0"])).unwrap().kind(), Kind::End);
        assert!(parse("backup_exit_notify", &s(&["db1", "p", "s", "CINC", "73"])).is_ok());
        assert!(parse("backup_exit_notify", &s(&["db1", "p", "s", "CINC", "0", "-1", "1"])).is_ok());
        assert!(parse("parent_start_notify", &s(&["db1", "p", "s", "UBAK", "0", "-1"])).is_ok());
        assert!(parse("parent_end_notify", &s(&["db1", "p", "s", "UARC", "0", "-1"])).is_ok());
    }

    #[test]
    fn malformed_arguments() {
        for (name, args) in [
            ("session_start_notify", s(&["x"])),
            ("bpstart_notify", s(&["db1", "p", "s"])),
            ("bpstart_notify", s(&["db1", "p", "s", "WEEKLY"])),
            ("bpstart_notify", s(&["-rf", "p", "s", "FULL"])),
            ("bpstart_notify", s(&["", "p", "s", "FULL"])),
            ("bpend_notify", s(&["db1", "p", "s", "FULL", "ok"])),
            ("backup_exit_notify", s(&["db1", "p", "s", "FULL", "0", "-1"])),
            ("backup_exit_notify", s(&["db1", "p", "s", "FULL", "0", "x", "1"])),
            ("backup_exit_notify", s(&["db1", "p", "s", "FULL", "0", "0", "2"])),
            ("parent_end_notify", s(&["db1", "p", "s", "FULL", "0"])),
            ("rm", s(&[])),
        ] {
            let err = parse(name, &args).expect_err(&format!("{name} {args:?}"));
            assert!(err.contains(name), "{err}");
        }
    }

    /// A site hook in a directory of its own, as install.sh leaves it.
    fn site_hook_file() -> (assert_fs::TempDir, PathBuf) {
        let dir = assert_fs::TempDir::new().unwrap();
        let script = dir.path().join(format!("bpstart_notify{SITE_SUFFIX}"));
        std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let script = script.canonicalize().unwrap();
        (dir, script)
    }

    #[test]
    fn the_site_hook_runs_through_the_runner_with_netbackups_arguments() {
        let (_dir, script) = site_hook_file();
        let runner = RecordingRunner::new();
        runner.always(
            &[script.to_str().unwrap()],
            Reply::Exit { code: 7, stdout: "out\n".into(), stderr: "err\n".into() },
        );
        let args = s(&["db1", "p", "s", "FULL"]);
        let run = run_site_hook(&runner, &script, &args, SITE_HOOK_TIMEOUT).unwrap().unwrap();
        assert_eq!(run, SiteHookRun { code: 7, stdout: "out\n".into(), stderr: "err\n".into(), note: None });
        let calls = runner.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].argv, [script.to_str().unwrap(), "db1", "p", "s", "FULL"]);
        assert_eq!(calls[0].timeout, Duration::from_secs(300));
        assert!(calls[0].env.is_empty(), "{:?}", calls[0].env);
    }

    #[test]
    fn a_site_hook_that_hangs_or_cannot_start_is_a_message() {
        let (_dir, script) = site_hook_file();
        let runner = RecordingRunner::new();
        runner.once(&[script.to_str().unwrap()], Reply::Timeout);
        runner.once(&[script.to_str().unwrap()], Reply::NotStarted("Exec format error".into()));
        let run = run_site_hook(&runner, &script, &[], Duration::from_secs(300)).unwrap().unwrap();
        assert_eq!(run.code, 1, "a hung site hook failed; it is no usage error");
        assert_eq!(
            run.note.unwrap(),
            format!(
                "the site's hook {} did not finish within 5m and was killed with its process group",
                script.display()
            )
        );
        let run = run_site_hook(&runner, &script, &[], SITE_HOOK_TIMEOUT).unwrap().unwrap();
        assert_eq!(run.code, 1);
        assert_eq!(run.note.unwrap(), format!("cannot run the site's hook {}: Exec format error", script.display()));
    }

    #[test]
    fn no_site_hook_or_an_untrusted_one_runs_nothing() {
        let (dir, script) = site_hook_file();
        let runner = RecordingRunner::new();
        assert_eq!(run_site_hook(&runner, &dir.path().join("bpend_notify.ftl-site"), &[], SITE_HOOK_TIMEOUT), None);
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let err = run_site_hook(&runner, &script, &[], SITE_HOOK_TIMEOUT).unwrap().unwrap_err();
        assert!(err.contains("bpstart_notify.ftl-site"), "{err}");
        assert!(runner.calls().is_empty(), "{:?}", runner.calls());
    }
}
