//! The fake commands: one multi-call binary (`ftl-sim`) behind links named like the real
//! commands. A link in `DIR/<domain>/bin/` acts on that domain; a link in `DIR/controller/bin/`
//! is the SSP, and takes the domain from `SUNW_HOSTNAME` as the real SSP commands do.
//!
//! Each command prints what the real one prints, exits as it exits, enforces its real
//! preconditions (so a wrong order fails as it would on the machine), and sleeps its realistic
//! duration (see [`crate::timing`]) outside the platform lock, so that concurrent calls from both
//! domains proceed as they would.

use crate::platform::{Module, Platform, Running, Site, Unfinished, DAEMONS, PBX};
use crate::timing::{self, secs};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DOMAIN_COMMANDS: &[&str] = &[
    "vmoprcmd",
    "mt",
    "modinfo",
    "modunload",
    "modload",
    "bpps",
    "bpdbjobs",
    "psrset",
    "pbind",
    "netbackup-stop",
    "netbackup-start",
    "kill",
    "bppllist",
    "nbpemreq",
    "uname",
    "showrev",
];
pub const CONTROLLER_COMMANDS: &[&str] = &["showusage", "addboard", "deleteboard"];

/// A libvirt site's Linux guests: NetBackup's commands as on Solaris, and mt-st's `mt`.
pub const LIBVIRT_DOMAIN_COMMANDS: &[&str] =
    &["vmoprcmd", "mt", "bpps", "bpdbjobs", "netbackup-stop", "netbackup-start", "kill", "bppllist", "nbpemreq"];
/// A libvirt site's controller, the KVM host.
pub const LIBVIRT_CONTROLLER_COMMANDS: &[&str] = &["virsh"];

pub fn is_fake(name: &str) -> bool {
    DOMAIN_COMMANDS.contains(&name)
        || CONTROLLER_COMMANDS.contains(&name)
        || LIBVIRT_CONTROLLER_COMMANDS.contains(&name)
}

/// The domain and controller commands of a site's platform.
pub fn commands(platform: &Platform) -> (&'static [&'static str], &'static [&'static str]) {
    if platform.libvirt.is_some() {
        (LIBVIRT_DOMAIN_COMMANDS, LIBVIRT_CONTROLLER_COMMANDS)
    } else {
        (DOMAIN_COMMANDS, CONTROLLER_COMMANDS)
    }
}

/// What a fake command answers.
pub struct Reply {
    pub code: i32,
    pub out: String,
    pub err: String,
}

pub(crate) fn ok(out: impl Into<String>) -> Reply {
    Reply { code: 0, out: out.into(), err: String::new() }
}

pub(crate) fn fail(code: i32, err: impl Into<String>) -> Reply {
    Reply { code, out: String::new(), err: err.into() }
}

/// One invocation of a fake command.
pub struct Call<'a> {
    pub site: &'a Site,
    pub name: String,
    /// The domain the command runs on (for controller commands, the controller itself).
    pub host: String,
    pub args: Vec<String>,
    speed: f64,
    slept: Cell<f64>,
}

impl Call<'_> {
    /// Sleeps `real` seconds of platform time, scaled by the site's speed.
    pub(crate) fn sleep(&self, real: f64) {
        let scaled = real / self.speed;
        self.slept.set(self.slept.get() + scaled);
        std::thread::sleep(Duration::from_secs_f64(scaled));
    }

    pub(crate) fn speed(&self) -> f64 {
        self.speed
    }

    pub(crate) fn update<T>(&self, change: impl FnOnce(&mut Platform) -> T) -> Result<T, Reply> {
        self.site.update(change).map_err(|e| fail(1, format!("{}: simulator state: {e}\n", self.name)))
    }
}

/// Where the site is, from the path this binary was called by (`DIR/<who>/bin/<name>`).
pub fn locate(argv0: &str) -> Result<(Site, String), String> {
    let path = if argv0.contains('/') {
        PathBuf::from(argv0)
    } else {
        std::env::var_os("PATH")
            .and_then(|p| std::env::split_paths(&p).map(|d| d.join(argv0)).find(|c| c.exists()))
            .ok_or_else(|| format!("{argv0}: cannot find myself on PATH"))?
    };
    let path = if path.is_absolute() { path } else { std::env::current_dir().map_err(|e| e.to_string())?.join(path) };
    let who_dir = path.parent().and_then(Path::parent).ok_or("not inside a simulated site")?;
    let who = who_dir.file_name().and_then(|n| n.to_str()).ok_or("not inside a simulated site")?.to_string();
    let site_dir = who_dir.parent().ok_or("not inside a simulated site")?;
    let site = Site::open(site_dir).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((site, who))
}

/// Runs the fake command named by `argv[0]`; returns its exit status.
pub fn main(argv: Vec<String>) -> i32 {
    let name = Path::new(&argv[0]).file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    let (site, who) = match locate(&argv[0]) {
        Ok(found) => found,
        Err(e) => {
            crate::errln!("{name}: {e}");
            return 2;
        }
    };
    let platform = match site.read() {
        Ok(p) => p,
        Err(e) => {
            crate::errln!("{name}: {e}");
            return 2;
        }
    };
    if platform.libvirt.is_some() {
        crate::kernel::ensure_running(&site);
    }
    let call = Call {
        site: &site,
        name: name.clone(),
        host: who.clone(),
        args: argv[1..].to_vec(),
        speed: platform.speed,
        slept: Cell::new(0.0),
    };
    let started = chrono::Utc::now();
    let reply = run(&call, &platform);
    crate::out!("{}", reply.out);
    crate::err!("{}", reply.err);
    let controller = who == "controller";
    let acting = if name == "virsh" {
        // The KVM host acts for nobody in particular: the guest is an argument.
        who
    } else if controller {
        std::env::var("SUNW_HOSTNAME").unwrap_or_default()
    } else {
        who
    };
    site.log_call(
        &acting,
        &argv.iter().skip(1).fold(vec![name], |mut v, a| {
            v.push(a.clone());
            v
        }),
        started,
        call.slept.get(),
        reply.code,
        // What the SSP printed, so that a test can see where showusage placed the board.
        controller.then_some(reply.out.as_str()),
    );
    reply.code
}

