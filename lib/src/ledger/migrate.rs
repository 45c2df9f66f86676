//! Moving a library from the directory ledger to etcd (`ftl-status --migrate-ledger`): the
//! directory's record and its whole journal, every rotated file in order, copied into an empty
//! etcd prefix.
//!
//! Guarantees: the directory is read under its ledger lock, held until the copy is done, so no
//! commit lands in it meanwhile; a record older than its journal, or unreadable, is refused (repair
//! it first), and so is a hand-over whose holder still runs. The copy refuses a prefix that holds
//! any key ([`LedgerError::NotEmpty`], nothing written). It is one etcd transaction when it fits
//! (etcd limits a transaction to 128 operations by default); a longer journal goes in
//! transactions of at most [`BATCH`] keys, oldest first, with the record in the last one: a crash
//! part-way leaves journal keys without a record, which every command refuses as a lost record,
//! never a record without its history.

use super::journal::Entry;
use super::record::Record;
use super::{DirLedger, EtcdStore, Guard, LedgerError, Store};

/// Keys per transaction, under etcd's default `--max-txn-ops` (128) and, at a few KiB per entry,
/// under its default request size (1.5 MiB).
pub const BATCH: usize = 64;

/// One journal line of the directory ledger, as read.
#[derive(Debug, Clone)]
pub struct Line {
    pub entry: Entry,
    /// The line exactly as the file holds it, which is what is copied.
    pub raw: Vec<u8>,
    /// An audit line (a refused override): its epoch is not above the epoch before it, so it
    /// made no transition.
    pub audit: bool,
}

/// A directory ledger's record and whole journal, read under its ledger lock, which this keeps
/// until it is dropped.
#[derive(Debug)]
pub struct Export {
    pub record: Record,
    /// Every line that parses, oldest first.
    pub lines: Vec<Line>,
    /// Lines that do not parse (a torn fragment of a crash), which are not copied.
    pub skipped: usize,
    /// The journal files read, oldest first.
    pub files: Vec<String>,
    pub(super) _lock: Guard,
}

/// What a migration copied (or, with `dry_run`, would copy).
#[derive(Debug)]
pub struct Migration {
    pub record: Record,
    pub from: String,
    pub to: String,
    pub files: Vec<String>,
    pub transitions: usize,
    pub audits: usize,
    pub skipped: usize,
    pub transactions: usize,
    pub dry_run: bool,
}

impl std::fmt::Display for Migration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} {} (epoch {}, {}) and {} journal entries ({} transitions, {} audit entries) from {} file(s) \
             into {} in {} transaction(s)",
            if self.dry_run { "would copy" } else { "copied" },
            self.from,
            self.record.epoch,
            self.record.state.name(),
            self.transitions + self.audits,
            self.transitions,
            self.audits,
            self.files.len(),
            self.to,
            self.transactions
        )?;
        for file in &self.files {
            writeln!(f, "  journal file {file}")?;
        }
        if self.skipped > 0 {
            writeln!(f, "  ({} unreadable journal line(s) not copied)", self.skipped)?;
        }
        Ok(())
    }
}

