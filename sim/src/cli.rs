//! The `ftl-sim` command line: `init`, `show`, `fault`, `job`, `demo`.

use crate::fake::{CONTROLLER_COMMANDS, DOMAIN_COMMANDS};
use crate::platform::{Module, Platform, Running, Site, Unfinished};
use crate::site::{self, InitOptions, LedgerChoice};
use crate::timing;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "ftl-sim",
    version,
    about = "A simulated Starfire site for ftl: domains, the SSP and a shared tape library",
    long_about = "A faithful stand-in for the platform ftl drives, so that everything runs and is \
tested on one Linux machine, and a hand-over can be rehearsed before it is trusted.\n\n\
`ftl-sim init DIR` builds a site: the platform state, a shared ledger recording the owner, one \
ftl.toml per domain (DIR/<domain>/ftl.toml, which fixes its own domain) and the fake commands, \
named like the real ones, in DIR/<domain>/bin/ (vmoprcmd, mt, modinfo, modunload, modload, bpps, \
bpdbjobs, psrset, pbind, kill, netbackup-stop, netbackup-start, nbpemreq, uname, showrev) and DIR/controller/bin/ \
(showusage, addboard, deleteboard; give them SUNW_HOSTNAME as on the SSP). The fake commands \
print the real outputs, exit with the real codes, enforce the real preconditions and take the \
real time divided by --speed.\n\n\
`ftl-sim init DIR --platform libvirt` builds a KVM site instead: Linux guests (mt-st's mt and the \
NetBackup commands in DIR/<domain>/bin/, the guest's /sys and /dev in DIR/<domain>/sys and \
DIR/<domain>/dev) and the KVM host's virsh in DIR/controller/bin/, which passes the tape HBA \
between the guests; a small process per site (`ftl-sim kernel`) makes writes to the guests' sysfs \
take effect.\n\n\
`ftl-sim init DIR --ledger etcd=URL[,URL...]` keeps the site's ledger on etcd instead of in \
DIR/ledger: every ftl.toml says `[ledger] store = \"etcd\"`, those endpoints and prefix \
/ftl/<library> (--library, default L3500), with --ledger-ca, --ledger-cert and --ledger-key for \
https:// endpoints; init creates the record there and refuses a prefix that already has one. \
`ftl-sim demo --ledger etcd=URL` runs the demo on it, and `ftl-sim fleet` rehearses several \
libraries on one etcd cluster through a replayed week.\n\n\
Start with `ftl-sim demo`: a complete rehearsal on a fresh temporary site.",
    after_help = "Exit codes: 0 done; 1 refused or failed (a DIR that is not empty or not a site, a \
domain, owner, fault or value the simulator refuses, a fake command's precondition); 2 the command \
line does not parse (an unknown subcommand or flag, a missing or malformed argument)."
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a simulated site in DIR (which must not exist or be empty).
    Init {
        dir: PathBuf,
        /// The domains, comma-separated, each once; the first two get the windows Mon-Sun
        /// 20:00-01:00 and Mon-Sun 02:00-07:00, the third and fourth Mon-Sun 08:00-12:00 and
        /// Mon-Sun 13:00-17:00 (init says so), any further one none.
        #[arg(long, value_delimiter = ',', default_value = "marmaduke,flinstones")]
        domains: Vec<String>,
        /// The domain that owns the library at first (default: the first domain).
        #[arg(long)]
        owner: Option<String>,
        /// How many tape drives (/dev/rmt/0 .. /dev/rmt/N-1).
        #[arg(long, default_value_t = 7)]
        drives: u32,
        /// Divide every realistic duration by this (100: a hand-over in about 7 s; 1000: near-instant).
        #[arg(long, default_value_t = timing::DEFAULT_SPEED)]
        speed: f64,
        /// Seed for the tape positions left by the last backups.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The platform: `starfire` (an E10000: SSP commands, Solaris domains, /dev/rmt/N) or
        /// `libvirt` (KVM guests passing the tape HBA 0000:41:00.0 with virsh; Linux guests with
        /// mt-st, sysfs in DIR/<domain>/sys, drives at DIR/<domain>/dev/tape/by-id/scsi-*-nst).
        #[arg(long, default_value = "starfire", value_parser = ["starfire", "libvirt"])]
        platform: String,
        /// The library's name ([library] name in every ftl.toml).
        #[arg(long, default_value = "L3500")]
        library: String,
        #[command(flatten)]
        ledger: LedgerArgs,
    },
    /// Print the platform state: the board, the drives, each domain.
    Show {
        dir: PathBuf,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    #[command(about = format!("Inject faults, or `clear` them: {}", FAULTS.join(", ")), long_about = fault_help())]
    Fault {
        dir: PathBuf,
        #[arg(required = true, value_name = "NAME[:ARG]|clear")]
        faults: Vec<String>,
    },
    /// Start or end a simulated NetBackup job on DOMAIN (listed as active, state 1, by bpdbjobs;
    /// a job started where the board is writes on a tape, which leaves BOT), or queue one or
    /// take a queued one away (state 0: it waits for a drive and outlives a stop of NetBackup).
    Job {
        dir: PathBuf,
        domain: String,
        #[arg(value_parser = ["start", "end", "queue", "unqueue"])]
        action: String,
    },
    /// Measure the hook fast path, concurrent hooks, a hand-over against its critical path and the
    /// serial procedure, ftl-status on a huge journal, the fast path, --wait reaction and commit
    /// latency on etcd (it starts its own members: needs etcd and etcdctl), and the binary sizes
    /// (use release binaries).
    Bench {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write man pages (DIR/man1) and bash and zsh completions (DIR/bash, DIR/zsh) for every ftl binary.
    #[command(hide = true)]
    Docs { dir: PathBuf },
    /// A complete rehearsal on a fresh temporary site, printing the time line.
    Demo {
        /// Simulation speed (the default finishes in well under a minute).
        #[arg(long, default_value_t = timing::DEFAULT_SPEED)]
        speed: f64,
        /// Build the site here and keep it, instead of a temporary directory.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
        /// Print the time line as JSON.
        #[arg(long)]
        json: bool,
        /// The platform of the site the demo builds (see `init --platform`).
        #[arg(long, default_value = "starfire", value_parser = ["starfire", "libvirt"])]
        platform: String,
        /// The ledger: `dir` (the site's own directory) or `etcd=URL[,URL...]` (http:// endpoints;
        /// the demo's keys go under a prefix of their own, /ftl-sim/demo-PID-TIME/L3500, removed
        /// afterwards unless --keep).
        #[arg(long, default_value = "dir", value_name = "dir|etcd=URL[,URL...]", value_parser = parse_ledger)]
        ledger: LedgerChoice,
    },
    /// A fleet rehearsal: several libraries, each its own simulated site with its own domains,
    /// all recording their owners on one etcd cluster, through a replayed week of windows.
    #[command(long_about = crate::fleet::LONG_ABOUT)]
    Fleet {
        /// How many libraries (each a site of its own).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
        libraries: u32,
        /// How many domains share each library.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(2..=12))]
        domains_per_library: u32,
        /// How many simulated days to replay.
        #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=62))]
        days: u32,
        /// Simulation speed of every site.
        #[arg(long, default_value_t = 2000.0)]
        speed: f64,
        /// The etcd cluster (`etcd=URL[,URL...]`, http://); without it the fleet starts its own
        /// three members on loopback ports (Debian's etcd-server) and stops them at the end.
        #[arg(long, value_name = "etcd=URL[,URL...]", value_parser = parse_ledger)]
        ledger: Option<LedgerChoice>,
        /// Keep the sites in this directory (one subdirectory per library) instead of a temporary one.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
        /// Print the figures as JSON.
        #[arg(long)]
        json: bool,
    },
    /// A libvirt site's guest kernels (run by its fake commands, in the site directory).
    #[command(hide = true)]
    Kernel,
}

/// `init --ledger` and the TLS files of an etcd ledger.
#[derive(Debug, clap::Args)]
struct LedgerArgs {
    /// Where the domains record the owner: `dir` (DIR/ledger, a directory ledger) or
    /// `etcd=URL[,URL...]` (`[ledger] store = "etcd"` on those endpoints, prefix /ftl/<library>;
    /// init creates the record there and refuses when the prefix already has one).
    #[arg(long, default_value = "dir", value_name = "dir|etcd=URL[,URL...]", value_parser = parse_ledger)]
    ledger: LedgerChoice,
    /// With https:// endpoints: the CA that signed the etcd servers' certificates (`[ledger] ca`).
    #[arg(long, value_name = "PEM")]
    ledger_ca: Option<PathBuf>,
    /// A client certificate for etcd (`[ledger] cert`; with --ledger-key).
    #[arg(long, value_name = "PEM")]
    ledger_cert: Option<PathBuf>,
    /// The client certificate's key (`[ledger] key`).
    #[arg(long, value_name = "PEM")]
    ledger_key: Option<PathBuf>,
}

fn parse_ledger(text: &str) -> Result<LedgerChoice, String> {
    text.parse()
}

impl LedgerArgs {
    /// The ledger with its TLS files (absolute: the configurations are read from anywhere).
    fn choice(self) -> Result<LedgerChoice, String> {
        let tls = [&self.ledger_ca, &self.ledger_cert, &self.ledger_key];
        match self.ledger {
            LedgerChoice::Dir if tls.iter().any(|t| t.is_some()) => {
                Err("--ledger-ca, --ledger-cert and --ledger-key are for --ledger etcd=...".into())
            }
            LedgerChoice::Dir => Ok(LedgerChoice::Dir),
            LedgerChoice::Etcd(mut etcd) => {
                let absolute = |p: Option<PathBuf>| -> Result<Option<PathBuf>, String> {
                    p.map(|p| std::path::absolute(&p).map_err(|e| format!("{}: {e}", p.display()))).transpose()
                };
                etcd.ca = absolute(self.ledger_ca)?;
                etcd.cert = absolute(self.ledger_cert)?;
                etcd.key = absolute(self.ledger_key)?;
                Ok(LedgerChoice::Etcd(etcd))
            }
        }
    }
}

/// The DR phases `dr-fail:` can make fail.
const DR_PHASES: &[&str] = &["complete_detach", "init_attach", "complete_attach"];

/// Every fault `fault` takes, as its help and its refusals name them.
const FAULTS: &[&str] = &[
    "bot:I",
    "lost:I",
    "hang:CMD",
    "fail:CMD",
    "controller-down",
    "sg-busy:DOMAIN",
    "bound:DOMAIN",
    "empty-pset:DOMAIN",
    "solaris-2.6:DOMAIN",
    "unsafe:DOMAIN",
    "down:DOMAIN",
    "board-off",
    "dr-fail:PHASE",
    "no-release:DOMAIN",
];

/// The faults that mean something on a libvirt site.
const LIBVIRT_FAULTS: &[&str] = &["bot", "lost", "hang", "fail", "controller-down", "down", "no-release"];

/// `ftl-sim fault --help`: every fault, and the command names `hang:` and `fail:` take.
fn fault_help() -> String {
    format!(
        "Inject faults into the site (they add to those already there), or `clear` them all. A fault \
stays until cleared:\n\
  bot:I            drive I cannot reach BOT: `mt rewind` leaves it where it is\n\
  lost:I           drive I loses its position: `mt status` prints `file no= -1` (unknown)\n\
  empty-pset:DOMAIN  `psrset -i` on DOMAIN lists an empty user processor set\n\
  solaris-2.6:DOMAIN `uname -r` on DOMAIN says 5.6 (DR patches and dr-max-mem apply)\n\
  unsafe:DOMAIN    `showusage -r UNSAFE` lists a tape driver's device open in DOMAIN\n\
  board-off        the board, in no domain, is powered off: `showusage -s` exits 2 and addboard \
refuses it (exit 5)\n\
  down:DOMAIN      DOMAIN is down: its commands never answer (an unreachable host), and \
the SSP's addboard and deleteboard cannot reach its DR daemon (exit 4)\n\
  hang:CMD         the fake command CMD never returns (until killed)\n\
  fail:CMD         CMD exits non-zero with the real command's message\n\
  controller-down  every controller command fails as an unreachable ssh would (exit 255)\n\
  sg-busy:DOMAIN   `modunload` of sg fails with EBUSY on DOMAIN\n\
  bound:DOMAIN     a thread of DOMAIN is bound to a processor of the board (`pbind -q` shows \
it, and `deleteboard` refuses)\n\
  no-release:DOMAIN  (libvirt) the guest DOMAIN never lets the HBA go: a live detach stays \
pending and the hostdev stays in its live XML\n\
  dr-fail:PHASE    the DR phase PHASE fails and leaves the board where the SSP leaves it (\"in \
the state it is in when the command fails\"), until a DR command finishes it:\n\
      complete_detach  `deleteboard` drains the board, then exits 10: the board stays drained, \
still in its domain (`showusage -s` exits 7 and names it); a rerun of deleteboard finishes the \
detach, an addboard to that domain returns it\n\
      init_attach      `addboard` adds the board to the domain, then POST fails (exit 7): the \
board is unconfigured there (`showusage -s` exits 5 and names it); a rerun of addboard, or \
deleteboard, finishes it\n\
      complete_attach  `addboard` passes POST, then exits 8: the board is half attached \
(`showusage -s` exits 7 and names it); a rerun of addboard, or deleteboard, finishes it\n\
  clear            remove every fault (alone)\n\n\
On a libvirt site: bot, lost, hang, fail, controller-down (virsh cannot reach libvirtd), down (a \
hung guest: its commands never answer, its kernel ignores sysfs writes, it never releases the HBA) \
and no-release apply; fail:virsh makes attach-device and detach-device fail (dumpxml and list \
still answer); hang: also takes a virsh subcommand (dumpxml, attach-device, detach-device, list), \
which then never returns while the others answer, and `kernel`, which stalls every guest's kernel \
(sysfs writes take no effect). The libvirt CMDs are {} and virsh.\n\n\
CMD is one of the domains' commands ({}) or the controller's ({}). The exit statuses 7, 8 and 10 of \
addboard and deleteboard, and showusage's 7, are the simulator's choice: no stored source gives \
them.",
        crate::fake::LIBVIRT_DOMAIN_COMMANDS.join(", "),
        DOMAIN_COMMANDS.join(", "),
        CONTROLLER_COMMANDS.join(", ")
    )
}

/// The `ftl-sim` command definition (for the man page).
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}

