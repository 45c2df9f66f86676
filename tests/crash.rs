//! Crash at every step: for each step of both runbooks, its command hangs, the ftl process is
//! killed with SIGKILL inside that step, and the documented recovery (rerun, or a forced takeover
//! from the other domain) completes the hand-over. The table it prints is README's.

mod support;
use std::io::Write;
use support::*;

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

#[test]
fn a_crash_in_every_step_is_recovered() {
    let mut table =
        vec![format!("| {:<4} | {:<38} | {:<58} | {:<30} |", "step", "state after SIGKILL", "recovery", "result")];
    table.push(format!("|{}|{}|{}|{}|", "-".repeat(6), "-".repeat(40), "-".repeat(60), "-".repeat(32)));
    for (op, step, hang) in STEPS {
        // A forced takeover detaches the board on the controller, which refuses while the dead
        // owner still has NetBackup or sg up (before R5): then the rerun on the owner is the way.
        let recoveries: &[&str] = match *step {
            "R5" => &["rerun", "force"],
            s if s.starts_with('R') => &["rerun", "force refused, rerun"],
            _ => &["rerun"],
        };
        for recovery in recoveries {
            let site = SimSite::new();
            if *op == "acquire" {
                assert_eq!(code(&run(site.ftl("marmaduke", "ftl-release"))), 0);
            }
            let (domain, binary) =
                if *op == "release" { ("marmaduke", "ftl-release") } else { ("flinstones", "ftl-acquire") };
            let after = kill_in_step(&site, domain, binary, step, hang);
            let how = match *recovery {
                "rerun" => {
                    let out = run(site.ftl(domain, binary));
                    assert_eq!(code(&out), 0, "{op} {step}: the rerun: {}", stderr(&out));
                    if *op == "release" {
                        let out = run(site.ftl("flinstones", "ftl-acquire"));
                        assert_eq!(code(&out), 0, "{}", stderr(&out));
                        format!("rerun ftl-release on {domain}; ftl-acquire on flinstones")
                    } else {
                        format!("rerun ftl-acquire on {domain}")
                    }
                }
                "force" => {
                    let out = run(site.ftl("flinstones", "ftl-acquire").args([
                        "--force",
                        "--reason",
                        "marmaduke died in a release",
                    ]));
                    assert_eq!(code(&out), 0, "{op} {step}: the forced takeover: {}", stderr(&out));
                    "ftl-acquire --force --reason on flinstones".to_string()
                }
                _ => {
                    let before = site.snapshot();
                    let out = run(site.ftl("flinstones", "ftl-acquire").args([
                        "--force",
                        "--reason",
                        "marmaduke died in a release",
                    ]));
                    assert_eq!(code(&out), 1, "{op} {step}: the controller refuses: {}", stderr(&out));
                    assert!(stderr(&out).contains("cannot drain"), "{}", stderr(&out));
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
            table.push(format!(
                "| {step:<4} | {after:<38} | {how:<58} | {:<30} |",
                format!("owned by {owner}, board agrees")
            ));
        }
    }
    let mut err = std::io::stderr();
    let _ = writeln!(err, "crash at every step ({} rows):", table.len() - 2);
    for row in &table {
        let _ = writeln!(err, "{row}");
    }
    assert_eq!(table.len() - 2, 15);
}
