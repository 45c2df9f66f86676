//! The etcd ledger, the second [`Store`]: keys under a prefix in an etcd v3 cluster, reached
//! through etcd's JSON gateway (`/v3/...`) over HTTP or HTTPS (`ureq`, TLS by rustls with only
//! the configured CA).
//!
//! Keys (all under PREFIX): `PREFIX/state` holds the record (the directory ledger's JSON);
//! `PREFIX/journal/EEEEEEEEEEEEEEEEEEEE` (the epoch, 20 digits) the journal entry of the
//! transition that made that epoch; `PREFIX/audit/TIME-PID-N` the audit entries, which make no
//! epoch; `PREFIX/run/DOMAIN` and `PREFIX/worker/KIND/DOMAIN` the locks.
//!
//! Guarantees: a commit reads the record, applies the event in Rust (the fence rule, the state
//! machine, the epoch rule) and writes the result and its journal entry in ONE transaction that
//! compares the record's `mod_revision` with the one it read, so every transition is a
//! compare-and-swap and no crash can separate the record from its journal entry. A lost race is
//! read and judged again, a few times, then [`LedgerError::Contended`] (exit 5, like a busy
//! directory lock). A lock is a key created only if absent and bound to a lease that its holder
//! keeps alive from a thread: the key goes when the holder dies (after the lease's TTL, which
//! etcd may extend on a leader change: a TTL is a minimum) or when the guard is dropped (the
//! lease is revoked). Waiting for a change is a watch from the revision read, re-read when the
//! watch ends (a compacted revision cancels it). The endpoints are tried in order, beginning with
//! the last one that answered; when none answers the error names each one and what it said.
//!
//! Beyond the [`Store`] trait: [`EtcdStore::libraries`] lists every library under a parent
//! prefix, and [`EtcdStore::import`] fills an empty prefix from a directory ledger
//! ([`super::migrate`]).

use super::journal::Entry;
use super::migrate::{Export, BATCH};
use super::record::{Event, Holder, Record, State, StateName};
use super::{Fence, Guard, LedgerError, Location, Repaired, Store};
use crate::config::{Config, EtcdLedgerConfig, LedgerConfig};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::io::Read;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// How many times a commit that lost a race is read and judged again, after a random pause of up
/// to [`BACKOFF`] (so that two writers do not collide again in step).
const TRIES: u32 = 64;
const BACKOFF: Duration = Duration::from_millis(5);

/// How often a lock that another process holds is tried again while waiting for it.
const LOCK_RETRY: Duration = Duration::from_millis(20);

/// The etcd store of one library.
pub struct EtcdStore {
    client: Arc<Client>,
    prefix: String,
    library: String,
    lease_ttl: Duration,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore").field("endpoints", &self.client.endpoints).field("prefix", &self.prefix).finish()
    }
}

/// One key and its value as the gateway returns it (base64 decoded, int64 fields parsed).
#[derive(Debug, Clone)]
struct Kv {
    key: String,
    value: Vec<u8>,
    mod_revision: i64,
    create_revision: i64,
}

/// A library found under a parent prefix ([`EtcdStore::libraries`]): its prefix and its record,
/// or why the record cannot be read.
#[derive(Debug, Clone)]
pub struct Library {
    pub prefix: String,
    pub record: Result<Record, String>,
}

/// The record key and what the journal's last key says, read in one transaction.
struct Snapshot {
    state: Option<Kv>,
    last_epoch: Option<u64>,
}

