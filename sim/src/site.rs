//! `ftl-sim init`: builds a simulated site in a directory: the platform state, the shared ledger
//! recording the owner, and per domain an `ftl.toml` (which fixes its own domain) whose command
//! paths point at that domain's fake commands, plus the controller's fake commands.
//!
//! A Starfire site (the default) has the SSP's commands on the controller and Solaris domains; a
//! libvirt site (`--platform libvirt`, the contract of issue 14) has `virsh` on the controller
//! (the KVM host), Linux guests with mt-st's `mt`, and per guest the `sys` and `dev` trees that
//! [`crate::kernel`] keeps; the NetBackup commands and the platform state are the same.

use crate::fake::{CONTROLLER_COMMANDS, DOMAIN_COMMANDS, LIBVIRT_CONTROLLER_COMMANDS, LIBVIRT_DOMAIN_COMMANDS};
use crate::platform::{Board, Domain, Drive, Libvirt, Module, Platform, Running, Site};
use crate::timing;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct InitOptions {
    pub domains: Vec<String>,
    pub owner: Option<String>,
    pub drives: u32,
    pub speed: f64,
    pub board: u32,
    /// Seeds the tape positions, so a site is reproducible.
    pub seed: u64,
    pub platform: Kind,
    /// The library's name (`[library] name`; the etcd prefix is `/ftl/<library>`).
    pub library: String,
    /// Where the ledger is: the site's own directory, or an etcd cluster.
    pub ledger: LedgerChoice,
    /// Each domain's window, in order (`None`: the defaults, see [`window_notes`]).
    pub windows: Option<Vec<String>>,
}

/// The ledger store a site's configurations name (`ftl-sim init --ledger`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LedgerChoice {
    /// The directory ledger in DIR/ledger (the default).
    #[default]
    Dir,
    /// `[ledger] store = "etcd"` on these endpoints.
    Etcd(EtcdChoice),
}

/// An etcd ledger for a site: its endpoints, its prefix and its TLS files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcdChoice {
    pub endpoints: Vec<String>,
    /// `None`: `/ftl/<library>`.
    pub prefix: Option<String>,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl std::str::FromStr for LedgerChoice {
    type Err = String;
    /// `dir`, or `etcd=URL[,URL...]`.
    fn from_str(s: &str) -> Result<LedgerChoice, String> {
        if s == "dir" {
            return Ok(LedgerChoice::Dir);
        }
        let Some(list) = s.strip_prefix("etcd=") else {
            return Err(format!("`{s}` is not a ledger: `dir` or `etcd=URL[,URL...]`"));
        };
        let endpoints: Vec<String> = list.split(',').map(|u| u.trim().to_string()).collect();
        if let Some(bad) = endpoints.iter().find(|u| !(u.starts_with("http://") || u.starts_with("https://"))) {
            return Err(format!("`{bad}` is not an etcd endpoint: write http://HOST:PORT or https://HOST:PORT"));
        }
        Ok(LedgerChoice::Etcd(EtcdChoice { endpoints, ..EtcdChoice::default() }))
    }
}

impl LedgerChoice {
    /// The prefix the ledger of `library` is under, for an etcd ledger.
    pub fn prefix(&self, library: &str) -> Option<String> {
        match self {
            LedgerChoice::Dir => None,
            LedgerChoice::Etcd(e) => Some(e.prefix.clone().unwrap_or_else(|| format!("/ftl/{library}"))),
        }
    }

    /// The `[ledger]` section for a site in `dir`.
    fn section(&self, dir: &Path, library: &str) -> String {
        match self {
            LedgerChoice::Dir => format!(
                "[ledger]\ndir = {}\nlock_timeout = \"10s\"\n\n",
                toml_str(&dir.join("ledger").display().to_string())
            ),
            LedgerChoice::Etcd(e) => {
                let list = e.endpoints.iter().map(|u| toml_str(u)).collect::<Vec<_>>().join(", ");
                let mut t = format!(
                    "[ledger]\nstore = \"etcd\"\nendpoints = [{list}]\nprefix = {}\n",
                    toml_str(&self.prefix(library).unwrap_or_default())
                );
                for (key, path) in [("ca", &e.ca), ("cert", &e.cert), ("key", &e.key)] {
                    if let Some(path) = path {
                        t.push_str(&format!("{key} = {}\n", toml_str(&path.display().to_string())));
                    }
                }
                t + "\n"
            }
        }
    }
}