fn run(call: &Call, platform: &Platform) -> Reply {
    let name = call.name.as_str();
    if platform.has_fault(&format!("hang:{name}")) {
        call.site.log_call(&call.host, &[name.to_string()], chrono::Utc::now(), f64::INFINITY, -1, None);
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    let controller = CONTROLLER_COMMANDS.contains(&name) || LIBVIRT_CONTROLLER_COMMANDS.contains(&name);
    // A domain that is down answers nothing, like an unreachable host: its commands never return
    // (until the caller's timeout kills them).
    if !controller && platform.has_fault(&format!("down:{}", call.host)) {
        call.site.log_call(&call.host, &[name.to_string()], chrono::Utc::now(), f64::INFINITY, -1, None);
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    if controller && platform.has_fault("controller-down") {
        if name == "virsh" {
            // libvirtd is not running on the KVM host (the remote driver's message, as virsh
            // prints it; not captured from a stored source).
            return fail(1, "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': Connection refused\n");
        }
        return fail(255, "ssh: connect to host ssp0 port 22: Connection refused\n");
    }
    // fail:virsh makes the device operations fail; locate (dumpxml, list) still answers.
    if platform.has_fault(&format!("fail:{name}")) && name != "virsh" {
        return injected_failure(call, platform);
    }
    if controller != (call.host == "controller") {
        return fail(
            127,
            format!(
                "{name}: not found (this command runs on {})\n",
                if controller { "the controller" } else { "a domain" }
            ),
        );
    }
    let (domain_commands, controller_commands) = commands(platform);
    if !domain_commands.contains(&name) && !controller_commands.contains(&name) {
        return fail(127, format!("{name}: not found (this site simulates another platform)\n"));
    }
    if !controller && !platform.domains.contains_key(&call.host) {
        return fail(2, format!("{name}: {} is not a domain of this site\n", call.host));
    }
    let result = match name {
        "vmoprcmd" => vmoprcmd(call, platform),
        "mt" if platform.libvirt.is_some() => crate::linux::mt(call, platform),
        "mt" => mt(call, platform),
        "virsh" => crate::virsh::virsh(call, platform),
        "modinfo" => modinfo(call, platform),
        "modunload" => modunload(call, platform),
        "modload" => modload(call, platform),
        "bpps" => bpps(call, platform),
        "bpdbjobs" => bpdbjobs(call, platform),
        "psrset" => psrset(call, platform),
        "pbind" => pbind(call, platform),
        "netbackup-stop" => netbackup_stop(call, platform),
        "netbackup-start" => netbackup_start(call, platform),
        "kill" => kill(call),
        "nbpemreq" => nbpemreq(call, platform),
        "uname" => uname(call, platform),
        "showrev" => showrev(call),
        "bppllist" => Ok(crate::policies::bppllist(call.site, &call.host, &call.args, |s| call.sleep(s))),
        "showusage" => showusage(call, platform),
        "deleteboard" => deleteboard(call, platform),
        "addboard" => addboard(call, platform),
        other => Ok(fail(127, format!("{other}: not a simulated command\n"))),
    };
    result.unwrap_or_else(|reply| reply)
}

fn injected_failure(call: &Call, platform: &Platform) -> Reply {
    let board = platform.board.id;
    match call.name.as_str() {
        "netbackup-stop" => {
            fail(1, "bprdreq: cannot connect to bprd (socket read failed)\nNetBackup daemons did not stop\n")
        }
        "netbackup-start" => fail(1, "bprd: cannot bind to port 13720: Address already in use\n"),
        "vmoprcmd" => fail(252, "vmoprcmd: cannot connect to vmd (70)\n"),
        // illumos mt.c (tests/fixtures/mt/rewind_failed.txt, status_ioctl_failed.txt): a failed
        // operation ioctl prints `DEV OP COUNT failed: REASON`, a failed MTIOCGET `mt: REASON`.
        // mt-st's mt.c: a failed MTIOCTOP or MTIOCGET is perror(tape_name), exit 2
        // (tests/fixtures/mt-st/exit_codes.txt).
        "mt" if platform.libvirt.is_some() => {
            fail(2, format!("{}: Input/output error\n", call.args.get(1).map(String::as_str).unwrap_or("/dev/tape")))
        }
        "mt" => {
            let device = call.args.get(1).map(String::as_str).unwrap_or("/dev/rmt/0");
            match call.args.get(2).map(String::as_str) {
                Some(op) if "rewind".starts_with(op) => fail(2, format!("{device} rewind 1 failed: I/O error\n")),
                _ => fail(2, "mt: I/O error\n"),
            }
        }
        "modunload" => fail(16, "can't unload the module: Device busy\n"),
        "modload" => fail(1, "can't load module: Out of memory or no room in system tables\n"),
        "deleteboard" => {
            fail(1, format!("deleteboard: board {board}: drain failed: dr_daemon: operation failed: device busy\n"))
        }
        "addboard" => fail(1, format!("addboard: board {board}: POST failed (hpost exit status 1)\n")),
        "showusage" => fail(1, "showusage: cannot contact the SSP daemon (ssp_resource)\n"),
        other => fail(1, format!("{other}: I/O error\n")),
    }
}

fn drive_arg(call: &Call, platform: &Platform, text: Option<&String>) -> Result<u32, Reply> {
    let index = text
        .and_then(|t| t.parse::<u32>().ok())
        .ok_or_else(|| fail(1, format!("{}: missing or invalid drive index\n", call.name)))?;
    if index as usize >= platform.drives.len() {
        return Err(fail(1, format!("Invalid drive index {index}\n")));
    }
    Ok(index)
}

fn vmoprcmd(call: &Call, platform: &Platform) -> Result<Reply, Reply> {
    let args: Vec<&str> = call.args.iter().map(String::as_str).collect();
    let usage =
        || fail(1, "usage: vmoprcmd [-h device_host] [-d [pr | ds | ad]] [-up | -down | -reset drive_index] ...\n");
    if platform.domain(&call.host).map_err(|e| fail(2, e))?.netbackup == Running::Stopped {
        call.sleep(secs::VMOPRCMD_STATUS);
        // tests/fixtures/vmoprcmd/ltid_not_active.txt (its exit status is not sourced).
        return Ok(fail(1, format!("The Media Manager device daemon (ltid) is not active on host {}\n", call.host)));
    }
    match args.as_slice() {
        // `-d ds` prints the DRIVE STATUS section only; `-d` alone prints every section.
        ["-d", "ds"] | ["-d"] => {
            call.sleep(secs::VMOPRCMD_STATUS);
            let p = call.site.read().map_err(|e| fail(1, e))?;
            let all = drive_table(&p, &call.host);
            let shown = if args.len() == 2 {
                all.split("\n\n                             ADDITIONAL").next().unwrap_or(&all).to_string() + "\n"
            } else {
                all
            };
            Ok(ok(shown))
        }
        [op @ ("-down" | "-up"), index] => {
            let index = drive_arg(call, platform, Some(&index.to_string()))?;
            call.sleep(secs::VMOPRCMD_UPDOWN);
            let state = if *op == "-up" { "UP" } else { "DOWN" };
            call.update(|p| {
                if let Ok(d) = p.domain_mut(&call.host) {
                    d.control[index as usize] = state.into();
                }
            })?;
            Ok(ok(""))
        }
        _ => Ok(usage()),
    }
}

fn drive_table(p: &Platform, domain: &str) -> String {
    let mut out = String::from("\n                                DRIVE STATUS\n\nDrv Type   Control  User      Label  RecMID  ExtMID  Ready   Wr.Enbl.  ReqId\n");
    let here = p.board_in(domain);
    let d = &p.domains[domain];
    for drive in &p.drives {
        let control = if d.control[drive.index as usize] == "UP" { "TLD" } else { "DOWN-TLD" };
        let ready = if here && drive.tape { "Yes" } else { "No" };
        out.push_str(&format!(
            "{:>3} {:<6} {:<8} {:<9} {:<6} {:<7} {:<7} {:<7} {:<9} {}\n",
            drive.index, "dlt", control, "-", "No", "-", "-", ready, "-", "-"
        ));
    }
    out.push_str("\n                             ADDITIONAL DRIVE STATUS\n\nDrv DriveName            Shared    Assigned        Comment\n");
    for drive in &p.drives {
        out.push_str(&format!(
            "{:>3} {:<20} {:<9} {:<15} {}\n",
            drive.index,
            format!("DLT7000.{:03}", drive.index),
            "No",
            "-",
            ""
        ));
    }
    out
}

/// Rewinds drive `index` in its realistic time, unless the `bot:I` fault keeps it where it is.
pub(crate) fn rewind(call: &Call, platform: &Platform, index: usize) -> Result<Reply, Reply> {
    call.sleep(timing::rewind_secs(platform.drives[index].position));
    let stuck = platform.has_fault(&format!("bot:{index}"));
    call.update(|p| {
        if !stuck {
            p.drives[index].position = 0;
        }
    })?;
    Ok(ok(""))
}

fn mt(call: &Call, platform: &Platform) -> Result<Reply, Reply> {
    let args: Vec<&str> = call.args.iter().map(String::as_str).collect();
    let usage = fail(1, "usage: mt [ -f device ] command [ count ]\n");
    let ["-f", device, op, ..] = args.as_slice() else {
        return Ok(usage);
    };
    let op = ["status", "rewind", "offline", "retension"]
        .into_iter()
        .find(|full| full.starts_with(op))
        .ok_or_else(|| fail(1, format!("mt: unknown command: {op}\n")))?;
    let index = device
        .strip_prefix("/dev/rmt/")
        .map(|rest| rest.trim_end_matches(|c: char| c.is_ascii_alphabetic()))
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|i| *i < platform.drives.len());
    let (Some(index), true) = (index, platform.board_in(&call.host)) else {
        return Ok(fail(1, format!("{device}: No such file or directory\n")));
    };
    if platform.domain(&call.host).map_err(|e| fail(2, e))?.netbackup == Running::Running {
        return Ok(fail(1, format!("{device}: Device busy\n")));
    }
    let drive = &platform.drives[index];
    if !drive.tape {
        call.sleep(secs::MT_STATUS);
        return Ok(fail(1, format!("{device}: no tape loaded or drive offline\n")));
    }
    match op {
        "status" => {
            call.sleep(secs::MT_STATUS);
            let p = call.site.read().map_err(|e| fail(1, e))?;
            let position = p.drives[index].position;
            // illumos mt.c, status(): `file no= -1` when the position is unknown.
            let file =
                if p.has_fault(&format!("lost:{index}")) { "-1".to_string() } else { (position / 10_000).to_string() };
            Ok(ok(format!(
                "Quantum DLT7000 tape drive:\n   sense key(0x0)= No Additional Sense   residual= 0   retries= 0\n   file no= {file}   block no= {}\n",
                position % 10_000
            )))
        }
        "rewind" => rewind(call, platform, index),
        _ => Ok(fail(2, format!("{device}: {op}: I/O error\n"))),
    }
}

const OTHER_MODULES: &[(u32, &str, &str)] = &[
    (5, "specfs", "filesystem for specfs"),
    (7, "TS", "time sharing sched class"),
    (12, "ufs", "filesystem for ufs"),
    (62, "st", "SCSI tape Driver 1.187"),
    (98, "ngdr", "DR driver 1.28"),
];

fn modinfo(call: &Call, platform: &Platform) -> Result<Reply, Reply> {
    call.sleep(secs::MODINFO);
    let d = platform.domain(&call.host).map_err(|e| fail(2, e))?;
    let mut out = String::from(" Id Loadaddr   Size Info Rev Module Name\n");
    let mut lines: Vec<(u32, &str, &str)> = OTHER_MODULES.to_vec();
    if let (Module::Loaded, Some(id)) = (d.sg, d.sg_id) {
        lines.push((id, "sg", "SCSA Generic Revision: 3.4d"));
    }
    lines.sort_by_key(|l| l.0);
    for (id, name, info) in lines {
        out.push_str(&format!(
            "{id:>3} {:>8} {:>6} {:>3} {:>3}  {name} ({info})\n",
            format!("{:x}", 0xfc58_0000u32 + id * 0x1000),
            format!("{:x}", 0x2d8c + id),
            id % 120,
            1
        ));
    }
    Ok(ok(out))
}

fn modunload(call: &Call, platform: &Platform) -> Result<Reply, Reply> {
    let args: Vec<&str> = call.args.iter().map(String::as_str).collect();
    // illumos modunload.c and modsubr.c (tests/fixtures/modunload/): usage and a bad id are
    // fatal() (exit 255); a failed modctl exits with the errno.
    let ["-i", id] = args.as_slice() else {
        return Ok(fail(255, "usage:  modunload -i <module_id> [-e <exec_file>]\n"));
    };
    let id: u32 = id.parse().map_err(|_| fail(255, format!("Invalid id {id}\n")))?;
    let d = platform.domain(&call.host).map_err(|e| fail(2, e))?;
    if d.sg != Module::Loaded || d.sg_id != Some(id) {
        call.sleep(secs::MODINFO);
        return Ok(fail(22, "can't unload the module: Invalid argument\n"));
    }
    call.sleep(secs::MODUNLOAD);
    // NetBackup's robot daemons keep the driver open while they run.
    let busy = platform.has_fault(&format!("sg-busy:{}", call.host)) || d.netbackup == Running::Running;
    if busy {
        return Ok(fail(16, "can't unload the module: Device busy\n"));
    }
    call.update(|p| {
        if let Ok(d) = p.domain_mut(&call.host) {
            d.sg = Module::Unloaded;
            d.sg_id = None;
        }
    })?;
    Ok(ok(""))
}

fn modload(call: &Call, platform: &Platform) -> Result<Reply, Reply> {
    // illumos modload.c and modsubr.c (tests/fixtures/modload/): usage is fatal() (exit 255),
    // a failed modctl prints `can't load module: REASON` and exits with the errno (ENOENT 2).
    let [path] = call.args.as_slice() else {
        return Ok(fail(255, "usage:  modload [-p] [-e <exec_file>] <filename>\n"));
    };
    // modload loads whatever module file it is given: the domain has sg and the modules modinfo
    // lists (under any directory, /kernel/drv/sparcv9/sg say); another file does not exist.
    let module = Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if module != "sg" {
        if OTHER_MODULES.iter().any(|(_, name, _)| *name == module) {
            // Already loaded, like every module modinfo lists: modload succeeds and changes nothing.
            call.sleep(secs::MODLOAD);
            return Ok(ok(""));
        }
        return Ok(fail(2, "can't load module: No such file or directory\n"));
    }
    if platform.domain(&call.host).map_err(|e| fail(2, e))?.sg == Module::Loaded {
        return Ok(ok(""));
    }
    call.sleep(secs::MODLOAD);
    call.update(|p| {
        if p.domains.get(&call.host).is_some_and(|d| d.sg == Module::Unloaded) {
            p.load_sg(&call.host);
        }
    })?;
    Ok(ok(""))
}

fn bpps(call: &Call, _platform: &Platform) -> Result<Reply, Reply> {
    call.sleep(secs::BPPS);
    let p = call.site.read().map_err(|e| fail(1, e))?;
    let d = p.domain(&call.host).map_err(|e| fail(2, e))?;
    let mut out = String::new();
    for (kind, title) in [("NB", "NB Processes"), ("MM", "MM Processes")] {
        out.push_str(&format!("{title}\n{}\n", "-".repeat(title.len())));
        for (pid, cmd) in &d.pids {
            if DAEMONS.iter().any(|(k, c)| *k == kind && c == cmd) {
                out.push_str(&format!("    root {pid:>5}     1  0   Nov 25 ?        0:01 {cmd}\n"));
            }
        }
        out.push('\n');
    }
    // The shared section's title is not sourced (tests/fixtures/bpps/not_found.txt); ftl reads
    // any title other than NB/MM Processes as shared.
    if let Some(pid) = d.pbx {
        let title = "Shared Symantec Processes";
        out.push_str(&format!("{title}\n{}\n", "-".repeat(title.len())));
        out.push_str(&format!("    root {pid:>5}     1  0   Nov 24 ?        0:03 {PBX}\n\n"));
    }
    Ok(ok(out))
}

fn bpdbjobs(call: &Call, platform: &Platform) -> Result<Reply, Reply> {
    let args: Vec<&str> = call.args.iter().map(String::as_str).collect();
    if !matches!(args.as_slice(), ["-report", "-most_columns"] | ["-most_columns", "-report"]) {
        return Ok(fail(1, "usage: bpdbjobs [-report] [-most_columns | -all_columns] ...\n"));
    }
    let d = platform.domain(&call.host).map_err(|e| fail(2, e))?;
    call.sleep(secs::BPDBJOBS);
    if d.netbackup == Running::Stopped {
        return Ok(fail(25, "cannot connect on socket\nEXIT STATUS 25: cannot connect on socket\n"));
    }
    let server = &call.host;
    // NetBackup 7 and later print about 64 fields (tests/fixtures/bpdbjobs/most_columns_fields.txt):
    // jobid, jobtype, state, status, policy, schedule, client, server, started, elapsed, ended,
    // stunit, tries, operation, kbytes, files, ...; the rest are left empty here.
    let line = |id: u32, state: u8, rest: String| {
        let mut fields: Vec<String> = format!("{id},0,{state},{rest}").split(',').map(String::from).collect();
        fields.resize(64, String::new());
        fields.join(",") + "\n"
    };
    let stunit = format!("{server}-dlt-robot-tld-0");
    let mut out = String::new();
    for k in 0..d.jobs {
        out += &line(
            1300 + k,
            1,
            format!("0,daily-oracle,incr,db{k},{server},1764104403,0000000123,,{stunit},1,,1024,12"),
        );
    }
    for k in 0..d.queued {
        out += &line(1400 + k, 0, format!(",daily-oracle,full,db{k},{server},1764104500,0000000000,,,0,,0,0"));
    }
    out += &line(1202, 3, format!("0,daily-fs,full,fs1,{server},1764100000,0000000900,1764100900,{stunit},1,,9912,99"));
    out += &line(1201, 3, format!("0,daily-fs,full,fs2,{server},1764099000,0000000800,1764099800,{stunit},1,,8817,87"));
    Ok(ok(out))
}

/// `psrset -i`: nothing when no set exists; illumos psrset.c `info_out()` prints an empty set as
/// `user processor set N: empty`.
fn psrset(call: &Call, platform: &Platform) -> Result<Reply, Reply> {
    call.sleep(secs::PSRSET_PBIND);
    if platform.has_fault(&format!("empty-pset:{}", call.host)) {
        return Ok(ok("user processor set 1: empty\n"));
    }
    Ok(ok(""))
}

fn pbind(call: &Call, platform: &Platform) -> Result<Reply, Reply> {
    call.sleep(secs::PSRSET_PBIND);
    let mut out = String::from("process id 1021: 2\n");
    if platform.has_fault(&format!("bound:{}", call.host)) {
        out.push_str(&format!("process id 4242: {}\n", platform.board.id * 4 + 1));
    }
    Ok(ok(out))
}

fn rc_script(call: &Call, verb: &str) -> Result<(), Reply> {
    match call.args.first().map(String::as_str) {
        Some(v) if v == verb => Ok(()),
        _ => Err(fail(1, format!("Usage: {} {{ start | stop }}\n", call.name))),
    }
}

fn netbackup_stop(call: &Call, platform: &Platform) -> Result<Reply, Reply> {
    rc_script(call, "stop")?;
    if platform.domain(&call.host).map_err(|e| fail(2, e))?.netbackup == Running::Stopped {
        return Ok(ok(""));
    }
    call.sleep(secs::NETBACKUP_STOP);
    call.update(|p| p.stop_netbackup(&call.host))?;
    Ok(ok("stopping the NetBackup request daemon\nstopping the NetBackup database daemon\nstopping the Media Manager device daemon\n"))
}

fn netbackup_start(call: &Call, platform: &Platform) -> Result<Reply, Reply> {
    rc_script(call, "start")?;
    if platform.domain(&call.host).map_err(|e| fail(2, e))?.netbackup == Running::Running {
        return Ok(ok(""));
    }
    call.sleep(secs::NETBACKUP_START);
    call.update(|p| {
        if p.domains.get(&call.host).is_some_and(|d| d.netbackup == Running::Stopped) {
            p.start_netbackup(&call.host);
        }
    })?;
    Ok(ok("starting the Media Manager device daemon\nstarting the NetBackup database daemon\nstarting the NetBackup request daemon\n"))
}

/// `nbpemreq -suspend_scheduling | -resume_scheduling`. The flags are those of a public pre-reboot
/// script (tests/fixtures/nbpemreq/suspend_usage.txt) and of the issue's reading of the
/// NetBackup Commands Reference; nbpemreq's own messages and exit statuses were not found, so
/// success prints nothing and a stopped NetBackup (nbpem not running) fails with exit 1.
fn nbpemreq(call: &Call, platform: &Platform) -> Result<Reply, Reply> {
    let suspend = match call.args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["-suspend_scheduling"] => true,
        ["-resume_scheduling"] => false,
        _ => return Ok(fail(1, "usage: nbpemreq -suspend_scheduling | -resume_scheduling\n")),
    };
    if platform.domain(&call.host).map_err(|e| fail(2, e))?.netbackup != Running::Running {
        return Ok(fail(1, "nbpemreq: cannot connect to nbpem (NetBackup is not running)\n"));
    }
    call.sleep(secs::BPPS);
    call.update(|p| {
        if let Ok(d) = p.domain_mut(&call.host) {
            d.scheduling_suspended = suspend;
        }
    })?;
    Ok(ok(""))
}

