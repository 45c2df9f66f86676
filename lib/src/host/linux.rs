//! Linux, the libvirt guests' OS: mt-st's `mt`, and the library's SCSI devices removed through
//! sysfs before the HBA leaves and waited for after it came.
//!
//! A configured device (a drive, the robot) is resolved to its kernel name (`/dev/tape/by-id/
//! scsi-X-nst` is a link to `/dev/nst0`), then to its class directory in sysfs
//! (`/sys/class/scsi_tape/nst0`, `/sys/class/scsi_generic/sg5`), whose `device` link is the SCSI
//! device `H:C:T:L`. Writing `1` to that device's `delete` removes it; writing `- - -` to
//! `/sys/class/scsi_host/hostH/scan` finds it again (the kernel's Documentation/scsi/scsi.rst and
//! drivers/scsi/scsi_sysfs.c; fixtures in `tests/fixtures/sysfs/`). ftl writes these files
//! itself, never through a shell, and polls for the result.

use super::HostOs;
use crate::config::Drive;
use crate::exec::{Command, Output};
use crate::os::Tape;
use crate::runbook::actions::{Group, Outcome};
use crate::runbook::precheck::Check;
use crate::runbook::{ActionError, Context};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Linux {
    sysfs: PathBuf,
    robot: PathBuf,
    timeout: Duration,
}

/// A configured device and the SCSI device behind it.
struct Scsi {
    /// What the configuration calls it: `drive 0 (/dev/tape/by-id/...)`, `the robot (...)`.
    label: String,
    /// `SYSFS/class/scsi_tape/nst0`: gone once the device is removed.
    class_dir: PathBuf,
    /// `SYSFS/class/scsi_tape/nst0/device/delete`.
    delete: PathBuf,
    /// `H:C:T:L`.
    hctl: String,
}

impl Linux {
    pub fn new(config: &crate::config::Linux) -> Linux {
        Linux { sysfs: config.sysfs.clone(), robot: config.robot.clone(), timeout: config.devices_timeout }
    }

    /// Every configured device: the drives, then the robot.
    fn devices(&self, ctx: &Context) -> Vec<(String, PathBuf)> {
        let mut all: Vec<(String, PathBuf)> = ctx
            .config
            .drives
            .iter()
            .map(|d| (format!("drive {} ({})", d.index, d.device.display()), d.device.clone()))
            .collect();
        all.push((format!("the robot ({})", self.robot.display()), self.robot.clone()));
        all
    }

    /// The sysfs class directory of a device node's kernel name.
    fn class_dir(&self, node: &Path) -> Result<PathBuf, String> {
        let name = node.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let class = if name.starts_with("nst") || name.starts_with("st") {
            "scsi_tape"
        } else if name.starts_with("sg") {
            "scsi_generic"
        } else if name.starts_with("sch") {
            "scsi_changer"
        } else {
            return Err(format!(
                "{} is not a SCSI tape (st, nst), generic (sg) or changer (sch) device",
                node.display()
            ));
        };
        Ok(self.sysfs.join("class").join(class).join(name))
    }

    /// The SCSI device behind `path`, `None` when the device is not there.
    fn scsi(&self, label: &str, path: &Path) -> Result<Option<Scsi>, String> {
        let node = match std::fs::canonicalize(path) {
            Ok(node) => node,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{label}: cannot resolve {}: {e}", path.display())),
        };
        let class_dir = self.class_dir(&node).map_err(|e| format!("{label}: {e}"))?;
        // The node is there, so its SCSI device is: a sysfs without it is the wrong sysfs (or the
        // device is going away), and removing "nothing" would leave the device in use.
        let device = std::fs::canonicalize(class_dir.join("device")).map_err(|e| {
            format!(
                "{label}: {} exists but {} does not resolve ({e}); is host.sysfs ({}) this host's sysfs?",
                node.display(),
                class_dir.join("device").display(),
                self.sysfs.display()
            )
        })?;
        let hctl = device.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        Ok(Some(Scsi { label: label.into(), class_dir, delete: device.join("delete"), hctl }))
    }

