//! `ftl-sim`, and every fake command when called through a link named like one.

fn main() -> std::process::ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let name =
        argv.first().and_then(|a| std::path::Path::new(a).file_name()).and_then(|n| n.to_str()).unwrap_or_default();
    if ftl_sim::fake::is_fake(name) {
        return std::process::ExitCode::from(ftl_sim::fake::main(argv).clamp(0, 255) as u8);
    }
    ftl_sim::cli::main()
}
