//! A real systemd-journald (started here when none runs) receives ftl's structured fields, read
//! back with `journalctl -o json`; and a journal that goes away never fails a hand-over.

use crate::support::*;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const SOCKET: &str = "/run/systemd/journal/socket";

fn journal_answers() -> bool {
    UnixDatagram::unbound().and_then(|s| s.connect(SOCKET)).is_ok()
}

/// Starts systemd-journald when no journal runs; returns the child to stop afterwards.
fn ensure_journald() -> Option<std::process::Child> {
    if journal_answers() {
        return None;
    }
    let child = Command::new("/lib/systemd/systemd-journald")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("/lib/systemd/systemd-journald starts");
    let start = Instant::now();
    while !journal_answers() {
        assert!(start.elapsed() < Duration::from_secs(10), "journald did not open {SOCKET}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(child)
}

fn entries(pid: u32) -> Vec<serde_json::Value> {
    let out = Command::new("journalctl").args(["-o", "json", "--no-pager", &format!("_PID={pid}")]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[test]
fn structured_fields_reach_the_journal_and_a_dead_journal_fails_nothing() {
    let started = ensure_journald();
    let site = SimSite::new();
    let child = site.ftl("marmaduke", "ftl-release").arg("-q").spawn().unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let start = Instant::now();
    let found = loop {
        let found = entries(pid);
        if found.iter().any(|e| e["MESSAGE"].as_str().is_some_and(|m| m.starts_with("release R5")))
            || start.elapsed() > Duration::from_secs(10)
        {
            break found;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let r3 = found
        .iter()
        .find(|e| e["FTL_STEP"] == "R3" && e["MESSAGE"].as_str().is_some_and(|m| !m.ends_with("started")))
        .unwrap_or_else(|| panic!("no R3 entry among {} entries", found.len()));
    assert_eq!(r3["FTL_DOMAIN"], "marmaduke");
    assert_eq!(r3["FTL_LIBRARY"], "L3500");
    assert_eq!(r3["FTL_OPERATION"], "release");
    assert!(r3["FTL_EPOCH"].as_str().unwrap().parse::<u64>().unwrap() > 1, "{r3}");
    assert_eq!(r3["SYSLOG_IDENTIFIER"], "ftl-release");
    if let Some(mut journald) = started {
        // The journal dies and leaves its socket behind: the next hand-over still succeeds.
        journald.kill().unwrap();
        journald.wait().unwrap();
        assert!(Path::new(SOCKET).exists());
        let out = run(site.ftl("flinstones", "ftl-acquire").arg("-q"));
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(site.ledger("flinstones")["owner"], "flinstones");
    }
}