impl EtcdStore {
    /// Every configured endpoint that answers belongs to one cluster (the `cluster_id` of its
    /// answer's header): a list that mixes clusters would let a record be created on one while
    /// another holds the library's. Checked when a first record is created, where that mistake
    /// does its harm; an endpoint that does not answer is not judged.
    fn one_cluster(&self) -> Result<(), LedgerError> {
        let mut seen: Option<(String, String)> = None;
        for endpoint in &self.client.endpoints {
            let Ok(response) =
                self.client.post(endpoint, "/v3/maintenance/status", &json!({}), self.client.request_timeout)
            else {
                continue;
            };
            let Ok(Answer::Ok(status)) = Client::answer(response) else {
                continue;
            };
            let id = status["header"]["cluster_id"].as_str().unwrap_or_default().to_string();
            match &seen {
                None => seen = Some((endpoint.clone(), id)),
                Some((first, first_id)) if *first_id != id => {
                    return Err(LedgerError::Setup {
                        key: "ledger.endpoints",
                        path: endpoint.clone(),
                        reason: format!(
                            "belongs to etcd cluster {id}, but {first} to cluster {first_id}: every endpoint must be a \
                             member of one cluster"
                        ),
                    })
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
    /// A handle on the configured cluster. Reads the TLS files and the password, and does no
    /// request: the first request dials.
    pub fn open(config: &Config) -> Result<EtcdStore, LedgerError> {
        let LedgerConfig::Etcd(etcd) = &config.ledger else {
            return Err(LedgerError::Etcd {
                endpoint: "ledger.store".into(),
                message: "the configuration names another store".into(),
            });
        };
        Ok(EtcdStore {
            client: Arc::new(Client::new(etcd)?),
            prefix: etcd.prefix.clone(),
            library: config.library.name.clone(),
            lease_ttl: etcd.lease_ttl,
        })
    }

    fn state_key(&self) -> String {
        format!("{}/state", self.prefix)
    }

    fn journal_dir(&self) -> String {
        format!("{}/journal/", self.prefix)
    }

    fn journal_key(&self, epoch: u64) -> String {
        format!("{}{epoch:020}", self.journal_dir())
    }

    fn audit_dir(&self) -> String {
        format!("{}/audit/", self.prefix)
    }

    fn record_at(&self) -> String {
        format!("etcd key {}", self.state_key())
    }

    fn journal_at(&self) -> String {
        format!("etcd keys {}*", self.journal_dir())
    }

    /// The record key and the journal's last key, consistently (one read-only transaction).
    fn snapshot(&self) -> Result<Snapshot, LedgerError> {
        let journal = self.journal_dir();
        let answer = self.client.txn(
            vec![],
            vec![range_op(&self.state_key(), None, json!({})), range_op(&journal, Some(&end_of(&journal)), last_one())],
            vec![],
        )?;
        let state = answer.range(0)?.into_iter().next();
        let last_epoch = answer.range(1)?.first().and_then(|kv| epoch_of(&kv.key, &journal));
        Ok(Snapshot { state, last_epoch })
    }

    /// The record in `snapshot`, refusing a missing, unreadable or foreign one, or one older than
    /// the journal.
    fn checked(&self, snapshot: &Snapshot) -> Result<Record, LedgerError> {
        let Some(kv) = &snapshot.state else {
            return Err(self.missing(snapshot.last_epoch));
        };
        let record = self.parse(kv)?;
        match snapshot.last_epoch {
            Some(journal_epoch) if journal_epoch > record.epoch => Err(LedgerError::Behind {
                path: self.record_at(),
                state_epoch: record.epoch,
                journal: self.journal_at(),
                journal_epoch,
            }),
            _ => Ok(record),
        }
    }

    fn missing(&self, last_epoch: Option<u64>) -> LedgerError {
        match last_epoch {
            Some(epoch) => LedgerError::RecordLost { path: self.record_at(), journal: self.journal_at(), epoch },
            None => LedgerError::NoRecord { path: self.record_at() },
        }
    }

    fn parse(&self, kv: &Kv) -> Result<Record, LedgerError> {
        let text = std::str::from_utf8(&kv.value).map_err(|_| LedgerError::Unreadable {
            path: self.record_at(),
            reason: "the value is not UTF-8 text".into(),
        })?;
        let record =
            Record::from_json(text).map_err(|reason| LedgerError::Unreadable { path: self.record_at(), reason })?;
        if record.library != self.library {
            return Err(LedgerError::LibraryMismatch {
                path: self.record_at(),
                found: record.library,
                expected: self.library.clone(),
            });
        }
        Ok(record)
    }

    /// Reads, judges and writes with compare-and-swap until the write is not raced, at most
    /// [`TRIES`] times. `decide` gets the record read and returns what to put (nothing: done).
    fn swap<T>(
        &self,
        mut decide: impl FnMut(Record) -> Result<Result<T, (Vec<Value>, T)>, LedgerError>,
    ) -> Result<T, LedgerError> {
        for _ in 0..TRIES {
            let snapshot = self.snapshot()?;
            let record = self.checked(&snapshot)?;
            let read = snapshot.state.as_ref().map(|kv| kv.mod_revision).unwrap_or_default();
            let (puts, done) = match decide(record)? {
                Ok(unchanged) => return Ok(unchanged),
                Err(write) => write,
            };
            if self.client.txn(vec![mod_is(&self.state_key(), read)], puts, vec![])?.succeeded {
                return Ok(done);
            }
            std::thread::sleep(BACKOFF.mul_f64(random_fraction()));
        }
        Err(LedgerError::Contended { path: self.record_at(), tries: TRIES })
    }

    /// The transition's two puts: the record and its journal entry.
    fn transition(&self, next: &Record, entry: &Entry) -> Vec<Value> {
        vec![
            put_op(&self.state_key(), next.to_json().as_bytes(), None),
            put_op(&self.journal_key(next.epoch), &entry_json(entry), None),
        ]
    }

    /// The journal's newest entry that holds a valid record of this library, paging backwards.
    fn last_good(&self) -> Result<Option<Entry>, LedgerError> {
        let dir = self.journal_dir();
        let mut end = end_of(&dir);
        loop {
            let page = self.client.range(
                &dir,
                Some(&end),
                json!({"sort_order": "DESCEND", "sort_target": "KEY", "limit": "64"}),
            )?;
            for kv in &page {
                if let Ok(entry) = serde_json::from_slice::<Entry>(&kv.value) {
                    if Record::from_value(entry.record.clone()).is_ok_and(|r| r.library == self.library) {
                        return Ok(Some(entry));
                    }
                }
            }
            match page.last() {
                Some(oldest) if page.len() == 64 => end = oldest.key.clone(),
                _ => return Ok(None),
            }
        }
    }

    /// Takes the lock `key` (created only if absent, on a lease kept alive until the guard is
    /// dropped), trying again for up to `wait`. `Err(note)`: who holds it.
    fn take(&self, key: &str, holder: &Holder, wait: Duration) -> Result<Result<Guard, String>, LedgerError> {
        let ttl = self.lease_ttl.as_secs().max(1) + u64::from(self.lease_ttl.subsec_nanos() > 0);
        let lease = self.client.grant(ttl)?;
        let value = json!({
            "domain": holder.domain,
            "host": holder.host,
            "pid": holder.pid,
            "boot_id": holder.boot_id,
            "since": Utc::now(),
        })
        .to_string();
        let start = Instant::now();
        loop {
            let answer = self.client.txn(
                vec![absent(key)],
                vec![put_op(key, value.as_bytes(), Some(lease))],
                vec![range_op(key, None, json!({}))],
            );
            let answer = match answer {
                Ok(answer) => answer,
                Err(e) => {
                    self.client.revoke(lease);
                    return Err(e);
                }
            };
            if answer.succeeded {
                return Ok(Ok(Guard::new(KeptLease::start(self.client.clone(), lease, self.lease_ttl))));
            }
            let note = answer.range(0)?.first().map(|kv| note(&kv.value)).unwrap_or_else(|| format!("{key} is held"));
            if start.elapsed() >= wait {
                self.client.revoke(lease);
                return Ok(Err(note));
            }
            std::thread::sleep(LOCK_RETRY.min(wait.saturating_sub(start.elapsed())));
        }
    }

    /// Every library under `parent` (a prefix such as `/ftl`): each key below `parent/` whose
    /// name ends in `/state`, with its record, in key order. The keys are listed without their
    /// values, a page at a time, and only the records are read (one transaction per [`BATCH`]).
    pub fn libraries(&self, parent: &str) -> Result<Vec<Library>, LedgerError> {
        const PAGE: usize = 1000;
        let dir = format!("{}/", parent.trim_end_matches('/'));
        let end = end_of(&dir);
        let (mut states, mut from) = (Vec::new(), dir.clone());
        loop {
            let page = self.client.range(&from, Some(&end), json!({"keys_only": true, "limit": PAGE.to_string()}))?;
            states.extend(page.iter().filter(|kv| kv.key.ends_with("/state")).map(|kv| kv.key.clone()));
            match page.last() {
                Some(last) if page.len() == PAGE => from = format!("{}\0", last.key),
                _ => break,
            }
        }
        let mut found = Vec::new();
        for keys in states.chunks(BATCH) {
            let reads = keys.iter().map(|key| range_op(key, None, json!({}))).collect();
            let answer = self.client.txn(vec![], reads, vec![])?;
            for (i, key) in keys.iter().enumerate() {
                let Some(kv) = answer.range(i)?.into_iter().next() else { continue }; // deleted meanwhile
                let record = std::str::from_utf8(&kv.value)
                    .map_err(|_| "the value is not UTF-8 text".to_string())
                    .and_then(Record::from_json);
                found.push(Library { prefix: key.trim_end_matches("/state").to_string(), record });
            }
        }
        Ok(found)
    }

    /// The first key under this store's prefix, if there is any.
    fn first_key(&self) -> Result<Option<String>, LedgerError> {
        let dir = format!("{}/", self.prefix);
        Ok(self
            .client
            .range(&dir, Some(&end_of(&dir)), json!({"keys_only": true, "limit": "1"}))?
            .pop()
            .map(|kv| kv.key))
    }

    /// Copies a directory ledger's export into this store's prefix, which must hold no key (see
    /// [`super::migrate`]): each journal line under its epoch (an audit line under
    /// `PREFIX/audit/`), oldest first, in transactions of at most [`BATCH`] keys, the record in the
    /// last. Returns how many transactions it took (or would take, with `dry_run`).
    pub fn import(&self, export: &Export, dry_run: bool) -> Result<usize, LedgerError> {
        if let Some(key) = self.first_key()? {
            return Err(LedgerError::NotEmpty { prefix: self.prefix.clone(), key });
        }
        // An audit line goes alone: the history orders keys of one transaction by key, and an
        // audit key sorts by time, not by epoch.
        let mut batches: Vec<(bool, Vec<Value>)> = Vec::new();
        for (i, line) in export.lines.iter().enumerate() {
            let key = if line.audit {
                format!(
                    "{}{}-{}-m{i}",
                    self.audit_dir(),
                    line.entry.at.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
                    line.entry.pid
                )
            } else {
                self.journal_key(line.entry.epoch)
            };
            match batches.last_mut() {
                Some((false, puts)) if !line.audit && puts.len() < BATCH => puts.push(put_op(&key, &line.raw, None)),
                _ => batches.push((line.audit, vec![put_op(&key, &line.raw, None)])),
            }
        }
        let record = put_op(&self.state_key(), export.record.to_json().as_bytes(), None);
        match batches.last_mut() {
            Some((false, puts)) if puts.len() < BATCH => puts.push(record),
            _ => batches.push((false, vec![record])),
        }
        if dry_run {
            return Ok(batches.len());
        }
        let dir = format!("{}/", self.prefix);
        for (i, (_, puts)) in batches.iter().enumerate() {
            // The first finds the prefix empty; each later one, that no record has appeared.
            let compare = if i == 0 { absent_range(&dir, &end_of(&dir)) } else { absent(&self.state_key()) };
            if !self.client.txn(vec![compare], puts.clone(), vec![])?.succeeded {
                return Err(match self.first_key()? {
                    Some(key) if i == 0 => LedgerError::NotEmpty { prefix: self.prefix.clone(), key },
                    _ => LedgerError::Contended { path: self.record_at(), tries: 1 },
                });
            }
        }
        Ok(batches.len())
    }

    /// Waits on a watch of the record key from `after + 1`, at most `timeout`. Returns when an
    /// event comes, when the watch is cancelled (a compacted revision), or when the time is up.
    fn watch(&self, after: i64, timeout: Duration) -> Result<(), LedgerError> {
        let body = json!({"create_request": {"key": b64(self.state_key().as_bytes()), "start_revision": (after + 1).to_string()}});
        let reader = self.client.stream("/v3/watch", &body, timeout)?;
        for message in serde_json::Deserializer::from_reader(reader).into_iter::<Value>() {
            let Ok(message) = message else {
                // The time is up (the request's timeout) or the stream broke: read again.
                return Ok(());
            };
            let result = &message["result"];
            if result["canceled"].as_bool() == Some(true) || result["events"].as_array().is_some_and(|e| !e.is_empty())
            {
                return Ok(());
            }
            if message.get("error").is_some() {
                return Ok(());
            }
        }
        Ok(())
    }
}

impl Store for EtcdStore {
    fn location(&self) -> Location {
        Location { store: "etcd", record: self.record_at(), journal: self.journal_at() }
    }

    /// One range of the record key (the hook fast path); only a missing record looks at the
    /// journal, to tell a lost record from one never made.
    fn read(&self) -> Result<Record, LedgerError> {
        match self.client.range(&self.state_key(), None, json!({}))?.first() {
            Some(kv) => self.parse(kv),
            None => Err(self.missing(self.snapshot()?.last_epoch)),
        }
    }

    fn commit_fenced(
        &self,
        actor: &Holder,
        event: &Event,
        detail: Value,
        now: DateTime<Utc>,
        fence: Option<&Fence>,
    ) -> Result<Record, LedgerError> {
        let mut attempted: Option<Record> = None;
        self.swap(|current| {
            // A write whose answer was lost (an endpoint that failed after applying it) is found
            // again here rather than applied twice.
            if attempted.as_ref() == Some(&current) {
                return Ok(Ok(current));
            }
            super::check_fence(&current, fence, self.record_at())?;
            match current.apply(event, now)? {
                None => Ok(Ok(current)),
                Some(next) => {
                    let entry = Entry::of(actor, &event.label(), current.state.name(), &next, detail.clone(), now);
                    attempted = Some(next.clone());
                    Ok(Err((self.transition(&next, &entry), next)))
                }
            }
        })
    }

    fn audit(&self, actor: &Holder, label: &str, detail: Value, now: DateTime<Utc>) -> Result<(), LedgerError> {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let key = format!(
            "{}{}-{}-{}",
            self.audit_dir(),
            now.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
            actor.pid,
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        self.swap(|current| {
            let entry = Entry::of(actor, label, current.state.name(), &current, detail.clone(), now);
            Ok(Err((vec![put_op(&key, &entry_json(&entry), None)], ())))
        })
    }

    /// Creates the first record in one transaction that requires both the record key and every
    /// journal key to be absent.
    fn init(&self, owner: Option<&str>, actor: &Holder, now: DateTime<Utc>) -> Result<Record, LedgerError> {
        let state = match owner {
            Some(owner) => State::Owned { owner: owner.to_string() },
            None => State::Free,
        };
        self.one_cluster()?;
        let mut record = Record::new(&self.library, state, now);
        record.epoch = 1;
        let entry = Entry::of(actor, "init", StateName::Free, &record, Value::Null, now);
        let journal = self.journal_dir();
        let compare = vec![absent(&self.state_key()), absent_range(&journal, &end_of(&journal))];
        if self.client.txn(compare, self.transition(&record, &entry), vec![])?.succeeded {
            return Ok(record);
        }
        match self.read() {
            Ok(existing) => Err(LedgerError::Exists { path: self.record_at(), epoch: existing.epoch }),
            Err(LedgerError::RecordLost { .. }) => Err(LedgerError::JournalExists { path: self.journal_at() }),
            Err(LedgerError::NoRecord { .. }) => Err(LedgerError::Contended { path: self.record_at(), tries: 1 }),
            Err(other) => Err(other),
        }
    }

    /// Rebuilds a missing, unreadable or out-of-date record from the journal's last good entry, as
    /// the directory ledger does: the bad value is kept under `PREFIX/state.bad-TIME`, the board
    /// must agree, and the rebuilt record, its copy and its journal entry are one transaction
    /// that requires the record key to be as it was read.
    fn repair(
        &self,
        actor: &Holder,
        now: DateTime<Utc>,
        board: &dyn Fn() -> Result<Option<String>, String>,
    ) -> Result<Repaired, LedgerError> {
        let snapshot = self.snapshot()?;
        let reason = match self.checked(&snapshot) {
            Ok(_) => return Err(LedgerError::NothingToRepair { path: self.record_at() }),
            Err(LedgerError::Unreadable { reason, .. }) => reason,
            Err(LedgerError::NoRecord { .. } | LedgerError::RecordLost { .. }) => "the key was missing".to_string(),
            Err(e @ LedgerError::Behind { .. }) => e.to_string(),
            Err(other) => return Err(other),
        };
        let good = self.last_good()?.ok_or_else(|| LedgerError::NoGoodJournalLine { path: self.journal_at() })?;
        let mut record = Record::from_value(good.record).expect("validated by last_good");
        let at = board().map_err(LedgerError::BoardUnknown)?;
        super::check_board(&record, at.as_deref())?;
        let mut puts = Vec::new();
        let copy = snapshot.state.as_ref().map(|kv| {
            let copy = format!("{}.bad-{}", self.state_key(), now.format("%Y%m%dT%H%M%S%.3fZ"));
            puts.push(put_op(&copy, &kv.value, None));
            format!("etcd key {copy}")
        });
        let from_epoch = record.epoch;
        let stands = snapshot.last_epoch.unwrap_or(0).max(from_epoch);
        record.epoch = stands + 1;
        let detail = json!({"reason": reason, "copy": copy, "rebuilt_from_epoch": from_epoch, "board": at});
        let entry = Entry::of(actor, "repair", record.state.name(), &record, detail, now);
        puts.extend(self.transition(&record, &entry));
        let compare = match &snapshot.state {
            Some(kv) => mod_is(&self.state_key(), kv.mod_revision),
            None => absent(&self.state_key()),
        };
        if !self.client.txn(vec![compare], puts, vec![])?.succeeded {
            return Err(LedgerError::Contended { path: self.record_at(), tries: 1 });
        }
        Ok(Repaired { copy, from_epoch, record, lock_recreated: false })
    }

    /// The last `n` entries of the journal and the audit keys together, in the order etcd wrote
    /// them (their revisions, then their keys), and how many of those could not be read.
    fn history(&self, n: usize) -> Result<(Vec<Entry>, usize), LedgerError> {
        if n == 0 {
            return Ok((Vec::new(), 0));
        }
        let limit =
            json!({"sort_order": "DESCEND", "sort_target": "KEY", "limit": n.min(i64::MAX as usize).to_string()});
        let (journal, audit) = (self.journal_dir(), self.audit_dir());
        let answer = self.client.txn(
            vec![],
            vec![
                range_op(&journal, Some(&end_of(&journal)), limit.clone()),
                range_op(&audit, Some(&end_of(&audit)), limit),
            ],
            vec![],
        )?;
        let mut kvs = answer.range(0)?;
        kvs.extend(answer.range(1)?);
        // A migration writes many journal keys in one transaction (one revision): the key, the
        // epoch, orders them there.
        kvs.sort_by(|a, b| (a.create_revision, &a.key).cmp(&(b.create_revision, &b.key)));
        let newest = &kvs[kvs.len().saturating_sub(n)..];
        let entries: Vec<Entry> = newest.iter().filter_map(|kv| serde_json::from_slice(&kv.value).ok()).collect();
        let skipped = newest.len() - entries.len();
        Ok((entries, skipped))
    }

    fn run_lock(&self, domain: &str, holder: &Holder, wait: Duration) -> Result<Result<Guard, String>, LedgerError> {
        self.take(&format!("{}/run/{domain}", self.prefix), holder, wait)
    }

    fn running(&self, domain: &str) -> Result<Option<String>, LedgerError> {
        let key = format!("{}/run/{domain}", self.prefix);
        Ok(self.client.range(&key, None, json!({}))?.first().map(|kv| note(&kv.value)))
    }

    fn worker_lock(&self, kind: &str, domain: &str) -> Result<Option<Guard>, LedgerError> {
        let key = format!("{}/worker/{kind}/{domain}", self.prefix);
        Ok(self.take(&key, &crate::os::current_holder(domain), Duration::ZERO)?.ok())
    }

    /// Reads the record; while it is not past `since_epoch`, watches its key from the revision
    /// read until an event, a cancelled watch or the end of `timeout`, and reads it again.
    fn wait_for_change(&self, since_epoch: u64, timeout: Duration) -> Result<Option<Record>, LedgerError> {
        let start = Instant::now();
        loop {
            let (kvs, revision) = self.client.range_at(&self.state_key())?;
            let record = match kvs.first() {
                Some(kv) => self.parse(kv)?,
                None => return Err(self.missing(self.snapshot()?.last_epoch)),
            };
            if record.epoch > since_epoch {
                return Ok(Some(record));
            }
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Ok(None);
            }
            let watched = Instant::now();
            self.watch(revision, left)?;
            // A watch that ends at once without an event (a member that keeps cancelling it)
            // must not become a busy loop.
            if watched.elapsed() < Duration::from_millis(5) {
                std::thread::sleep(Duration::from_millis(20).min(timeout.saturating_sub(start.elapsed())));
            }
        }
    }
}

/// A number in [0, 1), different in every call and process (std's per-hasher random keys).
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// What a lock key's value says about its holder, for messages.
fn note(value: &[u8]) -> String {
    match serde_json::from_slice::<Value>(value) {
        Ok(v) => format!(
            "{} pid {} on {} (boot {}, since {})",
            v["domain"].as_str().unwrap_or("?"),
            v["pid"],
            v["host"].as_str().unwrap_or("?"),
            v["boot_id"].as_str().unwrap_or("?"),
            v["since"].as_str().unwrap_or("?"),
        ),
        Err(_) => String::from_utf8_lossy(value).into_owned(),
    }
}

fn entry_json(entry: &Entry) -> Vec<u8> {
    serde_json::to_vec(entry).expect("a journal entry serializes")
}

/// The epoch a journal key names.
fn epoch_of(key: &str, dir: &str) -> Option<u64> {
    key.strip_prefix(dir)?.parse().ok()
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// The end of the range of every key that starts with `prefix` (etcd's `range_end`).
fn end_of(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0x7f {
            bytes.push(last + 1);
            return String::from_utf8(bytes).expect("ASCII");
        }
    }
    "\0".into()
}

fn last_one() -> Value {
    json!({"sort_order": "DESCEND", "sort_target": "KEY", "limit": "1"})
}

fn range_body(key: &str, end: Option<&str>, mut options: Value) -> Value {
    options["key"] = b64(key.as_bytes()).into();
    if let Some(end) = end {
        options["range_end"] = b64(end.as_bytes()).into();
    }
    options
}

fn range_op(key: &str, end: Option<&str>, options: Value) -> Value {
    json!({"request_range": range_body(key, end, options)})
}

fn put_op(key: &str, value: &[u8], lease: Option<i64>) -> Value {
    let mut put = json!({"key": b64(key.as_bytes()), "value": b64(value)});
    if let Some(lease) = lease {
        put["lease"] = lease.to_string().into();
    }
    json!({"request_put": put})
}

fn mod_is(key: &str, revision: i64) -> Value {
    json!({"key": b64(key.as_bytes()), "target": "MOD", "result": "EQUAL", "mod_revision": revision.to_string()})
}

fn absent(key: &str) -> Value {
    json!({"key": b64(key.as_bytes()), "target": "CREATE", "result": "EQUAL", "create_revision": "0"})
}

/// No key in `[key, end)`: etcd compares every key of the range, and an empty range as one key
/// that was never created.
fn absent_range(key: &str, end: &str) -> Value {
    let mut compare = absent(key);
    compare["range_end"] = b64(end.as_bytes()).into();
    compare
}

/// An int64 of the gateway: a JSON string, or absent for 0.
fn int(value: &Value) -> i64 {
    match value {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn kvs(range: &Value) -> Result<Vec<Kv>, String> {
    let Some(list) = range.get("kvs") else { return Ok(Vec::new()) };
    let list = list.as_array().ok_or("`kvs` is not a list")?;
    list.iter()
        .map(|kv| {
            let decode =
                |field: &str| B64.decode(kv[field].as_str().unwrap_or_default()).map_err(|e| format!("`{field}`: {e}"));
            Ok(Kv {
                key: String::from_utf8_lossy(&decode("key")?).into_owned(),
                value: decode("value")?,
                mod_revision: int(&kv["mod_revision"]),
                create_revision: int(&kv["create_revision"]),
            })
        })
        .collect()
}

/// A transaction's answer.
struct TxnAnswer {
    endpoint: String,
    succeeded: bool,
    responses: Vec<Value>,
}

impl TxnAnswer {
    /// The keys of the `i`th response, a range.
    fn range(&self, i: usize) -> Result<Vec<Kv>, LedgerError> {
        let range = self.responses.get(i).and_then(|r| r.get("response_range")).cloned().unwrap_or(Value::Null);
        kvs(&range).map_err(|message| LedgerError::Etcd { endpoint: self.endpoint.clone(), message })
    }
}

/// A lease kept alive by a thread every third of its TTL, revoked when dropped.
struct KeptLease {
    client: Arc<Client>,
    id: i64,
    stop: Option<mpsc::Sender<()>>,
    keeper: Option<std::thread::JoinHandle<()>>,
}

impl KeptLease {
    fn start(client: Arc<Client>, id: i64, ttl: Duration) -> KeptLease {
        let (stop, stopped) = mpsc::channel::<()>();
        let keeping = client.clone();
        let keeper = std::thread::spawn(move || {
            let mut kept = std::time::Instant::now();
            loop {
                if stopped.recv_timeout(ttl / 3) != Err(mpsc::RecvTimeoutError::Timeout) {
                    return;
                }
                match keeping.call("/v3/lease/keepalive", &json!({"ID": id.to_string()})) {
                    Ok((_, answer)) if int(&answer["result"]["TTL"]) <= 0 => {
                        tracing::error!(lease = id, "the lease of a held lock expired: the lock is no longer held");
                        super::note_lock_lost();
                        return;
                    }
                    Ok(_) => kept = std::time::Instant::now(),
                    Err(e) => {
                        tracing::warn!(lease = id, "cannot keep the lease of a held lock alive: {e}");
                        // Not renewed for a whole TTL: the cluster has let the lease go.
                        if kept.elapsed() >= ttl {
                            tracing::error!(lease = id, "the lease of a held lock was not renewed within its TTL");
                            super::note_lock_lost();
                            return;
                        }
                    }
                }
            }
        });
        KeptLease { client, id, stop: Some(stop), keeper: Some(keeper) }
    }
}

impl Drop for KeptLease {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
        self.client.revoke(self.id);
    }
}

/// The gateway's HTTP client: the endpoints, the agent (timeouts, TLS) and the auth token.
struct Client {
    endpoints: Vec<String>,
    agent: ureq::Agent,
    request_timeout: Duration,
    login: Option<(String, String)>,
    token: Mutex<Option<String>>,
    /// The endpoint that answered last, tried first.
    preferred: AtomicUsize,
}

/// What one endpoint answered.
enum Answer {
    Ok(Value),
    /// An error etcd reported (`code` is the gRPC code).
    Refused {
        code: i64,
        message: String,
    },
}

/// gRPC codes after which another member may do better: UNAVAILABLE, DEADLINE_EXCEEDED.
fn try_elsewhere(code: i64) -> bool {
    code == 14 || code == 4
}

/// gRPC UNAUTHENTICATED: the token expired or this member does not know it.
const UNAUTHENTICATED: i64 = 16;

impl Client {
    fn new(config: &EtcdLedgerConfig) -> Result<Client, LedgerError> {
        use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig, TlsProvider};
        let read = |key: &'static str, path: &std::path::Path| {
            std::fs::read(path).map_err(|e| LedgerError::Setup {
                key,
                path: path.display().to_string(),
                reason: e.to_string(),
            })
        };
        let bad = |key: &'static str, path: &std::path::Path, reason: String| LedgerError::Setup {
            key,
            path: path.display().to_string(),
            reason,
        };
        let mut roots = Vec::new();
        if let Some(ca) = &config.ca {
            let pem = read("ledger.ca", ca)?;
            for item in ureq::tls::parse_pem(&pem) {
                if let Ok(PemItem::Certificate(cert)) = item {
                    roots.push(cert);
                }
            }
            if roots.is_empty() {
                return Err(bad("ledger.ca", ca, "holds no PEM certificate".into()));
            }
        }
        let client_cert = match &config.client_cert {
            None => None,
            Some((cert, key)) => {
                let chain: Vec<Certificate<'static>> = ureq::tls::parse_pem(&read("ledger.cert", cert)?)
                    .filter_map(|item| match item {
                        Ok(PemItem::Certificate(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
                if chain.is_empty() {
                    return Err(bad("ledger.cert", cert, "holds no PEM certificate".into()));
                }
                let private = PrivateKey::from_pem(&read("ledger.key", key)?)
                    .map_err(|e| bad("ledger.key", key, e.to_string()))?;
                // rustls panics inside ureq on a key that does not go with the certificate:
                // check the pair here, so that it is a configuration error naming the key.
                let certs: Vec<rustls::pki_types::CertificateDer<'static>> =
                    chain.iter().map(|c| c.der().to_vec().into()).collect();
                let der = rustls::pki_types::PrivateKeyDer::try_from(private.der().to_vec())
                    .map_err(|e| bad("ledger.key", key, e.to_string()))?;
                rustls::sign::CertifiedKey::from_der(certs, der, &rustls::crypto::ring::default_provider()).map_err(
                    |e| bad("ledger.key", key, format!("does not go with the certificate of ledger.cert ({e})")),
                )?;
                Some(ClientCert::new_with_certs(&chain, private))
            }
        };
        let login = match &config.user {
            None => None,
            Some((user, file)) => {
                let text = String::from_utf8(read("ledger.password_file", file)?)
                    .map_err(|_| bad("ledger.password_file", file, "is not UTF-8 text".into()))?;
                Some((user.clone(), text.trim_end_matches(['\n', '\r']).to_string()))
            }
        };
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::Specific(Arc::new(roots)))
            .client_cert(client_cert)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .build();
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(config.dial_timeout))
            .http_status_as_error(false)
            .proxy(None)
            .tls_config(tls)
            .build()
            .new_agent();
        Ok(Client {
            endpoints: config.endpoints.clone(),
            agent,
            request_timeout: config.request_timeout,
            login,
            token: Mutex::new(None),
            preferred: AtomicUsize::new(0),
        })
    }

    /// One POST to one endpoint, within `timeout`; `Err` is a transport failure.
    fn post(
        &self,
        endpoint: &str,
        path: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<ureq::http::Response<ureq::Body>, String> {
        let mut request = self.agent.post(format!("{endpoint}{path}")).header("Content-Type", "application/json");
        if let Some(token) = self.token.lock().expect("token lock").clone() {
            request = request.header("Authorization", token);
        }
        request.config().timeout_global(Some(timeout)).build().send(body.to_string()).map_err(|e| describe(&e))
    }

    /// Reads a whole answer: the JSON, or what etcd refused.
    fn answer(mut response: ureq::http::Response<ureq::Body>) -> Result<Answer, String> {
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(|e| describe(&e))?;
        let value: Value =
            serde_json::from_str(&text).map_err(|_| format!("HTTP {status}, not an etcd answer: {}", text.trim()))?;
        if status == 200 {
            return Ok(Answer::Ok(value));
        }
        let message = value["message"].as_str().or(value["error"].as_str()).unwrap_or(text.trim()).to_string();
        Ok(Answer::Refused { code: int(&value["code"]), message })
    }

    /// Authenticates on `endpoint` when a user is configured and no token is held.
    fn login(&self, endpoint: &str, again: bool) -> Result<Result<(), String>, LedgerError> {
        let Some((name, password)) = &self.login else { return Ok(Ok(())) };
        if !again && self.token.lock().expect("token lock").is_some() {
            return Ok(Ok(()));
        }
        *self.token.lock().expect("token lock") = None;
        let body = json!({"name": name, "password": password});
        let answer = match self.post(endpoint, "/v3/auth/authenticate", &body, self.request_timeout) {
            Ok(response) => Self::answer(response),
            Err(e) => return Ok(Err(e)),
        };
        match answer {
            Ok(Answer::Ok(v)) => {
                *self.token.lock().expect("token lock") = v["token"].as_str().map(String::from);
                Ok(Ok(()))
            }
            Ok(Answer::Refused { code, message }) if try_elsewhere(code) => Ok(Err(message)),
            Ok(Answer::Refused { message, .. }) => Err(LedgerError::Etcd {
                endpoint: endpoint.into(),
                message: format!("authentication as `{name}`: {message}"),
            }),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Sends `body` to `path` on each endpoint in turn, from the preferred one, until one
    /// answers; `respond` reads the answer (`Err`: try the next endpoint).
    fn each_endpoint<T>(
        &self,
        path: &str,
        body: &Value,
        timeout: Duration,
        mut respond: impl FnMut(ureq::http::Response<ureq::Body>) -> Result<Result<T, (i64, String)>, String>,
    ) -> Result<(String, T), LedgerError> {
        let count = self.endpoints.len();
        let first = self.preferred.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for i in 0..count {
            let index = (first + i) % count;
            let endpoint = &self.endpoints[index];
            let mut relogged = false;
            let outcome = loop {
                if let Err(e) = self.login(endpoint, false)? {
                    break Err(e);
                }
                match self.post(endpoint, path, body, timeout).and_then(&mut respond) {
                    Ok(Err((UNAUTHENTICATED, _))) if self.login.is_some() && !relogged => {
                        relogged = true;
                        if let Err(e) = self.login(endpoint, true)? {
                            break Err(e);
                        }
                    }
                    Ok(Err((code, message))) if try_elsewhere(code) => break Err(message),
                    Ok(Err((_, message))) => return Err(LedgerError::Etcd { endpoint: endpoint.clone(), message }),
                    Ok(Ok(value)) => break Ok(value),
                    Err(e) => break Err(e),
                }
            };
            match outcome {
                Ok(value) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return Ok((endpoint.clone(), value));
                }
                Err(e) => failures.push(format!("{endpoint}: {e}")),
            }
        }
        Err(LedgerError::Unreachable { endpoints: failures.join("; ") })
    }

    /// One unary request, answered by the first endpoint that can.
    fn call(&self, path: &str, body: &Value) -> Result<(String, Value), LedgerError> {
        self.each_endpoint(path, body, self.request_timeout, |response| {
            Ok(match Self::answer(response)? {
                Answer::Ok(value) => Ok(value),
                Answer::Refused { code, message } => Err((code, message)),
            })
        })
    }

    /// A streaming request (a watch): the open stream of the first endpoint that accepts it, read
    /// until `timeout` after it was sent.
    fn stream(&self, path: &str, body: &Value, timeout: Duration) -> Result<impl Read, LedgerError> {
        self.each_endpoint(path, body, timeout, |response| {
            if response.status().as_u16() == 200 {
                return Ok(Ok(response.into_body().into_reader()));
            }
            match Self::answer(response)? {
                Answer::Refused { code, message } => Ok(Err((code, message))),
                Answer::Ok(_) => Err("an error status with a normal answer".into()),
            }
        })
        .map(|(_, reader)| reader)
    }

    fn txn(&self, compare: Vec<Value>, success: Vec<Value>, failure: Vec<Value>) -> Result<TxnAnswer, LedgerError> {
        let (endpoint, answer) =
            self.call("/v3/kv/txn", &json!({"compare": compare, "success": success, "failure": failure}))?;
        Ok(TxnAnswer {
            endpoint,
            succeeded: answer["succeeded"].as_bool().unwrap_or(false),
            responses: answer["responses"].as_array().cloned().unwrap_or_default(),
        })
    }

    fn range(&self, key: &str, end: Option<&str>, options: Value) -> Result<Vec<Kv>, LedgerError> {
        let (endpoint, answer) = self.call("/v3/kv/range", &range_body(key, end, options))?;
        kvs(&answer).map_err(|message| LedgerError::Etcd { endpoint, message })
    }

    /// One key and the store's revision at the read.
    fn range_at(&self, key: &str) -> Result<(Vec<Kv>, i64), LedgerError> {
        let (endpoint, answer) = self.call("/v3/kv/range", &json!({"key": b64(key.as_bytes())}))?;
        let revision = int(&answer["header"]["revision"]);
        Ok((kvs(&answer).map_err(|message| LedgerError::Etcd { endpoint, message })?, revision))
    }

    fn grant(&self, ttl_seconds: u64) -> Result<i64, LedgerError> {
        let (endpoint, answer) = self.call("/v3/lease/grant", &json!({"TTL": ttl_seconds.to_string()}))?;
        match int(&answer["ID"]) {
            0 => Err(LedgerError::Etcd {
                endpoint,
                message: format!("no lease granted: {}", answer["error"].as_str().unwrap_or("no ID in the answer")),
            }),
            id => Ok(id),
        }
    }

    /// Revokes a lease, best effort: a lease nobody keeps alive expires by itself.
    fn revoke(&self, id: i64) {
        if let Err(e) = self.call("/v3/lease/revoke", &json!({"ID": id.to_string()})) {
            tracing::warn!(lease = id, "cannot revoke the lease (it expires after its TTL): {e}");
        }
    }
}

/// A transport failure in words, its causes included.
fn describe(error: &ureq::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}