/// `uname -r`: the Solaris release, `5.8` (Solaris 8), or `5.6` with the fault `solaris-2.6:D`.
fn uname(call: &Call, platform: &Platform) -> Result<Reply, Reply> {
    if call.args != ["-r"] {
        return Ok(fail(1, "usage: uname [-r]   (the simulator answers -r only)\n"));
    }
    let old = platform.has_fault(&format!("solaris-2.6:{}", call.host));
    Ok(ok(if old { "5.6\n" } else { "5.8\n" }))
}

/// `showrev -p`: the patch lines the site keeps in DIR/DOMAIN/var/sadm/showrev-p (written by
/// `init` with the blueprint's DR patches; edit it to take one away).
fn showrev(call: &Call) -> Result<Reply, Reply> {
    if call.args != ["-p"] {
        return Ok(fail(1, "usage: showrev [-p]   (the simulator answers -p only)\n"));
    }
    call.sleep(secs::MODINFO);
    let path = call.site.domain_dir(&call.host).join("var/sadm/showrev-p");
    std::fs::read_to_string(&path).map(ok).map_err(|e| fail(1, format!("showrev: {}: {e}\n", path.display())))
}

/// `kill -SIGNAL PID...` for the simulated daemons only: it never signals a real process.
fn kill(call: &Call) -> Result<Reply, Reply> {
    let Some((signal, pids)) = call.args.split_first() else {
        return Ok(fail(1, "usage: kill [ -signal ] pid ...\n"));
    };
    if !["-TERM", "-KILL", "-15", "-9", "-s"].contains(&signal.as_str()) {
        return Ok(fail(1, format!("kill: {signal}: unknown signal\n")));
    }
    call.sleep(secs::KILL);
    let pids: Vec<u32> = pids.iter().filter_map(|p| p.parse().ok()).collect();
    let missing = call.update(|p| {
        let mut missing = Vec::new();
        let Ok(d) = p.domain_mut(&call.host) else {
            return pids.clone();
        };
        for pid in &pids {
            let before = d.pids.len();
            d.pids.retain(|(p, _)| p != pid);
            if d.pbx == Some(*pid) {
                d.pbx = None;
            } else if d.pids.len() == before {
                missing.push(*pid);
            }
        }
        if d.pids.is_empty() && d.netbackup == Running::Running {
            p.stop_netbackup(&call.host);
        }
        missing
    })?;
    let err: String = missing.iter().map(|p| format!("kill: ({p}) - No such process\n")).collect();
    Ok(Reply { code: i32::from(!missing.is_empty()), out: String::new(), err })
}

