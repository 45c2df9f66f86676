//! Tests of the ledger: every allowed and forbidden transition, random sequences against the
//! invariants, the files on disk, corrupt records, repair, and concurrent writers.

use super::dir::LOCK_FILE;
use super::record::*;
use super::*;
use crate::config::tests::MINIMAL;
// The exit codes are decided in `crate::error`; the tests check what an operator would see.
use crate::error::Exit;
use chrono::TimeZone;
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 22, 0, 3).unwrap()
}

fn holder(domain: &str) -> Holder {
    Holder { domain: domain.into(), host: format!("{domain}-host"), pid: 100, boot_id: "boot".into() }
}

fn step(op: Operation, id: &str) -> StepRef {
    StepRef { operation: op, id: id.into(), name: "step".into(), started: t0() }
}

fn failure() -> Failure {
    Failure {
        step: "R3 drives at BOT".into(),
        command: Some("mt -f /dev/rmt/3 status".into()),
        message: "not at BOT".into(),
        output: None,
        at: t0(),
    }
}

fn record(state: State) -> Record {
    let mut r = Record::new("L3500", state, t0());
    r.epoch = 7;
    r
}

fn owned(d: &str) -> State {
    State::Owned { owner: d.into() }
}
fn releasing(d: &str, id: &str) -> State {
    State::Releasing { holder: holder(d), step: step(Operation::Release, id) }
}
fn acquiring(d: &str, id: &str) -> State {
    State::Acquiring { holder: holder(d), step: step(Operation::Acquire, id) }
}
fn broken(d: &str, op: Operation, id: &str) -> State {
    State::Broken { holder: holder(d), step: step(op, id) }
}
fn begin(d: &str, op: Operation, id: &str) -> Event {
    Event::Begin { holder: holder(d), step: step(op, id) }
}

fn apply(state: State, event: Event) -> Result<Record, Forbidden> {
    let mut from = record(state);
    if matches!(from.state, State::Broken { .. }) {
        from.last_error = Some(failure());
    }
    let next = from.apply(&event, t0() + chrono::Duration::seconds(5))?.expect("changes the record");
    assert_eq!(next.epoch, from.epoch + 1, "every transition adds exactly 1");
    Ok(next)
}

#[test]
fn allowed_transitions() {
    use Operation::*;
    let cases: Vec<(State, Event, State)> = vec![
        (owned("m"), begin("m", Release, "R1"), releasing("m", "R1")),
        (releasing("m", "R1"), begin("m", Release, "R2"), releasing("m", "R2")),
        (broken("m", Release, "R5"), begin("m", Release, "R5"), releasing("m", "R5")),
        (releasing("m", "R5"), Event::Finish { domain: "m".into() }, State::Free),
        (releasing("m", "R3"), Event::RollBack { domain: "m".into(), failure: failure() }, owned("m")),
        (releasing("m", "R5"), Event::Fail { domain: "m".into(), failure: failure() }, broken("m", Release, "R5")),
        (State::Free, begin("f", Acquire, "A1"), acquiring("f", "A1")),
        (acquiring("f", "A1"), begin("f", Acquire, "A2"), acquiring("f", "A2")),
        (broken("f", Acquire, "A4"), begin("f", Acquire, "A4"), acquiring("f", "A4")),
        (acquiring("f", "A5"), Event::Finish { domain: "f".into() }, owned("f")),
        (acquiring("f", "A2"), Event::RollBack { domain: "f".into(), failure: failure() }, State::Free),
        (acquiring("f", "A4"), Event::Fail { domain: "f".into(), failure: failure() }, broken("f", Acquire, "A4")),
        (owned("m"), Event::Force { domain: "f".into(), reason: "m is down".into(), to: Forced::Free }, State::Free),
        (
            broken("m", Release, "R5"),
            Event::Force {
                domain: "f".into(),
                reason: "r".into(),
                to: Forced::Begin { holder: holder("f"), step: step(Acquire, "A4") },
            },
            acquiring("f", "A4"),
        ),
        (
            releasing("m", "R2"),
            Event::Force {
                domain: "f".into(),
                reason: "r".into(),
                to: Forced::Begin { holder: holder("f"), step: step(Acquire, "A1") },
            },
            acquiring("f", "A1"),
        ),
    ];
    for (from, event, want) in cases {
        let label = format!("{:?} --{}-->", from.name(), event.label());
        let next = apply(from, event).unwrap_or_else(|e| panic!("{label} was refused: {e}"));
        assert_eq!(next.state, want, "{label}");
    }
}

