//! One owner, nothing lost: the ways the first promise was broken in adversarial runs, each as
//! a test (issue "fence every override, survive signals and storage faults, trust nothing
//! unchecked"). Signals and storage faults have files of their own (`signals.rs`,
//! `ledger_faults.rs`).

use crate::support::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

/// A blank reason is refused before anything is looked at or run: no deleteboard, no journal line.
#[test]
fn a_blank_reason_changes_nothing() {
    let site = SimSite::new();
    for binary in ["ftl-release", "ftl-acquire"] {
        for reason in [" ", "", "\t\n"] {
            let before = site.snapshot();
            let calls = site.calls().len();
            let out = run(site.ftl("flinstones", binary).args(["--force", "--reason", reason]));
            assert_eq!(code(&out), 2, "{binary} --reason {reason:?}: {}", stderr(&out));
            assert!(stderr(&out).contains("--reason"), "{}", stderr(&out));
            assert_eq!(site.snapshot(), before, "{binary} --reason {reason:?} changed the platform or the ledger");
            assert_eq!(site.calls().len(), calls, "{binary} --reason {reason:?} ran a command");
        }
    }
    // A dry run says what the run would say.
    for binary in ["ftl-release", "ftl-acquire"] {
        let out = run(site.ftl("flinstones", binary).args(["--dry-run", "--force", "--reason", "   "]));
        assert_eq!(code(&out), 2, "{binary} --dry-run with a blank reason: {}", stderr(&out));
    }
    assert_eq!(site.board_domain().as_deref(), Some("marmaduke"));
}

/// Starts `binary` as `domain` with `hang` hanging and waits until the ledger names `step`.
fn hang_in(site: &SimSite, domain: &str, binary: &str, step: &str, hang: &str) -> std::process::Child {
    assert_eq!(code(&site.sim(&["fault", &format!("hang:{hang}")])), 0);
    let child = site.ftl(domain, binary).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    site.wait_for(20, &format!("{binary} to reach {step}"), |s| s.ledger(domain)["step"]["id"] == step);
    child
}

/// A force against a live sequence is refused (exit 3, naming the holder) and changes nothing;
/// once the holder is gone, the same force goes ahead.
#[test]
fn a_force_never_overrides_a_live_sequence() {
    for (step, hang) in [("A1", "netbackup-stop"), ("A3", "addboard"), ("A4", "modload")] {
        let site = SimSite::new();
        assert_eq!(code(&run(site.ftl("marmaduke", "ftl-release"))), 0);
        let mut child = hang_in(&site, "flinstones", "ftl-acquire", step, hang);
        let before = site.snapshot();
        for binary in ["ftl-acquire", "ftl-release"] {
            let out = run(site.ftl("marmaduke", binary).args(["--force", "--reason", "flinstones looks dead"]));
            assert_eq!(code(&out), 3, "{step} {binary}: {}", stderr(&out));
            let err = stderr(&out);
            assert!(err.contains("flinstones"), "{step}: the refusal names the holder: {err}");
            if binary == "ftl-acquire" {
                assert!(err.contains(&format!("pid {}", child.id())), "{step}: the refusal names the process: {err}");
            }
            assert_eq!((site.snapshot().0, site.snapshot().1), (before.0.clone(), before.1.clone()), "{step}: changed");
        }
        let out = run(site.ftl("marmaduke", "ftl-status").arg("--check"));
        assert!(stdout(&out).contains("[pass] no interrupted hand-over"), "{step}: {}", stdout(&out));
        child.kill().unwrap();
        child.wait().unwrap();
        site.kill_strays();
        assert_eq!(code(&site.sim(&["fault", "clear"])), 0);
        // The holder is gone now: --check says so, and the force acts.
        let out = run(site.ftl("marmaduke", "ftl-status").arg("--check"));
        assert!(stdout(&out).contains("[FAIL] no interrupted hand-over"), "{step}: {}", stdout(&out));
        let out = run(site.ftl("marmaduke", "ftl-acquire").args(["--force", "--reason", "flinstones died"]));
        assert_eq!(code(&out), 0, "{step}: {}", stderr(&out));
        let l = site.ledger("marmaduke");
        assert_eq!((l["state"].as_str(), l["owner"].as_str()), (Some("owned"), Some("marmaduke")));
        assert_eq!(site.board_domain().as_deref(), Some("marmaduke"));
    }
}

