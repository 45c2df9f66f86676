//! The binaries on the etcd ledger, against a real etcd started by each test (Debian's
//! etcd-server on free loopback ports, stopped by pid when the test ends): simulated sites built
//! with `ftl-sim init --ledger etcd=...` on both platforms, hand-overs, the random-operations
//! race, a killed cluster leader mid hand-over, a cluster that is down, TLS with client
//! certificates, the demo and the fleet rehearsal.

use crate::races::{race_on, Ledger};
use crate::support::*;
use ftl::ledger::etcd_cluster::{make_certificates, Etcd};
use std::time::{Duration, Instant};

fn ledger_arg(etcd: &Etcd) -> String {
    format!("etcd={}", etcd.endpoints().join(","))
}

/// A site of `platform` whose ledger is on `etcd`, at `speed`.
fn site_on(etcd: &Etcd, platform: &str, speed: &str) -> SimSite {
    SimSite::with_args(&["--speed", speed, "--platform", platform, "--ledger", &ledger_arg(etcd)])
}

/// How many keys `etcd` holds under `prefix/` (etcdctl, from Debian's etcd-client).
fn keys_under(etcd: &Etcd, prefix: &str) -> usize {
    let out = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", &etcd.endpoints()[0], "get", "--prefix", "--keys-only", &format!("{prefix}/")])
        .output()
        .expect("etcdctl (apt-get install etcd-client; CI's .ci/run installs it)");
    assert!(out.status.success(), "etcdctl: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).count()
}

/// The journal's epochs (`ftl-status --history --json`) are 1..=the record's epoch.
fn assert_contiguous(site: &SimSite, domain: &str) -> u64 {
    let epochs: Vec<u64> = site.history_transitions(domain).iter().map(|e| e["epoch"].as_u64().unwrap()).collect();
    let last = site.ledger(domain)["epoch"].as_u64().unwrap();
    assert_eq!(epochs, (1..=last).collect::<Vec<_>>(), "the journal is not contiguous");
    last
}

fn handover_on(platform: &str) {
    let etcd = Etcd::single();
    let site = site_on(&etcd, platform, "1000");
    let text = std::fs::read_to_string(site.config("marmaduke")).unwrap();
    assert!(text.contains("store = \"etcd\"") && text.contains("prefix = \"/ftl/L3500\""), "{text}");
    assert!(!site.path().join("ledger").exists(), "a site on etcd has no ledger directory");
    assert_eq!(site.ledger("flinstones")["owner"], "marmaduke");
    expect(site.ftl("marmaduke", "ftl-release"), 0);
    assert_eq!(site.ledger("flinstones")["state"], "free");
    assert_eq!(site.board_domain(), None);
    expect(site.ftl("flinstones", "ftl-acquire"), 0);
    let l = site.ledger("marmaduke");
    assert_eq!((l["state"].as_str(), l["owner"].as_str()), (Some("owned"), Some("flinstones")), "{l}");
    assert_eq!(site.board_domain().as_deref(), Some("flinstones"));
    let last = assert_contiguous(&site, "flinstones");
    assert!(last > 3, "a release and an acquire make several transitions, not {last}");
    // The record and the journal are etcd keys under the library's prefix.
    assert!(keys_under(&etcd, "/ftl/L3500/journal") as u64 >= last);
    assert_eq!(keys_under(&etcd, "/ftl/L3500/run"), 0, "no run lock is left once the hand-over is done");
}

#[test]
fn a_handover_on_etcd_on_a_starfire_site_keeps_a_contiguous_journal() {
    handover_on("starfire");
}

#[test]
fn a_handover_on_etcd_on_a_libvirt_site_keeps_a_contiguous_journal() {
    handover_on("libvirt");
}

#[test]
fn init_on_etcd_refuses_a_prefix_that_has_a_record_and_an_unreachable_cluster() {
    let etcd = Etcd::single();
    let _first = site_on(&etcd, "starfire", "1000");
    let dir = assert_fs::TempDir::new().unwrap();
    let out = run(cmd("ftl-sim").arg("init").arg(dir.path().join("again")).args(["--ledger", &ledger_arg(&etcd)]));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("/ftl/L3500") && err.contains("already exists") && err.contains(&etcd.endpoints()[0]),
        "{err}"
    );
    assert!(!dir.path().join("again").exists(), "a refused init leaves nothing behind");
    // Another library on the same cluster has a prefix of its own.
    let out = run(cmd("ftl-sim").arg("init").arg(dir.path().join("other")).args([
        "--ledger",
        &ledger_arg(&etcd),
        "--library",
        "L700",
    ]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("/ftl/L700/state"), "{}", stdout(&out));
    assert_eq!(keys_under(&etcd, "/ftl/L700/journal"), 1);
    // Nobody listens on this port.
    let url = format!("http://127.0.0.1:{}", ftl::ledger::etcd_cluster::free_port());
    let out = run(cmd("ftl-sim").arg("init").arg(dir.path().join("down")).args(["--ledger", &format!("etcd={url}")]));
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("unreachable") && stderr(&out).contains(&url), "{}", stderr(&out));
    assert!(!dir.path().join("down").exists());
    let out = run(cmd("ftl-sim").arg("init").arg(dir.path().join("bad")).args(["--ledger", "etcd=127.0.0.1:2"]));
    assert_eq!(code(&out), 2, "a malformed --ledger is a usage error: {}", stderr(&out));
}

