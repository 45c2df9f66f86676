//! Every binary with random arguments: no panic, and only the SPEC's exit codes.

use crate::support::*;

const WORDS: &[&str] = &[
    "--config",
    "--domain",
    "marmaduke",
    "flinstones",
    "nobody",
    "--json",
    "--dry-run",
    "-v",
    "-vv",
    "-q",
    "--wait",
    "1s",
    "90",
    "0s",
    "--force",
    "--reason",
    "x",
    "--if-idle",
    "--history",
    "5",
    "-1",
    "99999999999999999999",
    "--check",
    "--format",
    "prometheus",
    "json",
    "text",
    "tick",
    "show",
    "--now",
    "2026-11-25T00:00:00Z",
    "yesterday",
    "--days",
    "0",
    "3",
    "bpstart_notify",
    "session_notify",
    "db1",
    "FULL",
    "INCR",
    "--at-boot",
    "--at-shutdown",
    "--init-ledger",
    "--owner",
    "--repair-ledger",
    "--background",
    "acquire",
    "--help",
    "--version",
    "",
    " ",
    "--",
    "-",
    "\u{0}x",
    "é",
    "$(id)",
    "/nonexistent",
    "show",
    "fault",
    "clear",
    "job",
    "start",
    "end",
    "init",
];

#[test]
fn random_arguments_never_panic_and_exit_with_spec_codes() {
    let site = SimSite::with_args(&["--speed", "5000"]);
    let cwd = site.dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let mut rng = Rng(0x5eed);
    let mut runs = 0;
    for binary in ["ftl-acquire", "ftl-release", "ftl-status", "ftl-notify", "ftl-window", "ftl-sim"] {
        for _ in 0..150 {
            let n = (rng.next_u64() % 6) as usize;
            let mut args: Vec<String> = (0..n)
                .map(|_| {
                    let w = WORDS[(rng.next_u64() % WORDS.len() as u64) as usize];
                    if w == "init" || w == "--repair-ledger" {
                        "show".to_string()
                    } else {
                        w.to_string()
                    }
                })
                .filter(|a| !a.contains('\0'))
                .collect();
            if binary == "ftl-sim" && args.first().is_some_and(|a| ["show", "fault", "job"].contains(&a.as_str())) {
                args.insert(1, site.path().display().to_string());
            }
            let mut c = cmd(binary);
            c.args(&args).current_dir(&cwd).env("FTL_CONFIG", site.config("marmaduke"));
            let out = run(c);
            runs += 1;
            let code = code(&out);
            let allowed: &[i32] = if binary == "ftl-sim" { &[0, 1, 2] } else { &[0, 1, 2, 3, 4, 5, 6] };
            assert!(allowed.contains(&code), "{binary} {args:?}: exit {code}: {}", stderr(&out));
            assert!(!stderr(&out).contains("panicked"), "{binary} {args:?} panicked: {}", stderr(&out));
        }
    }
    site.kill_strays();
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "argument fuzzing: {runs} runs, no panic, only SPEC exit codes");
}