#[test]
fn requests_are_kept_per_domain_kept_by_acquiring_and_given_up_by_releasing() {
    let r = record(owned("m"));
    let req = |until: Option<i64>| Request {
        domain: "f".into(),
        at: t0(),
        until: until.map(|s| t0() + chrono::Duration::seconds(s)),
    };
    let r = r.apply(&Event::Request(req(Some(30))), t0()).unwrap().unwrap();
    assert_eq!(r.apply(&Event::Request(req(Some(30))), t0()).unwrap(), None, "asking again changes nothing");
    let r = r.apply(&Event::Request(req(Some(60))), t0()).unwrap().unwrap();
    assert_eq!(r.requests, vec![req(Some(60))], "a request for longer replaces the domain's old one");
    assert_eq!(r.apply(&Event::Withdraw { domain: "x".into() }, t0()).unwrap(), None, "nothing to withdraw: no change");
    let r = r.apply(&begin("m", Operation::Release, "R1"), t0()).unwrap().unwrap();
    let r = r.apply(&Event::Finish { domain: "m".into() }, t0()).unwrap().unwrap();
    assert_eq!(r.requests.len(), 1, "releasing keeps the request");
    let r = r.apply(&begin("f", Operation::Acquire, "A1"), t0()).unwrap().unwrap();
    let r = r.apply(&Event::Finish { domain: "f".into() }, t0()).unwrap().unwrap();
    // The request is the new owner's claim until it expires (issue 11: no ping-pong).
    assert_eq!(r.requests, vec![req(Some(60))], "acquiring keeps the claim");
    let r = r.apply(&begin("f", Operation::Release, "R1"), t0()).unwrap().unwrap();
    let r = r.apply(&Event::Finish { domain: "f".into() }, t0()).unwrap().unwrap();
    assert!(r.requests.is_empty(), "releasing gives it up");
}

#[test]
fn forbidden_transitions() {
    use Operation::*;
    let held = |state: StateName, holder: &str, domain: &str| Forbidden::HeldByOther {
        state,
        holder: holder.into(),
        domain: domain.into(),
    };
    let cases: Vec<(State, Event, Forbidden)> = vec![
        (owned("m"), begin("f", Release, "R1"), held(StateName::Owned, "m", "f")),
        (owned("m"), begin("f", Acquire, "A1"), held(StateName::Owned, "m", "f")),
        (
            owned("m"),
            begin("m", Acquire, "A1"),
            Forbidden::WrongState { domain: "m".into(), operation: Acquire, state: StateName::Owned },
        ),
        (
            State::Free,
            begin("m", Release, "R1"),
            Forbidden::WrongState { domain: "m".into(), operation: Release, state: StateName::Free },
        ),
        (releasing("m", "R2"), begin("f", Release, "R3"), held(StateName::Releasing, "m", "f")),
        (releasing("m", "R2"), begin("f", Acquire, "A1"), held(StateName::Releasing, "m", "f")),
        (
            releasing("m", "R2"),
            begin("m", Acquire, "A1"),
            Forbidden::WrongState { domain: "m".into(), operation: Acquire, state: StateName::Releasing },
        ),
        (acquiring("f", "A1"), begin("m", Acquire, "A2"), held(StateName::Acquiring, "f", "m")),
        (broken("m", Release, "R5"), begin("f", Release, "R5"), held(StateName::Broken, "m", "f")),
        (
            broken("m", Release, "R5"),
            begin("m", Acquire, "A1"),
            Forbidden::OtherOperation { domain: "m".into(), found: Release, wanted: Acquire },
        ),
        (releasing("m", "R2"), Event::Finish { domain: "f".into() }, held(StateName::Releasing, "m", "f")),
        (
            owned("m"),
            Event::Finish { domain: "m".into() },
            Forbidden::NoSequence { domain: "m".into(), state: StateName::Owned },
        ),
        (
            State::Free,
            Event::RollBack { domain: "m".into(), failure: failure() },
            Forbidden::NoSequence { domain: "m".into(), state: StateName::Free },
        ),
        (
            broken("m", Release, "R5"),
            Event::Fail { domain: "m".into(), failure: failure() },
            Forbidden::NoSequence { domain: "m".into(), state: StateName::Broken },
        ),
        (
            acquiring("f", "A3"),
            Event::Fail { domain: "m".into(), failure: failure() },
            held(StateName::Acquiring, "f", "m"),
        ),
        (
            owned("m"),
            Event::Request(Request { domain: "m".into(), at: t0(), until: Some(t0() + chrono::Duration::hours(1)) }),
            Forbidden::AlreadyOwner { domain: "m".into() },
        ),
        (owned("m"), Event::Force { domain: "f".into(), reason: "  ".into(), to: Forced::Free }, Forbidden::NoReason),
    ];
    for (from, event, want) in cases {
        let label = format!("{:?} --{}-->", from.name(), event.label());
        let err = apply(from, event).expect_err(&label);
        assert_eq!(err, want, "{label}");
    }
}

