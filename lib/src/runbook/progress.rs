//! Progress of a hand-over: one line per step on stderr with the elapsed time (finished in place
//! when stderr is a terminal), and a structured `tracing` event per step for the journal
//! (`FTL_LIBRARY`, `FTL_DOMAIN`, `FTL_OPERATION`, `FTL_STEP`, `FTL_EPOCH`). Nothing here writes to
//! stdout, which a NetBackup hook must leave alone.

use crate::ledger::record::Operation;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Progress events carry this target, so the stderr log layer can leave them to the lines
/// printed here.
pub const TARGET: &str = "ftl_progress";

/// Which step of which hand-over, for progress lines and journal fields.
#[derive(Debug, Clone, Copy)]
pub struct StepInfo<'a> {
    pub library: &'a str,
    pub domain: &'a str,
    pub operation: Operation,
    pub id: &'a str,
    pub name: &'a str,
    /// The ledger epoch that records this step.
    pub epoch: u64,
}

pub trait Progress: Send + Sync {
    fn step_started(&self, step: &StepInfo, width: usize);
    fn step_finished(&self, step: &StepInfo, elapsed: Duration, outcome: Result<&str, &str>);
    fn note(&self, text: &str);
}

/// Writes to stderr unless quiet; always emits tracing events.
pub struct StderrProgress {
    quiet: bool,
    tty: bool,
    start: Instant,
    open_line: Mutex<bool>,
}

impl StderrProgress {
    pub fn new(quiet: bool) -> Self {
        StderrProgress {
            quiet,
            tty: std::io::stderr().is_terminal(),
            start: Instant::now(),
            open_line: Mutex::new(false),
        }
    }

    fn stamp(&self) -> String {
        format!("[{:>7.1}s]", self.start.elapsed().as_secs_f64())
    }
}

impl Progress for StderrProgress {
    fn step_started(&self, s: &StepInfo, width: usize) {
        let (op, id, name) = (s.operation, s.id, s.name);
        tracing::info!(target: TARGET, library = s.library, domain = s.domain, operation = %op, step = id, epoch = s.epoch, "{op} {id} {name}: started");
        if self.quiet {
            return;
        }
        let lanes = if width > 1 { format!(" ({width} in parallel)") } else { String::new() };
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "{} {}: {id} {name}{lanes} ... ", self.stamp(), s.domain);
            *self.open_line.lock().unwrap_or_else(|e| e.into_inner()) = true;
        } else {
            let _ = writeln!(err, "{} {}: {id} {name}{lanes} ...", self.stamp(), s.domain);
        }
    }

    fn step_finished(&self, s: &StepInfo, elapsed: Duration, outcome: Result<&str, &str>) {
        let (op, id, name) = (s.operation, s.id, s.name);
        let secs = elapsed.as_secs_f64();
        match outcome {
            Ok(summary) => {
                tracing::info!(target: TARGET, library = s.library, domain = s.domain, operation = %op, step = id, epoch = s.epoch, secs, "{op} {id} {name}: {summary}")
            }
            Err(error) => {
                tracing::error!(target: TARGET, library = s.library, domain = s.domain, operation = %op, step = id, epoch = s.epoch, secs, "{op} {id} {name} failed: {error}")
            }
        }
        if self.quiet {
            return;
        }
        let text = match outcome {
            Ok(summary) => format!("done in {secs:.1}s: {summary}"),
            Err(_) => format!("FAILED after {secs:.1}s"),
        };
        let mut open = self.open_line.lock().unwrap_or_else(|e| e.into_inner());
        let mut err = std::io::stderr().lock();
        if *open {
            let _ = writeln!(err, "{text}");
            *open = false;
        } else {
            let _ = writeln!(err, "{} {}: {id} {name}: {text}", self.stamp(), s.domain);
        }
    }

    fn note(&self, text: &str) {
        tracing::warn!(target: TARGET, "{text}");
        if self.quiet {
            return;
        }
        let mut open = self.open_line.lock().unwrap_or_else(|e| e.into_inner());
        let mut err = std::io::stderr().lock();
        if *open {
            let _ = writeln!(err);
            *open = false;
        }
        let _ = writeln!(err, "{} {text}", self.stamp());
    }
}

/// Prints nothing (library users and tests that only want the result).
pub struct Silent;

impl Progress for Silent {
    fn step_started(&self, _: &StepInfo, _: usize) {}
    fn step_finished(&self, _: &StepInfo, _: Duration, _: Result<&str, &str>) {}
    fn note(&self, _: &str) {}
}
