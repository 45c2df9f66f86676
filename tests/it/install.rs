//! install.sh under --root: every file in place, the multi-call binary static and its five names
//! hard links to it (each acting as its program, NetBackup's hooks through them), a second run
//! leaves the same tree, a foreign notify script set aside and restored, uninstall back to the start.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every path under `root` with its kind, mode and content (or link target).
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let what = if meta.file_type().is_symlink() {
                format!("link -> {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                stack.push(path.clone());
                format!("dir {:o}", meta.mode() & 0o7777)
            } else {
                let bytes = std::fs::read(&path).unwrap();
                let sum =
                    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100000001b3));
                format!("file {:o} {} {sum:x}", meta.mode() & 0o7777, bytes.len())
            };
            out.insert(rel, what);
        }
    }
    out
}

/// The static binaries: from `FTL_STATIC_BIN_DIR` when `.ci/run` has built them once already
/// (release, as install.sh builds them); run without it, a static debug build made once here,
/// which is static all the same and takes a fraction of the fat-LTO release build's time.
fn static_bin_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("FTL_STATIC_BIN_DIR") {
            return PathBuf::from(dir);
        }
        let target = "x86_64-unknown-linux-gnu";
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(repo())
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .args(["build", "--quiet", "--target", target, "-p", "ftl-hooks", "--bin", "ftl", "--bin", "ftl-sim"])
            .output()
            .unwrap();
        assert!(out.status.success(), "static build: {}", String::from_utf8_lossy(&out.stderr));
        let target_dir =
            std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join("target"));
        target_dir.join(target).join("debug")
    })
    .clone()
}