fn board_arg(call: &Call, platform: &Platform) -> Result<(), Reply> {
    let pos = call
        .args
        .iter()
        .position(|a| a == "-b")
        .ok_or_else(|| fail(1, format!("usage: {} -b board ...\n", call.name)))?;
    let board: Option<u32> = call.args.get(pos + 1).and_then(|b| b.parse().ok());
    if board != Some(platform.board.id) {
        return Err(fail(
            5,
            format!(
                "{}: board {} is not present or not eligible\n",
                call.name,
                call.args.get(pos + 1).map(String::as_str).unwrap_or("?")
            ),
        ));
    }
    Ok(())
}

/// `showusage -r UNSAFE`: the suspend-unsafe devices open in the domain of SUNW_HOSTNAME (`-b`
/// is ignored, as the reference says). The table's layout is not sourced: a title, then one line
/// per device path with its driver. The robot driver is open while it is loaded and NetBackup
/// runs; the fault `unsafe:D` adds a tape driver's device.
fn unsafe_report(call: &Call, platform: &Platform) -> Result<Reply, Reply> {
    let domain = sunw_hostname(call, platform)?;
    call.sleep(secs::SHOWUSAGE);
    let d = platform.domain(&domain).map_err(|e| fail(1, format!("showusage: {e}\n")))?;
    let mut out = format!("Suspend-unsafe devices open in domain {domain}:\n");
    if platform.board_in(&domain) && d.sg == Module::Loaded && d.netbackup == Running::Running {
        out.push_str(&format!("  /devices/sbus@{}1,0/SUNW,fas@0,8800000/sg@4,0 (sg)\n", platform.board.id * 4));
    }
    if platform.has_fault(&format!("unsafe:{domain}")) {
        out.push_str(&format!("  /devices/sbus@{}1,0/SUNW,fas@0,8800000/st@5,0 (st)\n", platform.board.id * 4));
    }
    Ok(ok(out))
}

