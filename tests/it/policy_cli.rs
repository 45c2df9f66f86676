//! The hand-over policy through the binaries, as a new user meets it on a three-domain site:
//! requests that expire, `--cancel`, no release inside the holder's window, a rollback that
//! restores what it found, journal times that never go backwards under `--now`, audited forces
//! and a release forced by the grace.

use crate::support::*;
use std::process::Stdio;

/// A window of `minutes` minutes that ends at `end` (UTC), as configuration text.
fn window_ending(end: chrono::DateTime<chrono::Utc>, minutes: i64) -> String {
    let start = end - chrono::Duration::minutes(minutes);
    format!("[\"Mon-Sun {}-{}\"]", start.format("%H:%M"), end.format("%H:%M"))
}

/// Three domains whose windows are far from the real time (hooks and background workers act at
/// the real time, so the windows are set around it): a owns.
fn three(ttl: &str) -> SimSite {
    let site = SimSite::with_args(&["--domains", "a,b,c", "--owner", "a", "--speed", "1000"]);
    site.windows_far_from_now(&["a", "b", "c"]);
    for d in ["a", "b", "c"] {
        site.edit_config(d, |t| format!("{t}\n[requests]\nttl = \"{ttl}\"\n"));
    }
    site
}

fn tick(site: &SimSite, domain: &str, now: Option<&str>) -> String {
    let mut c = site.ftl(domain, "ftl-window");
    c.env("TZ", "UTC").arg("tick");
    if let Some(now) = now {
        c.args(["--now", now]);
    }
    let out = run(c);
    assert_eq!(code(&out), 0, "tick on {domain} at {now:?}: {}", stderr(&out));
    stdout(&out)
}

fn hook(site: &SimSite, hooks: &HookDir, domain: &str, name: &str, args: &[&str]) -> i32 {
    let out = run(hooks.hook(name, &site.config(domain)).env("TZ", "UTC").args(args));
    code(&out)
}

/// Issue 11's acceptance, at the real time: a owns inside its window; c runs `ftl-acquire` (no
/// --wait) and a start hook of c fires outside c's window; end hooks, session hooks and ticks on
/// all three through the rest of a's window never make a release it; after it ends and a is idle,
/// c acquires while its request is valid, and nobody moves when it is not.
fn c_asks_during_as_window(valid: bool) {
    let site = three(if valid { "1h" } else { "20s" });
    let hooks = HookDir::new();
    // a's window ends at a minute boundary 30 to 90 s from now (after a 20 s request expires).
    let later = chrono::Utc::now() + chrono::Duration::seconds(90);
    let end = later
        - chrono::Duration::nanoseconds(i64::from(chrono::Timelike::nanosecond(&later)))
        - chrono::Duration::seconds(i64::from(chrono::Timelike::second(&later)));
    site.set_windows_of(&["a", "b", "c"], "a", &window_ending(end, 60));
    let out = run(site.ftl("c", "ftl-acquire").env("TZ", "UTC"));
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert_eq!(hook(&site, &hooks, "c", "bpstart_notify", &["db1", "p", "s", "FULL"]), 3);
    let requests = site.ledger("a")["requests"].clone();
    assert_eq!(requests.as_array().unwrap().len(), 1, "{requests}");
    // Through the rest of a's window: nothing moves, whatever asks.
    while chrono::Utc::now() < end - chrono::Duration::seconds(2) {
        for d in ["a", "b", "c"] {
            tick(&site, d, None);
        }
        assert_eq!(hook(&site, &hooks, "a", "bpend_notify", &["db1", "p", "s", "FULL", "0"]), 0);
        assert_eq!(hook(&site, &hooks, "a", "session_notify", &[]), 0);
        assert_eq!(hook(&site, &hooks, "c", "session_notify", &[]), 0);
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert_eq!(site.ledger("a")["owner"], "a", "a released inside its window");
        assert_eq!(site.board_domain().as_deref(), Some("a"));
    }
    while chrono::Utc::now() < end + chrono::Duration::seconds(1) {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // a's window has ended and a is idle: c's claim decides.
    for _ in 0..2 {
        for d in ["a", "c", "b"] {
            tick(&site, d, None);
        }
    }
    site.wait_for(20, "the hand-over to settle", |s| matches!(s.ledger("a")["state"].as_str(), Some("owned")));
    site.kill_strays();
    let l = site.ledger("a");
    if valid {
        assert_eq!(l["owner"], "c", "c's valid request is served: {l}");
        assert_eq!(site.board_domain().as_deref(), Some("c"));
    } else {
        assert_eq!(l["owner"], "a", "nobody moves for an expired request: {l}");
        assert_eq!(site.board_domain().as_deref(), Some("a"));
        let acquires = site.journal().iter().filter(|e| e["event"] == "finish").count();
        assert_eq!(acquires, 0, "no hand-over happened");
    }
}

#[test]
fn a_request_never_takes_the_library_from_the_holders_open_window_and_a_valid_one_is_served() {
    c_asks_during_as_window(true);
}

#[test]
fn a_request_never_takes_the_library_from_the_holders_open_window_and_an_expired_one_moves_nothing() {
    c_asks_during_as_window(false);
}

#[test]
fn cancel_withdraws_the_request_and_is_journaled() {
    let site = three("2h");
    let out = run(site.ftl("c", "ftl-acquire"));
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("until") && stderr(&out).contains("--cancel"), "{}", stderr(&out));
    let requests = site.ledger("a")["requests"].clone();
    assert_eq!(requests[0]["domain"], "c");
    assert!(requests[0]["until"].is_string(), "every request has an expiry: {requests}");
    let out = run(site.ftl("c", "ftl-acquire").arg("--cancel"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("request withdrawn"), "{}", stdout(&out));
    assert!(site.ledger("a")["requests"].as_array().unwrap().is_empty());
    let last = site.journal().pop().unwrap();
    assert_eq!(last["event"], "withdraw request");
    assert_eq!(last["detail"]["cancelled"]["domain"], "c");
    let out = run(site.ftl("c", "ftl-acquire").arg("--cancel"));
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("no request"), "{}", stdout(&out));
}

