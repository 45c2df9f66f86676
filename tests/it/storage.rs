//! Storage faults under the ledger: read-only, full, missing, replaced by a symbolic link. Each
//! gives a clear error and an exit code from the SPEC, and `state.json` stays intact. The
//! read-only and full cases mount a small tmpfs over the ledger directory, which needs root;
//! without root they print that they were skipped and why, and under CI (`CI` set) they fail.

use crate::support::*;
use std::path::Path;
use std::process::Command;

fn mount(args: &[&str]) -> bool {
    Command::new("mount").args(args).status().is_ok_and(|s| s.success())
}

/// Moves the site's ledger onto a fresh tmpfs of `size`; returns false when mounting is not allowed.
fn ledger_on_tmpfs(site: &SimSite, size: &str) -> bool {
    let ledger = site.path().join("ledger");
    let saved = site.dir.path().join("ledger-saved");
    std::fs::rename(&ledger, &saved).unwrap();
    std::fs::create_dir(&ledger).unwrap();
    if unsafe { libc::geteuid() } != 0
        || !mount(&["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "tmpfs", ledger.to_str().unwrap()])
    {
        std::fs::remove_dir(&ledger).unwrap();
        std::fs::rename(&saved, &ledger).unwrap();
        return false;
    }
    for entry in std::fs::read_dir(&saved).unwrap().flatten() {
        std::fs::copy(entry.path(), ledger.join(entry.file_name())).unwrap();
    }
    true
}

struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn skipped(what: &str) {
    skip(
        &format!("storage: {what}"),
        &format!("mounting a tmpfs needs root (this run is uid {})", unsafe { libc::geteuid() }),
    );
}

#[test]
fn a_read_only_ledger_is_an_error_and_nothing_is_lost() {
    let site = SimSite::new();
    if !ledger_on_tmpfs(&site, "1m") {
        return skipped("read-only ledger");
    }
    let ledger = site.path().join("ledger");
    let _unmount = Unmount(ledger.clone());
    assert!(mount(&["-o", "remount,ro", ledger.to_str().unwrap()]));
    let state = std::fs::read(ledger.join("state.json")).unwrap();
    let out = run(site.ftl("marmaduke", "ftl-status"));
    assert_eq!(code(&out), 0, "reading still works: {}", stderr(&out));
    let platform = site.snapshot().0;
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(stderr(&out).contains("Read-only file system"), "{}", stderr(&out));
    assert_eq!(std::fs::read(ledger.join("state.json")).unwrap(), state);
    assert_eq!(site.snapshot().0, platform, "nothing was run on the platform");
}

#[test]
fn a_full_ledger_file_system_is_an_error_and_nothing_is_lost() {
    let site = SimSite::new();
    if !ledger_on_tmpfs(&site, "64k") {
        return skipped("full ledger");
    }
    let ledger = site.path().join("ledger");
    let _unmount = Unmount(ledger.clone());
    // Fill it up.
    let filler = ledger.join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 1 << 20]);
    let state = std::fs::read(ledger.join("state.json")).unwrap();
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(stderr(&out).contains("No space left on device"), "{}", stderr(&out));
    assert_eq!(std::fs::read(ledger.join("state.json")).unwrap(), state, "state.json intact");
    assert!(
        std::fs::read_dir(&ledger).unwrap().flatten().all(|e| !e.file_name().to_string_lossy().contains(".tmp.")),
        "no temporary file left"
    );
    std::fs::remove_file(&filler).unwrap();
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 0, "with room again, the release runs: {}", stderr(&out));
}

#[test]
fn a_missing_or_symlinked_ledger_directory_is_refused() {
    let site = SimSite::new();
    let ledger = site.path().join("ledger");
    let moved = site.dir.path().join("elsewhere");
    std::fs::rename(&ledger, &moved).unwrap();
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 6);
    assert!(stderr(&out).contains("does not exist (is the shared storage mounted?)"), "{}", stderr(&out));
    std::os::unix::fs::symlink(&moved, &ledger).unwrap();
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 6);
    assert!(stderr(&out).contains("is a symbolic link"), "{}", stderr(&out));
    assert!(Path::new(&moved.join("state.json")).exists());
}
