//! `ftl-status` on the etcd ledger against a real etcd (started by the test on loopback ports,
//! stopped by pid): a killed holder shown LOST once its lease has expired, the libraries under a
//! parent prefix, and the migration of a directory ledger with its whole journal. A missing
//! `etcd` fails these tests (install Debian's etcd-server), it never skips them.

use crate::support::*;
use ftl::ledger::etcd_cluster::Etcd;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `text` (a domain's ftl.toml) with its `[ledger]` on etcd at `endpoints`, under `prefix`.
fn on_etcd(text: &str, endpoints: &[String], prefix: &str) -> String {
    let list = endpoints.iter().map(|e| format!("\"{e}\"")).collect::<Vec<_>>().join(", ");
    let mut out = String::new();
    let mut in_ledger = false;
    for line in text.lines() {
        if line.starts_with('[') {
            in_ledger = line == "[ledger]";
            out += line;
            out += "\n";
            if in_ledger {
                out += &format!(
                    "store = \"etcd\"\nendpoints = [{list}]\nprefix = \"{prefix}\"\nlease_ttl = \"2s\"\n\
                     dial_timeout = \"500ms\"\nrequest_timeout = \"3s\"\n"
                );
            }
            continue;
        }
        if !in_ledger {
            out += line;
            out += "\n";
        }
    }
    out
}

/// Points both domains of `site` at etcd (the record is made by `--init-ledger`, owned by
/// marmaduke, as the site's directory ledger was).
fn site_on_etcd(site: &SimSite, etcd: &Etcd, prefix: &str) {
    for domain in ["marmaduke", "flinstones"] {
        site.edit_config(domain, |text| on_etcd(&text, &etcd.endpoints(), prefix));
    }
    expect(ftl("ftl-status", &site.config("marmaduke"), &["--init-ledger", "--owner", "marmaduke"]), 0);
}

/// A copy of `domain`'s configuration in `dir`, edited by `edit`.
fn config_copy(site: &SimSite, domain: &str, dir: &Path, name: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, edit(std::fs::read_to_string(site.config(domain)).unwrap())).unwrap();
    path
}

/// `bin --config CONFIG ARGS...`.
fn ftl(bin: &str, config: &Path, args: &[&str]) -> std::process::Command {
    let mut c = cmd(bin);
    c.arg("--config").arg(config).args(args);
    c
}

fn status(config: &Path, args: &[&str]) -> std::process::Output {
    run(cmd("ftl-status").arg("--config").arg(config).args(args))
}