/// install.sh under `root`, with the static binaries of [`static_bin_dir`].
fn install(root: &Path, args: &[&str]) -> std::process::Output {
    let mut c = Command::new("sh");
    c.arg(repo().join("install.sh")).arg("--root").arg(root).args(args);
    if !args.contains(&"--uninstall") {
        c.arg("--bin-dir").arg(static_bin_dir());
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "install.sh {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn install_is_complete_static_idempotent_and_uninstalls_cleanly() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let root = tmp.path().join("root");
    let nb = root.join("usr/openv/netbackup/bin");
    std::fs::create_dir_all(&nb).unwrap();
    let foreign = nb.join("bpend_notify");
    std::fs::write(&foreign, "#!/bin/sh\n# the site's own hook\nlogger backup ended: \"$@\"\n").unwrap();
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o750)).unwrap();
    let foreign_copy = tmp.path().join("foreign");
    std::fs::copy(&foreign, &foreign_copy).unwrap();
    let before = tree(&root);

    let out = install(&root, &[]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("set aside the site's own /usr/openv/netbackup/bin/bpend_notify"), "{said}");
    // One static binary, ftl, and the five names as hard links to it, each acting as its program.
    let sbin = root.join("usr/local/sbin");
    let ftl = std::fs::symlink_metadata(sbin.join("ftl")).unwrap();
    assert!(ftl.is_file(), "ftl missing");
    assert_eq!(ftl.mode() & 0o7777, 0o755);
    assert_eq!(ftl.nlink(), 6, "ftl and its five names");
    assert_eq!(
        std::fs::read(sbin.join("ftl")).unwrap(),
        std::fs::read(static_bin_dir().join("ftl")).unwrap(),
        "the multi-call binary is installed"
    );
    for b in ["ftl", "ftl-acquire", "ftl-release", "ftl-status", "ftl-notify", "ftl-window"] {
        let path = sbin.join(b);
        let meta = std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{b} missing: {e}"));
        assert!(meta.is_file(), "{b} is not a regular file");
        assert_eq!((meta.dev(), meta.ino()), (ftl.dev(), ftl.ino()), "{b} is not a hard link to ftl");
        let file = Command::new("file").arg(&path).output().expect("`file` is installed");
        let says = String::from_utf8_lossy(&file.stdout);
        assert!(says.contains("statically linked") || says.contains("static-pie linked"), "{b}: {says}");
        if b == "ftl" {
            continue;
        }
        let version = Command::new(&path).arg("--version").output().unwrap();
        assert!(version.status.success(), "{b} --version: {}", String::from_utf8_lossy(&version.stderr));
        let said = String::from_utf8_lossy(&version.stdout);
        assert!(said.starts_with(&format!("{b} ")), "{b} --version acts as its program: {said}");
        assert!(root.join(format!("usr/local/share/man/man1/{b}.1")).is_file(), "{b}.1 missing");
        assert!(root.join(format!("usr/local/share/bash-completion/completions/{b}")).is_file());
        assert!(root.join(format!("usr/local/share/zsh/site-functions/_{b}")).is_file());
    }
    for page in ["ftl-window-tick.1", "ftl-window-show.1"] {
        assert!(
            root.join("usr/local/share/man/man1").join(page).is_file(),
            "{page} missing: ftl-window(1) points to it"
        );
    }
    // install.sh links every hook ftl answers to.
    assert_eq!(ftl::notify::Hook::all().len(), 7);
    for hook in ftl::notify::Hook::all().iter().map(|h| h.name()) {
        assert_eq!(std::fs::read_link(nb.join(hook)).unwrap(), Path::new("/usr/local/sbin/ftl-notify"), "{hook}");
    }
    assert_eq!(
        std::fs::read(nb.join("bpend_notify.ftl-site")).unwrap(),
        std::fs::read(&foreign_copy).unwrap(),
        "set aside byte for byte"
    );
    assert_eq!(
        std::fs::read(root.join("etc/ftl/ftl.toml")).unwrap(),
        std::fs::read(repo().join("config/ftl.toml")).unwrap()
    );
    assert!(root.join("etc/init.d/ftl").is_file());
    assert_eq!(std::fs::read_link(root.join("etc/rc2.d/S78ftl")).unwrap(), Path::new("../init.d/ftl"));
    assert_eq!(std::fs::read_link(root.join("etc/rc0.d/K76ftl")).unwrap(), Path::new("../init.d/ftl"));
    let rc = std::fs::read_to_string(root.join("etc/init.d/ftl")).unwrap();
    assert!(rc.contains("ftl-acquire --at-boot") && rc.contains("ftl-release --at-shutdown"));

    // NetBackup's hook works through the installed binary: the fast path on the owner.
    let site = crate::support::SimSite::new();
    let hooks = tmp.path().join("hooks");
    std::fs::create_dir(&hooks).unwrap();
    std::os::unix::fs::symlink(sbin.join("ftl-notify"), hooks.join("bpstart_notify")).unwrap();
    let out = Command::new(hooks.join("bpstart_notify"))
        .args(["db1", "daily", "incr", "FULL"])
        .env_clear()
        .env("FTL_CONFIG", site.config("marmaduke"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "bpstart_notify: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(site.calls().len(), 0, "the fast path runs nothing");

    let first = tree(&root);
    install(&root, &[]);
    assert_eq!(tree(&root), first, "a second run changed the tree");
    assert_eq!(std::fs::metadata(sbin.join("ftl-status")).unwrap().nlink(), 6, "a second run keeps the links");

    install(&root, &["--uninstall"]);
    assert_eq!(tree(&root), before, "uninstall did not restore the tree");
    assert_eq!(std::fs::metadata(&foreign).unwrap().mode() & 0o7777, 0o750);
}

#[test]
fn systemd_units_and_kept_configurations() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc/ftl")).unwrap();
    std::fs::write(root.join("etc/ftl/ftl.toml"), "# the site's configuration\n").unwrap();
    let out = install(&root, &["--systemd", "yes"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("kept the existing /etc/ftl/ftl.toml"));
    assert_eq!(std::fs::read_to_string(root.join("etc/ftl/ftl.toml")).unwrap(), "# the site's configuration\n");
    let unit = std::fs::read_to_string(root.join("etc/systemd/system/ftl.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/sbin/ftl-acquire --at-boot")
            && unit.contains("ExecStop=/usr/local/sbin/ftl-release --at-shutdown")
    );
    let timer = std::fs::read_to_string(root.join("etc/systemd/system/ftl-window.timer")).unwrap();
    assert!(timer.contains("OnCalendar=minutely"));
    assert!(!root.join("etc/init.d/ftl").exists(), "no rc script where systemd runs");
    install(&root, &["--uninstall"]);
    assert!(!root.join("etc/systemd/system/ftl.service").exists());
    assert_eq!(
        std::fs::read_to_string(root.join("etc/ftl/ftl.toml")).unwrap(),
        "# the site's configuration\n",
        "never removed: not ftl's"
    );
    let out = Command::new("sh").arg(repo().join("install.sh")).args(["--systemd", "maybe"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}
