//! `ftl-window`: see `ftl-window --help`; all behaviour is in `ftl::cli::window_main`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    ftl::cli::window_main(ftl::cli::WindowArgs::parse()).into()
}
