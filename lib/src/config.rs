//! The site configuration: one TOML file, the same on every domain, describing the library, the
//! ledger, the board, the drives, the domains and their windows, the controller and every command
//! path, timeout and policy.
//!
//! Loading is strict: an unknown key, a missing key, a value of the wrong type or a value that
//! makes no sense is an error naming the file and the dotted key (`drives[2].device`), and every
//! problem in the file is reported at once. Nothing is guessed.

use crate::duration;
use crate::window::Window;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_PATH: &str = "/etc/ftl/ftl.toml";

#[derive(Debug, Clone)]
pub struct Config {
    /// The file this configuration was read from.
    pub path: PathBuf,
    /// The domain this file speaks for, when it fixes one (the simulator's per-domain files).
    pub domain: Option<String>,
    pub library: Library,
    pub ledger: LedgerConfig,
    pub drives: Vec<Drive>,
    pub domains: BTreeMap<String, DomainConfig>,
    pub controller: Controller,
    /// The domains' own operating system (`[host] os`).
    pub host: Host,
    pub netbackup: NetBackup,
    pub commands: Commands,
    pub timeouts: Timeouts,
    pub schedule: Schedule,
    pub requests: Requests,
    pub hooks: Hooks,
    pub prerequisites: Prerequisites,
    /// The domains in the order of `[domains]` in the file (ties of the policy go to the first).
    pub domain_order: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Library {
    pub name: String,
    /// The robot's driver module, as `modinfo` names it.
    pub driver: String,
    /// What `modload` is given to load it again.
    pub driver_path: String,
}

/// `[ledger]`: which store keeps the ledger (`store`), and that store's own keys.
#[derive(Debug, Clone)]
pub enum LedgerConfig {
    /// `store = "dir"` (the default): a directory on shared storage.
    Dir(DirLedgerConfig),
    /// `store = "etcd"`: keys under a prefix in an etcd v3 cluster.
    Etcd(EtcdLedgerConfig),
}

#[derive(Debug, Clone)]
pub struct DirLedgerConfig {
    pub dir: PathBuf,
    pub lock_timeout: Duration,
    pub journal_max_bytes: u64,
    pub journal_keep: u32,
}

#[derive(Debug, Clone)]
pub struct EtcdLedgerConfig {
    /// `http://` or `https://` URLs, tried in this order.
    pub endpoints: Vec<String>,
    /// Every key of this library starts with it: `/` first, no `/` last.
    pub prefix: String,
    /// Connecting to one endpoint.
    pub dial_timeout: Duration,
    /// One request (a watch sets its own).
    pub request_timeout: Duration,
    /// The run lock's lease, kept alive every third of it.
    pub lease_ttl: Duration,
    /// The CA that signed the servers' certificates (required with `https://`).
    pub ca: Option<PathBuf>,
    /// The client certificate and its key.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// etcd authentication: the user and the file holding the password.
    pub user: Option<(String, PathBuf)>,
}

/// The keys only `store = "dir"` reads, and those only `store = "etcd"` reads.
const DIR_KEYS: &[&str] = &["dir", "lock_timeout", "journal_max_bytes", "journal_keep"];
const ETCD_KEYS: &[&str] = &[
    "endpoints",
    "prefix",
    "dial_timeout",
    "request_timeout",
    "lease_ttl",
    "ca",
    "cert",
    "key",
    "user",
    "password_file",
];

#[derive(Debug, Clone)]
pub struct Board {
    pub id: u32,
    /// The processor ids on the board (Starfire: 4 per board, board * 4 upwards).
    pub cpus: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drive {
    pub index: u32,
    pub device: PathBuf,
}

#[derive(Debug, Clone)]
pub struct DomainConfig {
    pub hosts: Vec<String>,
    pub windows: Vec<Window>,
    pub policies: Vec<String>,
}

/// The controller profile (`[controller] profile`) and the keys it owns: what moves the library
/// between domains, with its own commands and timeouts.
#[derive(Debug, Clone)]
pub enum Controller {
    Starfire(Starfire),
    Libvirt(Libvirt),
}

impl Controller {
    /// Prepended to every controller command, e.g. `ssh -o BatchMode=yes ssp@ssp0`.
    pub fn prefix(&self) -> &[String] {
        match self {
            Controller::Starfire(s) => &s.prefix,
            Controller::Libvirt(l) => &l.prefix,
        }
    }

