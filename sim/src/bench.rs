//! `ftl-sim bench`: the figures of README's "Performance" section, measured in one run on this
//! machine against fresh simulated sites, with the release binaries that sit next to ftl-sim.
//!
//! - the `bpstart_notify` fast path (library here): median and p99 of 1,000 runs, against
//!   spawning `/bin/true` in the same loop;
//! - 64 start hooks at once while the library is elsewhere: wall time, and how many acquire
//!   sequences they started (counted as `addboard` calls once the owner released);
//! - a hand-over (release + acquire) at a fixed speed: wall time, the critical path computed
//!   from the fake commands' own durations (sequential commands plus the slowest drive of each
//!   parallel group), their ratio, and the blueprint's serial procedure on an identical site;
//! - `ftl-status --json` on a journal of 10 lines and of 1,000,000 lines, in turns;
//! - the size of each product binary, and whether it is static.
//!
//! A figure that misses its goal is printed as a `WARNING:` line (and listed in `missed_goals`
//! of the JSON).

use crate::site::{self, InitOptions};
use ftl::clock::SystemClock;
use ftl::exec::SystemRunner;
use ftl::runbook::acquire::{self, AcquireOptions};
use ftl::runbook::progress::Silent;
use ftl::runbook::release::{self, ReleaseOptions};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const PRODUCT: &[&str] = &["ftl-acquire", "ftl-release", "ftl-status", "ftl-notify", "ftl-window"];
const HANDOVER_SPEED: f64 = 100.0;

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch() -> Scratch {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    Scratch(std::env::temp_dir().join(format!("ftl-bench-{}-{stamp}", std::process::id())))
}

fn bin_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe.parent().ok_or("ftl-sim has no directory")?.to_path_buf();
    for b in PRODUCT {
        if !dir.join(b).exists() {
            return Err(format!(
                "{} is missing next to ftl-sim: build everything first (cargo build --release), then run {}/ftl-sim bench",
                dir.join(b).display(),
                dir.display()
            ));
        }
    }
    Ok(dir)
}

fn quiet(mut c: Command) -> Command {
    c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    c
}

