//! `ftl-acquire`: see `ftl-acquire --help`; all behaviour is in `ftl::cli::acquire_main`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    ftl::cli::acquire_main(ftl::cli::AcquireArgs::parse()).into()
}