#[test]
fn json_round_trip_and_spec_fields() {
    let mut r = record(releasing("marmaduke", "R3"));
    r.requests.push(Request { domain: "flinstones".into(), at: t0(), until: Some(t0()) });
    let text = r.to_json();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    for key in ["version", "library", "state", "owner", "epoch", "since", "holder", "step", "requests", "last_error"] {
        assert!(value.get(key).is_some(), "state.json lacks `{key}`");
    }
    assert_eq!(value["owner"], "marmaduke");
    assert_eq!(Record::from_json(&text).unwrap(), r);
}

#[test]
fn invalid_records_are_named() {
    let good = record(owned("m")).to_json();
    let cases = [
        ("", "empty"),
        (&good[..good.len() / 2], "EOF"),
        ("\u{1}\u{2}garbage", "expected value"),
        (&good.replace("\"version\": 1", "\"version\": 2"), "unknown version 2"),
        (&good.replace("\"owned\"", "\"lent\""), "unknown variant `lent`"),
        (&good.replace("\"epoch\": 7", "\"epoch\": -7"), "invalid value: integer `-7`"),
        (&good.replace("\"owner\": \"m\"", "\"owner\": null"), "without `owner`"),
        (&good.replace("\"state\": \"owned\"", "\"state\": \"free\""), "names an owner"),
        (&good.replace("\"requests\"", "\"extra\": 1, \"requests\""), "unknown field `extra`"),
    ];
    for (text, want) in cases {
        let err = Record::from_json(text).expect_err(want);
        assert!(err.contains(want), "{want:?} not in {err:?}");
    }
}