    fn present(&self, ctx: &Context) -> Result<Vec<Scsi>, ActionError> {
        let mut found = Vec::new();
        for (label, path) in self.devices(ctx) {
            if let Some(scsi) = self.scsi(&label, &path).map_err(ActionError::new)? {
                found.push(scsi);
            }
        }
        Ok(found)
    }

    fn missing(&self, ctx: &Context) -> Vec<String> {
        self.devices(ctx).into_iter().filter(|(_, path)| !path.exists()).map(|(label, _)| label).collect()
    }

    /// Polls `done` until it holds or the devices timeout passes.
    fn wait(&self, mut done: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            if done() {
                return true;
            }
            if start.elapsed() >= self.timeout {
                return false;
            }
            std::thread::sleep(pause.min(self.timeout.saturating_sub(start.elapsed())));
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// Every SCSI host's `scan` file.
    fn scan_files(&self) -> Vec<PathBuf> {
        let dir = self.sysfs.join("class/scsi_host");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|entries| entries.flatten().map(|e| e.path().join("scan")).filter(|p| p.exists()).collect())
            .unwrap_or_default();
        files.sort();
        files
    }
}

/// Writes `text` to a sysfs file, giving up after `timeout` (the kernel may block the write).
fn write_sysfs(path: &Path, text: &str, timeout: Duration) -> Result<(), ActionError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (file, body) = (path.to_path_buf(), text.to_string());
    std::thread::spawn(move || {
        let _ = tx.send(std::fs::write(&file, body));
    });
    let shown = format!("write `{text}` to {}", path.display());
    match rx.recv_timeout(timeout) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            Err(ActionError { command: Some(shown.clone()), message: format!("could not {shown}: {e}"), output: None })
        }
        Err(_) => Err(ActionError {
            command: Some(shown.clone()),
            message: format!("could not {shown}: the write did not return within {}", crate::duration::format(timeout)),
            output: None,
        }),
    }
}

fn mt(ctx: &Context, drive: &Drive, op: &str, timeout: Duration) -> Command {
    Command::new([ctx.config.commands.mt.as_str(), "-f", &drive.device.display().to_string(), op], timeout)
}