/// Copies the directory ledger `from` into the empty prefix of `to`; with `dry_run`, checks the
/// same things and writes nothing.
pub fn migrate(from: &DirLedger, to: &EtcdStore, dry_run: bool) -> Result<Migration, LedgerError> {
    let export = from.export()?;
    if let Some(holder) = export.record.state.holder() {
        if let Some(note) = from.running(&holder.domain)? {
            return Err(LedgerError::SequenceRunning { domain: holder.domain.clone(), note });
        }
    }
    let transactions = to.import(&export, dry_run)?;
    let audits = export.lines.iter().filter(|l| l.audit).count();
    Ok(Migration {
        from: from.location().record,
        to: format!("{} and {}", to.location().record, to.location().journal),
        files: export.files.clone(),
        transitions: export.lines.len() - audits,
        audits,
        skipped: export.skipped,
        transactions,
        dry_run,
        record: export.record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::etcd_cluster::Etcd;
    use crate::ledger::etcd_tests::store;
    use crate::ledger::record::{Event, Holder, Operation, Request, StepRef};
    use crate::ledger::tests::temp_ledger;
    use chrono::{TimeZone, Utc};
    use std::time::Duration;

    fn holder(domain: &str) -> Holder {
        Holder { domain: domain.into(), host: format!("{domain}-host"), pid: 7, boot_id: "boot".into() }
    }

    #[test]
    fn a_long_journal_with_audit_lines_goes_over_in_batches_in_order_with_the_record_last() {
        let etcd = Etcd::single();
        let dir = assert_fs::TempDir::new().unwrap();
        let from = temp_ledger(dir.path());
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 22, 0, 3).unwrap();
        let me = holder("marmaduke");
        from.init(Some("marmaduke"), &me, t0).unwrap();
        for i in 1..=150 {
            let until = Some(t0 + chrono::Duration::days(400) + chrono::Duration::seconds(i));
            let ask = Event::Request(Request { domain: "flinstones".into(), at: t0, until });
            from.commit(&holder("flinstones"), &ask, serde_json::Value::Null, t0).unwrap();
            if i % 70 == 0 {
                from.audit(&me, "force not done", serde_json::json!({"i": i}), t0 + chrono::Duration::seconds(i))
                    .unwrap();
            }
        }
        let to = store(&etcd, "/ftl/L3500");
        let planned = migrate(&from, &to, true).unwrap();
        assert!(to.read().is_err(), "a dry run writes nothing");
        let done = migrate(&from, &to, false).unwrap();
        assert_eq!((done.transitions, done.audits, done.skipped), (151, 2, 0));
        // 151 journal keys and the record in batches of 64, each audit line alone.
        assert_eq!(done.transactions, planned.transactions);
        assert!(done.transactions >= 5, "{done}");
        assert_eq!(to.read().unwrap(), from.read().unwrap());
        assert_eq!(to.history(1000).unwrap(), from.history(1000).unwrap(), "the same entries in the same order");
        // The store goes on from the copied epoch.
        let next =
            to.commit(&me, &Event::Withdraw { domain: "flinstones".into() }, serde_json::Value::Null, t0).unwrap();
        assert_eq!(next.epoch, 152);
        let again = migrate(&from, &to, false).unwrap_err();
        assert!(matches!(&again, LedgerError::NotEmpty { prefix, .. } if prefix == "/ftl/L3500"), "{again}");
        assert_eq!(to.read().unwrap().epoch, 152, "nothing written by the refused migration");
    }

    #[test]
    fn any_key_under_the_prefix_refuses_and_a_running_hand_over_too() {
        let etcd = Etcd::single();
        let dir = assert_fs::TempDir::new().unwrap();
        let from = temp_ledger(dir.path());
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 22, 0, 3).unwrap();
        let me = holder("marmaduke");
        from.init(Some("marmaduke"), &me, t0).unwrap();
        // A lock key alone (a domain already configured for etcd) makes the prefix not empty.
        let to = store(&etcd, "/ftl/L3500");
        let held = to.run_lock("flinstones", &holder("flinstones"), Duration::ZERO).unwrap().unwrap();
        let err = migrate(&from, &to, true).unwrap_err();
        assert!(matches!(&err, LedgerError::NotEmpty { key, .. } if key == "/ftl/L3500/run/flinstones"), "{err}");
        drop(held);
        assert!(matches!(to.read(), Err(LedgerError::NoRecord { .. })));

        let step = StepRef { operation: Operation::Release, id: "R1".into(), name: "stop".into(), started: t0 };
        from.commit(&me, &Event::Begin { holder: me.clone(), step }, serde_json::Value::Null, t0).unwrap();
        let running = from.run_lock("marmaduke", &me, Duration::ZERO).unwrap().unwrap();
        let err = migrate(&from, &to, false).unwrap_err();
        assert!(matches!(&err, LedgerError::SequenceRunning { domain, .. } if domain == "marmaduke"), "{err}");
        assert!(matches!(to.read(), Err(LedgerError::NoRecord { .. })), "nothing written");
        drop(running);
        let done = migrate(&from, &to, false).unwrap();
        assert_eq!(done.transactions, 1, "a short journal and its record in one transaction");
        assert_eq!(to.read().unwrap(), from.read().unwrap());
    }
}
