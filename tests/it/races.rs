//! Races: both domains run seeded random sequences of acquire, release, --wait, window ticks and
//! notify hooks at the same time. After every operation, and at the end: at most one owner,
//! the board in at most one domain, the ledger's owner equal to the board's domain whenever no
//! hand-over is in flight, epochs never going back, the journal contiguous.

use crate::support::*;
use ftl::ledger::lock;
use std::sync::Mutex;
use std::time::Duration;

struct Checker {
    last_epoch: u64,
    checks: usize,
    agreements: usize,
}

/// The ledger a race runs on: the site's directory, or an etcd cluster started by the test.
#[derive(Clone, Copy)]
pub enum Ledger<'a> {
    Dir,
    Etcd(&'a ftl::ledger::etcd_cluster::Etcd),
}

/// Whether no hand-over is in flight while the checker looks, and what it saw: the ledger record
/// and the platform. On the directory ledger it holds both run locks while it looks; on etcd
/// (whose run locks are leased keys) it asks the store's `running()` before and after, and
/// requires the epoch not to have moved meanwhile: a hand-over changes the board only after a
/// commit, so an unchanged epoch between two looks at no holder means no hand-over touched it.
fn look(site: &SimSite, store: Option<&dyn ftl::ledger::Store>) -> (bool, serde_json::Value, serde_json::Value) {
    let domains = ["marmaduke", "flinstones"];
    match store {
        None => {
            let ledger = site.path().join("ledger");
            let guards: Vec<_> = domains
                .iter()
                .filter_map(|d| {
                    lock::try_lock(&ledger.join(format!("run.{d}.lock")), lock::Create::IfMissing).unwrap().ok()
                })
                .collect();
            let (l, p) = (site.ledger("marmaduke"), site.platform());
            (guards.len() == 2, l, p)
        }
        Some(store) => {
            let idle = || domains.iter().all(|d| store.running(d).unwrap().is_none());
            let before = idle();
            let (l, p) = (site.ledger("marmaduke"), site.platform());
            let after = idle() && Some(store.read().unwrap().epoch) == l["epoch"].as_u64();
            (before && after, l, p)
        }
    }
}

fn check(site: &SimSite, store: Option<&dyn ftl::ledger::Store>, state: &Mutex<Checker>, what: &str) {
    let mut c = state.lock().unwrap();
    let (at_rest, l, p) = look(site, store);
    let epoch = l["epoch"].as_u64().unwrap();
    assert!(epoch >= c.last_epoch, "after {what}: the epoch went back from {} to {epoch}", c.last_epoch);
    c.last_epoch = epoch;
    c.checks += 1;
    if at_rest {
        match l["state"].as_str().unwrap() {
            "owned" => {
                assert_eq!(p["board"]["domain"], l["owner"], "after {what}: the ledger and the board disagree: {l}");
                c.agreements += 1;
            }
            "free" => {
                assert!(
                    p["board"]["domain"].is_null(),
                    "after {what}: free in the ledger, board in {}",
                    p["board"]["domain"]
                );
                c.agreements += 1;
            }
            _ => {}
        }
    }
}

fn race(seed: u64, operations: usize) -> (usize, usize, usize) {
    race_on("starfire", Ledger::Dir, seed, operations)
}

