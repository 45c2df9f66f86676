//! Controller profiles: how a platform moves the board between domains.
//!
//! The runbooks only know [`Platform`]: a command that says where the board is, one that
//! detaches it from a domain, one that attaches it to a domain, and how to read the first.
//! Starfire (the E10000's SSP) is the profile today; another platform is another implementation
//! of this trait, with no change to the runbooks.
//!
//! Reading the controller's answer gives a [`Reading`]: where the board is ([`Location`]), whether
//! a DR operation is known to be half done there ([`Condition`]), and the controller's own report
//! in words, which every message about the board quotes.

pub mod starfire;

use crate::config::{Config, Profile};
use crate::exec::{Command, Output};
use std::fmt;

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
    /// The command that asks where the board is; `domain` is the one asking.
    fn locate(&self, domain: &str) -> Command;
    /// Reads the answer of [`Platform::locate`]; an answer that does not place the board is an
    /// error quoting it.
    fn parse_location(&self, output: &Output) -> Result<Reading, String>;
    /// Detaches the board from the domain that holds it, `domain` being the one asking (exit 0
    /// when it is in no domain). On the SSP that is whatever domain holds the board, so it is run
    /// only right after [`Platform::locate`] has placed the board in the domain meant.
    fn detach(&self, domain: &str) -> Command;
    /// Attaches the board to `domain` (exit 0 when it is already there).
    fn attach(&self, domain: &str) -> Command;
}

pub fn for_config(config: &Config) -> Box<dyn Platform> {
    match config.controller.profile {
        Profile::Starfire => Box::new(starfire::Starfire::new(config)),
    }
}
