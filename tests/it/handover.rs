//! The hand-over runbooks end to end on the simulator: release then acquire, dry runs, requests
//! and --wait, refusals, failures with rollback, hung commands, and crashes between steps.

use crate::support::*;
use std::time::{Duration, Instant};

fn release(site: &SimSite, domain: &str, args: &[&str]) -> std::process::Output {
    run({
        let mut c = site.ftl(domain, "ftl-release");
        c.args(args);
        c
    })
}

fn acquire(site: &SimSite, domain: &str, args: &[&str]) -> std::process::Output {
    run({
        let mut c = site.ftl(domain, "ftl-acquire");
        c.args(args);
        c
    })
}

fn assert_healthy_owner(site: &SimSite, domain: &str) {
    let p = site.platform();
    assert_eq!(p["board"]["domain"], domain, "{p}");
    let d = &p["domains"][domain];
    assert_eq!(d["netbackup"], "running", "{d}");
    assert_eq!(d["sg"], "loaded", "{d}");
    assert!(d["control"].as_array().unwrap().iter().all(|c| c == "UP"), "{d}");
    let l = site.ledger(domain);
    assert_eq!(l["state"], "owned", "{l}");
    assert_eq!(l["owner"], domain, "{l}");
}

#[test]
fn release_then_acquire_moves_the_library_and_journals_every_step() {
    let site = SimSite::new();
    let before = site.ledger("marmaduke")["epoch"].as_u64().unwrap();
    let out = release(&site, "marmaduke", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("released"));
    let l = site.ledger("marmaduke");
    assert_eq!(l["state"], "free");
    // One transition per step (R1..R5) plus the finish.
    assert_eq!(l["epoch"].as_u64().unwrap(), before + 6);
    assert_eq!(site.board_domain(), None);
    let out = acquire(&site, "flinstones", &["--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["steps"].as_array().unwrap().len(), 5);
    assert_healthy_owner(&site, "flinstones");
    assert_eq!(site.ledger("flinstones")["epoch"].as_u64().unwrap(), before + 12);
    // The journal: contiguous epochs, every step begun, and each step's duration recorded.
    let journal = site.journal();
    let epochs: Vec<u64> = journal.iter().map(|e| e["epoch"].as_u64().unwrap()).collect();
    assert_eq!(epochs, (1..=before + 12).collect::<Vec<_>>());
    for id in ["R1", "R2", "R3", "R4", "R5", "A1", "A2", "A3", "A4", "A5"] {
        assert!(
            journal.iter().any(|e| e["event"].as_str().unwrap().contains(&format!(" {id} "))),
            "{id} not journaled"
        );
        let timed = journal
            .iter()
            .any(|e| e["detail"]["completed"]["id"] == id && e["detail"]["completed"]["secs"].as_f64().is_some());
        assert!(timed, "{id} has no duration in the journal");
    }
    let finish = journal.last().unwrap();
    assert_eq!(finish["event"], "finish");
    assert_eq!(finish["detail"]["steps"].as_array().unwrap().len(), 5);
    assert_eq!(site.platform()["domains"]["marmaduke"]["netbackup"], "stopped", "R6 is off by default");
    let metrics = stdout(&run(site.ftl("flinstones", "ftl-status").args(["--format", "prometheus"])));
    for operation in ["release", "acquire"] {
        let prefix = format!("ftl_last_handover_seconds{{library=\"L3500\",operation=\"{operation}\"}} ");
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {operation} duration:\n{metrics}"));
        assert!(line[prefix.len()..].parse::<f64>().unwrap() > 0.0, "{line}");
    }
}

#[test]
fn dry_runs_change_nothing_and_print_every_command() {
    let site = SimSite::new();
    let before = site.snapshot();
    let out = release(&site, "marmaduke", &["--dry-run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let plan = stdout(&out);
    for needle in [
        "R0 precheck",
        "in parallel (7)",
        "vmoprcmd -down 6",
        "mt -f /dev/rmt/3 rewind",
        "modunload -i",
        "deleteboard -b 7",
        "R7 ledger: free",
    ] {
        assert!(plan.contains(needle), "plan lacks {needle}:\n{plan}");
    }
    let out = acquire(&site, "flinstones", &["--dry-run", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = plan["steps"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["A0", "A1", "A2", "A3", "A4", "A5", "A6"]);
    assert_eq!(site.snapshot(), before, "a dry run changed the platform or the ledger");
    assert_eq!(site.count_calls("bpdbjobs") + site.count_calls("showusage"), 0, "a dry run runs nothing");
}

#[test]
fn acquire_while_another_domain_owns_exits_3_or_waits_for_the_release() {
    let site = SimSite::new();
    let out = acquire(&site, "flinstones", &[]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("marmaduke"), "{}", stderr(&out));
    let l = site.ledger("marmaduke");
    assert_eq!(l["requests"][0]["domain"], "flinstones", "the request is recorded");
    let waiter = site
        .ftl("flinstones", "ftl-acquire")
        .args(["--wait", "60s"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = release(&site, "marmaduke", &["--if-idle"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "the waiting acquire: {}", stderr(&out));
    assert_healthy_owner(&site, "flinstones");
    // The request stays as flinstones' claim until it expires (no hand-back while it lasts).
    let requests = site.ledger("flinstones")["requests"].as_array().unwrap().clone();
    assert!(requests.iter().all(|r| r["domain"] == "flinstones"), "only the new owner's claim is left: {requests:?}");
}

#[test]
fn nothing_to_do_exits_0() {
    let site = SimSite::new();
    let out = acquire(&site, "marmaduke", &[]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("already owns"));
    let out = release(&site, "flinstones", &[]);
    assert_eq!(code(&out), 3, "a domain that does not own cannot release: {}", stderr(&out));
    assert_eq!(code(&release(&site, "marmaduke", &[])), 0);
    let out = release(&site, "marmaduke", &[]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("nothing to release"));
}

#[test]
fn an_active_job_refuses_with_4_and_changes_nothing() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["job", "marmaduke", "start"])), 0);
    let before = site.snapshot();
    let out = release(&site, "marmaduke", &[]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("1 active: job 1300"), "{}", stderr(&out));
    assert_eq!(site.snapshot(), before);
    let out = release(&site, "marmaduke", &["--if-idle"]);
    assert_eq!(code(&out), 0, "--if-idle does nothing and succeeds: {}", stderr(&out));
    assert!(stdout(&out).contains("not idle"));
    assert_eq!(site.snapshot(), before);
    // Its dry run says the same, not the plan of a release that would not happen.
    let out = release(&site, "marmaduke", &["--if-idle", "--dry-run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("not idle, so --if-idle would not release") && !stdout(&out).contains("R1"),
        "{}",
        stdout(&out)
    );
    assert_eq!(site.snapshot(), before);
}

#[test]
fn a_drive_stuck_away_from_bot_rolls_back_and_names_the_drive() {
    let site = SimSite::new();
    let p = site.platform();
    let stuck = p["drives"].as_array().unwrap().iter().find(|d| d["at_bot"] == false && d["tape"] == true).unwrap()
        ["index"]
        .as_u64()
        .unwrap();
    assert_eq!(code(&site.sim(&["fault", &format!("bot:{stuck}")])), 0);
    let out = release(&site, "marmaduke", &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("drive {stuck} (/dev/rmt/{stuck}) is not at BOT")), "{err}");
    assert!(err.contains("mt status says `file no="), "{err}");
    assert!(err.contains("rolled back"), "{err}");
    assert_healthy_owner(&site, "marmaduke");
    let l = site.ledger("marmaduke");
    assert!(l["last_error"]["step"].as_str().unwrap().starts_with("R3"), "{l}");
    assert!(l["last_error"]["command"].as_str().unwrap().contains(&format!("mt -f /dev/rmt/{stuck} status")), "{l}");
}

#[test]
fn a_hung_command_fails_after_its_timeout_and_is_named() {
    let site = SimSite::new();
    site.set_timeout("command", "1s");
    assert_eq!(code(&site.sim(&["fault", "hang:modunload"])), 0);
    let start = Instant::now();
    let out = release(&site, "marmaduke", &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(start.elapsed() < Duration::from_secs(15), "took {:?}", start.elapsed());
    let err = stderr(&out);
    assert!(err.contains("modunload -i 141` did not finish within 1s and was killed"), "{err}");
    assert_healthy_owner(&site, "marmaduke");
}

#[test]
fn the_controller_down_refuses_at_the_precheck_and_loses_nothing() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["fault", "controller-down"])), 0);
    let before = site.snapshot();
    let out = release(&site, "marmaduke", &[]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("Connection refused"), "{}", stderr(&out));
    assert_eq!(site.snapshot(), before);
    let out = run(site.ftl("marmaduke", "ftl-status").arg("--check"));
    assert_eq!(code(&out), 4);
    assert!(stdout(&out).contains("[FAIL] controller agrees with the ledger"), "{}", stdout(&out));
}

#[test]
fn a_failed_detach_with_the_board_still_here_rolls_back() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["fault", "fail:deleteboard"])), 0);
    let out = release(&site, "marmaduke", &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("drain failed") && stderr(&out).contains("rolled back"), "{}", stderr(&out));
    assert_healthy_owner(&site, "marmaduke");
}