#[test]
fn an_expired_request_is_ignored_and_dropped_at_the_next_commit() {
    let site = three("2s");
    let out = run(site.ftl("c", "ftl-acquire"));
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert_eq!(site.ledger("a")["requests"].as_array().unwrap().len(), 1);
    // While it lasts, a (outside its window) lets the library go to c.
    std::thread::sleep(std::time::Duration::from_millis(2200));
    // Expired: a keeps the library.
    let out = tick(&site, "a", None);
    assert!(out.starts_with("keep:"), "{out}");
    // The next commit drops it (b's request), journaled with the record.
    let out = run(site.ftl("b", "ftl-acquire"));
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let requests = site.ledger("a")["requests"].clone();
    assert!(requests.as_array().unwrap().iter().all(|r| r["domain"] != "c"), "{requests}");
}

/// An acquire that fails and rolls back leaves the domain as it found it: NetBackup stopped
/// before stays stopped.
#[test]
fn a_rollback_restores_what_it_found() {
    let site = SimSite::new();
    assert_eq!(code(&run(site.ftl("marmaduke", "ftl-release"))), 0);
    // flinstones' NetBackup is down before the acquire (an operator stopped it).
    assert_eq!(code(&run(site.fake("flinstones", "netbackup-stop").arg("stop"))), 0);
    assert_eq!(site.platform()["domains"]["flinstones"]["netbackup"], "stopped");
    assert_eq!(code(&site.sim(&["fault", "fail:addboard"])), 0);
    let out = run(site.ftl("flinstones", "ftl-acquire"));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("rolled back"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("NetBackup running"), "it claims to have started NetBackup: {}", stderr(&out));
    let p = site.platform();
    assert_eq!(p["domains"]["flinstones"]["netbackup"], "stopped", "the rollback started a NetBackup that was stopped");
    assert_eq!(site.ledger("flinstones")["state"], "free");
    // And with NetBackup running before, the rollback brings it back (what it found).
    assert_eq!(code(&run(site.fake("flinstones", "netbackup-start").arg("start"))), 0);
    let out = run(site.ftl("flinstones", "ftl-acquire"));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("restored"), "{}", stderr(&out));
    assert_eq!(site.platform()["domains"]["flinstones"]["netbackup"], "running");
}

