//! The Linux guests' kernels on a libvirt site: each guest's `/sys` and `/dev` (the directories
//! `DIR/<domain>/sys` and `DIR/<domain>/dev`), drawn from the platform state, and the small
//! process that makes ftl's writes to sysfs take effect as the kernel does.
//!
//! [`render`] makes the trees say what `platform.json` says: the guest that has the HBA, once its
//! kernel has probed it, has the SCSI host `hostH` and one SCSI device `H:0:T:0` per drive (a tape:
//! `st`/`nst` and `sg` entries, `/dev/nstT`, `/dev/stT`, `/dev/sgT` and udev's by-id links) and the
//! changer (`sg` only, with its by-id link); every other guest has none of them.
//!
//! The watcher (`ftl-sim kernel`, run in the site directory) is the only process that changes the
//! trees after `init`. It polls every 20 ms while something happens and every 100 ms after a
//! second of quiet, and acts as the kernel: a `1` in a device's `delete` removes that device
//! (scsi_sysfs.c `sdev_store_delete`), `- - -` in the host's `scan` brings back the devices of
//! that host (scsi_sysfs.c `store_scan`: channel, target and lun, `-` meaning all), the end of
//! the HBA's probe after an attach makes the devices appear, and a live detach left pending
//! completes once the guest has let every device go. It holds `DIR/kernel.lock` while it runs,
//! so it never runs twice for one site; every fake command of a libvirt site starts it when the
//! lock is free; it exits when the site directory is removed (and if a probe or a scan made
//! devices while the site was being removed, it takes them away and finishes the removal). Its command line does not name the
//! site (it finds it as its working directory), so it is not mistaken for a command ftl left
//! behind.

use crate::platform::{Platform, Site};
use ftl::ledger::lock::{self, Create};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const LOCK_FILE: &str = "kernel.lock";

/// How often the watcher looks: the contract's limit, and after a second of quiet a slower pace.
const BUSY_POLL: Duration = Duration::from_millis(20);
const IDLE_POLL: Duration = Duration::from_millis(100);
const QUIET_POLLS: u32 = 50;

/// The HBA's PCI address as the guest sees it (the `<address type='pci'>` of its hostdev).
pub const GUEST_PCI: &str = "0000:00:07.0";

/// The WWN-based serial udev's `scsi_id` reports for a drive, and for the changer.
pub fn drive_serial(index: u32) -> String {
    format!("3{:016x}", 0x5001_10a0_0123_abcd_u64 + u64::from(index))
}

pub const CHANGER_SERIAL: &str = "3500110a0012345f0";

/// One guest's trees.
pub struct Guest {
    /// `DIR/<domain>`: never created here, so that a site being removed is not made again.
    root: PathBuf,
    pub sys: PathBuf,
    pub dev: PathBuf,
    pub host: u32,
}

impl Guest {
    pub fn of(site: &Site, domain: &str, host: u32) -> Guest {
        let dir = site.domain_dir(domain);
        Guest { sys: dir.join("sys"), dev: dir.join("dev"), host, root: dir }
    }

    /// `/sys/devices/pci0000:00/0000:00:07.0/hostH`.
    fn host_dir(&self) -> PathBuf {
        self.sys.join("devices/pci0000:00").join(GUEST_PCI).join(format!("host{}", self.host))
    }

    fn hctl(&self, target: u32) -> String {
        format!("{}:0:{target}:0", self.host)
    }

    /// The SCSI device directory of a target, which holds `delete`.
    pub fn device_dir(&self, target: u32) -> PathBuf {
        self.host_dir().join(format!("target{}:0:{target}", self.host)).join(self.hctl(target))
    }

    /// The host's `scan` file (the real one, which `class/scsi_host/hostH/scan` reaches).
    pub fn scan_file(&self) -> PathBuf {
        self.host_dir().join("scsi_host").join(format!("host{}", self.host)).join("scan")
    }

    /// The class entries of a target: `(class, name)`, tapes `st`/`nst` and every device's `sg`.
    fn class_entries(target: u32, drives: u32) -> Vec<(&'static str, String)> {
        let mut list = Vec::new();
        if target < drives {
            list.push(("scsi_tape", format!("st{target}")));
            list.push(("scsi_tape", format!("nst{target}")));
        }
        list.push(("scsi_generic", format!("sg{target}")));
        list
    }