/// Which platform a site simulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// The Sun E10000: a system board moved by the SSP between Solaris domains.
    #[default]
    Starfire,
    /// KVM guests passing a tape HBA (a PCI host device) with virsh.
    Libvirt,
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        match s {
            "starfire" => Ok(Kind::Starfire),
            "libvirt" => Ok(Kind::Libvirt),
            other => Err(format!("unknown platform `{other}` (starfire or libvirt)")),
        }
    }
}

/// The HBA a libvirt site passes between its guests, and the alias ftl gives its hostdev.
pub const LIBVIRT_PCI: &str = "0000:41:00.0";
pub const LIBVIRT_ALIAS: &str = "ua-ftl-hba";
pub const LIBVIRT_URI: &str = "qemu:///system";
/// The SCSI host number of the HBA in a guest (host0 and host1 are its own disk controllers).
pub const LIBVIRT_SCSI_HOST: u32 = 2;

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            domains: vec!["marmaduke".into(), "flinstones".into()],
            owner: None,
            drives: 7,
            speed: timing::DEFAULT_SPEED,
            board: 7,
            seed: 1,
            platform: Kind::Starfire,
            library: "L3500".into(),
            ledger: LedgerChoice::Dir,
            windows: None,
        }
    }
}

/// Default windows, one per domain in order (the SPEC's first two, then two more).
const WINDOWS: &[&str] = &["Mon-Sun 20:00-01:00", "Mon-Sun 02:00-07:00", "Mon-Sun 08:00-12:00", "Mon-Sun 13:00-17:00"];

/// The window of the `n`th domain: the one given, else the default.
fn window_of(options: &InitOptions, n: usize) -> Option<&str> {
    match &options.windows {
        Some(list) => list.get(n).map(String::as_str),
        None => WINDOWS.get(n).copied(),
    }
}

/// A small deterministic generator (xorshift), enough for tape positions.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// What `init` says about the windows it chose: the defaults are the SPEC's for the first two
/// domains; a later domain gets one nobody asked for, or none.
pub fn window_notes(options: &InitOptions) -> Vec<String> {
    if options.windows.is_some() {
        return Vec::new();
    }
    options
        .domains
        .iter()
        .enumerate()
        .skip(2)
        .map(|(n, d)| match WINDOWS.get(n) {
            Some(w) => {
                format!("{d} gets the window {w}, which nobody chose: edit [domains.{d}] windows in every ftl.toml")
            }
            None => format!(
                "{d} has no window: it gets the library only when it asks; add [domains.{d}] windows in every ftl.toml"
            ),
        })
        .collect()
}

/// Refuses what `init` cannot build, before anything is created.
fn validate(dir: &Path, options: &InitOptions) -> Result<(), String> {
    if dir.to_str().is_none() {
        return Err(format!(
            "{}: ftl.toml is TOML, which holds only UTF-8 text, so a site's path must be UTF-8",
            dir.display()
        ));
    }
    if options.domains.len() < 2 {
        return Err("a site needs at least two domains (--domains a,b)".into());
    }
    if options.drives == 0 || options.drives > 64 {
        return Err("--drives must be between 1 and 64".into());
    }
    // Below 0.001 the longest scaled timeout (addboard's hour) would pass ftl's 365-day maximum.
    if !(options.speed.is_finite() && options.speed >= 0.001) {
        return Err(format!("--speed must be a number of at least 0.001, not {}", options.speed));
    }
    for d in &options.domains {
        if d.is_empty()
            || d == "controller"
            || d == "ledger"
            || !d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "`{d}` cannot be a domain name here (letters, digits, - and _; not `controller` or `ledger`)"
            ));
        }
    }
    let l = &options.library;
    if l.is_empty() || l.len() > 64 || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(format!("`{l}` cannot be a library name here (1 to 64 letters, digits, -, _ and .)"));
    }
    if let LedgerChoice::Etcd(etcd) = &options.ledger {
        if etcd.endpoints.is_empty() {
            return Err("--ledger etcd= needs at least one endpoint".into());
        }
        if etcd.cert.is_some() != etcd.key.is_some() {
            return Err("--ledger-cert and --ledger-key go together (a client certificate and its key)".into());
        }
    }
    for (i, d) in options.domains.iter().enumerate() {
        if options.domains[..i].contains(d) {
            return Err(format!("domain `{d}` is named twice in --domains {}", options.domains.join(",")));
        }
    }
    let owner = options.owner.clone().unwrap_or_else(|| options.domains[0].clone());
    if !options.domains.contains(&owner) {
        return Err(format!("--owner {owner} is not one of --domains {}", options.domains.join(",")));
    }
    if dir.exists() && std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?.next().is_some() {
        return Err(format!("{} exists and is not empty; choose a new directory", dir.display()));
    }
    Ok(())
}