impl HostOs for Linux {
    fn quiesce_name(&self) -> &'static str {
        "remove the tape and changer devices"
    }

    fn restore_name(&self) -> &'static str {
        "wait for the tape and changer devices"
    }

    fn rewind(&self, ctx: &Context, drive: &Drive) -> Command {
        mt(ctx, drive, "rewind", ctx.config.timeouts.rewind)
    }

    fn tape_status(&self, ctx: &Context, drive: &Drive) -> Command {
        mt(ctx, drive, "status", ctx.config.timeouts.command)
    }

    fn rewind_found_empty(&self, output: &Output) -> bool {
        // mt-st's test_error() for a command that needs a tape (tests/fixtures/mt-st/offline_error.txt).
        let text = output.text();
        text.contains("The device is offline") || text.contains("No medium found")
    }

    fn read_tape(&self, output: &Output) -> Result<Tape, String> {
        crate::mtst::parse_status(&output.stdout, &output.stderr)
    }

    fn quiesce(&self, ctx: &Context) -> Result<Outcome, ActionError> {
        let present = self.present(ctx)?;
        if present.is_empty() {
            return Ok(Outcome::found("no tape or changer device of the library was present".into()));
        }
        for scsi in &present {
            write_sysfs(&scsi.delete, "1", self.timeout)?;
        }
        if !self.wait(|| present.iter().all(|s| !s.class_dir.exists())) {
            let left: Vec<String> =
                present.iter().filter(|s| s.class_dir.exists()).map(|s| format!("{} ({})", s.label, s.hctl)).collect();
            return Err(ActionError::new(format!(
                "still present {} after `1` was written to their delete files: {}",
                crate::duration::format(self.timeout),
                left.join(", ")
            )));
        }
        let list: Vec<String> = present.iter().map(|s| s.hctl.clone()).collect();
        Ok(Outcome::changed(format!("removed {} SCSI devices ({})", present.len(), list.join(", "))))
    }

    fn plan_quiesce(&self, ctx: &Context) -> Vec<Group> {
        let lines = self
            .devices(ctx)
            .into_iter()
            .map(|(label, path)| match self.scsi(&label, &path) {
                Ok(Some(s)) => format!("write `1` to {} ({label}, {})", s.delete.display(), s.hctl),
                Ok(None) => format!("write `1` to the delete file of {label}'s SCSI device, if present (absent now)"),
                Err(e) => format!("(cannot resolve: {e})"),
            })
            .chain([format!("wait until they are gone (at most {})", crate::duration::format(self.timeout))])
            .collect();
        vec![Group { parallel: false, commands: lines }]
    }

    fn restore(&self, ctx: &Context) -> Result<Outcome, ActionError> {
        if self.missing(ctx).is_empty() {
            return Ok(Outcome::found("every tape and changer device was present".into()));
        }
        // After an attach the kernel finds the devices by itself; a rescan asks every host again
        // (what a removal by `delete` needs to be undone).
        let settle = Duration::from_secs(1).min(self.timeout);
        let start = Instant::now();
        while !self.missing(ctx).is_empty() && start.elapsed() < settle {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut scans = Vec::new();
        if !self.missing(ctx).is_empty() {
            scans = self.scan_files();
            for scan in &scans {
                write_sysfs(scan, "- - -", self.timeout)?;
            }
        }
        if !self.wait(|| self.missing(ctx).is_empty()) {
            return Err(ActionError::new(format!(
                "not present {} after the HBA came{}: {}",
                crate::duration::format(self.timeout),
                if scans.is_empty() {
                    String::new()
                } else {
                    format!(" and {} SCSI hosts were rescanned", scans.len())
                },
                self.missing(ctx).join(", ")
            )));
        }
        Ok(Outcome::changed(format!("{} tape and changer devices present", self.devices(ctx).len())))
    }

    fn plan_restore(&self, ctx: &Context) -> Vec<Group> {
        let mut lines = vec![format!(
            "wait for {} (at most {})",
            self.devices(ctx).iter().map(|(_, p)| p.display().to_string()).collect::<Vec<_>>().join(", "),
            crate::duration::format(self.timeout)
        )];
        lines.push(format!(
            "if they do not come within 1s: write `- - -` to {}/class/scsi_host/host*/scan",
            self.sysfs.display()
        ));
        vec![Group { parallel: false, commands: lines }]
    }

    /// Before a release (`detach` alone): every configured device is here, a SCSI device that
    /// can be removed, since the owner has them all and a release must remove them all. For
    /// `ftl-status --check` (both): every device that is here can be removed (on a domain that
    /// does not own the library, none is here).
    fn checks(&self, ctx: &Context, detach: bool, attach: bool) -> Vec<Check> {
        if !detach {
            return Vec::new();
        }
        const NAME: &str = "library devices removable";
        let release = !attach;
        let mut problems = Vec::new();
        let mut found = 0;
        for (label, path) in self.devices(ctx) {
            match self.scsi(&label, &path) {
                Ok(Some(_)) => found += 1,
                Ok(None) if release => problems.push(format!(
                    "{label} is missing (the HBA elsewhere, udev not done, or the device removed by hand): a \
                     release must remove every device of the library before the detach"
                )),
                Ok(None) => {}
                Err(e) => problems.push(e),
            }
        }
        if problems.is_empty() {
            let total = self.devices(ctx).len();
            vec![Check::pass(
                NAME,
                format!("{found} of the {total} configured devices present, each a SCSI device sysfs can remove"),
            )]
        } else {
            vec![Check::fail(NAME, problems.join("; "))]
        }
    }

    fn plan_checks(&self, ctx: &Context, attach: bool) -> Vec<String> {
        if attach {
            return Vec::new();
        }
        vec![format!(
            "resolve {} in {}",
            self.devices(ctx).iter().map(|(_, p)| p.display().to_string()).collect::<Vec<_>>().join(", "),
            self.sysfs.display()
        )]
    }
}
