//! Storage faults in the middle of a hand-over: for every k, the k-th write, sync or rename of
//! the ledger (journal appends and `state.json` replacements alike) fails as a full or broken
//! disk would, during a release and during an acquire on the simulator. Each time: the record
//! still reads, the journal's last line is the record, an exit 6 ("nothing changed") changed
//! nothing, no temporary file is left, and a rerun completes with the ledger and the board in
//! agreement. The runbooks run in this process, with the fault hook on the ledger, against the
//! simulator's fake commands.

use crate::support::*;
use ftl::clock::SystemClock;
use ftl::exec::SystemRunner;
use ftl::ledger::record::{Record, StateName};
use ftl::ledger::storage::{Faults, Op};
use ftl::runbook::acquire::{self, AcquireOptions};
use ftl::runbook::progress::Silent;
use ftl::runbook::release::{self, ReleaseOptions};
use ftl::runbook::Context;
use ftl::Error;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Runs the release (on marmaduke) or the acquire (on flinstones), with `faults` on the ledger.
fn hand_over(site: &SimSite, op: &str, faults: Faults) -> Result<(), Error> {
    let domain = if op == "release" { "marmaduke" } else { "flinstones" };
    let mut setup = ftl::cli::Setup::load(&site.config(domain), None)?;
    setup.ledger = Box::new(ftl::ledger::DirLedger::open(&setup.config)?.with_faults(faults));
    let ctx: Context = setup.context(&SystemRunner, &SystemClock, &Silent);
    match op {
        "release" => release::release(&ctx, &ReleaseOptions::default()).map(|_| ()),
        _ => acquire::acquire(&ctx, &AcquireOptions::default()).map(|_| ()),
    }
}

/// Fails the `k`-th storage operation (1-based) with ENOSPC; `seen` counts them all.
fn failing(k: usize, seen: Arc<AtomicUsize>, failed: Arc<Mutex<Option<Op>>>) -> Faults {
    Faults::new(move |op| {
        let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
        if n == k {
            *failed.lock().unwrap() = Some(op);
            Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
        } else {
            Ok(())
        }
    })
}

/// The record reads, and the journal's last line holds exactly that record.
fn journal_agrees(site: &SimSite, what: &str) -> Record {
    let text = std::fs::read_to_string(site.state_json()).unwrap_or_else(|e| panic!("{what}: {e}"));
    let record = Record::from_json(&text).unwrap_or_else(|e| panic!("{what}: the record does not read: {e}"));
    let last = site.journal().pop().unwrap_or_else(|| panic!("{what}: empty journal"));
    assert_eq!(last["epoch"].as_u64(), Some(record.epoch), "{what}: journal and record disagree");
    assert_eq!(Record::from_value(last["record"].clone()).unwrap(), record, "{what}: journal and record disagree");
    let leftovers: Vec<_> = std::fs::read_dir(site.path().join("ledger"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
        .map(|e| e.file_name())
        .collect();
    assert!(leftovers.is_empty(), "{what}: temporary files left: {leftovers:?}");
    record
}

fn every_fault_of(op: &str) -> usize {
    let mut cases = 0;
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for k in 1.. {
        let site = SimSite::new();
        if op == "acquire" {
            hand_over(&site, "release", Faults::default()).unwrap();
        }
        let before = std::fs::read(site.state_json()).unwrap();
        let seen = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(Mutex::new(None));
        let result = hand_over(&site, op, failing(k, seen.clone(), failed.clone()));
        let Some(failed_op) = *failed.lock().unwrap() else {
            result.unwrap_or_else(|e| panic!("{op} without a fault: {e}"));
            break;
        };
        let what = format!("{op}, operation {k} ({failed_op:?}) failing");
        let outcome = match &result {
            Ok(()) => "completed".to_string(),
            Err(e) => format!("exit {}", e.exit().code()),
        };
        if let Err(e) = &result {
            if e.exit() == ftl::Exit::LedgerUnreadable {
                assert_eq!(
                    std::fs::read(site.state_json()).unwrap(),
                    before,
                    "{what}: exit 6 but the record changed: {e}"
                );
            }
        }
        journal_agrees(&site, &what);
        // The rerun completes, and the ledger and the board agree.
        hand_over(&site, op, Faults::default()).unwrap_or_else(|e| panic!("{what}: the rerun: {e}"));
        let record = journal_agrees(&site, &format!("{what}, after the rerun"));
        let board = site.board_domain();
        match op {
            "release" => {
                assert_eq!(record.state.name(), StateName::Free, "{what}");
                assert_eq!(board, None, "{what}");
            }
            _ => {
                assert_eq!(record.state.owner(), Some("flinstones"), "{what}");
                assert_eq!(board.as_deref(), Some("flinstones"), "{what}");
            }
        }
        *outcomes.entry(format!("{failed_op:?}: {outcome}")).or_default() += 1;
        cases += 1;
    }
    let mut err = std::io::stderr();
    let _ = writeln!(err, "{op}: {cases} storage faults injected, one per write, sync and rename; outcomes:");
    for (outcome, n) in &outcomes {
        let _ = writeln!(err, "  {n:>3} x {outcome}");
    }
    cases
}

#[test]
fn every_storage_fault_of_a_release() {
    assert!(every_fault_of("release") >= 30, "a release commits at least 6 times, each with 6 operations");
}

#[test]
fn every_storage_fault_of_an_acquire() {
    assert!(every_fault_of("acquire") >= 30);
}