pub fn init(dir: &Path, options: &InitOptions) -> Result<Site, String> {
    validate(dir, options)?;
    let existed = dir.exists();
    let built = build(dir, options);
    if built.is_err() {
        // Nothing half made is left behind: a later init of the same directory must work.
        if existed {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for entry in entries.flatten() {
                    let _ = std::fs::remove_dir_all(entry.path()).or_else(|_| std::fs::remove_file(entry.path()));
                }
            }
        } else {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    built
}

fn build(dir: &Path, options: &InitOptions) -> Result<Site, String> {
    let owner = options.owner.clone().unwrap_or_else(|| options.domains[0].clone());
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dir = dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?;
    let exe = std::env::current_exe()
        .and_then(|e| e.canonicalize())
        .map_err(|e| format!("cannot find the ftl-sim binary: {e}"))?;

    let mut seed = options.seed.max(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let drives: Vec<Drive> = (0..options.drives)
        .map(|index| {
            let tape = index + 1 != options.drives || options.drives == 1;
            let position = if tape && !next(&mut seed).is_multiple_of(4) {
                10_000 + next(&mut seed) % (timing::TAPE_BLOCKS - 10_000)
            } else {
                0
            };
            Drive { index, tape, position, at_bot: position == 0 }
        })
        .collect();
    let mut platform = Platform {
        version: 1,
        speed: options.speed,
        board: Board { id: options.board, domain: Some(owner.clone()), unfinished: None },
        drives,
        domains: BTreeMap::new(),
        faults: Vec::new(),
        next_pid: 2000,
        next_module_id: 141,
        libvirt: (options.platform == Kind::Libvirt).then(|| Libvirt {
            pci: LIBVIRT_PCI.into(),
            alias: Some(LIBVIRT_ALIAS.into()),
            ids: options.domains.iter().enumerate().map(|(n, d)| (d.clone(), n as u32 + 1)).collect(),
            scsi_host: LIBVIRT_SCSI_HOST,
            present: vec![true; options.drives as usize + 1],
            probe_at: None,
            unplug_pending: false,
        }),
    };
    for d in &options.domains {
        let control = if *d == owner { "UP" } else { "DOWN" };
        platform.domains.insert(
            d.clone(),
            Domain {
                netbackup: Running::Stopped,
                sg: Module::Unloaded,
                sg_id: None,
                jobs: 0,
                control: vec![control.into(); options.drives as usize],
                pids: Vec::new(),
                queued: 0,
                pbx: Some(210),
                scheduling_suspended: false,
            },
        );
        platform.start_netbackup(d);
        platform.load_sg(d);
    }
    let site = Site { dir: dir.clone() };
    site.write(&platform)?;
    let lock = dir.join(crate::platform::LOCK_FILE);
    std::fs::write(&lock, "").map_err(|e| format!("{}: {e}", lock.display()))?;

    let mk = |p: &PathBuf| std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()));
    let link = |bin: &PathBuf, name: &str| {
        let path = bin.join(name);
        std::os::unix::fs::symlink(&exe, &path).map_err(|e| format!("{}: {e}", path.display()))
    };
    let libvirt = options.platform == Kind::Libvirt;
    let (controller_commands, domain_commands) = if libvirt {
        (LIBVIRT_CONTROLLER_COMMANDS, LIBVIRT_DOMAIN_COMMANDS)
    } else {
        (CONTROLLER_COMMANDS, DOMAIN_COMMANDS)
    };
    let controller_bin = dir.join("controller").join("bin");
    mk(&controller_bin)?;
    for name in controller_commands {
        link(&controller_bin, name)?;
    }
    if options.ledger == LedgerChoice::Dir {
        mk(&site.ledger_dir())?;
    }
    for d in &options.domains {
        let bin = site.domain_dir(d).join("bin");
        mk(&bin)?;
        for name in domain_commands {
            link(&bin, name)?;
        }
        let policies = site.domain_dir(d).join("policies");
        mk(&policies)?;
        let n = options.domains.iter().position(|x| x == d).unwrap_or(0);
        if let Some(w) = window_of(options, n) {
            let hm = |t: &str| -> (u32, u32) {
                let (h, m) = t.split_once(':').unwrap_or(("0", "0"));
                (h.parse().unwrap_or(0), m.parse().unwrap_or(0))
            };
            let (start, end) =
                w.rsplit_once(' ').map(|(_, r)| r).and_then(|r| r.split_once('-')).unwrap_or(("00:00", "00:00"));
            for (name, text) in crate::policies::policies(d, hm(start), hm(end)) {
                std::fs::write(policies.join(&name), text).map_err(|e| format!("{name}: {e}"))?;
            }
        }
        let text = if libvirt { libvirt_config_text(&dir, d, options) } else { config_text(&dir, d, options) };
        std::fs::write(site.config_path(d), text).map_err(|e| format!("{}: {e}", site.config_path(d).display()))?;
        if libvirt {
            continue;
        }
        // What the DR prerequisites read: the blueprint's settings, all met.
        let files = [
            ("etc/system", "* ftl-sim: the DR settings of the blueprint\nset kernel_cage_enable=1\n".to_string()),
            (
                "var/adm/messages",
                format!("Nov 30 08:00:01 {d} unix: [ID 800000 kern.notice] NOTICE: DR Kernel Cage is ENABLED\n"),
            ),
            ("var/sadm/showrev-p", SHOWREV.to_string()),
        ];
        for (rel, text) in files {
            let path = site.domain_dir(d).join(rel);
            mk(&path.parent().unwrap_or(&dir).to_path_buf())?;
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let postrc = dir.join("controller").join("etc").join(d).join(".postrc");
        mk(&postrc.parent().unwrap_or(&dir).to_path_buf())?;
        std::fs::write(&postrc, format!("# ftl-sim: hpost settings of domain {d}; no mem_interleave_ok\nlevel 16\n"))
            .map_err(|e| format!("{}: {e}", postrc.display()))?;
    }
    crate::kernel::render(&site, &platform, true)?;
    // ftl trusts only files its owner alone can write: set the modes, whatever the umask.
    fix_modes(&dir)?;
    let config = ftl::config::Config::load(&site.config_path(&owner)).map_err(|e| e.to_string())?;
    let ledger = ftl::ledger::open(&config).map_err(|e| e.to_string())?;
    ledger.init(Some(&owner), &ftl::os::current_holder(&owner), chrono::Utc::now()).map_err(|e| {
        match &options.ledger {
            LedgerChoice::Dir => e.to_string(),
            LedgerChoice::Etcd(etcd) => format!(
                "cannot create the ledger record on etcd ({}) under {}: {e}",
                etcd.endpoints.join(", "),
                options.ledger.prefix(&options.library).unwrap_or_default()
            ),
        }
    })?;
    if libvirt {
        crate::kernel::ensure_running(&site);
    }
    Ok(site)
}

fn fix_modes(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = if meta.is_dir() { 0o755 } else { 0o644 };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?.flatten() {
            fix_modes(&entry.path())?;
        }
    }
    Ok(())
}

