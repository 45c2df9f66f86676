//! `ftl`: the five product programs in one static binary, which install.sh installs under their
//! names (hard links in PREFIX/sbin: ftl-acquire, ftl-release, ftl-status, ftl-notify,
//! ftl-window). It runs the program its name says (the file name of `argv[0]`), exactly as the
//! separate binary of that name does; NetBackup's notify script names (links to ftl-notify) are
//! ftl-notify's, which acts by them. Under any other name it says what to do and exits 2.
//!
//! One binary instead of five: each separate static binary carries the same library, the etcd
//! client and TLS included (about 3.5 MiB each), and the five share all but their entry points.

use clap::Parser;
use std::process::ExitCode;

/// The names this binary answers to, besides NetBackup's notify script names.
const PROGRAMS: &[&str] = &["ftl-acquire", "ftl-release", "ftl-status", "ftl-notify", "ftl-window"];

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked = argv.first().map(std::path::PathBuf::from).unwrap_or_default();
    let name = invoked.file_name().unwrap_or_default().to_string_lossy().into_owned();
    match name.as_str() {
        "ftl-acquire" => ftl::cli::acquire_main(ftl::cli::AcquireArgs::parse()).into(),
        "ftl-release" => ftl::cli::release_main(ftl::cli::ReleaseArgs::parse()).into(),
        "ftl-status" => ftl::cli::status_main(ftl::cli::StatusArgs::parse()).into(),
        "ftl-window" => ftl::cli::window_main(ftl::cli::WindowArgs::parse()).into(),
        _ if name == "ftl-notify" || ftl::notify::Hook::of_script(&name).is_some() => {
            ExitCode::from(ftl::cli::notify_main(argv))
        }
        _ => {
            eprintln!(
                "ftl: called as `{name}`, which is none of its programs. This binary is {} in one, and acts \
                 by the name it is called by: run it through a link with one of those names (install.sh \
                 installs it as hard links PREFIX/sbin/ftl-acquire and so on, and links NetBackup's notify \
                 scripts to ftl-notify), for example `ftl-status --help`",
                PROGRAMS.join(", ")
            );
            ExitCode::from(ftl::error::Exit::Usage.code())
        }
    }
}
