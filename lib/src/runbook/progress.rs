//! Progress of a hand-over: one line per step on stderr with the elapsed time (finished in place
//! when stderr is a terminal), and a structured `tracing` event per step for the journal.
//! Nothing here writes to stdout, which a NetBackup hook must leave alone.

use crate::ledger::record::Operation;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Progress events carry this target, so the stderr log layer can leave them to the lines
/// printed here.
pub const TARGET: &str = "ftl_progress";

pub trait Progress: Send + Sync {
    fn step_started(&self, domain: &str, op: Operation, id: &str, name: &str, width: usize);
    fn step_finished(
        &self,
        domain: &str,
        op: Operation,
        id: &str,
        name: &str,
        elapsed: Duration,
        outcome: Result<&str, &str>,
    );
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
    fn step_started(&self, domain: &str, op: Operation, id: &str, name: &str, width: usize) {
        tracing::info!(target: TARGET, domain, step = id, operation = %op, "{op} {id} {name}: started");
        if self.quiet {
            return;
        }
        let lanes = if width > 1 {
            format!(" ({width} in parallel)")
        } else {
            String::new()
        };
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "{} {domain}: {id} {name}{lanes} ... ", self.stamp());
            *self.open_line.lock().unwrap_or_else(|e| e.into_inner()) = true;
        } else {
            let _ = writeln!(err, "{} {domain}: {id} {name}{lanes} ...", self.stamp());
        }
    }

    fn step_finished(
        &self,
        domain: &str,
        op: Operation,
        id: &str,
        name: &str,
        elapsed: Duration,
        outcome: Result<&str, &str>,
    ) {
        let secs = elapsed.as_secs_f64();
        match outcome {
            Ok(summary) => {
                tracing::info!(target: TARGET, domain, step = id, operation = %op, secs, "{op} {id} {name}: {summary}")
            }
            Err(error) => {
                tracing::error!(target: TARGET, domain, step = id, operation = %op, secs, "{op} {id} {name} failed: {error}")
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
            let _ = writeln!(err, "{} {domain}: {id} {name}: {text}", self.stamp());
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

/// Collects nothing and prints nothing (library users and tests that only want the result).
pub struct Silent;

impl Progress for Silent {
    fn step_started(&self, _: &str, _: Operation, _: &str, _: &str, _: usize) {}
    fn step_finished(
        &self,
        _: &str,
        _: Operation,
        _: &str,
        _: &str,
        _: Duration,
        _: Result<&str, &str>,
    ) {
    }
    fn note(&self, _: &str) {}
}
