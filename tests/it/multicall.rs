//! The multi-call binary `ftl`, which install.sh installs under the five names: under each name
//! it is that program (the same help, version and usage errors as the separate binary), under
//! NetBackup's notify script names it is ftl-notify (the fast path, and a background acquire
//! started by it), and under any other name it says what to do and exits 2.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const PROGRAMS: &[&str] = &["ftl-acquire", "ftl-release", "ftl-status", "ftl-notify", "ftl-window"];

/// `ftl` as `name` in `dir`: a hard link, as install.sh makes (a copy when the temporary
/// directory is on another file system than the build: the name is what counts).
fn named(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    if std::fs::hard_link(bin("ftl"), &path).is_err() {
        std::fs::copy(bin("ftl"), &path).unwrap();
    }
    path
}

fn scrubbed(path: &Path) -> Command {
    let mut c = Command::new(path);
    c.env_clear().env("PATH", "/usr/bin:/bin").stdin(std::process::Stdio::null());
    c
}

#[test]
fn under_each_name_it_is_that_program() {
    let dir = assert_fs::TempDir::new().unwrap();
    for program in PROGRAMS {
        let multi = named(dir.path(), program);
        for args in [&["--help"][..], &["--version"], &["--no-such-flag"]] {
            let want = run(cmd(program).args(args));
            let got = run(scrubbed(&multi).args(args));
            assert_eq!(code(&got), code(&want), "{program} {args:?}: {}", stderr(&got));
            assert_eq!(stdout(&got), stdout(&want), "{program} {args:?}");
            assert_eq!(stderr(&got), stderr(&want), "{program} {args:?}");
        }
        let version = stdout(&run(scrubbed(&multi).arg("--version")));
        assert!(version.starts_with(&format!("{program} ")), "{program}: {version}");
    }
    // A subcommand, and a configuration error named as the program names it.
    let multi = dir.path().join("ftl-window");
    let got = run(scrubbed(&multi).args(["tick", "--config", "/nonexistent/ftl.toml"]));
    let want = run(cmd("ftl-window").args(["tick", "--config", "/nonexistent/ftl.toml"]));
    assert_eq!((code(&got), stderr(&got)), (code(&want), stderr(&want)));
    assert_eq!(code(&got), 2, "{}", stderr(&got));
}

#[test]
fn under_another_name_it_says_what_to_do_and_exits_2() {
    let dir = assert_fs::TempDir::new().unwrap();
    for name in ["ftl", "ftl-acquire.old", "acquire", "bpstart"] {
        let out = run(scrubbed(&named(dir.path(), name)).arg("--help"));
        assert_eq!(code(&out), 2, "{name}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{name}: {}", stdout(&out));
        let said = stderr(&out);
        assert!(said.contains(&format!("called as `{name}`")), "{name}: {said}");
        assert!(said.contains(&PROGRAMS.join(", ")), "{name}: {said}");
        assert!(said.contains("install.sh"), "{name}: {said}");
    }
}

/// As installed: NetBackup's hook is a symbolic link to ftl-notify, a hard link to ftl. The fast
/// path runs no command; on the domain that lacks the library the hook exits 3 and the background
/// acquire it starts (the same binary, by the name ftl-notify) takes the library once the owner
/// releases. A hook linked to `ftl` itself works too: the worker is started by its name.
#[test]
fn the_notify_hooks_work_through_it() {
    let site = SimSite::new();
    site.set_windows("marmaduke", "[\"Mon-Sun 00:00-24:00\"]");
    let dir = assert_fs::TempDir::new().unwrap();
    let notify = named(dir.path(), "ftl-notify");
    let multi = named(dir.path(), "ftl");
    for (who, target) in [("marmaduke", &notify), ("flinstones", &multi)] {
        std::fs::create_dir(dir.path().join(format!("{who}-hooks"))).unwrap();
        std::os::unix::fs::symlink(target, dir.path().join(format!("{who}-hooks")).join("bpstart_notify")).unwrap();
    }
    let hook = |who: &str| {
        let mut c = scrubbed(&dir.path().join(format!("{who}-hooks")).join("bpstart_notify"));
        c.env("FTL_CONFIG", site.config(who)).args(["db1", "daily", "incr", "FULL"]);
        c
    };
    let out = run(hook("marmaduke"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(site.calls().len(), 0, "the fast path runs nothing: {:?}", site.calls());

    let out = run(hook("flinstones"));
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let l = site.ledger("flinstones");
    assert!(l["requests"].as_array().unwrap().iter().any(|r| r["domain"] == "flinstones"), "{l}");
    site.set_windows("marmaduke", "[]");
    assert_eq!(code(&run(site.ftl("marmaduke", "ftl-release").arg("--if-idle"))), 0);
    site.wait_for(60, "the background acquire to take the library", |s| {
        s.ledger("flinstones")["owner"] == "flinstones"
    });
    assert_eq!(site.count_calls("addboard"), 1);
}