/// `showusage -s` exit statuses: the list of the SSP 3.4/3.5 Reference Manuals, showusage(1M),
/// EXIT STATUS (https://docs.oracle.com/cd/E19065-01/servers.10k/806-6764/6jfme62q5/index.html),
/// numbered by position from 0, with 3 = attachable as in the SSP 3.4 User Guide's sample script
/// (tests/fixtures/showusage/).
pub mod showusage_status {
    /// A board that is not there: "not present, in no domain".
    pub const NOT_PRESENT: i32 = 0;
    /// "Present, powered off, in no domain": the fault `board-off`.
    pub const POWERED_OFF: i32 = 2;
    /// "Present, powered on, in no domain (attachable)".
    pub const ATTACHABLE: i32 = 3;
    /// "Unconfigured": in the domain's domain_config but not in its booted domain; the simulator
    /// reports it for a board whose init_attach failed after adding it to domain_config.
    pub const UNCONFIGURED: i32 = 5;
    /// "Configured, not DR-detachable". CHOSEN: the simulator reports it for every attached board,
    /// detachable or not, since no stored source gives the value for "configured and
    /// detachable" (the list goes on past 6 but was not readable).
    pub const CONFIGURED: i32 = 6;
    /// CHOSEN, undocumented: a board a DR operation left half done in a way no documented state
    /// describes (drained but not detached, or complete_attach failed). No stored source gives the
    /// real value; the domain is printed, as for any board in a domain.
    pub const HALF_DONE: i32 = 7;
}

