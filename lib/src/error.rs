//! The documented exit codes and the one function that maps every error onto them.
//!
//! Library errors are typed per module (configuration, ledger, command execution, runbook);
//! [`Error`] gathers them and [`Error::exit`] is the only place that decides which exit code an
//! operator or a script sees (SPEC section 5).

use crate::config::ConfigError;
use crate::exec::ExecError;
use crate::ledger::lock::LockError;
use crate::ledger::record::Forbidden;
use crate::ledger::LedgerError;
use crate::runbook::StepFailure;
use std::path::PathBuf;

/// Exit codes, identical for every binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done, or nothing to do.
    Done = 0,
    /// A step failed; the ledger says where.
    StepFailed = 1,
    /// Usage or configuration error.
    Usage = 2,
    /// Another domain owns or is moving the library.
    Busy = 3,
    /// A precheck refused; nothing changed.
    Refused = 4,
    /// The ledger lock was not obtained in time.
    LockTimeout = 5,
    /// The ledger is unreadable (or cannot be used at all).
    LedgerUnreadable = 6,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Busy(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error(transparent)]
    Step(#[from] Box<StepFailure>),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Untrusted(#[from] crate::trust::Untrusted),
    /// Work outside a runbook (the boot check) that failed.
    #[error("{0}")]
    Failed(String),
    /// A signal stopped the command; `during` says where a hand-over was left, `None` when
    /// nothing had been changed yet.
    #[error("{}", match .during {
        Some(at) => format!("stopped by {signal}: {at}"),
        None => format!("stopped by {signal} before anything was changed"),
    })]
    Interrupted { signal: crate::signals::Signal, during: Option<String> },
    /// This domain's run lock is held: another sequence of it runs.
    #[error("another ftl sequence is already running for domain {domain} ({note})")]
    RunLockHeld { domain: String, note: String },
    /// A force that would override a holder whose sequence still runs.
    #[error(
        "refusing to force: a sequence of domain {domain} is running ({note} holds its run lock); a force \
         acts only when the holder is provably not running. Nothing was changed"
    )]
    HolderRunning { domain: String, note: String },
    #[error(
        "--reason must say why the override is needed (it is journaled with your user and host); nothing was \
         changed"
    )]
    BlankReason,
    /// Two flags that cannot be given together.
    #[error("{flag} and --format {format} exclude each other")]
    FormatConflict { flag: &'static str, format: &'static str },
    /// A domain named on the command line that the configuration does not have.
    #[error("{flag} {domain}: not a domain of {}", config.display())]
    NotADomain { flag: &'static str, domain: String, config: PathBuf },
    /// `ftl-status --check` found failing prechecks (listed one per line).
    #[error("refused: prechecks failed:\n  {0}")]
    PrechecksFailed(String),
    /// A hook called with a name or arguments ftl cannot read, or a site hook that cannot run.
    #[error("{0}")]
    Hook(String),
    /// A hook stopped by a signal while the site's own hook ran.
    #[error("stopped by {signal} (the site's own {hook} was killed with it)")]
    HookInterrupted { signal: crate::signals::Signal, hook: String },
    /// A start hook found the library elsewhere and fails the job so that NetBackup retries it.
    #[error(
        "the tape library is not in domain {domain}; a request is recorded and {note}; failing this job so \
         that NetBackup retries it"
    )]
    Elsewhere { domain: String, note: &'static str },
    /// A process ftl starts itself (the background worker) could not be started.
    #[error("cannot {what}: {source}")]
    Spawn { what: String, source: std::io::Error },
}

impl Error {
    /// The exit code for this error: the single mapping of errors to SPEC section 5.
    pub fn exit(&self) -> Exit {
        match self {
            Error::Config(_) | Error::Usage(_) | Error::Untrusted(_) => Exit::Usage,
            Error::Ledger(e) => e.exit(),
            Error::BlankReason | Error::FormatConflict { .. } | Error::NotADomain { .. } | Error::Hook(_) => {
                Exit::Usage
            }
            Error::Busy(_) | Error::RunLockHeld { .. } | Error::HolderRunning { .. } | Error::Elsewhere { .. } => {
                Exit::Busy
            }
            Error::Refused(_) | Error::PrechecksFailed(_) => Exit::Refused,
            Error::Step(_) | Error::Exec(_) | Error::Failed(_) | Error::Spawn { .. } => Exit::StepFailed,
            Error::Interrupted { during: Some(_), .. } | Error::HookInterrupted { .. } => Exit::StepFailed,
            Error::Interrupted { during: None, .. } => Exit::Refused,
        }
    }
}

impl LedgerError {
    /// The exit code for a ledger error: the ledger's part of [`Error::exit`], kept here so that
    /// the ledger knows nothing of exit codes.
    pub fn exit(&self) -> Exit {
        match self {
            LedgerError::Lock(LockError::Timeout { .. }) | LedgerError::Contended { .. } => Exit::LockTimeout,
            LedgerError::Setup { .. } => Exit::Usage,
            LedgerError::Unreachable { .. } | LedgerError::Etcd { .. } => Exit::LedgerUnreadable,
            LedgerError::Forbidden(Forbidden::NoReason) => Exit::Usage,
            LedgerError::Forbidden(_) | LedgerError::Fenced { .. } | LedgerError::SequenceRunning { .. } => Exit::Busy,
            LedgerError::BoardDisagrees { .. } | LedgerError::BoardUnknown(_) | LedgerError::NotEmpty { .. } => {
                Exit::Refused
            }
            LedgerError::LibraryMismatch { .. }
            | LedgerError::Exists { .. }
            | LedgerError::JournalExists { .. }
            | LedgerError::NothingToRepair { .. }
            | LedgerError::Untrusted(_) => Exit::Usage,
            _ => Exit::LedgerUnreadable,
        }
    }
}

impl From<StepFailure> for Error {
    fn from(failure: StepFailure) -> Self {
        Error::Step(Box::new(failure))
    }
}
