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

#[test]
fn every_man_page_that_is_named_exists_and_tables_stay_tables() {
    let dir = assert_fs::TempDir::new().unwrap();
    let out = sim(&["docs", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let man = dir.path().join("man1");
    let pages: Vec<(String, String)> = std::fs::read_dir(&man)
        .unwrap()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read_to_string(e.path()).unwrap()))
        .collect();
    let mut all = String::new();
    for (name, text) in &pages {
        // Every page another page points to, `ftl\-window\-tick(1)`, is generated.
        for line in text.lines() {
            if let Some(reference) = line.strip_suffix("(1)") {
                let file = format!("{}.1", reference.replace("\\-", "-"));
                assert!(man.join(&file).is_file(), "{name} points to {file}, which is not generated");
            }
        }
        all.push_str(text);
    }
    for page in ["ftl-window-tick.1", "ftl-window-show.1", "ftl-sim-init.1", "ftl-sim-fault.1"] {
        assert!(man.join(page).is_file(), "{page} is missing");
    }
    for flag in ["\\-\\-now", "\\-\\-days"] {
        assert!(all.contains(flag), "no man page documents {flag}");
    }
    // ftl-notify(1)'s table of hooks is printed line by line, not filled into one paragraph.
    let notify = &pages.iter().find(|(n, _)| n == "ftl-notify.1").unwrap().1;
    let lines: Vec<&str> = notify.lines().collect();
    let row = lines.iter().position(|l| l.starts_with("bpstart_notify[.POLICY")).expect("the table's row");
    let opened = lines[..row].iter().rposition(|l| *l == ".nf");
    let closed = lines[..row].iter().rposition(|l| *l == ".fi");
    assert!(opened.is_some() && opened > closed, "the hook table is filled:\n{notify}");
}
