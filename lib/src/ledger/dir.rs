//! The directory ledger, the first [`Store`]: `ledger.lock`, `state.json` and `journal.jsonl` in
//! a directory on storage that every domain mounts, and the run and worker lock files beside them.
//!
//! Guarantees: a committed change is made under the exclusive ledger lock (held only for that
//! read-modify-write, with a bounded wait), adds exactly 1 to the epoch, appends exactly one
//! journal line and replaces `state.json` atomically. The journal line is written first and cut
//! off again when `state.json` cannot be replaced, so a failed write leaves the ledger as it was
//! (and the error says "nothing was changed" only then). A `state.json` older than the journal's
//! last line (a crash between the two writes, or a record swapped in by hand) is refused until
//! an operator repairs it. An unreadable `state.json` is never rewritten, except by a repair,
//! which keeps a copy first and confirms the board with the controller. A directory whose locks
//! would be host-local is refused.
//!
//! The run lock of a domain is a file lock held for the whole of a hand-over: the kernel, or the
//! NFS server after its lease, drops it when the holder dies. This module is the only one that
//! knows these file names.

use super::journal::{Entry, Journal};
use super::lock::{self, Create, LockGuard};
use super::record::{Event, Holder, Record, State, StateName};
use super::{storage, Fence, Guard, LedgerError, Location, Repaired, Store};
use crate::config::{Config, LedgerConfig};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const STATE_FILE: &str = "state.json";
pub const LOCK_FILE: &str = "ledger.lock";
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// A path in the words of [`LedgerError`] and [`Location`].
fn shown(path: &Path) -> String {
    path.display().to_string()
}

/// How often [`Store::wait_for_change`] reads `state.json` again: a directory cannot be watched
/// across NFS clients, so the change is polled for.
const POLL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct DirLedger {
    dir: PathBuf,
    library: String,
    lock_timeout: Duration,
    journal: Journal,
    mountinfo: PathBuf,
    faults: storage::Faults,
    domains: Vec<String>,
}

impl DirLedger {
    /// A handle on the configured ledger directory. Only checks that the directory is there and
    /// is a real directory: the hook fast path pays for one `stat` and one read.
    pub fn open(config: &Config) -> Result<DirLedger, LedgerError> {
        let LedgerConfig::Dir(ledger) = &config.ledger else {
            return Err(LedgerError::Directory {
                dir: PathBuf::new(),
                reason: "the configuration names another store (`ledger.store`)".into(),
            });
        };
        let dir = ledger.dir.clone();
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
        Ok(DirLedger {
            journal: Journal::new(dir.join(JOURNAL_FILE), ledger.journal_max_bytes, ledger.journal_keep),
            dir,
            library: config.library.name.clone(),
            lock_timeout: ledger.lock_timeout,
            mountinfo: storage::mountinfo_path(),
            faults: storage::Faults::default(),
            domains: config.domain_order.clone(),
        })
    }

    /// The directory ledger in `dir` for the library of `config`, whatever store `config` names
    /// (the source of `ftl-status --migrate-ledger --from-dir DIR`), with the directory ledger's
    /// default lock timeout and journal limits.
    pub fn open_dir(config: &Config, dir: &Path) -> Result<DirLedger, LedgerError> {
        let mut source = config.clone();
        source.ledger = LedgerConfig::Dir(crate::config::DirLedgerConfig {
            dir: dir.to_path_buf(),
            lock_timeout: Duration::from_secs(30),
            journal_max_bytes: 16 << 20,
            journal_keep: 8,
        });
        DirLedger::open(&source)
    }

