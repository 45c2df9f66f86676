//! The executor without a process: the release and acquire runbooks run against a
//! [`RecordingRunner`] that answers as the host would, and each test reads the commands it was
//! given, the ledger and the journal afterwards.

use super::*;
use crate::ledger::record::{Event, State, StepRef};
use crate::platform::Location;
use crate::runbook::{acquire, release, Left, Step};
use crate::testkit::{holder, t0, FakePlatform, Kit, RecordingRunner, Reply};

const DRIVE_DOWN: &str = "Drv Type Control\n  0 dlt DOWN-TLD\n";
const DRIVE_UP: &str = "Drv Type Control\n  0 dlt TLD\n";
const DAEMONS: &str =
    "NB Processes\n------------\n    root   306     1  0   Nov 24 ?        0:00 /usr/openv/netbackup/bin/bprd\n";
const NO_DAEMONS: &str = "NB Processes\n------------\n";
const SG_LOADED: &str =
    " Id Loadaddr   Size Info Rev Module Name\n141 fc580000   2d8c 116   1  sg (SCSA Generic Revision: 3.4d)\n";
const SG_GONE: &str =
    " Id Loadaddr   Size Info Rev Module Name\n  5 fe926000   3e92   1   1  specfs (filesystem for specfs)\n";
const AT_BOT: &str = "   file no= 0   block no= 0\n";

fn here(domain: &str) -> Reply {
    FakePlatform::answer(&Location::Domain(domain.into()))
}

fn nowhere() -> Reply {
    FakePlatform::answer(&Location::Unassigned)
}

/// The commands that never change their answer: the drive, script and tape commands succeed.
fn steady(runner: &RecordingRunner) {
    runner
        .always(&["vmoprcmd", "-down"], Reply::ok(""))
        .always(&["vmoprcmd", "-up"], Reply::ok(""))
        .always(&["K77netbackup", "stop"], Reply::ok(""))
        .always(&["S77netbackup", "start"], Reply::ok(""))
        .always(&["mt", "-f", "/dev/rmt/0", "rewind"], Reply::ok(""))
        .always(&["mt", "-f", "/dev/rmt/0", "status"], Reply::ok(AT_BOT))
        .always(&["modunload", "-i", "141"], Reply::ok(""))
        .always(&["modload", "/kernel/drv/sg"], Reply::ok(""));
}

/// R1 to R4 of a release that changes everything: drives go down, NetBackup stops, sg unloads.
fn release_until_detach(runner: &RecordingRunner) {
    runner
        .once(&["vmoprcmd", "-d", "ds"], Reply::ok(DRIVE_DOWN))
        .once(&["bpps", "-x"], Reply::ok(DAEMONS))
        .once(&["bpps", "-x"], Reply::ok(NO_DAEMONS))
        .once(&["modinfo"], Reply::ok(SG_LOADED))
        .once(&["modinfo"], Reply::ok(SG_GONE));
}

/// The host's answers while R4, R2 and R1 are undone, in that order.
fn undo_answers(runner: &RecordingRunner) {
    runner
        .once(&["modinfo"], Reply::ok(SG_GONE))
        .once(&["modinfo"], Reply::ok(SG_LOADED))
        .once(&["bpps", "-x"], Reply::ok(NO_DAEMONS))
        .once(&["bpps", "-x"], Reply::ok(DAEMONS))
        .once(&["vmoprcmd", "-d", "ds"], Reply::ok(DRIVE_UP));
}

const R1_TO_R4: &[&str] = &[
    "vmoprcmd -down 0",
    "vmoprcmd -d ds",
    "bpps -x",
    "K77netbackup stop",
    "bpps -x",
    "mt -f /dev/rmt/0 rewind",
    "mt -f /dev/rmt/0 status",
    "modinfo",
    "modunload -i 141",
    "modinfo",
];

/// What undoing R4 (sg was unloaded), R2 and R1 runs, in that order.
const UNDO_R4_R2_R1: &[&str] = &[
    "modinfo",
    "modload /kernel/drv/sg",
    "modinfo",
    "bpps -x",
    "S77netbackup start",
    "bpps -x",
    "vmoprcmd -up 0",
    "vmoprcmd -d ds",
];

