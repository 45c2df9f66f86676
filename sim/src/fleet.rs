//! `ftl-sim fleet`: a fleet rehearsal. Several libraries, each a simulated site of its own (its
//! own platform and domains), all keeping their ledgers on one etcd cluster, each under its own
//! prefix; a replayed stretch of days in which, at every edge of every window (a claim's start,
//! the window's start and end), every domain of every library runs `ftl-window tick --now T`,
//! the real binary, as cron would. The libraries run side by side, each one's ticks in order.
//!
//! After every tick it checks that library: no hand-over is left in flight (the record is owned
//! or free, and no run lock is held), the board is where the record says (in the owner, or in no
//! domain when the library is free), and no domain but the owner has a drive up in NetBackup (two
//! owners); at the end, each journal is contiguous and each record names its own library. It
//! prints the hand-overs per library and the time they took, and fails (exit 1) on any violation
//! or failed tick.

use crate::platform::Site;
use crate::site::{self, EtcdChoice, InitOptions, LedgerChoice};
use chrono::{DateTime, Duration as Days, NaiveDate, TimeZone, Utc};
use ftl::ledger::Store;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

pub const LONG_ABOUT: &str = "A fleet rehearsal: --libraries sites (each its own simulated \
platform, with --domains-per-library domains whose windows split the day between them), every \
ledger on one etcd cluster under its own prefix (/ftl/L1, /ftl/L2, ... on the cluster the fleet \
starts; /ftl-sim/fleet-PID-TIME/L1, ... on one given with --ledger, removed afterwards unless \
--keep). It replays --days days from Monday 2031-03-03 (UTC): at every window edge (a claim's \
start, 30 min before the window; the window's start and end) every domain runs `ftl-window tick \
--now T` (the real binary, next to ftl-sim), twice round so that a release and the acquire it \
makes way for fall in the same minute. The libraries run side by side.\n\n\
After every tick it checks the library: no hand-over in flight (the record owned or free, no \
run lock held), the board where the record says, and no domain but the owner with a drive up \
(two owners); at the end, every journal contiguous. It prints the hand-overs per library and the \
time they took, and exits 1 on any violation or failed tick.\n\n\
Without --ledger it starts three etcd members on free loopback ports (Debian's etcd-server: \
`etcd` on the PATH, or $FTL_TEST_ETCD) and stops them at the end.";

/// The first day replayed: a Monday, in the future, so that nothing depends on today.
const FIRST_DAY: (i32, u32, u32) = (2031, 3, 3);

/// Every site's `[schedule] lead`, in minutes (as `ftl-sim init` writes it).
const LEAD_MINUTES: i64 = 30;

#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub libraries: u32,
    pub domains_per_library: u32,
    pub days: u32,
    pub speed: f64,
    pub ledger: Option<LedgerChoice>,
    pub keep: Option<PathBuf>,
    pub json: bool,
}

/// One library's site and what happened to it.
struct Library {
    name: String,
    site: Site,
    domains: Vec<String>,
    configs: Vec<PathBuf>,
    store: Box<dyn Store>,
    prefix: String,
}

#[derive(Debug, Default)]
struct Tally {
    ticks: usize,
    failed: Vec<String>,
    handovers: usize,
    handover_secs: Vec<f64>,
    checks: usize,
    violations: Vec<String>,
    secs: f64,
    epoch: u64,
    transitions: usize,
}

/// The windows of `n` domains, splitting the day: domain k gets `Mon-Sun` from k*24h/n for
/// 24h/n less an hour (so that each claim begins half an hour after the last window ends).
pub fn windows(n: u32) -> Vec<String> {
    let slot = 24 * 60 / n as i64;
    let hm = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
    (0..n as i64).map(|k| format!("Mon-Sun {}-{}", hm(k * slot), hm(k * slot + slot - 60))).collect()
}

