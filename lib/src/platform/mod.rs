//! Controller profiles, the controller seam: how a platform moves the library's unit (the
//! Starfire's system board, a KVM host's PCI HBA) between domains.
//!
//! The runbooks only know [`Platform`]: the commands that say where the unit is, the commands
//! that detach it from a domain and attach it to one, and how to read the first. Each operation
//! may be several commands, run in order, each with its own timeout. Starfire (the E10000's SSP)
//! and libvirt (`virsh` on a KVM host) are the profiles; another platform is another
//! implementation of this trait and of [`crate::host::HostOs`], with no change to the runbooks
//! or the executor.
//!
//! Reading the controller's answer gives a [`Reading`]: where the board is ([`Location`]), whether
//! a DR operation is known to be half done there ([`Condition`]), and the controller's own report
//! in words, which every message about the board quotes.

pub mod libvirt;
pub mod libvirt_xml;
pub mod starfire;

use crate::config::{Config, Controller};
use crate::exec::{Command, Output};
use std::fmt;
use std::time::Duration;

/// Where the controller says the board is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Domain(String),
    Unassigned,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Domain(d) => write!(f, "in domain {d}"),
            Location::Unassigned => f.write_str("in no domain"),
        }
    }
}

/// What the controller's report says about a DR operation on the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// A documented state in which no DR operation is half done: in no domain, or configured in
    /// (attached to, in use by) the domain it is in.
    Settled,
    /// A documented state of a board assigned to a domain whose operating system does not use it
    /// (not present, powered off, or unconfigured: for example an attach that stopped before the
    /// domain took the board), or of a board in no domain that cannot be attached (not present,
    /// or powered off).
    Unused,
    /// A state no source documents, or a report that contradicts itself: the board is where the
    /// report names it, and nothing more is known.
    Unknown,
}

/// The controller's answer about the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub location: Location,
    pub condition: Condition,
    /// The report in the controller's terms, for messages (the status, its documented meaning,
    /// what was printed).
    pub reported: String,
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.location, self.reported)
    }
}

pub trait Platform: Send + Sync {
    /// The unit that moves, for messages: `board 7`, `PCI device 0000:41:00.0`.
    fn unit(&self) -> String;
    /// The commands that ask where the unit is; `domain` is the one asking. Every one runs, in
    /// order, and [`Platform::read_location`] reads their answers together.
    fn locate(&self, domain: &str) -> Vec<Command>;
    /// Reads the answers of [`Platform::locate`] (one per command, whatever their exit status);
    /// answers that do not place the unit are an error quoting them.
    fn read_location(&self, answers: &[Output]) -> Result<Reading, String>;
    /// Detaches the unit from `domain` (on the SSP: from whatever domain holds it, so it is run
    /// only right after [`Platform::locate`] has placed it in the domain meant).
    fn detach(&self, domain: &str) -> Vec<Command>;
    /// Attaches the unit to `domain`.
    fn attach(&self, domain: &str) -> Vec<Command>;
    /// How long the controller may take to show a move done after its commands succeeded (a
    /// live PCI detach completes when the guest lets the device go); zero: at once.
    fn settle(&self, _attach: bool) -> Duration {
        Duration::ZERO
    }
    /// The unit as a noun in sentences: `board`, `HBA` ("the board is in domain D").
    fn noun(&self) -> &'static str;
    /// The name of the step that moves the unit (`DR attach`, `DR detach` on the Starfire).
    fn move_name(&self, attach: bool) -> &'static str;
    /// A detach that did not finish may still finish later, by itself (libvirt's live detach
    /// stays pending in the guest until the guest lets the device go): a failed detach that left
    /// the unit where it was is then no state to roll back to.
    fn detach_may_finish_later(&self) -> bool {
        false
    }
    /// Why a forced override may not detach the unit from `domain` (a domain that cannot
    /// release it), when this controller cannot do that safely; `None`: it may.
    fn forced_detach_refusal(&self, _domain: &str) -> Option<String> {
        None
    }
    /// The processors on the unit, which no processor set or bound thread may use at a detach.
    fn cpus(&self) -> &[u32] {
        &[]
    }
}

pub fn for_config(config: &Config) -> Box<dyn Platform> {
    match &config.controller {
        Controller::Starfire(_) => Box::new(starfire::Starfire::new(config)),
        Controller::Libvirt(_) => Box::new(libvirt::Libvirt::new(config)),
    }
}
