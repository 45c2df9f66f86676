//! Helpers for the integration tests in `tests/it/`: where the binaries under test are, a
//! scrubbed environment to run them in, and small sites (a configuration and a ledger directory)
//! in temporary directories. Every test builds its own site; nothing is shared between tests.
//!
//! The binaries are the ones Cargo built for this very test run (`CARGO_BIN_EXE_*`): a stale
//! binary can never pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary `name` that Cargo built for this test run.
pub fn bin(name: &str) -> PathBuf {
    PathBuf::from(match name {
        "ftl-acquire" => env!("CARGO_BIN_EXE_ftl-acquire"),
        "ftl-release" => env!("CARGO_BIN_EXE_ftl-release"),
        "ftl-status" => env!("CARGO_BIN_EXE_ftl-status"),
        "ftl-notify" => env!("CARGO_BIN_EXE_ftl-notify"),
        "ftl-window" => env!("CARGO_BIN_EXE_ftl-window"),
        "ftl" => env!("CARGO_BIN_EXE_ftl"),
        "ftl-sim" => env!("CARGO_BIN_EXE_ftl-sim"),
        other => panic!("`{other}` is not a binary of this workspace"),
    })
}

/// A command for binary `name` with a scrubbed environment (only PATH kept).
pub fn cmd(name: &str) -> Command {
    let mut c = Command::new(bin(name));
    c.env_clear();
    c.env("PATH", std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()));
    c.stdin(std::process::Stdio::null());
    c
}