pub fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Init { dir, domains, owner, drives, speed, seed, platform, library, ledger } => ledger
            .choice()
            .and_then(|ledger| {
                let platform = platform.parse().unwrap_or_default();
                let options = InitOptions {
                    domains,
                    owner,
                    drives,
                    speed,
                    board: 7,
                    seed,
                    platform,
                    library,
                    ledger,
                    windows: None,
                };
                site::init(&dir, &options).map(|site| (site, options))
            })
            .map(|(site, options)| {
                crate::outln!("simulated site ready in {}", site.dir.display());
                for entry in std::fs::read_dir(&site.dir).into_iter().flatten().flatten() {
                    let config = entry.path().join("ftl.toml");
                    if config.exists() {
                        crate::outln!("  {}", config.display());
                    }
                }
                if let Some(prefix) = options.ledger.prefix(&options.library) {
                    crate::outln!("  ledger: etcd keys {prefix}/* (the record is {prefix}/state)");
                }
                for note in site::window_notes(&options) {
                    crate::outln!("note: {note}");
                }
            }),
        Command::Show { dir, json } => Site::open(&dir).and_then(|s| s.read()).map(|p| {
            if json {
                crate::outln!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
            } else {
                crate::out!("{}", describe(&p));
            }
        }),
        Command::Fault { dir, faults } => Site::open(&dir).and_then(|site| fault(&site, &faults)),
        Command::Job { dir, domain, action } => Site::open(&dir).and_then(|site| job(&site, &domain, &action)),
        Command::Demo { speed, keep, json, platform, ledger } => {
            crate::demo::run(speed, keep, json, platform.parse().unwrap_or_default(), ledger)
        }
        Command::Fleet { libraries, domains_per_library, days, speed, ledger, keep, json } => {
            let options =
                crate::fleet::FleetOptions { libraries, domains_per_library, days, speed, ledger, keep, json };
            crate::fleet::run(&options)
        }
        Command::Kernel => crate::kernel::run(),
        Command::Bench { json } => crate::bench::run(json),
        Command::Docs { dir } => crate::docs::generate(&dir).map(|files| {
            for f in files {
                crate::outln!("{f}");
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            crate::errln!("ftl-sim: {e}");
            ExitCode::from(1)
        }
    }
}

