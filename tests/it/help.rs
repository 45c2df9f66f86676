//! Every binary documents itself: `--help` describes it and lists the exit codes, and a usage
//! error exits 2. (This test also makes `cargo test` build the binaries for `tests/`.)

use std::process::Command;

fn run(bin: &str, args: &[&str]) -> std::process::Output {
    Command::new(bin).args(args).env_clear().output().unwrap()
}

#[test]
fn help_and_usage_errors() {
    for bin in [env!("CARGO_BIN_EXE_ftl-acquire"), env!("CARGO_BIN_EXE_ftl-release"), env!("CARGO_BIN_EXE_ftl-status")]
    {
        let out = run(bin, &["--help"]);
        assert!(out.status.success(), "{bin} --help");
        let text = String::from_utf8_lossy(&out.stdout);
        for word in ["--config", "--domain", "--json", "--dry-run", "Exit codes", "6 the ledger is unreadable"] {
            assert!(text.contains(word), "{bin} --help lacks {word}");
        }
        let out = run(bin, &["--no-such-flag"]);
        assert_eq!(out.status.code(), Some(2), "{bin}: a usage error exits 2");
    }
    let out = run(env!("CARGO_BIN_EXE_ftl-acquire"), &["--force"]);
    assert_eq!(out.status.code(), Some(2), "--force needs --reason");
}
