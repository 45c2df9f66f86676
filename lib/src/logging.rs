//! Logging with `tracing`: to journald when a journal socket exists (structured fields
//! `FTL_DOMAIN`, `FTL_STEP`, ...), and warnings to stderr. `-v`/`-q` and `FTL_LOG` (a
//! `tracing` filter such as `debug`) set the level. A journal that fails never fails a command:
//! the layer is simply left out.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Installs the global subscriber. `verbose` and `quiet` count `-v` and `-q`.
pub fn init(program: &str, verbose: u8, quiet: u8) {
    let stderr_level = match (verbose, quiet) {
        (0, 0) => "warn",
        (_, q) if q > 0 => "error",
        (1, _) => "info",
        (2, _) => "debug",
        _ => "trace",
    };
    let stderr_filter = std::env::var("FTL_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| {
            EnvFilter::new(format!(
                "{stderr_level},{}=off",
                crate::runbook::progress::TARGET
            ))
        });
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .with_filter(stderr_filter);
    let journald = std::path::Path::new(JOURNAL_SOCKET)
        .exists()
        .then(|| tracing_journald::layer().ok())
        .flatten()
        .map(|layer| {
            layer
                .with_field_prefix(Some("FTL".into()))
                .with_syslog_identifier(program.to_string())
                .with_filter(EnvFilter::new(if verbose > 0 { "debug" } else { "info" }))
        });
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(journald)
        .try_init();
}