pub fn describe(p: &Platform) -> String {
    if let Some(lv) = &p.libvirt {
        let mut out = match &p.board.domain {
            Some(g) => format!("HBA {}: in guest {g}", lv.pci),
            None => format!("HBA {}: in no guest", lv.pci),
        };
        if lv.unplug_pending {
            out.push_str(" (a live detach is pending: the guest has not let it go)");
        }
        if lv.probe_at.is_some() {
            out.push_str(" (the guest's kernel is probing it)");
        } else if p.board.domain.is_some() {
            let here = lv.present.iter().filter(|h| **h).count();
            out.push_str(&format!(" ({here} of {} SCSI devices present)", lv.present.len()));
        }
        out.push('\n');
        return out + &describe_rest(p);
    }
    let unfinished = match p.board.unfinished {
        None => "",
        Some(Unfinished::InitAttach) => " (unconfigured: its init_attach failed)",
        Some(Unfinished::CompleteAttach) => " (half attached: its complete_attach failed)",
        Some(Unfinished::CompleteDetach) => " (drained: its complete_detach failed)",
    };
    let out = format!(
        "board {}: {}{unfinished}\n",
        p.board.id,
        p.board.domain.as_ref().map(|d| format!("in domain {d}")).unwrap_or_else(|| "in no domain".into())
    );
    out + &describe_rest(p)
}