fn showusage(call: &Call, platform: &Platform) -> Result<Reply, Reply> {
    use showusage_status::*;
    if call.args.windows(2).any(|w| w[0] == "-r" && w[1] == "UNSAFE") {
        return unsafe_report(call, platform);
    }
    if board_arg(call, platform).is_err() {
        // -s on a slot with no board: not present, in no domain.
        return Ok(Reply { code: NOT_PRESENT, out: String::new(), err: String::new() });
    }
    call.sleep(secs::SHOWUSAGE);
    let p = call.site.read().map_err(|e| fail(1, e))?;
    let Some(domain) = &p.board.domain else {
        let code = if p.has_fault("board-off") { POWERED_OFF } else { ATTACHABLE };
        return Ok(Reply { code, out: String::new(), err: String::new() });
    };
    let code = match p.board.unfinished {
        None => CONFIGURED,
        Some(Unfinished::InitAttach) => UNCONFIGURED,
        Some(Unfinished::CompleteAttach | Unfinished::CompleteDetach) => HALF_DONE,
    };
    Ok(Reply { code, out: format!("{domain}\n"), err: String::new() })
}

/// The SSP commands act for the domain in SUNW_HOSTNAME, which must be set and name a domain.
fn sunw_hostname(call: &Call, platform: &Platform) -> Result<String, Reply> {
    let domain =
        std::env::var("SUNW_HOSTNAME").map_err(|_| fail(1, format!("{}: SUNW_HOSTNAME is not set\n", call.name)))?;
    if !platform.domains.contains_key(&domain) {
        return Err(fail(5, format!("{}: {domain} is not a domain of this platform\n", call.name)));
    }
    Ok(domain)
}

