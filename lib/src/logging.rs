//! Logging with `tracing`: to journald when a journal socket exists (structured fields
//! `FTL_DOMAIN`, `FTL_STEP`, `FTL_OPERATION`, ...), and warnings and errors to stderr. `-v`/`-q`
//! and `FTL_LOG` (a level, or `target=level,...`) set the level: `-v` (info) adds every command
//! run with its arguments, exit status and duration, `-vv` (debug) what was read (the
//! configuration, the domain, the ledger record), `-q` leaves only errors. The journal always
//! gets info, and debug with `-v`. A journal that fails never fails
//! a command: the layer is simply left out, and a write that fails is dropped by the layer.
//!
//! The stderr layer is a few lines of our own rather than tracing-subscriber's `fmt`, which
//! would add a fifth to the size of every static binary for one line of text per event.

use std::fmt::Write as _;
use std::io::Write as _;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Writes `LEVEL message key=value ...` to stderr, one line per event.
struct StderrLayer;

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value}");
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for StderrLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let level = *event.metadata().level();
        let mut line = Line(match level {
            Level::ERROR => "error:".into(),
            Level::WARN => "warning:".into(),
            other => format!("{}:", other.as_str().to_ascii_lowercase()),
        });
        event.record(&mut line);
        line.0.push('\n');
        let _ = std::io::stderr().lock().write_all(line.0.as_bytes());
    }
}

/// Installs the global subscriber. `verbose` and `quiet` count `-v` and `-q`.
pub fn init(program: &str, verbose: u8, quiet: u8) {
    let stderr_level = match (verbose, quiet) {
        (0, 0) => LevelFilter::WARN,
        (_, q) if q > 0 => LevelFilter::ERROR,
        (1, _) => LevelFilter::INFO,
        (2, _) => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let from_env = std::env::var("FTL_LOG").ok().and_then(|f| f.parse::<Targets>().ok());
    // Progress lines are printed by the progress reporter itself; the stderr log leaves them out.
    let stderr_filter = from_env.clone().unwrap_or_else(|| {
        Targets::new().with_default(stderr_level).with_target(crate::runbook::progress::TARGET, LevelFilter::OFF)
    });
    let journal_level = if verbose > 0 { LevelFilter::DEBUG } else { LevelFilter::INFO };
    let journal_filter = from_env.unwrap_or_else(|| Targets::new().with_default(journal_level));
    let journald =
        std::path::Path::new(JOURNAL_SOCKET).exists().then(|| tracing_journald::layer().ok()).flatten().map(|layer| {
            layer
                .with_field_prefix(Some("FTL".into()))
                .with_syslog_identifier(program.to_string())
                .with_filter(journal_filter)
        });
    let _ = tracing_subscriber::registry().with(StderrLayer.with_filter(stderr_filter)).with(journald).try_init();
}