#[test]
fn a_busy_robot_driver_rolls_back() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["fault", "sg-busy:marmaduke"])), 0);
    let out = release(&site, "marmaduke", &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("Device busy"), "{}", stderr(&out));
    assert_healthy_owner(&site, "marmaduke");
}

#[test]
fn a_bound_thread_is_refused_by_the_precheck() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["fault", "bound:marmaduke"])), 0);
    let before = site.snapshot();
    let out = release(&site, "marmaduke", &[]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("process 4242 is bound to board processor 29"), "{}", stderr(&out));
    assert_eq!(site.snapshot(), before);
}

#[test]
fn a_netbackup_that_will_not_stop_is_terminated_then_killed() {
    let site = SimSite::new();
    site.set_timeout("stop_grace", "200ms");
    assert_eq!(code(&site.sim(&["fault", "fail:netbackup-stop"])), 0);
    let out = release(&site, "marmaduke", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("kill -TERM"), "{}", stderr(&out));
    assert!(site.count_calls("kill") >= 1);
}

/// marmaduke dies in R5 and stays away: flinstones takes over by force, after the controller
/// confirms where the board is; the reason, user and host are journaled.
#[test]
fn a_forced_takeover_from_a_dead_holder() {
    let site = SimSite::new();
    site.kill_in_step("marmaduke", "ftl-release", "R5", "deleteboard");
    let out = acquire(&site, "flinstones", &[]);
    assert_eq!(code(&out), 3, "without --force the holder's record is respected: {}", stderr(&out));
    let out = acquire(&site, "flinstones", &["--force", "--reason", "marmaduke panicked during the detach"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_healthy_owner(&site, "flinstones");
    let forced = site.journal().into_iter().find(|e| e["event"] == "forced").expect("the takeover is journaled");
    assert_eq!(forced["detail"]["forced"]["reason"], "marmaduke panicked during the detach");
    assert!(forced["detail"]["forced"]["user"].is_string() && forced["detail"]["forced"]["host"].is_string());
    assert_eq!(forced["detail"]["board_was"], "in domain marmaduke");
}

/// An owner that cannot release: the forced release detaches the board on the controller, and
/// fails with the controller's own words, changing nothing, while the board cannot be drained.
#[test]
fn a_forced_release_for_an_owner_that_cannot() {
    let site = SimSite::new();
    let before = site.ledger("marmaduke");
    let out = release(&site, "flinstones", &["--force", "--reason", "marmaduke is hung"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot drain"), "{}", stderr(&out));
    assert_eq!(site.ledger("marmaduke"), before, "nothing changed");
    // The operator quiesces marmaduke by hand (its console still works), then forces again.
    expect(
        {
            let mut c = site.fake("marmaduke", "netbackup-stop");
            c.arg("stop");
            c
        },
        0,
    );
    for i in 0..7 {
        let dev = format!("/dev/rmt/{i}");
        let _ = run({
            let mut c = site.fake("marmaduke", "mt");
            c.args(["-f", &dev, "rewind"]);
            c
        });
    }
    expect(
        {
            let mut c = site.fake("marmaduke", "modunload");
            c.args(["-i", "141"]);
            c
        },
        0,
    );
    let out = release(&site, "flinstones", &["--force", "--reason", "marmaduke is hung"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(site.ledger("flinstones")["state"], "free");
    assert_eq!(site.board_domain(), None);
    assert_eq!(code(&acquire(&site, "flinstones", &[])), 0);
    assert_healthy_owner(&site, "flinstones");
}

/// A second, shorter ask leaves the longer request standing, and says the expiry the ledger keeps.
#[test]
fn a_shorter_ask_reports_the_request_the_ledger_keeps() {
    let site = SimSite::new();
    let mut waiter = site.ftl("flinstones", "ftl-acquire").args(["--wait", "3h"]).spawn().unwrap();
    site.wait_for(20, "the request", |s| s.ledger("flinstones")["requests"].as_array().is_some_and(|r| r.len() == 1));
    signal(waiter.id(), libc::SIGKILL);
    let _ = waiter.wait();
    let until: chrono::DateTime<chrono::Utc> =
        site.ledger("flinstones")["requests"][0]["until"].as_str().unwrap().parse().unwrap();
    let out = acquire(&site, "flinstones", &["--wait", "0s"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let kept = until.format("%Y-%m-%d %H:%M UTC").to_string();
    assert!(stderr(&out).contains(&kept), "the message gives {kept}, the ledger's: {}", stderr(&out));
    assert_eq!(
        site.ledger("flinstones")["requests"][0]["until"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap(),
        until
    );
}

/// The same hand-over on the libvirt platform: the HBA from one Linux guest to the other, the new
/// owner's tape and changer devices present, NetBackup running, every drive UP, the ledger and
/// the simulated HBA agreeing, and the journal contiguous.
#[test]
fn release_then_acquire_moves_the_hba_between_linux_guests() {
    let site = SimSite::with_args(&["--speed", "1000", "--platform", "libvirt"]);
    let out = release(&site, "marmaduke", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("R4  remove the tape and changer devices"), "{}", stdout(&out));
    assert_eq!(site.board_domain(), None);
    let gone = site.path().join("marmaduke/dev/tape/by-id/scsi-3500110a0012345f0");
    assert!(!gone.exists(), "the released guest keeps no device of the library");
    let out = acquire(&site, "flinstones", &["--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let p = site.platform();
    assert_eq!(p["board"]["domain"], "flinstones", "{p}");
    let d = &p["domains"]["flinstones"];
    assert_eq!(d["netbackup"], "running", "{d}");
    assert!(d["control"].as_array().unwrap().iter().all(|c| c == "UP"), "{d}");
    let drive0 = site.path().join("flinstones/dev/tape/by-id/scsi-3500110a00123abcd-nst");
    assert!(drive0.exists(), "{} is there after the attach", drive0.display());
    assert!(site.path().join("flinstones/dev/tape/by-id/scsi-3500110a0012345f0").exists(), "the changer is there");
    let l = site.ledger("flinstones");
    assert_eq!((l["state"].as_str(), l["owner"].as_str()), (Some("owned"), Some("flinstones")), "{l}");
    let epochs: Vec<u64> = site.journal().iter().map(|e| e["epoch"].as_u64().unwrap()).collect();
    assert_eq!(epochs, (1..=l["epoch"].as_u64().unwrap()).collect::<Vec<_>>());
}