    /// The record and every journal line of every journal file, oldest first, read under the
    /// ledger lock that the export keeps (a migration). Refuses what a commit would refuse: an
    /// unreadable record, or one older than the journal.
    pub fn export(&self) -> Result<super::migrate::Export, LedgerError> {
        use super::migrate::{Export, Line};
        let guard = self.lock()?;
        let record = self.read_locked()?;
        let io = |action: &'static str| {
            let path = self.journal_at();
            move |source| LedgerError::Io { path, action, source }
        };
        let files = self.journal.all_files().map_err(io("list the journal files"))?;
        let (mut lines, mut skipped, mut highest) = (Vec::new(), 0, 0);
        for file in &files {
            crate::trust::check_in_ledger(file, "journal")?;
            let text = std::fs::read(file).map_err(|source| LedgerError::Io {
                path: shown(file),
                action: "read the journal",
                source,
            })?;
            for raw in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                match serde_json::from_slice::<Entry>(raw) {
                    Ok(entry) => {
                        let audit = entry.epoch <= highest;
                        highest = highest.max(entry.epoch);
                        lines.push(Line { entry, raw: raw.to_vec(), audit });
                    }
                    Err(_) => skipped += 1,
                }
            }
        }
        Ok(Export { record, lines, skipped, files: files.iter().map(|f| shown(f)).collect(), _lock: Guard::new(guard) })
    }

    /// Uses another mountinfo file for the host-local lock check (tests).
    pub fn with_mountinfo(mut self, path: PathBuf) -> DirLedger {
        self.mountinfo = path;
        self
    }

    /// Fails the ledger's own writes, syncs and renames as `faults` says (fault-injection tests).
    pub fn with_faults(mut self, faults: storage::Faults) -> DirLedger {
        self.journal.set_faults(faults.clone());
        self.faults = faults;
        self
    }

    /// The path of `state.json` (the ledger's own tests look at the file).
    pub(in crate::ledger) fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    fn record_at(&self) -> String {
        shown(&self.state_path())
    }

    fn journal_at(&self) -> String {
        shown(self.journal.path())
    }

    #[cfg(test)]
    pub(in crate::ledger) fn journal(&self) -> &Journal {
        &self.journal
    }

    fn missing_record(&self, path: PathBuf) -> LedgerError {
        if self.journal.exists() {
            if let Ok(Some(epoch)) = self.journal.max_epoch() {
                return LedgerError::RecordLost { path: shown(&path), journal: self.journal_at(), epoch };
            }
        }
        LedgerError::NoRecord { path: shown(&path) }
    }

    /// Checks every journal file against the trust model before it is read.
    fn trust_journal(&self) -> Result<(), LedgerError> {
        for path in self.journal.files() {
            crate::trust::check_in_ledger(&path, "journal")?;
        }
        Ok(())
    }

    /// Takes the ledger lock (bounded wait) after refusing host-local locking.
    fn lock(&self) -> Result<LockGuard, LedgerError> {
        self.lock_with(Create::Never)
    }

    fn lock_with(&self, create: Create) -> Result<LockGuard, LedgerError> {
        if let Ok(mountinfo) = std::fs::read_to_string(&self.mountinfo) {
            let dir = self.dir.canonicalize().unwrap_or_else(|_| self.dir.clone());
            if let Some(reason) = storage::host_local_locks(&mountinfo, &dir) {
                return Err(LedgerError::HostLocal { dir: self.dir.clone(), reason });
            }
        }
        let path = self.dir.join(LOCK_FILE);
        // A symbolic link here is refused by the open itself (O_NOFOLLOW), as unusable (exit 6).
        crate::trust::check(&path, "ledger lock")?;
        crate::trust::check_in_ledger(self.journal.path(), "journal")?;
        Ok(lock::lock(&path, self.lock_timeout, create)?)
    }

    /// The current record, under the lock, refusing one that is older than the journal.
    fn read_locked(&self) -> Result<Record, LedgerError> {
        let current = self.read()?;
        let journal_epoch = self.journal.last_epoch().map_err(|source| LedgerError::NotWritten {
            path: self.journal_at(),
            action: "read the journal's last line",
            source,
            epoch: current.epoch,
        })?;
        match journal_epoch {
            Some(journal_epoch) if journal_epoch > current.epoch => Err(LedgerError::Behind {
                path: self.record_at(),
                state_epoch: current.epoch,
                journal: self.journal_at(),
                journal_epoch,
            }),
            _ => Ok(current),
        }
    }

    /// Journal line first, then `state.json`; a failure of the second cuts the first off again.
    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        actor: &Holder,
        label: &str,
        from: StateName,
        stands: u64,
        next: &Record,
        detail: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let entry = Entry::of(actor, label, from, next, detail, now);
        let appended = self.journal.append(&entry).map_err(|source| LedgerError::NotWritten {
            path: self.journal_at(),
            action: "append to the journal",
            source,
            epoch: stands,
        })?;
        let path = self.state_path();
        match storage::write_atomically(&path, next.to_json().as_bytes(), &self.faults) {
            Ok(()) => Ok(()),
            Err(storage::WriteError::AfterRename(e)) => {
                // The new record is in place; only its durability across a power loss is in doubt.
                tracing::warn!("{}: replaced, but the directory could not be synced: {e}", path.display());
                Ok(())
            }
            Err(storage::WriteError::NotReplaced(source)) => match self.journal.cut(appended) {
                Ok(()) => Err(LedgerError::NotWritten {
                    path: shown(&path),
                    action: "write the ledger",
                    source,
                    epoch: stands,
                }),
                Err(cut) => Err(LedgerError::Torn {
                    path: shown(&path),
                    action: "write the ledger",
                    source,
                    epoch: next.epoch,
                    stands,
                    cut,
                }),
            },
        }
    }

    fn run_lock_path(&self, domain: &str) -> PathBuf {
        self.dir.join(format!("run.{domain}.lock"))
    }

    /// Creates the run lock of every domain that has none (at init, and by an operator's repair).
    fn make_run_locks(&self) -> Result<Vec<String>, LedgerError> {
        let mut made = Vec::new();
        for d in &self.domains {
            let path = self.run_lock_path(d);
            if std::fs::symlink_metadata(&path).is_err() {
                drop(lock::try_lock(&path, Create::IfMissing)?);
                made.push(d.clone());
            }
        }
        Ok(made)
    }
}

