//! Controller profiles: how a platform moves the board between domains.
//!
//! The runbooks only know [`Platform`]: a command that says where the board is, one that
//! detaches it from a domain, one that attaches it to a domain, and how to read the first.
//! Starfire (the E10000's SSP) is the profile today; another platform is another implementation
//! of this trait, with no change to the runbooks.

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

pub trait Platform: Send + Sync {
    /// The command that asks where the board is; `domain` is the one asking.
    fn locate(&self, domain: &str) -> Command;
    /// Reads the answer of [`Platform::locate`].
    fn parse_location(&self, output: &Output) -> Result<Location, String>;
    /// Detaches the board from `domain` (exit 0 when it is already detached).
    fn detach(&self, domain: &str) -> Command;
    /// Attaches the board to `domain` (exit 0 when it is already there).
    fn attach(&self, domain: &str) -> Command;
}

pub fn for_config(config: &Config) -> Box<dyn Platform> {
    match config.controller.profile {
        Profile::Starfire => Box::new(starfire::Starfire::new(config)),
    }
}