    /// `/dev` names of a target: nodes, and by-id links with what they point at (udev's
    /// 60-persistent-storage-tape.rules: `tape/by-id/scsi-SERIAL` for st and for a changer's sg,
    /// `tape/by-id/scsi-SERIAL-nst` for nst).
    fn dev_entries(target: u32, drives: u32) -> (Vec<String>, Vec<(String, String)>) {
        if target < drives {
            let serial = drive_serial(target);
            (
                vec![format!("nst{target}"), format!("st{target}"), format!("sg{target}")],
                vec![
                    (format!("tape/by-id/scsi-{serial}-nst"), format!("../../nst{target}")),
                    (format!("tape/by-id/scsi-{serial}"), format!("../../st{target}")),
                ],
            )
        } else {
            (
                vec![format!("sg{target}")],
                vec![(format!("tape/by-id/scsi-{CHANGER_SERIAL}"), format!("../../sg{target}"))],
            )
        }
    }

    fn add_host(&self) -> std::io::Result<()> {
        let scan = self.scan_file();
        self.mkdir(scan.parent().unwrap_or(&self.sys))?;
        create(&scan, "")?;
        let class = self.sys.join("class/scsi_host");
        self.mkdir(&class)?;
        link(
            &format!("../../devices/pci0000:00/{GUEST_PCI}/host{0}/scsi_host/host{0}", self.host),
            &class.join(format!("host{}", self.host)),
        )
    }

    fn remove_host(&self) -> std::io::Result<()> {
        remove(&self.sys.join("class/scsi_host").join(format!("host{}", self.host)))?;
        remove(&self.host_dir())
    }

    fn add_device(&self, target: u32, drives: u32) -> std::io::Result<()> {
        let dir = self.device_dir(target);
        self.mkdir(&dir)?;
        let changer = target >= drives;
        // SCSI peripheral device types: 1 sequential-access (tape), 8 medium changer.
        let (kind, model) = if changer { ("8", "ULT3580-TD4 changer") } else { ("1", "ULT3580-TD4") };
        for (name, text) in [("type", kind), ("vendor", "IBM"), ("model", model), ("state", "running")] {
            create(&dir.join(name), &format!("{text}\n"))?;
        }
        create(&dir.join("delete"), "")?;
        let hctl = self.hctl(target);
        for (class, name) in Self::class_entries(target, drives) {
            let own = dir.join(class).join(&name);
            self.mkdir(&own)?;
            link(&format!("../../../{hctl}"), &own.join("device"))?;
            let entry = self.sys.join("class").join(class);
            self.mkdir(&entry)?;
            let rel = own.strip_prefix(&self.sys).unwrap_or(&own).display().to_string();
            link(&format!("../../{rel}"), &entry.join(&name))?;
        }
        let bus = self.sys.join("bus/scsi/devices");
        self.mkdir(&bus)?;
        let rel = dir.strip_prefix(&self.sys).unwrap_or(&dir).display().to_string();
        link(&format!("../../../{rel}"), &bus.join(&hctl))?;
        let (nodes, links) = Self::dev_entries(target, drives);
        self.mkdir(&self.dev.join("tape/by-id"))?;
        for node in nodes {
            create(&self.dev.join(node), "")?;
        }
        for (name, to) in links {
            link(&to, &self.dev.join(name))?;
        }
        Ok(())
    }

    fn remove_device(&self, target: u32, drives: u32) -> std::io::Result<()> {
        let (nodes, links) = Self::dev_entries(target, drives);
        for (name, _) in links {
            remove(&self.dev.join(name))?;
        }
        for node in nodes {
            remove(&self.dev.join(node))?;
        }
        for (class, name) in Self::class_entries(target, drives) {
            remove(&self.sys.join("class").join(class).join(name))?;
        }
        remove(&self.sys.join("bus/scsi/devices").join(self.hctl(target)))?;
        remove(&self.device_dir(target))?;
        remove(self.device_dir(target).parent().unwrap_or(&self.sys))
    }
}