/// A timeout for the simulated site: the real figure scaled by the speed, never under 5 s, so
/// that a hung fake command is caught quickly and a slow machine is not mistaken for one.
fn scaled(real_secs: f64, speed: f64) -> String {
    format!("{}ms", ((real_secs / speed).max(5.0) * 1000.0) as u64)
}

/// `showrev -p` lines with the blueprint's DR patches for Solaris 2.6 (the layout is the one the
/// issue quotes; no capture was found). 106048 and 106284 are installed as obsoleted by 107000.
const SHOWREV: &str = "Patch: 105181-17 Obsoletes: 105210-27, 105212-01 Requires: 105568-13 Incompatibles:  Packages: SUNWcar, SUNWkvm, SUNWcsu\n\
Patch: 106381-02 Obsoletes:  Requires:  Incompatibles:  Packages: SUNWcar\n\
Patch: 107000-01 Obsoletes: 106048-05, 106284-03 Requires:  Incompatibles:  Packages: SUNWcsu\n";

/// A domain's `[netbackup]` table, its programs in the domain's `bin` (`b` names one there).
fn netbackup_section(b: &dyn Fn(&str) -> String) -> String {
    format!(
        "\n[netbackup]\nvmoprcmd = {}\nbpdbjobs = {}\nbpps = {}\nbppllist = {}\nstop = [{}, \"stop\"]\nstart = [{}, \"start\"]\n",
        b("vmoprcmd"),
        b("bpdbjobs"),
        b("bpps"),
        b("bppllist"),
        b("netbackup-stop"),
        b("netbackup-start")
    )
}