pub fn race_on(platform: &str, ledger: Ledger, seed: u64, operations: usize) -> (usize, usize, usize) {
    let mut args = vec!["--speed".to_string(), "5000".into(), "--platform".into(), platform.into()];
    if let Ledger::Etcd(etcd) = ledger {
        args.extend(["--ledger".into(), format!("etcd={}", etcd.endpoints().join(","))]);
    }
    let site = SimSite::with_args(&args.iter().map(String::as_str).collect::<Vec<_>>());
    for d in ["marmaduke", "flinstones"] {
        site.edit_config(d, |t| t + "\n[hooks]\nacquire_wait = \"2s\"\nrelease_wait = \"1s\"\n");
    }
    let store = match ledger {
        Ledger::Dir => None,
        Ledger::Etcd(_) => {
            let config = ftl::config::Config::load(&site.config("marmaduke")).unwrap();
            Some(ftl::ledger::open(&config).unwrap())
        }
    };
    let store = store.as_deref();
    let hooks = HookDir::new();
    let state = Mutex::new(Checker { last_epoch: 0, checks: 0, agreements: 0 });
    std::thread::scope(|scope| {
        for (n, domain) in ["marmaduke", "flinstones"].into_iter().enumerate() {
            let (site, hooks, state) = (&site, &hooks, &state);
            scope.spawn(move || {
                let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (n as u64 + 1));
                for i in 0..operations / 2 {
                    let (what, out) = match rng.below(7) {
                        0 => ("acquire", run(site.ftl(domain, "ftl-acquire").arg("-q"))),
                        1 => ("release", run(site.ftl(domain, "ftl-release").arg("-q"))),
                        2 => ("acquire --wait", run(site.ftl(domain, "ftl-acquire").args(["-q", "--wait", "1s"]))),
                        3 => ("release --if-idle", run(site.ftl(domain, "ftl-release").args(["-q", "--if-idle"]))),
                        4 => {
                            let now = format!(
                                "2026-11-{:02}T{:02}:{:02}:00Z",
                                23 + rng.below(7),
                                rng.below(24),
                                rng.below(60)
                            );
                            ("tick", run(site.ftl(domain, "ftl-window").args(["-q", "tick", "--now", &now])))
                        }
                        5 => (
                            "bpstart_notify",
                            run(hooks.hook("bpstart_notify", &site.config(domain)).args(["db1", "p", "s", "FULL"])),
                        ),
                        _ => (
                            "bpend_notify",
                            run(hooks.hook("bpend_notify", &site.config(domain)).args(["db1", "p", "s", "FULL", "0"])),
                        ),
                    };
                    let c = code(&out);
                    assert!([0, 3, 4].contains(&c), "seed {seed}, {domain} op {i} {what}: exit {c}: {}", stderr(&out));
                    check(site, store, state, &format!("seed {seed}, {domain} op {i} {what}"));
                }
            });
        }
    });
    // Let the hooks' background workers finish, then stop any still waiting.
    std::thread::sleep(Duration::from_secs(3));
    site.kill_strays();
    check(&site, store, &state, "the end");
    let journal = match ledger {
        Ledger::Dir => site.transitions(),
        Ledger::Etcd(_) => site.history_transitions("marmaduke"),
    };
    let epochs: Vec<u64> = journal.iter().map(|e| e["epoch"].as_u64().unwrap()).collect();
    let last = site.ledger("marmaduke")["epoch"].as_u64().unwrap();
    assert_eq!(epochs, (1..=last).collect::<Vec<_>>(), "seed {seed}: the journal is not contiguous");
    let c = state.lock().unwrap();
    assert!(c.agreements > 0, "seed {seed}: the ledger and the board were never compared at rest");
    (c.checks, c.agreements, journal.len())
}

/// One seed: 200 random operations of both domains at once.
fn seed(seed: u64) {
    let (checks, agreements, transitions) = race(seed, 200);
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "races, seed {seed}: 200 operations, {checks} checks ({agreements} at rest: ledger and board agreed), {transitions} transitions"
    );
}

// One test per seed, so that the harness runs them side by side.
#[test]
fn seed_1_of_concurrent_random_operations_keeps_every_invariant() {
    seed(1);
}

#[test]
fn seed_2_of_concurrent_random_operations_keeps_every_invariant() {
    seed(2);
}

#[test]
fn seed_3_of_concurrent_random_operations_keeps_every_invariant() {
    seed(3);
}

#[test]
fn seed_4_of_concurrent_random_operations_keeps_every_invariant() {
    seed(4);
}

#[test]
fn seed_5_of_concurrent_random_operations_keeps_every_invariant() {
    seed(5);
}

/// The same race on the libvirt platform: the HBA between two Linux guests.
fn libvirt_seed(seed: u64) {
    let (checks, agreements, transitions) = race_on("libvirt", Ledger::Dir, seed, 200);
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "races on libvirt, seed {seed}: 200 operations, {checks} checks ({agreements} at rest: ledger and HBA agreed), {transitions} transitions"
    );
}

#[test]
fn libvirt_seed_1_of_concurrent_random_operations_keeps_every_invariant() {
    libvirt_seed(1);
}

#[test]
fn libvirt_seed_2_of_concurrent_random_operations_keeps_every_invariant() {
    libvirt_seed(2);
}
