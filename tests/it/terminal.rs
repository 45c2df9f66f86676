//! Progress on a terminal: run under a pseudo-terminal (`script`), the running step's line is
//! redrawn with its elapsed time and finished in place; in a pipe, plain lines.

use crate::support::*;
use std::process::Command;

#[test]
fn the_running_step_counts_up_live_on_a_terminal() {
    let site = SimSite::with_args(&["--speed", "100"]);
    let release = format!("{} --config {} 2>&1", bin("ftl-release").display(), site.config("marmaduke").display());
    let out = Command::new("script").args(["-qec", &release, "/dev/null"]).env("TERM", "xterm").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let text = String::from_utf8_lossy(&out.stdout);
    // Redraws of the DR detach line (about 0.9 s at this speed) with a growing time.
    let redraws: Vec<f64> = text
        .split("\r\x1b[K")
        .filter(|part| part.contains("R5 DR detach ...") && !part.contains("done in"))
        .filter_map(|part| part.trim_end().rsplit(' ').next()?.strip_suffix('s')?.parse().ok())
        .collect();
    assert!(redraws.len() >= 2, "no live redraws in {text:?}");
    assert!(redraws.windows(2).all(|w| w[0] <= w[1]), "{redraws:?}");
    assert!(text.contains("R5 DR detach ... done in"), "{text:?}");
    // Not a terminal: no escape sequences at all.
    let out = run(site.ftl("flinstones", "ftl-acquire"));
    assert!(!stderr(&out).contains('\x1b'), "{}", stderr(&out));
    assert!(stderr(&out).contains("A3 DR attach ..."), "{}", stderr(&out));
}