    /// The Starfire profile's keys, when that is the profile.
    pub fn starfire(&self) -> Option<&Starfire> {
        match self {
            Controller::Starfire(s) => Some(s),
            Controller::Libvirt(_) => None,
        }
    }
}

/// `profile = "starfire"`: the E10000's SSP. Its keys stay where existing sites have them:
/// `[controller]` for the commands, `[board]` for the board, `[timeouts]` for addboard and
/// deleteboard.
#[derive(Debug, Clone)]
pub struct Starfire {
    pub prefix: Vec<String>,
    pub showusage: String,
    pub addboard: String,
    pub deleteboard: String,
    pub board: Board,
    pub addboard_timeout: Duration,
    pub deleteboard_timeout: Duration,
}

/// `profile = "libvirt"`: a KVM host's `virsh` passes a PCI host device (the library's HBA)
/// between guests, each guest a domain.
#[derive(Debug, Clone)]
pub struct Libvirt {
    pub prefix: Vec<String>,
    pub virsh: String,
    /// `virsh -c URI`.
    pub uri: String,
    /// The HBA on the KVM host, as `domain:bus:slot.function` (hex, checked when read).
    pub pci: String,
    /// A user alias (`ua-...`) for the hostdev, when configured.
    pub alias: Option<String>,
    /// ftl domain -> libvirt guest; a domain not listed is a guest of the same name.
    pub guests: BTreeMap<String, String>,
    pub attach_timeout: Duration,
    pub detach_timeout: Duration,
}

impl Libvirt {
    pub fn guest<'a>(&'a self, domain: &'a str) -> &'a str {
        self.guests.get(domain).map(String::as_str).unwrap_or(domain)
    }
}

/// The domains' operating system (`[host] os`).
#[derive(Debug, Clone)]
pub enum Host {
    /// Today's: `[library] driver`, `[commands]` and `[prerequisites]` hold its keys.
    Solaris,
    Linux(Linux),
}

/// `[host] os = "linux"`: the drives are mt-st devices, the robot a SCSI generic device, both
/// removed through sysfs before a detach and waited for after an attach.
#[derive(Debug, Clone)]
pub struct Linux {
    /// Where sysfs is mounted (`/sys`).
    pub sysfs: PathBuf,
    /// The changer's device (its persistent name, e.g. `/dev/tape/by-id/scsi-...`).
    pub robot: PathBuf,
    /// How long devices may take to appear after an attach or a rescan, or to go after a delete.
    pub devices_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct NetBackup {
    pub vmoprcmd: String,
    pub bpdbjobs: String,
    pub bpps: String,
    pub bppllist: String,
    pub stop: Vec<String>,
    pub start: Vec<String>,
    /// R6: start NetBackup again on the releasing domain, without the library.
    pub restart_after_release: bool,
    /// Queued, re-queued, suspended and incomplete jobs refuse a release (they will come back for
    /// a drive), as active jobs always do.
    pub pending_jobs_block: bool,
    /// `nbpemreq` (NetBackup 6 and later), when configured: a release suspends the policy
    /// scheduler before R1 so that no job starts between the idle check and the stop, and resumes
    /// it when it rolls back; an acquire resumes it after A5.
    pub nbpemreq: Option<String>,
}

/// The blueprint's DR prerequisites (`[prerequisites]`), checked by `ftl-status --check` and by
/// the prechecks of a release (detach) and an acquire (attach) where they apply.
#[derive(Debug, Clone)]
pub struct Prerequisites {
    /// `uname -r`: `5.6` is Solaris 2.6, which needs the DR patches and `dr-max-mem`; 5.7 and
    /// later need the kernel cage.
    pub uname: String,
    /// `showrev -p`, for the patches.
    pub showrev: String,
    /// Patches Solaris 2.6 needs for DR (any revision, or a patch that obsoletes one).
    pub patches: Vec<String>,
    /// The domain's `/etc/system`, which must `set kernel_cage_enable=1` on Solaris 7 and later.
    pub etc_system: String,
    /// The domain's `/var/adm/messages`, where `NOTICE: DR Kernel Cage is ENABLED` confirms it.
    pub messages: String,
    /// Solaris 2.6: a command that prints the OBP variable `dr-max-mem` (how to read it from the
    /// running OS is not documented, so it is configured; unset, the check says it did not run).
    pub dr_max_mem: Option<Vec<String>>,
    /// The SSP's `.postrc` for this domain (`{domain}` is replaced), read on the SSP with `cat`
    /// through the controller prefix; it must not enable `mem_interleave_ok`. Unset: not checked.
    pub postrc: Option<String>,
    /// `cat` on the SSP.
    pub cat: String,
    /// `showusage -r UNSAFE` on the SSP: no DR-unsafe device open other than the robot driver.
    pub unsafe_devices: bool,
}

#[derive(Debug, Clone)]
pub struct Commands {
    pub mt: String,
    pub modinfo: String,
    pub modunload: String,
    pub modload: String,
    pub psrset: String,
    pub pbind: String,
    pub kill: String,
}

#[derive(Debug, Clone)]
pub struct Timeouts {
    pub command: Duration,
    pub netbackup_stop: Duration,
    pub netbackup_start: Duration,
    pub stop_grace: Duration,
    pub rewind: Duration,
}

#[derive(Debug, Clone)]
pub struct Schedule {
    pub lead: Duration,
    pub grace: Duration,
    /// Release when the window ends even when no other domain claims the library.
    pub release_at_window_end: bool,
}

/// `[requests]`: how long a request lasts when no window of the asking domain is open.
#[derive(Debug, Clone)]
pub struct Requests {
    pub ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct Hooks {
    /// Start hooks exit non-zero while the library is elsewhere, so NetBackup retries the job.
    pub fail_job_when_elsewhere: bool,
    pub release_at_shutdown: bool,
    /// How long a hook's background acquire waits for the owner's release and for idleness.
    pub acquire_wait: Duration,
    /// How long an end hook's background release waits for this domain to be idle.
    pub release_wait: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the configuration: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{}", display_problems(.path, .problems))]
    Invalid { path: PathBuf, problems: Vec<Problem> },
    #[error("{path}: domain `{domain}` ({how}) is not declared under [domains]; declared: {declared}")]
    UnknownDomain { path: PathBuf, domain: String, how: &'static str, declared: String },
}

/// One thing wrong with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key `{}`: {}", self.key, self.message)
    }
}

fn display_problems(path: &Path, problems: &[Problem]) -> String {
    match problems {
        [one] => format!("{}: {one}", path.display()),
        many => {
            let mut out = format!("{}: {} problems:", path.display(), many.len());
            for p in many {
                out.push_str(&format!("\n  {p}"));
            }
            out
        }
    }
}

impl Config {
    /// Reads and validates the configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let config = Config::parse(path, &text)?;
        crate::exec::name_programs(path, config.programs());
        Ok(config)
    }

    /// Every program the configuration names, with its key.
    pub fn programs(&self) -> Vec<(String, &'static str)> {
        let (n, c, p) = (&self.netbackup, &self.commands, &self.prerequisites);
        let first = |argv: &[String]| argv.first().cloned().unwrap_or_default();
        let mut list = vec![
            (n.vmoprcmd.clone(), "netbackup.vmoprcmd"),
            (n.bpdbjobs.clone(), "netbackup.bpdbjobs"),
            (n.bpps.clone(), "netbackup.bpps"),
            (n.bppllist.clone(), "netbackup.bppllist"),
            (first(&n.stop), "netbackup.stop"),
            (first(&n.start), "netbackup.start"),
            (c.mt.clone(), "commands.mt"),
            (c.modinfo.clone(), "commands.modinfo"),
            (c.modunload.clone(), "commands.modunload"),
            (c.modload.clone(), "commands.modload"),
            (c.psrset.clone(), "commands.psrset"),
            (c.pbind.clone(), "commands.pbind"),
            (c.kill.clone(), "commands.kill"),
            (p.uname.clone(), "prerequisites.uname"),
            (p.showrev.clone(), "prerequisites.showrev"),
        ];
        if let Some(path) = &n.nbpemreq {
            list.push((path.clone(), "netbackup.nbpemreq"));
        }
        if let Some(argv) = &p.dr_max_mem {
            list.push((first(argv), "prerequisites.dr_max_mem"));
        }
        // Without a prefix the controller's commands run here; with one, the prefix's program does.
        match (&self.controller, self.controller.prefix().first()) {
            (_, Some(program)) => list.push((program.clone(), "controller.prefix")),
            (Controller::Starfire(k), None) => list.extend([
                (k.showusage.clone(), "controller.showusage"),
                (k.addboard.clone(), "controller.addboard"),
                (k.deleteboard.clone(), "controller.deleteboard"),
                (p.cat.clone(), "prerequisites.cat"),
            ]),
            (Controller::Libvirt(l), None) => list.push((l.virsh.clone(), "controller.virsh")),
        }
        if let Host::Linux(_) = self.host {
            // Solaris's programs are not run on Linux.
            let solaris = [
                "commands.modinfo",
                "commands.modunload",
                "commands.modload",
                "commands.psrset",
                "commands.pbind",
                "prerequisites.uname",
                "prerequisites.showrev",
                "prerequisites.dr_max_mem",
                "prerequisites.cat",
            ];
            list.retain(|(_, key)| !solaris.contains(key));
        }
        list
    }

