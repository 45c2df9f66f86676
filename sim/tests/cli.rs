//! `ftl-sim` itself: help, init's refusals, and a site that `show` reads back. (This test also
//! makes `cargo test` build the ftl-sim binary that the workspace's integration tests drive.)

use std::process::Command;

fn sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ftl-sim")).args(args).env_clear().output().unwrap()
}

#[test]
fn help_init_and_show() {
    let out = sim(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["init", "show", "fault", "job", "demo"] {
        assert!(help.contains(word), "--help lacks {word}");
    }
    let dir = assert_fs::TempDir::new().unwrap();
    let site = dir.path().join("site");
    let site = site.to_str().unwrap();
    assert!(sim(&["init", site, "--drives", "3", "--domains", "a,b,c", "--owner", "b"]).status.success());
    let out = sim(&["show", site, "--json"]);
    let p: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(p["board"]["domain"], "b");
    assert_eq!(p["drives"].as_array().unwrap().len(), 3);
    assert_eq!(p["domains"].as_object().unwrap().len(), 3);
    let out = sim(&["init", site]);
    assert_eq!(out.status.code(), Some(1), "a non-empty directory is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    for bad in [
        &["init", "/tmp/x", "--domains", "a"][..],
        &["init", "/tmp/x", "--owner", "zz"],
        &["init", "/tmp/x", "--drives", "0"],
        &["init", "/tmp/x", "--speed=0"],
    ] {
        assert_eq!(sim(bad).status.code(), Some(1), "{bad:?}");
    }
    assert_eq!(sim(&["show", "/nonexistent"]).status.code(), Some(1));
    assert_eq!(sim(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn the_demo_hands_the_library_over_and_back() {
    let out = sim(&["demo", "--speed", "1000", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["healthy"], true);
    let ticks: Vec<&str> =
        report["ticks"].as_array().unwrap().iter().map(|t| t["decision"]["action"].as_str().unwrap()).collect();
    assert_eq!(ticks, vec!["release", "acquire", "release", "acquire"]);
    let steps = report["timeline"].as_array().unwrap();
    assert_eq!(steps.len(), 20, "five steps in each of four hand-overs");
    assert!(steps.iter().all(|s| s["ok"] == true));
}
