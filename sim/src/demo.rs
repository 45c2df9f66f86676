//! `ftl-sim demo`: a complete rehearsal on a fresh site. marmaduke's window ends and it releases
//! the library once flinstones' claim begins, flinstones acquires it; then the library goes back.
//! Each hand-over is decided and run by the window scheduler's production code (`ftl::tick::tick`:
//! the policy, then the release and acquire runbooks with the real command runner), deciding for
//! each boundary minute, against the fake commands, and the time line is printed as it happens.

use crate::platform::{Module, Running, Site};
use crate::site::{self, InitOptions, Kind, LedgerChoice};
use chrono::TimeZone;
use ftl::cli::Setup;
use ftl::clock::SystemClock;
use ftl::exec::SystemRunner;
use ftl::policy::Decision;
use ftl::runbook::progress::StepInfo;
use ftl::runbook::Progress;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Prints each step to stdout as it ends, with the time since the demo began.
struct Timeline {
    start: Instant,
    json: bool,
    lines: Mutex<Vec<serde_json::Value>>,
}

impl Progress for Timeline {
    fn step_started(&self, _: &StepInfo, _: usize) {}

    fn step_finished(&self, s: &StepInfo, elapsed: Duration, outcome: Result<&str, &str>) {
        let at = self.start.elapsed().as_secs_f64();
        let (ok, text) = match outcome {
            Ok(t) => (true, t),
            Err(t) => (false, t),
        };
        let (domain, id, name) = (s.domain, s.id, s.name);
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).push(serde_json::json!({
            "at": at, "domain": domain, "operation": s.operation, "step": id, "name": name,
            "secs": elapsed.as_secs_f64(), "ok": ok, "result": text, "epoch": s.epoch,
        }));
        if !self.json {
            let secs = elapsed.as_secs_f64();
            crate::outln!(
                "  {at:>6.1}s  {domain:<11} {id:<3} {name:<40} {secs:>6.2}s  {}{text}",
                if ok { "" } else { "FAILED: " }
            );
            let _ = std::io::stdout().flush();
        }
    }

    fn note(&self, text: &str) {
        if !self.json {
            crate::outln!("          {text}");
        }
    }
}

fn temp_site_dir() -> PathBuf {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    std::env::temp_dir().join(format!("ftl-sim-demo-{}-{stamp}", std::process::id()))
}

pub fn run(speed: f64, keep: Option<PathBuf>, json: bool, platform: Kind, ledger: LedgerChoice) -> Result<(), String> {
    let dir = keep.clone().unwrap_or_else(temp_site_dir);
    // On etcd, the demo's keys go under a prefix of their own, so that a demo never meets the
    // record of an earlier one (or of a real library) and can remove what it made.
    let ledger = match ledger {
        LedgerChoice::Dir => LedgerChoice::Dir,
        LedgerChoice::Etcd(mut etcd) => {
            let stamp =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
            etcd.prefix = Some(format!("/ftl-sim/demo-{}-{stamp}/L3500", std::process::id()));
            LedgerChoice::Etcd(etcd)
        }
    };
    let options = InitOptions { speed, platform, ledger, ..InitOptions::default() };
    let site = site::init(&dir, &options)?;
    let result = rehearse(&site, &options, json);
    if let (LedgerChoice::Etcd(etcd), None) = (&options.ledger, &keep) {
        let prefix = options.ledger.prefix(&options.library).unwrap_or_default();
        if let Err(e) = ftl::ledger::etcd_cluster::delete_prefix(&etcd.endpoints, &prefix) {
            crate::errln!("ftl-sim demo: could not remove the demo's etcd keys {prefix}/*: {e}");
        }
    }
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&site.dir);
    } else if !json {
        crate::outln!(
            "\nThe site is kept in {}; try `ftl-status --config {}/marmaduke/ftl.toml --history 30`.",
            site.dir.display(),
            site.dir.display()
        );
    }
    result
}

