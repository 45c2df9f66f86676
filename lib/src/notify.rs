//! The NetBackup notify hooks, all in one binary (`ftl-notify`) installed under the script names.
//!
//! Start hooks (`session_start_notify`, `bpstart_notify[.POLICY[.SCHEDULE]]`,
//! `parent_start_notify`) answer at once when the library is here: one configuration parse and
//! one read of `state.json`, no journal, no controller, no thread. When it is elsewhere they
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
use crate::ledger::record::{Event, Record, Request, State};
use crate::policy::{self, Decision, Site, Trigger};
use crate::runbook::acquire::{self, AcquireOptions};
use crate::runbook::release::{self, ReleaseOptions};
use crate::runbook::{precheck, Context};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The hook scripts ftl answers to, with the arguments NetBackup passes them.
pub const HOOKS: &[(&str, &str)] = &[
    ("session_start_notify", ""),
    ("session_notify", ""),
    ("bpstart_notify", "CLIENT POLICY SCHEDULE SCHEDTYPE"),
    ("bpend_notify", "CLIENT POLICY SCHEDULE SCHEDTYPE STATUS"),
    ("backup_exit_notify", "CLIENT POLICY SCHEDULE SCHEDTYPE STATUS [STREAM DONE_TRYING]"),
    ("parent_start_notify", "CLIENT POLICY SCHEDULE SCHEDTYPE STATUS STREAM"),
    ("parent_end_notify", "CLIENT POLICY SCHEDULE SCHEDTYPE STATUS STREAM"),
];

/// What the site's own hook, set aside by install.sh, is renamed to.
pub const SITE_SUFFIX: &str = ".ftl-site";

const SCHEDULE_TYPES: &[&str] = &["FULL", "INCR", "CINC", "UBAK", "UARC"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Start,
    End,
}

/// A validated hook call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The hook's base name (`bpstart_notify` for `bpstart_notify.daily.full`).
    pub hook: &'static str,
    pub kind: Kind,
    pub args: Vec<String>,
}

/// The base hook a script name stands for: `bpstart_notify.POLICY.SCHEDULE` is `bpstart_notify`.
pub fn hook_of(name: &str) -> Option<&'static str> {
    HOOKS.iter().map(|(h, _)| *h).find(|h| {
        name == *h
            || (name.starts_with(h)
                && name[h.len()..].starts_with('.')
                && (*h == "bpstart_notify" || *h == "bpend_notify"))
    })
}

/// Validates NetBackup's positional arguments for `name`.
pub fn parse(name: &str, args: &[String]) -> Result<Call, String> {
    let hook = hook_of(name).ok_or_else(|| {
        format!(
            "`{name}` is not a NetBackup notify script ftl answers to (known: {})",
            HOOKS.iter().map(|h| h.0).collect::<Vec<_>>().join(", ")
        )
    })?;
    let usage = HOOKS.iter().find(|h| h.0 == hook).map(|h| h.1).unwrap_or("");
    let bad = |why: String| format!("{name}: {why} (expected: {name} {usage})");
    let counts: &[usize] = match hook {
        "session_start_notify" | "session_notify" => &[0],
        "bpstart_notify" => &[4],
        "bpend_notify" => &[5],
        "backup_exit_notify" => &[5, 7],
        _ => &[6],
    };
    if !counts.contains(&args.len()) {
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
    let kind = if matches!(hook, "session_start_notify" | "bpstart_notify" | "parent_start_notify") {
        Kind::Start
    } else {
        Kind::End
    };
    Ok(Call { hook, kind, args: args.to_vec() })
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

/// Runs the site's own hook, set aside by install.sh, before ftl's work; its output is the
/// site's business and goes where it always went. Returns its exit code, or why it was not run.
/// It runs as root on the word of its file, so it must pass the trust checks of the
/// configuration ([`crate::trust`]).
pub fn run_site_hook(site: &Path, args: &[String], timeout: Duration) -> Option<Result<i32, String>> {
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
    let site = site.as_path();
    let mut child = match std::process::Command::new(site).args(args).spawn() {
        Ok(c) => c,
        Err(e) => return Some(Err(format!("cannot run the site's hook {}: {e}", site.display()))),
    };
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(Ok(status.code().unwrap_or(1))),
            Ok(None) if start.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Some(Err(format!(
                    "the site's hook {} did not finish within {}",
                    site.display(),
                    crate::duration::format(timeout)
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Some(Err(format!("cannot wait for the site's hook {}: {e}", site.display()))),
        }
    }
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
    match call.kind {
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
                    serde_json::json!({ "hook": call.hook }),
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
        Intent::Nothing if call.kind == Kind::Start => {
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
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(15));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn names_and_suffixes() {
        assert_eq!(hook_of("bpstart_notify"), Some("bpstart_notify"));
        assert_eq!(hook_of("bpstart_notify.daily"), Some("bpstart_notify"));
        assert_eq!(hook_of("bpstart_notify.daily.full"), Some("bpstart_notify"));
        assert_eq!(hook_of("bpend_notify.daily"), Some("bpend_notify"));
        assert_eq!(hook_of("session_notify"), Some("session_notify"));
        assert_eq!(hook_of("session_notify.x"), None);
        assert_eq!(hook_of("bpstart_notifyx"), None);
        assert_eq!(hook_of("ftl-notify"), None);
    }

    #[test]
    fn valid_arguments() {
        assert_eq!(parse("session_start_notify", &[]).unwrap().kind, Kind::Start);
        assert_eq!(parse("session_notify", &[]).unwrap().kind, Kind::End);
        assert_eq!(parse("bpstart_notify.p.s", &s(&["db1", "p", "s", "FULL"])).unwrap().kind, Kind::Start);
        assert_eq!(parse("bpend_notify", &s(&["db1", "p", "s", "INCR", "0"])).unwrap().kind, Kind::End);
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
}
