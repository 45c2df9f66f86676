//! The host OS seam: what the domain's own operating system does in a hand-over. It rewinds and
//! reads the drives, quiesces the library's devices before the unit leaves (Solaris unloads the
//! robot driver; Linux removes the tape and changer SCSI devices) and restores them after it
//! came (Solaris loads the driver; Linux waits for the devices), and runs the OS's prechecks.
//!
//! The runbooks name these steps through [`HostOs`]; Solaris is today's implementation, Linux
//! the libvirt guests'. Each operation's plan (`--dry-run`) is built from the same command
//! builders the run uses.

pub mod linux;
pub mod prereq;
pub mod solaris;

use crate::config::{Config, Drive, Host};
use crate::exec::{Command, Output};
use crate::os::Tape;
use crate::runbook::actions::{Group, Outcome};
use crate::runbook::precheck::Check;
use crate::runbook::{ActionError, Context};

pub trait HostOs: Send + Sync {
    /// The name of the step that quiesces the devices (`unload the robot driver`).
    fn quiesce_name(&self) -> &'static str;
    /// The name of the step that restores them (`load the robot driver`).
    fn restore_name(&self) -> &'static str;
    /// Rewinds a drive.
    fn rewind(&self, ctx: &Context, drive: &Drive) -> Command;
    /// Asks a drive where its tape is.
    fn tape_status(&self, ctx: &Context, drive: &Drive) -> Command;
    /// A rewind that failed because the drive has no tape (which is as good as BOT).
    fn rewind_found_empty(&self, output: &Output) -> bool;
    /// Reads the answer of [`HostOs::tape_status`].
    fn read_tape(&self, output: &Output) -> Result<Tape, String>;
    /// Before the unit leaves: nothing of this OS may hold the library's devices.
    fn quiesce(&self, ctx: &Context) -> Result<Outcome, ActionError>;
    fn plan_quiesce(&self, ctx: &Context) -> Vec<Group>;
    /// After the unit came (or to undo [`HostOs::quiesce`]): the devices are usable again.
    fn restore(&self, ctx: &Context) -> Result<Outcome, ActionError>;
    fn plan_restore(&self, ctx: &Context) -> Vec<Group>;
    /// The OS's prechecks of a detach, of an attach, or both (`ftl-status --check`).
    fn checks(&self, ctx: &Context, detach: bool, attach: bool) -> Vec<Check>;
    /// What those prechecks run or read, for the plan.
    fn plan_checks(&self, ctx: &Context, attach: bool) -> Vec<String>;
}

pub fn for_config(config: &Config) -> Box<dyn HostOs> {
    match &config.host {
        Host::Solaris => Box::new(solaris::Solaris),
        Host::Linux(linux) => Box::new(linux::Linux::new(linux)),
    }
}
