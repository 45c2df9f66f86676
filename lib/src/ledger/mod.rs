//! The ownership ledger: who owns the library, at which epoch, and the history of every
//! transition (SPEC section 3), behind one trait, [`Store`].
//!
//! Every caller (the runbooks, the policy's readers, the hooks, the CLI) uses a `&dyn Store` and
//! knows neither which store is in use nor where or how it keeps the record: a store describes
//! itself in words ([`Store::location`]) and hands out locks as opaque [`Guard`]s. The directory
//! on shared storage ([`dir::DirLedger`]) is the first store; the trait is shaped for one built
//! on compare-and-swap of a revision, leases and watches (etcd): a commit is a compare-and-commit
//! of the record the store read, a run lock is held by a live process (a file lock the kernel
//! drops at death, or a lease that expires), and [`Store::wait_for_change`] waits for the record
//! to move on (by polling, or by a watch).
//!
//! Every store keeps the same invariants: a committed change adds exactly 1 to the epoch and
//! leaves exactly one journal entry; an unreadable record is never rewritten except by
//! [`Store::repair`]; a forced override acts only when it can take the holder's run lock itself.

pub mod dir;
pub mod etcd;
#[cfg(any(test, feature = "etcd-cluster"))]
pub mod etcd_cluster;
pub mod journal;
pub mod lock;
pub mod migrate;
pub mod record;
pub mod storage;

use crate::config::{Config, LedgerConfig};
use chrono::{DateTime, Utc};
use journal::Entry;
use lock::LockError;
use record::{Event, Forbidden, Holder, Record, State};
use std::path::PathBuf;
use std::time::Duration;

pub use dir::DirLedger;
pub use etcd::EtcdStore;