/// Every window edge of `days` days from the first day, in order: each window's claim start
/// (start less the lead), start and end.
fn edges(n: u32, days: u32) -> Vec<DateTime<Utc>> {
    let (y, m, d) = FIRST_DAY;
    let first = Utc
        .from_utc_datetime(&NaiveDate::from_ymd_opt(y, m, d).expect("a date").and_hms_opt(0, 0, 0).expect("midnight"));
    let slot = 24 * 60 / n as i64;
    let mut out = Vec::new();
    for day in 0..=days as i64 {
        for k in 0..n as i64 {
            let start = first + Days::days(day) + Days::minutes(k * slot);
            for t in [start - Days::minutes(LEAD_MINUTES), start, start + Days::minutes(slot - 60)] {
                if t >= first && t < first + Days::days(days as i64) {
                    out.push(t);
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

pub fn run(o: &FleetOptions) -> Result<(), String> {
    if !(o.speed.is_finite() && o.speed >= 1.0) {
        return Err(format!("--speed must be a number of at least 1, not {}", o.speed));
    }
    let tick_binary = sibling("ftl-window")?;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    // The cluster: the one given, or three members of our own.
    let (endpoints, own, parent) = match &o.ledger {
        Some(LedgerChoice::Etcd(etcd)) => {
            (etcd.endpoints.clone(), None, format!("/ftl-sim/fleet-{}-{stamp}", std::process::id()))
        }
        Some(LedgerChoice::Dir) => {
            return Err(
                "the fleet's libraries share one etcd cluster: --ledger etcd=URL[,URL...], or no --ledger".into()
            )
        }
        None => {
            let program = ftl::ledger::etcd_cluster::etcd_program();
            let found = Command::new(&program).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
            if !found.is_ok_and(|s| s.success()) {
                return Err(format!(
                    "cannot run `{program} --version`: the fleet starts its own etcd cluster from Debian's \
                     etcd-server (apt-get install etcd-server), or give one with --ledger etcd=URL[,URL...]"
                ));
            }
            let etcd = ftl::ledger::etcd_cluster::Etcd::cluster(3);
            (etcd.endpoints(), Some(etcd), "/ftl".to_string())
        }
    };
    let base = match &o.keep {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("ftl-sim-fleet-{}-{stamp}", std::process::id())),
    };
    let result = rehearse(o, &tick_binary, &endpoints, own.is_some(), &parent, &base);
    if o.keep.is_none() {
        let _ = std::fs::remove_dir_all(&base);
        if own.is_none() {
            if let Err(e) = ftl::ledger::etcd_cluster::delete_prefix(&endpoints, &parent) {
                crate::errln!("ftl-sim fleet: could not remove the fleet's etcd keys {parent}/*: {e}");
            }
        }
    }
    drop(own);
    result
}

/// A product binary next to this ftl-sim.
fn sibling(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the ftl-sim binary: {e}"))?;
    let path = exe.parent().map(|d| d.join(name)).ok_or("ftl-sim has no directory")?;
    if !path.exists() {
        return Err(format!("{} is missing next to ftl-sim: build every binary first (cargo build)", path.display()));
    }
    Ok(path)
}

fn rehearse(
    o: &FleetOptions,
    tick_binary: &Path,
    endpoints: &[String],
    own: bool,
    parent: &str,
    base: &Path,
) -> Result<(), String> {
    let n = o.domains_per_library;
    let windows = windows(n);
    let edges = edges(n, o.days);
    let started = Instant::now();
    let mut libraries = Vec::new();
    for l in 1..=o.libraries {
        let name = format!("L{l}");
        let domains: Vec<String> = (1..=n).map(|k| format!("l{l}-d{k}")).collect();
        let prefix = format!("{parent}/{name}");
        let options = InitOptions {
            domains: domains.clone(),
            speed: o.speed,
            seed: l as u64,
            library: name.clone(),
            ledger: LedgerChoice::Etcd(EtcdChoice {
                endpoints: endpoints.to_vec(),
                prefix: Some(prefix.clone()),
                ..EtcdChoice::default()
            }),
            windows: Some(windows.clone()),
            ..InitOptions::default()
        };
        let site = site::init(&base.join(&name), &options)?;
        let configs: Vec<PathBuf> = domains.iter().map(|d| site.config_path(d)).collect();
        let config = ftl::config::Config::load(&configs[0]).map_err(|e| e.to_string())?;
        let store = ftl::ledger::open(&config).map_err(|e| e.to_string())?;
        libraries.push(Library { name, site, domains, configs, store, prefix });
    }
    let setup_secs = started.elapsed().as_secs_f64();
    if !o.json {
        crate::outln!(
            "ftl-sim fleet: {} libraries x {n} domains, ledgers on etcd {} ({}), {} day(s) from {}-{:02}-{:02} at speed x{}",
            o.libraries,
            endpoints.join(","),
            if own { "3 members started by the fleet" } else { "given" },
            o.days,
            FIRST_DAY.0,
            FIRST_DAY.1,
            FIRST_DAY.2,
            o.speed
        );
        crate::outln!(
            "  windows: {}; {} window edges, every domain ticks twice at each",
            windows.join(", "),
            edges.len()
        );
        crate::outln!("  {} sites built in {setup_secs:.2}s in {}", o.libraries, base.display());
    }
    let replay = Instant::now();
    let tallies: Vec<Tally> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            libraries.iter().map(|lib| scope.spawn(|| replay_library(lib, &edges, tick_binary))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let secs = replay.elapsed().as_secs_f64();
    let handovers: usize = tallies.iter().map(|t| t.handovers).sum();
    let checks: usize = tallies.iter().map(|t| t.checks).sum();
    let ticks: usize = tallies.iter().map(|t| t.ticks).sum();
    let violations: Vec<String> = tallies
        .iter()
        .zip(&libraries)
        .flat_map(|(t, l)| t.violations.iter().chain(&t.failed).map(move |v| format!("{}: {v}", l.name)))
        .collect();
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let all_handover_secs: Vec<f64> = tallies.iter().flat_map(|t| t.handover_secs.clone()).collect();
    if o.json {
        let per: Vec<Value> = tallies
            .iter()
            .zip(&libraries)
            .map(|(t, l)| {
                json!({
                    "library": l.name, "prefix": l.prefix, "domains": l.domains, "handovers": t.handovers,
                    "ticks": t.ticks, "failed_ticks": t.failed.len(), "checks": t.checks,
                    "violations": t.violations, "secs": t.secs, "handover_median_secs": median(&t.handover_secs),
                    "epoch": t.epoch, "transitions": t.transitions,
                })
            })
            .collect();
        crate::outln!(
            "{}",
            json!({
                "libraries": per, "domains_per_library": n, "days": o.days, "speed": o.speed,
                "endpoints": endpoints, "own_cluster": own, "edges": edges.len(), "ticks": ticks,
                "handovers": handovers, "checks": checks, "violations": violations,
                "setup_secs": setup_secs, "secs": secs, "handover_median_secs": median(&all_handover_secs),
            })
        );
    } else {
        for (t, l) in tallies.iter().zip(&libraries) {
            crate::outln!(
                "  {} ({}): {} hand-overs, {} ticks ({} failed), {} checks, epoch {}; {:.1}s (a hand-over: median {:.2}s)",
                l.name,
                l.prefix,
                t.handovers,
                t.ticks,
                t.failed.len(),
                t.checks,
                t.epoch,
                t.secs,
                median(&t.handover_secs)
            );
        }
        crate::outln!(
            "fleet: {handovers} hand-overs in {secs:.1}s ({ticks} ticks, {checks} checks after them){}",
            if violations.is_empty() {
                ": no library ever had two owners, every record agreed with its board, every journal contiguous"
            } else {
                ""
            }
        );
        for v in &violations {
            crate::outln!("  VIOLATION {v}");
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(format!("the fleet rehearsal found {} violation(s) or failed tick(s)", violations.len()))
    }
}

/// Replays every edge on one library, checking it after each tick.
fn replay_library(lib: &Library, edges: &[DateTime<Utc>], tick_binary: &Path) -> Tally {
    let mut tally = Tally::default();
    let start = Instant::now();
    let mut owner = lib.store.read().ok().and_then(|r| r.state.owner().map(str::to_string));
    let mut last_epoch = 0;
    for at in edges {
        let now = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut edge_secs = 0.0;
        for config in lib.configs.iter().chain(&lib.configs) {
            let t0 = Instant::now();
            let out = Command::new(tick_binary)
                .arg("--config")
                .arg(config)
                .args(["--json", "-q", "tick", "--now", &now])
                .env("TZ", "UTC")
                .stdin(Stdio::null())
                .output();
            let secs = t0.elapsed().as_secs_f64();
            tally.ticks += 1;
            let domain = config.parent().and_then(|d| d.file_name()).map(|d| d.to_string_lossy().into_owned());
            let domain = domain.unwrap_or_default();
            match &out {
                Ok(out) if out.status.success() => {
                    let decision: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
                    if matches!(decision["action"].as_str(), Some("release" | "acquire")) {
                        edge_secs += secs;
                    }
                }
                Ok(out) => tally.failed.push(format!(
                    "{now} ftl-window tick on {domain}: exit {}: {}",
                    out.status.code().unwrap_or(-1),
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(e) => tally.failed.push(format!("{now} ftl-window tick on {domain}: {e}")),
            }
            tally.checks += 1;
            match check(lib, &mut last_epoch) {
                Ok(now_owner) => {
                    if now_owner.is_some() && now_owner != owner {
                        tally.handovers += 1;
                        tally.handover_secs.push(edge_secs);
                        edge_secs = 0.0;
                    }
                    owner = now_owner;
                }
                Err(v) => tally.violations.push(format!("after {now} tick on {domain}: {v}")),
            }
        }
    }
    tally.secs = start.elapsed().as_secs_f64();
    tally.epoch = last_epoch;
    match lib.store.history(usize::MAX) {
        Ok((entries, skipped)) => {
            let epochs: Vec<u64> = entries.iter().filter(|e| e.event != "force not done").map(|e| e.epoch).collect();
            tally.transitions = epochs.len();
            if skipped > 0 || epochs != (1..=last_epoch).collect::<Vec<_>>() {
                tally.violations.push(format!(
                    "the journal is not contiguous up to epoch {last_epoch}: epochs {epochs:?}, {skipped} unreadable"
                ));
            }
        }
        Err(e) => tally.violations.push(format!("cannot read the journal: {e}")),
    }
    tally
}

/// The checks after a tick: the owner the record names, or what is wrong.
fn check(lib: &Library, last_epoch: &mut u64) -> Result<Option<String>, String> {
    use ftl::ledger::record::State;
    let record = lib.store.read().map_err(|e| format!("cannot read the record: {e}"))?;
    if record.library != lib.name {
        return Err(format!("the record under {} names library {}", lib.prefix, record.library));
    }
    if record.epoch < *last_epoch {
        return Err(format!("the epoch went back from {last_epoch} to {}", record.epoch));
    }
    *last_epoch = record.epoch;
    for d in &lib.domains {
        if let Some(holder) = lib.store.running(d).map_err(|e| format!("cannot read {d}'s run lock: {e}"))? {
            return Err(format!("a sequence of {d} still holds its run lock after its tick: {holder}"));
        }
    }
    let p = lib.site.read()?;
    let up: Vec<&String> =
        p.domains.iter().filter(|(_, d)| d.control.iter().any(|c| c == "UP")).map(|(name, _)| name).collect();
    let board = p.board.domain.clone();
    match &record.state {
        State::Owned { owner } => {
            if board.as_deref() != Some(owner.as_str()) {
                return Err(format!(
                    "the record (epoch {}) says owned by {owner}, the board is {}",
                    record.epoch,
                    board.map(|b| format!("in {b}")).unwrap_or_else(|| "in no domain".into())
                ));
            }
            if up.iter().any(|d| *d != owner) {
                return Err(format!("two owners: {owner} owns the library, and drives are up in {up:?}"));
            }
            Ok(Some(owner.clone()))
        }
        State::Free => {
            if let Some(b) = board {
                return Err(format!("the record (epoch {}) says free, the board is in {b}", record.epoch));
            }
            if !up.is_empty() {
                return Err(format!("the library is free, and drives are up in {up:?}"));
            }
            Ok(None)
        }
        other => {
            Err(format!("a hand-over is left in flight: the record (epoch {}) says {}", record.epoch, other.name()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A library on a directory ledger (the checks read it through `dyn Store` like any other).
    fn library(dir: &Path) -> Library {
        let domains: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
        let options = InitOptions {
            domains: domains.clone(),
            speed: 1000.0,
            windows: Some(windows(3)),
            ..InitOptions::default()
        };
        let site = site::init(&dir.join("site"), &options).unwrap();
        let configs: Vec<PathBuf> = domains.iter().map(|d| site.config_path(d)).collect();
        let store = ftl::ledger::open(&ftl::config::Config::load(&configs[0]).unwrap()).unwrap();
        Library { name: "L3500".into(), site, domains, configs, store, prefix: "dir".into() }
    }

    #[test]
    fn the_checks_catch_a_board_elsewhere_and_two_owners() {
        let dir = assert_fs::TempDir::new().unwrap();
        let lib = library(dir.path());
        let mut epoch = 0;
        assert_eq!(check(&lib, &mut epoch), Ok(Some("a".to_string())));
        assert_eq!(epoch, 1);
        lib.site.update(|p| p.board.domain = Some("b".into())).unwrap();
        let err = check(&lib, &mut epoch).unwrap_err();
        assert!(err.contains("owned by a, the board is in b"), "{err}");
        lib.site.update(|p| p.board.domain = Some("a".into())).unwrap();
        lib.site.update(|p| p.domains.get_mut("c").unwrap().control[0] = "UP".into()).unwrap();
        let err = check(&lib, &mut epoch).unwrap_err();
        assert!(err.contains("two owners") && err.contains("\"c\""), "{err}");
        let mut later = 5;
        assert!(check(&lib, &mut later).unwrap_err().contains("went back from 5 to 1"));
    }

    #[test]
    fn three_windows_split_the_day_and_their_edges_are_in_order() {
        assert_eq!(windows(3), ["Mon-Sun 00:00-07:00", "Mon-Sun 08:00-15:00", "Mon-Sun 16:00-23:00"]);
        let e = edges(3, 2);
        // Per day: 00:00 07:00 07:30 08:00 15:00 15:30 16:00 23:00 23:30.
        assert_eq!(e.len(), 18);
        assert_eq!(e[0].to_rfc3339(), "2031-03-03T00:00:00+00:00");
        assert_eq!(e[8].to_rfc3339(), "2031-03-03T23:30:00+00:00");
        assert!(e.windows(2).all(|w| w[0] < w[1]));
    }
}