impl Store for DirLedger {
    fn location(&self) -> Location {
        Location { store: "dir", record: self.record_at(), journal: self.journal_at() }
    }

    /// Reads the current record. Readers need no lock: `state.json` is only ever replaced whole.
    fn read(&self) -> Result<Record, LedgerError> {
        let path = self.state_path();
        crate::trust::check_in_ledger(&path, "ledger record")?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(self.missing_record(path)),
            Err(source) => return Err(LedgerError::Io { path: shown(&path), action: "read the ledger", source }),
        };
        let text = String::from_utf8(bytes)
            .map_err(|_| LedgerError::Unreadable { path: shown(&path), reason: "the file is not UTF-8 text".into() })?;
        let record =
            Record::from_json(&text).map_err(|reason| LedgerError::Unreadable { path: shown(&path), reason })?;
        if record.library != self.library {
            return Err(LedgerError::LibraryMismatch {
                path: shown(&path),
                found: record.library,
                expected: self.library.clone(),
            });
        }
        tracing::debug!(
            state = %record.state.name(),
            owner = record.state.owner().unwrap_or_default(),
            epoch = record.epoch,
            "ledger record read from {}",
            path.display()
        );
        Ok(record)
    }

    /// [`DirLedger::commit`] for a sequence that has already written the record: the record must
    /// still be held by `fence.holder` at `fence.epoch` or later (only requests of other domains
    /// may have been committed since), or nothing is written ([`LedgerError::Fenced`]).
    fn commit_fenced(
        &self,
        actor: &Holder,
        event: &Event,
        detail: serde_json::Value,
        now: DateTime<Utc>,
        fence: Option<&Fence>,
    ) -> Result<Record, LedgerError> {
        let _guard = self.lock()?;
        let current = self.read_locked()?;
        super::check_fence(&current, fence, self.record_at())?;
        match current.apply(event, now)? {
            None => Ok(current),
            Some(next) => {
                self.write(actor, &event.label(), current.state.name(), current.epoch, &next, detail, now)?;
                Ok(next)
            }
        }
    }

    /// Appends an audit line (a refused override) that changes no record: it carries the
    /// current epoch and record, and the journal's readers count no transition for it.
    fn audit(
        &self,
        actor: &Holder,
        label: &str,
        detail: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let _guard = self.lock()?;
        let current = self.read_locked()?;
        let entry = Entry::of(actor, label, current.state.name(), &current, detail, now);
        self.journal.append(&entry).map(|_| ()).map_err(|source| LedgerError::NotWritten {
            path: self.journal_at(),
            action: "append to the journal",
            source,
            epoch: current.epoch,
        })
    }

    /// Creates the first record (owned by `owner`, or free). Refuses to replace one.
    fn init(&self, owner: Option<&str>, actor: &Holder, now: DateTime<Utc>) -> Result<Record, LedgerError> {
        let _guard = self.lock_with(Create::IfMissing)?;
        match self.read() {
            Err(LedgerError::NoRecord { .. }) => {}
            Ok(existing) => return Err(LedgerError::Exists { path: self.record_at(), epoch: existing.epoch }),
            Err(other) => return Err(other),
        }
        if self.journal.exists() {
            return Err(LedgerError::JournalExists { path: self.journal_at() });
        }
        let state = match owner {
            Some(owner) => State::Owned { owner: owner.to_string() },
            None => State::Free,
        };
        let mut record = Record::new(&self.library, state, now);
        record.epoch = 1;
        self.make_run_locks()?;
        self.write(actor, "init", StateName::Free, 0, &record, serde_json::Value::Null, now)?;
        Ok(record)
    }

    /// Rebuilds an unreadable, missing or out-of-date `state.json` from the journal's last good
    /// line, after copying the bad file aside byte for byte. `board` asks the controller where
    /// the board is (`Some(domain)`, or `None` for no domain): the rebuilt record must agree with
    /// it, or nothing is written. The rebuilt record is committed as a transition of its own,
    /// with an epoch above every epoch the journal holds. Also recreates a deleted `ledger.lock`.
    fn repair(
        &self,
        actor: &Holder,
        now: DateTime<Utc>,
        board: &dyn Fn() -> Result<Option<String>, String>,
    ) -> Result<Repaired, LedgerError> {
        let lock_path = self.dir.join(LOCK_FILE);
        let lock_recreated = std::fs::symlink_metadata(&lock_path).is_err();
        let _guard = self.lock_with(Create::IfMissing)?;
        let lock_recreated = !self.make_run_locks()?.is_empty() || lock_recreated;
        self.trust_journal()?;
        let path = self.state_path();
        let reason = match self.read_locked() {
            Ok(record) if lock_recreated => {
                return Ok(Repaired { copy: None, from_epoch: record.epoch, record, lock_recreated })
            }
            Ok(_) => return Err(LedgerError::NothingToRepair { path: shown(&path) }),
            Err(LedgerError::Unreadable { reason, .. }) => reason,
            Err(LedgerError::NoRecord { .. } | LedgerError::RecordLost { .. }) => "the file was missing".to_string(),
            Err(e @ LedgerError::Behind { .. }) => e.to_string(),
            Err(other) => return Err(other),
        };
        let io = |action: &'static str| {
            let path = self.journal_at();
            move |source| LedgerError::Io { path, action, source }
        };
        let library = self.library.clone();
        let good = self
            .journal
            .last_good(|e| Record::from_value(e.record.clone()).is_ok_and(|r| r.library == library))
            .map_err(io("read the journal"))?
            .ok_or_else(|| LedgerError::NoGoodJournalLine { path: self.journal_at() })?;
        let mut record = Record::from_value(good.record).expect("validated by last_good");
        let at = board().map_err(LedgerError::BoardUnknown)?;
        super::check_board(&record, at.as_deref())?;
        let copy = if path.exists() {
            let copy = self.dir.join(format!("{STATE_FILE}.bad-{}", now.format("%Y%m%dT%H%M%S%.3fZ")));
            std::fs::copy(&path, &copy).map_err(|source| LedgerError::Io {
                path: copy.display().to_string(),
                action: "keep a copy of the bad record",
                source,
            })?;
            Some(copy.display().to_string())
        } else {
            None
        };
        let from_epoch = record.epoch;
        let highest = self.journal.max_epoch().map_err(io("read the journal"))?.unwrap_or(0);
        let stands = highest.max(from_epoch);
        record.epoch = stands + 1;
        let detail = serde_json::json!({
            "reason": reason,
            "copy": copy,
            "rebuilt_from_epoch": from_epoch,
            "board": at,
        });
        self.write(actor, "repair", record.state.name(), stands, &record, detail, now)?;
        Ok(Repaired { copy, from_epoch, record, lock_recreated })
    }

    /// Takes `domain`'s run lock for a whole sequence, waiting up to `wait` for a holder that
    /// only probes it. `Err(note)` when a live sequence holds it: the note says which process.
    /// Only the domain's own sequence may create its lock file (`holder.domain == domain`): a
    /// force overriding another domain never does, since a new file would exclude nobody still
    /// holding a deleted one.
    fn run_lock(&self, domain: &str, holder: &Holder, wait: Duration) -> Result<Result<Guard, String>, LedgerError> {
        let path = self.run_lock_path(domain);
        let create = if holder.domain == domain { Create::IfMissing } else { Create::Never };
        let mut taken = lock::try_lock_briefly(&path, wait, create)?;
        if let Ok(guard) = &mut taken {
            guard.write_note(&format!("{} pid {} on {}", holder.domain, holder.pid, holder.host));
        }
        Ok(taken
            .map(Guard::new)
            .map_err(|note| if note.is_empty() { format!("{domain}'s run lock is held") } else { note }))
    }

    /// Whether a sequence of `domain` is running now (its run lock is held): the note of the
    /// process holding it. This judges liveness on any host, without comparing process ids. A
    /// missing lock file proves nothing (somebody may have deleted it under a live holder): it
    /// is [`LedgerError::Lock`] with [`super::lock::LockError::Missing`].
    fn running(&self, domain: &str) -> Result<Option<String>, LedgerError> {
        Ok(match lock::try_lock(&self.run_lock_path(domain), Create::Never)? {
            Ok(_probe) => None,
            Err(note) => Some(if note.is_empty() { "holder unknown".into() } else { note }),
        })
    }

    /// The lock that keeps one background worker of `kind` per domain; `None` when one runs.
    fn worker_lock(&self, kind: &str, domain: &str) -> Result<Option<Guard>, LedgerError> {
        let path = self.dir.join(format!("notify-{kind}.{domain}.lock"));
        Ok(lock::try_lock(&path, Create::IfMissing)?.ok().map(Guard::new))
    }

    /// The last `n` journal entries, oldest first, and how many unreadable lines were skipped.
    fn history(&self, n: usize) -> Result<(Vec<Entry>, usize), LedgerError> {
        self.trust_journal()?;
        self.journal.tail(n).map_err(|source| LedgerError::Io {
            path: self.journal_at(),
            action: "read the journal",
            source,
        })
    }

    fn wait_for_change(&self, since_epoch: u64, timeout: Duration) -> Result<Option<Record>, LedgerError> {
        let start = Instant::now();
        loop {
            let record = self.read()?;
            if record.epoch > since_epoch {
                return Ok(Some(record));
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Ok(None);
            }
            std::thread::sleep(POLL.min(timeout - waited));
        }
    }
}
