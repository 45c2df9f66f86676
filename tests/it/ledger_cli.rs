//! The ledger through the binaries: init, status, corrupt records (exit 6 everywhere, file
//! untouched), repair, and a status that never reads the journal.

use crate::support::*;

const BINARIES: &[&str] = &["ftl-status", "ftl-acquire", "ftl-release"];

/// The hook and the window tick read the ledger too.
fn hook_and_tick(site: &MiniSite) -> Vec<std::process::Command> {
    let mut hook = site.cmd("ftl-notify");
    hook.args(["bpstart_notify", "db1", "p", "s", "FULL"]);
    let mut tick = site.cmd("ftl-window");
    tick.args(["tick", "--now", "2026-11-25T21:00:00Z"]);
    vec![hook, tick]
}

#[test]
fn init_then_status_in_text_and_json() {
    let site = MiniSite::new();
    let out = run(site.cmd("ftl-status"));
    assert_eq!(code(&out), 6, "no record yet: {}", stderr(&out));
    assert!(stderr(&out).contains("--init-ledger"));
    let out = run(site.cmd("ftl-status").args(["--init-ledger", "--owner", "marmaduke"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(site.cmd("ftl-status").arg("--json"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "owned");
    assert_eq!(v["owner"], "marmaduke");
    assert_eq!(v["epoch"], 1);
    assert_eq!(v["library"], "L3500");
    let out = run(site.cmd("ftl-status").args(["--history", "5"]));
    assert!(stdout(&out).contains("owned by marmaduke") && stdout(&out).contains("init"), "{}", stdout(&out));
    let out = run(site.cmd("ftl-status").args(["--init-ledger"]));
    assert_eq!(code(&out), 2, "never overwrites: {}", stderr(&out));
}

fn corrupt_variants(good: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty", Vec::new()),
        ("truncated", good.as_bytes()[..good.len() / 2].to_vec()),
        ("binary garbage", vec![0, 159, 146, 150, 255, 1, 2, 3, 0x7f]),
        ("unknown version", good.replace("\"version\": 1", "\"version\": 9").into_bytes()),
        ("unknown state", good.replace("\"owned\"", "\"borrowed\"").into_bytes()),
        ("negative epoch", good.replace("\"epoch\": 1", "\"epoch\": -1").into_bytes()),
        ("owned without owner", good.replace("\"owner\": \"marmaduke\"", "\"owner\": null").into_bytes()),
    ]
}

#[test]
fn corrupt_records_exit_6_from_every_binary_and_stay_byte_for_byte() {
    let site = MiniSite::new();
    assert_eq!(code(&run(site.cmd("ftl-status").args(["--init-ledger", "--owner", "marmaduke"]))), 0);
    let good = std::fs::read_to_string(site.state()).unwrap();
    for (what, bytes) in corrupt_variants(&good) {
        std::fs::write(site.state(), &bytes).unwrap();
        for binary in BINARIES {
            // The status changes nothing, so it takes --dry-run only with a ledger write (and a
            // dry-run repair of a corrupt record rightly succeeds: it only says what it would do).
            let dry: &[&str] = if *binary == "ftl-status" { &[] } else { &["--dry-run"] };
            let out = run(site.cmd(binary).args(dry));
            assert_eq!(code(&out), 6, "{what}, {binary}: {}", stderr(&out));
            assert!(
                stderr(&out).contains(&site.state().display().to_string()),
                "{what}, {binary}: the file is not named"
            );
            let out = run(site.cmd(binary));
            assert_eq!(code(&out), 6, "{what}, {binary} (no dry run): {}", stderr(&out));
            assert_eq!(std::fs::read(site.state()).unwrap(), bytes, "{what}: {binary} changed the file");
        }
        for c in hook_and_tick(&site) {
            let shown = format!("{c:?}");
            let out = run(c);
            assert_eq!(code(&out), 6, "{what}, {shown}: {}", stderr(&out));
            assert_eq!(std::fs::read(site.state()).unwrap(), bytes, "{what}: {shown} changed the file");
        }
    }
}

#[test]
fn repair_keeps_a_copy_and_yields_a_valid_record() {
    let site = MiniSite::new();
    // Repair confirms the board with the controller: a stand-in showusage places it in marmaduke
    // (configured there: exit 6, the name on stdout).
    let showusage = site.dir.path().join("showusage");
    std::fs::write(&showusage, "#!/bin/sh\necho marmaduke\nexit 6\n").unwrap();
    std::fs::set_permissions(&showusage, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    site.write_config(&minimal_config(&site.ledger()).replace(
        "profile = \"starfire\"",
        &format!("profile = \"starfire\"\nshowusage = \"{}\"", showusage.display()),
    ));
    assert_eq!(code(&run(site.cmd("ftl-status").args(["--init-ledger", "--owner", "marmaduke"]))), 0);
    let good = std::fs::read_to_string(site.state()).unwrap();
    for (what, bytes) in corrupt_variants(&good) {
        std::fs::write(site.state(), &bytes).unwrap();
        let out = run(site.cmd("ftl-status").arg("--repair-ledger"));
        assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
        let copy = stderr(&out)
            .lines()
            .find_map(|l| l.strip_prefix("ftl-status: the bad record was kept as "))
            .map(str::to_string);
        let copy = copy.unwrap_or_else(|| panic!("{what}: no copy named: {}", stderr(&out)));
        assert_eq!(std::fs::read(&copy).unwrap(), bytes, "{what}: the copy differs");
        let out = run(site.cmd("ftl-status").arg("--json"));
        assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["state"], "owned", "{what}");
        assert_eq!(v["owner"], "marmaduke", "{what}");
    }
    let out = run(site.cmd("ftl-status").arg("--repair-ledger"));
    assert_eq!(code(&out), 2, "a valid record is not repaired: {}", stderr(&out));
}

/// Status reads state.json only: it answers even when the journal cannot be read at all.
#[test]
fn status_does_not_read_the_journal() {
    let site = MiniSite::new();
    assert_eq!(code(&run(site.cmd("ftl-status").args(["--init-ledger", "--owner", "marmaduke"]))), 0);
    let journal = site.ledger().join("journal.jsonl");
    std::fs::remove_file(&journal).unwrap();
    std::fs::create_dir(&journal).unwrap();
    let out = run(site.cmd("ftl-status").arg("--json"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(site.cmd("ftl-status").args(["--history", "3"]));
    assert_eq!(code(&out), 6, "but --history does: {}", stderr(&out));
}

#[test]
fn a_missing_ledger_directory_is_named() {
    let site = MiniSite::new();
    std::fs::remove_dir(site.ledger()).unwrap();
    let out = run(site.cmd("ftl-status"));
    assert_eq!(code(&out), 6);
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}

#[test]
fn prometheus_metrics_for_the_textfile_collector() {
    let site = MiniSite::new();
    assert_eq!(code(&run(site.cmd("ftl-status").args(["--init-ledger", "--owner", "marmaduke"]))), 0);
    let out = run(site.cmd("ftl-status").args(["--format", "prometheus"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "ftl_library_owner{library=\"L3500\",domain=\"marmaduke\"} 1",
        "ftl_library_owner{library=\"L3500\",domain=\"flinstones\"} 0",
        "ftl_library_state{library=\"L3500\",state=\"owned\"} 1",
        "ftl_library_state{library=\"L3500\",state=\"broken\"} 0",
        "ftl_ledger_epoch{library=\"L3500\"} 1",
        "# TYPE ftl_seconds_since_transition gauge",
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
    }
    // Every sample line is NAME{LABELS} VALUE with a number.
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let value = l.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{l}");
    }
}

/// The first record says where the board is: a controller that answers and places it elsewhere
/// refuses `--init-ledger` (exit 4, nothing written); one that agrees lets it through.
#[test]
fn init_ledger_records_only_what_the_controller_confirms() {
    let site = SimSite::new();
    let fresh = site.dir.path().join("fresh-ledger");
    std::fs::create_dir(&fresh).unwrap();
    let old = site.path().join("ledger").display().to_string();
    site.edit_config("marmaduke", |c| {
        c.replace(&format!("dir = \"{old}\""), &format!("dir = \"{}\"", fresh.display()))
    });
    let out = run(site.ftl("marmaduke", "ftl-status").args(["--init-ledger", "--owner", "flinstones"]));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("in domain marmaduke") && stderr(&out).contains("nothing was written"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(&fresh).unwrap().count(), 0, "a refused init writes nothing");
    let out = run(site.ftl("marmaduke", "ftl-status").arg("--init-ledger"));
    assert_eq!(code(&out), 4, "free, while the board is in marmaduke: {}", stderr(&out));
    let out = run(site.ftl("marmaduke", "ftl-status").args(["--init-ledger", "--owner", "marmaduke"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(site.ledger("marmaduke")["owner"], "marmaduke");
}