    /// Validates configuration text; `path` is only used in messages and kept in the result.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', "\n  "),
        })?;
        let problems = RefCell::new(Vec::new());
        let config = build(&Section::root(&table, &problems));
        let problems = problems.into_inner();
        match config {
            Some(mut config) if problems.is_empty() => {
                config.path = path.to_path_buf();
                Ok(config)
            }
            _ => Err(ConfigError::Invalid { path: path.to_path_buf(), problems }),
        }
    }

    /// The local domain: `--domain`, else the file's own `domain`, else the host mapping, else
    /// the host name itself. It must be declared.
    pub fn local_domain(&self, flag: Option<&str>, hostname: &str) -> Result<String, ConfigError> {
        let (domain, how) = if let Some(d) = flag {
            (d.to_string(), "from --domain")
        } else if let Some(d) = &self.domain {
            (d.clone(), "from the file's `domain` key")
        } else if let Some((d, _)) = self.domains.iter().find(|(_, c)| c.hosts.iter().any(|h| h == hostname)) {
            (d.clone(), "from the host mapping")
        } else {
            (hostname.to_string(), "the host name")
        };
        if self.domains.contains_key(&domain) {
            Ok(domain)
        } else {
            Err(ConfigError::UnknownDomain {
                path: self.path.clone(),
                domain,
                how,
                declared: self.domains.keys().cloned().collect::<Vec<_>>().join(", "),
            })
        }
    }
}

/// A view of one TOML table that remembers which keys were read, so that the rest can be
/// reported as unknown, and collects problems instead of stopping at the first.
struct Section<'a> {
    prefix: String,
    table: &'a toml::Table,
    used: RefCell<BTreeSet<String>>,
    problems: &'a RefCell<Vec<Problem>>,
}

impl<'a> Section<'a> {
    fn root(table: &'a toml::Table, problems: &'a RefCell<Vec<Problem>>) -> Self {
        Section { prefix: String::new(), table, used: RefCell::default(), problems }
    }

    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    fn problem(&self, key: String, message: impl Into<String>) {
        self.problems.borrow_mut().push(Problem { key, message: message.into() });
    }