fn config_text(dir: &Path, domain: &str, o: &InitOptions) -> String {
    let bin = dir.join(domain).join("bin");
    let b = |name: &str| toml_str(&bin.join(name).display().to_string());
    let c = |name: &str| toml_str(&dir.join("controller").join("bin").join(name).display().to_string());
    let mut t = String::new();
    t.push_str(&format!("# A simulated site made by `ftl-sim init`: this file speaks for domain {domain}.\n"));
    t.push_str(&format!("domain = {}\n\n[library]\nname = {}\n\n", toml_str(domain), toml_str(&o.library)));
    t.push_str(&o.ledger.section(dir, &o.library));
    t.push_str(&format!("[board]\nid = {}\n\n", o.board));
    for i in 0..o.drives {
        t.push_str(&format!("[[drives]]\nindex = {i}\ndevice = \"/dev/rmt/{i}\"\n"));
    }
    for (n, d) in o.domains.iter().enumerate() {
        let windows = window_of(o, n).map(|w| format!("[{}]", toml_str(w))).unwrap_or_else(|| "[]".into());
        t.push_str(&format!("\n[domains.{d}]\nhosts = [{}]\nwindows = {windows}\n", toml_str(&format!("{d}.sim"))));
    }
    t.push_str(&format!(
        "\n[controller]\nprofile = \"starfire\"\nprefix = []\nshowusage = {}\naddboard = {}\ndeleteboard = {}\n",
        c("showusage"),
        c("addboard"),
        c("deleteboard")
    ));
    t.push_str(&netbackup_section(&b));
    t.push_str(&format!(
        "\n[commands]\nmt = {}\nmodinfo = {}\nmodunload = {}\nmodload = {}\npsrset = {}\npbind = {}\nkill = {}\n",
        b("mt"),
        b("modinfo"),
        b("modunload"),
        b("modload"),
        b("psrset"),
        b("pbind"),
        b("kill")
    ));
    let here = dir.join(domain);
    t.push_str(&format!(
        "\n[prerequisites]\nuname = {}\nshowrev = {}\netc_system = {}\nmessages = {}\npostrc = {}\ncat = \"/bin/cat\"\n",
        b("uname"),
        b("showrev"),
        toml_str(&here.join("etc/system").display().to_string()),
        toml_str(&here.join("var/adm/messages").display().to_string()),
        toml_str(&dir.join("controller/etc/{domain}/.postrc").display().to_string())
    ));
    let s = o.speed;
    t.push_str(&format!(
        "\n# Real timeouts divided by the speed ({s}), at least 5 s.\n[timeouts]\ncommand = \"{}\"\nnetbackup_stop = \"{}\"\nnetbackup_start = \"{}\"\nstop_grace = \"{}\"\nrewind = \"{}\"\ndeleteboard = \"{}\"\naddboard = \"{}\"\n",
        scaled(120.0, s),
        scaled(300.0, s),
        scaled(600.0, s),
        scaled(120.0, s),
        scaled(600.0, s),
        scaled(1800.0, s),
        scaled(3600.0, s)
    ));
    t.push_str("\n[schedule]\nlead = \"30m\"\ngrace = \"30m\"\n");
    t
}