/// What went wrong with the ledger. Errors about the record and the journal name where the store
/// keeps them (`path`, `journal`) in the store's words, as [`Store::location`] does.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger directory {dir}: {reason}")]
    Directory { dir: PathBuf, reason: String },
    #[error("ledger directory {dir}: refusing to use it: {reason}")]
    HostLocal { dir: PathBuf, reason: String },
    #[error(
        "{path}: the ledger is unreadable: {reason}. Nothing was changed. Inspect the file, then \
         run `ftl-status --repair-ledger` (it keeps a copy) to rebuild it from the journal"
    )]
    Unreadable { path: String, reason: String },
    #[error(
        "{path}: there is no ledger record; create one with `ftl-status --init-ledger --owner \
         DOMAIN` (or without --owner for a free library)"
    )]
    NoRecord { path: String },
    #[error(
        "{path} is missing but the journal {journal} exists (last epoch {epoch}): the record was \
         lost, not never made. Nothing was changed. Run `ftl-status --repair-ledger` to rebuild it \
         from the journal (it confirms the board with the controller first)"
    )]
    RecordLost { path: String, journal: String, epoch: u64 },
    #[error(
        "{path} (epoch {state_epoch}) is older than the journal {journal} (epoch {journal_epoch}): \
         a write was lost in a crash or an old record was put back. Nothing was changed. Run \
         `ftl-status --repair-ledger` to rebuild the record from the journal"
    )]
    Behind { path: String, state_epoch: u64, journal: String, journal_epoch: u64 },
    #[error(
        "the ledger record changed under this sequence: it wrote epoch {expected} as {holder}, \
         and {path} now says epoch {found}, {now}. Stopping without running anything more"
    )]
    Fenced { path: String, expected: u64, holder: String, found: u64, now: String },
    #[error("{path}: cannot {action}: {source}. Nothing was changed (the record stays at epoch {epoch})")]
    NotWritten { path: String, action: &'static str, source: std::io::Error, epoch: u64 },
    #[error(
        "{path}: cannot {action}: {source}; and the journal line for epoch {epoch} could not be \
         cut off again ({cut}): {path} still says epoch {stands}, the journal says {epoch}, and \
         the next command will refuse until `ftl-status --repair-ledger` is run"
    )]
    Torn { path: String, action: &'static str, source: std::io::Error, epoch: u64, stands: u64, cut: std::io::Error },
    #[error("{path}: the ledger records library `{found}`, but the configuration describes `{expected}`")]
    LibraryMismatch { path: String, found: String, expected: String },
    #[error("{path}: cannot {action}: {source}")]
    Io { path: String, action: &'static str, source: std::io::Error },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("{0}")]
    Forbidden(#[from] Forbidden),
    #[error("{path}: a ledger record already exists (epoch {epoch}); refusing to overwrite it")]
    Exists { path: String, epoch: u64 },
    #[error(
        "{path} exists: this ledger has a history, so a new record would restart its epochs. Use \
         `ftl-status --repair-ledger`, which rebuilds the record from the journal"
    )]
    JournalExists { path: String },
    #[error(
        "cannot repair: the journal's last good record says {record}, but the controller says the \
         board is {board}. Nothing was written; put the board where the record says, or fix the \
         record by hand"
    )]
    BoardDisagrees { record: String, board: String },
    #[error("cannot repair: the controller cannot confirm where the board is: {0}. Nothing was written")]
    BoardUnknown(String),
    #[error("{path}: the record is valid; there is nothing to repair")]
    NothingToRepair { path: String },
    #[error("cannot repair {path}: no journal line holds a valid record")]
    NoGoodJournalLine { path: String },
    #[error(transparent)]
    Untrusted(#[from] crate::trust::Untrusted),
    #[error("the etcd cluster is unreachable: no endpoint answered ({endpoints}). Nothing was run")]
    Unreachable { endpoints: String },
    #[error("{endpoint}: etcd refused the request: {message}. Nothing was changed")]
    Etcd { endpoint: String, message: String },
    #[error("{path}: cannot use it as `{key}`: {reason}")]
    Setup { key: &'static str, path: String, reason: String },
    #[error(
        "{path}: the record changed under each of {tries} compare-and-swap attempts; the ledger was \
         not obtained in time. Nothing was changed by this command"
    )]
    Contended { path: String, tries: u32 },
    #[error(
        "etcd prefix {prefix} is not empty (it holds {key}): refusing to migrate into it. Nothing was \
         written. Migrate into an empty prefix (`prefix` in [ledger]); if these keys are what a \
         migration that stopped part-way left, delete them (`etcdctl del --prefix {prefix}/`) and \
         migrate again"
    )]
    NotEmpty { prefix: String, key: String },
    #[error(
        "a sequence of domain {domain} is running on this ledger ({note} holds its run lock); let it \
         finish first. Nothing was written"
    )]
    SequenceRunning { domain: String, note: String },
}

/// What a repair did.
#[derive(Debug)]
pub struct Repaired {
    /// Where the bad record was kept, in the store's words.
    pub copy: Option<String>,
    pub from_epoch: u64,
    pub record: Record,
    /// `ledger.lock` was missing and has been created again.
    pub lock_recreated: bool,
}

/// What a sequence last wrote: later commits of the same sequence require the record to still
/// be its own (see [`Store::commit_fenced`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub holder: Holder,
    pub epoch: u64,
}

/// Where a store keeps the ledger, in words for messages and `--dry-run` (a path, a key).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    /// The store's kind, as `[ledger] store` names it.
    pub store: &'static str,
    /// Where the current record is.
    pub record: String,
    /// Where the history is.
    pub journal: String,
}

/// A lock taken through a [`Store`] (a run lock, a worker lock), released when dropped. It is
/// opaque: each store keeps in it what holding the lock takes (a locked file, a kept-alive lease).
#[must_use = "the lock is released when the guard is dropped"]
pub struct Guard {
    _held: Box<dyn Send>,
}

impl Guard {
    pub fn new(held: impl Send + 'static) -> Guard {
        Guard { _held: Box::new(held) }
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Guard")
    }
}

