//! Progress of a hand-over: one line per step on stderr with the elapsed time (finished in place
//! when stderr is a terminal), and a structured `tracing` event per step for the journal
//! (`FTL_LIBRARY`, `FTL_DOMAIN`, `FTL_OPERATION`, `FTL_STEP`, `FTL_EPOCH`). Nothing here writes to
//! stdout, which a NetBackup hook must leave alone.

use crate::ledger::record::Operation;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, OnceLock};
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

/// Writes to stderr unless quiet; always emits tracing events. On a terminal the running step's
/// line is redrawn with its elapsed time every 200 ms and finished in place; elsewhere (a log,
/// the journal of a service) each step is one line when it starts and one when it ends.
pub struct StderrProgress {
    quiet: bool,
    tty: bool,
    start: Instant,
    live: Arc<Mutex<Option<Live>>>,
    ticker: OnceLock<()>,
}

/// The step on the terminal's last line.
struct Live {
    text: String,
    since: Instant,
}

const CLEAR_LINE: &str = "\r\x1b[K";

impl StderrProgress {
    pub fn new(quiet: bool) -> Self {
        StderrProgress {
            quiet,
            tty: std::io::stderr().is_terminal(),
            start: Instant::now(),
            live: Arc::new(Mutex::new(None)),
            ticker: OnceLock::new(),
        }
    }

    fn stamp(&self) -> String {
        format!("[{:>7.1}s]", self.start.elapsed().as_secs_f64())
    }

    /// Starts the thread that redraws the live line (once, and only on a terminal).
    fn start_ticker(&self) {
        let live = Arc::clone(&self.live);
        self.ticker.get_or_init(|| {
            std::thread::spawn(move || loop {
                std::thread::sleep(Duration::from_millis(200));
                let guard = live.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(l) = guard.as_ref() {
                    let _ = write!(
                        std::io::stderr().lock(),
                        "{CLEAR_LINE}{} {:.1}s",
                        l.text,
                        l.since.elapsed().as_secs_f64()
                    );
                }
            });
        });
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
        let text = format!("{} {}: {id} {name}{lanes} ...", self.stamp(), s.domain);
        if self.tty {
            let _ = write!(std::io::stderr().lock(), "{CLEAR_LINE}{text}");
            *self.live.lock().unwrap_or_else(|e| e.into_inner()) = Some(Live { text, since: Instant::now() });
            self.start_ticker();
        } else {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
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
        let result = match outcome {
            Ok(summary) => format!("done in {secs:.1}s: {summary}"),
            Err(_) => format!("FAILED after {secs:.1}s"),
        };
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let mut err = std::io::stderr().lock();
        match live.take() {
            Some(l) => {
                let _ = writeln!(err, "{CLEAR_LINE}{} {result}", l.text);
            }
            None => {
                let _ = writeln!(err, "{} {}: {id} {name}: {result}", self.stamp(), s.domain);
            }
        }
    }

    fn note(&self, text: &str) {
        tracing::warn!(target: TARGET, "{text}");
        if self.quiet {
            return;
        }
        // A note goes above the live line, which the ticker draws again.
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let clear = if live.is_some() { CLEAR_LINE } else { "" };
        let _ = writeln!(std::io::stderr().lock(), "{clear}{} {text}", self.stamp());
    }
}

/// Prints nothing (library users and tests that only want the result).
pub struct Silent;

impl Progress for Silent {
    fn step_started(&self, _: &StepInfo, _: usize) {}
    fn step_finished(&self, _: &StepInfo, _: Duration, _: Result<&str, &str>) {}
    fn note(&self, _: &str) {}
}
