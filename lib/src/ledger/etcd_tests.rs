//! Tests of the etcd store against a real etcd (Debian's `etcd-server`), which these tests start
//! themselves on free loopback ports with data directories in a temporary directory, and stop by
//! pid. A missing `etcd` fails them, with what to install: they are never skipped.
//!
//! The contract tests (`contract.rs`) run on this store too; here are what only a real cluster
//! shows: racing writers, dead endpoints, TLS with client certificates, a lock whose holder is
//! killed, and a watch woken by another process.

use super::etcd_cluster::{free_port, make_certificates, Etcd};
use super::record::{Event, Holder, Request, State};
use super::{EtcdStore, LedgerError, Store};
use crate::config::tests::MINIMAL;
use crate::config::Config;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The minimal configuration with `[ledger]` on these endpoints, under `prefix`, plus `extra` keys.
pub(crate) fn etcd_config(endpoints: &[String], prefix: &str, extra: &str) -> Config {
    let list = endpoints.iter().map(|e| format!("\"{e}\"")).collect::<Vec<_>>().join(", ");
    let ledger = format!(
        "[ledger]\nstore = \"etcd\"\nendpoints = [{list}]\nprefix = \"{prefix}\"\nlease_ttl = \"2s\"\n\
         dial_timeout = \"500ms\"\nrequest_timeout = \"3s\"\n{extra}"
    );
    let text = MINIMAL.replace("[ledger]\ndir = \"/shared/ftl\"\n", &ledger);
    Config::parse(Path::new("t.toml"), &text).unwrap()
}

pub(crate) fn store(etcd: &Etcd, prefix: &str) -> EtcdStore {
    EtcdStore::open(&etcd_config(&etcd.endpoints(), prefix, "")).unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 22, 0, 3).unwrap()
}

fn holder(domain: &str) -> Holder {
    Holder { domain: domain.into(), host: format!("{domain}-host"), pid: 100, boot_id: "boot".into() }
}

fn request(domain: &str, i: i64) -> Event {
    Event::Request(Request { domain: domain.into(), at: t0(), until: Some(t0() + chrono::Duration::seconds(i + 1)) })
}

/// The child process of the tests below, started as this same test binary running only this
/// test, with its work in `FTL_ETCD_CHILD` (`ENDPOINT PREFIX hold|commit-after-MS`). Run
/// without it (as every test run does), it does nothing.
#[test]
fn child() {
    let Ok(work) = std::env::var("FTL_ETCD_CHILD") else { return };
    let [endpoint, prefix, action]: [&str; 3] = work.split(' ').collect::<Vec<_>>().try_into().unwrap();
    let store = EtcdStore::open(&etcd_config(&[endpoint.to_string()], prefix, "")).unwrap();
    if action == "hold" {
        let _guard =
            store.run_lock("marmaduke", &crate::os::current_holder("marmaduke"), Duration::ZERO).unwrap().unwrap();
        println!("FTL-CHILD held");
        std::thread::sleep(Duration::from_secs(60));
    } else if let Some(ms) = action.strip_prefix("commit-after-") {
        std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
        store.commit(&holder("flinstones"), &request("flinstones", 7), Value::Null, t0()).unwrap();
        let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros();
        println!("FTL-CHILD committed {at}");
    }
}

/// Starts [`child`] with `work`; its stdout is piped.
fn spawn_child(work: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "ledger::etcd_tests::child", "--nocapture", "--test-threads", "1"])
        .env("FTL_ETCD_CHILD", work)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The child's line that starts with `FTL-CHILD word`, and what follows it.
fn child_says(child: &mut Child, word: &str) -> String {
    let stdout = child.stdout.as_mut().unwrap();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // libtest may have begun the line with the test's name.
        let said = format!("FTL-CHILD {word}");
        if let Some(at) = line.find(&said) {
            return line[at + said.len()..].trim().to_string();
        }
    }
    panic!("the child process never said `{word}`");
}

