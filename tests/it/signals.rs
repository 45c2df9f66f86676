//! Signals during a hand-over: SIGTERM, SIGINT and SIGHUP in every step of both runbooks. ftl
//! lets the running command finish or time out (a second signal kills its whole group at
//! once), records where it stopped, exits 1 saying how to resume, and leaves no process of the
//! site behind; a rerun completes. One test per step, so that the harness runs them in parallel.

use crate::support::*;
use std::io::Write;
use std::process::{Child, Stdio};

const TIMEOUTS: &[&str] =
    &["command", "netbackup_stop", "netbackup_start", "stop_grace", "rewind", "deleteboard", "addboard"];

/// A site at near-instant speed whose timeouts are 2 s, so that a hung command times out soon.
fn site(op: &str) -> SimSite {
    let site = SimSite::new();
    for domain in ["marmaduke", "flinstones"] {
        site.edit_config(domain, |text| {
            let mut in_timeouts = false;
            let mut out = String::new();
            for line in text.lines() {
                if line.starts_with('[') {
                    in_timeouts = line == "[timeouts]";
                }
                let key = line.split(" = ").next().unwrap_or_default();
                if in_timeouts && TIMEOUTS.contains(&key) {
                    out.push_str(&format!("{key} = \"2s\"\n"));
                } else {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            out
        });
    }
    if op == "acquire" {
        assert_eq!(code(&run(site.ftl("marmaduke", "ftl-release"))), 0);
    }
    site
}

fn who(op: &str) -> (&'static str, &'static str) {
    if op == "release" {
        ("marmaduke", "ftl-release")
    } else {
        ("flinstones", "ftl-acquire")
    }
}

fn start_hung(site: &SimSite, op: &str, step: &str, hang: &str) -> Child {
    let (domain, binary) = who(op);
    assert_eq!(code(&site.sim(&["fault", &format!("hang:{hang}")])), 0);
    let child = site.ftl(domain, binary).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    site.wait_for(20, &format!("{binary} to reach {step}"), |s| s.ledger(domain)["step"]["id"] == step);
    // Let the step's command start.
    std::thread::sleep(std::time::Duration::from_millis(100));
    child
}

fn stderr_of(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The hand-over completes on a rerun, and the ledger and the board agree.
fn rerun_completes(site: &SimSite, op: &str, what: &str) {
    assert_eq!(code(&site.sim(&["fault", "clear"])), 0);
    let (domain, binary) = who(op);
    let out = run(site.ftl(domain, binary));
    assert_eq!(code(&out), 0, "{what}: the rerun: {}", stderr(&out));
    let l = site.ledger(domain);
    if op == "release" {
        assert_eq!(l["state"], "free", "{what}: {l}");
        assert_eq!(site.board_domain(), None, "{what}");
    } else {
        assert_eq!((l["state"].as_str(), l["owner"].as_str()), (Some("owned"), Some("flinstones")), "{what}: {l}");
        assert_eq!(site.board_domain().as_deref(), Some("flinstones"), "{what}");
    }
}

fn signals_in(op: &str, step: &str, hang: &str) {
    let mut cases = 0;
    // One signal: the hung command is left to its timeout, then ftl stops where it stands.
    for (name, sig) in [("SIGTERM", libc::SIGTERM), ("SIGHUP", libc::SIGHUP)] {
        let what = format!("{op} {step} {name}");
        let site = site(op);
        let mut child = start_hung(&site, op, step, hang);
        signal(child.id(), sig);
        assert!(wait_timeout(&mut child, 0.5).is_none(), "{what}: ftl died at once, orphaning `{hang}`");
        assert!(
            site.processes().iter().any(|p| p.contains(&format!("bin/{hang}"))),
            "{what}: the running command was killed by the first signal"
        );
        let status = wait_timeout(&mut child, 10.0).unwrap_or_else(|| panic!("{what}: ftl did not stop"));
        assert_eq!(status.code(), Some(1), "{what}");
        let err = stderr_of(child);
        assert!(err.contains(&format!("stopped by {name}")) && err.contains("resume"), "{what}: {err}");
        assert_eq!(site.processes(), Vec::<String>::new(), "{what}: processes left behind");
        rerun_completes(&site, op, &what);
        cases += 1;
    }
    // Two signals: the second kills the running command's whole group at once.
    let what = format!("{op} {step} SIGINT twice");
    let site = site(op);
    let mut child = start_hung(&site, op, step, hang);
    signal(child.id(), libc::SIGINT);
    assert!(wait_timeout(&mut child, 0.3).is_none(), "{what}: ftl died at once");
    signal(child.id(), libc::SIGINT);
    let status = wait_timeout(&mut child, 1.5).unwrap_or_else(|| panic!("{what}: the second signal did not stop ftl"));
    assert_eq!(status.code(), Some(1), "{what}");
    let err = stderr_of(child);
    assert!(err.contains("stopped by SIGINT"), "{what}: {err}");
    assert_eq!(site.processes(), Vec::<String>::new(), "{what}: processes left behind");
    rerun_completes(&site, op, &what);
    cases += 1;
    // Straight to stderr, past the harness's capture: the count is part of the evidence.
    let _ = writeln!(std::io::stderr(), "signals in {op} {step}: {cases} cases (SIGTERM, SIGHUP, SIGINT twice)");
}

#[test]
fn signals_in_r1() {
    signals_in("release", "R1", "vmoprcmd");
}

#[test]
fn signals_in_r2() {
    signals_in("release", "R2", "netbackup-stop");
}

#[test]
fn signals_in_r3() {
    signals_in("release", "R3", "mt");
}

#[test]
fn signals_in_r4() {
    signals_in("release", "R4", "modunload");
}

#[test]
fn signals_in_r5() {
    signals_in("release", "R5", "deleteboard");
}

#[test]
fn signals_in_a1() {
    signals_in("acquire", "A1", "netbackup-stop");
}

#[test]
fn signals_in_a2() {
    signals_in("acquire", "A2", "modunload");
}

#[test]
fn signals_in_a3() {
    signals_in("acquire", "A3", "addboard");
}

#[test]
fn signals_in_a4() {
    signals_in("acquire", "A4", "modload");
}

#[test]
fn signals_in_a5() {
    signals_in("acquire", "A5", "vmoprcmd");
}

/// A signal at a random moment of a whole hand-over, nothing hung: ftl finishes the running
/// command, stops (or completes, when the signal came during the last step), and the rerun
/// completes. Seeded, so that a failure can be replayed.
#[test]
fn a_signal_at_a_random_moment_of_a_hand_over() {
    let mut rng = Rng(0x5eed_f00d);
    let mut stopped = 0;
    for round in 0..6 {
        let op = if round % 2 == 0 { "release" } else { "acquire" };
        let site = SimSite::with_args(&["--speed", "100"]);
        if op == "acquire" {
            assert_eq!(code(&run(site.ftl("marmaduke", "ftl-release"))), 0);
        }
        let (domain, binary) = who(op);
        let mut child = site.ftl(domain, binary).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(rng.below(2500)));
        signal(child.id(), [libc::SIGTERM, libc::SIGINT, libc::SIGHUP][round % 3]);
        let status = wait_timeout(&mut child, 60.0).unwrap_or_else(|| panic!("round {round}: ftl did not stop"));
        let err = stderr_of(child);
        assert!(matches!(status.code(), Some(0) | Some(1) | Some(4)), "round {round}: {status:?}: {err}");
        if status.code() != Some(0) {
            assert!(err.contains("stopped by"), "round {round}: {err}");
            stopped += 1;
        }
        assert_eq!(site.processes(), Vec::<String>::new(), "round {round}: processes left behind");
        rerun_completes(&site, op, &format!("round {round}"));
    }
    let _ = writeln!(std::io::stderr(), "signals at random moments: 6 rounds, {stopped} stopped by the signal");
}