/// The ledger's store: the one record, its journal, and the locks that say who is running.
///
/// A commit reads the record, applies the event ([`Record::apply`], the state machine) and writes
/// the result only if the record is still the one it read (under a lock, or by compare-and-swap
/// of a revision), together with its journal entry.
pub trait Store: Send + Sync {
    /// Where the record and the history are kept, for messages.
    fn location(&self) -> Location;

    /// The current record. Needs no lock: the record is only ever replaced whole.
    fn read(&self) -> Result<Record, LedgerError>;

    /// Applies `event` as `actor` and returns the record as it now stands (unchanged when the
    /// event changes nothing). With a `fence` (a sequence that has already written the record),
    /// the record must still be held by `fence.holder` at `fence.epoch` or later (only requests
    /// of other domains may have been committed since), or nothing is written
    /// ([`LedgerError::Fenced`]).
    fn commit_fenced(
        &self,
        actor: &Holder,
        event: &Event,
        detail: serde_json::Value,
        now: DateTime<Utc>,
        fence: Option<&Fence>,
    ) -> Result<Record, LedgerError>;

    /// [`Store::commit_fenced`] without a fence.
    fn commit(
        &self,
        actor: &Holder,
        event: &Event,
        detail: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Record, LedgerError> {
        self.commit_fenced(actor, event, detail, now, None)
    }

    /// Journals an audit entry (a refused override) that changes no record: it carries the
    /// current epoch and record, and the journal's readers count no transition for it.
    fn audit(
        &self,
        actor: &Holder,
        label: &str,
        detail: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError>;

    /// Creates the first record (owned by `owner`, or free), at epoch 1. Refuses to replace a
    /// record or to restart a history.
    fn init(&self, owner: Option<&str>, actor: &Holder, now: DateTime<Utc>) -> Result<Record, LedgerError>;

    /// Rebuilds an unreadable, missing or out-of-date record from the journal's last good entry,
    /// after keeping a copy of the bad one. `board` asks the controller where the board is
    /// (`Some(domain)`, or `None` for no domain): the rebuilt record must agree with it, or
    /// nothing is written. The rebuilt record gets an epoch above every epoch in the journal.
    fn repair(
        &self,
        actor: &Holder,
        now: DateTime<Utc>,
        board: &dyn Fn() -> Result<Option<String>, String>,
    ) -> Result<Repaired, LedgerError>;

    /// The last `n` journal entries, oldest first, and how many unreadable ones were skipped.
    fn history(&self, n: usize) -> Result<(Vec<Entry>, usize), LedgerError>;

    /// Takes `domain`'s run lock for a whole sequence, waiting up to `wait` for a holder that
    /// only probes it. `Ok(Err(note))` when a live sequence holds it: the note says which
    /// process. Held by a live process only: the store drops it when the holder dies.
    fn run_lock(&self, domain: &str, holder: &Holder, wait: Duration) -> Result<Result<Guard, String>, LedgerError>;

    /// Whether a sequence of `domain` is running now (its run lock is held): the note of the
    /// process holding it. This judges liveness on any host, without comparing process ids.
    fn running(&self, domain: &str) -> Result<Option<String>, LedgerError>;

    /// The lock that keeps one background worker of `kind` per domain; `None` while one runs.
    fn worker_lock(&self, kind: &str, domain: &str) -> Result<Option<Guard>, LedgerError>;

    /// Waits up to `timeout` for the record to move past `since_epoch`: the record once it has,
    /// `None` when the time is up first.
    fn wait_for_change(&self, since_epoch: u64, timeout: Duration) -> Result<Option<Record>, LedgerError>;
}

/// Whether the holder of a moving or broken record still runs, judged by its run lock (a file
/// lock the kernel drops at death, or a key on a lease that expires when nobody keeps it alive):
/// one rule for the status, its JSON and the precheck, on every store and from any host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// The run lock is held: `note` says by which process.
    Running { note: String },
    /// Nobody holds the run lock: the holder died or was stopped (its lease expired or was
    /// released) and the record stands where it left it.
    Lost,
    /// The store could not tell (`error` says why).
    Unknown { error: String },
}

/// The holder of a moving or broken record, and whether it still runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub domain: String,
    pub liveness: Liveness,
    /// When the record last changed: the start of the step it names.
    pub changed: DateTime<Utc>,
}