fn time_one(c: &mut Command) -> Result<Duration, String> {
    let t0 = Instant::now();
    let status = c.status().map_err(|e| e.to_string())?;
    let elapsed = t0.elapsed();
    if !status.success() {
        return Err(format!("{c:?} failed ({status})"));
    }
    Ok(elapsed)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn fast_path(bins: &Path, runs: usize) -> Result<Value, String> {
    let dir = scratch();
    let site = site::init(&dir.0.join("site"), &InitOptions { speed: 1000.0, ..InitOptions::default() })?;
    let hook = dir.0.join("bpstart_notify");
    std::os::unix::fs::symlink(bins.join("ftl-notify"), &hook).map_err(|e| e.to_string())?;
    let config = site.config_path("marmaduke");
    let mut hooks = Vec::with_capacity(runs);
    let mut trues = Vec::with_capacity(runs);
    for _ in 0..runs {
        let mut c = quiet(Command::new(&hook));
        c.args(["db1", "daily", "incr", "INCR"]).env_clear().env("FTL_CONFIG", &config);
        hooks.push(time_one(&mut c)?);
        trues.push(time_one(&mut quiet(Command::new("/bin/true")))?);
    }
    hooks.sort();
    trues.sort();
    let calls = site.calls().len();
    Ok(json!({
        "runs": runs,
        "hook_median_ms": ms(percentile(&hooks, 0.5)),
        "hook_p99_ms": ms(percentile(&hooks, 0.99)),
        "true_median_ms": ms(percentile(&trues, 0.5)),
        "true_p99_ms": ms(percentile(&trues, 0.99)),
        "ratio_median": percentile(&hooks, 0.5).as_secs_f64() / percentile(&trues, 0.5).as_secs_f64(),
        "commands_run": calls,
    }))
}

fn concurrent_hooks(bins: &Path, hooks: usize) -> Result<Value, String> {
    let dir = scratch();
    let site = site::init(&dir.0.join("site"), &InitOptions { speed: 1000.0, ..InitOptions::default() })?;
    let hook = dir.0.join("bpstart_notify");
    std::os::unix::fs::symlink(bins.join("ftl-notify"), &hook).map_err(|e| e.to_string())?;
    let config = site.config_path("flinstones");
    let t0 = Instant::now();
    let children: Vec<_> = (0..hooks)
        .map(|i| {
            let mut c = quiet(Command::new(&hook));
            c.args([format!("client{i}").as_str(), "daily", "incr", "INCR"]).env_clear().env("FTL_CONFIG", &config);
            c.spawn().map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let mut codes = Vec::new();
    for mut child in children {
        codes.push(child.wait().map_err(|e| e.to_string())?.code());
    }
    let wall = t0.elapsed();
    // The owner's window ends: it releases, and the one background acquire takes the library.
    let owner = ftl::cli::Setup::load(&site.config_path("marmaduke"), None).map_err(|e| e.to_string())?;
    release::release(
        &owner.context(&SystemRunner, &SystemClock, &Silent),
        &ReleaseOptions { if_idle: true, force: None },
    )
    .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while owner.ledger.read().map_err(|e| e.to_string())?.state.owner() != Some("flinstones") {
        if Instant::now() > deadline {
            return Err("the background acquire did not take the library within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let sequences = site.calls().iter().filter(|c| c["command"] == "addboard").count();
    Ok(json!({
        "hooks": hooks,
        "wall_ms": ms(wall),
        "all_exited_3": codes.iter().all(|c| *c == Some(3)),
        "acquire_sequences": sequences,
    }))
}

/// Sequential calls plus, for each run of per-drive calls, the slowest drive.
pub fn critical_path(calls: &[Value]) -> f64 {
    let mut total = 0.0;
    let mut lanes: std::collections::BTreeMap<String, f64> = std::collections::BTreeMap::new();
    let flush = |lanes: &mut std::collections::BTreeMap<String, f64>, total: &mut f64| {
        *total += lanes.values().cloned().fold(0.0, f64::max);
        lanes.clear();
    };
    for c in calls {
        let command = c["command"].as_str().unwrap_or_default();
        let args: Vec<&str> =
            c["args"].as_array().map(|a| a.iter().filter_map(|x| x.as_str()).collect()).unwrap_or_default();
        let secs = c["secs"].as_f64().unwrap_or(0.0);
        let lane = match (command, args.as_slice()) {
            ("vmoprcmd", ["-down" | "-up", i]) => Some(format!("{command}{i}")),
            ("mt", ["-f", dev, ..]) => Some(dev.to_string()),
            _ => None,
        };
        match lane {
            Some(l) => *lanes.entry(l).or_insert(0.0) += secs,
            None => {
                flush(&mut lanes, &mut total);
                total += secs;
            }
        }
    }
    flush(&mut lanes, &mut total);
    total
}

fn handover(seed: u64) -> Result<Value, String> {
    let dir = scratch();
    let site = site::init(&dir.0.join("site"), &InitOptions { speed: HANDOVER_SPEED, seed, ..InitOptions::default() })?;
    let load = |d: &str| ftl::cli::Setup::load(&site.config_path(d), None).map_err(|e| e.to_string());
    let (m, f) = (load("marmaduke")?, load("flinstones")?);
    let t0 = Instant::now();
    release::release(&m.context(&SystemRunner, &SystemClock, &Silent), &ReleaseOptions::default())
        .map_err(|e| e.to_string())?;
    acquire::acquire(&f.context(&SystemRunner, &SystemClock, &Silent), &AcquireOptions::default())
        .map_err(|e| e.to_string())?;
    let wall = t0.elapsed().as_secs_f64();
    let mut calls = site.calls();
    calls.sort_by(|a, b| a["at"].as_str().cmp(&b["at"].as_str()));
    let critical = critical_path(&calls);

    let dir2 = scratch();
    let serial_site =
        site::init(&dir2.0.join("site"), &InitOptions { speed: HANDOVER_SPEED, seed, ..InitOptions::default() })?;
    let t0 = Instant::now();
    serial_procedure(&serial_site)?;
    let serial = t0.elapsed().as_secs_f64();
    let p = serial_site.read()?;
    if !p.board_in("flinstones") {
        return Err("the serial procedure did not move the board".into());
    }
    Ok(json!({
        "speed": HANDOVER_SPEED,
        "drives": 7,
        "wall_s": wall,
        "critical_path_s": critical,
        "ratio": wall / critical,
        "serial_procedure_s": serial,
        "speedup_over_serial": serial / wall,
        "real_platform_minutes": wall * HANDOVER_SPEED / 60.0,
        "real_serial_minutes": serial * HANDOVER_SPEED / 60.0,
    }))
}

/// The blueprint's manual procedure, one command at a time, as an operator types it.
fn serial_procedure(site: &crate::platform::Site) -> Result<(), String> {
    let run = |who: &str, name: &str, args: &[&str], domain: Option<&str>| -> Result<String, String> {
        let mut c = Command::new(site.dir.join(who).join("bin").join(name));
        c.args(args).stdin(Stdio::null());
        if let Some(d) = domain {
            c.env("SUNW_HOSTNAME", d);
        }
        let out = c.output().map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let empty = String::from_utf8_lossy(&out.stderr).contains("no tape loaded");
        // `showusage -s` reports the board's state as its exit status.
        if !out.status.success() && !empty && name != "showusage" {
            return Err(format!("{name} {args:?}: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(text)
    };
    let sg_id = |domain: &str| -> Result<String, String> {
        let out = run(domain, "modinfo", &[], None)?;
        ftl::os::parse_modinfo(&out, "sg")?.map(|id| id.to_string()).ok_or_else(|| "sg is not loaded".to_string())
    };
    let drives: Vec<String> = (0..7).map(|i| i.to_string()).collect();
    for i in &drives {
        run("marmaduke", "vmoprcmd", &["-down", i], None)?;
    }
    run("marmaduke", "netbackup-stop", &["stop"], None)?;
    for i in &drives {
        let dev = format!("/dev/rmt/{i}");
        run("marmaduke", "mt", &["-f", &dev, "rewind"], None)?;
        run("marmaduke", "mt", &["-f", &dev, "status"], None)?;
    }
    let id = sg_id("marmaduke")?;
    run("marmaduke", "modunload", &["-i", &id], None)?;
    run("controller", "showusage", &["-b", "7", "-s"], Some("marmaduke"))?;
    run("controller", "deleteboard", &["-b", "7"], Some("marmaduke"))?;
    run("flinstones", "netbackup-stop", &["stop"], None)?;
    let id = sg_id("flinstones")?;
    run("flinstones", "modunload", &["-i", &id], None)?;
    run("controller", "addboard", &["-d", "flinstones", "-b", "7"], Some("flinstones"))?;
    run("flinstones", "modload", &["/kernel/drv/sg"], None)?;
    run("flinstones", "netbackup-start", &["start"], None)?;
    for i in &drives {
        run("flinstones", "vmoprcmd", &["-up", i], None)?;
    }
    Ok(())
}

/// The two journals are measured in turns (10 lines, 1,000,000 lines, 10, ...), so that a change
/// in the machine's load during the run weighs on both alike.
fn status_history(bins: &Path, runs: usize) -> Result<Value, String> {
    let mut sites = Vec::new();
    for lines in [10usize, 1_000_000] {
        let dir = scratch();
        let site = site::init(&dir.0.join("site"), &InitOptions { speed: 1000.0, ..InitOptions::default() })?;
        let journal = site.ledger_dir().join(ftl::ledger::dir::JOURNAL_FILE);
        let first = std::fs::read_to_string(&journal).map_err(|e| e.to_string())?;
        let line = first.lines().next().ok_or("the new ledger has no journal line")?.to_string();
        let mut text = String::with_capacity((line.len() + 1) * lines);
        for _ in 0..lines {
            text.push_str(&line);
            text.push('\n');
        }
        std::fs::write(&journal, text).map_err(|e| e.to_string())?;
        sites.push((dir, site, Vec::with_capacity(runs)));
    }
    for _ in 0..runs {
        for (_, site, times) in sites.iter_mut() {
            let mut c = quiet(Command::new(bins.join("ftl-status")));
            c.arg("--config").arg(site.config_path("marmaduke")).arg("--json");
            times.push(time_one(&mut c)?);
        }
    }
    let medians: Vec<(usize, Duration)> = sites
        .iter_mut()
        .zip([10usize, 1_000_000])
        .map(|((_, _, times), lines)| {
            times.sort();
            (lines, percentile(times, 0.5))
        })
        .collect();
    Ok(json!({
        "runs": runs,
        "median_ms_10_lines": ms(medians[0].1),
        "median_ms_1000000_lines": ms(medians[1].1),
        "ratio": medians[1].1.as_secs_f64() / medians[0].1.as_secs_f64(),
    }))
}

/// Whether an ELF file has no program interpreter (PT_INTERP): statically linked.
pub fn is_static(path: &Path) -> Result<bool, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        return Err(format!("{} is not a 64-bit ELF file", path.display()));
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap_or([0; 8])) as usize;
    let (phoff, phentsize, phnum) = (u64_at(32), u16_at(54), u16_at(56));
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        if at + 4 > bytes.len() {
            return Err(format!("{}: truncated program headers", path.display()));
        }
        if u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or([0; 4])) == 3 {
            return Ok(false);
        }
    }
    Ok(true)
}

fn sizes(bins: &Path) -> Result<Value, String> {
    let mut out = serde_json::Map::new();
    for b in PRODUCT.iter().chain(["ftl-sim"].iter()) {
        let path = bins.join(b);
        let size = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?.len();
        out.insert(
            b.to_string(),
            json!({ "bytes": size, "mib": size as f64 / 1048576.0, "static": is_static(&path)? }),
        );
    }
    Ok(Value::Object(out))
}

/// Every figure that misses its goal, in words (empty when all are met).
pub fn missed_goals(all: &Value) -> Vec<String> {
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let mut missed = Vec::new();
    let mut goal = |met: bool, what: String| {
        if !met {
            missed.push(what);
        }
    };
    let ratio = num(&all["hook_fast_path"]["ratio_median"]);
    goal(ratio <= 2.0, format!("bpstart_notify fast path: ratio {ratio:.2}, goal <= 2"));
    let c = &all["concurrent_hooks"];
    goal(
        c["acquire_sequences"] == 1 && c["all_exited_3"] == true,
        format!(
            "64 concurrent start hooks: {} acquire sequence(s), all exited 3: {}; goal 1 and true",
            c["acquire_sequences"], c["all_exited_3"]
        ),
    );
    let ratio = num(&all["handover"]["ratio"]);
    goal(ratio <= 1.10, format!("hand-over: ratio {ratio:.3} to the critical path, goal <= 1.10"));
    let ratio = num(&all["status"]["ratio"]);
    goal(
        ratio <= 1.2,
        format!("ftl-status --json: ratio {ratio:.2} (1,000,000 against 10 journal lines), goal <= 1.2"),
    );
    for b in PRODUCT {
        let v = &all["sizes"][b];
        let mib = num(&v["mib"]);
        goal(
            mib <= 2.0 && v["static"] == true,
            format!("{b}: {mib:.3} MiB, static: {}; goal <= 2 MiB, static", v["static"]),
        );
    }
    missed
}

pub fn run(json: bool) -> Result<(), String> {
    let bins = bin_dir()?;
    let say = |what: &str| {
        if !json {
            crate::errln!("bench: {what} ...");
        }
    };
    say("hook fast path, 1,000 runs");
    let fast = fast_path(&bins, 1000)?;
    say("64 concurrent start hooks");
    let concurrent = concurrent_hooks(&bins, 64)?;
    say(&format!("hand-over at speed {HANDOVER_SPEED}, and the serial procedure"));
    let hand = handover(1)?;
    say("ftl-status on 10 and 1,000,000 journal lines");
    let status = status_history(&bins, 200)?;
    let sizes = sizes(&bins)?;
    let machine = json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "cpu": std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default().lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).unwrap_or("").trim(),
        "binaries": bins.display().to_string(),
    });
    let mut all = json!({ "machine": machine, "hook_fast_path": fast, "concurrent_hooks": concurrent, "handover": hand, "status": status, "sizes": sizes });
    let missed = missed_goals(&all);
    all["missed_goals"] = missed.clone().into();
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        return Ok(());
    }
    let f = &all["hook_fast_path"];
    crate::outln!(
        "machine: {} cpus, {}, Linux {}",
        machine["cpus"],
        machine["cpu"].as_str().unwrap_or(""),
        machine["kernel"].as_str().unwrap_or("")
    );
    crate::outln!("binaries: {}", machine["binaries"].as_str().unwrap_or(""));
    crate::outln!(
        "bpstart_notify fast path ({} runs): median {} ms, p99 {} ms; /bin/true median {} ms, p99 {} ms; ratio {:.2} (goal <= 2); commands run: {}",
        f["runs"], f["hook_median_ms"], f["hook_p99_ms"], f["true_median_ms"], f["true_p99_ms"], f["ratio_median"].as_f64().unwrap_or(0.0), f["commands_run"]
    );
    let c = &all["concurrent_hooks"];
    crate::outln!(
        "64 concurrent start hooks: {} ms wall, all exited 3: {}, acquire sequences started: {} (must be 1)",
        c["wall_ms"],
        c["all_exited_3"],
        c["acquire_sequences"]
    );
    let h = &all["handover"];
    crate::outln!(
        "hand-over (release + acquire, 7 drives, speed {}): {:.2} s wall, critical path {:.2} s, ratio {:.3} (goal <= 1.10); serial procedure {:.2} s, speed-up {:.2}x; on the real platform about {:.1} min against {:.1} min",
        h["speed"], h["wall_s"].as_f64().unwrap_or(0.0), h["critical_path_s"].as_f64().unwrap_or(0.0), h["ratio"].as_f64().unwrap_or(0.0),
        h["serial_procedure_s"].as_f64().unwrap_or(0.0), h["speedup_over_serial"].as_f64().unwrap_or(0.0), h["real_platform_minutes"].as_f64().unwrap_or(0.0), h["real_serial_minutes"].as_f64().unwrap_or(0.0)
    );
    let s = &all["status"];
    crate::outln!(
        "ftl-status --json: median {} ms with 10 journal lines, {} ms with 1,000,000; ratio {:.2} (goal <= 1.2)",
        s["median_ms_10_lines"],
        s["median_ms_1000000_lines"],
        s["ratio"].as_f64().unwrap_or(0.0)
    );
    crate::outln!("binary sizes (goal: each product binary <= 2 MiB, static):");
    for (name, v) in all["sizes"].as_object().into_iter().flatten() {
        crate::outln!(
            "  {name:<12} {:>9} bytes  {:.3} MiB  static: {}",
            v["bytes"],
            v["mib"].as_f64().unwrap_or(0.0),
            v["static"]
        );
    }
    for m in &missed {
        crate::outln!("WARNING: missed its goal: {m}");
    }
    if missed.is_empty() {
        crate::outln!("every figure meets its goal");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_that_misses_its_goal_is_named() {
        let mut all = json!({
            "hook_fast_path": { "ratio_median": 1.4 },
            "concurrent_hooks": { "acquire_sequences": 1, "all_exited_3": true },
            "handover": { "ratio": 1.03 },
            "status": { "ratio": 0.98 },
            "sizes": {},
        });
        for b in PRODUCT {
            all["sizes"][b] = json!({ "mib": 1.9, "static": true });
        }
        assert_eq!(missed_goals(&all), Vec::<String>::new());
        all["status"]["ratio"] = json!(1.5);
        all["sizes"]["ftl-window"]["mib"] = json!(2.01);
        let missed = missed_goals(&all);
        assert_eq!(missed.len(), 2, "{missed:?}");
        assert!(missed[0].contains("ftl-status") && missed[1].contains("ftl-window"), "{missed:?}");
    }

    #[test]
    fn critical_path_takes_the_slowest_drive_of_each_parallel_group() {
        let call = |command: &str, args: &[&str], secs: f64| json!({ "command": command, "args": args, "secs": secs });
        let calls = vec![
            call("vmoprcmd", &["-down", "0"], 0.01),
            call("vmoprcmd", &["-down", "1"], 0.01),
            call("vmoprcmd", &["-d", "ds"], 0.005),
            call("mt", &["-f", "/dev/rmt/0", "rewind"], 1.0),
            call("mt", &["-f", "/dev/rmt/1", "rewind"], 0.2),
            call("mt", &["-f", "/dev/rmt/1", "status"], 0.005),
            call("mt", &["-f", "/dev/rmt/0", "status"], 0.005),
            call("deleteboard", &["-b", "7"], 0.9),
        ];
        let expected = 0.01 + 0.005 + 1.005 + 0.9;
        assert!((critical_path(&calls) - expected).abs() < 1e-9, "{}", critical_path(&calls));
    }

    #[test]
    fn the_running_test_binary_is_not_static_but_is_elf() {
        let exe = std::env::current_exe().unwrap();
        assert!(is_static(&exe).is_ok());
        assert!(is_static(Path::new("/etc/hostname")).is_err());
    }
}
