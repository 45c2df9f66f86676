//! The contract of [`Store`], written once against `&dyn Store` so that every store runs the same
//! tests: the directory ledger and the etcd store (on an etcd the test starts).

use super::record::{Event, Holder, Operation, Request, State, StepRef};
use super::{Fence, LedgerError, Store};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use std::time::{Duration, Instant};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 22, 0, 3).unwrap()
}

fn holder(domain: &str) -> Holder {
    Holder { domain: domain.into(), host: format!("{domain}-host"), pid: 100, boot_id: "boot".into() }
}

fn begin(domain: &str, id: &str) -> Event {
    let step = StepRef { operation: Operation::Release, id: id.into(), name: "step".into(), started: t0() };
    Event::Begin { holder: holder(domain), step }
}

fn request(domain: &str) -> Event {
    Event::Request(Request { domain: domain.into(), at: t0(), until: Some(t0() + chrono::Duration::hours(1)) })
}

/// Each store under test, fresh and without a record, with what keeps it alive (its directory,
/// its etcd).
fn stores() -> Vec<(Box<dyn Store>, Box<dyn std::any::Any>)> {
    let dir = assert_fs::TempDir::new().unwrap();
    let store = super::tests::temp_ledger(dir.path());
    let etcd = super::etcd_cluster::Etcd::single();
    let on_etcd = super::etcd_tests::store(&etcd, "/ftl/L3500");
    vec![(Box::new(store), Box::new(dir)), (Box::new(on_etcd), Box::new(etcd))]
}

fn each(test: impl Fn(&dyn Store)) {
    for (store, _keep) in stores() {
        test(store.as_ref());
    }
}