/// `dr-fail:PHASE` is injected for this DR phase.
fn fails_in(platform: &Platform, phase: &str) -> bool {
    platform.has_fault(&format!("dr-fail:{phase}"))
}

/// deleteboard takes no domain: it detaches the board from whatever domain holds it (deleteboard(1M):
/// "detaches a system board from its current domain"), and exits 0 when it is in none.
fn deleteboard(call: &Call, platform: &Platform) -> Result<Reply, Reply> {
    board_arg(call, platform)?;
    sunw_hostname(call, platform)?;
    let board = platform.board.id;
    let Some(owner) = platform.board.domain.clone() else {
        call.sleep(secs::SHOWUSAGE);
        return Ok(ok(format!("board {board} is not assigned to a domain\n")));
    };
    let unfinished = platform.board.unfinished;
    // DR is done with the domain's OS (its dr_daemon): a domain that is down cannot let the board
    // go. The message and the exit status (4, "communication", from the claimed exit list) are
    // not sourced.
    if platform.has_fault(&format!("down:{owner}")) {
        call.sleep(secs::SHOWUSAGE);
        return Ok(fail(
            4,
            format!("deleteboard: board {board}: cannot communicate with the DR daemon of domain {owner}\ndeleteboard: board {board} remains in domain {owner}\n"),
        ));
    }
    // A board the domain's OS uses (or may use in part) must be drained: the OS must let it go.
    if matches!(unfinished, None | Some(Unfinished::CompleteAttach)) {
        let d = platform.domain(&owner).map_err(|e| fail(2, e))?;
        let mut refusals = Vec::new();
        if d.sg == Module::Loaded {
            refusals.push(format!(
                "DR-unsafe driver sg (id {}) is loaded on {owner}; unload it first",
                d.sg_id.unwrap_or(0)
            ));
        }
        if d.netbackup == Running::Running {
            refusals.push("device /dev/rmt/0 is held open by ltid (NetBackup is running)".to_string());
        }
        for drive in platform.drives.iter().filter(|d| d.tape && d.position != 0) {
            refusals.push(format!("tape in /dev/rmt/{} is not at BOT", drive.index));
        }
        if platform.has_fault(&format!("bound:{owner}")) {
            refusals.push(format!("thread of process 4242 is bound to cpu {}", board * 4 + 1));
        }
        if !refusals.is_empty() {
            call.sleep(secs::SHOWUSAGE);
            return Ok(fail(
                1,
                format!(
                    "deleteboard: board {board}: cannot drain: {}\ndeleteboard: board {board} remains in domain {owner}\n",
                    refusals.join("; ")
                ),
            ));
        }
    }
    let mut out = String::new();
    if unfinished != Some(Unfinished::CompleteDetach) && unfinished != Some(Unfinished::InitAttach) {
        call.sleep(secs::DRAIN);
        out.push_str(&format!("board {board}: drain complete\n"));
    }
    if fails_in(platform, "complete_detach") {
        call.update(|p| p.board.unfinished = Some(Unfinished::CompleteDetach))?;
        // complete_detach(1M), DIAGNOSTICS: "Board detachment failed / Retry the COMPLETE or ABORT
        // the operation". Exit 10 is the claimed deleteboard status for a failed complete_detach
        // (UNVERIFIED: the numeric list of deleteboard(1M) was not readable).
        return Ok(Reply {
            code: 10,
            out,
            err: format!(
                "deleteboard: board {board}: complete_detach failed: Board detachment failed\nRetry the COMPLETE or ABORT the operation\n"
            ),
        });
    }
    call.sleep(secs::COMPLETE_DETACH);
    call.update(|p| {
        p.board.domain = None;
        p.board.unfinished = None;
    })?;
    out.push_str(&format!("board {board}: complete_detach done; the board left domain {owner} and is in no domain\n"));
    Ok(ok(out))
}