fn lines(parts: &[&[&str]]) -> Vec<String> {
    parts.iter().flat_map(|p| p.iter().map(|s| s.to_string())).collect()
}

fn step_failure(result: Result<Report, Error>) -> StepFailure {
    match result {
        Err(Error::Step(failure)) => *failure,
        other => panic!("expected a failed step, got {other:?}"),
    }
}

fn owned_by(record: &Record) -> Option<&str> {
    match &record.state {
        State::Owned { owner } => Some(owner),
        _ => None,
    }
}

fn begins(book: &Runbook, ids: &[&str]) -> Vec<String> {
    ids.iter()
        .map(|id| {
            let step = &book.steps[book.position(id).unwrap()];
            format!("{} {} {}", book.operation, step.id, step.name)
        })
        .collect()
}

#[test]
fn a_failed_rollback_step_undoes_the_earlier_steps_in_reverse_order() {
    let kit = Kit::new("", Some("marmaduke"));
    let ctx = kit.context("marmaduke");
    kit.runner
        .once(&["vmoprcmd", "-d", "ds"], Reply::ok(DRIVE_DOWN))
        .once(&["vmoprcmd", "-d", "ds"], Reply::ok(DRIVE_UP))
        .once(&["bpps", "-x"], Reply::ok(DAEMONS))
        .once(&["bpps", "-x"], Reply::ok(NO_DAEMONS))
        .once(&["bpps", "-x"], Reply::ok(NO_DAEMONS))
        .once(&["bpps", "-x"], Reply::ok(DAEMONS))
        .always(&["modinfo"], Reply::ok(SG_LOADED))
        .always(&["modunload"], Reply::fail(1, "can't unload the module: Device busy"));
    steady(&kit.runner);
    let book = release::runbook(&ctx);

    let failure = step_failure(execute(&ctx, &book, 0, Value::Null));

    assert_eq!(
        kit.runner.lines(),
        lines(&[
            &R1_TO_R4[..9],
            // Undo R4 finds sg still loaded; R3 has no undo; then R2, then R1.
            &["modinfo", "bpps -x", "S77netbackup start", "bpps -x", "vmoprcmd -up 0", "vmoprcmd -d ds"],
        ])
    );
    assert_eq!((failure.step.as_str(), failure.left), ("R4", Left::RolledBack));
    assert_eq!(failure.command.as_deref(), Some("/usr/sbin/modunload -i 141"));
    assert!(failure.message.contains("Device busy"), "{}", failure.message);
    assert_eq!(failure.restored, ["NetBackup running (1 processes) (undo R2)", "1 drives UP (undo R1)"]);
    let undone: Vec<String> = kit.progress.events().into_iter().filter(|e| e.starts_with("start undo")).collect();
    assert_eq!(undone, ["start undo R4", "start undo R2", "start undo R1"]);
    let record = kit.ledger.read().unwrap();
    assert_eq!(owned_by(&record), Some("marmaduke"), "a rolled-back release leaves the owner: {record:?}");
    let error = record.last_error.expect("the failure is recorded");
    assert_eq!(error.step, "R4 unload the robot driver");
    assert_eq!(error.command.as_deref(), Some("/usr/sbin/modunload -i 141"));
    assert_eq!(record.epoch, 6, "init, four steps, the rollback");
    let mut events = begins(&book, &["R1", "R2", "R3", "R4"]);
    events.push("roll back".into());
    assert_eq!(kit.journal_events(1), events);
}