impl Guest {
    /// Creates `path` and the directories between it and the guest's directory, which must exist.
    fn mkdir(&self, path: &Path) -> std::io::Result<()> {
        let rel = path.strip_prefix(&self.root).map_err(|_| std::io::Error::other("outside the guest"))?;
        if !self.root.is_dir() {
            return Err(std::io::ErrorKind::NotFound.into());
        }
        let mut at = self.root.clone();
        for part in rel.components() {
            at.push(part);
            match std::fs::create_dir(&at) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                other => other?,
            }
        }
        Ok(())
    }
}

/// Writes a file that is not there yet (one there is left alone: a write ftl made may be in it).
fn create(path: &Path, text: &str) -> std::io::Result<()> {
    match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(mut f) => std::io::Write::write_all(&mut f, text.as_bytes()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn link(to: &str, at: &Path) -> std::io::Result<()> {
    match std::os::unix::fs::symlink(to, at) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

/// Removes a file, a link or a directory tree; one already gone is fine.
fn remove(path: &Path) -> std::io::Result<()> {
    let result = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Makes every guest's trees say what the platform state says; with `create` false it only
/// removes what should not be there. Only `init` and a kernel event (the end of a probe, a
/// scan) create: a watcher that reacts to a state change, or starts while its site is being
/// removed, must never make the site again.
pub fn render(site: &Site, p: &Platform, create: bool) -> Result<(), String> {
    let Some(lv) = &p.libvirt else {
        return Ok(());
    };
    let drives = p.drives.len() as u32;
    for domain in p.domains.keys() {
        let guest = Guest::of(site, domain, lv.scsi_host);
        let has = p.board.domain.as_deref() == Some(domain.as_str());
        let probed = has && lv.probe_at.is_none();
        let result = (|| {
            if has && create {
                guest.add_host()?;
            }
            for target in 0..=drives {
                if !(probed && lv.present.get(target as usize).copied().unwrap_or(false)) {
                    guest.remove_device(target, drives)?;
                } else if create {
                    guest.add_device(target, drives)?;
                }
            }
            if !has {
                guest.remove_host()?;
            }
            if create {
                guest.mkdir(&guest.dev.join("tape/by-id"))?;
            }
            Ok::<(), std::io::Error>(())
        })();
        result.map_err(|e| format!("{}: {e}", guest.sys.display()))?;
    }
    Ok(())
}

/// Starts the watcher of a libvirt site unless it runs (its lock is taken).
pub fn ensure_running(site: &Site) {
    if let Ok(Ok(free)) = lock::try_lock(&site.dir.join(LOCK_FILE), Create::IfMissing) {
        drop(free);
        // The site's own binary, which every fake link names.
        let Ok(exe) = std::fs::read_link(site.dir.join("controller/bin/virsh")) else {
            return;
        };
        use std::os::unix::process::CommandExt;
        let _ = std::process::Command::new(exe)
            .arg0("ftl-sim")
            .arg("kernel")
            .current_dir(&site.dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn();
    }
}

/// The watcher's identity of the platform file: a write replaces it (new inode) or changes it.
fn stamp(path: &Path) -> Option<(u64, i64, i64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.ino(), m.mtime(), m.mtime_nsec(), m.len()))
}

/// `ftl-sim kernel`: the watcher of the site in the working directory, until it is removed.
pub fn run() -> Result<(), String> {
    let dir = std::env::current_dir().map_err(|e| format!("kernel: {e}"))?;
    let site = Site::open(&dir)?;
    let inode = std::fs::metadata(&dir).map(|m| m.ino()).map_err(|e| e.to_string())?;
    let Ok(Ok(mut guard)) = lock::try_lock(&dir.join(LOCK_FILE), Create::IfMissing) else {
        // Another watcher has the site.
        return Ok(());
    };
    guard.write_note(&format!("pid {} ftl-sim kernel", std::process::id()));
    let mut seen = None;
    let mut platform: Option<Platform> = None;
    let mut quiet = 0;
    loop {
        let same = std::fs::metadata(&dir).map(|m| m.ino()).ok() == Some(inode);
        if !same || !site.state_path().exists() {
            if same {
                finish_removal(&site, platform.as_ref());
            }
            return Ok(());
        }
        let now = stamp(&site.state_path());
        if now != seen {
            seen = now;
            if let Ok(p) = site.read() {
                let _ = render(&site, &p, false);
                platform = Some(p);
            }
            quiet = 0;
        }
        if let Some(p) = &platform {
            if step(&site, p) {
                quiet = 0;
            }
        }
        quiet += 1;
        std::thread::sleep(if quiet < QUIET_POLLS { BUSY_POLL } else { IDLE_POLL });
    }
}

/// The site is being removed (its state file is gone), and a probe or a scan may have made
/// devices behind the remover's back: take away what this watcher made (every guest's `sys` and
/// `dev`), then the directories left empty, so that the removal ends as its caller meant.
fn finish_removal(site: &Site, platform: Option<&Platform>) {
    let Some(p) = platform else {
        return;
    };
    for domain in p.domains.keys() {
        let guest = site.domain_dir(domain);
        let _ = remove(&guest.join("sys"));
        let _ = remove(&guest.join("dev"));
        let _ = std::fs::remove_dir(&guest);
    }
    let _ = std::fs::remove_dir(&site.dir);
}

/// Reads a control file and empties it (the kernel consumes each write); `None` when untouched.
fn take(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() == 0 {
        return None;
    }
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let _ = std::fs::OpenOptions::new().write(true).open(path).and_then(|f| f.set_len(0));
    Some(text)
}

/// `scan` takes "CHANNEL TARGET LUN", each a number or `-` (all): what `- - -` asks for, and
/// what a narrower scan of channel 0 asks for, both bring back the host's devices here.
fn is_scan(text: &str) -> bool {
    let fields: Vec<&str> = text.split_whitespace().collect();
    fields.len() == 3 && fields.iter().all(|f| *f == "-" || f.parse::<u32>().is_ok())
}

/// One look at the guest that has the HBA; true when something changed.
fn step(site: &Site, p: &Platform) -> bool {
    let (Some(lv), Some(domain)) = (&p.libvirt, &p.board.domain) else {
        return false;
    };
    // A hung guest's kernel does nothing; `hang:kernel` stalls the kernel of every guest.
    if p.has_fault(&format!("down:{domain}")) || p.has_fault("hang:kernel") {
        return false;
    }
    let guest = Guest::of(site, domain, lv.scsi_host);
    let now = chrono::Utc::now().timestamp_millis();
    let probe_due = lv.probe_at.is_some_and(|at| at <= now);
    let mut deleted = Vec::new();
    let mut scanned = false;
    if lv.probe_at.is_none() {
        for (target, _) in lv.present.iter().enumerate().filter(|(_, here)| **here) {
            // sdev_store_delete acts on any write; ftl writes `1`.
            if take(&guest.device_dir(target as u32).join("delete")).is_some() {
                deleted.push(target);
            }
        }
    }
    if let Some(text) = take(&guest.scan_file()) {
        scanned = is_scan(&text);
    }
    let unplug = lv.unplug_pending
        && !p.has_fault(&format!("no-release:{domain}"))
        && deleted.len() == lv.present.iter().filter(|h| **h).count();
    if !probe_due && deleted.is_empty() && !scanned && !unplug {
        return false;
    }
    let domain = domain.clone();
    // The devices a probe or a scan finds are made before the state says so: should the
    // watcher die in between, the next one sees the event again.
    if (probe_due || (scanned && lv.probe_at.is_none())) && site.state_path().exists() {
        let mut found = p.clone();
        if let Some(lv) = found.libvirt.as_mut() {
            lv.probe_at = None;
            lv.present.iter_mut().for_each(|h| *h = true);
        }
        let _ = render(site, &found, true);
    }
    let updated = site.update_existing(|p| {
        let still_here = p.board.domain.as_deref() == Some(domain.as_str());
        let no_release = p.has_fault(&format!("no-release:{domain}"));
        if let Some(lv) = p.libvirt.as_mut().filter(|_| still_here) {
            if lv.probe_at.is_some_and(|at| at <= now) {
                lv.probe_at = None;
                lv.present.iter_mut().for_each(|h| *h = true);
            } else {
                for t in &deleted {
                    lv.present[*t] = false;
                }
                if scanned && lv.probe_at.is_none() {
                    lv.present.iter_mut().for_each(|h| *h = true);
                }
            }
            if lv.unplug_pending && !no_release && lv.present.iter().all(|h| !h) {
                lv.unplug_pending = false;
                p.board.domain = None;
            }
        }
        p.clone()
    });
    if let Ok(p) = updated {
        let _ = render(site, &p, false);
    }
    true
}
