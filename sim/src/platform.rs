//! The simulated platform's state: where the board is, the shared drives and their tapes, each
//! domain's NetBackup, robot driver, jobs and drive control states, and the injected faults.
//!
//! One JSON file (`DIR/platform.json`) guarded by its own lock (`DIR/platform.lock`): every fake
//! command reads and writes it under the lock through [`Site::update`], so concurrent calls from
//! both domains never lose a change, and the file is always replaced whole.

use ftl::ledger::{lock, storage};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const STATE_FILE: &str = "platform.json";
pub const LOCK_FILE: &str = "platform.lock";
pub const CALLS_FILE: &str = "calls.jsonl";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    pub version: u32,
    pub speed: f64,
    pub board: Board,
    pub drives: Vec<Drive>,
    pub domains: BTreeMap<String, Domain>,
    #[serde(default)]
    pub faults: Vec<String>,
    /// Next fake pid and next module id, so that each start or load gets fresh ones.
    pub next_pid: u32,
    pub next_module_id: u32,
    /// A libvirt site (`init --platform libvirt`): the board is the tape HBA, `board.domain` the
    /// guest that has it; absent on a Starfire site, whose state file is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub libvirt: Option<Libvirt>,
}

/// The libvirt platform: a KVM host passing one PCI Fibre Channel HBA to one guest at a time.
/// The guest's SCSI devices (one tape per drive, then the changer) exist only in the guest
/// that has the HBA, and only once its kernel has probed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Libvirt {
    /// The HBA on the KVM host, `domain:bus:slot.function` in hex (`0000:41:00.0`).
    pub pci: String,
    /// The user alias ftl gives the hostdev (libvirt's `hostdev0` otherwise).
    pub alias: Option<String>,
    /// The libvirt id of each running guest, by ftl domain (guest names are the domain names).
    pub ids: BTreeMap<String, u32>,
    /// The SCSI host number the HBA gets in a guest (`hostH`, devices `H:0:T:0`).
    pub scsi_host: u32,
    /// Which of the HBA's SCSI devices the guest that has it still has (index = target:
    /// drives first, the changer last); a `1` written to a device's `delete` clears it.
    pub present: Vec<bool>,
    /// After an attach: when (ms since the Unix epoch) the guest's kernel will have probed the
    /// HBA and its devices appear.
    pub probe_at: Option<i64>,
    /// A live detach was requested while the guest still had the HBA's devices: libvirt left it
    /// pending, and the hostdev leaves the guest once the guest lets it go.
    pub unplug_pending: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    pub id: u32,
    /// The domain the board is assigned to (in the SSP's domain_config), if any.
    pub domain: Option<String>,
    /// The DR phase that failed and left the board half moved, until a DR command finishes it.
    #[serde(default)]
    pub unfinished: Option<Unfinished>,
}