/// A libvirt site's `ftl.toml`: the contract's keys (`/tmp/libvirt-protocol.md`, "Configuration"),
/// pointing at this site's fakes and at this guest's `sys` and `dev` trees, and the NetBackup keys
/// as on the Starfire site.
fn libvirt_config_text(dir: &Path, domain: &str, o: &InitOptions) -> String {
    let bin = dir.join(domain).join("bin");
    let b = |name: &str| toml_str(&bin.join(name).display().to_string());
    let here = dir.join(domain);
    let dev = |rel: String| toml_str(&here.join("dev").join(rel).display().to_string());
    let s = o.speed;
    let mut t = String::new();
    t.push_str(&format!(
        "# A simulated libvirt site made by `ftl-sim init --platform libvirt`: this file speaks for guest {domain}.\n"
    ));
    t.push_str(&format!("domain = {}\n\n[library]\nname = {}\n\n", toml_str(domain), toml_str(&o.library)));
    t.push_str(&o.ledger.section(dir, &o.library));
    for i in 0..o.drives {
        let link = format!("tape/by-id/scsi-{}-nst", crate::kernel::drive_serial(i));
        t.push_str(&format!("[[drives]]\nindex = {i}\ndevice = {}\n", dev(link)));
    }
    for (n, d) in o.domains.iter().enumerate() {
        let windows = window_of(o, n).map(|w| format!("[{}]", toml_str(w))).unwrap_or_else(|| "[]".into());
        t.push_str(&format!("\n[domains.{d}]\nhosts = [{}]\nwindows = {windows}\n", toml_str(&format!("{d}.sim"))));
    }
    t.push_str(&format!(
        "\n# Real timeouts divided by the speed ({s}), at least 5 s.\n[controller]\nprofile = \"libvirt\"\nprefix = []\nvirsh = {}\nuri = {}\npci = {}\nalias = {}\nattach_timeout = \"{}\"\ndetach_timeout = \"{}\"\n",
        toml_str(&dir.join("controller/bin/virsh").display().to_string()),
        toml_str(LIBVIRT_URI),
        toml_str(LIBVIRT_PCI),
        toml_str(LIBVIRT_ALIAS),
        scaled(120.0, s),
        scaled(120.0, s)
    ));
    t.push_str("\n[controller.guests]\n");
    for d in &o.domains {
        t.push_str(&format!("{d} = {}\n", toml_str(d)));
    }
    t.push_str(&format!(
        "\n[host]\nos = \"linux\"\nsysfs = {}\nrobot = {}\ndevices_timeout = \"{}\"\n",
        toml_str(&here.join("sys").display().to_string()),
        dev(format!("tape/by-id/scsi-{}", crate::kernel::CHANGER_SERIAL)),
        scaled(120.0, s)
    ));
    t.push_str(&netbackup_section(&b));
    t.push_str(&format!("\n[commands]\nmt = {}\nkill = {}\n", b("mt"), b("kill")));
    t.push_str(&format!(
        "\n[timeouts]\ncommand = \"{}\"\nnetbackup_stop = \"{}\"\nnetbackup_start = \"{}\"\nstop_grace = \"{}\"\nrewind = \"{}\"\n",
        scaled(120.0, s),
        scaled(300.0, s),
        scaled(600.0, s),
        scaled(120.0, s),
        scaled(600.0, s)
    ));
    t.push_str("\n[schedule]\nlead = \"30m\"\ngrace = \"30m\"\n");
    t
}
