//! `ftl-release`: see `ftl-release --help`; all behaviour is in `ftl::cli::release_main`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    ftl::cli::release_main(ftl::cli::ReleaseArgs::parse()).into()
}
