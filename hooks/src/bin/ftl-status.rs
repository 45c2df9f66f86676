//! `ftl-status`: see `ftl-status --help`; all behaviour is in `ftl::cli::status_main`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    ftl::cli::status_main(ftl::cli::StatusArgs::parse()).into()
}