fn any_event() -> impl Strategy<Value = (u8, u8, u8)> {
    (0u8..3, 0u8..8, 0u8..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// Random event sequences from three domains: every applied event adds exactly 1 to the
    /// epoch; `owned` always has an owner and `free` none; a moving record is only advanced,
    /// finished or failed by its holder's domain (unless forced); the record survives JSON.
    #[test]
    fn random_sequences_keep_the_invariants(events in proptest::collection::vec(any_event(), 1..60)) {
        let domains = ["a", "b", "c"];
        let mut r = record(State::Free);
        for (d, kind, s) in events {
            let d = domains[d as usize];
            let op = if s % 2 == 0 { Operation::Release } else { Operation::Acquire };
            let id = if op == Operation::Release { format!("R{}", s + 1) } else { format!("A{}", s + 1) };
            let event = match kind {
                0 | 1 => begin(d, op, &id),
                2 => Event::Finish { domain: d.into() },
                3 => Event::RollBack { domain: d.into(), failure: failure() },
                4 => Event::Fail { domain: d.into(), failure: failure() },
                5 => Event::Request(Request { domain: d.into(), at: t0(), until: Some(t0() + chrono::Duration::hours(1)) }),
                6 => Event::Withdraw { domain: d.into() },
                _ => Event::Force { domain: d.into(), reason: "test".into(), to: if s % 2 == 0 { Forced::Free } else { Forced::Begin { holder: holder(d), step: step(op, &id) } } },
            };
            let before = r.clone();
            match r.apply(&event, t0()) {
                Ok(Some(next)) => {
                    prop_assert_eq!(next.epoch, before.epoch + 1);
                    match &next.state {
                        State::Owned { owner } => prop_assert!(!owner.is_empty()),
                        State::Free => prop_assert!(next.state.owner().is_none()),
                        _ => {}
                    }
                    let forced = matches!(event, Event::Force { .. });
                    if let (Some(h), false) = (before.state.holder(), forced) {
                        if matches!(before.state, State::Releasing { .. } | State::Acquiring { .. }) && next.state != before.state {
                            prop_assert_eq!(&h.domain, d, "only the holder's domain moves a moving record");
                        }
                    }
                    if matches!(next.state, State::Broken { .. }) {
                        prop_assert!(next.last_error.is_some());
                    }
                    prop_assert_eq!(Record::from_json(&next.to_json()).unwrap(), next.clone());
                    r = next;
                }
                Ok(None) => prop_assert_eq!(&r, &before),
                Err(_) => prop_assert_eq!(&r, &before),
            }
        }
    }
}

/// A ledger in a temporary directory, from the minimal configuration.
pub(crate) fn temp_ledger(dir: &std::path::Path) -> DirLedger {
    let text = MINIMAL.replace("/shared/ftl", &dir.display().to_string());
    let config = crate::config::Config::parse(std::path::Path::new("t.toml"), &text).unwrap();
    DirLedger::open(&config).unwrap().with_mountinfo(dir.join("no-mountinfo"))
}

#[test]
fn commits_write_state_and_one_journal_line_each() {
    let dir = assert_fs::TempDir::new().unwrap();
    let ledger = temp_ledger(dir.path());
    assert!(matches!(ledger.read(), Err(LedgerError::NoRecord { .. })));
    let actor = holder("marmaduke");
    ledger.init(Some("marmaduke"), &actor, t0()).unwrap();
    assert!(matches!(ledger.init(None, &actor, t0()), Err(LedgerError::Exists { epoch: 1, .. })));
    ledger.commit(&actor, &begin("marmaduke", Operation::Release, "R1"), serde_json::Value::Null, t0()).unwrap();
    let r = ledger
        .commit(&actor, &Event::Finish { domain: "marmaduke".into() }, serde_json::json!({"x": 1}), t0())
        .unwrap();
    assert_eq!(r.epoch, 3);
    assert_eq!(ledger.read().unwrap(), r);
    let (entries, bad) = ledger.history(10).unwrap();
    assert_eq!(bad, 0);
    assert_eq!(entries.iter().map(|e| e.epoch).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(entries[2].detail["x"], 1);
    let err = ledger
        .commit(&holder("flinstones"), &begin("flinstones", Operation::Release, "R1"), serde_json::Value::Null, t0())
        .unwrap_err();
    assert_eq!(err.exit(), Exit::Busy);
    assert_eq!(ledger.read().unwrap().epoch, 3, "a refused transition writes nothing");
}

#[test]
fn corrupt_records_are_never_rewritten_and_repair_keeps_a_copy() {
    let dir = assert_fs::TempDir::new().unwrap();
    let ledger = temp_ledger(dir.path());
    let actor = holder("marmaduke");
    ledger.init(Some("marmaduke"), &actor, t0()).unwrap();
    ledger
        .commit(
            &actor,
            &Event::Request(Request {
                domain: "flinstones".into(),
                at: t0(),
                until: Some(t0() + chrono::Duration::hours(1)),
            }),
            serde_json::Value::Null,
            t0(),
        )
        .unwrap();
    let state = ledger.state_path();
    let garbage = b"{\"version\":1,\"library\":\"L35".to_vec();
    std::fs::write(&state, &garbage).unwrap();
    let err = ledger.read().unwrap_err();
    assert_eq!(err.exit(), Exit::LedgerUnreadable);
    assert!(err.to_string().contains(&state.display().to_string()), "{err}");
    let err = ledger
        .commit(&actor, &Event::Withdraw { domain: "flinstones".into() }, serde_json::Value::Null, t0())
        .unwrap_err();
    assert_eq!(err.exit(), Exit::LedgerUnreadable);
    assert_eq!(std::fs::read(&state).unwrap(), garbage, "the bad file is untouched");
    let repaired = ledger.repair(&actor, t0(), &|| Ok(Some("marmaduke".into()))).unwrap();
    assert_eq!(std::fs::read(repaired.copy.unwrap()).unwrap(), garbage, "the copy is byte for byte");
    assert_eq!(repaired.from_epoch, 2);
    let r = ledger.read().unwrap();
    assert_eq!(r.epoch, 3);
    assert_eq!(r.state, owned("marmaduke"));
    assert_eq!(r.requests.len(), 1);
    assert!(matches!(
        ledger.repair(&actor, t0(), &|| Ok(Some("marmaduke".into()))),
        Err(LedgerError::NothingToRepair { .. })
    ));
}

#[test]
fn missing_or_symlinked_directories_are_refused() {
    let dir = assert_fs::TempDir::new().unwrap();
    let text = MINIMAL.replace("/shared/ftl", &dir.path().join("absent").display().to_string());
    let config = crate::config::Config::parse(std::path::Path::new("t.toml"), &text).unwrap();
    let err = DirLedger::open(&config).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    std::os::unix::fs::symlink(dir.path(), dir.path().join("absent")).unwrap();
    let err = DirLedger::open(&config).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(err.exit(), Exit::LedgerUnreadable);
}

#[test]
fn host_local_locks_are_refused_before_locking() {
    let dir = assert_fs::TempDir::new().unwrap();
    let ledger = temp_ledger(dir.path());
    let canonical = dir.path().canonicalize().unwrap();
    let mountinfo = dir.path().join("mountinfo");
    std::fs::write(&mountinfo, format!("40 22 0:50 / {} rw - nfs filer:/vol rw,vers=3,nolock\n", canonical.display()))
        .unwrap();
    let ledger = ledger.with_mountinfo(mountinfo);
    let err = ledger.init(None, &holder("m"), t0()).unwrap_err();
    assert!(err.to_string().contains("nolock"), "{err}");
    assert!(!ledger.state_path().exists());
}

/// Two processes (this test binary, run twice as a child) each commit 200 times.
#[test]
fn concurrent_writers_lose_nothing() {
    let dir = assert_fs::TempDir::new().unwrap();
    let ledger = temp_ledger(dir.path());
    ledger.init(Some("marmaduke"), &holder("marmaduke"), t0()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = ["a", "b"]
        .iter()
        .map(|who| {
            std::process::Command::new(&exe)
                .args(["--exact", "ledger::tests::concurrent_writer_child", "--ignored", "--nocapture"])
                .env("FTL_TEST_LEDGER", dir.path())
                .env("FTL_TEST_WHO", who)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let r = ledger.read().unwrap();
    assert_eq!(r.epoch, 1 + 400);
    let (entries, bad) = ledger.history(1000).unwrap();
    assert_eq!(bad, 0);
    assert_eq!(entries.len(), 401);
    let epochs: Vec<u64> = entries.iter().map(|e| e.epoch).collect();
    assert_eq!(epochs, (1..=401).collect::<Vec<_>>(), "contiguous, in order");
}

#[test]
#[ignore = "run by concurrent_writers_lose_nothing as a child process"]
fn concurrent_writer_child() {
    let Ok(dir) = std::env::var("FTL_TEST_LEDGER") else {
        return;
    };
    let who = std::env::var("FTL_TEST_WHO").unwrap();
    let ledger = temp_ledger(std::path::Path::new(&dir));
    let actor = holder(&who);
    for i in 0..200 {
        // Alternate request and withdraw so that each commit changes the record.
        let event = if i % 2 == 0 {
            Event::Request(Request { domain: who.clone(), at: t0(), until: Some(t0() + chrono::Duration::hours(1)) })
        } else {
            Event::Withdraw { domain: who.clone() }
        };
        ledger.commit(&actor, &event, serde_json::Value::Null, t0()).unwrap();
    }
}

/// A ledger with one owner, a request and a release under way (epoch 3).
fn ledger_in_release(dir: &std::path::Path) -> (DirLedger, Holder) {
    let ledger = temp_ledger(dir);
    let actor = holder("marmaduke");
    ledger.init(Some("marmaduke"), &actor, t0()).unwrap();
    ledger.commit(&actor, &begin("marmaduke", Operation::Release, "R1"), serde_json::Value::Null, t0()).unwrap();
    ledger.commit(&actor, &begin("marmaduke", Operation::Release, "R2"), serde_json::Value::Null, t0()).unwrap();
    (ledger, actor)
}

/// The record reads, and the journal's last line is the record.
fn consistent(ledger: &DirLedger) -> Record {
    let record = ledger.read().expect("the record reads");
    let (tail, _) = ledger.history(1).unwrap();
    assert_eq!(tail.last().map(|e| e.epoch), Some(record.epoch), "the journal ends at the record's epoch");
    assert_eq!(Record::from_value(tail[0].record.clone()).unwrap(), record, "the journal's last record is the record");
    record
}

#[test]
fn a_failed_write_of_any_kind_changes_nothing_and_says_so() {
    use storage::{Faults, Op};
    for op in [Op::Append, Op::AppendSync, Op::Write, Op::WriteSync, Op::Rename] {
        let dir = assert_fs::TempDir::new().unwrap();
        let (ledger, actor) = ledger_in_release(dir.path());
        let before = std::fs::read(ledger.state_path()).unwrap();
        let journal_before = std::fs::read(ledger.journal().path()).unwrap();
        let failing = ledger.clone().with_faults(Faults::new(move |o| {
            if o == op {
                Err(std::io::Error::other("disk on fire"))
            } else {
                Ok(())
            }
        }));
        let err = failing
            .commit(&actor, &begin("marmaduke", Operation::Release, "R3"), serde_json::Value::Null, t0())
            .unwrap_err();
        assert_eq!(err.exit(), Exit::LedgerUnreadable, "{op:?}: {err}");
        assert!(
            err.to_string().contains("Nothing was changed") && err.to_string().contains("disk on fire"),
            "{op:?}: {err}"
        );
        assert_eq!(std::fs::read(ledger.state_path()).unwrap(), before, "{op:?}: state.json is untouched");
        assert_eq!(std::fs::read(ledger.journal().path()).unwrap(), journal_before, "{op:?}: no journal line is left");
        assert_eq!(consistent(&ledger).epoch, 3);
        // And the next commit goes on from there.
        let r = ledger
            .commit(&actor, &begin("marmaduke", Operation::Release, "R3"), serde_json::Value::Null, t0())
            .unwrap();
        assert_eq!(r.epoch, 4);
        assert_eq!(consistent(&ledger).epoch, 4);
    }
}

#[test]
fn a_directory_sync_that_fails_after_the_rename_is_a_commit() {
    use storage::{Faults, Op};
    let dir = assert_fs::TempDir::new().unwrap();
    let (ledger, actor) = ledger_in_release(dir.path());
    let failing = ledger.clone().with_faults(Faults::new(|o| {
        if o == Op::DirSync {
            Err(std::io::Error::other("EIO"))
        } else {
            Ok(())
        }
    }));
    let r =
        failing.commit(&actor, &begin("marmaduke", Operation::Release, "R3"), serde_json::Value::Null, t0()).unwrap();
    assert_eq!(consistent(&ledger), r);
}

#[test]
fn a_journal_that_cannot_be_appended_changes_nothing() {
    let dir = assert_fs::TempDir::new().unwrap();
    let (ledger, actor) = ledger_in_release(dir.path());
    let before = std::fs::read(ledger.state_path()).unwrap();
    std::fs::remove_file(ledger.journal().path()).unwrap();
    std::fs::create_dir(ledger.journal().path()).unwrap();
    for _ in 0..3 {
        let err = ledger
            .commit(&actor, &begin("marmaduke", Operation::Release, "R3"), serde_json::Value::Null, t0())
            .unwrap_err();
        assert_eq!(err.exit(), Exit::LedgerUnreadable, "{err}");
        assert!(err.to_string().contains("Nothing was changed"), "{err}");
        assert_eq!(std::fs::read(ledger.state_path()).unwrap(), before, "no epoch is added without its journal line");
    }
}

#[test]
fn a_record_older_than_the_journal_is_refused_until_repaired() {
    let dir = assert_fs::TempDir::new().unwrap();
    let (ledger, actor) = ledger_in_release(dir.path());
    let old = {
        let mut r = ledger.read().unwrap();
        r.epoch = 2;
        r
    };
    std::fs::write(ledger.state_path(), old.to_json()).unwrap();
    let before = std::fs::read(ledger.state_path()).unwrap();
    let err = ledger
        .commit(&actor, &begin("marmaduke", Operation::Release, "R3"), serde_json::Value::Null, t0())
        .unwrap_err();
    assert!(matches!(err, LedgerError::Behind { state_epoch: 2, journal_epoch: 3, .. }), "{err}");
    assert_eq!(err.exit(), Exit::LedgerUnreadable);
    assert!(err.to_string().contains("--repair-ledger"), "{err}");
    assert_eq!(std::fs::read(ledger.state_path()).unwrap(), before);
    let repaired = ledger.repair(&actor, t0(), &|| Ok(Some("marmaduke".into()))).unwrap();
    assert_eq!(repaired.record.epoch, 4, "above every epoch of the journal");
    assert_eq!(consistent(&ledger).epoch, 4);
}

#[test]
fn a_sequence_stops_when_its_record_was_changed_under_it() {
    let dir = assert_fs::TempDir::new().unwrap();
    let (ledger, actor) = ledger_in_release(dir.path());
    let fence = Fence { holder: actor.clone(), epoch: 3 };
    // Requests of other domains may come in between: that is not a change of the sequence's record.
    let request = Event::Request(Request {
        domain: "flinstones".into(),
        at: t0(),
        until: Some(t0() + chrono::Duration::hours(1)),
    });
    ledger.commit(&holder("flinstones"), &request, serde_json::Value::Null, t0()).unwrap();
    let r = ledger
        .commit_fenced(
            &actor,
            &begin("marmaduke", Operation::Release, "R3"),
            serde_json::Value::Null,
            t0(),
            Some(&fence),
        )
        .unwrap();
    assert_eq!(r.epoch, 5);
    // Another process of the same domain took the sequence over: the old one must stop.
    let usurper = Holder { pid: 4242, ..actor.clone() };
    let usurp = |id: &str| Event::Begin { holder: usurper.clone(), step: step(Operation::Release, id) };
    ledger.commit(&usurper, &usurp("R3"), serde_json::Value::Null, t0()).unwrap();
    let fence = Fence { holder: actor.clone(), epoch: 5 };
    let err = ledger
        .commit_fenced(
            &actor,
            &begin("marmaduke", Operation::Release, "R4"),
            serde_json::Value::Null,
            t0(),
            Some(&fence),
        )
        .unwrap_err();
    assert!(matches!(err, LedgerError::Fenced { expected: 5, found: 6, .. }), "{err}");
    assert_eq!(err.exit(), Exit::Busy);
    assert!(err.to_string().contains("pid 4242"), "{err}");
    assert_eq!(ledger.read().unwrap().epoch, 6);
    // A valid record with a lower epoch, put back by hand, is refused as well.
    let r7 = ledger.commit(&usurper, &usurp("R4"), serde_json::Value::Null, t0()).unwrap();
    let mut old = r7.clone();
    old.epoch = 6;
    std::fs::write(ledger.state_path(), old.to_json()).unwrap();
    let fence = Fence { holder: usurper.clone(), epoch: 7 };
    let err = ledger.commit_fenced(&usurper, &usurp("R5"), serde_json::Value::Null, t0(), Some(&fence)).unwrap_err();
    assert!(matches!(err, LedgerError::Behind { state_epoch: 6, journal_epoch: 7, .. }), "{err}");
}

#[test]
fn repair_confirms_the_board_and_trusts_only_safe_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = assert_fs::TempDir::new().unwrap();
    let (ledger, actor) = ledger_in_release(dir.path());
    std::fs::write(ledger.state_path(), "garbage").unwrap();
    // The record says marmaduke is releasing: the board may be in marmaduke or in no domain.
    let err = ledger.repair(&actor, t0(), &|| Ok(Some("flinstones".into()))).unwrap_err();
    assert!(matches!(err, LedgerError::BoardDisagrees { .. }), "{err}");
    assert_eq!(err.exit(), Exit::Refused);
    let err = ledger.repair(&actor, t0(), &|| Err("ssh: connect to host ssp0: Connection refused".into())).unwrap_err();
    assert!(err.to_string().contains("Connection refused"), "{err}");
    assert_eq!(std::fs::read(ledger.state_path()).unwrap(), b"garbage", "nothing was written");
    // A rotated journal anybody could have written is not read.
    let rotated = dir.path().join("journal.jsonl.1");
    std::fs::write(&rotated, "").unwrap();
    std::fs::set_permissions(&rotated, std::fs::Permissions::from_mode(0o666)).unwrap();
    let err = ledger.repair(&actor, t0(), &|| Ok(None)).unwrap_err();
    assert!(matches!(err, LedgerError::Untrusted(_)) && err.to_string().contains("journal.jsonl.1"), "{err}");
    assert!(matches!(ledger.history(5), Err(LedgerError::Untrusted(_))));
    std::fs::set_permissions(&rotated, std::fs::Permissions::from_mode(0o644)).unwrap();
    let repaired = ledger.repair(&actor, t0(), &|| Ok(None)).unwrap();
    assert_eq!(repaired.record.epoch, 4);
}

#[test]
fn a_lost_record_points_to_repair_and_init_never_restarts_a_history() {
    let dir = assert_fs::TempDir::new().unwrap();
    let (ledger, actor) = ledger_in_release(dir.path());
    std::fs::remove_file(ledger.state_path()).unwrap();
    let err = ledger.read().unwrap_err();
    assert!(matches!(err, LedgerError::RecordLost { epoch: 3, .. }), "{err}");
    assert!(err.to_string().contains("--repair-ledger"), "{err}");
    let err = ledger.init(Some("flinstones"), &actor, t0()).unwrap_err();
    assert!(matches!(err, LedgerError::RecordLost { .. }), "init refuses to restart at epoch 1: {err}");
    assert!(!ledger.state_path().exists());
    let repaired = ledger.repair(&actor, t0(), &|| Ok(Some("marmaduke".into()))).unwrap();
    assert_eq!(repaired.record.epoch, 4);
}

#[test]
fn init_refuses_beside_a_journal() {
    let dir = assert_fs::TempDir::new().unwrap();
    let ledger = temp_ledger(dir.path());
    std::fs::write(ledger.journal().path(), "").unwrap();
    let err = ledger.init(None, &holder("marmaduke"), t0()).unwrap_err();
    assert!(matches!(err, LedgerError::JournalExists { .. }), "{err}");
    assert_eq!(err.exit(), Exit::Usage);
}

#[test]
fn a_deleted_ledger_lock_stops_every_commit_until_repair_makes_it_again() {
    let dir = assert_fs::TempDir::new().unwrap();
    let (ledger, actor) = ledger_in_release(dir.path());
    std::fs::remove_file(dir.path().join(LOCK_FILE)).unwrap();
    let err = ledger
        .commit(&actor, &begin("marmaduke", Operation::Release, "R3"), serde_json::Value::Null, t0())
        .unwrap_err();
    assert!(matches!(err, LedgerError::Lock(LockError::Missing { .. })), "{err}");
    assert_eq!(err.exit(), Exit::LedgerUnreadable);
    assert!(!dir.path().join(LOCK_FILE).exists(), "a commit never makes a new lock file");
    let repaired = ledger.repair(&actor, t0(), &|| Ok(Some("marmaduke".into()))).unwrap();
    assert!(repaired.lock_recreated);
    assert_eq!(repaired.record.epoch, 3, "the record itself was fine and is not rewritten");
    ledger.commit(&actor, &begin("marmaduke", Operation::Release, "R3"), serde_json::Value::Null, t0()).unwrap();
}

#[test]
fn an_epoch_that_cannot_grow_is_refused_not_a_panic() {
    let mut last = record(owned("marmaduke"));
    last.epoch = u64::MAX;
    let err = last.apply(&begin("marmaduke", Operation::Release, "R1"), t0()).unwrap_err();
    assert!(matches!(err, Forbidden::EpochExhausted { epoch: u64::MAX }), "{err}");
}