/// Two forces at once against the same dead holder: exactly one acts, the other changes
/// nothing on its own domain (its NetBackup is never stopped).
#[test]
fn two_forces_at_once_one_acts() {
    for round in 0..3 {
        let site = SimSite::with_args(&["--domains", "a,b,c", "--owner", "a", "--speed", "200"]);
        // a died in its release after quiescing (the controller allows a detach then).
        site.kill_in_step("a", "ftl-release", "R5", "deleteboard");
        let forces: Vec<_> = ["b", "c"]
            .iter()
            .map(|d| {
                site.ftl(d, "ftl-acquire")
                    .args(["--force", "--reason", "a is down"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<_> = forces.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
        let codes: Vec<i32> = outs.iter().map(code).collect();
        let winners: Vec<usize> = (0..2).filter(|i| codes[*i] == 0).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one force acts: {codes:?} {:?}",
            outs.iter().map(stderr).collect::<Vec<_>>()
        );
        let (winner, loser) = if winners[0] == 0 { ("b", "c") } else { ("c", "b") };
        let lost = &outs[1 - winners[0]];
        assert_eq!(code(lost), 3, "round {round}: {}", stderr(lost));
        let p = site.platform();
        assert_eq!(p["board"]["domain"], winner, "round {round}");
        assert_eq!(p["domains"][loser]["netbackup"], "running", "round {round}: the loser's NetBackup was touched");
        assert_eq!(site.calls_with(loser, "netbackup-stop", "stop"), 0, "round {round}");
        let l = site.ledger("a");
        assert_eq!(l["owner"], winner, "round {round}");
    }
}

/// `--check` on another host judges a running hand-over by its run lock, not by a pid.
#[test]
fn check_from_another_host_sees_a_running_hand_over_as_running() {
    let site = SimSite::new();
    let mut child = hang_in(&site, "marmaduke", "ftl-release", "R3", "mt");
    // Flinstones' view: a different host name in the holder than its own.
    let out = run(site.ftl("flinstones", "ftl-status").arg("--check"));
    let text = stdout(&out);
    assert!(text.contains("[pass] no interrupted hand-over") && text.contains("holds its run lock"), "{text}");
    assert!(!text.contains("is gone"), "{text}");
    child.kill().unwrap();
    child.wait().unwrap();
    site.kill_strays();
}

/// A record swapped in during a release (an older copy of the same owner, or one naming
/// another owner) stops the release; epochs never appear twice in the journal.
#[test]
fn a_record_swapped_in_during_a_release_stops_it() {
    for variant in ["older copy", "another owner"] {
        let site = SimSite::new();
        site.set_timeout("rewind", "2s");
        let old = std::fs::read_to_string(site.state_json()).unwrap();
        let swapped = if variant == "another owner" { old.replace("\"marmaduke\"", "\"flinstones\"") } else { old };
        let child = hang_in(&site, "marmaduke", "ftl-release", "R3", "mt");
        std::fs::write(site.state_json(), &swapped).unwrap();
        let out = child.wait_with_output().unwrap();
        site.kill_strays();
        assert_ne!(code(&out), 0, "{variant}: the release went on: {}", stderr(&out));
        assert!(stderr(&out).contains("older than the journal"), "{variant}: {}", stderr(&out));
        let epochs = site.epochs();
        let mut unique = epochs.clone();
        unique.dedup();
        assert_eq!(epochs, unique, "{variant}: an epoch appears twice in the journal");
        assert_eq!(std::fs::read_to_string(site.state_json()).unwrap(), swapped, "{variant}: nobody wrote over it");
        assert_eq!(code(&run(site.ftl("marmaduke", "ftl-status"))), 0, "{variant}: status still reads it");
        let out = run(site.ftl("marmaduke", "ftl-release"));
        if variant == "older copy" {
            assert_eq!(code(&out), 6, "{variant}: refused until repaired: {}", stderr(&out));
            assert!(stderr(&out).contains("--repair-ledger"), "{}", stderr(&out));
        } else {
            assert_eq!(code(&out), 3, "{variant}: the record names flinstones: {}", stderr(&out));
        }
    }
}

/// Boot takes the run lock: beside a release of the same domain it waits, then says busy, and
/// brings no drive up.
#[test]
fn boot_never_runs_beside_a_release() {
    let site = SimSite::new();
    let mut child = hang_in(&site, "marmaduke", "ftl-release", "R3", "mt");
    let ups = site.calls_with("marmaduke", "vmoprcmd", "-up");
    let out = run(site.ftl("marmaduke", "ftl-acquire").arg("--at-boot"));
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("already running"), "{}", stderr(&out));
    assert_eq!(site.calls_with("marmaduke", "vmoprcmd", "-up"), ups, "boot brought drives up");
    child.kill().unwrap();
    child.wait().unwrap();
    site.kill_strays();
}

/// History and repair read only trusted files; repair confirms the board first; a missing
/// record points to repair; --init-ledger never restarts a ledger that has a journal.
#[test]
fn repair_and_history_trust_nothing_unchecked() {
    let site = SimSite::new();
    let ledger = site.path().join("ledger");
    let journal = ledger.join("journal.jsonl");
    std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = run(site.ftl("marmaduke", "ftl-status").args(["--history", "5"]));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("journal.jsonl"), "{}", stderr(&out));
    std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o644)).unwrap();

    // A rotated journal naming flinstones, writable by anybody: not read.
    let forged = std::fs::read_to_string(&journal).unwrap().replace("\"marmaduke\"", "\"flinstones\"");
    let rotated = ledger.join("journal.jsonl.1");
    std::fs::write(&rotated, &forged).unwrap();
    std::fs::set_permissions(&rotated, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::write(&journal, "").unwrap();
    std::fs::write(site.state_json(), "{ torn").unwrap();
    let out = run(site.ftl("marmaduke", "ftl-status").arg("--repair-ledger"));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("journal.jsonl.1"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(site.state_json()).unwrap(), "{ torn");

    // Trusted, but naming flinstones while the board is in marmaduke: refused, nothing written.
    std::fs::set_permissions(&rotated, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(site.ftl("marmaduke", "ftl-status").arg("--repair-ledger"));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("in domain marmaduke"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(site.state_json()).unwrap(), "{ torn");

    // The true history back: repair rebuilds it, above every epoch seen.
    std::fs::write(&rotated, forged.replace("\"flinstones\"", "\"marmaduke\"")).unwrap();
    let out = run(site.ftl("marmaduke", "ftl-status").arg("--repair-ledger"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(site.ledger("marmaduke")["owner"], "marmaduke");

    // A missing record points to repair, and init refuses to start again at epoch 1.
    std::fs::remove_file(site.state_json()).unwrap();
    let out = run(site.ftl("marmaduke", "ftl-status"));
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(stderr(&out).contains("--repair-ledger"), "{}", stderr(&out));
    let out = run(site.ftl("marmaduke", "ftl-status").args(["--init-ledger", "--owner", "flinstones"]));
    assert_ne!(code(&out), 0, "{}", stderr(&out));
    assert!(!site.state_json().exists());
}

/// A site hook anybody could write is not run; a hook given as an argument is never looked up
/// in the current directory.
#[test]
fn site_hooks_pass_the_trust_checks_and_are_found_by_absolute_path() {
    let site = SimSite::new();
    let hooks = HookDir::new();
    let marker = hooks.dir.path().join("ran");
    let script = hooks.dir.path().join("bpstart_notify.ftl-site");
    std::fs::write(&script, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = run(hooks.hook("bpstart_notify", &site.config("marmaduke")).args(["db1", "p", "s", "FULL"]));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("bpstart_notify.ftl-site"), "{}", stderr(&out));
    assert!(!marker.exists(), "an untrusted site hook ran");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Called as `ftl-notify HOOK` from the directory that holds a site hook: not run.
    let out = run(site.ftl("marmaduke", "ftl-notify").current_dir(hooks.dir.path()).args([
        "bpstart_notify",
        "db1",
        "p",
        "s",
        "FULL",
    ]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!marker.exists(), "a hook name was looked up relative to the current directory");
    // Called by its link in that directory (as NetBackup does): run.
    let out = run(hooks.hook("bpstart_notify", &site.config("marmaduke")).args(["db1", "p", "s", "FULL"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(marker.exists());
}

/// With a prefix that runs commands on another host through a shell, like ssh and sshd, every
/// argument is quoted for that shell: configured values are never run as shell code.
#[test]
fn a_remote_shell_never_parses_configured_values() {
    let site = SimSite::new();
    // ssh joins its arguments with spaces; sshd hands the result to the user's shell.
    let ssh = site.dir.path().join("fake-ssh");
    std::fs::write(&ssh, "#!/bin/sh\nshift\nexec /bin/sh -c \"$*\"\n").unwrap();
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).unwrap();
    let pwned = site.dir.path().join("pwned");
    let controller = site.path().join("controller").join("bin");
    for domain in ["marmaduke", "flinstones"] {
        site.edit_config(domain, |t| {
            t.replace("prefix = []", &format!("prefix = [\"{}\", \"ssp0\"]", ssh.display())).replace(
                &format!("showusage = \"{}\"", controller.join("showusage").display()),
                &format!("showusage = \"{} $(touch {})\"", controller.join("showusage").display(), pwned.display()),
            )
        });
    }
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_ne!(code(&out), 0, "a showusage path with a space cannot exist: {}", stderr(&out));
    assert!(!pwned.exists(), "the remote shell ran a configured value");
    // Without the injection the whole hand-over goes through the remote shell.
    for domain in ["marmaduke", "flinstones"] {
        site.edit_config(domain, |t| t.replace(&format!(" $(touch {})", pwned.display()), ""));
    }
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(site.ftl("flinstones", "ftl-acquire"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(site.board_domain().as_deref(), Some("flinstones"));
}

/// A probe of the run lock (what a hook does) never makes a real sequence fail.
#[test]
fn a_probe_never_makes_a_sequence_fail() {
    let site = SimSite::new();
    assert_eq!(code(&run(site.ftl("marmaduke", "ftl-release"))), 0);
    let lock = site.path().join("ledger").join("run.flinstones.lock");
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok(Ok(_probe)) = ftl::ledger::lock::try_lock(&lock, ftl::ledger::lock::Create::IfMissing) {
                    std::thread::sleep(Duration::from_millis(2));
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        let out = run(site.ftl("flinstones", "ftl-acquire"));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    });
}

/// `--wait` keeps waiting after another waiter wins the release, until its own deadline.
#[test]
fn a_waiter_that_loses_the_race_waits_on() {
    let site = SimSite::with_args(&["--domains", "a,b,c", "--owner", "a", "--speed", "1000"]);
    // No window claims the library meanwhile: the two requests decide.
    site.windows_far_from_now(&["a", "b", "c"]);
    let waiters: Vec<_> = ["b", "c"]
        .iter()
        .map(|d| {
            (
                *d,
                site.ftl(d, "ftl-acquire")
                    .args(["--wait", "60s"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    site.wait_for(20, "both requests", |s| s.ledger("a")["requests"].as_array().is_some_and(|r| r.len() == 2));
    assert_eq!(code(&run(site.ftl("a", "ftl-release"))), 0);
    site.wait_for(30, "a waiter to acquire", |s| s.ledger("a")["state"] == "owned");
    let winner = site.ledger("a")["owner"].as_str().unwrap().to_string();
    let mut waiters: Vec<_> = waiters.into_iter().collect();
    let (_, mut won) = waiters.remove(waiters.iter().position(|(d, _)| *d == winner).unwrap());
    let (loser, mut lost) = waiters.remove(0);
    assert_eq!(wait_timeout(&mut won, 20.0).map(|s| s.code()), Some(Some(0)));
    assert_eq!(wait_timeout(&mut lost, 5.0), None, "{loser} gave up long before its deadline");
    assert_eq!(code(&run(site.ftl(&winner, "ftl-release"))), 0);
    assert_eq!(wait_timeout(&mut lost, 30.0).map(|s| s.code()), Some(Some(0)), "{loser} acquires in the end");
    assert_eq!(site.ledger("a")["owner"], loser);
    assert_eq!(site.board_domain().as_deref(), Some(loser));
}

/// A journal that cannot be appended stops the release before anything runs, and exit 6 means
/// that nothing changed: no epoch without its journal line.
#[test]
fn a_journal_that_cannot_be_appended_stops_the_release_before_anything_runs() {
    let site = SimSite::new();
    let journal = site.path().join("ledger").join("journal.jsonl");
    std::fs::remove_file(&journal).unwrap();
    std::fs::create_dir(&journal).unwrap();
    let before = std::fs::read(site.state_json()).unwrap();
    for _ in 0..2 {
        let out = run(site.ftl("marmaduke", "ftl-release"));
        assert_eq!(code(&out), 6, "{}", stderr(&out));
        assert!(stderr(&out).contains("Nothing was changed"), "{}", stderr(&out));
        assert_eq!(std::fs::read(site.state_json()).unwrap(), before, "state.json changed");
        assert_eq!(site.calls_with("marmaduke", "vmoprcmd", "-down"), 0, "a command ran");
    }
}

/// Starts a release at speed 20 and returns once the ledger says R2 (NetBackup stopping, 1 s).
fn release_in_r2(site: &SimSite) -> std::process::Child {
    let child = site.ftl("marmaduke", "ftl-release").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let start = std::time::Instant::now();
    while site.ledger("marmaduke")["step"]["id"] != "R2" {
        assert!(start.elapsed() < Duration::from_secs(20), "the release never reached R2");
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

/// The ledger cannot be written in the middle of a release (the journal becomes a directory):
/// nothing is undone, so that the domain stays as the ledger says, and the message says so; once
/// the journal is back, the rerun resumes and no epoch is missing from the journal.
#[test]
fn a_ledger_lost_mid_release_leaves_the_domain_as_the_ledger_says() {
    let site = SimSite::with_args(&["--speed", "20"]);
    let journal = site.path().join("ledger").join("journal.jsonl");
    let child = release_in_r2(&site);
    let saved = std::fs::read(&journal).unwrap();
    std::fs::remove_file(&journal).unwrap();
    std::fs::create_dir(&journal).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 1, "not exit 6: the ledger did change (R1, R2 ran): {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("nothing was undone") && err.contains("releasing by marmaduke at R2"), "{err}");
    let p = site.platform();
    assert_eq!(p["domains"]["marmaduke"]["netbackup"], "stopped", "as the ledger says: R2 done");
    std::fs::remove_dir(&journal).unwrap();
    std::fs::write(&journal, saved).unwrap();
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let epochs = site.epochs();
    assert_eq!(epochs, (1..=epochs.len() as u64).collect::<Vec<_>>(), "the journal is contiguous");
    assert_eq!(site.board_domain(), None);
}

/// `ledger.lock` replaced by a symbolic link mid-release: the same, truthful stop.
#[test]
fn a_symlinked_ledger_lock_mid_release_is_a_truthful_stop() {
    let site = SimSite::with_args(&["--speed", "20"]);
    let lock = site.path().join("ledger").join("ledger.lock");
    let child = release_in_r2(&site);
    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(site.dir.path(), &lock).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("ledger.lock") && stderr(&out).contains("at R2"), "{}", stderr(&out));
    std::fs::remove_file(&lock).unwrap();
    std::fs::write(&lock, "").unwrap();
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(site.board_domain(), None);
}

/// The ledger lock held elsewhere for longer than its timeout mid-release: the release waits a
/// little, then records the rollback before undoing, and the domain is back as it was.
#[test]
fn a_ledger_lock_timeout_mid_release_rolls_back() {
    let site = SimSite::with_args(&["--speed", "20"]);
    for d in ["marmaduke", "flinstones"] {
        site.edit_config(d, |t| t.replace("lock_timeout = \"10s\"", "lock_timeout = \"1s\""));
    }
    let lock = site.path().join("ledger").join("ledger.lock");
    let child = release_in_r2(&site);
    let held = ftl::ledger::lock::lock(&lock, Duration::from_secs(5), ftl::ledger::lock::Create::Never).unwrap();
    std::thread::sleep(Duration::from_secs(6));
    drop(held);
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("Rolled back"), "{}", stderr(&out));
    let l = site.ledger("marmaduke");
    assert_eq!((l["state"].as_str(), l["owner"].as_str()), (Some("owned"), Some("marmaduke")), "{l}");
    let p = site.platform();
    assert_eq!(p["domains"]["marmaduke"]["netbackup"], "running");
    assert!(p["domains"]["marmaduke"]["control"].as_array().unwrap().iter().all(|c| c == "UP"), "{p}");
    assert_eq!(site.board_domain().as_deref(), Some("marmaduke"));
}

/// Deleting `ledger.lock` while two domains commit never lets two commits run at once: a commit
/// never makes a new lock file beside the one a holder may still hold, so the commits that come
/// after the deletion are refused, and the journal has every committed epoch once.
#[test]
fn a_deleted_ledger_lock_never_gives_two_holders() {
    use ftl::ledger::record::{Event, Holder, Request};
    let site = SimSite::new();
    let lock = site.path().join("ledger").join("ledger.lock");
    let start_epoch = site.ledger("marmaduke")["epoch"].as_u64().unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let committed = std::sync::atomic::AtomicUsize::new(0);
    let refused = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = std::fs::remove_file(&lock);
                std::thread::sleep(Duration::from_micros(300));
            }
        });
        let writers: Vec<_> = ["marmaduke", "flinstones"]
            .iter()
            .map(|domain| {
                let (site, committed, refused) = (&site, &committed, &refused);
                scope.spawn(move || {
                    let config = ftl::config::Config::load(&site.config(domain)).unwrap();
                    let ledger = ftl::ledger::open(&config).unwrap();
                    let actor =
                        Holder { domain: "flinstones".into(), host: (*domain).into(), pid: 1, boot_id: "b".into() };
                    for i in 0..200 {
                        let event = if i % 2 == 0 {
                            Event::Request(Request {
                                domain: "flinstones".into(),
                                at: chrono::Utc::now(),
                                until: Some(chrono::Utc::now() + chrono::Duration::seconds(i)),
                            })
                        } else {
                            Event::Withdraw { domain: "flinstones".into() }
                        };
                        match ledger.commit(&actor, &event, serde_json::Value::Null, chrono::Utc::now()) {
                            Ok(_) => committed.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
                            Err(e) => {
                                assert!(e.to_string().contains("ledger.lock is missing"), "{e}");
                                refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                            }
                        };
                    }
                })
            })
            .collect();
        // Stop the unlinker even when a writer failed, so that a failure fails instead of hanging.
        let results: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for r in results {
            if let Err(panic) = r {
                std::panic::resume_unwind(panic);
            }
        }
    });
    let epochs = site.epochs();
    let mut sorted = epochs.clone();
    sorted.dedup();
    assert_eq!(epochs, sorted, "an epoch appears twice: two commits ran at once");
    let end_epoch = site.ledger("marmaduke")["epoch"].as_u64().unwrap();
    let committed = committed.into_inner() as u64;
    assert_eq!(end_epoch - start_epoch, committed, "every successful commit added one epoch");
    assert_eq!(*epochs.last().unwrap(), end_epoch, "the journal ends at the record");
    let mut err = std::io::stderr();
    let _ = std::io::Write::write_fmt(
        &mut err,
        format_args!("deleted ledger.lock: {committed} commits done, {} refused\n", refused.into_inner()),
    );
}
