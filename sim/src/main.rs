//! `ftl-sim`, and every fake command when called through a link named like one.

fn main() -> std::process::ExitCode {
    // Lossy: a fake command's arguments are text to the real tools too, and `ftl-sim`'s own
    // arguments are parsed again by clap from the OS strings.
    let argv: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let name =
        argv.first().and_then(|a| std::path::Path::new(a).file_name()).and_then(|n| n.to_str()).unwrap_or_default();
    if ftl_sim::fake::is_fake(name) {
        return std::process::ExitCode::from(ftl_sim::fake::main(argv).clamp(0, 255) as u8);
    }
    ftl_sim::cli::main()
}