    fn raw(&self, name: &str) -> Option<&'a toml::Value> {
        self.used.borrow_mut().insert(name.to_string());
        self.table.get(name)
    }

    fn required(&self, name: &str) -> Option<&'a toml::Value> {
        let value = self.raw(name);
        if value.is_none() {
            self.problem(self.key(name), "missing (this key is required)");
        }
        value
    }

    fn wrong_type(&self, name: &str, expected: &str, found: &toml::Value) {
        self.problem(self.key(name), format!("expected {expected}, found {}", found.type_str()));
    }

    fn string_value(&self, name: &str, value: &toml::Value) -> Option<String> {
        match value {
            toml::Value::String(s) if s.trim().is_empty() => {
                self.problem(self.key(name), "must not be empty");
                None
            }
            toml::Value::String(s) => Some(s.clone()),
            other => {
                self.wrong_type(name, "a string", other);
                None
            }
        }
    }

    fn string(&self, name: &str) -> Option<String> {
        self.required(name).and_then(|v| self.string_value(name, v))
    }

    fn string_or(&self, name: &str, default: &str) -> Option<String> {
        match self.raw(name) {
            None => Some(default.to_string()),
            Some(v) => self.string_value(name, v),
        }
    }

    fn absolute_path_or(&self, name: &str, default: &str) -> Option<String> {
        let value = self.string_or(name, default)?;
        if value.starts_with('/') {
            Some(value)
        } else {
            self.problem(self.key(name), format!("`{value}` must be an absolute path"));
            None
        }
    }

    fn uint_value(&self, name: &str, value: &toml::Value, max: u64) -> Option<u64> {
        match value {
            toml::Value::Integer(i) if *i < 0 => {
                self.problem(self.key(name), format!("must not be negative, found {i}"));
                None
            }
            toml::Value::Integer(i) if *i as u64 > max => {
                self.problem(self.key(name), format!("must be at most {max}, found {i}"));
                None
            }
            toml::Value::Integer(i) => Some(*i as u64),
            other => {
                self.wrong_type(name, "a whole number", other);
                None
            }
        }
    }

    fn uint(&self, name: &str, max: u64) -> Option<u64> {
        self.required(name).and_then(|v| self.uint_value(name, v, max))
    }

    fn uint_or(&self, name: &str, default: u64, max: u64) -> Option<u64> {
        match self.raw(name) {
            None => Some(default),
            Some(v) => self.uint_value(name, v, max),
        }
    }

    fn bool_or(&self, name: &str, default: bool) -> Option<bool> {
        match self.raw(name) {
            None => Some(default),
            Some(toml::Value::Boolean(b)) => Some(*b),
            Some(other) => {
                self.wrong_type(name, "true or false", other);
                None
            }
        }
    }

    fn duration_or(&self, name: &str, default: &str) -> Option<Duration> {
        let text = match self.raw(name) {
            None => default.to_string(),
            Some(toml::Value::String(s)) => s.clone(),
            Some(other) => {
                self.wrong_type(name, "a duration string like \"90s\", \"15m\" or \"1h30m\"", other);
                return None;
            }
        };
        duration::parse(&text).map_err(|e| self.problem(self.key(name), e)).ok()
    }

    fn string_list_value(&self, name: &str, value: &toml::Value) -> Option<Vec<String>> {
        let toml::Value::Array(items) = value else {
            self.wrong_type(name, "a list of strings", value);
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match item {
                toml::Value::String(s) => out.push(s.clone()),
                other => {
                    self.problem(
                        format!("{}[{i}]", self.key(name)),
                        format!("expected a string, found {}", other.type_str()),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn string_list_or(&self, name: &str, default: &[&str]) -> Option<Vec<String>> {
        match self.raw(name) {
            None => Some(default.iter().map(|s| s.to_string()).collect()),
            Some(v) => self.string_list_value(name, v),
        }
    }

    /// A command given as an argument vector: a non-empty list whose program is absolute.
    fn argv_or(&self, name: &str, default: &[&str]) -> Option<Vec<String>> {
        let argv = self.string_list_or(name, default)?;
        match argv.first() {
            None => {
                self.problem(self.key(name), "must name a program (the list is empty)");
                None
            }
            Some(program) if !program.starts_with('/') => {
                self.problem(self.key(name), format!("program `{program}` must be an absolute path"));
                None
            }
            Some(_) => Some(argv),
        }
    }

    fn table(&self, name: &str, required: bool) -> Option<Section<'a>> {
        let key = self.key(name);
        match self.raw(name) {
            None if required => {
                self.problem(key, "missing (this table is required)");
                None
            }
            None => {
                Some(Section { prefix: key, table: empty_table(), used: RefCell::default(), problems: self.problems })
            }
            Some(toml::Value::Table(t)) => {
                Some(Section { prefix: key, table: t, used: RefCell::default(), problems: self.problems })
            }
            Some(other) => {
                self.wrong_type(name, "a table", other);
                None
            }
        }
    }

    fn sub(&self, key: String, table: &'a toml::Table) -> Section<'a> {
        Section { prefix: key, table, used: RefCell::default(), problems: self.problems }
    }

    /// Reports each of `keys` that is set: it belongs to another choice (`owner`).
    fn refuse(&self, keys: &[&str], owner: &str) {
        for key in keys {
            if self.raw(key).is_some() {
                self.problem(self.key(key), format!("is a key of {owner}, not of this store"));
            }
        }
    }

    /// Reports every key that was not read.
    fn finish(&self) {
        let used = self.used.borrow();
        for key in self.table.keys().filter(|k| !used.contains(*k)) {
            self.problem(self.key(key), "unknown key (misspelt, or in the wrong table?)");
        }
    }
}

fn empty_table() -> &'static toml::Table {
    static EMPTY: std::sync::OnceLock<toml::Table> = std::sync::OnceLock::new();
    EMPTY.get_or_init(toml::Table::new)
}

fn build_dir_ledger(s: &Section) -> Option<DirLedgerConfig> {
    let dir = s.string("dir");
    if let Some(dir) = dir.as_ref().filter(|d| !d.starts_with('/')) {
        s.problem(s.key("dir"), format!("`{dir}` must be an absolute path"));
    }
    let (lock_timeout, journal_max_bytes, journal_keep) = (
        s.duration_or("lock_timeout", "30s"),
        s.uint_or("journal_max_bytes", 16 << 20, u64::MAX >> 1),
        s.uint_or("journal_keep", 8, 1000),
    );
    if journal_max_bytes.is_some_and(|b| b < 4096) {
        s.problem(s.key("journal_max_bytes"), "must be at least 4096");
    }
    Some(DirLedgerConfig {
        dir: PathBuf::from(dir.filter(|d| d.starts_with('/'))?),
        lock_timeout: lock_timeout?,
        journal_max_bytes: journal_max_bytes.filter(|b| *b >= 4096)?,
        journal_keep: journal_keep? as u32,
    })
}

fn build_etcd_ledger(s: &Section, library: &str) -> Option<EtcdLedgerConfig> {
    let endpoints = s.required("endpoints").and_then(|v| s.string_list_value("endpoints", v));
    let endpoints = endpoints.and_then(|list| {
        if list.is_empty() {
            s.problem(s.key("endpoints"), "must name at least one endpoint");
        }
        let mut ok = !list.is_empty();
        for (i, url) in list.iter().enumerate() {
            if let Err(why) = check_endpoint(url) {
                s.problem(format!("{}[{i}]", s.key("endpoints")), format!("`{url}` {why}"));
                ok = false;
            }
        }
        ok.then(|| list.iter().map(|u| u.trim_end_matches('/').to_string()).collect::<Vec<_>>())
    });
    let prefix = s.string_or("prefix", &format!("/ftl/{library}")).filter(|p| {
        let why = if !p.starts_with('/') {
            Some("must start with `/`")
        } else if p.len() > 1 && p.ends_with('/') || p == "/" {
            Some("must not end with `/` (the keys are PREFIX/state, PREFIX/journal/...)")
        } else if p.chars().any(|c| c.is_control() || c.is_whitespace()) {
            Some("must not contain spaces or control characters")
        } else if p.split('/').any(|part| ["state", "journal", "audit", "run", "worker"].contains(&part)) {
            // Under another library's prefix, its keys and this one's would mix.
            Some("must not use state, journal, audit, run or worker as a part: those are the names of a library's own keys")
        } else {
            None
        };
        if let Some(why) = why {
            s.problem(s.key("prefix"), format!("`{p}` {why}"));
        }
        why.is_none()
    });
    let positive = |name: &str, default: &str, at_least: Duration| {
        s.duration_or(name, default).filter(|d| {
            if *d < at_least {
                s.problem(s.key(name), format!("must be at least {}", duration::format(at_least)));
            }
            *d >= at_least
        })
    };
    let (dial_timeout, request_timeout, lease_ttl) = (
        positive("dial_timeout", "2s", Duration::from_millis(1)),
        positive("request_timeout", "5s", Duration::from_millis(1)),
        // etcd counts a lease in whole seconds, and refuses a TTL shorter than its own minimum.
        positive("lease_ttl", "10s", Duration::from_secs(2)),
    );
    let optional_path = |name: &str| s.raw(name).map(|_| s.absolute_path_or(name, ""));
    let (ca, cert, key, user, password_file) = (
        optional_path("ca"),
        optional_path("cert"),
        optional_path("key"),
        s.raw("user").map(|v| s.string_value("user", v)),
        optional_path("password_file"),
    );
    let https = endpoints.as_ref().is_some_and(|list| list.iter().any(|u| u.starts_with("https://")));
    let client_cert = match (cert, key) {
        (Some(cert), Some(key)) => Some(cert.zip(key).map(|(c, k)| (PathBuf::from(c), PathBuf::from(k)))),
        (None, None) => Some(None),
        (Some(_), None) => {
            s.problem(s.key("key"), "missing: `cert` is set, and a client certificate needs its key");
            None
        }
        (None, Some(_)) => {
            s.problem(s.key("cert"), "missing: `key` is set, and a client key needs its certificate");
            None
        }
    };
    let user = match (user, password_file) {
        (Some(user), Some(file)) => Some(user.zip(file).map(|(u, f)| (u, PathBuf::from(f)))),
        (None, None) => Some(None),
        (Some(_), None) => {
            s.problem(s.key("password_file"), "missing: `user` is set and needs its password");
            None
        }
        (None, Some(_)) => {
            s.problem(s.key("user"), "missing: `password_file` is set, for which user?");
            None
        }
    };
    // ftl bundles no web roots: https needs the configured CA, and http has no use for TLS files.
    let mut tls_fits = true;
    if endpoints.is_some() && https && ca.is_none() {
        s.problem(s.key("ca"), "missing: https:// endpoints need the CA that signed their certificates");
        tls_fits = false;
    }
    if endpoints.is_some() && !https {
        for name in ["ca", "cert", "key"].into_iter().filter(|name| s.table.contains_key(*name)) {
            s.problem(s.key(name), "TLS is used only with https:// endpoints, and every endpoint is http://");
            tls_fits = false;
        }
    }
    let ca = match ca {
        None => None,
        Some(path) => Some(PathBuf::from(path?)),
    };
    tls_fits.then_some(())?;
    Some(EtcdLedgerConfig {
        endpoints: endpoints?,
        prefix: prefix?,
        dial_timeout: dial_timeout?,
        request_timeout: request_timeout?,
        lease_ttl: lease_ttl?,
        ca,
        client_cert: client_cert?,
        user: user?,
    })
}

/// An endpoint is `http://HOST[:PORT]` or `https://HOST[:PORT]`, without a path.
fn check_endpoint(url: &str) -> Result<(), &'static str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("must start with http:// or https://")?;
    let host = rest.trim_end_matches('/');
    if host.is_empty() {
        return Err("names no host");
    }
    if host.contains('/') || host.contains('?') || host.contains('#') {
        return Err("must be a scheme, a host and a port only (the API's paths are ftl's)");
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control() || c == '@') {
        return Err("is not a URL of a host");
    }
    Ok(())
}

fn valid_domain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name.starts_with('.')
}

fn build(root: &Section) -> Option<Config> {
    let domain = match root.raw("domain") {
        None => Some(None),
        Some(v) => root.string_value("domain", v).map(Some),
    };
    // In each table every key is read before `finish` reports the unknown ones, and before a
    // bad value stops the table: so that one problem never hides another.
    let library = root.table("library", true).and_then(|s| {
        let (name, driver, driver_path) =
            (s.string("name"), s.string_or("driver", "sg"), s.string_or("driver_path", "/kernel/drv/sg"));
        // The name is printed in tables, metrics labels and the ledger: one line of text.
        if let Some(bad) = name.as_ref().filter(|n| n.trim().is_empty() || n.chars().any(char::is_control)) {
            s.problem(
                s.key("name"),
                format!("{bad:?} must be a non-empty name on one line, without control characters"),
            );
        }
        s.finish();
        Some(Library { name: name?, driver: driver?, driver_path: driver_path? })
    });
    let ledger = root.table("ledger", true).and_then(|s| {
        let store = s.string_or("store", "dir");
        let ledger = match store.as_deref() {
            Some("dir") => {
                s.refuse(ETCD_KEYS, "store = \"etcd\"");
                build_dir_ledger(&s).map(LedgerConfig::Dir)
            }
            Some("etcd") => {
                s.refuse(DIR_KEYS, "store = \"dir\"");
                let library = library.as_ref().map(|l| l.name.as_str()).unwrap_or_default();
                build_etcd_ledger(&s, library).map(LedgerConfig::Etcd)
            }
            Some(other) => {
                s.problem(s.key("store"), format!("`{other}` is not a store: \"dir\" or \"etcd\""));
                // The other keys cannot be judged without knowing the store.
                for key in DIR_KEYS.iter().chain(ETCD_KEYS) {
                    s.raw(key);
                }
                None
            }
            None => None,
        };
        s.finish();
        ledger
    });
    let drives = build_drives(root);
    let domains = build_domains(root);
    let netbackup = root.table("netbackup", false).and_then(|s| {
        let (vmoprcmd, bpdbjobs, bpps, bppllist, stop, start, restart_after_release, pending_jobs_block, nbpemreq) = (
            s.absolute_path_or("vmoprcmd", "/usr/openv/volmgr/bin/vmoprcmd"),
            s.absolute_path_or("bpdbjobs", "/usr/openv/netbackup/bin/admincmd/bpdbjobs"),
            s.absolute_path_or("bpps", "/usr/openv/netbackup/bin/bpps"),
            s.absolute_path_or("bppllist", "/usr/openv/netbackup/bin/admincmd/bppllist"),
            s.argv_or("stop", &["/etc/rc0.d/K77netbackup", "stop"]),
            s.argv_or("start", &["/etc/rc2.d/S77netbackup", "start"]),
            s.bool_or("restart_after_release", false),
            s.bool_or("pending_jobs_block", true),
            s.raw("nbpemreq").map(|_| s.absolute_path_or("nbpemreq", "")),
        );
        s.finish();
        Some(NetBackup {
            vmoprcmd: vmoprcmd?,
            bpdbjobs: bpdbjobs?,
            bpps: bpps?,
            bppllist: bppllist?,
            stop: stop?,
            start: start?,
            restart_after_release: restart_after_release?,
            pending_jobs_block: pending_jobs_block?,
            nbpemreq: match nbpemreq {
                None => None,
                Some(path) => Some(path?),
            },
        })
    });
    let commands = root.table("commands", false).and_then(|s| {
        let (mt, modinfo, modunload, modload, psrset, pbind, kill) = (
            s.absolute_path_or("mt", "/usr/bin/mt"),
            s.absolute_path_or("modinfo", "/usr/sbin/modinfo"),
            s.absolute_path_or("modunload", "/usr/sbin/modunload"),
            s.absolute_path_or("modload", "/usr/sbin/modload"),
            s.absolute_path_or("psrset", "/usr/sbin/psrset"),
            s.absolute_path_or("pbind", "/usr/sbin/pbind"),
            s.absolute_path_or("kill", "/usr/bin/kill"),
        );
        s.finish();
        Some(Commands {
            mt: mt?,
            modinfo: modinfo?,
            modunload: modunload?,
            modload: modload?,
            psrset: psrset?,
            pbind: pbind?,
            kill: kill?,
        })
    });
    let timeouts_section = root.table("timeouts", false);
    let timeouts = timeouts_section.as_ref().and_then(|s| {
        let (command, netbackup_stop, netbackup_start, stop_grace, rewind) = (
            s.duration_or("command", "2m"),
            s.duration_or("netbackup_stop", "5m"),
            s.duration_or("netbackup_start", "10m"),
            s.duration_or("stop_grace", "2m"),
            s.duration_or("rewind", "10m"),
        );
        let t = Timeouts {
            command: command?,
            netbackup_stop: netbackup_stop?,
            netbackup_start: netbackup_start?,
            stop_grace: stop_grace?,
            rewind: rewind?,
        };
        for (name, d) in [
            ("command", t.command),
            ("rewind", t.rewind),
            ("netbackup_stop", t.netbackup_stop),
            ("netbackup_start", t.netbackup_start),
        ] {
            if d.is_zero() {
                s.problem(s.key(name), "a timeout of zero would fail every command");
            }
        }
        Some(t)
    });
    let (controller, host) = build_platform(root, timeouts_section.as_ref());
    if let Some(s) = &timeouts_section {
        s.finish();
    }
    let schedule = root.table("schedule", false).and_then(|s| {
        let (lead, grace, release_at_window_end) =
            (s.duration_or("lead", "30m"), s.duration_or("grace", "30m"), s.bool_or("release_at_window_end", false));
        s.finish();
        Some(Schedule { lead: lead?, grace: grace?, release_at_window_end: release_at_window_end? })
    });
    let requests = root.table("requests", false).and_then(|s| {
        let ttl = s.duration_or("ttl", "2h");
        if ttl.is_some_and(|t| t.is_zero()) {
            s.problem(s.key("ttl"), "a request that expires at once is no request");
        }
        s.finish();
        Some(Requests { ttl: ttl? })
    });
    let hooks = root.table("hooks", false).and_then(|s| {
        let (fail_job_when_elsewhere, release_at_shutdown, acquire_wait, release_wait) = (
            s.bool_or("fail_job_when_elsewhere", true),
            s.bool_or("release_at_shutdown", true),
            s.duration_or("acquire_wait", "2h"),
            s.duration_or("release_wait", "30m"),
        );
        s.finish();
        Some(Hooks {
            fail_job_when_elsewhere: fail_job_when_elsewhere?,
            release_at_shutdown: release_at_shutdown?,
            acquire_wait: acquire_wait?,
            release_wait: release_wait?,
        })
    });
    let prerequisites = root.table("prerequisites", false).and_then(|s| {
        let (uname, showrev, patches, etc_system, messages, cat, unsafe_devices) = (
            s.absolute_path_or("uname", "/usr/bin/uname"),
            s.absolute_path_or("showrev", "/usr/bin/showrev"),
            s.string_list_or("patches", &["105181", "106381", "106048", "106284"]),
            s.absolute_path_or("etc_system", "/etc/system"),
            s.absolute_path_or("messages", "/var/adm/messages"),
            s.absolute_path_or("cat", "/usr/bin/cat"),
            s.bool_or("unsafe_devices", true),
        );
        let dr_max_mem = s.raw("dr_max_mem").map(|_| s.argv_or("dr_max_mem", &[]));
        let postrc = s.raw("postrc").map(|_| s.absolute_path_or("postrc", ""));
        if let Some(bad) = patches.iter().flatten().find(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
            s.problem(s.key("patches"), format!("`{bad}` is not a patch number (six digits, no revision)"));
        }
        s.finish();
        Some(Prerequisites {
            uname: uname?,
            showrev: showrev?,
            patches: patches?,
            etc_system: etc_system?,
            messages: messages?,
            dr_max_mem: match dr_max_mem {
                None => None,
                Some(argv) => Some(argv?),
            },
            postrc: match postrc {
                None => None,
                Some(path) => Some(path?),
            },
            cat: cat?,
            unsafe_devices: unsafe_devices?,
        })
    });
    root.finish();

    let (domain, domains) = (domain?, domains?);
    // Each guest is one declared domain's, and each domain has one guest.
    if let Some(Controller::Libvirt(l)) = &controller {
        let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
        for d in l.guests.keys() {
            if !domains.contains_key(d) {
                root.problem(format!("controller.guests.{d}"), format!("`{d}` is not declared under [domains]"));
            }
        }
        for d in domains.keys() {
            let g = l.guest(d);
            if let Some(other) = owner.insert(g, d) {
                root.problem(
                    format!("controller.guests.{d}"),
                    format!("guest `{g}` is already the guest of domain `{other}` (one guest per domain)"),
                );
            }
        }
    }
    // The file's order (the toml table keeps it); the map itself is sorted.
    let order: Vec<String> = match root.raw("domains") {
        Some(toml::Value::Table(t)) => t.keys().filter(|k| domains.contains_key(*k)).cloned().collect(),
        _ => domains.keys().cloned().collect(),
    };
    // Declared is what the file names under [domains], even a table with a problem of its own
    // (reported already): it is not also "not declared".
    let declared: Vec<String> = match root.raw("domains") {
        Some(toml::Value::Table(t)) => t.keys().cloned().collect(),
        _ => domains.keys().cloned().collect(),
    };
    if let Some(d) = &domain {
        if !declared.contains(d) {
            root.problem(
                "domain".into(),
                format!("`{d}` is not declared under [domains] (declared: {})", declared.join(", ")),
            );
        }
    }
    Some(Config {
        path: PathBuf::new(),
        domain,
        library: library?,
        ledger: ledger?,
        drives: drives?,
        domains,
        controller: controller?,
        host: host?,
        netbackup: netbackup?,
        commands: commands?,
        timeouts: timeouts?,
        schedule: schedule?,
        requests: requests?,
        hooks: hooks?,
        prerequisites: prerequisites?,
        domain_order: order,
    })
}

/// The controller profile's keys and the host's: each profile reads its own, and refuses the
/// other's.
fn build_platform(root: &Section, timeouts: Option<&Section>) -> (Option<Controller>, Option<Host>) {
    let Some(s) = root.table("controller", true) else {
        return (None, None);
    };
    let host = build_host(root);
    let profile = s.string("profile");
    let controller = match profile.as_deref() {
        Some("starfire") => build_starfire(root, &s, timeouts),
        Some("libvirt") => build_libvirt(root, &s, timeouts),
        Some(other) => {
            s.problem(s.key("profile"), format!("unknown profile `{other}` (known: starfire, libvirt)"));
            None
        }
        None => None,
    };
    s.finish();
    // Each profile is written for the operating system its platform runs.
    match (&controller, &host) {
        (Some(Controller::Starfire(_)), Some(Host::Linux(_))) => root.problem(
            "host.os".into(),
            "the starfire profile moves boards between Solaris domains: use os = \"solaris\"",
        ),
        (Some(Controller::Libvirt(_)), Some(Host::Solaris)) => root.problem(
            "host.os".into(),
            "the libvirt profile's guests are Linux (mt-st drives, sysfs): set [host] os = \"linux\"",
        ),
        _ => {}
    }
    (controller, host)
}

fn build_starfire(root: &Section, s: &Section, timeouts: Option<&Section>) -> Option<Controller> {
    let (prefix, showusage, addboard, deleteboard) = (
        s.string_list_or("prefix", &[]),
        s.string_or("showusage", "/opt/SUNWssp/bin/showusage"),
        s.string_or("addboard", "/opt/SUNWssp/bin/addboard"),
        s.string_or("deleteboard", "/opt/SUNWssp/bin/deleteboard"),
    );
    let timeout = |name: &str, default: &str| {
        let t = timeouts?;
        let d = t.duration_or(name, default)?;
        if d.is_zero() {
            t.problem(t.key(name), "a timeout of zero would fail every command");
        }
        Some(d)
    };
    let (addboard_timeout, deleteboard_timeout) = (timeout("addboard", "1h"), timeout("deleteboard", "30m"));
    let board = build_board(root);
    Some(Controller::Starfire(Starfire {
        prefix: prefix?,
        showusage: showusage?,
        addboard: addboard?,
        deleteboard: deleteboard?,
        board: board?,
        addboard_timeout: addboard_timeout?,
        deleteboard_timeout: deleteboard_timeout?,
    }))
}

fn build_board(root: &Section) -> Option<Board> {
    let s = root.table("board", true)?;
    let id = s.uint("id", 63).map(|id| id as u32);
    let cpus = match s.raw("cpus") {
        None => id.map(|id| (0..4).map(|n| id * 4 + n).collect()),
        Some(toml::Value::Array(items)) if items.is_empty() => {
            s.problem(
                s.key("cpus"),
                "the board has no processors (the list is empty); leave the key out for the board's four",
            );
            None
        }
        Some(toml::Value::Array(items)) => {
            let cpus: Vec<Option<u64>> =
                items.iter().enumerate().map(|(i, item)| s.uint_value(&format!("cpus[{i}]"), item, 1023)).collect();
            cpus.into_iter().map(|c| c.map(|c| c as u32)).collect::<Option<Vec<u32>>>()
        }
        Some(other) => {
            s.wrong_type("cpus", "a list of processor ids", other);
            None
        }
    };
    s.finish();
    Some(Board { id: id?, cpus: cpus? })
}

fn build_libvirt(root: &Section, s: &Section, timeouts: Option<&Section>) -> Option<Controller> {
    let (prefix, virsh, uri, pci, attach_timeout, detach_timeout) = (
        s.string_list_or("prefix", &[]),
        s.absolute_path_or("virsh", "/usr/bin/virsh"),
        s.string_or("uri", "qemu:///system"),
        s.string("pci"),
        s.duration_or("attach_timeout", "5m"),
        s.duration_or("detach_timeout", "5m"),
    );
    let alias = s.raw("alias").map(|v| s.string_value("alias", v));
    if let Some(Some(alias)) = &alias {
        // libvirt accepts a user alias only with this prefix (docs: "Devices", "alias").
        let ok = alias.starts_with("ua-") && alias.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
        if !ok {
            s.problem(s.key("alias"), format!("`{alias}` must start with `ua-` and use letters, digits, `-` and `_` (libvirt's rule for user aliases)"));
        }
    }
    if let Some(bad) = pci.as_ref().filter(|p| crate::platform::libvirt::parse_pci(p).is_none()) {
        s.problem(
            s.key("pci"),
            format!("`{bad}` is not a PCI address such as 0000:41:00.0 (domain:bus:slot.function, hexadecimal)"),
        );
    }
    for (name, d) in [("attach_timeout", attach_timeout), ("detach_timeout", detach_timeout)] {
        if d.is_some_and(|d| d.is_zero()) {
            s.problem(s.key(name), "a timeout of zero would fail every command");
        }
    }
    let guests = match s.raw("guests") {
        None => Some(BTreeMap::new()),
        Some(toml::Value::Table(t)) => {
            let g = s.sub(s.key("guests"), t);
            let names: Vec<(String, Option<String>)> =
                t.iter().map(|(domain, v)| (domain.clone(), g.string_value(domain, v))).collect();
            names.into_iter().map(|(d, v)| v.map(|v| (d, v))).collect::<Option<BTreeMap<_, _>>>()
        }
        Some(other) => {
            s.wrong_type("guests", "a table of domain = \"guest\"", other);
            None
        }
    };
    // The Starfire's keys elsewhere have no meaning here: say so rather than ignore them.
    if root.table.contains_key("board") {
        root.raw("board");
        root.problem(
            "board".into(),
            "the libvirt profile moves a PCI device, not a system board: remove [board] (the device is controller.pci)",
        );
    }
    if let Some(t) = timeouts {
        for name in ["addboard", "deleteboard"] {
            if t.raw(name).is_some() {
                t.problem(t.key(name), "a Starfire timeout; the libvirt profile's are controller.attach_timeout and controller.detach_timeout");
            }
        }
    }
    Some(Controller::Libvirt(Libvirt {
        prefix: prefix?,
        virsh: virsh?,
        uri: uri?,
        pci: pci?,
        alias: match alias {
            None => None,
            Some(a) => Some(a?),
        },
        guests: guests?,
        attach_timeout: attach_timeout?,
        detach_timeout: detach_timeout?,
    }))
}

fn build_host(root: &Section) -> Option<Host> {
    let s = root.table("host", false)?;
    let os = s.string_or("os", "solaris")?;
    let host = match os.as_str() {
        "solaris" => Some(Host::Solaris),
        "linux" => {
            let (sysfs, robot, devices_timeout) = (
                s.absolute_path_or("sysfs", "/sys"),
                s.raw("robot").and_then(|_| s.absolute_path_or("robot", "")),
                s.duration_or("devices_timeout", "2m"),
            );
            if s.table.get("robot").is_none() {
                s.problem(
                    s.key("robot"),
                    "missing (this key is required on Linux: the changer's device, e.g. /dev/tape/by-id/scsi-...)",
                );
            }
            if devices_timeout.is_some_and(|d| d.is_zero()) {
                s.problem(s.key("devices_timeout"), "a timeout of zero would fail every wait for a device");
            }
            // Solaris's own keys have no meaning on Linux: say so rather than ignore them.
            for (table, keys) in [
                ("library", &["driver", "driver_path"][..]),
                ("commands", &["modinfo", "modunload", "modload", "psrset", "pbind"][..]),
            ] {
                if let Some(toml::Value::Table(t)) = root.table.get(table) {
                    for key in keys.iter().filter(|k| t.contains_key(**k)) {
                        root.problem(format!("{table}.{key}"), "a Solaris key; this site's host.os is linux");
                    }
                }
            }
            if root.table.contains_key("prerequisites") {
                root.problem("prerequisites".into(), "the Starfire's DR prerequisites; this site's host.os is linux");
            }
            Some(Host::Linux(Linux {
                sysfs: PathBuf::from(sysfs?),
                robot: PathBuf::from(robot?),
                devices_timeout: devices_timeout?,
            }))
        }
        other => {
            s.problem(s.key("os"), format!("unknown operating system `{other}` (known: solaris, linux)"));
            None
        }
    };
    s.finish();
    host
}

fn build_drives(root: &Section) -> Option<Vec<Drive>> {
    let value = root.required("drives")?;
    let toml::Value::Array(items) = value else {
        root.wrong_type("drives", "an array of tables ([[drives]])", value);
        return None;
    };
    if items.is_empty() {
        root.problem("drives".into(), "the library has no drives (the list is empty)");
        return None;
    }
    let mut drives = Vec::new();
    let mut seen = BTreeMap::new();
    let mut devices = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let key = format!("drives[{i}]");
        let toml::Value::Table(t) = item else {
            root.problem(key, format!("expected a table, found {}", item.type_str()));
            continue;
        };
        let s = root.sub(key.clone(), t);
        let index = s.uint("index", 1023);
        let device = s.string("device");
        s.finish();
        let (Some(index), Some(device)) = (index, device) else {
            continue;
        };
        if !device.starts_with('/') {
            s.problem(s.key("device"), format!("`{device}` must be an absolute path like /dev/rmt/0"));
            continue;
        }
        if let Some(first) = seen.insert(index, i) {
            s.problem(s.key("index"), format!("drive index {index} is already used by drives[{first}]"));
            continue;
        }
        // `/dev/rmt//0`, `/dev/rmt/./0` and `/dev/rmt/0/` name the same device as `/dev/rmt/0`.
        let same: PathBuf = Path::new(&device).components().collect();
        if let Some(first) = devices.insert(same, i) {
            s.problem(s.key("device"), format!("device {device} is already the device of drives[{first}]"));
            continue;
        }
        drives.push(Drive { index: index as u32, device: PathBuf::from(device) });
    }
    Some(drives)
}

