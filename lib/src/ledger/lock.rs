//! File locks: the ledger lock taken around each read-modify-write, and the per-domain run lock
//! held for the whole of a hand-over sequence.
//!
//! Locks are RAII guards over `flock(2)` (std's `File::lock`): the kernel drops them when the
//! process dies, so a crashed `ftl` never leaves a stale lock. A lock is tried first, then waited
//! for with a bound; running out of time is a value ([`LockError::Timeout`]), never a panic.
//! Lock files are opened without following symbolic links, are never deleted or renamed, and
//! every lock in ftl goes through this module.

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

fn open_lock_file(path: &Path) -> Result<File, LockError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| LockError::Open { path: path.to_path_buf(), source })
}

/// Takes the lock at `path`, waiting at most `wait`.
pub fn lock(path: &Path, wait: Duration) -> Result<LockGuard, LockError> {
    let file = open_lock_file(path)?;
    let start = Instant::now();
    let mut pause = Duration::from_micros(200);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(LockGuard { file }),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(source)) => return Err(LockError::Lock { path: path.to_path_buf(), source }),
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
pub fn try_lock(path: &Path) -> Result<Result<LockGuard, String>, LockError> {
    let mut file = open_lock_file(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Ok(LockGuard { file })),
        Err(TryLockError::WouldBlock) => {
            let mut note = String::new();
            let _ = file.read_to_string(&mut note);
            Ok(Err(note.trim().to_string()))
        }
        Err(TryLockError::Error(source)) => Err(LockError::Lock { path: path.to_path_buf(), source }),
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
        let mut held = lock(&path, Duration::from_secs(1)).unwrap();
        held.write_note("pid 42");
        let start = Instant::now();
        match lock(&path, Duration::from_millis(100)) {
            Err(LockError::Timeout { .. }) => {}
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert_eq!(try_lock(&path).unwrap().unwrap_err(), "pid 42");
        drop(held);
        assert!(try_lock(&path).unwrap().is_ok());
    }

    #[test]
    fn refuses_a_symlinked_lock_file() {
        let dir = assert_fs::TempDir::new().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "").unwrap();
        let path = dir.path().join("ledger.lock");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(matches!(lock(&path, Duration::from_millis(10)), Err(LockError::Open { .. })));
    }
}