pub fn run(mut c: impl std::borrow::BorrowMut<Command>) -> Output {
    c.borrow_mut().output().expect("the binary runs")
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The smallest valid configuration, with its ledger in `ledger_dir`.
pub fn minimal_config(ledger_dir: &Path) -> String {
    format!(
        r#"domain = "marmaduke"
[library]
name = "L3500"
[ledger]
dir = "{}"
[board]
id = 7
[[drives]]
index = 0
device = "/dev/rmt/0"
[[drives]]
index = 1
device = "/dev/rmt/1"
[domains.marmaduke]
windows = ["Mon-Sun 20:00-01:00"]
[domains.flinstones]
windows = ["Mon-Sun 02:00-07:00"]
[controller]
profile = "starfire"
"#,
        ledger_dir.display()
    )
}

/// A temporary directory with `ftl.toml` (the minimal configuration) and an empty `ledger/`.
pub struct MiniSite {
    pub dir: assert_fs::TempDir,
}

impl MiniSite {
    pub fn new() -> MiniSite {
        let dir = assert_fs::TempDir::new().unwrap();
        std::fs::create_dir(dir.path().join("ledger")).unwrap();
        let site = MiniSite { dir };
        site.write_config(&minimal_config(&site.ledger()));
        site
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("ftl.toml")
    }

    pub fn ledger(&self) -> PathBuf {
        self.dir.path().join("ledger")
    }

    pub fn state(&self) -> PathBuf {
        self.ledger().join("state.json")
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config(), text).unwrap();
        std::fs::set_permissions(self.config(), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    }

    /// `name` with `--config` pointing at this site.
    pub fn cmd(&self, name: &str) -> Command {
        let mut c = cmd(name);
        c.arg("--config").arg(self.config());
        c
    }
}

impl Default for MiniSite {
    fn default() -> Self {
        MiniSite::new()
    }
}

/// A simulated site made by `ftl-sim init` in a temporary directory.
pub struct SimSite {
    pub dir: assert_fs::TempDir,
}

impl SimSite {
    /// A default site (marmaduke owns, flinstones waits, 7 drives) at near-instant speed.
    pub fn new() -> SimSite {
        SimSite::with_args(&["--speed", "1000"])
    }

    pub fn with_args(args: &[&str]) -> SimSite {
        let dir = assert_fs::TempDir::new().unwrap();
        let out = run(cmd("ftl-sim").arg("init").arg(dir.path().join("site")).args(args));
        assert_eq!(code(&out), 0, "ftl-sim init: {}", stderr(&out));
        SimSite { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("site")
    }

    pub fn config(&self, domain: &str) -> PathBuf {
        self.path().join(domain).join("ftl.toml")
    }

    pub fn state_json(&self) -> PathBuf {
        self.path().join("ledger").join("state.json")
    }

    /// A fake command of `domain` (or of `controller`), scrubbed environment.
    pub fn fake(&self, who: &str, name: &str) -> Command {
        let mut c = Command::new(self.path().join(who).join("bin").join(name));
        c.env_clear();
        c.env("PATH", "/usr/bin:/bin");
        c.stdin(std::process::Stdio::null());
        c
    }

    /// A controller command acting for `domain` (SUNW_HOSTNAME set, as on the SSP).
    pub fn ssp(&self, domain: &str, name: &str) -> Command {
        let mut c = self.fake("controller", name);
        c.env("SUNW_HOSTNAME", domain);
        c
    }

    /// An ftl binary acting as `domain`.
    pub fn ftl(&self, domain: &str, name: &str) -> Command {
        let mut c = cmd(name);
        c.arg("--config").arg(self.config(domain));
        c
    }

    pub fn sim(&self, args: &[&str]) -> Output {
        run(cmd("ftl-sim").arg(args[0]).arg(self.path()).args(&args[1..]))
    }

    /// The platform state (`ftl-sim show --json`).
    pub fn platform(&self) -> serde_json::Value {
        let out = self.sim(&["show", "--json"]);
        assert_eq!(code(&out), 0, "ftl-sim show: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("show --json is JSON")
    }

    /// The ledger record (`ftl-status --json`).
    pub fn ledger(&self, domain: &str) -> serde_json::Value {
        let out = run(self.ftl(domain, "ftl-status").arg("--json"));
        assert_eq!(code(&out), 0, "ftl-status: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("status --json is JSON")
    }

    pub fn board_domain(&self) -> Option<String> {
        self.platform()["board"]["domain"].as_str().map(str::to_string)
    }

    /// Every fake command call logged so far.
    pub fn calls(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.path().join("calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("calls.jsonl is JSON lines"))
            .collect()
    }

    pub fn count_calls(&self, command: &str) -> usize {
        self.calls().iter().filter(|c| c["command"] == command).count()
    }

    /// The raw bytes of the platform state and the ledger, to compare before and after.
    pub fn snapshot(&self) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let read = |p: PathBuf| std::fs::read(p).unwrap_or_default();
        (
            read(self.path().join("platform.json")),
            read(self.state_json()),
            read(self.path().join("ledger").join("journal.jsonl")),
        )
    }
}

impl Default for SimSite {
    fn default() -> Self {
        SimSite::new()
    }
}

/// Runs and asserts exit `want`, returning stdout.
pub fn expect(mut c: Command, want: i32) -> String {
    let out = run(&mut c);
    assert_eq!(code(&out), want, "{c:?}\nstdout: {}\nstderr: {}", stdout(&out), stderr(&out));
    stdout(&out)
}

impl SimSite {
    /// Changes one key of `[timeouts]` in every domain's configuration.
    pub fn set_timeout(&self, key: &str, value: &str) {
        for entry in std::fs::read_dir(self.path()).unwrap().flatten() {
            let path = entry.path().join("ftl.toml");
            if let Ok(text) = std::fs::read_to_string(&path) {
                let text: String = text
                    .lines()
                    .map(|l| {
                        if l.starts_with(&format!("{key} = ")) {
                            format!("{key} = \"{value}\"")
                        } else {
                            l.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                std::fs::write(&path, text + "\n").unwrap();
            }
        }
    }

    /// Kills every process still running a fake command of this site (a hung one whose caller
    /// was killed), so that a test leaves nothing behind.
    /// Kills this site's fake commands named `name` (a hung one), and nothing else.
    pub fn kill_strays_named(&self, name: &str) {
        let program = format!("{}/", self.path().display());
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let argv0 = String::from_utf8_lossy(cmdline.split(|b| *b == 0).next().unwrap_or_default()).to_string();
            if argv0.starts_with(&program) && argv0.ends_with(&format!("/bin/{name}")) {
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }

    pub fn kill_strays(&self) {
        let site = self.path().display().to_string();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            // Fake commands (argv[0] in the site) and ftl-notify's background workers (--config in it).
            if pid != std::process::id() as i32 && String::from_utf8_lossy(&cmdline).contains(&site) {
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }

    /// Journal entries of the ledger, oldest first.
    pub fn journal(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.path().join("ledger").join("journal.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("journal lines are JSON"))
            .collect()
    }
}

impl Drop for SimSite {
    fn drop(&mut self) {
        self.kill_strays();
        self.stop_kernel();
    }
}

impl SimSite {
    /// Stops a libvirt site's guest-kernel watcher (its pid is in `kernel.lock`), so that the
    /// site's removal cannot race with it; it would exit by itself once the site is gone.
    pub fn stop_kernel(&self) {
        let note = std::fs::read_to_string(self.path().join("kernel.lock")).unwrap_or_default();
        let Some(pid) = note.split_whitespace().nth(1).and_then(|p| p.parse::<i32>().ok()) else {
            return;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmdline == b"ftl-sim\0kernel\0" {
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

impl SimSite {
    /// Rewrites `domain`'s configuration.
    pub fn edit_config(&self, domain: &str, edit: impl FnOnce(String) -> String) {
        let path = self.config(domain);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, edit(text)).unwrap();
    }

    /// Sets `domain`'s windows (a TOML list, e.g. `["Mon-Sun 00:00-24:00"]`) in both default
    /// domains' configurations.
    pub fn set_windows(&self, domain: &str, list: &str) {
        self.set_windows_of(&["marmaduke", "flinstones"], domain, list);
    }

    /// Gives every domain of `all` a one-hour window far from the real time (6, 9, 12... hours
    /// ahead), so that no window claims the library while a test runs, whatever the time of day.
    pub fn windows_far_from_now(&self, all: &[&str]) {
        let later = chrono::Utc::now() + chrono::Duration::hours(6);
        for (i, d) in all.iter().enumerate() {
            let end = later + chrono::Duration::hours(3 * i as i64);
            let start = end - chrono::Duration::hours(1);
            let list = format!("[\"Mon-Sun {}-{}\"]", start.format("%H:%M"), end.format("%H:%M"));
            self.set_windows_of(all, d, &list);
        }
    }

    /// Sets `domain`'s windows in the configurations of every domain in `all`.
    pub fn set_windows_of(&self, all: &[&str], domain: &str, list: &str) {
        for d in all {
            self.edit_config(d, |text| {
                let mut in_domain = false;
                text.lines()
                    .map(|l| {
                        if l.starts_with("[domains.") {
                            in_domain = l == format!("[domains.{domain}]");
                        }
                        if in_domain && l.starts_with("windows = ") {
                            format!("windows = {list}")
                        } else {
                            l.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
                    + "\n"
            });
        }
    }

    /// Waits until `check` holds, at most `secs` seconds.
    pub fn wait_for(&self, secs: u64, what: &str, check: impl Fn(&SimSite) -> bool) {
        let start = std::time::Instant::now();
        while !check(self) {
            assert!(start.elapsed() < std::time::Duration::from_secs(secs), "timed out waiting for {what}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// A directory of links named like NetBackup's notify scripts, pointing at ftl-notify.
pub struct HookDir {
    pub dir: assert_fs::TempDir,
}

impl HookDir {
    pub fn new() -> HookDir {
        let dir = assert_fs::TempDir::new().unwrap();
        HookDir { dir }
    }

    /// The hook `name` (a link to ftl-notify), run with FTL_CONFIG set to `config`.
    pub fn hook(&self, name: &str, config: &Path) -> Command {
        let link = self.dir.path().join(name);
        if !link.exists() {
            std::os::unix::fs::symlink(bin("ftl-notify"), &link).unwrap();
        }
        let mut c = Command::new(&link);
        c.env_clear();
        c.env("PATH", "/usr/bin:/bin");
        c.env("FTL_CONFIG", config);
        c.stdin(std::process::Stdio::null());
        c
    }
}

impl Default for HookDir {
    fn default() -> Self {
        HookDir::new()
    }
}

/// Every step of both runbooks, with the fake command that runs in it (to make it hang).
pub const STEPS: &[(&str, &str, &str)] = &[
    ("release", "R1", "vmoprcmd"),
    ("release", "R2", "netbackup-stop"),
    ("release", "R3", "mt"),
    ("release", "R4", "modunload"),
    ("release", "R5", "deleteboard"),
    ("acquire", "A1", "netbackup-stop"),
    ("acquire", "A2", "modunload"),
    ("acquire", "A3", "addboard"),
    ("acquire", "A4", "modload"),
    ("acquire", "A5", "vmoprcmd"),
];

/// The same on a libvirt site. R4 writes sysfs files and runs nothing: its crash is a crash while
/// the guest's kernel has not yet removed the devices (`hang:kernel`). The moves hang in their
/// own virsh subcommand (`hang:detach-device`), so that the prechecks' `dumpxml` still answer.
pub const LIBVIRT_STEPS: &[(&str, &str, &str)] = &[
    ("release", "R1", "vmoprcmd"),
    ("release", "R2", "netbackup-stop"),
    ("release", "R3", "mt"),
    ("release", "R4", "kernel"),
    ("release", "R5", "detach-device"),
    ("acquire", "A1", "netbackup-stop"),
    ("acquire", "A3", "attach-device"),
    ("acquire", "A4", "netbackup-start"),
    ("acquire", "A5", "vmoprcmd"),
];

impl SimSite {
    /// Runs `binary` as `domain` with `hang` hanging, kills it with SIGKILL once the ledger names
    /// `step`, then clears the fault and kills the hung command. The ledger must still name the step.
    pub fn kill_in_step(&self, domain: &str, binary: &str, step: &str, hang: &str) {
        assert_eq!(code(&self.sim(&["fault", &format!("hang:{hang}")])), 0);
        let mut child = self.ftl(domain, binary).stderr(std::process::Stdio::null()).spawn().unwrap();
        self.wait_for(20, &format!("{binary} to reach {step}"), |s| s.ledger(domain)["step"]["id"] == step);
        std::thread::sleep(std::time::Duration::from_millis(50));
        child.kill().unwrap();
        child.wait().unwrap();
        self.kill_strays();
        assert_eq!(code(&self.sim(&["fault", "clear"])), 0);
        assert_eq!(self.ledger(domain)["step"]["id"], step, "the ledger names the step it died in");
    }
}

/// A small deterministic generator (xorshift64*), so that a failing seed can be replayed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

impl SimSite {
    /// Every process whose command line names this site (fake commands, ftl binaries acting for
    /// it), except the test itself: after ftl exits, nothing of it may be left running.
    pub fn processes(&self) -> Vec<String> {
        let site = self.path().display().to_string();
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            if pid == std::process::id() || stat.contains(") Z") {
                continue;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&site) {
                found.push(format!("{pid} {cmdline}"));
            }
        }
        found
    }

    /// The journal's transitions, oldest first: every line but the audit lines of refused
    /// overrides, which change no record.
    pub fn transitions(&self) -> Vec<serde_json::Value> {
        self.journal().into_iter().filter(|e| e["event"] != "force not done").collect()
    }

    /// Every transition's epoch, oldest first.
    pub fn epochs(&self) -> Vec<u64> {
        self.transitions().iter().map(|e| e["epoch"].as_u64().unwrap()).collect()
    }

    /// Fake-command calls of `command` by `domain` with `arg` among their arguments.
    pub fn calls_with(&self, domain: &str, command: &str, arg: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c["domain"] == domain && c["command"] == command)
            .filter(|c| c["args"].as_array().is_some_and(|a| a.iter().any(|x| x == arg)))
            .count()
    }
}

/// Sends `signal` to `pid`.
pub fn signal(pid: u32, signal: i32) {
    unsafe {
        libc::kill(pid as i32, signal);
    }
}

/// Waits for `child`, at most `secs` seconds; `None` if it is still running then.
pub fn wait_timeout(child: &mut std::process::Child, secs: f64) -> Option<std::process::ExitStatus> {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if start.elapsed().as_secs_f64() >= secs {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Whether this test runs as root, which `what` needs. When it does not, the test is skipped:
/// it says so and why on stderr and returns, except under CI (`CI` set), where a test that
/// cannot run fails, so that a green CI run never hides a test that did not run.
pub fn running_as_root(test: &str, what: &str) -> bool {
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        return true;
    }
    skip(test, &format!("{what} needs root (this run is uid {uid})"));
    false
}

/// Skips `test` for `reason` (see [`running_as_root`]): a failure under CI, a note otherwise.
pub fn skip(test: &str, reason: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{test} cannot run here and CI is set: {reason}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{test}: SKIPPED: {reason} (set CI to make this a failure)");
}

impl SimSite {
    /// The journal as `ftl-status --history --json` of `domain` prints it, oldest first, on any
    /// store (the directory ledger's journal.jsonl or etcd's journal keys).
    pub fn history(&self, domain: &str) -> Vec<serde_json::Value> {
        let out = run(self.ftl(domain, "ftl-status").args(["--json", "--history", "100000"]));
        assert_eq!(code(&out), 0, "ftl-status --history: {}", stderr(&out));
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
        assert_eq!(value["history_skipped"], 0, "unreadable journal entries: {value}");
        value["history"].as_array().cloned().unwrap_or_default()
    }

    /// [`SimSite::history`] without the audit entries of refused overrides.
    pub fn history_transitions(&self, domain: &str) -> Vec<serde_json::Value> {
        self.history(domain).into_iter().filter(|e| e["event"] != "force not done").collect()
    }
}
