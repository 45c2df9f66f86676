//! The trust model, like sshd's StrictModes: ftl runs commands as root on the word of its
//! configuration, its ledger and its own binary, so each of them must be writable by its owner
//! only, and owned by root or by the user ftl runs as. A file that anybody else could change is
//! refused with its path, its owner and its mode, before anything is read from it.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}: refusing to trust this {what}: {why} (it must be owned by root or uid {euid} and writable by its owner only: chmod go-w, chown root)")]
pub struct Untrusted {
    pub path: String,
    pub what: &'static str,
    pub why: String,
    pub euid: u32,
}

/// Checks one file or directory (following symbolic links to what they name).
pub fn check(path: &Path, what: &'static str) -> Result<(), Untrusted> {
    let euid = unsafe { libc::geteuid() };
    let untrusted = |why: String| Untrusted { path: path.display().to_string(), what, why, euid };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        // Missing files are reported by whoever needs them, with their own message.
        Err(_) => return Ok(()),
    };
    let mode = meta.mode() & 0o7777;
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(untrusted(format!("it is owned by uid {}", meta.uid())));
    }
    let sticky_dir = meta.is_dir() && mode & 0o1000 != 0;
    if mode & 0o022 != 0 && !sticky_dir {
        let who = if mode & 0o002 != 0 { "anybody" } else { "its group" };
        return Err(untrusted(format!("mode {mode:04o} lets {who} write it")));
    }
    Ok(())
}

/// Checks a file and every directory above it, up to the root: any of them that somebody else
/// could write would let them replace the file.
pub fn check_chain(path: &Path, what: &'static str) -> Result<(), Untrusted> {
    for dir in path.ancestors().skip(1).filter(|d| !d.as_os_str().is_empty()) {
        check(dir, "directory")?;
    }
    check(path, what)
}

/// Checks a file inside the ledger directory, which must be the file itself: ftl does not follow
/// symbolic links there (the link's target directory is not the ledger's).
pub fn check_in_ledger(path: &Path, what: &'static str) -> Result<(), Untrusted> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        let euid = unsafe { libc::geteuid() };
        return Err(Untrusted {
            path: path.display().to_string(),
            what,
            why: "it is a symbolic link; ftl does not follow links inside the ledger directory".into(),
            euid,
        });
    }
    check(path, what)
}

/// Checks a file and the directory that holds it (which decides who may replace the file).
pub fn check_with_dir(path: &Path, what: &'static str) -> Result<(), Untrusted> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        check(dir, "directory")?;
    }
    check(path, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn group_or_world_writable_files_are_refused_with_path_and_mode() {
        let dir = assert_fs::TempDir::new().unwrap();
        let file = dir.path().join("ftl.toml");
        std::fs::write(&file, "").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(check_with_dir(&file, "configuration").is_ok());
        for (mode, who) in [(0o664, "its group"), (0o646, "anybody")] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = check(&file, "configuration").unwrap_err().to_string();
            assert!(
                err.contains(&file.display().to_string()) && err.contains(&format!("{mode:04o}")) && err.contains(who),
                "{err}"
            );
        }
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(check_with_dir(&file, "configuration").is_err(), "a writable directory lets anybody replace the file");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(check(dir.path(), "directory").is_ok(), "a sticky directory (like /tmp) is fine");
    }

    #[test]
    fn files_of_other_users_are_refused() {
        let dir = assert_fs::TempDir::new().unwrap();
        let file = dir.path().join("state.json");
        std::fs::write(&file, "").unwrap();
        if unsafe { libc::geteuid() } != 0 {
            return; // only root can give a file away; the mode checks above run for everybody
        }
        std::os::unix::fs::chown(&file, Some(4242), None).unwrap();
        let err = check(&file, "ledger record").unwrap_err().to_string();
        assert!(err.contains("owned by uid 4242"), "{err}");
    }
}