/// `--now` in the past and in the future decides only: the journal records real times, in order.
#[test]
fn journal_times_never_go_backwards_under_now() {
    let site = SimSite::new();
    // A future morning in flinstones' window, then a past one in marmaduke's.
    for (d, now) in [
        ("flinstones", "2030-01-02T01:45:00Z"),
        ("marmaduke", "2030-01-02T01:45:00Z"),
        ("flinstones", "2030-01-02T01:45:00Z"),
        ("marmaduke", "2020-01-01T19:45:00Z"),
        ("flinstones", "2020-01-01T19:45:00Z"),
        ("marmaduke", "2020-01-01T19:45:00Z"),
    ] {
        tick(&site, d, Some(now));
    }
    let journal = site.journal();
    assert!(journal.len() > 10, "hand-overs happened: {}", journal.len());
    let times: Vec<chrono::DateTime<chrono::Utc>> =
        journal.iter().map(|e| e["at"].as_str().unwrap().parse().unwrap()).collect();
    let now = chrono::Utc::now();
    for pair in times.windows(2) {
        assert!(pair[0] <= pair[1], "the journal goes back in time: {pair:?}");
    }
    assert!(
        times.iter().all(|t| (now - *t).num_minutes().abs() < 10),
        "a journal time is not the real time: {times:?}"
    );
    let assumed: Vec<&serde_json::Value> = journal.iter().filter(|e| !e["detail"]["decided_for"].is_null()).collect();
    assert!(!assumed.is_empty(), "a request made under --now records the assumed time too");
}

/// Every --force that does not go through is journaled with operator, host, reason and outcome.
#[test]
fn a_refused_force_is_journaled() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["fault", "controller-down"])), 0);
    let before = std::fs::read(site.state_json()).unwrap();
    let out = run(site.ftl("flinstones", "ftl-acquire").args(["--force", "--reason", "marmaduke is dead"]));
    assert_ne!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read(site.state_json()).unwrap(), before, "a refused force changes no record");
    let last = site.journal().pop().unwrap();
    assert_eq!(last["event"], "force not done", "{last}");
    let forced = &last["detail"]["forced"];
    assert_eq!(forced["reason"], "marmaduke is dead");
    assert!(forced["user"].is_string() && forced["host"].is_string(), "{forced}");
    assert!(forced["outcome"].as_str().unwrap().contains("controller"), "{forced}");
    let out = run(site.ftl("flinstones", "ftl-status").args(["--history", "3"]));
    assert!(stdout(&out).contains("force not done"), "{}", stdout(&out));
}

/// At window end + grace with jobs still running, the holder's release ends them, and the tick's
/// output, the journal and --history say so, naming the jobs.
#[test]
fn a_release_forced_by_the_grace_says_so_everywhere() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["job", "marmaduke", "start"])), 0);
    // flinstones' claim has begun (01:30), marmaduke's window ended at 01:00 and its grace too.
    tick(&site, "flinstones", Some("2026-11-26T01:30:00Z"));
    let out = tick(&site, "marmaduke", Some("2026-11-26T01:30:00Z"));
    assert!(out.contains("the running jobs were ended") && out.contains("job"), "{out}");
    let forced = site
        .journal()
        .into_iter()
        .find(|e| e["detail"]["forced"]["reason"].as_str().is_some_and(|r| r.contains("grace")))
        .expect("the forced release is journaled");
    assert!(forced["detail"]["forced"]["reason"].as_str().unwrap().contains("active"), "{forced}");
    let out = run(site.ftl("marmaduke", "ftl-status").args(["--history", "20"]));
    assert!(stdout(&out).contains("grace"), "{}", stdout(&out));
    assert_eq!(site.ledger("marmaduke")["state"], "free");
}