fn build_domains(root: &Section) -> Option<BTreeMap<String, DomainConfig>> {
    let section = root.table("domains", true)?;
    if section.table.is_empty() {
        root.problem("domains".into(), "no domain is declared");
        return None;
    }
    let mut domains = BTreeMap::new();
    let mut host_owner: BTreeMap<String, String> = BTreeMap::new();
    // In name order, as before the table kept the file's order: messages name the same key.
    let mut names: Vec<&String> = section.table.keys().collect();
    names.sort();
    for name in names {
        if !valid_domain_name(name) {
            section.problem(section.key(name), "a domain name may use letters, digits, `-`, `_` and `.` only");
        }
        let Some(s) = section.table(name, true) else {
            continue;
        };
        let hosts = s.string_list_or("hosts", &[name.as_str()]);
        let windows = s.string_list_or("windows", &[]).map(|texts| {
            texts
                .iter()
                .enumerate()
                .filter_map(|(i, t)| {
                    Window::parse(t).map_err(|e| s.problem(format!("{}[{i}]", s.key("windows")), e)).ok()
                })
                .collect::<Vec<_>>()
        });
        let policies = s.string_list_or("policies", &[]);
        s.finish();
        let (Some(hosts), Some(windows), Some(policies)) = (hosts, windows, policies) else {
            continue;
        };
        for host in &hosts {
            if let Some(other) = host_owner.insert(host.clone(), name.clone()) {
                s.problem(s.key("hosts"), format!("host `{host}` is already mapped to domain `{other}`"));
            }
        }
        domains.insert(name.clone(), DomainConfig { hosts, windows, policies });
    }
    section.finish();
    Some(domains)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const MINIMAL: &str = r#"
[library]
name = "L3500"
[ledger]
dir = "/shared/ftl"
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
hosts = ["flinstones", "fl.example.com"]
windows = ["Mon-Sun 02:00-07:00"]
[controller]
profile = "starfire"
prefix = ["ssh", "-o", "BatchMode=yes", "ssp@ssp0"]
"#;

    #[test]
    fn minimal_file_gets_documented_defaults() {
        let c = Config::parse(Path::new("/etc/ftl/ftl.toml"), MINIMAL).unwrap();
        assert_eq!(c.controller.starfire().unwrap().board.cpus, vec![28, 29, 30, 31]);
        assert_eq!(c.netbackup.stop, vec!["/etc/rc0.d/K77netbackup", "stop"]);
        assert_eq!(c.timeouts.command, Duration::from_secs(120));
        assert_eq!(c.drives.iter().map(|d| d.index).collect::<Vec<_>>(), vec![0, 1]);
        assert!(c.hooks.fail_job_when_elsewhere);
    }

    #[test]
    fn one_device_under_two_spellings_and_a_broken_domain_table() {
        for spelling in ["/dev/rmt//0", "/dev/rmt/./0", "/dev/rmt/0/"] {
            let text = MINIMAL.replace("device = \"/dev/rmt/1\"", &format!("device = \"{spelling}\""));
            let err = Config::parse(Path::new("f.toml"), &text).unwrap_err().to_string();
            assert!(err.contains("drives[1].device") && err.contains("already the device of drives[0]"), "{err}");
        }
        let err = Config::parse(Path::new("f.toml"), &MINIMAL.replace("name = \"L3500\"", "name = \"L\\n3500\""))
            .unwrap_err();
        assert!(err.to_string().contains("library.name"), "{err}");
        // A domain whose table has a problem is still declared: one problem, not two.
        let text = format!(
            "domain = \"flinstones\"\n{}",
            MINIMAL.replace("hosts = [\"flinstones\", \"fl.example.com\"]", "hosts = 5")
        );
        let err = Config::parse(Path::new("f.toml"), &text).unwrap_err().to_string();
        assert!(err.contains("domains.flinstones.hosts") && !err.contains("not declared"), "{err}");
    }

    fn with_ledger(ledger: &str) -> Result<Config, String> {
        let text = MINIMAL.replace("[ledger]\ndir = \"/shared/ftl\"\n", &format!("[ledger]\n{ledger}\n"));
        Config::parse(Path::new("f.toml"), &text).map_err(|e| e.to_string())
    }

    #[test]
    fn the_etcd_store_and_its_defaults() {
        let c = with_ledger("store = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379/\", \"http://10.0.0.2:2379\"]")
            .unwrap();
        let LedgerConfig::Etcd(etcd) = &c.ledger else { panic!("{:?}", c.ledger) };
        assert_eq!(etcd.endpoints, ["http://127.0.0.1:2379", "http://10.0.0.2:2379"]);
        assert_eq!(etcd.prefix, "/ftl/L3500");
        assert_eq!(
            (etcd.dial_timeout, etcd.request_timeout, etcd.lease_ttl),
            (Duration::from_secs(2), Duration::from_secs(5), Duration::from_secs(10))
        );
        assert!(etcd.ca.is_none() && etcd.client_cert.is_none() && etcd.user.is_none());
        let c = with_ledger(
            "store = \"etcd\"\nendpoints = [\"https://e1:2379\"]\nprefix = \"/sites/a/L3500\"\nca = \"/etc/ftl/ca.pem\"\n\
             cert = \"/etc/ftl/c.pem\"\nkey = \"/etc/ftl/k.pem\"\nuser = \"ftl\"\npassword_file = \"/etc/ftl/pw\"",
        )
        .unwrap();
        let LedgerConfig::Etcd(etcd) = &c.ledger else { panic!() };
        assert_eq!(etcd.client_cert, Some((PathBuf::from("/etc/ftl/c.pem"), PathBuf::from("/etc/ftl/k.pem"))));
        assert_eq!(etcd.user, Some(("ftl".into(), PathBuf::from("/etc/ftl/pw"))));
        assert!(matches!(with_ledger("dir = \"/shared/ftl\"").unwrap().ledger, LedgerConfig::Dir(_)));
    }

    #[test]
    fn every_bad_etcd_value_names_its_key() {
        let etcd = "store = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\"]\n";
        let cases = [
            ("store = \"zookeeper\"\ndir = \"/x\"", "ledger.store"),
            ("store = \"etcd\"", "ledger.endpoints"),
            ("store = \"etcd\"\nendpoints = []", "ledger.endpoints"),
            ("store = \"etcd\"\nendpoints = [\"127.0.0.1:2379\"]", "ledger.endpoints[0]"),
            ("store = \"etcd\"\nendpoints = [\"http://h:1\", \"http://h/v3\"]", "ledger.endpoints[1]"),
            ("store = \"etcd\"\nendpoints = [\"https://h:2379\"]", "ledger.ca"),
            (&format!("{etcd}prefix = \"ftl/L\""), "ledger.prefix"),
            (&format!("{etcd}prefix = \"/ftl/L/\""), "ledger.prefix"),
            (&format!("{etcd}prefix = \"/ftl/L3500/journal\""), "ledger.prefix"),
            (&format!("{etcd}prefix = \"/ftl/run/L\""), "ledger.prefix"),
            (&format!("{etcd}dial_timeout = \"0s\""), "ledger.dial_timeout"),
            (&format!("{etcd}request_timeout = 5"), "ledger.request_timeout"),
            (&format!("{etcd}lease_ttl = \"1s\""), "ledger.lease_ttl"),
            (&format!("{etcd}ca = \"/etc/ftl/ca.pem\""), "ledger.ca"),
            ("store = \"etcd\"\nendpoints = [\"https://h\"]\nca = \"/c\"\ncert = \"/c.pem\"", "ledger.key"),
            (&format!("{etcd}user = \"ftl\""), "ledger.password_file"),
            (&format!("{etcd}password_file = \"pw\"\nuser = \"ftl\""), "ledger.password_file"),
            (&format!("{etcd}dir = \"/shared/ftl\""), "ledger.dir"),
            (&format!("{etcd}lock_timeout = \"5s\""), "ledger.lock_timeout"),
            ("dir = \"/shared/ftl\"\nendpoints = [\"http://h:1\"]", "ledger.endpoints"),
            ("dir = \"/shared/ftl\"\nprefix = \"/ftl\"", "ledger.prefix"),
            (&format!("{etcd}endpoint = \"http://h:1\""), "ledger.endpoint"),
        ];
        for (ledger, key) in cases {
            let err = with_ledger(ledger).expect_err(ledger);
            assert!(err.contains(&format!("key `{key}`")), "{ledger}: {err}");
        }
    }

    #[test]
    fn local_domain_order() {
        let c = Config::parse(Path::new("f.toml"), MINIMAL).unwrap();
        assert_eq!(c.local_domain(Some("flinstones"), "x").unwrap(), "flinstones");
        assert_eq!(c.local_domain(None, "fl.example.com").unwrap(), "flinstones");
        assert_eq!(c.local_domain(None, "marmaduke").unwrap(), "marmaduke");
        let err = c.local_domain(None, "elsewhere").unwrap_err().to_string();
        assert!(err.contains("elsewhere") && err.contains("f.toml"), "{err}");
    }
}
