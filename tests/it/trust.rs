//! The trust model: a configuration, ledger file or directory that others could write is
//! refused with its path and mode, before anything is read from it or run on its word.

use crate::support::*;
use std::os::unix::fs::PermissionsExt;

fn set_mode(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn writable_configuration_ledger_files_and_directories_are_refused() {
    let site = SimSite::new();
    let ledger = site.path().join("ledger");
    let cases: Vec<(std::path::PathBuf, u32, u32)> = vec![
        (site.config("marmaduke"), 0o666, 0o644),
        (site.config("marmaduke").parent().unwrap().to_path_buf(), 0o775, 0o755),
        (ledger.join("state.json"), 0o664, 0o644),
        (ledger.clone(), 0o777, 0o755),
    ];
    for (path, bad, good) in cases {
        set_mode(&path, bad);
        let before = site.snapshot();
        for binary in ["ftl-status", "ftl-release", "ftl-acquire"] {
            let out = run(site.ftl("marmaduke", binary));
            assert_eq!(code(&out), 2, "{binary} with {} at {bad:o}: {}", path.display(), stderr(&out));
            let err = stderr(&out);
            assert!(err.contains(&path.display().to_string()) && err.contains(&format!("{bad:04o}")), "{err}");
        }
        assert_eq!(site.snapshot(), before, "nothing changed");
        set_mode(&path, good);
    }
    // The journal and the lock matter once the ledger is written.
    set_mode(&ledger.join("journal.jsonl"), 0o646);
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("journal.jsonl") && stderr(&out).contains("0646"), "{}", stderr(&out));
    set_mode(&ledger.join("journal.jsonl"), 0o644);
    assert_eq!(code(&run(site.ftl("marmaduke", "ftl-release"))), 0);
}

#[test]
fn files_owned_by_another_user_are_refused() {
    if !running_as_root("trust: files owned by another user", "giving a file to another user") {
        return;
    }
    let site = SimSite::new();
    std::os::unix::fs::chown(site.config("flinstones"), Some(4242), Some(4242)).unwrap();
    let out = run(site.ftl("flinstones", "ftl-status"));
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("owned by uid 4242"), "{}", stderr(&out));
}

#[test]
fn a_symlinked_ledger_lock_is_not_followed() {
    let site = SimSite::new();
    let lock = site.path().join("ledger").join("ledger.lock");
    let elsewhere = site.dir.path().join("elsewhere");
    std::fs::write(&elsewhere, "").unwrap();
    let _ = std::fs::remove_file(&lock);
    std::os::unix::fs::symlink(&elsewhere, &lock).unwrap();
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(stderr(&out).contains("ledger.lock"), "{}", stderr(&out));
    assert_eq!(site.ledger("marmaduke")["state"], "owned");
}
