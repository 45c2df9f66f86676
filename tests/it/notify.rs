//! The NetBackup notify hooks: every name with valid and malformed arguments, the fast path,
//! the slow path (request, one background acquire for many hooks), end hooks, and the site's
//! own hooks kept working.

use crate::support::*;
use std::path::Path;
use std::time::Duration;

const VALID: &[(&str, &[&str])] = &[
    ("session_start_notify", &[]),
    ("session_notify", &[]),
    ("bpstart_notify", &["db1", "daily", "incr", "INCR"]),
    ("bpstart_notify.daily", &["db1", "daily", "incr", "INCR"]),
    ("bpstart_notify.daily.incr", &["db1", "daily", "incr", "INCR"]),
    ("bpend_notify", &["db1", "daily", "incr", "INCR", "0"]),
    ("bpend_notify.daily.incr", &["db1", "daily", "incr", "INCR", "0"]),
    ("backup_exit_notify", &["db1", "daily", "incr", "INCR", "0"]),
    ("backup_exit_notify", &["db1", "daily", "incr", "INCR", "0", "-1", "1"]),
    ("parent_start_notify", &["db1", "daily", "incr", "INCR", "0", "-1"]),
    ("parent_end_notify", &["db1", "daily", "incr", "INCR", "0", "-1"]),
];

const MALFORMED: &[(&str, &[&str])] = &[
    ("session_start_notify", &["extra"]),
    ("session_notify", &["x", "y"]),
    ("bpstart_notify", &["db1", "daily", "incr"]),
    ("bpstart_notify", &["db1", "daily", "incr", "MONTHLY"]),
    ("bpend_notify", &["db1", "daily", "incr", "INCR"]),
    ("bpend_notify", &["db1", "daily", "incr", "INCR", "failed"]),
    ("backup_exit_notify", &["db1", "daily", "incr", "INCR", "0", "-1"]),
    ("backup_exit_notify", &["db1", "daily", "incr", "INCR", "0", "-1", "yes"]),
    ("parent_start_notify", &["db1", "daily", "incr", "INCR", "0"]),
    ("parent_end_notify", &["db1", "daily", "incr", "INCR", "0", "s"]),
];

fn always_open(site: &SimSite) {
    site.set_windows("marmaduke", "[\"Mon-Sun 00:00-24:00\"]");
}