#[test]
fn a_rollback_undoes_only_the_steps_that_changed_something() {
    let kit = Kit::new("", Some("marmaduke"));
    let ctx = kit.context("marmaduke");
    // NetBackup was already stopped, so R2 changed nothing and nothing restarts it.
    kit.runner
        .once(&["vmoprcmd", "-d", "ds"], Reply::ok(DRIVE_DOWN))
        .once(&["vmoprcmd", "-d", "ds"], Reply::ok(DRIVE_UP))
        .always(&["bpps", "-x"], Reply::ok(NO_DAEMONS))
        .always(&["mt", "-f", "/dev/rmt/0", "status"], Reply::ok("   file no= 3   block no= 1127\n"));
    steady(&kit.runner);
    let book = release::runbook(&ctx);

    let failure = step_failure(execute(&ctx, &book, 0, Value::Null));

    assert_eq!(
        kit.runner.lines(),
        [
            "vmoprcmd -down 0",
            "vmoprcmd -d ds",
            "bpps -x",
            "mt -f /dev/rmt/0 rewind",
            "mt -f /dev/rmt/0 status",
            "vmoprcmd -up 0",
            "vmoprcmd -d ds",
        ]
    );
    assert_eq!((failure.step.as_str(), failure.left), ("R3", Left::RolledBack));
    assert!(failure.message.contains("not at BOT"), "{}", failure.message);
    assert_eq!(failure.restored, ["1 drives UP (undo R1)"]);
    let record = kit.ledger.read().unwrap();
    assert_eq!(owned_by(&record), Some("marmaduke"));
    assert_eq!(record.last_error.unwrap().step, "R3 drives at BOT");
}

#[test]
fn a_failed_undo_leaves_the_ledger_broken() {
    let kit = Kit::new("", Some("marmaduke"));
    let ctx = kit.context("marmaduke");
    kit.runner
        .once(&["vmoprcmd", "-d", "ds"], Reply::ok(DRIVE_DOWN))
        .always(&["vmoprcmd", "-up"], Reply::Timeout)
        .always(&["bpps", "-x"], Reply::ok(NO_DAEMONS))
        .always(&["mt", "-f", "/dev/rmt/0", "rewind"], Reply::fail(5, "I/O error"));
    steady(&kit.runner);
    let book = release::runbook(&ctx);

    let failure = step_failure(execute(&ctx, &book, 0, Value::Null));

    assert_eq!(
        kit.runner.lines(),
        ["vmoprcmd -down 0", "vmoprcmd -d ds", "bpps -x", "mt -f /dev/rmt/0 rewind", "vmoprcmd -up 0"]
    );
    assert_eq!((failure.step.as_str(), failure.left), ("R3", Left::Broken));
    assert!(kit
        .progress
        .notes()
        .iter()
        .any(|n| n.starts_with("rollback failed at undo R1") && n.contains("did not finish within")));
    let record = kit.ledger.read().unwrap();
    assert!(matches!(&record.state, State::Broken { step, .. } if step.id == "R3"), "{record:?}");
    assert_eq!(kit.journal_events(1).last().map(String::as_str), Some("broken"));
}

#[test]
fn a_failed_detach_with_the_board_where_it_should_go_counts_as_done() {
    let kit = Kit::new("", Some("marmaduke"));
    let ctx = kit.context("marmaduke");
    release_until_detach(&kit.runner);
    kit.runner
        .once(&["fake-dr", "where"], here("marmaduke"))
        .always(&["fake-dr", "detach"], Reply::fail(1, "deleteboard: lost the connection to the SSP"))
        .once(&["fake-dr", "where"], nowhere());
    steady(&kit.runner);
    let book = release::runbook(&ctx);

    let report = execute(&ctx, &book, 0, Value::Null).unwrap();

    let detach = [
        "FAKE_DR_DOMAIN=marmaduke fake-dr where",
        "FAKE_DR_DOMAIN=marmaduke fake-dr detach marmaduke",
        "FAKE_DR_DOMAIN=marmaduke fake-dr where",
    ];
    assert_eq!(kit.runner.lines(), lines(&[R1_TO_R4, &detach]), "nothing is undone");
    assert_eq!(report.outcome, "released: the library is free");
    assert_eq!(report.steps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["R1", "R2", "R3", "R4", "R5"]);
    assert_eq!(
        report.steps[4].summary,
        "the command failed but the board is in no domain (fake-dr said `unassigned`): done"
    );
    let record = kit.ledger.read().unwrap();
    assert_eq!(record.state, State::Free);
    assert_eq!(report.epoch, record.epoch);
    let mut events = begins(&book, &["R1", "R2", "R3", "R4", "R5"]);
    events.push("finish".into());
    assert_eq!(kit.journal_events(1), events);
}

