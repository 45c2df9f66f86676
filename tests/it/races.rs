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

fn check(site: &SimSite, state: &Mutex<Checker>, what: &str) {
    let mut c = state.lock().unwrap();
    let ledger = site.path().join("ledger");
    // Holding both run locks means no hand-over is in flight while we look.
    let guards: Vec<_> = ["marmaduke", "flinstones"]
        .iter()
        .filter_map(|d| lock::try_lock(&ledger.join(format!("run.{d}.lock")), lock::Create::IfMissing).unwrap().ok())
        .collect();
    let l = site.ledger("marmaduke");
    let epoch = l["epoch"].as_u64().unwrap();
    assert!(epoch >= c.last_epoch, "after {what}: the epoch went back from {} to {epoch}", c.last_epoch);
    c.last_epoch = epoch;
    c.checks += 1;
    let p = site.platform();
    if guards.len() == 2 {
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
    race_on("starfire", seed, operations)
}

fn race_on(platform: &str, seed: u64, operations: usize) -> (usize, usize, usize) {
    let site = SimSite::with_args(&["--speed", "5000", "--platform", platform]);
    for d in ["marmaduke", "flinstones"] {
        site.edit_config(d, |t| t + "\n[hooks]\nacquire_wait = \"2s\"\nrelease_wait = \"1s\"\n");
    }
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
                    check(site, state, &format!("seed {seed}, {domain} op {i} {what}"));
                }
            });
        }
    });
    // Let the hooks' background workers finish, then stop any still waiting.
    std::thread::sleep(Duration::from_secs(3));
    site.kill_strays();
    check(&site, &state, "the end");
    let journal = site.transitions();
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
    let (checks, agreements, transitions) = race_on("libvirt", seed, 200);
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