#[test]
fn every_hook_name_with_valid_arguments_succeeds_silently_when_the_library_is_here() {
    let site = SimSite::new();
    always_open(&site);
    let hooks = HookDir::new();
    for (name, args) in VALID {
        let out = run({
            let mut c = hooks.hook(name, &site.config("marmaduke"));
            c.args(*args);
            c
        });
        assert_eq!(code(&out), 0, "{name} {args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{name}: a hook printed on stdout");
    }
    // The end hooks' background releases keep the library: the window is open, nobody asked.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(site.ledger("marmaduke")["owner"], "marmaduke");
    // And through ftl-notify itself, the hook named as the first argument.
    let out = run({
        let mut c = site.ftl("marmaduke", "ftl-notify");
        c.args(["bpstart_notify", "db1", "p", "s", "FULL"]);
        c
    });
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn every_hook_name_with_malformed_arguments_exits_2() {
    let site = SimSite::new();
    let hooks = HookDir::new();
    for (name, args) in MALFORMED {
        let out = run({
            let mut c = hooks.hook(name, &site.config("marmaduke"));
            c.args(*args);
            c
        });
        assert_eq!(code(&out), 2, "{name} {args:?}");
        assert!(stderr(&out).contains(name), "{name}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
    let out =
        run(hooks.hook("bpstart_notify.weird", Path::new("/nonexistent/ftl.toml")).args(["db1", "p", "s", "FULL"]));
    assert_eq!(code(&out), 2, "a missing configuration is a configuration error: {}", stderr(&out));
}

/// The fast path asks neither the controller nor the journal: the journal is replaced by a FIFO
/// (opening it would block) and the controller by a command that hangs.
#[test]
fn the_fast_path_makes_no_controller_call_and_does_not_open_the_journal() {
    let site = SimSite::new();
    let journal = site.path().join("ledger").join("journal.jsonl");
    std::fs::remove_file(&journal).unwrap();
    let c_path = std::ffi::CString::new(journal.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
    assert_eq!(code(&site.sim(&["fault", "hang:showusage", "hang:bpdbjobs"])), 0);
    let hooks = HookDir::new();
    let mut child =
        hooks.hook("bpstart_notify", &site.config("marmaduke")).args(["db1", "p", "s", "FULL"]).spawn().unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the fast path blocked");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success());
    assert_eq!(site.calls().len(), 0, "no command at all was run: {:?}", site.calls());
}

#[test]
fn start_hooks_elsewhere_request_and_start_exactly_one_acquire() {
    let site = SimSite::new();
    always_open(&site);
    let hooks = HookDir::new();
    let children: Vec<_> = (0..64)
        .map(|i| {
            hooks
                .hook("bpstart_notify", &site.config("flinstones"))
                .args([&format!("client{i}"), "p", "s", "FULL"])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.is_empty());
    }
    let l = site.ledger("flinstones");
    assert_eq!(l["requests"].as_array().unwrap().iter().filter(|r| r["domain"] == "flinstones").count(), 1, "{l}");
    // marmaduke's window closes: it releases; flinstones' background acquire takes the library.
    site.set_windows("marmaduke", "[]");
    assert_eq!(code(&run(site.ftl("marmaduke", "ftl-release").arg("--if-idle"))), 0);
    site.wait_for(60, "flinstones to own the library", |s| s.ledger("flinstones")["owner"] == "flinstones");
    assert_eq!(site.count_calls("addboard"), 1, "exactly one acquire ran");
    let begun =
        site.journal().iter().filter(|e| e["event"].as_str().unwrap_or_default().starts_with("acquire A1")).count();
    assert_eq!(begun, 1, "exactly one acquire sequence began");
}

#[test]
fn start_hooks_can_be_told_not_to_fail_the_job() {
    let site = SimSite::new();
    site.edit_config("flinstones", |t| t + "\n[hooks]\nfail_job_when_elsewhere = false\nacquire_wait = \"1s\"\n");
    let hooks = HookDir::new();
    let out = run(hooks.hook("session_start_notify", &site.config("flinstones")));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn an_end_hook_outside_the_window_releases_once_idle() {
    let site = SimSite::new();
    site.set_windows("marmaduke", "[]");
    // The holder lets go only for another claim: flinstones asks.
    assert_eq!(code(&run(site.ftl("flinstones", "ftl-acquire"))), 3);
    assert_eq!(code(&site.sim(&["job", "marmaduke", "start"])), 0);
    let hooks = HookDir::new();
    let out = run(hooks.hook("bpend_notify", &site.config("marmaduke")).args(["db1", "p", "s", "FULL", "0"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(site.ledger("marmaduke")["owner"], "marmaduke", "a job is still active: nothing happens yet");
    assert_eq!(code(&site.sim(&["job", "marmaduke", "end"])), 0);
    site.wait_for(60, "the background release", |s| s.ledger("marmaduke")["state"] == "free");
}

#[test]
fn the_sites_own_hook_runs_first_and_its_failure_is_returned() {
    let site = SimSite::new();
    let hooks = HookDir::new();
    let marker = hooks.dir.path().join("ran");
    let script = hooks.dir.path().join("bpstart_notify.ftl-site");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" > {}\necho site-out\necho site-err >&2\nexit ${{SITE_EXIT:-0}}\n",
            marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = run(hooks.hook("bpstart_notify", &site.config("marmaduke")).args(["db1", "p", "s", "FULL"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "db1 p s FULL\n");
    // What the site's hook prints goes where it always went.
    assert_eq!(stdout(&out), "site-out\n");
    assert!(stderr(&out).contains("site-err"), "{}", stderr(&out));
    let out = run(hooks
        .hook("bpstart_notify", &site.config("marmaduke"))
        .args(["db1", "p", "s", "FULL"])
        .env("SITE_EXIT", "7"));
    assert_eq!(code(&out), 7, "{}", stderr(&out));
}

/// A signal to the hook stops the site's own hook with it: no orphan keeps running.
#[test]
fn a_signal_to_the_hook_stops_the_sites_own_hook_too() {
    let site = SimSite::new();
    let hooks = HookDir::new();
    let pidfile = hooks.dir.path().join("pid");
    let script = hooks.dir.path().join("bpstart_notify.ftl-site");
    std::fs::write(&script, format!("#!/bin/sh\necho $$ > {}\nexec sleep 1000\n", pidfile.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut child =
        hooks.hook("bpstart_notify", &site.config("marmaduke")).args(["db1", "p", "s", "FULL"]).spawn().unwrap();
    site.wait_for(10, "the site's hook to start", |_| {
        std::fs::read_to_string(&pidfile).is_ok_and(|p| !p.trim().is_empty())
    });
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    signal(child.id(), libc::SIGTERM);
    let status = wait_timeout(&mut child, 10.0).expect("the hook ends after the signal");
    assert_eq!(status.code(), Some(1), "{status:?}");
    let gone = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY: probing a pid with signal 0.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        !alive
    });
    assert!(gone, "the site's hook {pid} outlived the signal");
}
