//! `ftl`, the floating tape library: moves one tape library between NetBackup domains by running
//! the Dynamic Reconfiguration runbook, and records who owns it in a ledger on shared storage.
//!
//! Every behaviour lives in this crate; the binaries in `hooks/` are thin wrappers that parse
//! their arguments, call one function of [`cli`] and turn the result into an exit code
//! ([`error::Exit`]). The outside world (paths, the clock, the command runner) is passed in, so
//! the same code runs against the real platform and against the simulator `ftl-sim`.

pub mod cli;
pub mod clock;
pub mod config;
pub mod duration;
pub mod error;
pub mod exec;
pub mod host;
pub mod ledger;
pub mod logging;
pub mod mtst;
pub mod netbackup;
pub mod notify;
pub mod os;
pub mod plan;
pub mod platform;
pub mod policy;
pub mod rc;
pub mod runbook;
pub mod schedule;
pub mod signals;
pub mod status;
#[cfg(test)]
pub(crate) mod testkit;
pub mod tick;
pub mod trust;
pub mod window;

pub use error::{Error, Exit};
