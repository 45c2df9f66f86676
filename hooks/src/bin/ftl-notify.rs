//! `ftl-notify`, installed under NetBackup's notify script names: see `ftl-notify --help`; all
//! behaviour is in `ftl::cli::notify_main`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(ftl::cli::notify_main(std::env::args_os().collect()))
}