/// addboard takes a board in no domain, or one an earlier addboard (or deleteboard) left unfinished
/// in the target domain (addboard(1M): eligible when "not in a domain" or "an addboard operation
/// was initiated, but not completed"); a board already attached there is success.
fn addboard(call: &Call, platform: &Platform) -> Result<Reply, Reply> {
    board_arg(call, platform)?;
    let pos = call.args.iter().position(|a| a == "-d");
    let target = pos
        .and_then(|p| call.args.get(p + 1))
        .cloned()
        .ok_or_else(|| fail(1, "usage: addboard -d domain -b board\n"))?;
    let board = platform.board.id;
    let d = platform
        .domains
        .get(&target)
        .ok_or_else(|| fail(5, format!("addboard: {target} is not a domain of this platform\n")))?;
    let unfinished = platform.board.unfinished;
    if platform.has_fault(&format!("down:{target}")) {
        call.sleep(secs::SHOWUSAGE);
        return Ok(fail(
            4,
            format!("addboard: board {board}: cannot communicate with the DR daemon of domain {target}\n"),
        ));
    }
    if platform.board.domain.is_none() && platform.has_fault("board-off") {
        // addboard(1M): "To be eligible for attachment, a board must be powered on". Exit 5 (not
        // eligible) is the claimed exit list's, unverified.
        return Ok(fail(5, format!("addboard: board {board} is powered off; it is not eligible\n")));
    }
    match (&platform.board.domain, unfinished) {
        (Some(owner), None) if *owner == target => {
            return Ok(ok(format!("board {board} is already in domain {target}\n")))
        }
        // addboard returns a board whose deleteboard was not completed to its domain (deleteboard(1M):
        // "you can use addboard(1M) to return the board to its original state").
        (Some(owner), Some(Unfinished::CompleteDetach)) if *owner == target => {
            call.sleep(secs::COMPLETE_ATTACH);
            call.update(|p| p.board.unfinished = None)?;
            return Ok(ok(format!("board {board}: detach aborted; the board is back in domain {target}\n")));
        }
        (Some(owner), _) if *owner != target => {
            // INFERENCE: an operation left unfinished makes the board eligible for its own domain only.
            let why = if unfinished.is_some() { " (a DR operation on it is unfinished there)" } else { "" };
            return Ok(fail(
                5,
                format!("addboard: board {board} is assigned to domain {owner}{why}; it is not eligible\n"),
            ));
        }
        _ => {}
    }
    if d.sg == Module::Loaded {
        call.sleep(secs::SHOWUSAGE);
        let netbackup = if d.netbackup == Running::Running { " (and held by the running NetBackup)" } else { "" };
        return Ok(fail(1, format!("addboard: domain {target}: the DR-unsafe driver sg is loaded{netbackup}; unload it before attaching board {board}\n")));
    }
    let mut out = String::new();
    if matches!(unfinished, None | Some(Unfinished::InitAttach)) {
        // init_attach: the board joins the domain's domain_config, then POST runs.
        call.update(|p| {
            p.board.domain = Some(target.clone());
            p.board.unfinished = Some(Unfinished::InitAttach);
        })?;
        call.sleep(secs::POST);
        if fails_in(platform, "init_attach") {
            // Exit 7 is the claimed addboard status for a failed init_attach (UNVERIFIED).
            return Ok(Reply {
                code: 7,
                out,
                err: format!("addboard: board {board}: init_attach failed: hpost exited 1 (POST failed)\n"),
            });
        }
        call.update(|p| p.board.unfinished = Some(Unfinished::CompleteAttach))?;
        out.push_str(&format!("board {board}: POST passed\n"));
    }
    call.sleep(secs::COMPLETE_ATTACH);
    if fails_in(platform, "complete_attach") {
        // complete_attach(1M), DIAGNOSTICS: "Failed to complete attach board". Exit 8 is the
        // claimed addboard status for a failed complete_attach (UNVERIFIED).
        return Ok(Reply {
            code: 8,
            out,
            err: format!("addboard: board {board}: complete_attach failed: Failed to complete attach board\n"),
        });
    }
    call.update(|p| p.board.unfinished = None)?;
    out.push_str(&format!("board {board}: complete_attach done; the board is in domain {target}\n"));
    Ok(ok(out))
}