#[test]
fn a_failed_detach_with_the_board_still_here_rolls_back() {
    let kit = Kit::new("", Some("marmaduke"));
    let ctx = kit.context("marmaduke");
    release_until_detach(&kit.runner);
    kit.runner
        .always(&["fake-dr", "where"], here("marmaduke"))
        .always(&["fake-dr", "detach"], Reply::fail(1, "deleteboard: cannot drain"));
    undo_answers(&kit.runner);
    steady(&kit.runner);
    let book = release::runbook(&ctx);

    let failure = step_failure(execute(&ctx, &book, 0, Value::Null));

    let detach = [
        "FAKE_DR_DOMAIN=marmaduke fake-dr where",
        "FAKE_DR_DOMAIN=marmaduke fake-dr detach marmaduke",
        "FAKE_DR_DOMAIN=marmaduke fake-dr where",
    ];
    assert_eq!(kit.runner.lines(), lines(&[R1_TO_R4, &detach, UNDO_R4_R2_R1]));
    assert_eq!((failure.step.as_str(), failure.left), ("R5", Left::RolledBack));
    assert_eq!(failure.restored.len(), 3, "{:?}", failure.restored);
    assert!(kit
        .progress
        .notes()
        .contains(&"the board is in domain marmaduke (fake-dr said `domain marmaduke`); rolling back".to_string()));
    let record = kit.ledger.read().unwrap();
    assert_eq!(owned_by(&record), Some("marmaduke"));
    assert_eq!(record.last_error.unwrap().step, "R5 DR detach");
    assert_eq!(kit.journal_events(1).last().map(String::as_str), Some("roll back"));
}

#[test]
fn a_failed_detach_with_the_board_elsewhere_is_broken_and_names_where() {
    let kit = Kit::new("", Some("marmaduke"));
    let ctx = kit.context("marmaduke");
    release_until_detach(&kit.runner);
    kit.runner
        .once(&["fake-dr", "where"], here("marmaduke"))
        .always(&["fake-dr", "detach"], Reply::fail(1, "deleteboard: board is busy"))
        .once(&["fake-dr", "where"], here("flinstones"));
    steady(&kit.runner);
    let book = release::runbook(&ctx);

    let failure = step_failure(execute(&ctx, &book, 0, Value::Null));

    let detach = [
        "FAKE_DR_DOMAIN=marmaduke fake-dr where",
        "FAKE_DR_DOMAIN=marmaduke fake-dr detach marmaduke",
        "FAKE_DR_DOMAIN=marmaduke fake-dr where",
    ];
    assert_eq!(kit.runner.lines(), lines(&[R1_TO_R4, &detach]), "nothing is undone");
    assert_eq!((failure.step.as_str(), failure.left), ("R5", Left::Broken));
    assert!(
        kit.progress
            .notes()
            .contains(&"the controller now reports board 7 in domain flinstones (fake-dr said `domain flinstones`): ftl can neither finish nor undo the move from there".to_string()),
        "{:?}",
        kit.progress.notes()
    );
    let record = kit.ledger.read().unwrap();
    assert!(
        matches!(&record.state, State::Broken { holder, step } if holder.domain == "marmaduke" && step.id == "R5"),
        "{record:?}"
    );
    let error = record.last_error.unwrap();
    assert_eq!(error.step, "R5 DR detach");
    assert_eq!(error.command.as_deref(), Some("FAKE_DR_DOMAIN=marmaduke fake-dr detach marmaduke"));
    assert!(
        error.message.contains("reports board 7 in domain flinstones"),
        "the ledger names where: {}",
        error.message
    );
    assert_eq!(kit.journal_events(1).last().map(String::as_str), Some("broken"));
}