impl Holding {
    /// The state of [`Holding::liveness`] in one word, for JSON.
    pub fn word(&self) -> &'static str {
        match self.liveness {
            Liveness::Running { .. } => "running",
            Liveness::Lost => "lost",
            Liveness::Unknown { .. } => "unknown",
        }
    }
}

/// The holder of `record` and whether its run lock is held; `None` for a free or owned record.
/// Costs one probe of the run lock, and nothing for a record without a holder.
pub fn liveness(store: &dyn Store, record: &Record) -> Option<Holding> {
    let (holder, step) = (record.state.holder()?, record.state.step()?);
    let liveness = match store.running(&holder.domain) {
        Ok(Some(note)) => Liveness::Running { note },
        Ok(None) => Liveness::Lost,
        Err(e) => Liveness::Unknown { error: e.to_string() },
    };
    Some(Holding { domain: holder.domain.clone(), liveness, changed: step.started })
}

/// The store that `config` names (`[ledger] store`).
/// Set when a lock this process holds was lost (its lease expired, or could not be renewed within
/// its TTL): another process may hold it now, so this one starts no new step.
static LOCK_LOST: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn note_lock_lost() {
    LOCK_LOST.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether a lock this process holds has been lost ([`note_lock_lost`]).
pub fn lock_lost() -> bool {
    LOCK_LOST.load(std::sync::atomic::Ordering::SeqCst)
}

pub fn open(config: &Config) -> Result<Box<dyn Store>, LedgerError> {
    Ok(match &config.ledger {
        LedgerConfig::Dir(_) => Box::new(DirLedger::open(config)?),
        LedgerConfig::Etcd(_) => Box::new(EtcdStore::open(config)?),
    })
}

/// The fence rule of [`Store::commit_fenced`], one for every store: the record must still be held
/// by `fence.holder` at `fence.epoch` or later. `path` is where the record is, in the store's words.
pub(crate) fn check_fence(current: &Record, fence: Option<&Fence>, path: String) -> Result<(), LedgerError> {
    let Some(fence) = fence else { return Ok(()) };
    if current.epoch >= fence.epoch && current.state.holder() == Some(&fence.holder) {
        return Ok(());
    }
    let now = match (current.state.owner(), current.state.holder()) {
        (_, Some(h)) => format!("{} held by {} (pid {} on {})", current.state.name(), h.domain, h.pid, h.host),
        (Some(owner), None) => format!("owned by {owner}"),
        (None, None) => current.state.name().to_string(),
    };
    Err(LedgerError::Fenced {
        path,
        expected: fence.epoch,
        holder: format!("{} pid {} on {}", fence.holder.domain, fence.holder.pid, fence.holder.host),
        found: current.epoch,
        now,
    })
}

/// Whether a record that a repair rebuilt agrees with the board the controller reports (`at`:
/// the domain it is in, or `None`), one rule for every store.
pub(crate) fn check_board(record: &Record, at: Option<&str>) -> Result<(), LedgerError> {
    let agrees = match &record.state {
        State::Owned { owner } => at == Some(owner.as_str()),
        State::Free => at.is_none(),
        moving => at.is_none() || at == moving.holder().map(|h| h.domain.as_str()),
    };
    if agrees {
        return Ok(());
    }
    Err(LedgerError::BoardDisagrees {
        record: format!(
            "{} (epoch {})",
            record
                .state
                .owner()
                .map(|o| format!("{} by {o}", record.state.name()))
                .unwrap_or_else(|| record.state.name().to_string()),
            record.epoch
        ),
        board: at.map(|d| format!("in domain {d}")).unwrap_or_else(|| "in no domain".into()),
    })
}

#[cfg(test)]
mod contract;
#[cfg(test)]
pub(crate) mod etcd_tests;
#[cfg(test)]
pub(crate) mod tests;