/// The same failure on every drive is printed once, with the drives listed.
#[test]
fn identical_drive_failures_print_once_with_the_drives_listed() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["fault", "fail:mt"])), 0);
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    let summary = err.lines().find(|l| l.contains("release failed at R3")).unwrap_or_else(|| panic!("{err}"));
    assert!(summary.contains("7 drives failed"), "{err}");
    assert!(err.contains("drives 0, 1, 2, 3, 4, 5, 6, the same way"), "{err}");
    assert_eq!(err.matches("the same way").count(), 1, "{err}");
}

/// `--cancel` stops a waiting acquire of the same domain; a waiter records its request once,
/// with the expiry it was asked for, and never renews it.
#[test]
fn cancel_stops_a_waiter_which_records_its_request_once() {
    let site = three("2h");
    let started = chrono::Utc::now();
    let mut waiter = site
        .ftl("c", "ftl-acquire")
        .args(["--wait", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    site.wait_for(20, "c's request", |s| s.ledger("a")["requests"].as_array().is_some_and(|r| r.len() == 1));
    std::thread::sleep(std::time::Duration::from_secs(3));
    let requests: Vec<_> = site.journal().into_iter().filter(|e| e["event"] == "request").collect();
    assert_eq!(requests.len(), 1, "the waiter renewed its request: {requests:?}");
    let until: chrono::DateTime<chrono::Utc> =
        site.ledger("a")["requests"][0]["until"].as_str().unwrap().parse().unwrap();
    assert!(
        (until - started - chrono::Duration::seconds(60)).num_seconds().abs() <= 3,
        "until {until}, started {started}"
    );
    let out = run(site.ftl("c", "ftl-acquire").arg("--cancel"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let status = wait_timeout(&mut waiter, 20.0).expect("the waiter stops once its request is withdrawn");
    assert_eq!(status.code(), Some(0));
    assert!(site.ledger("a")["requests"].as_array().unwrap().is_empty(), "the request came back");
    assert_eq!(site.ledger("a")["owner"], "a");
}

/// A free library goes to the earliest claim: a waiting operator queues behind an earlier
/// request, and a plain acquire behind an open window of another domain.
#[test]
fn operators_queue_behind_earlier_claims() {
    let site = three("2h");
    assert_eq!(code(&run(site.ftl("c", "ftl-acquire"))), 3, "c asks first");
    std::thread::sleep(std::time::Duration::from_millis(50));
    let mut b = site
        .ftl("b", "ftl-acquire")
        .args(["--wait", "60s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    site.wait_for(20, "b's request", |s| s.ledger("a")["requests"].as_array().is_some_and(|r| r.len() == 2));
    let out = run(site.ftl("a", "ftl-release"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(site.ledger("a")["state"], "free", "b's waiter jumped ahead of c's earlier request");
    tick(&site, "c", None);
    assert_eq!(site.ledger("a")["owner"], "c", "the earliest claim acquires");
    signal(b.id(), libc::SIGTERM);
    assert_eq!(wait_timeout(&mut b, 10.0).and_then(|s| s.code()), Some(3));
    assert_eq!(code(&run(site.ftl("b", "ftl-acquire").arg("--cancel"))), 0);
    // A plain acquire queues too: a asks, c lets go, b's acquire finds a's request earlier.
    assert_eq!(code(&run(site.ftl("a", "ftl-acquire"))), 3);
    assert_eq!(code(&run(site.ftl("c", "ftl-release"))), 0);
    let out = run(site.ftl("b", "ftl-acquire"));
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("earlier"), "{}", stderr(&out));
    assert_eq!(site.ledger("a")["state"], "free");
    // An open window of another domain does not hold an operator back (it overrides the
    // schedule, as a release does).
    assert_eq!(code(&run(site.ftl("a", "ftl-acquire").arg("--cancel"))), 0);
    let now = chrono::Utc::now();
    site.set_windows_of(&["a", "b", "c"], "a", &window_ending(now + chrono::Duration::hours(2), 180));
    let out = run(site.ftl("b", "ftl-acquire"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