/// The drives, each domain's NetBackup and the faults.
fn describe_rest(p: &Platform) -> String {
    let mut out = String::from("drives:");
    for d in &p.drives {
        let what = if !d.tape {
            "empty".to_string()
        } else if d.position == 0 {
            "at BOT".into()
        } else {
            format!("file {} block {}", d.position / 10_000, d.position % 10_000)
        };
        out.push_str(&format!(" [{}: {what}]", d.index));
    }
    out.push('\n');
    for (name, d) in &p.domains {
        let nb = if d.netbackup == Running::Running { "running" } else { "stopped" };
        let sg = match (d.sg, d.sg_id) {
            (Module::Loaded, Some(id)) => format!("loaded (id {id})"),
            _ => "unloaded".into(),
        };
        out.push_str(&format!(
            "{name}: NetBackup {nb}, sg {sg}, {} active job(s), drives {}\n",
            d.jobs,
            d.control.join(" ")
        ));
    }
    if !p.faults.is_empty() {
        out.push_str(&format!("faults: {}\n", p.faults.join(" ")));
    }
    out
}

fn fault(site: &Site, faults: &[String]) -> Result<(), String> {
    let p = site.read()?;
    let (domain_commands, controller_commands) = crate::fake::commands(&p);
    if faults.iter().any(|f| f == "clear") {
        if faults.len() > 1 {
            return Err("`clear` stands alone".into());
        }
        site.update(|p| p.faults.clear())?;
        crate::outln!("cleared every fault");
        return Ok(());
    }
    for f in faults {
        let (name, arg) = f.split_once(':').map(|(n, a)| (n, Some(a))).unwrap_or((f.as_str(), None));
        let valid = match (name, arg) {
            ("bot" | "lost", Some(i)) => i.parse::<usize>().is_ok_and(|i| i < p.drives.len()),
            _ if p.libvirt.is_some() && !LIBVIRT_FAULTS.contains(&name) => false,
            // A libvirt site's virsh subcommands hang one by one; `hang:kernel` stalls the guests' kernels.
            ("hang", Some("dumpxml" | "attach-device" | "detach-device" | "list" | "kernel")) => p.libvirt.is_some(),
            ("hang" | "fail", Some(cmd)) => domain_commands.contains(&cmd) || controller_commands.contains(&cmd),
            ("no-release", Some(d)) => p.libvirt.is_some() && p.domains.contains_key(d),
            ("controller-down" | "board-off", None) => true,
            ("sg-busy" | "bound" | "empty-pset" | "solaris-2.6" | "unsafe" | "down", Some(d)) => {
                p.domains.contains_key(d)
            }
            ("dr-fail", Some(phase)) => DR_PHASES.contains(&phase),
            _ => false,
        };
        if !valid {
            return Err(format!(
                "unknown fault `{f}` (known: {}, clear; I < {}, PHASE one of {})",
                FAULTS.join(", "),
                p.drives.len(),
                DR_PHASES.join("|")
            ));
        }
    }
    site.update(|p| {
        for f in faults {
            if !p.faults.contains(f) {
                p.faults.push(f.clone());
            }
        }
    })?;
    crate::outln!("faults now: {}", site.read()?.faults.join(" "));
    Ok(())
}

