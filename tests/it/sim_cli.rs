//! `ftl-sim` itself: help, init's refusals, and a site that `show` reads back.

use std::process::Command;

fn sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ftl-sim")).args(args).env_clear().output().unwrap()
}

#[test]
fn help_init_and_show() {
    let out = sim(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["init", "show", "fault", "job", "demo", "fleet", "--ledger etcd="] {
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
    // marmaduke's tick records its claim first at 19:30 (flinstones then lets go): one request.
    let runbooks: Vec<&str> = ticks.iter().copied().filter(|a| *a != "request").collect();
    assert_eq!(runbooks, vec!["release", "acquire", "release", "acquire"]);
    assert_eq!(ticks.len(), 5, "{ticks:?}");
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

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn the_exit_codes_are_the_ones_the_help_gives() {
    let help = String::from_utf8_lossy(&sim(&["--help"]).stdout).into_owned();
    let dir = assert_fs::TempDir::new().unwrap();
    let site = dir.path().join("site");
    let site = site.to_str().unwrap();
    assert!(sim(&["init", site, "--speed", "1000"]).status.success());
    // What clap cannot parse is a usage error; what the simulator refuses is a failure.
    assert!(help.contains("2 the command line does not parse"), "{help}");
    assert!(help.contains("1 refused or failed"), "{help}");
    for unparsable in [
        &["frobnicate"][..],
        &["init"],
        &["fault", site],
        &["job", site, "a", "pause"],
        &["init", site, "--drives", "x"],
    ] {
        assert_eq!(sim(unparsable).status.code(), Some(2), "{unparsable:?}");
    }
    for refused in [&["fault", site, "nope"][..], &["job", site, "nobody", "start"], &["fault", site, "bot:99"]] {
        let out = sim(refused);
        assert_eq!(out.status.code(), Some(1), "{refused:?}: {}", text(&out));
    }
}

#[test]
fn init_refuses_before_it_creates_anything() {
    let dir = assert_fs::TempDir::new().unwrap();
    let site = dir.path().join("site");
    let out = sim(&["init", site.to_str().unwrap(), "--domains", "a,a"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("twice"), "{}", text(&out));
    assert!(!site.exists(), "a refused init left {}", site.display());
    // A speed whose timeouts ftl would refuse is refused before anything is made.
    let out = sim(&["init", site.to_str().unwrap(), "--speed", "0.0000001"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!site.exists(), "a refused init left {}", site.display());
    let out = sim(&["init", site.to_str().unwrap(), "--domains", "a,b"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_full_or_closed_output_and_non_utf8_arguments_never_panic() {
    use std::os::unix::ffi::OsStrExt;
    let dir = assert_fs::TempDir::new().unwrap();
    let site = dir.path().join("site");
    let full = || std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let run = |args: &[&std::ffi::OsStr], out: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ftl-sim"));
        c.args(args).env_clear();
        if out {
            c.stdout(full())
        } else {
            c.stderr(full())
        };
        c.output().unwrap()
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    let made = run(&[&os("init"), site.as_os_str()], true);
    assert_eq!(made.status.code(), Some(0), "{}", text(&made));
    for (args, out, want) in [
        (vec![os("show"), site.clone().into_os_string()], true, 0),
        (vec![os("show"), os("/nonexistent")], false, 1),
        (vec![os("fault"), site.clone().into_os_string(), os("bot:1")], true, 0),
        (vec![os("job"), site.clone().into_os_string(), os("marmaduke"), os("queue")], true, 0),
    ] {
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let got = run(&refs, out);
        assert_eq!(got.status.code(), Some(want), "{args:?}: {}", text(&got));
    }
    let odd = dir.path().join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
    let out = Command::new(env!("CARGO_BIN_EXE_ftl-sim")).arg("init").arg(&odd).env_clear().output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a non-UTF-8 directory: {}", text(&out));
    assert!(text(&out).contains("must be UTF-8") && !odd.exists(), "{}", text(&out));
    let out = Command::new(env!("CARGO_BIN_EXE_ftl-sim"))
        .args([
            std::ffi::OsStr::new("init"),
            dir.path().join("x").as_os_str(),
            std::ffi::OsStr::new("--domains"),
            std::ffi::OsStr::from_bytes(b"a\xff,b"),
        ])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a non-UTF-8 domain list is a usage error: {}", text(&out));
}

#[test]
fn init_says_which_windows_nobody_chose() {
    let dir = assert_fs::TempDir::new().unwrap();
    let site = dir.path().join("site");
    let out = sim(&["init", site.to_str().unwrap(), "--domains", "a,b,c,d,e"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("c gets the window Mon-Sun 08:00-12:00"), "{said}");
    assert!(said.contains("e has no window"), "{said}");
}

#[test]
fn fault_help_explains_every_fault_and_fault_and_job_confirm() {
    let help = String::from_utf8_lossy(&sim(&["fault", "--help"]).stdout).into_owned();
    for word in ["bot:I", "hang:CMD", "fail:CMD", "controller-down", "sg-busy:DOMAIN", "bound:DOMAIN", "clear"] {
        assert!(help.contains(word), "fault --help lacks {word}:\n{help}");
    }
    for name in ftl_sim::fake::DOMAIN_COMMANDS.iter().chain(ftl_sim::fake::CONTROLLER_COMMANDS) {
        assert!(help.contains(name), "fault --help does not list {name}:\n{help}");
    }
    let dir = assert_fs::TempDir::new().unwrap();
    let site = dir.path().join("site");
    let site = site.to_str().unwrap();
    assert!(sim(&["init", site, "--speed", "1000"]).status.success());
    let out = sim(&["fault", site, "bot:1", "hang:mt"]);
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("bot:1") && said.contains("hang:mt"), "{said}");
    // Every fault the simulator takes is named by every help that lists faults.
    let short = String::from_utf8_lossy(&sim(&["fault", "-h"]).stdout).into_owned();
    let top = String::from_utf8_lossy(&sim(&["--help"]).stdout).into_owned();
    for (fault, named) in [
        ("bot:1", "bot:I"),
        ("lost:1", "lost:I"),
        ("hang:mt", "hang:CMD"),
        ("fail:mt", "fail:CMD"),
        ("controller-down", "controller-down"),
        ("sg-busy:marmaduke", "sg-busy:DOMAIN"),
        ("bound:marmaduke", "bound:DOMAIN"),
        ("empty-pset:marmaduke", "empty-pset:DOMAIN"),
        ("solaris-2.6:marmaduke", "solaris-2.6:DOMAIN"),
        ("unsafe:marmaduke", "unsafe:DOMAIN"),
        ("down:marmaduke", "down:DOMAIN"),
        ("board-off", "board-off"),
        ("dr-fail:init_attach", "dr-fail:"),
    ] {
        assert!(sim(&["fault", site, fault]).status.success(), "{fault} refused");
        for (which, text) in [("fault --help", &help), ("fault -h", &short), ("--help", &top)] {
            assert!(text.contains(named), "{which} does not name {named}:\n{text}");
        }
    }
    let out = sim(&["fault", site, "clear"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("cleared"), "{}", text(&out));
    let out = sim(&["job", site, "marmaduke", "start"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("marmaduke: 1 active job"), "{}", text(&out));
    let out = sim(&["job", site, "marmaduke", "end"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("marmaduke: 0 active job"), "{}", text(&out));
}