#[test]
fn an_attach_that_times_out_with_the_board_attached_counts_as_done() {
    let kit = Kit::new("", None);
    let ctx = kit.context("flinstones");
    kit.runner
        .once(&["fake-dr", "where"], nowhere())
        .always(&["fake-dr", "attach"], Reply::Timeout)
        .once(&["fake-dr", "where"], here("flinstones"));
    // Only A3: the steps after it are another test's business.
    let mut book = acquire::runbook(&ctx);
    book.steps.truncate(3);

    let report = execute(&ctx, &book, 2, Value::Null).unwrap();

    assert_eq!(
        kit.runner.lines(),
        [
            "FAKE_DR_DOMAIN=flinstones fake-dr where",
            "FAKE_DR_DOMAIN=flinstones fake-dr attach flinstones",
            "FAKE_DR_DOMAIN=flinstones fake-dr where",
        ]
    );
    assert_eq!(
        report.steps[0].summary,
        "the command failed but the board is in domain flinstones (fake-dr said `domain flinstones`): done"
    );
    assert_eq!(owned_by(&kit.ledger.read().unwrap()), Some("flinstones"));
}

#[test]
fn a_failed_warn_step_is_recorded_and_the_release_completes() {
    let kit = Kit::new("[netbackup]\nrestart_after_release = true\n", Some("marmaduke"));
    let ctx = kit.context("marmaduke");
    release_until_detach(&kit.runner);
    kit.runner
        .once(&["fake-dr", "where"], here("marmaduke"))
        .once(&["fake-dr", "where"], nowhere())
        .always(&["fake-dr", "detach"], Reply::ok(""))
        .always(&["modinfo"], Reply::ok(SG_GONE))
        .always(&["modload"], Reply::fail(1, "can't load module: No such device"));
    steady(&kit.runner);
    let book = release::runbook(&ctx);
    assert_eq!(book.steps.last().map(|s| (s.id, s.on_failure)), Some(("R6", OnFailure::Warn)));

    let report = execute(&ctx, &book, 0, Value::Null).unwrap();

    let rest = [
        "FAKE_DR_DOMAIN=marmaduke fake-dr where",
        "FAKE_DR_DOMAIN=marmaduke fake-dr detach marmaduke",
        "FAKE_DR_DOMAIN=marmaduke fake-dr where",
        // R6: sg does not load, so NetBackup is not started either.
        "modinfo",
        "modload /kernel/drv/sg",
    ];
    assert_eq!(kit.runner.lines(), lines(&[R1_TO_R4, &rest]));
    assert_eq!(report.outcome, "released: the library is free");
    let r6 = report.steps.last().unwrap();
    assert_eq!(r6.id, "R6");
    assert!(r6.summary.starts_with("failed (not needed for the hand-over): "), "{}", r6.summary);
    assert!(r6.summary.contains("No such device"), "{}", r6.summary);
    assert!(kit.progress.notes().iter().any(|n| n.starts_with("R6 NetBackup back up without the library failed")));
    assert_eq!(kit.ledger.read().unwrap().state, State::Free);
    assert_eq!(kit.journal_events(1).last().map(String::as_str), Some("finish"));
}

#[test]
fn the_steps_after_a_failed_warn_step_still_run() {
    let kit = Kit::new("", Some("marmaduke"));
    let ctx = kit.context("marmaduke");
    kit.runner
        .always(&["modinfo"], Reply::ok(SG_GONE))
        .always(&["modload"], Reply::fail(1, "can't load module"))
        .once(&["fake-dr", "where"], here("marmaduke"))
        .once(&["fake-dr", "where"], nowhere())
        .always(&["fake-dr", "detach"], Reply::ok(""));
    let book = Runbook {
        operation: Operation::Release,
        steps: vec![
            Step::new("W1", "load a driver nobody needs", &[Action::Restore], &[], OnFailure::Warn),
            Step::new("W2", "DR detach", &[Action::Detach], &[], OnFailure::AskController { attach: false }),
        ],
    };

    let report = execute(&ctx, &book, 0, Value::Null).unwrap();

    assert_eq!(
        kit.runner.lines(),
        [
            "modinfo",
            "modload /kernel/drv/sg",
            "FAKE_DR_DOMAIN=marmaduke fake-dr where",
            "FAKE_DR_DOMAIN=marmaduke fake-dr detach marmaduke",
            "FAKE_DR_DOMAIN=marmaduke fake-dr where",
        ]
    );
    assert_eq!(report.steps[1].summary, "board 7 is now in no domain");
    assert_eq!(kit.ledger.read().unwrap().state, State::Free);
    // The warning travels in the journal line of the step after it.
    let (entries, _) = kit.ledger.history(2).unwrap();
    assert_eq!(entries[0].event, "release W2 DR detach");
    assert_eq!(entries[0].detail["warning"].as_str().map(|w| w.contains("can't load module")), Some(true));
    assert_eq!(entries[1].event, "finish");
}

