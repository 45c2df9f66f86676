//! The command-line interface of every binary: argument definitions (also the source of the man
//! pages) and one entry function per binary, one file each. The binaries in `hooks/` call these
//! and exit with the code they return; every error is printed once, on stderr, prefixed by the
//! program name. This file holds what they share: the common flags, the setup, the printing.

mod acquire;
mod notify;
mod release;
mod status;
mod window;

pub use acquire::{acquire_main, AcquireArgs};
pub use notify::{notify_main, NotifyArgs};
pub use release::{release_main, ReleaseArgs};
pub use status::{status_main, Format, StatusArgs};
pub use window::{window_main, WindowArgs, WindowCommand};

use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config};
use crate::error::{Error, Exit};
use crate::exec::{Runner, SystemRunner};
use crate::ledger::{self, Store};
use crate::runbook::progress::{Progress, StderrProgress};
use crate::runbook::{precheck, Context, Plan, Report};
use crate::{duration, logging, os, platform};
use clap::{Args, Parser};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Flags every binary takes and honours. `--json` and `--dry-run` are not among them: each
/// binary declares them itself, where it honours them, so that a flag that would be ignored is
/// a usage error.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// The site configuration file.
    #[arg(long, value_name = "PATH", env = "FTL_CONFIG", default_value = config::DEFAULT_PATH, global = true)]
    pub config: PathBuf,
    /// Act as this domain (default: the file's `domain`, the host mapping, else the host name).
    #[arg(long, value_name = "NAME", global = true)]
    pub domain: Option<String>,
    /// -v: every command run, with its arguments, exit status and duration; -vv: also what was
    /// read (configuration, ledger record); on stderr and in the journal.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,
}

/// `--force --reason TEXT`, shared by ftl-acquire and ftl-release.
#[derive(Debug, Clone, Args)]
pub struct Override {
    /// Override failed prechecks, or take over from a holder that died or an owner that cannot
    /// release, after the controller confirms where the board is. Refused (exit 3, nothing
    /// changed) while the holder's sequence runs: its run lock must be free.
    #[arg(long, requires = "reason")]
    pub force: bool,
    /// Why the override is needed (journaled with your user and host); must not be blank.
    #[arg(long, value_name = "TEXT", requires = "force")]
    pub reason: Option<String>,
}

impl Override {
    /// The reason, when the override is asked for.
    pub fn reason(&self) -> Option<String> {
        self.reason.clone().filter(|_| self.force)
    }
}

/// The loaded configuration, the local domain and the ledger: what every command starts from.
pub struct Setup {
    pub config: Config,
    pub domain: String,
    pub ledger: Box<dyn Store>,
}

impl Setup {
    pub fn load(path: &std::path::Path, domain: Option<&str>) -> Result<Setup, Error> {
        let config = trusted_config(path)?;
        let domain = config.local_domain(domain, &os::hostname())?;
        let ledger = ledger::open(&config)?;
        tracing::debug!(ledger = %ledger.location().record, "acting as domain {domain}");
        Ok(Setup { config, domain, ledger })
    }

    pub fn context<'a>(
        &'a self,
        runner: &'a dyn Runner,
        clock: &'a dyn Clock,
        progress: &'a dyn Progress,
    ) -> Context<'a> {
        Context {
            config: &self.config,
            domain: self.domain.clone(),
            holder: os::current_holder(&self.domain),
            runner,
            clock,
            ledger: self.ledger.as_ref(),
            platform: platform::for_config(&self.config),
            host: crate::host::for_config(&self.config),
            progress,
        }
    }
}

/// Writes to stdout. A closed or full stdout (`| head`, `> /dev/full`) cannot undo the work
/// already done, so the exit code stays that of the work: the write error is ignored. (It takes
/// `format_args!` rather than a string so that nothing is formatted twice.)
pub(crate) fn say(text: std::fmt::Arguments) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(text).and_then(|()| out.flush());
}

/// [`say`] with a newline.
pub(crate) fn say_line(text: std::fmt::Arguments) {
    say(format_args!("{text}\n"));
}

/// Writes one line to stderr, ignoring a closed or full stderr (see [`say`]).
pub(crate) fn warn_line(text: std::fmt::Arguments) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// The configuration at `path`, once it and this binary are trusted (see `trust`). Reading the
/// status needs nothing more: it works from any host that mounts the ledger.
pub fn trusted_config(path: &Path) -> Result<Config, Error> {
    crate::trust::check_with_dir(path, "configuration")?;
    if let Ok(exe) = std::env::current_exe() {
        crate::trust::check_with_dir(&exe, "binary")?;
    }
    let config = Config::load(path)?;
    tracing::debug!(config = %path.display(), library = %config.library.name, domains = config.domains.len(), "configuration read");
    Ok(config)
}

/// Prints an error the one way every binary does, and returns its exit code. An error about the
/// ledger that comes from a configured value also names the key and the file (`config`): the
/// ledger itself knows only the values.
pub fn report_error(program: &str, config: &Path, error: &Error) -> Exit {
    use crate::ledger::LedgerError;
    let key = match error {
        Error::Ledger(LedgerError::Directory { .. } | LedgerError::HostLocal { .. }) => Some("ledger.dir"),
        Error::Ledger(LedgerError::LibraryMismatch { .. }) => Some("library.name"),
        _ => None,
    };
    match key {
        Some(key) => warn_line(format_args!("{program}: {error} (`{key}` in {})", config.display())),
        None => warn_line(format_args!("{program}: {error}")),
    }
    error.exit()
}

fn finish(program: &str, config: &Path, result: Result<(), Error>) -> Exit {
    match result {
        Ok(()) => Exit::Done,
        Err(e) => report_error(program, config, &e),
    }
}

fn print_plan(plan: &Plan, json: bool) {
    if json {
        say_line(format_args!("{}", serde_json::to_string_pretty(plan).unwrap_or_default()));
    } else {
        say(format_args!("{plan}"));
    }
}

fn print_report(report: &Report, json: bool) {
    if json {
        say_line(format_args!("{}", serde_json::to_string_pretty(report).unwrap_or_default()));
        return;
    }
    let mut text = format!("{} {}: {} (epoch {})\n", report.operation, report.domain, report.outcome, report.epoch);
    if !report.steps.is_empty() {
        for s in &report.steps {
            let lanes = if s.parallel > 1 { format!(" x{}", s.parallel) } else { String::new() };
            text += &format!("  {:<3} {:<40} {:>8.1}s{lanes}  {}\n", s.id, s.name, s.secs, s.summary);
        }
        text += &format!("  total {:.1}s\n", report.total_secs);
    }
    say(format_args!("{text}"));
}

fn run_with_context(common: &Common, f: impl FnOnce(&Context) -> Result<(), Error>) -> Result<(), Error> {
    crate::signals::install();
    let setup = Setup::load(&common.config, common.domain.as_deref())?;
    let progress = StderrProgress::new(common.quiet > 0);
    let ctx = setup.context(&SystemRunner, &SystemClock, &progress);
    f(&ctx)
}

const EXIT_CODES: &str = "Exit codes: 0 done or nothing to do; 1 a step failed (the ledger says where); \
2 usage or configuration error; 3 busy: another domain owns or is moving the library; \
4 a precheck refused (nothing changed); 5 the ledger lock was not obtained in time; \
6 the ledger is unreadable.";