/// Where a failed DR operation left the board (the SSP leaves it "in the state it is in when the
/// command fails": addboard(1M), deleteboard(1M), SSP 3.5, 806-7617-05).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unfinished {
    /// init_attach added the board to the domain's domain_config, then its POST failed: the
    /// domain's OS has never seen it (init_attach(1M) prints "Adding board N to domain_config
    /// file." before running hpost).
    InitAttach,
    /// init_attach passed, complete_attach failed: the domain's OS may hold part of the board.
    CompleteAttach,
    /// The drain passed (drain(1M) first removes the board from domain_config), complete_detach
    /// failed: the board is drained, still in its domain.
    CompleteDetach,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drive {
    pub index: u32,
    pub tape: bool,
    /// Blocks from BOT (0 = at BOT).
    pub position: u64,
    /// Derived from `position`; written for readers of `show --json`.
    pub at_bot: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Running {
    Running,
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Module {
    Loaded,
    Unloaded,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    pub netbackup: Running,
    pub sg: Module,
    pub sg_id: Option<u32>,
    pub jobs: u32,
    /// NetBackup's drive control states, `UP` or `DOWN`, one per drive index.
    pub control: Vec<String>,
    /// Fake pids of the NetBackup daemons while running.
    #[serde(default)]
    pub pids: Vec<(u32, String)>,
    /// Jobs queued for a drive (`bpdbjobs` state 0): they outlive a stop of NetBackup, as jobs
    /// in NetBackup's job database do, and come back for a drive.
    #[serde(default)]
    pub queued: u32,
    /// The fake pid of the Private Branch Exchange, `pbx_exchange`, which NetBackup 6 and later
    /// share with other products: it runs whether NetBackup runs or not, `bpps -x` lists it in a
    /// section of its own, and only `kill` stops it.
    #[serde(default)]
    pub pbx: Option<u32>,
    /// `nbpemreq -suspend_scheduling` was run (and no `-resume_scheduling` since): the policy
    /// scheduler starts no job.
    #[serde(default)]
    pub scheduling_suspended: bool,
}

/// The Private Branch Exchange's command, as `bpps -x` shows it.
pub const PBX: &str = "/opt/VRTSpbx/bin/pbx_exchange";

/// The daemons a running NetBackup master shows in `bpps -x`.
pub const DAEMONS: &[(&str, &str)] = &[
    ("NB", "/usr/openv/netbackup/bin/bprd"),
    ("NB", "/usr/openv/netbackup/bin/bpdbm"),
    ("NB", "/usr/openv/netbackup/bin/bpjobd"),
    ("MM", "/usr/openv/volmgr/bin/ltid"),
    ("MM", "/usr/openv/volmgr/bin/vmd"),
    ("MM", "/usr/openv/volmgr/bin/tldd"),
    ("MM", "/usr/openv/volmgr/bin/tldcd"),
];

impl Platform {
    pub fn domain(&self, name: &str) -> Result<&Domain, String> {
        self.domains.get(name).ok_or_else(|| format!("no domain `{name}` in this site"))
    }

    pub fn domain_mut(&mut self, name: &str) -> Result<&mut Domain, String> {
        self.domains.get_mut(name).ok_or_else(|| format!("no domain `{name}` in this site"))
    }

    pub fn has_fault(&self, fault: &str) -> bool {
        self.faults.iter().any(|f| f == fault)
    }

    /// The board is in `domain` and its OS has the board's devices (an attach left unfinished
    /// has not given them yet; a drained board still has them until complete_detach).
    pub fn board_in(&self, domain: &str) -> bool {
        self.board.domain.as_deref() == Some(domain)
            && !matches!(self.board.unfinished, Some(Unfinished::InitAttach | Unfinished::CompleteAttach))
    }

    pub fn start_netbackup(&mut self, name: &str) {
        let mut pid = self.next_pid;
        let d = self.domains.get_mut(name).expect("domain checked by the caller");
        d.netbackup = Running::Running;
        d.pids = DAEMONS
            .iter()
            .map(|(_, cmd)| {
                pid += 1;
                (pid, cmd.to_string())
            })
            .collect();
        self.next_pid = pid + 1;
    }

    pub fn stop_netbackup(&mut self, name: &str) {
        if let Some(d) = self.domains.get_mut(name) {
            d.netbackup = Running::Stopped;
            d.pids.clear();
            d.jobs = 0;
        }
    }

    pub fn load_sg(&mut self, name: &str) {
        let id = self.next_module_id;
        self.next_module_id += 1;
        if let Some(d) = self.domains.get_mut(name) {
            d.sg = Module::Loaded;
            d.sg_id = Some(id);
        }
    }

    /// Keeps `at_bot` equal to what `position` says.
    pub fn normalize(&mut self) {
        for d in &mut self.drives {
            d.at_bot = d.position == 0;
        }
    }
}

/// A simulated site on disk.
#[derive(Debug, Clone)]
pub struct Site {
    pub dir: PathBuf,
}

impl Site {
    pub fn open(dir: &Path) -> Result<Site, String> {
        let site = Site { dir: dir.to_path_buf() };
        if !site.state_path().exists() {
            return Err(format!(
                "{} is not a simulated site (no {STATE_FILE}; create one with `ftl-sim init`)",
                dir.display()
            ));
        }
        Ok(site)
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    pub fn read(&self) -> Result<Platform, String> {
        let path = self.state_path();
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: invalid platform state: {e}", path.display()))
    }

    pub fn write(&self, platform: &Platform) -> Result<(), String> {
        let mut p = platform.clone();
        p.normalize();
        let mut text = serde_json::to_string_pretty(&p).expect("platform serializes");
        text.push('\n');
        storage::write_atomically(&self.state_path(), text.as_bytes(), &storage::Faults::default())
            .map_err(|e| format!("{}: {e}", self.state_path().display()))
    }

    /// Reads, changes and writes the state under the platform lock.
    pub fn update<T>(&self, change: impl FnOnce(&mut Platform) -> T) -> Result<T, String> {
        self.update_with(lock::Create::IfMissing, change)
    }

    /// [`Site::update`] for a background process (the guests' kernel): it never creates the
    /// lock file, so that it cannot leave one behind in a site being removed.
    pub fn update_existing<T>(&self, change: impl FnOnce(&mut Platform) -> T) -> Result<T, String> {
        self.update_with(lock::Create::Never, change)
    }

    fn update_with<T>(&self, create: lock::Create, change: impl FnOnce(&mut Platform) -> T) -> Result<T, String> {
        let _guard =
            lock::lock(&self.dir.join(LOCK_FILE), Duration::from_secs(30), create).map_err(|e| e.to_string())?;
        let mut platform = self.read()?;
        let result = change(&mut platform);
        self.write(&platform)?;
        Ok(result)
    }

    /// Appends one line to `calls.jsonl`: which fake command ran, for whom, how long it slept, how
    /// it exited (and, for the controller's commands, what they printed).
    pub fn log_call(
        &self,
        domain: &str,
        argv: &[String],
        started: chrono::DateTime<chrono::Utc>,
        secs: f64,
        exit: i32,
        stdout: Option<&str>,
    ) {
        use std::io::Write;
        let mut line = serde_json::json!({
            "at": started, "domain": domain, "command": argv.first(), "args": &argv[1..], "secs": secs, "exit": exit,
        });
        if let Some(out) = stdout {
            line["stdout"] = serde_json::json!(out);
        }
        let _guard = lock::lock(&self.dir.join(LOCK_FILE), Duration::from_secs(30), lock::Create::IfMissing);
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).create(true).open(self.dir.join(CALLS_FILE)) {
            let _ = writeln!(f, "{line}");
        }
    }

    /// Every call logged so far.
    pub fn calls(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join(CALLS_FILE))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn domain_dir(&self, domain: &str) -> PathBuf {
        self.dir.join(domain)
    }

    pub fn config_path(&self, domain: &str) -> PathBuf {
        self.domain_dir(domain).join("ftl.toml")
    }

    pub fn ledger_dir(&self) -> PathBuf {
        self.dir.join("ledger")
    }
}