fn json(out: &std::process::Output) -> Value {
    assert_eq!(code(out), 0, "stdout: {}\nstderr: {}", stdout(out), stderr(out));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn a_holder_killed_with_sigkill_is_shown_lost_once_its_lease_expires() {
    let etcd = Etcd::single();
    let site = SimSite::new();
    site_on_etcd(&site, &etcd, "/ftl/L3500");
    assert_eq!(code(&site.sim(&["fault", "hang:mt"])), 0);
    let mut child = site.ftl("marmaduke", "ftl-release").stderr(std::process::Stdio::null()).spawn().unwrap();
    site.wait_for(20, "ftl-release to hang in R3", |s| s.ledger("marmaduke")["step"]["id"] == "R3");

    // While it runs, its lease is kept alive: the holder runs, named by its pid.
    let live = site.ledger("flinstones");
    assert_eq!(live["liveness"]["state"], "running", "{live}");
    assert!(live["liveness"]["note"].as_str().unwrap().contains(&format!("pid {}", child.id())), "{live}");
    let text = expect(site.ftl("flinstones", "ftl-status"), 0);
    assert!(text.contains("holder running:"), "{text}");

    child.kill().unwrap(); // SIGKILL: the lease is not revoked, it must expire
    let killed = Instant::now();
    child.wait().unwrap();
    site.kill_strays();
    assert_eq!(code(&site.sim(&["fault", "clear"])), 0);

    let lost = loop {
        let l = site.ledger("flinstones");
        if l["liveness"]["state"] == "lost" {
            break l;
        }
        assert_eq!(l["liveness"]["state"], "running", "{l}");
        assert!(killed.elapsed() < Duration::from_secs(20), "the lease never expired: {l}");
        std::thread::sleep(Duration::from_millis(100));
    };
    // The lease (2s, kept alive every third of it) outlives its holder by at least 2s - 2/3s.
    assert!(
        killed.elapsed() > Duration::from_secs(1),
        "lost after {:?}, before the lease could expire",
        killed.elapsed()
    );
    assert_eq!(lost["state"], "releasing", "the record stands where the holder left it: {lost}");
    assert_eq!(lost["liveness"]["domain"], "marmaduke");
    assert_eq!(lost["liveness"]["changed"], lost["step"]["started"], "{lost}");
    assert!(lost["liveness"]["changed_secs_ago"].as_i64().unwrap() >= 1, "{lost}");

    let text = expect(site.ftl("flinstones", "ftl-status"), 0);
    assert!(text.contains("holder LOST: no process holds marmaduke's run lock"), "{text}");
    assert!(text.contains("the record last changed") && text.contains(" ago ("), "{text}");
    let out = run(site.ftl("marmaduke", "ftl-status").arg("--check"));
    assert_eq!(code(&out), 4, "--check fails on a lost holder: {}", stdout(&out));
    assert!(stdout(&out).contains("[FAIL] no interrupted hand-over"), "{}", stdout(&out));
    assert!(stdout(&out).contains("the holder is LOST") && stdout(&out).contains("ago ("), "{}", stdout(&out));

    // The documented recovery: the rerun takes the free run lock and finishes the release.
    expect(site.ftl("marmaduke", "ftl-release"), 0);
    let done = site.ledger("marmaduke");
    assert_eq!(done["state"], "free", "{done}");
    assert!(done.get("liveness").is_none(), "a free record has no holder: {done}");
    assert_eq!(site.board_domain(), None);
}

#[test]
fn a_killed_holder_is_lost_on_the_directory_ledger_too() {
    let site = SimSite::new();
    site.kill_in_step("marmaduke", "ftl-release", "R3", "mt");
    let l = site.ledger("flinstones");
    assert_eq!(l["liveness"]["state"], "lost", "the kernel dropped the file lock at death: {l}");
    let text = expect(site.ftl("flinstones", "ftl-status"), 0);
    assert!(text.contains("holder LOST: no process holds marmaduke's run lock"), "{text}");
}

#[test]
fn libraries_lists_every_library_under_the_parent_prefix() {
    let etcd = Etcd::single();
    let site = SimSite::new();
    let dir = assert_fs::TempDir::new().unwrap();
    // The free libraries are another simulated site's, whose board is in no domain: an init
    // records only what its controller confirms.
    let spare = SimSite::new();
    assert_eq!(code(&run(spare.ftl("marmaduke", "ftl-release"))), 0);
    let at = |on: &SimSite, prefix: &str, library: &str| {
        let endpoints = etcd.endpoints();
        config_copy(on, "marmaduke", dir.path(), &format!("{library}.toml"), |t| {
            on_etcd(&t, &endpoints, prefix).replace("name = \"L3500\"", &format!("name = \"{library}\""))
        })
    };
    let (l3500, l9000, elsewhere) =
        (at(&site, "/ftl/L3500", "L3500"), at(&spare, "/ftl/site2/L9000", "L9000"), at(&spare, "/other/L1", "L1"));
    expect(ftl("ftl-status", &l3500, &["--init-ledger", "--owner", "marmaduke"]), 0);
    expect(ftl("ftl-status", &l9000, &["--init-ledger"]), 0);
    expect(ftl("ftl-status", &elsewhere, &["--init-ledger"]), 0);
    // flinstones asks for L3500 (exit 3: marmaduke owns it, the request is recorded).
    let wants = config_copy(&site, "flinstones", dir.path(), "flinstones.toml", |t| {
        on_etcd(&t, &etcd.endpoints(), "/ftl/L3500")
    });
    assert_eq!(code(&run(cmd("ftl-acquire").arg("--config").arg(&wants))), 3);

    let list = json(&status(&l9000, &["--libraries", "--json"]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "only the libraries under /ftl: {list:?}");
    assert_eq!(list[0]["prefix"], "/ftl/L3500");
    assert_eq!(list[0]["library"], "L3500");
    assert_eq!(list[0]["state"], "owned");
    assert_eq!(list[0]["owner"], "marmaduke");
    assert_eq!(list[0]["epoch"], 2, "init, then the request");
    assert_eq!(list[0]["requests"], serde_json::json!(["flinstones"]));
    assert_eq!(list[1]["prefix"], "/ftl/site2/L9000");
    assert_eq!(list[1]["state"], "free");
    assert_eq!(list[1]["owner"], Value::Null);
    assert_eq!(list[1]["requests"], serde_json::json!([]));

    let text = stdout(&status(&l3500, &["--libraries"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two libraries:\n{text}");
    assert!(lines[0].starts_with("PREFIX") && lines[0].contains("REQUESTS"), "{text}");
    let words: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(words, ["/ftl/L3500", "L3500", "owned", "marmaduke", "2", "flinstones"], "{text}");
    let only = json(&status(&l3500, &["--libraries", "/other", "--json"]));
    assert_eq!(only.as_array().unwrap().len(), 1, "{only}");
    assert_eq!(only[0]["library"], "L1");
    let none = status(&l3500, &["--libraries", "/nothing"]);
    assert_eq!(code(&none), 0);
    assert!(stdout(&none).contains("no library under /nothing/"), "{}", stdout(&none));

    // The directory ledger holds one library: listing is a usage error naming the store.
    let out = run(site.ftl("marmaduke", "ftl-status").arg("--libraries"));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--libraries needs the etcd store"), "{}", stderr(&out));
    let out = status(&l3500, &["--libraries", "relative"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn migration_copies_the_record_and_every_journal_file_into_an_empty_prefix() {
    let etcd = Etcd::single();
    let site = SimSite::new();
    // A small journal that rotates during the hand-over, and keeps every file.
    for domain in ["marmaduke", "flinstones"] {
        site.edit_config(domain, |t| {
            t.replace(
                "lock_timeout = \"10s\"\n",
                "lock_timeout = \"10s\"\njournal_max_bytes = 4096\njournal_keep = 100\n",
            )
        });
    }
    expect(site.ftl("marmaduke", "ftl-release"), 0);
    expect(site.ftl("flinstones", "ftl-acquire"), 0);
    let ledger = site.path().join("ledger");
    assert!(ledger.join("journal.jsonl.2").exists(), "the journal rotated more than once");
    let before = json(&run(site.ftl("marmaduke", "ftl-status").args(["--json", "--history", "1000"])));
    let entries = before["history"].as_array().unwrap().len();
    assert!(entries >= 13, "init and the hand-over's transitions: {before}");

    let dir = assert_fs::TempDir::new().unwrap();
    let target =
        config_copy(&site, "marmaduke", dir.path(), "etcd.toml", |t| on_etcd(&t, &etcd.endpoints(), "/ftl/L3500"));
    let from = ["--migrate-ledger", "--from-dir", ledger.to_str().unwrap()];

    let plan = expect(ftl("ftl-status", &target, &[&from[..], &["--dry-run"]].concat()), 0);
    assert!(plan.contains("would copy") && plan.contains(&format!("{entries} journal entries")), "{plan}");
    assert!(plan.contains("journal.jsonl.2"), "it names the rotated files: {plan}");
    assert_eq!(code(&status(&target, &[])), 6, "the dry run wrote no record");

    let done = json(&status(&target, &[&from[..], &["--json"]].concat()));
    assert_eq!(done["migrated"]["transitions"], entries, "{done}");
    assert!(done["migrated"]["files"].as_array().unwrap().len() > 2, "{done}");
    assert!(done["migrated"]["transactions"].as_u64().unwrap() >= 1, "{done}");

    let after = json(&status(&target, &["--json", "--history", "1000"]));
    assert_eq!(after, before, "the same record and the same journal entries, in order, on etcd");
    assert_eq!(after["state"], "owned");
    assert_eq!(after["owner"], "flinstones");
    let text = expect(ftl("ftl-status", &target, &["--history", "3"]), 0);
    assert!(text.contains("owned by flinstones"), "{text}");

    // A second migration finds the prefix full: refused, and nothing is written.
    let again = status(&target, &from);
    assert_eq!(code(&again), 4, "{}", stderr(&again));
    assert!(
        stderr(&again).contains("is not empty") && stderr(&again).contains("Nothing was written"),
        "{}",
        stderr(&again)
    );
    assert_eq!(json(&status(&target, &["--json", "--history", "1000"])), before);
    // The commands work on the migrated ledger: the next hand-over continues its epochs.
    let flinstones = config_copy(&site, "flinstones", dir.path(), "flinstones.toml", |t| {
        on_etcd(&t, &etcd.endpoints(), "/ftl/L3500")
    });
    expect(ftl("ftl-release", &flinstones, &[]), 0);
    let released = json(&status(&target, &["--json"]));
    assert_eq!(released["epoch"].as_u64().unwrap(), before["epoch"].as_u64().unwrap() + 6, "{released}");

    // The target must be etcd.
    let out = run(site.ftl("marmaduke", "ftl-status").args(from));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--migrate-ledger needs the etcd store"), "{}", stderr(&out));
}
