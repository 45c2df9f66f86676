//! The ownership ledger on shared storage: `ledger.lock`, `state.json` and `journal.jsonl`.
//!
//! Guarantees: a committed change is made under the exclusive ledger lock (held only for that
//! read-modify-write, with a bounded wait), adds exactly 1 to the epoch, replaces `state.json`
//! atomically and appends exactly one journal line. `state.json` is written before the journal
//! line, so the state is the truth: a crash between the two loses at most that one line, never
//! the state. An unreadable `state.json` is never rewritten, except by [`Ledger::repair`], which
//! keeps a copy first. A directory whose locks would be host-local is refused.

pub mod journal;
pub mod lock;
pub mod record;
pub mod storage;

use crate::config::Config;
use crate::error::Exit;
use chrono::{DateTime, Utc};
use journal::{Entry, Journal};
use lock::{LockError, LockGuard};
use record::{Event, Forbidden, Holder, Record, State, StateName};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const STATE_FILE: &str = "state.json";
pub const LOCK_FILE: &str = "ledger.lock";
pub const JOURNAL_FILE: &str = "journal.jsonl";

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
    Unreadable { path: PathBuf, reason: String },
    #[error(
        "{path}: there is no ledger record; create one with `ftl-status --init-ledger --owner \
         DOMAIN` (or without --owner for a free library)"
    )]
    NoRecord { path: PathBuf },
    #[error("{path}: the ledger records library `{found}`, but the configuration describes `{expected}`")]
    LibraryMismatch { path: PathBuf, found: String, expected: String },
    #[error("{path}: cannot {action}: {source}")]
    Io { path: PathBuf, action: &'static str, source: std::io::Error },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("{0}")]
    Forbidden(#[from] Forbidden),
    #[error("{path}: a ledger record already exists (epoch {epoch}); refusing to overwrite it")]
    Exists { path: PathBuf, epoch: u64 },
    #[error("{path}: the record is valid; there is nothing to repair")]
    NothingToRepair { path: PathBuf },
    #[error("cannot repair {path}: no journal line holds a valid record")]
    NoGoodJournalLine { path: PathBuf },
    #[error(transparent)]
    Untrusted(#[from] crate::trust::Untrusted),
}

impl LedgerError {
    pub fn exit(&self) -> Exit {
        match self {
            LedgerError::Lock(LockError::Timeout { .. }) => Exit::LockTimeout,
            LedgerError::Forbidden(Forbidden::NoReason) => Exit::Usage,
            LedgerError::Forbidden(_) => Exit::Busy,
            LedgerError::LibraryMismatch { .. }
            | LedgerError::Exists { .. }
            | LedgerError::NothingToRepair { .. }
            | LedgerError::Untrusted(_) => Exit::Usage,
            _ => Exit::LedgerUnreadable,
        }
    }
}

/// What a repair did.
#[derive(Debug)]
pub struct Repaired {
    pub copy: Option<PathBuf>,
    pub from_epoch: u64,
    pub record: Record,
}

#[derive(Debug, Clone)]
pub struct Ledger {
    dir: PathBuf,
    library: String,
    lock_timeout: Duration,
    journal: Journal,
    mountinfo: PathBuf,
}

impl Ledger {
    /// A handle on the configured ledger directory. Only checks that the directory is there and
    /// is a real directory: the hook fast path pays for one `stat` and one read.
    pub fn open(config: &Config) -> Result<Ledger, LedgerError> {
        let dir = config.ledger.dir.clone();
        let reason = match std::fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Some("does not exist (is the shared storage mounted?)".to_string())
            }
            Err(e) => Some(format!("cannot be examined: {e}")),
            Ok(m) if m.file_type().is_symlink() => {
                Some("is a symbolic link; configure the real directory instead".into())
            }
            Ok(m) if !m.is_dir() => Some("is not a directory".into()),
            Ok(_) => None,
        };
        if let Some(reason) = reason {
            return Err(LedgerError::Directory { dir, reason });
        }
        crate::trust::check(&dir, "ledger directory")?;
        Ok(Ledger {
            journal: Journal::new(dir.join(JOURNAL_FILE), config.ledger.journal_max_bytes, config.ledger.journal_keep),
            dir,
            library: config.library.name.clone(),
            lock_timeout: config.ledger.lock_timeout,
            mountinfo: storage::mountinfo_path(),
        })
    }

    /// Uses another mountinfo file for the host-local lock check (tests).
    pub fn with_mountinfo(mut self, path: PathBuf) -> Ledger {
        self.mountinfo = path;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Reads the current record. Readers need no lock: `state.json` is only ever replaced whole.
    pub fn read(&self) -> Result<Record, LedgerError> {
        let path = self.state_path();
        crate::trust::check(&path, "ledger record")?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(LedgerError::NoRecord { path }),
            Err(source) => return Err(LedgerError::Io { path, action: "read the ledger", source }),
        };
        let text = String::from_utf8(bytes)
            .map_err(|_| LedgerError::Unreadable { path: path.clone(), reason: "the file is not UTF-8 text".into() })?;
        let record =
            Record::from_json(&text).map_err(|reason| LedgerError::Unreadable { path: path.clone(), reason })?;
        if record.library != self.library {
            return Err(LedgerError::LibraryMismatch { path, found: record.library, expected: self.library.clone() });
        }
        Ok(record)
    }

    /// Takes the ledger lock (bounded wait) after refusing host-local locking.
    fn lock(&self) -> Result<LockGuard, LedgerError> {
        if let Ok(mountinfo) = std::fs::read_to_string(&self.mountinfo) {
            let dir = self.dir.canonicalize().unwrap_or_else(|_| self.dir.clone());
            if let Some(reason) = storage::host_local_locks(&mountinfo, &dir) {
                return Err(LedgerError::HostLocal { dir: self.dir.clone(), reason });
            }
        }
        let path = self.dir.join(LOCK_FILE);
        crate::trust::check(&path, "ledger lock")?;
        crate::trust::check(self.journal.path(), "journal")?;
        Ok(lock::lock(&path, self.lock_timeout)?)
    }

    /// Applies `event` under the lock: read, check, write `state.json`, append the journal line.
    /// Returns the record as it now stands (unchanged when the event changes nothing).
    pub fn commit(
        &self,
        actor: &Holder,
        event: &Event,
        detail: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<Record, LedgerError> {
        let _guard = self.lock()?;
        let current = self.read()?;
        match current.apply(event, now)? {
            None => Ok(current),
            Some(next) => {
                self.write(actor, &event.label(), current.state.name(), &next, detail, now)?;
                Ok(next)
            }
        }
    }

    fn write(
        &self,
        actor: &Holder,
        label: &str,
        from: StateName,
        next: &Record,
        detail: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let path = self.state_path();
        storage::write_atomically(&path, next.to_json().as_bytes()).map_err(|source| LedgerError::Io {
            path,
            action: "write the ledger",
            source,
        })?;
        let entry = Entry {
            epoch: next.epoch,
            at: now,
            domain: actor.domain.clone(),
            host: actor.host.clone(),
            pid: actor.pid,
            event: label.to_string(),
            from,
            to: next.state.name(),
            detail,
            record: next.to_value(),
        };
        self.journal.append(&entry).map_err(|source| LedgerError::Io {
            path: self.journal.path().to_path_buf(),
            action: "append to the journal",
            source,
        })
    }

    /// Creates the first record (owned by `owner`, or free). Refuses to replace one.
    pub fn init(&self, owner: Option<&str>, actor: &Holder, now: DateTime<Utc>) -> Result<Record, LedgerError> {
        let _guard = self.lock()?;
        match self.read() {
            Err(LedgerError::NoRecord { .. }) => {}
            Ok(existing) => return Err(LedgerError::Exists { path: self.state_path(), epoch: existing.epoch }),
            Err(other) => return Err(other),
        }
        let state = match owner {
            Some(owner) => State::Owned { owner: owner.to_string() },
            None => State::Free,
        };
        let mut record = Record::new(&self.library, state, now);
        record.epoch = 1;
        self.write(actor, "init", StateName::Free, &record, serde_json::Value::Null, now)?;
        Ok(record)
    }

    /// Rebuilds an unreadable `state.json` from the journal's last good line, after copying the
    /// bad file aside byte for byte. The rebuilt record is committed as a transition of its own.
    pub fn repair(&self, actor: &Holder, now: DateTime<Utc>) -> Result<Repaired, LedgerError> {
        let _guard = self.lock()?;
        let path = self.state_path();
        let reason = match self.read() {
            Ok(_) => return Err(LedgerError::NothingToRepair { path }),
            Err(LedgerError::Unreadable { reason, .. }) => reason,
            Err(LedgerError::NoRecord { .. }) => "the file was missing".to_string(),
            Err(other) => return Err(other),
        };
        let copy = if path.exists() {
            let copy = self.dir.join(format!("{STATE_FILE}.bad-{}", now.format("%Y%m%dT%H%M%S%.3fZ")));
            std::fs::copy(&path, &copy).map_err(|source| LedgerError::Io {
                path: copy.clone(),
                action: "keep a copy of the bad record",
                source,
            })?;
            Some(copy)
        } else {
            None
        };
        let library = self.library.clone();
        let good = self
            .journal
            .last_good(|e| Record::from_value(e.record.clone()).is_ok_and(|r| r.library == library))
            .map_err(|source| LedgerError::Io {
                path: self.journal.path().to_path_buf(),
                action: "read the journal",
                source,
            })?
            .ok_or_else(|| LedgerError::NoGoodJournalLine { path: self.journal.path().to_path_buf() })?;
        let mut record = Record::from_value(good.record).expect("validated by last_good");
        let from_epoch = record.epoch;
        record.epoch += 1;
        let detail = serde_json::json!({
            "reason": reason,
            "copy": copy.as_ref().map(|c| c.display().to_string()),
            "rebuilt_from_epoch": from_epoch,
        });
        self.write(actor, "repair", record.state.name(), &record, detail, now)?;
        Ok(Repaired { copy, from_epoch, record })
    }

    /// The last `n` journal entries, oldest first, and how many unreadable lines were skipped.
    pub fn history(&self, n: usize) -> Result<(Vec<Entry>, usize), LedgerError> {
        self.journal.tail(n).map_err(|source| LedgerError::Io {
            path: self.journal.path().to_path_buf(),
            action: "read the journal",
            source,
        })
    }
}

#[cfg(test)]
mod tests;
