//! Crash at every step: for each step of both runbooks, its command hangs, the ftl process is
//! killed with SIGKILL inside that step, and the documented recovery (rerun, or a forced takeover
//! from the other domain) completes the hand-over. One test per scenario, so that the harness
//! runs them side by side; each prints its row of README's table.

use crate::support::*;
use std::io::Write;

/// Ledger owner and board agree (or the ledger is free and the board in no domain).
fn one_owner(site: &SimSite) -> String {
    let l = site.ledger("marmaduke");
    let board = site.board_domain();
    assert_eq!(l["state"], "owned", "after recovery the library is owned: {l}");
    let owner = l["owner"].as_str().unwrap().to_string();
    assert_eq!(board.as_deref(), Some(owner.as_str()), "the ledger and the board agree");
    owner
}

/// Kills the hand-over in `step` and describes what it left.
fn kill_in_step(site: &SimSite, domain: &str, binary: &str, step: &str, hang: &str) -> String {
    site.kill_in_step(domain, binary, step, hang);
    let l = site.ledger(domain);
    // The platform and the ledger agree, or --check says they do not.
    let out = run(site.ftl(domain, "ftl-status").arg("--check"));
    assert_eq!(code(&out), 4, "--check reports the interrupted hand-over");
    assert!(
        stdout(&out).contains("[FAIL] no interrupted hand-over") && stdout(&out).contains("rerun"),
        "{}",
        stdout(&out)
    );
    format!(
        "{} at {step}, board {}",
        l["state"].as_str().unwrap(),
        site.board_domain().unwrap_or_else(|| "in no domain".into())
    )
}

/// What is done after the crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// The same command again, on the same domain.
    Rerun,
    /// A forced takeover from the other domain.
    Force,
    /// A forced takeover that the controller refuses, then the rerun.
    ForceRefusedThenRerun,
}

/// The recoveries each step is tried with. A forced takeover detaches the board on the
/// controller, which refuses while the dead owner still has NetBackup or sg up (before R5): then
/// the rerun on the owner is the way.
fn recoveries(step: &str) -> &'static [Recovery] {
    match step {
        "R5" => &[Recovery::Rerun, Recovery::Force],
        s if s.starts_with('R') => &[Recovery::Rerun, Recovery::ForceRefusedThenRerun],
        _ => &[Recovery::Rerun],
    }
}

/// Crashes the hand-over in `step`, recovers as `recovery` says, checks that one domain owns the
/// library and the board agrees, and prints the scenario's row of the table.
fn crash_and_recover(step: &str, recovery: Recovery) {
    crash_and_recover_on("starfire", step, recovery)
}

/// The same on a site of `platform` (`starfire` or `libvirt`).
pub(crate) fn crash_and_recover_on(platform: &str, step: &str, recovery: Recovery) {
    let steps = if platform == "libvirt" { LIBVIRT_STEPS } else { STEPS };
    let &(op, _, hang) = steps.iter().find(|(_, s, _)| *s == step).expect("a step of the platform's STEPS");
    let site = SimSite::with_args(&["--speed", "1000", "--platform", platform]);
    if op == "acquire" {
        assert_eq!(code(&run(site.ftl("marmaduke", "ftl-release"))), 0);
    }
    let (domain, binary) = if op == "release" { ("marmaduke", "ftl-release") } else { ("flinstones", "ftl-acquire") };
    let after = kill_in_step(&site, domain, binary, step, hang);
    let how = match recovery {
        Recovery::Rerun => {
            let out = run(site.ftl(domain, binary));
            assert_eq!(code(&out), 0, "{op} {step}: the rerun: {}", stderr(&out));
            if op == "release" {
                let out = run(site.ftl("flinstones", "ftl-acquire"));
                assert_eq!(code(&out), 0, "{}", stderr(&out));
                format!("rerun ftl-release on {domain}; ftl-acquire on flinstones")
            } else {
                format!("rerun ftl-acquire on {domain}")
            }
        }
        Recovery::Force => {
            let out =
                run(site.ftl("flinstones", "ftl-acquire").args(["--force", "--reason", "marmaduke died in a release"]));
            assert_eq!(code(&out), 0, "{op} {step}: the forced takeover: {}", stderr(&out));
            "ftl-acquire --force --reason on flinstones".to_string()
        }
        Recovery::ForceRefusedThenRerun => {
            let before = site.snapshot();
            let out =
                run(site.ftl("flinstones", "ftl-acquire").args(["--force", "--reason", "marmaduke died in a release"]));
            // The SSP's deleteboard refuses (exit 1); ftl refuses a live detach from a running
            // guest before it runs one (exit 4).
            let refused = if platform == "libvirt" { 4 } else { 1 };
            assert_eq!(code(&out), refused, "{op} {step}: the controller refuses: {}", stderr(&out));
            assert!(stderr(&out).contains("cannot drain") || platform != "starfire", "{}", stderr(&out));
            assert_eq!(
                (site.snapshot().0, site.snapshot().1),
                (before.0, before.1),
                "a refused takeover changes nothing"
            );
            let out = run(site.ftl(domain, binary));
            assert_eq!(code(&out), 0, "{op} {step}: the rerun: {}", stderr(&out));
            let out = run(site.ftl("flinstones", "ftl-acquire"));
            assert_eq!(code(&out), 0, "{}", stderr(&out));
            "--force refused by deleteboard; rerun, acquire".to_string()
        }
    };
    let owner = one_owner(&site);
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "| {:<4} | {:<38} | {:<58} | {:<30} |", "step", "state after SIGKILL", "recovery", "result");
    let _ = writeln!(err, "|{}|{}|{}|{}|", "-".repeat(6), "-".repeat(40), "-".repeat(60), "-".repeat(32));
    let _ = writeln!(
        err,
        "| {step:<4} | {after:<38} | {how:<58} | {:<30} | {platform}",
        format!("owned by {owner}, board agrees")
    );
}