fn rehearse(site: &Site, options: &InitOptions, json: bool) -> Result<(), String> {
    let speed = options.speed;
    let timeline = Timeline { start: Instant::now(), json, lines: Mutex::new(Vec::new()) };
    let p = site.read()?;
    let load = |d: &str| Setup::load(&site.config_path(d), None).map_err(|e| e.to_string());
    let (marmaduke, flinstones) = (load("marmaduke")?, load("flinstones")?);
    if !json {
        match &p.libvirt {
            Some(lv) => {
                crate::outln!("ftl demo: a simulated KVM site in {}", site.dir.display());
                crate::outln!(
                    "  library L3500, {} LTO-4 drives behind the HBA {}, in guest marmaduke; speed x{speed}",
                    p.drives.len(),
                    lv.pci
                );
            }
            None => {
                crate::outln!("ftl demo: a simulated E10000 site in {}", site.dir.display());
                crate::outln!(
                    "  library L3500, {} DLT7000 drives on board {}, owned by marmaduke; speed x{speed}",
                    p.drives.len(),
                    p.board.id
                );
            }
        }
        match (&options.ledger, options.ledger.prefix(&options.library)) {
            (LedgerChoice::Etcd(etcd), Some(prefix)) => {
                crate::outln!("  ledger: etcd {} under {prefix}", etcd.endpoints.join(","))
            }
            _ => crate::outln!("  ledger: the directory {}", site.ledger_dir().display()),
        }
        crate::outln!("  windows: marmaduke Mon-Sun 20:00-01:00, flinstones Mon-Sun 02:00-07:00\n");
    }
    // The window scheduler drives the rehearsal: at each boundary of a claim, every domain's
    // `ftl-window tick` decides for that minute (UTC here, so the demo reads the same everywhere)
    // and acts; the holder lets go only when another domain's claim has begun.
    let day = chrono::Utc::now().date_naive();
    let at = |h: u32, m: u32| chrono::Utc.from_utc_datetime(&day.and_hms_opt(h, m, 0).expect("a valid time"));
    let plan = [
        (at(1, 0), "marmaduke's window (20:00-01:00) has ended; nobody else claims the library yet"),
        (at(1, 30), "flinstones' window opens at 02:00, less the 30 min lead: its claim begins"),
        (at(7, 0), "flinstones' window (02:00-07:00) has ended; nobody else claims the library yet"),
        (at(19, 30), "marmaduke's window opens at 20:00, less the 30 min lead: its claim begins"),
    ];
    let mut ticks = Vec::new();
    for (time, why) in plan {
        if !json {
            crate::outln!("{} UTC  {why}", time.format("%H:%M"));
        }
        // Twice round: a release and the acquire it makes way for happen in the same minute.
        for setup in [&marmaduke, &flinstones, &marmaduke, &flinstones] {
            let ctx = setup.context(&SystemRunner, &SystemClock, &timeline);
            let t0 = Instant::now();
            let (decision, outcome) = ftl::tick::tick(&ctx, time, &chrono::Utc).map_err(|e| e.to_string())?;
            let secs = t0.elapsed().as_secs_f64();
            if matches!(decision, Decision::Nothing { .. } | Decision::Keep { .. }) {
                continue;
            }
            if !json {
                crate::outln!("  ftl-window tick on {}: {}: {}", setup.domain, decision.action(), decision.why());
                crate::outln!("  => {outcome} ({secs:.1}s)\n");
            }
            ticks.push(serde_json::json!({ "at": time, "domain": setup.domain, "decision": decision, "outcome": outcome, "secs": secs }));
        }
    }
    let handovers = ticks.iter().filter(|t| t["decision"]["action"] == "acquire").count();
    if handovers != 2 {
        return Err(format!("the rehearsal made {handovers} hand-overs, not 2: {ticks:?}"));
    }

    let p = site.read()?;
    let m = p.domain("marmaduke")?;
    let record = marmaduke.ledger.read().map_err(|e| e.to_string())?;
    let healthy = p.board_in("marmaduke")
        && m.netbackup == Running::Running
        && m.sg == Module::Loaded
        && m.control.iter().all(|c| c == "UP")
        && record.state.owner() == Some("marmaduke")
        && p.libvirt.as_ref().is_none_or(|lv| lv.probe_at.is_none() && lv.present.iter().all(|h| *h));
    let total: f64 = ticks.iter().filter_map(|t| t["secs"].as_f64()).sum();
    if json {
        let lines = timeline.lines.lock().unwrap_or_else(|e| e.into_inner()).clone();
        crate::outln!(
            "{}",
            serde_json::json!({ "timeline": lines, "ticks": ticks, "total_secs": total, "speed": speed, "healthy": healthy, "epoch": record.epoch, "ledger": marmaduke.ledger.location() })
        );
    } else {
        crate::outln!(
            "summary: 2 hand-overs in {total:.1}s at speed x{speed} (about {:.0} min on the real platform)",
            total * speed / 60.0
        );
        let (what, devices) = match &p.libvirt {
            Some(_) => ("the HBA is back in marmaduke", "its tape and changer devices present"),
            None => ("the board is back in marmaduke", "sg loaded"),
        };
        crate::outln!(
            "  {what}, NetBackup running, {devices}, drives {}; ledger epoch {}",
            m.control.join(" "),
            record.epoch
        );
    }
    if healthy {
        Ok(())
    } else {
        Err(format!("the rehearsal did not end where it should:\n{}", crate::cli::describe(&p)))
    }
}
