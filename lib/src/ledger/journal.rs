//! The journal: one JSON line per committed transition, appended and fsynced, rotated by size
//! with a bounded number of older files kept (`journal.jsonl.1` is the newest of those).
//!
//! Each line carries the whole record after the transition, so the journal alone can rebuild
//! `state.json` (see [`super::Store::repair`]). Reading the history reads the file backwards
//! from its end, so its cost depends on how many lines are asked for, not on the journal's size
//! (and is linear in the length of the lines read).
//!
//! A line is whole or absent: an append that fails is cut back off the file, and a line is never
//! written after a torn fragment without a newline first, so a fragment left by a crash stays a
//! line of its own that readers skip and count.

use super::record::StateName;
use super::storage::{Faults, Op};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// One journal line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub epoch: u64,
    pub at: DateTime<Utc>,
    pub domain: String,
    pub host: String,
    pub pid: u32,
    pub event: String,
    pub from: StateName,
    pub to: StateName,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
    pub record: serde_json::Value,
}

impl Entry {
    /// The line of `label` by `actor`, from state `from` to `record` (an audit line stays in
    /// the state it found: `from` is `record`'s own).
    pub fn of(
        actor: &crate::ledger::record::Holder,
        label: &str,
        from: StateName,
        record: &crate::ledger::record::Record,
        detail: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Entry {
        Entry {
            epoch: record.epoch,
            at: now,
            domain: actor.domain.clone(),
            host: actor.host.clone(),
            pid: actor.pid,
            event: label.to_string(),
            from,
            to: record.state.name(),
            detail,
            record: record.to_value(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    faults: Faults,
}

const CHUNK: u64 = 64 * 1024;

impl Journal {
    pub fn new(path: PathBuf, max_bytes: u64, keep: u32) -> Journal {
        Journal { path, max_bytes, keep, faults: Faults::default() }
    }

    pub(super) fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line and fsyncs it, rotating first when the line would pass the size limit.
    /// Returns where the line starts, for [`Journal::cut`]. On failure the file is cut back to
    /// its length before the append, so no partial line is left behind.
    pub fn append(&self, entry: &Entry) -> io::Result<Appended> {
        let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
        line.push(b'\n');
        let size = fs::symlink_metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        if size > 0 && size + line.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.path)?;
        let start = file.metadata()?.len();
        if start > 0 && !ends_with_newline(&mut file, start)? {
            // A torn line from a crash: end it, so that this line is not glued onto it.
            line.insert(0, b'\n');
        }
        let written = self
            .faults
            .check(Op::Append)
            .and_then(|()| file.write_all(&line))
            .and_then(|()| self.faults.check(Op::AppendSync))
            .and_then(|()| file.sync_data());
        if let Err(e) = written {
            return Err(match file.set_len(start).and_then(|()| file.sync_data()) {
                Ok(()) => e,
                Err(cut) => io::Error::new(
                    e.kind(),
                    format!("{e}; and the partial line could not be cut off ({cut}): readers skip it"),
                ),
            });
        }
        Ok(Appended { start })
    }

    /// Removes a line just appended (the state it described could not be written).
    pub fn cut(&self, appended: Appended) -> io::Result<()> {
        let file = OpenOptions::new().write(true).custom_flags(libc::O_NOFOLLOW).open(&self.path)?;
        file.set_len(appended.start)?;
        file.sync_data()
    }

    /// The epoch of the newest line that parses, if any.
    pub fn last_epoch(&self) -> io::Result<Option<u64>> {
        Ok(self.tail(1)?.0.last().map(|e| e.epoch))
    }

    /// The highest epoch of any line that parses, in every file.
    pub fn max_epoch(&self) -> io::Result<Option<u64>> {
        let mut max = None;
        for path in self.files() {
            let text = match fs::read(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for line in text.split(|b| *b == b'\n') {
                if let Ok(entry) = serde_json::from_slice::<Entry>(line) {
                    max = max.max(Some(entry.epoch));
                }
            }
        }
        Ok(max)
    }

    /// Whether any journal file exists.
    pub fn exists(&self) -> bool {
        self.files().any(|p| fs::symlink_metadata(p).is_ok())
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&self) -> io::Result<()> {
        if self.keep == 0 {
            fs::remove_file(&self.path)?;
        } else {
            for n in (1..self.keep).rev() {
                match fs::rename(self.rotated(n), self.rotated(n + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            fs::rename(&self.path, self.rotated(1))?;
        }
        super::storage::sync_dir(self.path.parent().unwrap_or(Path::new(".")))
    }

    /// The current file then the rotated ones, newest first.
    pub fn files(&self) -> impl Iterator<Item = PathBuf> + '_ {
        std::iter::once(self.path.clone()).chain((1..=self.keep).map(|n| self.rotated(n)))
    }

    /// Every journal file there is, oldest first: the rotated ones from the highest number down,
    /// then the current one. Unlike [`Journal::files`] it does not stop at `keep` (which may have
    /// been lowered since the older files were made): a migration copies them all.
    pub fn all_files(&self) -> io::Result<Vec<PathBuf>> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let name = self.path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let mut rotated: Vec<(u32, PathBuf)> = Vec::new();
        for item in fs::read_dir(dir)? {
            let item = item?;
            let file = item.file_name().to_string_lossy().into_owned();
            if let Some(n) =
                file.strip_prefix(&name).and_then(|rest| rest.strip_prefix('.')).and_then(|n| n.parse().ok())
            {
                rotated.push((n, item.path()));
            }
        }
        rotated.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
        let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, path)| path).collect();
        if fs::symlink_metadata(&self.path).is_ok() {
            files.push(self.path.clone());
        }
        Ok(files)
    }

    /// The last `n` lines that parse, oldest first, and how many lines did not parse.
    pub fn tail(&self, n: usize) -> io::Result<(Vec<Entry>, usize)> {
        let mut entries = Vec::new();
        let mut bad = 0;
        for path in self.files() {
            if entries.len() >= n {
                break;
            }
            let lines = match tail_lines(&path, n - entries.len()) {
                Ok(lines) => lines,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let mut parsed = Vec::new();
            for line in lines {
                match serde_json::from_slice::<Entry>(&line) {
                    Ok(entry) => parsed.push(entry),
                    Err(_) => bad += 1,
                }
            }
            parsed.append(&mut entries);
            entries = parsed;
        }
        Ok((entries, bad))
    }

    /// The newest line whose record is valid, searching back through the rotated files.
    pub fn last_good(&self, valid: impl Fn(&Entry) -> bool) -> io::Result<Option<Entry>> {
        for path in self.files() {
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let mut text = Vec::new();
            file.read_to_end(&mut text)?;
            let found = text
                .split(|b| *b == b'\n')
                .rev()
                .filter_map(|line| serde_json::from_slice::<Entry>(line).ok())
                .find(&valid);
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }
}

/// What an append wrote, so that it can be cut off again.
#[derive(Debug, Clone, Copy)]
pub struct Appended {
    start: u64,
}

fn ends_with_newline(file: &mut File, len: u64) -> io::Result<bool> {
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

/// The last `n` complete, non-empty lines of a file, read backwards in chunks. Each chunk is read
/// and searched once, so the cost is linear in what is read however long the lines are.
fn tail_lines(path: &Path, n: usize) -> io::Result<Vec<Vec<u8>>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut pos = len;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut newlines = 0;
    while pos > 0 && newlines <= n {
        let read = CHUNK.min(pos);
        pos -= read;
        file.seek(SeekFrom::Start(pos))?;
        let mut chunk = vec![0; read as usize];
        file.read_exact(&mut chunk)?;
        newlines += chunk.iter().filter(|b| **b == b'\n').count();
        chunks.push(chunk);
    }
    let buf: Vec<u8> = chunks.into_iter().rev().flatten().collect();
    let mut lines: Vec<&[u8]> = buf.split(|b| *b == b'\n').collect();
    if pos > 0 {
        lines.remove(0); // a partial line: the chunk boundary fell inside it
    }
    let lines: Vec<Vec<u8>> = lines.into_iter().filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
    let skip = lines.len().saturating_sub(n);
    Ok(lines.into_iter().skip(skip).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(epoch: u64) -> Entry {
        Entry {
            epoch,
            at: Utc::now(),
            domain: "d".into(),
            host: "h".into(),
            pid: 1,
            event: "request".into(),
            from: StateName::Free,
            to: StateName::Free,
            detail: serde_json::Value::Null,
            record: serde_json::json!({"pad": "x".repeat(100)}),
        }
    }

    #[test]
    fn tail_spans_rotated_files_in_order() {
        let dir = assert_fs::TempDir::new().unwrap();
        let journal = Journal::new(dir.path().join("journal.jsonl"), 4096, 3);
        for epoch in 1..=100 {
            journal.append(&entry(epoch)).unwrap();
        }
        assert!(dir.path().join("journal.jsonl.1").exists());
        assert!(!dir.path().join("journal.jsonl.4").exists(), "keeps at most 3 old files");
        let (tail, bad) = journal.tail(40).unwrap();
        assert_eq!(bad, 0);
        let epochs: Vec<u64> = tail.iter().map(|e| e.epoch).collect();
        assert_eq!(epochs, (61..=100).collect::<Vec<_>>());
    }

    #[test]
    fn all_files_lists_every_rotated_file_oldest_first() {
        let dir = assert_fs::TempDir::new().unwrap();
        let journal = Journal::new(dir.path().join("journal.jsonl"), 4096, 40);
        for epoch in 1..=200 {
            journal.append(&entry(epoch)).unwrap();
        }
        fs::write(dir.path().join("journal.jsonl.bad-copy"), "").unwrap();
        let files = journal.all_files().unwrap();
        assert!(files.len() > 10, "rotated past .9, so that a string sort would be wrong: {files:?}");
        let mut epochs = Vec::new();
        for f in &files {
            for line in fs::read_to_string(f).unwrap().lines() {
                epochs.push(serde_json::from_str::<Entry>(line).unwrap().epoch);
            }
        }
        assert_eq!(epochs, (1..=200).collect::<Vec<_>>(), "{files:?}");
        // A smaller `keep` now does not hide the older files.
        let fewer = Journal::new(dir.path().join("journal.jsonl"), 4096, 2);
        assert_eq!(fewer.all_files().unwrap(), files);
    }

    #[test]
    fn a_line_is_never_glued_onto_a_torn_one() {
        let dir = assert_fs::TempDir::new().unwrap();
        let path = dir.path().join("journal.jsonl");
        let journal = Journal::new(path.clone(), 1 << 20, 3);
        journal.append(&entry(1)).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"epoch\":2,\"at").unwrap();
        journal.append(&entry(3)).unwrap();
        let (tail, bad) = journal.tail(10).unwrap();
        assert_eq!(tail.iter().map(|e| e.epoch).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(bad, 1, "the fragment is a line of its own, skipped and counted");
        assert_eq!(journal.last_epoch().unwrap(), Some(3));
    }

    #[test]
    fn a_cut_line_is_gone() {
        let dir = assert_fs::TempDir::new().unwrap();
        let path = dir.path().join("journal.jsonl");
        let journal = Journal::new(path.clone(), 1 << 20, 3);
        journal.append(&entry(1)).unwrap();
        let before = fs::read(&path).unwrap();
        let appended = journal.append(&entry(2)).unwrap();
        journal.cut(appended).unwrap();
        assert_eq!(fs::read(&path).unwrap(), before);
    }

    #[test]
    fn tail_skips_a_torn_line_and_counts_it() {
        let dir = assert_fs::TempDir::new().unwrap();
        let path = dir.path().join("journal.jsonl");
        let journal = Journal::new(path.clone(), 1 << 20, 3);
        journal.append(&entry(1)).unwrap();
        journal.append(&entry(2)).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"epoch\":3,\"at\n").unwrap();
        let (tail, bad) = journal.tail(10).unwrap();
        assert_eq!(tail.iter().map(|e| e.epoch).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(bad, 1);
        assert_eq!(journal.last_good(|_| true).unwrap().unwrap().epoch, 2);
    }
}