/// One `#[test]` per scenario, and the list of them all.
macro_rules! scenarios {
    ($($name:ident: $step:literal, $recovery:ident;)*) => {
        $(
            #[test]
            fn $name() {
                crash_and_recover($step, Recovery::$recovery);
            }
        )*
        const SCENARIOS: &[(&str, Recovery)] = &[$(($step, Recovery::$recovery)),*];
    };
}

scenarios! {
    a_crash_in_r1_is_recovered_by_a_rerun: "R1", Rerun;
    a_crash_in_r1_is_recovered_by_a_rerun_after_a_refused_force: "R1", ForceRefusedThenRerun;
    a_crash_in_r2_is_recovered_by_a_rerun: "R2", Rerun;
    a_crash_in_r2_is_recovered_by_a_rerun_after_a_refused_force: "R2", ForceRefusedThenRerun;
    a_crash_in_r3_is_recovered_by_a_rerun: "R3", Rerun;
    a_crash_in_r3_is_recovered_by_a_rerun_after_a_refused_force: "R3", ForceRefusedThenRerun;
    a_crash_in_r4_is_recovered_by_a_rerun: "R4", Rerun;
    a_crash_in_r4_is_recovered_by_a_rerun_after_a_refused_force: "R4", ForceRefusedThenRerun;
    a_crash_in_r5_is_recovered_by_a_rerun: "R5", Rerun;
    a_crash_in_r5_is_recovered_by_a_forced_takeover: "R5", Force;
    a_crash_in_a1_is_recovered_by_a_rerun: "A1", Rerun;
    a_crash_in_a2_is_recovered_by_a_rerun: "A2", Rerun;
    a_crash_in_a3_is_recovered_by_a_rerun: "A3", Rerun;
    a_crash_in_a4_is_recovered_by_a_rerun: "A4", Rerun;
    a_crash_in_a5_is_recovered_by_a_rerun: "A5", Rerun;
}

/// Every step of both runbooks is crashed in, with each of its recoveries: README's 15 rows.
#[test]
fn every_step_has_a_scenario_for_each_of_its_recoveries() {
    let wanted: Vec<(&str, Recovery)> =
        STEPS.iter().flat_map(|&(_, step, _)| recoveries(step).iter().map(move |r| (step, *r))).collect();
    assert_eq!(SCENARIOS, wanted.as_slice());
    assert_eq!(SCENARIOS.len(), 15);
}

/// The crash scenarios on the libvirt platform: every step that runs a command on a Linux guest
/// or the KVM host (A2 runs none there: the acquiring guest has none of the library's devices
/// before the attach, so nothing can be killed inside it).
macro_rules! libvirt_scenarios {
    ($($name:ident: $step:literal, $recovery:ident;)*) => {
        $(
            #[test]
            fn $name() {
                crash_and_recover_on("libvirt", $step, Recovery::$recovery);
            }
        )*
    };
}

libvirt_scenarios! {
    libvirt_a_crash_in_r1_is_recovered_by_a_rerun: "R1", Rerun;
    libvirt_a_crash_in_r2_is_recovered_by_a_rerun: "R2", Rerun;
    libvirt_a_crash_in_r3_is_recovered_by_a_rerun: "R3", Rerun;
    libvirt_a_crash_in_r4_is_recovered_by_a_rerun: "R4", Rerun;
    libvirt_a_crash_in_r5_is_recovered_by_a_rerun: "R5", Rerun;
    libvirt_a_crash_in_r5_is_recovered_by_a_rerun_after_a_refused_force: "R5", ForceRefusedThenRerun;
    libvirt_a_crash_in_a1_is_recovered_by_a_rerun: "A1", Rerun;
    libvirt_a_crash_in_a3_is_recovered_by_a_rerun: "A3", Rerun;
    libvirt_a_crash_in_a4_is_recovered_by_a_rerun: "A4", Rerun;
    libvirt_a_crash_in_a5_is_recovered_by_a_rerun: "A5", Rerun;
}