#[test]
fn two_writers_race_200_commits_each_and_nothing_is_lost() {
    let etcd = Etcd::single();
    let (a, b) = (store(&etcd, "/race/L"), store(&etcd, "/race/L"));
    a.init(None, &holder("marmaduke"), t0()).unwrap();
    std::thread::scope(|scope| {
        for (store, domain) in [(&a, "marmaduke"), (&b, "flinstones")] {
            scope.spawn(move || {
                for i in 0..200 {
                    store.commit(&holder(domain), &request(domain, i), Value::Null, t0()).unwrap();
                }
            });
        }
    });
    let record = a.read().unwrap();
    assert_eq!(record.epoch, 401, "400 commits on epoch 1, none lost");
    let (entries, skipped) = a.history(usize::MAX).unwrap();
    assert_eq!(skipped, 0);
    assert_eq!(entries.iter().map(|e| e.epoch).collect::<Vec<_>>(), (1..=401).collect::<Vec<_>>(), "contiguous");
    for domain in ["marmaduke", "flinstones"] {
        assert_eq!(entries.iter().filter(|e| e.domain == domain && e.event == "request").count(), 200, "{domain}");
        let last = record.request_of(domain).unwrap();
        assert_eq!(last.until, Some(t0() + chrono::Duration::seconds(200)), "each writer's last request stands");
    }
}

