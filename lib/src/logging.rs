//! Logging with `tracing`: to journald when a journal socket exists (structured fields
//! `FTL_DOMAIN`, `FTL_STEP`, `FTL_OPERATION`, ...), and warnings to stderr. `-v`/`-q` and
//! `FTL_LOG` (a level, or `target=level,...`) set the level. A journal that fails never fails a
//! command: the layer is simply left out, and a write that fails is dropped by the layer.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Installs the global subscriber. `verbose` and `quiet` count `-v` and `-q`.
pub fn init(program: &str, verbose: u8, quiet: u8) {
    let stderr_level = match (verbose, quiet) {
        (0, 0) => LevelFilter::WARN,
        (_, q) if q > 0 => LevelFilter::ERROR,
        (1, _) => LevelFilter::INFO,
        (2, _) => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let from_env = std::env::var("FTL_LOG")
        .ok()
        .and_then(|f| f.parse::<Targets>().ok());
    // Progress lines are printed by the progress reporter itself; the stderr log leaves them out.
    let stderr_filter = from_env.clone().unwrap_or_else(|| {
        Targets::new()
            .with_default(stderr_level)
            .with_target(crate::runbook::progress::TARGET, LevelFilter::OFF)
    });
    let journal_level = if verbose > 0 {
        LevelFilter::DEBUG
    } else {
        LevelFilter::INFO
    };
    let journal_filter = from_env.unwrap_or_else(|| Targets::new().with_default(journal_level));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .with_ansi(false)
        .with_filter(stderr_filter);
    let journald = std::path::Path::new(JOURNAL_SOCKET)
        .exists()
        .then(|| tracing_journald::layer().ok())
        .flatten()
        .map(|layer| {
            layer
                .with_field_prefix(Some("FTL".into()))
                .with_syslog_identifier(program.to_string())
                .with_filter(journal_filter)
        });
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(journald)
        .try_init();
}
