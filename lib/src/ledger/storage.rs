//! How the ledger touches its storage: atomic replacement of `state.json`, and the refusal of a
//! directory whose file locks would only be seen by this host.
//!
//! Atomic write: a temporary file in the same directory, `sync_all`, `rename` over the target,
//! then `fsync` of the directory, so that a crash leaves either the old or the new file, whole.
//!
//! Every write, sync and rename of the ledger passes through [`Faults::check`] first, so that a
//! test can make the k-th one fail as a full or broken disk would; in production there is no
//! hook and the check is a branch on `None`.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One storage operation of the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Writing a journal line.
    Append,
    /// Syncing the journal.
    AppendSync,
    /// Writing the temporary `state.json`.
    Write,
    /// Syncing it.
    WriteSync,
    /// Renaming it over `state.json`.
    Rename,
    /// Syncing the directory.
    DirSync,
}

/// A hook asked before each storage operation; an error fails that operation.
#[derive(Clone, Default)]
pub struct Faults(Option<Arc<dyn Fn(Op) -> std::io::Result<()> + Send + Sync>>);

impl Faults {
    pub fn new(hook: impl Fn(Op) -> std::io::Result<()> + Send + Sync + 'static) -> Faults {
        Faults(Some(Arc::new(hook)))
    }

    pub fn check(&self, op: Op) -> std::io::Result<()> {
        self.0.as_ref().map_or(Ok(()), |hook| hook(op))
    }
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Faults(hook)" } else { "Faults(none)" })
    }
}

/// Why an atomic write failed: before the rename the target is untouched; after it, the new
/// contents are in place and only the directory sync (durability across a power loss) failed.
#[derive(Debug)]
pub enum WriteError {
    NotReplaced(std::io::Error),
    AfterRename(std::io::Error),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::NotReplaced(e) => write!(f, "{e}"),
            WriteError::AfterRename(e) => write!(f, "replaced, but the directory could not be synced: {e}"),
        }
    }
}

pub fn write_atomically(path: &Path, contents: &[u8], faults: &Faults) -> Result<(), WriteError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let replaced = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        faults.check(Op::Write)?;
        file.write_all(contents)?;
        faults.check(Op::WriteSync)?;
        file.sync_all()?;
        faults.check(Op::Rename)?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = replaced {
        let _ = fs::remove_file(&tmp);
        return Err(WriteError::NotReplaced(e));
    }
    faults.check(Op::DirSync).and_then(|()| sync_dir(dir)).map_err(WriteError::AfterRename)
}

pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Why a directory's locks would be host-local, or `None` when they are shared (or local
/// storage, where every user is on this host anyway).
pub fn host_local_locks(mountinfo: &str, dir: &Path) -> Option<String> {
    let mut best: Option<(usize, String, String, String)> = None;
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        if left.len() < 6 || right.len() < 3 {
            continue;
        }
        let mount_point = unescape(left[4]);
        if !dir.starts_with(&mount_point) {
            continue;
        }
        let depth = Path::new(&mount_point).components().count();
        if best.as_ref().is_none_or(|b| depth >= b.0) {
            let options = format!("{},{}", left[5], right[2]);
            best = Some((depth, mount_point, right[0].to_string(), options));
        }
    }
    let (_, mount_point, fstype, options) = best?;
    if !fstype.starts_with("nfs") {
        return None;
    }
    options.split(',').find_map(|opt| {
        let local = opt == "nolock" || opt.strip_prefix("local_lock=").is_some_and(|v| v != "none");
        local.then(|| {
            format!(
                "it is on {fstype} mount {mount_point} with option `{opt}`, so its file locks \
                 are host-local and two domains could both take them; remount it with `lock` \
                 and `local_lock=none`"
            )
        })
    })
}

/// Mount points in mountinfo escape space, tab, newline and backslash as octal.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            if let Ok(v) = u8::from_str_radix(&field[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn mountinfo_path() -> PathBuf {
    PathBuf::from("/proc/self/mountinfo")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:50 / /global rw,relatime shared:30 - nfs4 filer:/vol/ftl rw,vers=4.1,local_lock=none,addr=10.0.0.5
41 22 0:51 / /global/nolock rw,relatime - nfs filer:/vol/x rw,vers=3,nolock,addr=10.0.0.5
42 22 0:52 / /global/posix rw,relatime - nfs filer:/vol/y rw,vers=3,local_lock=posix
43 22 0:53 / /with\\040space rw - nfs filer:/z rw,nolock
";

    #[test]
    fn shared_nfs_and_local_disks_are_fine() {
        assert_eq!(host_local_locks(MOUNTINFO, Path::new("/global/ftl")), None);
        assert_eq!(host_local_locks(MOUNTINFO, Path::new("/var/ftl")), None);
    }

    #[test]
    fn nolock_and_local_lock_are_refused() {
        let why = host_local_locks(MOUNTINFO, Path::new("/global/nolock/ftl")).unwrap();
        assert!(why.contains("nolock") && why.contains("/global/nolock"), "{why}");
        let why = host_local_locks(MOUNTINFO, Path::new("/global/posix")).unwrap();
        assert!(why.contains("local_lock=posix"), "{why}");
        assert!(host_local_locks(MOUNTINFO, Path::new("/with space/ftl")).is_some());
    }

    #[test]
    fn atomic_write_replaces_whole() {
        let dir = assert_fs::TempDir::new().unwrap();
        let path = dir.path().join("state.json");
        write_atomically(&path, b"one", &Faults::default()).unwrap();
        write_atomically(&path, b"two", &Faults::default()).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file is left");
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = assert_fs::TempDir::new().unwrap();
        let path = dir.path().join("state.json");
        write_atomically(&path, b"one", &Faults::default()).unwrap();
        for op in [Op::Write, Op::WriteSync, Op::Rename] {
            let faults = Faults::new(move |o| if o == op { Err(std::io::Error::other("injected")) } else { Ok(()) });
            assert!(matches!(write_atomically(&path, b"two", &faults), Err(WriteError::NotReplaced(_))), "{op:?}");
            assert_eq!(fs::read(&path).unwrap(), b"one", "{op:?}");
            assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "{op:?}: no temporary file is left");
        }
        let faults = Faults::new(|o| if o == Op::DirSync { Err(std::io::Error::other("injected")) } else { Ok(()) });
        assert!(matches!(write_atomically(&path, b"two", &faults), Err(WriteError::AfterRename(_))));
        assert_eq!(fs::read(&path).unwrap(), b"two");
    }
}