fn job(site: &Site, domain: &str, action: &str) -> Result<(), String> {
    let said = site.update(|p| {
        let here = p.board_in(domain);
        let d = p.domain_mut(domain)?;
        match action {
            "start" => {
                if d.netbackup != Running::Running {
                    return Err(format!("NetBackup is not running on {domain}; no job can start"));
                }
                if d.scheduling_suspended {
                    return Err(format!("the policy scheduler of {domain} is suspended (nbpemreq); no job can start"));
                }
                d.jobs += 1;
                let jobs = d.jobs;
                if here {
                    // The job writes to a tape: that drive leaves BOT.
                    if let Some(drive) = p.drives.iter_mut().find(|d| d.tape) {
                        drive.position += 5_000;
                    }
                }
                Ok(format!("{jobs} active job(s) (one started)"))
            }
            "end" if d.jobs == 0 => Err(format!("no job is active on {domain}")),
            "end" => {
                d.jobs -= 1;
                Ok(format!("{} active job(s) (one ended)", d.jobs))
            }
            "queue" => {
                d.queued += 1;
                Ok(format!("{} queued job(s) (one queued)", d.queued))
            }
            _ if d.queued == 0 => Err(format!("no job is queued on {domain}")),
            _ => {
                d.queued -= 1;
                Ok(format!("{} queued job(s) (one taken away)", d.queued))
            }
        }
    })??;
    crate::outln!("{domain}: {said}");
    Ok(())
}