#[test]
fn init_once_then_every_commit_adds_one_epoch_and_one_journal_entry() {
    each(|store| {
        assert!(matches!(store.read(), Err(LedgerError::NoRecord { .. })));
        let me = holder("marmaduke");
        let first = store.init(Some("marmaduke"), &me, t0()).unwrap();
        assert_eq!((first.epoch, first.state.owner()), (1, Some("marmaduke")));
        assert!(matches!(store.init(None, &me, t0()), Err(LedgerError::Exists { epoch: 1, .. })));
        let next = store.commit(&me, &begin("marmaduke", "R1"), Value::Null, t0()).unwrap();
        assert_eq!(next.epoch, 2);
        assert_eq!(store.read().unwrap(), next);
        let (entries, skipped) = store.history(10).unwrap();
        assert_eq!(skipped, 0);
        assert_eq!(entries.iter().map(|e| e.epoch).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(entries[1].event, "release R1 step");
    });
}

#[test]
fn a_forbidden_or_fenced_commit_writes_nothing() {
    each(|store| {
        let me = holder("marmaduke");
        store.init(Some("marmaduke"), &me, t0()).unwrap();
        let mine = store.commit(&me, &begin("marmaduke", "R1"), Value::Null, t0()).unwrap();
        let other = holder("flinstones");
        assert!(matches!(
            store.commit(&other, &begin("flinstones", "R1"), Value::Null, t0()),
            Err(LedgerError::Forbidden(_))
        ));
        // Another domain's request does not break the sequence's fence; a stale fence does.
        store.commit(&other, &request("flinstones"), Value::Null, t0()).unwrap();
        let fence = Fence { holder: me.clone(), epoch: mine.epoch };
        let moved = store.commit_fenced(&me, &begin("marmaduke", "R2"), Value::Null, t0(), Some(&fence)).unwrap();
        let stale = Fence { holder: me.clone(), epoch: moved.epoch + 1 };
        let err = store.commit_fenced(&me, &begin("marmaduke", "R3"), Value::Null, t0(), Some(&stale)).unwrap_err();
        assert!(matches!(err, LedgerError::Fenced { .. }), "{err}");
        assert_eq!(store.read().unwrap(), moved, "nothing was written");
    });
}

#[test]
fn an_audit_entry_changes_no_record() {
    each(|store| {
        let me = holder("marmaduke");
        let record = store.init(Some("marmaduke"), &me, t0()).unwrap();
        store.audit(&me, "force not done", serde_json::json!({"why": "test"}), t0()).unwrap();
        assert_eq!(store.read().unwrap(), record);
        let (entries, _) = store.history(1).unwrap();
        assert_eq!((entries[0].event.as_str(), entries[0].epoch), ("force not done", record.epoch));
    });
}

#[test]
fn a_run_lock_is_held_by_one_sequence_and_shows_who() {
    each(|store| {
        let me = holder("marmaduke");
        store.init(Some("marmaduke"), &me, t0()).unwrap();
        assert_eq!(store.running("marmaduke").unwrap(), None);
        let guard = store.run_lock("marmaduke", &me, Duration::ZERO).unwrap().expect("free");
        let note = store.running("marmaduke").unwrap().expect("held");
        assert!(note.contains("marmaduke pid 100 on marmaduke-host"), "{note}");
        let refused = store.run_lock("marmaduke", &holder("flinstones"), Duration::from_millis(20)).unwrap();
        assert!(refused.unwrap_err().contains("pid 100"), "the refusal says who holds it");
        drop(guard);
        assert_eq!(store.running("marmaduke").unwrap(), None, "dropping the guard releases the lock");
        assert!(store.run_lock("marmaduke", &holder("flinstones"), Duration::ZERO).unwrap().is_ok());
    });
}

#[test]
fn one_worker_of_a_kind_per_domain() {
    each(|store| {
        store.init(None, &holder("marmaduke"), t0()).unwrap();
        let acquire = store.worker_lock("acquire", "marmaduke").unwrap().expect("free");
        assert!(store.worker_lock("acquire", "marmaduke").unwrap().is_none());
        assert!(store.worker_lock("release", "marmaduke").unwrap().is_some(), "another kind");
        assert!(store.worker_lock("acquire", "flinstones").unwrap().is_some(), "another domain");
        drop(acquire);
        assert!(store.worker_lock("acquire", "marmaduke").unwrap().is_some());
    });
}

#[test]
fn waiting_for_a_change_ends_at_the_change_or_the_timeout() {
    each(|store| {
        let me = holder("marmaduke");
        let record = store.init(Some("marmaduke"), &me, t0()).unwrap();
        let start = Instant::now();
        assert_eq!(store.wait_for_change(record.epoch, Duration::from_millis(50)).unwrap(), None);
        assert!(start.elapsed() >= Duration::from_millis(50));
        let changed = std::thread::scope(|scope| {
            let waiter = scope.spawn(|| store.wait_for_change(record.epoch, Duration::from_secs(20)));
            std::thread::sleep(Duration::from_millis(30));
            store.commit(&holder("flinstones"), &request("flinstones"), Value::Null, t0()).unwrap();
            waiter.join().unwrap().unwrap()
        });
        let changed = changed.expect("the change ends the wait");
        assert_eq!(changed.epoch, record.epoch + 1);
        assert_eq!(changed.state, State::Owned { owner: "marmaduke".into() });
        assert_eq!(store.wait_for_change(0, Duration::ZERO).unwrap(), Some(changed), "already past");
    });
}

#[test]
fn a_repair_agrees_with_the_board_or_writes_nothing() {
    each(|store| {
        let me = holder("marmaduke");
        store.init(Some("marmaduke"), &me, t0()).unwrap();
        assert!(matches!(
            store.repair(&me, t0(), &|| Ok(Some("marmaduke".into()))),
            Err(LedgerError::NothingToRepair { .. })
        ));
    });
}

#[test]
fn a_store_says_where_it_keeps_the_ledger() {
    each(|store| {
        let location = store.location();
        assert!(!location.store.is_empty() && !location.record.is_empty() && !location.journal.is_empty());
        assert_ne!(location.record, location.journal);
    });
}
