//! Every interface tells the truth: a flag is accepted only where it is honoured, `--dry-run`
//! changes nothing, no input makes a binary abort (non-UTF-8 arguments and paths, a closed or
//! full stdout or stderr, durations too large for the calendar), `-v` shows the commands run,
//! and a message names the configuration file and key it is about.

use crate::support::*;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The exit codes of the SPEC; a panic (101) or an abort (134) is none of them.
fn documented(out: &std::process::Output) -> bool {
    (0..=6).contains(&code(out)) && !stderr(out).contains("panicked")
}

/// `c` with its stdout a pipe nobody reads (as in `c | true`).
fn stdout_to_closed_pipe(c: &mut Command) -> &mut Command {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    c.stdout(Stdio::from(writer))
}

/// Runs `c`, requires exit 0, returns stdout.
fn succeeds(c: &mut Command) -> String {
    let out = run(&mut *c);
    assert_eq!(code(&out), 0, "{c:?}: {}", stderr(&out));
    stdout(&out)
}

fn dev_full() -> std::fs::File {
    std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap()
}

#[test]
fn a_dry_run_hook_says_what_it_would_do_and_changes_nothing() {
    let site = SimSite::new();
    let before = site.snapshot();
    // flinstones: the library is elsewhere, so the real hook would request it and start an acquire.
    let out = run(site.ftl("flinstones", "ftl-notify").args([
        "--dry-run",
        "bpstart_notify",
        "client1",
        "pol",
        "sched",
        "FULL",
    ]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "a hook printed on stdout");
    let said = stderr(&out);
    assert!(said.contains("would record a request") && said.contains("background acquire"), "{said}");
    // marmaduke owns it: the real end hook would start a background release.
    let out = run(site.ftl("marmaduke", "ftl-notify").args([
        "--dry-run",
        "bpend_notify",
        "client1",
        "pol",
        "sched",
        "FULL",
        "0",
    ]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("background release"), "{}", stderr(&out));
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(site.snapshot(), before, "a dry-run hook changed the ledger or the platform");
    assert!(!site.path().join("ledger").join("notify-acquire.flinstones.lock").exists(), "a worker was started");
    assert!(!site.path().join("ledger").join("notify-release.marmaduke.lock").exists(), "a worker was started");
}

#[test]
fn each_binary_accepts_only_the_flags_it_honours() {
    let site = SimSite::new();
    for (binary, args) in [
        ("ftl-window", &["show", "--dry-run"][..]),
        ("ftl-window", &["--dry-run", "show"][..]),
        ("ftl-notify", &["--json", "bpstart_notify", "client1", "pol", "sched", "FULL"][..]),
        ("ftl-status", &["--json", "--format", "prometheus"][..]),
        ("ftl-status", &["--check", "--format", "prometheus"][..]),
        ("ftl-status", &["--history", "3", "--format", "prometheus"][..]),
        // The status never changes anything: --dry-run means something only with a ledger write.
        ("ftl-status", &["--dry-run"][..]),
        ("ftl-status", &["--dry-run", "--check"][..]),
        // Flags that the chosen work would ignore.
        ("ftl-status", &["--repair-ledger", "--dry-run", "--history", "3"][..]),
        ("ftl-status", &["--repair-ledger", "--dry-run", "--json"][..]),
        ("ftl-status", &["--repair-ledger", "--dry-run", "--owner", "flinstones"][..]),
        ("ftl-status", &["--init-ledger", "--json", "--history", "2"][..]),
        ("ftl-status", &["-v", "-q"][..]),
        ("ftl-notify", &["--background", "acquire", "bpstart_notify", "a", "b", "c", "FULL"][..]),
    ] {
        let out = run(site.ftl("marmaduke", binary).args(args));
        assert_eq!(code(&out), 2, "{binary} {args:?}: {}", stderr(&out));
    }
    // What is honoured stays accepted.
    for (binary, args) in [
        ("ftl-window", &["tick", "--dry-run", "--now", "2026-11-25T21:00:00Z"][..]),
        ("ftl-window", &["show", "--json"][..]),
        ("ftl-status", &["--format", "prometheus"][..]),
        ("ftl-status", &["--json", "--history", "3"][..]),
        ("ftl-release", &["--dry-run", "--json"][..]),
        ("ftl-status", &["--dry-run", "--repair-ledger"][..]),
    ] {
        let out = run(site.ftl("marmaduke", binary).args(args));
        assert_eq!(code(&out), 0, "{binary} {args:?}: {}", stderr(&out));
    }
}

#[test]
fn non_utf8_arguments_never_abort() {
    let site = SimSite::new();
    let out = run(cmd("ftl-notify").arg(OsStr::from_bytes(b"\xff")));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(documented(&out), "{}", stderr(&out));
    // A non-UTF-8 client name is logged lossily and the hook still answers.
    let out = run(site
        .ftl("marmaduke", "ftl-notify")
        .arg("bpstart_notify")
        .arg(OsStr::from_bytes(b"cl\xe9"))
        .args(["pol", "sched", "FULL"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let hooks = HookDir::new();
    let out = run(hooks
        .hook("bpstart_notify", &site.config("marmaduke"))
        .arg(OsStr::from_bytes(b"cl\xe9"))
        .args(["pol", "sched", "FULL"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn the_background_worker_gets_a_non_utf8_configuration_path_intact() {
    let site = SimSite::new();
    let odd = site.path().join(OsStr::from_bytes(b"fl\xe9"));
    std::fs::create_dir(&odd).unwrap();
    std::fs::copy(site.config("flinstones"), odd.join("ftl.toml")).unwrap();
    let mut hook = cmd("ftl-notify");
    hook.arg("--config").arg(odd.join("ftl.toml")).args(["bpstart_notify", "client1", "pol", "sched", "FULL"]);
    let out = run(hook);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    // The worker waits for marmaduke's release, then acquires for flinstones.
    expect(site.ftl("marmaduke", "ftl-release"), 0);
    site.wait_for(30, "the background acquire", |s| s.ledger("marmaduke")["owner"] == "flinstones");
}

#[test]
fn a_closed_or_full_stdout_or_stderr_does_not_change_the_exit_code() {
    let site = SimSite::new();
    let out = run(site.ftl("marmaduke", "ftl-status").also(stdout_to_closed_pipe));
    assert_eq!(code(&out), 0, "ftl-status | true: {}", stderr(&out));
    let out = run(site.ftl("marmaduke", "ftl-release").stdout(dev_full()));
    assert_eq!(code(&out), 0, "ftl-release > /dev/full: {}", stderr(&out));
    assert_eq!(site.ledger("marmaduke")["state"], "free");
    let out = run(site.ftl("flinstones", "ftl-acquire").also(stdout_to_closed_pipe));
    assert_eq!(code(&out), 0, "ftl-acquire | true: {}", stderr(&out));
    assert_eq!(site.ledger("marmaduke")["owner"], "flinstones");
    // A start hook whose library is elsewhere says so on stderr: a full one changes nothing.
    let hooks = HookDir::new();
    let out = run(hooks
        .hook("bpstart_notify", &site.config("marmaduke"))
        .args(["client1", "pol", "sched", "FULL"])
        .stderr(dev_full()));
    assert_eq!(code(&out), 3);
}

trait Also {
    fn also(&mut self, f: impl FnOnce(&mut Command) -> &mut Command) -> &mut Command;
}

impl Also for Command {
    fn also(&mut self, f: impl FnOnce(&mut Command) -> &mut Command) -> &mut Command {
        f(self)
    }
}

#[test]
fn durations_beyond_the_calendar_are_refused_or_work() {
    let site = SimSite::new();
    let out = run(site.ftl("flinstones", "ftl-acquire").args(["--wait", "100000000d"]));
    assert!(documented(&out), "{}", stderr(&out));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("at most"), "{}", stderr(&out));
    for (key, args) in [
        ("lead", &["tick", "--now", "2026-11-25T21:00:00Z"][..]),
        ("lead", &["show", "--now", "2026-11-25T21:00:00Z"][..]),
        ("grace", &["tick", "--now", "2026-11-25T21:00:00Z"][..]),
    ] {
        site.edit_config("marmaduke", |t| t.replace(&format!("{key} = \"30m\""), &format!("{key} = \"100000000d\"")));
        let out = run(site.ftl("marmaduke", "ftl-window").args(args));
        assert!(documented(&out), "schedule.{key}, {args:?}: {}", stderr(&out));
        assert_eq!(code(&out), 2, "schedule.{key}, {args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(&format!("schedule.{key}")), "{}", stderr(&out));
        site.edit_config("marmaduke", |t| t.replace("100000000d", "30m"));
    }
}

#[test]
fn a_missing_ledger_directory_names_the_key_and_the_file() {
    let site = MiniSite::new();
    std::fs::remove_dir(site.ledger()).unwrap();
    for binary in ["ftl-status", "ftl-acquire", "ftl-release"] {
        let out = run(site.cmd(binary));
        assert_eq!(code(&out), 6, "{binary}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("ledger.dir") && err.contains(&site.config().display().to_string()), "{binary}: {err}");
    }
    let out = run(site.cmd("ftl-notify").args(["bpstart_notify", "client1", "pol", "sched", "FULL"]));
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(stderr(&out).contains("ledger.dir"), "{}", stderr(&out));
}

#[test]
fn a_library_name_mismatch_names_the_key_the_file_and_the_record() {
    let site = MiniSite::new();
    succeeds(site.cmd("ftl-status").args(["--init-ledger", "--owner", "marmaduke"]));
    site.write_config(&minimal_config(&site.ledger()).replace("name = \"L3500\"", "name = \"L700\""));
    for binary in ["ftl-status", "ftl-acquire", "ftl-release"] {
        let out = run(site.cmd(binary));
        assert_eq!(code(&out), 2, "{binary}: {}", stderr(&out));
        let err = stderr(&out);
        for word in ["library.name", "state.json", &site.config().display().to_string()] {
            assert!(err.contains(word), "{binary}: {word} is not named: {err}");
        }
    }
}

#[test]
fn the_status_reads_from_a_host_that_is_no_declared_domain() {
    let site = MiniSite::new();
    succeeds(site.cmd("ftl-status").args(["--init-ledger", "--owner", "marmaduke"]));
    // No `domain` key, and this host is in no domain's host mapping.
    site.write_config(&minimal_config(&site.ledger()).replace("domain = \"marmaduke\"\n", ""));
    let out = succeeds(&mut site.cmd("ftl-status"));
    assert!(out.contains("marmaduke"), "{out}");
    succeeds(site.cmd("ftl-status").arg("--json"));
    succeeds(site.cmd("ftl-status").args(["--format", "prometheus"]));
    // What needs a local domain still says so.
    let out = run(site.cmd("ftl-status").arg("--check"));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = run(site.cmd("ftl-acquire"));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn verbosity_shows_each_command_with_its_status_and_duration() {
    let site = SimSite::new();
    let out = run(site.ftl("marmaduke", "ftl-status").args(["-v", "--check"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    let line =
        err.lines().find(|l| l.contains("bpdbjobs") && l.contains("-report")).unwrap_or_else(|| panic!("-v: {err}"));
    assert!(line.contains("exit status 0") && line.contains("ms"), "{line}");
    let out = run(site.ftl("marmaduke", "ftl-status").args(["-vv", "--check"]));
    assert!(
        stderr(&out).contains("configuration read") && stderr(&out).contains("ledger record read"),
        "{}",
        stderr(&out)
    );
    // Without -v, no command lines; with -q nothing but errors, even during a hand-over.
    let out = run(site.ftl("marmaduke", "ftl-status").arg("--check"));
    assert!(!stderr(&out).contains("bpdbjobs"), "{}", stderr(&out));
    let out = run(site.ftl("marmaduke", "ftl-release").arg("-q"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "-q printed more than errors");
    let out = run(site.ftl("flinstones", "ftl-acquire").arg("-v"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).lines().any(|l| l.contains("addboard") && l.contains("exit status 0")), "{}", stderr(&out));
    // The hooks and the window tick say what they read too.
    let out =
        run(site.ftl("flinstones", "ftl-notify").args(["-vv", "bpstart_notify", "client1", "pol", "sched", "FULL"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("configuration read") && stderr(&out).contains("ledger record read"),
        "{}",
        stderr(&out)
    );
    let out = run(site.ftl("flinstones", "ftl-window").args(["-vv", "tick", "--dry-run"]));
    assert!(stderr(&out).contains("ledger record read"), "{}", stderr(&out));
    let out = run(site
        .ftl("flinstones", "ftl-notify")
        .arg("-q")
        .arg("bpstart_notify")
        .arg(std::ffi::OsStr::from_bytes(b"cl\xe9"))
        .args(["pol", "sched", "FULL"]));
    assert_eq!((code(&out), stderr(&out)), (0, String::new()), "-q printed more than errors");
}

#[test]
fn configurations_that_cannot_be_right_are_refused_naming_file_and_key() {
    let site = MiniSite::new();
    let good = minimal_config(&site.ledger());
    for (what, text, key) in [
        ("two drives on one device", good.replace("\"/dev/rmt/1\"", "\"/dev/rmt/0\""), "drives[1].device"),
        ("a board without processors", good.replace("id = 7\n", "id = 7\ncpus = []\n"), "board.cpus"),
    ] {
        site.write_config(&text);
        let out = run(site.cmd("ftl-status"));
        assert_eq!(code(&out), 2, "{what}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(key) && err.contains(&site.config().display().to_string()), "{what}: {err}");
    }
}

#[test]
fn a_missing_key_does_not_hide_the_unknown_keys_of_its_table() {
    let site = MiniSite::new();
    let text = minimal_config(&site.ledger())
        .replace("name = \"L3500\"", "nmae = \"L3500\"")
        .replace("id = 7\n", "colour = \"red\"\n");
    site.write_config(&text);
    let out = run(site.cmd("ftl-status"));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    for key in ["library.name", "library.nmae", "board.id", "board.colour"] {
        assert!(err.contains(key), "{key} is not reported: {err}");
    }
}

#[test]
fn schedule_warnings_are_reported_by_check_and_show_but_refuse_nothing() {
    let site = SimSite::new();
    site.set_windows("marmaduke", "[\"Mon-Sun 00:00-24:00\"]");
    let out = run(site.ftl("marmaduke", "ftl-status").arg("--check"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("[warn]") && text.contains("never end") && text.contains("overlap"), "{text}");
    let out = run(site.ftl("marmaduke", "ftl-window").env("TZ", "UTC").args(["show", "--now", "2026-11-25T12:00:00Z"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("warning: domain marmaduke's windows never end"), "{}", stdout(&out));
    // flinstones' window starts 15 minutes after marmaduke's ends: less than the 30-minute lead.
    site.set_windows("marmaduke", "[\"Mon-Sun 20:00-01:00\"]");
    site.set_windows("flinstones", "[\"Mon-Sun 01:15-07:00\"]");
    let out = run(site.ftl("marmaduke", "ftl-status").args(["--check", "--json"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = value["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let lead = warnings[0].as_str().unwrap();
    assert!(lead.contains("lead (schedule.lead = 30m) is longer than the 15m"), "{warnings:?}");
    assert!(lead.ends_with(&format!("[{}]", site.config("marmaduke").display())), "the file is named: {lead}");
    // A domain without a window.
    site.set_windows("flinstones", "[]");
    let out = run(site.ftl("marmaduke", "ftl-status").arg("--check"));
    assert!(stdout(&out).contains("domain flinstones has no window"), "{}", stdout(&out));
}

#[test]
fn prometheus_labels_are_escaped() {
    let site = MiniSite::new();
    site.write_config(&minimal_config(&site.ledger()).replace("name = \"L3500\"", r#"name = "L\"35\\00""#));
    succeeds(site.cmd("ftl-status").args(["--init-ledger", "--owner", "marmaduke"]));
    let text = succeeds(site.cmd("ftl-status").args(["--format", "prometheus"]));
    assert!(text.contains(r#"ftl_ledger_epoch{library="L\"35\\00"} 1"#), "{text}");
}