fn etcd_seed(platform: &str, seed: u64) {
    let etcd = Etcd::single();
    let (checks, agreements, transitions) = race_on(platform, Ledger::Etcd(&etcd), seed, 200);
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "races on etcd ({platform}), seed {seed}: 200 operations, {checks} checks ({agreements} at rest: ledger and board agreed), {transitions} transitions"
    );
}

#[test]
fn seed_1_of_concurrent_random_operations_on_etcd_keeps_every_invariant() {
    etcd_seed("starfire", 1);
}

#[test]
fn libvirt_seed_2_of_concurrent_random_operations_on_etcd_keeps_every_invariant() {
    etcd_seed("libvirt", 2);
}

/// The record via the store itself, tolerating a cluster that is electing a leader.
fn record_now(store: &dyn ftl::ledger::Store) -> Option<ftl::ledger::record::Record> {
    store.read().ok()
}

#[test]
fn killing_the_cluster_leader_mid_handover_leaves_record_and_board_agreeing() {
    let mut etcd = Etcd::cluster(3);
    // At speed 100 addboard (A3: POST, then complete_attach) takes about 3.6 s: the leader dies
    // inside it, and the acquire's next commits meet the election.
    let site = site_on(&etcd, "starfire", "100");
    let config = ftl::config::Config::load(&site.config("flinstones")).unwrap();
    let store = ftl::ledger::open(&config).unwrap();
    expect(site.ftl("marmaduke", "ftl-release"), 0);
    let mut acquire = site
        .ftl("flinstones", "ftl-acquire")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !record_now(store.as_ref()).is_some_and(|r| r.to_value()["step"]["id"] == "A3") {
        assert!(start.elapsed() < Duration::from_secs(30), "the acquire never reached A3");
        std::thread::sleep(Duration::from_millis(20));
    }
    let leader = etcd.leader().expect("a leader");
    etcd.members[leader].kill();
    assert!(acquire.try_wait().unwrap().is_none(), "the leader died while the acquire was running");
    let status = wait_timeout(&mut acquire, 60.0).expect("the acquire ends");
    let mut err = String::new();
    std::io::Read::read_to_string(acquire.stderr.as_mut().unwrap(), &mut err).unwrap();
    match status.code() {
        Some(0) => {}
        // Stopped, with a clear error naming the ledger's endpoints, and then a rerun finishes.
        Some(6) => {
            assert!(err.contains("etcd") && err.contains("127.0.0.1"), "{err}");
            let start = Instant::now();
            loop {
                let out = run(site.ftl("flinstones", "ftl-acquire"));
                if code(&out) == 0 {
                    break;
                }
                assert!(start.elapsed() < Duration::from_secs(30), "the rerun: {}", stderr(&out));
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        other => panic!("the acquire ended with {other:?}: {err}"),
    }
    let l = site.ledger("flinstones");
    assert_eq!((l["state"].as_str(), l["owner"].as_str()), (Some("owned"), Some("flinstones")), "{l}\n{err}");
    assert_eq!(site.board_domain().as_deref(), Some("flinstones"), "the record and the board agree");
    assert_contiguous(&site, "flinstones");
    // The two members left can still hand the library back.
    expect(site.ftl("flinstones", "ftl-release"), 0);
    expect(site.ftl("marmaduke", "ftl-acquire"), 0);
    assert_eq!(site.board_domain().as_deref(), Some("marmaduke"));
    assert_eq!(site.ledger("marmaduke")["owner"], "marmaduke");
}

#[test]
fn with_every_endpoint_down_each_binary_exits_6_naming_them_and_runs_nothing() {
    let mut etcd = Etcd::single();
    let site = site_on(&etcd, "starfire", "1000");
    let endpoint = etcd.endpoints()[0].clone();
    expect(site.ftl("marmaduke", "ftl-status"), 0);
    etcd.members[0].kill();
    let read = |name: &str| std::fs::read(site.path().join(name)).unwrap_or_default();
    let (calls, platform) = (read("calls.jsonl"), read("platform.json"));
    let now = "2031-03-04T02:00:00Z";
    let commands: Vec<(&str, std::process::Command)> = vec![
        ("ftl-release", site.ftl("marmaduke", "ftl-release")),
        ("ftl-acquire", site.ftl("flinstones", "ftl-acquire")),
        ("ftl-status", site.ftl("marmaduke", "ftl-status")),
        ("ftl-window tick", {
            let mut c = site.ftl("flinstones", "ftl-window");
            c.args(["tick", "--now", now]);
            c
        }),
    ];
    for (what, c) in commands {
        let out = run(c);
        assert_eq!(code(&out), 6, "{what}: {}", stderr(&out));
        assert!(stderr(&out).contains(&endpoint) && stderr(&out).contains("unreachable"), "{what}: {}", stderr(&out));
        assert_eq!(read("calls.jsonl"), calls, "{what} ran a command with the ledger unreachable");
        assert_eq!(read("platform.json"), platform, "{what} changed the platform");
    }
}

#[test]
fn tls_with_client_certificates_works_end_to_end_and_is_refused_without_them() {
    let certs = assert_fs::TempDir::new().unwrap();
    make_certificates(certs.path());
    let etcd = Etcd::start(1, Some(certs.path()));
    let endpoint = etcd.endpoints()[0].clone();
    assert!(endpoint.starts_with("https://"));
    let at = |f: &str| certs.path().join(f).display().to_string();
    let site = SimSite::with_args(&[
        "--speed",
        "1000",
        "--ledger",
        &format!("etcd={endpoint}"),
        "--ledger-ca",
        &at("ca.pem"),
        "--ledger-cert",
        &at("client.pem"),
        "--ledger-key",
        &at("client-key.pem"),
    ]);
    let text = std::fs::read_to_string(site.config("marmaduke")).unwrap();
    assert!(text.contains(&format!("ca = \"{}\"", at("ca.pem"))) && text.contains("key = "), "{text}");
    expect(site.ftl("marmaduke", "ftl-release"), 0);
    expect(site.ftl("flinstones", "ftl-acquire"), 0);
    assert_eq!(site.ledger("marmaduke")["owner"], "flinstones");
    assert_eq!(site.board_domain().as_deref(), Some("flinstones"));
    assert_contiguous(&site, "marmaduke");
    // Without the client certificate the server refuses the handshake: exit 6, nothing run.
    site.edit_config("flinstones", |t| {
        t.lines().filter(|l| !l.starts_with("cert = ") && !l.starts_with("key = ")).collect::<Vec<_>>().join("\n")
            + "\n"
    });
    let calls = site.calls().len();
    for name in ["ftl-status", "ftl-release"] {
        let out = run(site.ftl("flinstones", name));
        assert_eq!(code(&out), 6, "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(&endpoint), "{name}: {}", stderr(&out));
    }
    assert_eq!(site.calls().len(), calls, "nothing ran without the client certificate");
    assert_eq!(site.board_domain().as_deref(), Some("flinstones"));
    // And a CA that did not sign the server's certificate is refused too.
    let other = assert_fs::TempDir::new().unwrap();
    make_certificates(other.path());
    let wrong = other.path().join("ca.pem").display().to_string();
    site.edit_config("marmaduke", |t| t.replace(&at("ca.pem"), &wrong));
    let out = run(site.ftl("marmaduke", "ftl-status"));
    assert_eq!(code(&out), 6, "{}", stderr(&out));
}

#[test]
fn the_demo_runs_on_etcd_and_removes_its_keys() {
    let etcd = Etcd::single();
    let out = run(cmd("ftl-sim").args(["demo", "--speed", "1000", "--json", "--ledger", &ledger_arg(&etcd)]));
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["healthy"], true);
    assert_eq!(value["ledger"]["store"], "etcd", "{value}");
    assert!(value["ledger"]["record"].as_str().unwrap().contains("/ftl-sim/demo-"), "{value}");
    assert_eq!(value["ticks"].as_array().unwrap().iter().filter(|t| t["decision"]["action"] == "acquire").count(), 2);
    assert_eq!(keys_under(&etcd, "/ftl-sim"), 0, "the demo's keys are removed");
}

fn fleet_json(args: &[&str]) -> serde_json::Value {
    let out = run(cmd("ftl-sim").arg("fleet").args(args).arg("--json"));
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

#[test]
fn a_short_fleet_on_its_own_cluster_hands_every_library_over_three_times_a_day() {
    let v = fleet_json(&["--libraries", "3", "--domains-per-library", "3", "--days", "2"]);
    assert_eq!(v["own_cluster"], true);
    assert_eq!(v["endpoints"].as_array().unwrap().len(), 3, "{v}");
    let libraries = v["libraries"].as_array().unwrap();
    assert_eq!(libraries.len(), 3);
    let domains: std::collections::BTreeSet<&str> =
        libraries.iter().flat_map(|l| l["domains"].as_array().unwrap()).map(|d| d.as_str().unwrap()).collect();
    assert_eq!(domains.len(), 9, "nine domains in all: {domains:?}");
    // Three windows a day, 18 edges in 2 days, each domain ticking twice at each.
    assert_eq!(v["edges"], 18);
    for l in libraries {
        assert_eq!(l["handovers"], 6, "{l}");
        assert_eq!(l["ticks"], 18 * 3 * 2, "{l}");
        assert_eq!(l["checks"], l["ticks"], "a check after every tick: {l}");
        assert_eq!(l["failed_ticks"], 0, "{l}");
        assert_eq!(l["violations"].as_array().unwrap().len(), 0, "{l}");
        assert_eq!(l["transitions"], l["epoch"], "every epoch journaled: {l}");
        assert!(l["prefix"].as_str().unwrap().starts_with("/ftl/L"), "{l}");
        assert!(l["handover_median_secs"].as_f64().unwrap() > 0.0, "{l}");
    }
    assert_eq!(v["handovers"], 18);
    assert_eq!(v["violations"].as_array().unwrap().len(), 0);
}

#[test]
fn a_fleet_on_a_given_cluster_prints_its_figures_and_removes_its_keys() {
    let etcd = Etcd::single();
    let out = run(cmd("ftl-sim").args([
        "fleet",
        "--libraries",
        "3",
        "--domains-per-library",
        "3",
        "--days",
        "2",
        "--ledger",
        &ledger_arg(&etcd),
    ]));
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}\n{}", stderr(&out));
    for l in ["L1", "L2", "L3"] {
        let line =
            text.lines().find(|x| x.trim_start().starts_with(&format!("{l} ("))).unwrap_or_else(|| panic!("{text}"));
        assert!(line.contains(": 6 hand-overs, 108 ticks (0 failed), 108 checks"), "{line}");
        assert!(line.contains("/ftl-sim/fleet-"), "{line}");
    }
    assert!(text.contains("fleet: 18 hand-overs in "), "{text}");
    assert!(text.contains("no library ever had two owners, every record agreed with its board"), "{text}");
    assert_eq!(keys_under(&etcd, "/ftl-sim"), 0, "the fleet's keys are removed");
}

/// A sequence that lost its run lock (stopped longer than its lease: SIGSTOP, or cut off) starts
/// no new step and undoes nothing, since another sequence may hold the lock by then: it leaves
/// the ledger `broken`, saying so, and a rerun resumes.
#[test]
fn a_sequence_that_lost_its_run_lock_runs_and_undoes_nothing_more() {
    let etcd = Etcd::single();
    let site = site_on(&etcd, "starfire", "1000");
    site.edit_config("marmaduke", |c| c.replace("[ledger]\n", "[ledger]\nlease_ttl = \"2s\"\n"));
    assert_eq!(code(&site.sim(&["fault", "hang:mt"])), 0);
    let child = site.ftl("marmaduke", "ftl-release").stderr(std::process::Stdio::piped()).spawn().unwrap();
    site.wait_for(20, "the release to reach R3", |s| s.ledger("marmaduke")["step"]["id"] == "R3");
    signal(child.id(), libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(4));
    signal(child.id(), libc::SIGCONT);
    // The keeper finds the lease gone at its next renewal (a third of the TTL), then the hung
    // rewind is ended and R3 fails.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(code(&site.sim(&["fault", "clear"])), 0);
    site.kill_strays_named("mt");
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("lost its run lock"), "{said}");
    assert!(!said.contains("undo R2"), "nothing is undone: {said}");
    assert_eq!(site.platform()["domains"]["marmaduke"]["netbackup"], "stopped", "R2 was not undone");
    let l = site.ledger("marmaduke");
    assert_eq!((l["state"].as_str(), l["step"]["id"].as_str()), (Some("broken"), Some("R3")), "{l}");
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 0, "the rerun resumes: {}", stderr(&out));
    assert_eq!(site.ledger("marmaduke")["state"], "free");
}