#[test]
fn every_endpoint_down_is_an_error_naming_each_and_exit_6() {
    let dead = [format!("http://127.0.0.1:{}", free_port()), format!("http://127.0.0.1:{}", free_port())];
    let store = EtcdStore::open(&etcd_config(&dead, "/ftl/L3500", "")).unwrap();
    let err = store.read().unwrap_err();
    assert!(matches!(err, LedgerError::Unreachable { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&dead[0]) && text.contains(&dead[1]), "{text}");
    assert_eq!(err.exit(), crate::error::Exit::LedgerUnreadable);
    assert!(matches!(
        store.commit(&holder("marmaduke"), &request("flinstones", 0), Value::Null, t0()),
        Err(LedgerError::Unreachable { .. })
    ));
    assert!(matches!(
        store.run_lock("marmaduke", &holder("marmaduke"), Duration::ZERO),
        Err(LedgerError::Unreachable { .. })
    ));
}

#[test]
fn a_dead_first_endpoint_is_passed_over() {
    let etcd = Etcd::single();
    let endpoints = [format!("http://127.0.0.1:{}", free_port()), etcd.endpoints()[0].clone()];
    let store = EtcdStore::open(&etcd_config(&endpoints, "/ftl/L3500", "")).unwrap();
    let record = store.init(Some("marmaduke"), &holder("marmaduke"), t0()).unwrap();
    assert_eq!(store.read().unwrap(), record);
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made by `openssl`.
#[test]
fn tls_with_client_certificates() {
    let certs = assert_fs::TempDir::new().unwrap();
    make_certificates(certs.path());
    let at = |f: &str| certs.path().join(f).display().to_string();
    let etcd = Etcd::start(1, Some(certs.path()));
    let endpoints = etcd.endpoints();
    assert!(endpoints[0].starts_with("https://"));
    let keys =
        format!("ca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n", at("ca.pem"), at("client.pem"), at("client-key.pem"));
    let store = EtcdStore::open(&etcd_config(&endpoints, "/tls/L", &keys)).unwrap();
    let record = store.init(Some("marmaduke"), &holder("marmaduke"), t0()).unwrap();
    assert_eq!(store.read().unwrap(), record);
    // Without a client certificate the server refuses the handshake: the endpoint is unusable.
    let no_cert = EtcdStore::open(&etcd_config(&endpoints, "/tls/L", &format!("ca = \"{}\"\n", at("ca.pem")))).unwrap();
    let err = no_cert.read().unwrap_err();
    assert!(matches!(err, LedgerError::Unreachable { .. }), "{err}");
    // A CA that did not sign the server's certificate is refused too.
    let other = assert_fs::TempDir::new().unwrap();
    make_certificates(other.path());
    let wrong_ca = format!(
        "ca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        other.path().join("ca.pem").display(),
        at("client.pem"),
        at("client-key.pem")
    );
    let err = EtcdStore::open(&etcd_config(&endpoints, "/tls/L", &wrong_ca)).unwrap().read().unwrap_err();
    assert!(matches!(err, LedgerError::Unreachable { .. }), "{err}");
    // A key of another certificate: a configuration error naming ledger.key (rustls would panic).
    let mismatched = format!(
        "ca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        at("ca.pem"),
        at("client.pem"),
        other.path().join("client-key.pem").display()
    );
    match EtcdStore::open(&etcd_config(&endpoints, "/tls/L", &mismatched)) {
        Err(err @ LedgerError::Setup { key: "ledger.key", .. }) => {
            assert!(err.to_string().contains("ledger.cert"), "{err}")
        }
        Err(other) => panic!("not a setup error of ledger.key: {other}"),
        Ok(_) => panic!("a key of another certificate was accepted"),
    }
}

#[test]
fn a_missing_tls_file_is_a_configuration_error_naming_the_key() {
    let config = etcd_config(&["https://127.0.0.1:1".to_string()], "/ftl/L3500", "ca = \"/nonexistent/ca.pem\"\n");
    let err = EtcdStore::open(&config).unwrap_err();
    assert!(matches!(err, LedgerError::Setup { key: "ledger.ca", .. }), "{err}");
    assert_eq!(err.exit(), crate::error::Exit::Usage);
}

#[test]
fn a_run_lock_whose_holder_is_killed_is_free_after_its_lease() {
    let etcd = Etcd::single();
    let store = store(&etcd, "/kill/L");
    store.init(Some("marmaduke"), &holder("marmaduke"), t0()).unwrap();
    let mut child = spawn_child(&format!("{} /kill/L hold", etcd.endpoints()[0]));
    child_says(&mut child, "held");
    let note = store.running("marmaduke").unwrap().expect("held by the child");
    assert!(note.contains(&format!("pid {}", child.id())), "{note}");
    // Kept alive past its TTL (2 s) while the holder lives.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(store.running("marmaduke").unwrap().is_some(), "the holder keeps its lease alive");
    let refused = store.run_lock("marmaduke", &holder("marmaduke"), Duration::ZERO).unwrap();
    assert!(refused.unwrap_err().contains(&format!("pid {}", child.id())));
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    while store.running("marmaduke").unwrap().is_some() {
        assert!(killed.elapsed() < Duration::from_secs(10), "the lease of a killed holder must expire");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(killed.elapsed() < Duration::from_secs(5), "freed after about its TTL: {:?}", killed.elapsed());
    let guard = store.run_lock("marmaduke", &holder("marmaduke"), Duration::ZERO).unwrap();
    assert!(guard.is_ok(), "free again");
}

#[test]
fn a_watch_wakes_within_a_fraction_of_a_second_of_another_process_commit() {
    let etcd = Etcd::single();
    let store = store(&etcd, "/watch/L");
    let record = store.init(Some("marmaduke"), &holder("marmaduke"), t0()).unwrap();
    let mut child = spawn_child(&format!("{} /watch/L commit-after-300", etcd.endpoints()[0]));
    let changed = store.wait_for_change(record.epoch, Duration::from_secs(20)).unwrap().expect("changed");
    let woke = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros();
    let committed: u128 = child_says(&mut child, "committed").parse().unwrap();
    child.wait().unwrap();
    assert_eq!(changed.epoch, record.epoch + 1);
    assert_eq!(changed.state, State::Owned { owner: "marmaduke".into() });
    // The child prints after its commit returned; the watch may even see the commit first.
    let lag = woke.saturating_sub(committed);
    assert!(lag < 250_000, "woke {lag} µs after the commit");
}

#[test]
fn a_watch_from_a_compacted_revision_reads_again() {
    let etcd = Etcd::single();
    let store = store(&etcd, "/compact/L");
    let record = store.init(None, &holder("marmaduke"), t0()).unwrap();
    for i in 0..3 {
        store.commit(&holder("flinstones"), &request("flinstones", i), Value::Null, t0()).unwrap();
    }
    let agent = etcd.agent();
    let status: Value = serde_json::from_str(
        &agent
            .post(format!("{}/v3/kv/range", etcd.endpoints()[0]))
            .send("{\"key\":\"AA==\"}")
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap(),
    )
    .unwrap();
    let revision = status["header"]["revision"].as_str().unwrap().to_string();
    agent
        .post(format!("{}/v3/kv/compaction", etcd.endpoints()[0]))
        .send(format!("{{\"revision\":\"{revision}\"}}"))
        .unwrap();
    let now = store.wait_for_change(record.epoch, Duration::from_secs(5)).unwrap().expect("already past");
    assert_eq!(now.epoch, record.epoch + 3);
}

#[test]
fn a_three_member_cluster_serves_the_store_and_names_its_leader() {
    let etcd = Etcd::cluster(3);
    let leader = etcd.leader().expect("a leader");
    let store = store(&etcd, "/three/L");
    let record = store.init(Some("marmaduke"), &holder("marmaduke"), t0()).unwrap();
    assert_eq!(store.read().unwrap(), record);
    assert!(leader < 3);
}

#[test]
fn an_unreadable_record_is_refused_and_repaired_from_the_journal() {
    let etcd = Etcd::single();
    let store = store(&etcd, "/repair/L");
    store.init(Some("marmaduke"), &holder("marmaduke"), t0()).unwrap();
    let agent = etcd.agent();
    let put = |value: &str| {
        let body = serde_json::json!({"key": B64.encode(b"/repair/L/state"), "value": B64.encode(value.as_bytes())});
        agent.post(format!("{}/v3/kv/put", etcd.endpoints()[0])).send(body.to_string()).unwrap();
    };
    put("{not json");
    let err = store.read().unwrap_err();
    assert!(matches!(err, LedgerError::Unreadable { .. }), "{err}");
    assert!(matches!(
        store.commit(&holder("flinstones"), &request("flinstones", 0), Value::Null, t0()),
        Err(LedgerError::Unreadable { .. })
    ));
    assert!(matches!(
        store.repair(&holder("marmaduke"), t0(), &|| Ok(Some("flinstones".into()))),
        Err(LedgerError::BoardDisagrees { .. })
    ));
    let repaired = store.repair(&holder("marmaduke"), t0(), &|| Ok(Some("marmaduke".into()))).unwrap();
    assert_eq!((repaired.from_epoch, repaired.record.epoch), (1, 2));
    assert!(repaired.copy.as_deref().is_some_and(|c| c.contains("/repair/L/state.bad-")), "{:?}", repaired.copy);
    assert_eq!(store.read().unwrap(), repaired.record);
    let (entries, _) = store.history(10).unwrap();
    assert_eq!(entries.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(), ["init", "repair"]);
}

#[test]
fn ledger_open_chooses_the_configured_store() {
    let config = etcd_config(&["http://127.0.0.1:2379".to_string()], "/ftl/L3500", "");
    let location = super::open(&config).unwrap().location();
    assert_eq!((location.store, location.record.as_str()), ("etcd", "etcd key /ftl/L3500/state"));
}

#[test]
fn an_endpoint_list_that_mixes_two_clusters_cannot_create_a_record() {
    let (one, other) = (Etcd::single(), Etcd::single());
    let mixed = [one.endpoints()[0].clone(), other.endpoints()[0].clone()];
    let store = EtcdStore::open(&etcd_config(&mixed, "/ftl/L3500", "")).unwrap();
    match store.init(Some("marmaduke"), &holder("marmaduke"), t0()) {
        Err(err @ LedgerError::Setup { key: "ledger.endpoints", .. }) => {
            assert!(err.to_string().contains(&other.endpoints()[0]), "{err}")
        }
        Err(err) => panic!("not a setup error of ledger.endpoints: {err}"),
        Ok(_) => panic!("a record was created through endpoints of two clusters"),
    }
    // One cluster's endpoints are fine.
    let store = EtcdStore::open(&etcd_config(&one.endpoints(), "/ftl/L3500", "")).unwrap();
    assert!(store.init(Some("marmaduke"), &holder("marmaduke"), t0()).is_ok());
}