/// An earlier process of marmaduke died in R4: the ledger says `releasing` at R4.
fn interrupted_at_r4(kit: &Kit, book: &Runbook) {
    let me = holder("marmaduke");
    for id in ["R1", "R2", "R3", "R4"] {
        let step = &book.steps[book.position(id).unwrap()];
        let step = StepRef { operation: Operation::Release, id: id.into(), name: step.name.clone(), started: t0() };
        kit.ledger.commit(&me, &Event::Begin { holder: me.clone(), step }, Value::Null, t0()).unwrap();
    }
}

#[test]
fn a_resumed_release_runs_only_the_remaining_steps() {
    let kit = Kit::new("", Some("marmaduke"));
    let ctx = kit.context("marmaduke");
    let book = release::runbook(&ctx);
    interrupted_at_r4(&kit, &book);
    kit.runner
        .once(&["modinfo"], Reply::ok(SG_LOADED))
        .once(&["modinfo"], Reply::ok(SG_GONE))
        .once(&["fake-dr", "where"], here("marmaduke"))
        .once(&["fake-dr", "where"], nowhere())
        .always(&["fake-dr", "detach"], Reply::ok(""));
    steady(&kit.runner);

    let report = execute(&ctx, &book, 3, json!({ "resumed": "R4" })).unwrap();

    assert_eq!(
        kit.runner.lines(),
        [
            "modinfo",
            "modunload -i 141",
            "modinfo",
            "FAKE_DR_DOMAIN=marmaduke fake-dr where",
            "FAKE_DR_DOMAIN=marmaduke fake-dr detach marmaduke",
            "FAKE_DR_DOMAIN=marmaduke fake-dr where",
        ]
    );
    assert_eq!(report.steps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["R4", "R5"]);
    assert_eq!(kit.ledger.read().unwrap().state, State::Free);
    let mut events = begins(&book, &["R1", "R2", "R3", "R4", "R4", "R5"]);
    events.push("finish".into());
    assert_eq!(kit.journal_events(1), events);
    let (entries, _) = kit.ledger.history(3).unwrap();
    assert_eq!(entries[0].detail["resumed"], "R4", "the opening is journaled with the first step run");
}

#[test]
fn a_resumed_release_that_fails_undoes_what_the_earlier_process_did() {
    let kit = Kit::new("", Some("marmaduke"));
    let ctx = kit.context("marmaduke");
    let book = release::runbook(&ctx);
    interrupted_at_r4(&kit, &book);
    kit.runner
        .always(&["modinfo"], Reply::ok(SG_LOADED))
        .always(&["modunload"], Reply::fail(1, "can't unload the module: Device busy"))
        .once(&["bpps", "-x"], Reply::ok(NO_DAEMONS))
        .once(&["bpps", "-x"], Reply::ok(DAEMONS))
        .once(&["vmoprcmd", "-d", "ds"], Reply::ok(DRIVE_UP));
    steady(&kit.runner);

    let failure = step_failure(execute(&ctx, &book, 3, Value::Null));

    assert_eq!(
        kit.runner.lines(),
        [
            "modinfo",
            "modunload -i 141",
            "modinfo",
            "bpps -x",
            "S77netbackup start",
            "bpps -x",
            "vmoprcmd -up 0",
            "vmoprcmd -d ds",
        ]
    );
    assert_eq!((failure.step.as_str(), failure.left), ("R4", Left::RolledBack));
    assert_eq!(owned_by(&kit.ledger.read().unwrap()), Some("marmaduke"));
}
