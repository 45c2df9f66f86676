//! File locks: the ledger lock taken around each read-modify-write, and the per-domain run lock
//! held for the whole of a hand-over sequence.
//!
//! Locks are RAII guards over `flock(2)` (std's `File::lock`): the kernel drops them when the
//! process dies, so a crashed `ftl` never leaves a stale lock. A lock is tried first, then waited
//! for with a bound; running out of time is a value ([`LockError::Timeout`]), never a panic.
//! Lock files are opened without following symbolic links, are never deleted or renamed, and
//! every lock in ftl goes through this module. Should somebody unlink or replace a lock file
//! anyway, a lock taken on the old inode would exclude nobody who opens the new one: after
//! locking, the locked file is checked to still be the file at the path, and the lock is taken
//! again otherwise.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{path}: cannot open the lock file: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("{path}: the lock was not obtained within {waited:?}")]
    Timeout { path: PathBuf, waited: Duration },
    #[error("{path}: cannot lock: {source}")]
    Lock { path: PathBuf, source: std::io::Error },
    #[error(
        "{path} is missing. The ledger lock is created with the ledger and must never be deleted: a \
         new file would not exclude a process still holding the old one. Make sure no ftl runs on \
         any domain, then run `ftl-status --repair-ledger` to create it again"
    )]
    Missing { path: PathBuf },
}

/// Whether taking a lock may create its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Run and worker locks: created on first use.
    IfMissing,
    /// The ledger lock: only the ledger's creation (or an operator's repair) makes it.
    Never,
}

/// An exclusive lock, released when dropped.
#[derive(Debug)]
pub struct LockGuard {
    file: File,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first makes the order explicit.
        let _ = self.file.unlock();
    }
}

fn open_lock_file(path: &Path, create: Create) -> Result<File, LockError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create == Create::IfMissing)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound if create == Create::Never => LockError::Missing { path: path.to_path_buf() },
            _ => LockError::Open { path: path.to_path_buf(), source },
        })
}

/// Whether the locked `file` is still the file at `path` (same device and inode).
fn still_at_path(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(held), Ok(now)) => held.dev() == now.dev() && held.ino() == now.ino(),
        _ => false,
    }
}

/// One attempt: the lock on the file now at `path`, `Ok(None)` when another process holds it.
fn attempt(path: &Path, create: Create) -> Result<Result<LockGuard, File>, LockError> {
    loop {
        let file = open_lock_file(path, create)?;
        match file.try_lock() {
            Ok(()) if still_at_path(&file, path) => return Ok(Ok(LockGuard { file })),
            // Unlinked or replaced between our open and our lock: lock what is there now.
            Ok(()) => continue,
            Err(TryLockError::WouldBlock) => return Ok(Err(file)),
            Err(TryLockError::Error(source)) => return Err(LockError::Lock { path: path.to_path_buf(), source }),
        }
    }
}

/// Takes the lock at `path`, waiting at most `wait`.
pub fn lock(path: &Path, wait: Duration, create: Create) -> Result<LockGuard, LockError> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(200);
    loop {
        if let Ok(guard) = attempt(path, create)? {
            return Ok(guard);
        }
        let waited = start.elapsed();
        if waited >= wait {
            return Err(LockError::Timeout { path: path.to_path_buf(), waited });
        }
        std::thread::sleep(pause.min(wait - waited));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Tries the lock once. `Ok(None)` means another process holds it; the holder's note (what it
/// wrote with [`LockGuard::write_note`]) is returned alongside for the message.
pub fn try_lock(path: &Path, create: Create) -> Result<Result<LockGuard, String>, LockError> {
    match attempt(path, create)? {
        Ok(guard) => Ok(Ok(guard)),
        Err(mut file) => {
            let mut note = String::new();
            let _ = file.read_to_string(&mut note);
            Ok(Err(note.trim().to_string()))
        }
    }
}

/// Like [`try_lock`], but waits up to `wait` for a holder that only probes the lock (a hook
/// checking whether a hand-over runs holds it for microseconds): a probe never makes a real
/// sequence fail.
pub fn try_lock_briefly(path: &Path, wait: Duration, create: Create) -> Result<Result<LockGuard, String>, LockError> {
    let start = Instant::now();
    loop {
        match try_lock(path, create)? {
            Err(_) if start.elapsed() < wait => std::thread::sleep(Duration::from_millis(5)),
            other => return Ok(other),
        }
    }
}

impl LockGuard {
    /// Records who holds the lock (pid, command), for whoever finds it taken.
    pub fn write_note(&mut self, note: &str) {
        let _ = self.file.set_len(0);
        let _ = self.file.rewind();
        let _ = self.file.write_all(note.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contention_is_a_value_and_the_wait_is_bounded() {
        let dir = assert_fs::TempDir::new().unwrap();
        let path = dir.path().join("ledger.lock");
        let mut held = lock(&path, Duration::from_secs(1), Create::IfMissing).unwrap();
        held.write_note("pid 42");
        let start = Instant::now();
        match lock(&path, Duration::from_millis(100), Create::Never) {
            Err(LockError::Timeout { .. }) => {}
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert_eq!(try_lock(&path, Create::Never).unwrap().unwrap_err(), "pid 42");
        drop(held);
        assert!(try_lock(&path, Create::Never).unwrap().is_ok());
    }

    #[test]
    fn an_unlinked_ledger_lock_is_never_recreated_by_a_commit() {
        let dir = assert_fs::TempDir::new().unwrap();
        let path = dir.path().join("ledger.lock");
        let held = lock(&path, Duration::from_secs(1), Create::IfMissing).unwrap();
        std::fs::remove_file(&path).unwrap();
        // A second locker must not make a new file beside the held, unlinked one.
        assert!(matches!(lock(&path, Duration::from_millis(50), Create::Never), Err(LockError::Missing { .. })));
        assert!(!path.exists());
        drop(held);
    }

    #[test]
    fn a_lock_file_replaced_before_the_lock_is_taken_again() {
        let dir = assert_fs::TempDir::new().unwrap();
        let path = dir.path().join("run.a.lock");
        let file = open_lock_file(&path, Create::IfMissing).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "").unwrap();
        assert!(!still_at_path(&file, &path), "the opened inode is no longer at the path");
        let guard = lock(&path, Duration::from_millis(50), Create::Never).unwrap();
        assert!(still_at_path(&guard.file, &path));
    }

    #[test]
    fn refuses_a_symlinked_lock_file() {
        let dir = assert_fs::TempDir::new().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "").unwrap();
        let path = dir.path().join("ledger.lock");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(matches!(lock(&path, Duration::from_millis(10), Create::IfMissing), Err(LockError::Open { .. })));
    }
}
