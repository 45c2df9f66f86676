//! The domain's operating system: who and where this process is (host, boot, pid), and the
//! parsers for the Solaris commands the runbooks read: `mt status`, `modinfo`, `psrset -i`,
//! `pbind -q`.
//!
//! Parsers take the exact text the command printed and either understand it or say what they
//! did not understand; they never guess, because a wrong guess here moves a board.

use crate::ledger::record::Holder;

pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let len = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    if ok && len > 0 {
        String::from_utf8_lossy(&buf[..len]).into_owned()
    } else {
        "localhost".into()
    }
}

/// Identifies this boot, so a pid from an earlier boot is never taken for a live process.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// This process, acting for `domain`.
pub fn current_holder(domain: &str) -> Holder {
    Holder { domain: domain.into(), host: hostname(), pid: std::process::id(), boot_id: boot_id() }
}

/// The name of the user who runs this process, for forced takeovers.
pub fn user_name() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| format!("uid {}", unsafe { libc::getuid() }))
}

/// Where a tape drive's medium is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tape {
    /// `no tape loaded or drive offline`.
    Empty,
    AtBot,
    /// Anywhere but BOT; `file` is `None` when mt prints `file no= -1` (position unknown).
    Away {
        file: Option<u64>,
        block: u64,
    },
}

impl std::fmt::Display for Tape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tape::Empty => f.write_str("no tape loaded"),
            Tape::AtBot => f.write_str("at BOT"),
            Tape::Away { file: Some(file), block } => write!(f, "file no= {file}   block no= {block}"),
            Tape::Away { file: None, block } => write!(f, "file no= -1   block no= {block} (position unknown)"),
        }
    }
}

/// Reads `mt -f DEV status`. Solaris prints `DEV: no tape loaded or drive offline` (exit 1) for
/// an empty drive, and a `file no= F   block no= B` line otherwise, with `file no= -1` when the
/// position is unknown (illumos `usr/src/cmd/mt/mt.c`, `status()`: "fileno will be -1 on error";
/// fixtures `tests/fixtures/mt/`).
pub fn parse_mt_status(stdout: &str, stderr: &str) -> Result<Tape, String> {
    if stdout.contains("no tape loaded or drive offline") || stderr.contains("no tape loaded or drive offline") {
        return Ok(Tape::Empty);
    }
    for line in stdout.lines() {
        let Some(rest) = line.trim_start().strip_prefix("file no=") else {
            continue;
        };
        let (file, rest) = rest.trim_start().split_once(char::is_whitespace).unwrap_or((rest.trim(), ""));
        let block = rest.trim_start().strip_prefix("block no=").map(str::trim);
        let file: Option<u64> = match file {
            "-1" => None,
            f => Some(f.parse().map_err(|_| format!("`{}`: file number is not a number", line.trim()))?),
        };
        let block: u64 =
            block.and_then(|b| b.parse().ok()).ok_or_else(|| format!("`{}`: no readable `block no=`", line.trim()))?;
        return Ok(if file == Some(0) && block == 0 { Tape::AtBot } else { Tape::Away { file, block } });
    }
    Err("neither `file no= ... block no= ...` nor `no tape loaded or drive offline` in the output".into())
}

/// Finds `module` in `modinfo` output and returns its id, or `None` when it is not loaded.
pub fn parse_modinfo(stdout: &str, module: &str) -> Result<Option<u32>, String> {
    let mut lines = stdout.lines().skip_while(|l| l.trim().is_empty());
    let header = lines.next().ok_or("the output is empty")?;
    let columns: Vec<&str> = header.split_whitespace().collect();
    if columns.first() != Some(&"Id") || !columns.contains(&"Module") {
        return Err(format!(
            "unexpected header `{}` (expected ` Id Loadaddr   Size Info Rev Module Name`)",
            header.trim()
        ));
    }
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 6 {
            return Err(format!("line `{}` has fewer than 6 columns", line.trim()));
        }
        if fields[5] == module {
            let id = fields[0].parse().map_err(|_| format!("line `{}`: the id is not a number", line.trim()))?;
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// Processor sets that contain any of `cpus`, from `psrset -i`. illumos
/// `usr/src/cmd/psrset/psrset.c`, `info_out()`, prints `user processor set N: processors a b`,
/// `user processor set N: processor a`, `user processor set N: empty` and the same with `system`
/// for the kernel's sets; nothing when no set exists (fixtures `tests/fixtures/psrset/`). An empty
/// set holds no processor, so it is no set on the board.
pub fn parse_psrset(stdout: &str, cpus: &[u32]) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let known = ["user processor set ", "system processor set "].iter().any(|p| line.trim_start().starts_with(p));
        if !known {
            return Err(format!("unexpected line `{}`", line.trim()));
        }
        if line.split_once(':').is_some_and(|(_, rest)| rest.trim() == "empty") {
            continue;
        }
        let (set, processors) = line
            .split_once(": processors")
            .or_else(|| line.split_once(": processor"))
            .ok_or_else(|| format!("unexpected line `{}`", line.trim()))?;
        let ids: Result<Vec<u32>, _> = processors.split_whitespace().map(str::parse).collect();
        let ids = ids.map_err(|_| format!("line `{}`: processor ids are not numbers", line.trim()))?;
        let on_board: Vec<String> = ids.iter().filter(|c| cpus.contains(c)).map(u32::to_string).collect();
        if !on_board.is_empty() {
            found.push(format!("{} holds board processor(s) {}", set.trim(), on_board.join(" ")));
        }
    }
    Ok(found)
}

/// Processes bound to any of `cpus`, from `pbind -q`: Solaris 8 prints `process id 1234: 28`
/// (or `... : not bound`); later releases `pbind(1M): pid 1234 strongly bound to processor(s) 28.`
pub fn parse_pbind(stdout: &str, cpus: &[u32]) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let (pid, target) = if let Some(rest) = line.trim().strip_prefix("process id ") {
            rest.split_once(':').ok_or_else(|| format!("unexpected line `{}`", line.trim()))?
        } else if let Some((left, right)) = line.split_once(" bound to processor(s) ") {
            (left.rsplit("pid ").next().unwrap_or("").split_whitespace().next().unwrap_or(""), right)
        } else {
            return Err(format!("unexpected line `{}`", line.trim()));
        };
        let target = target.trim().trim_end_matches('.');
        if target == "not bound" {
            continue;
        }
        let ids: Vec<u32> = target
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| format!("line `{}`: processor ids are not numbers", line.trim()))?;
        if let Some(cpu) = ids.iter().find(|c| cpus.contains(c)) {
            found.push(format!("process {} is bound to board processor {cpu}", pid.trim()));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt_status_layouts() {
        let bot = "Quantum DLT7000 tape drive:\n   sense key(0x0)= No Additional Sense   residual= 0   retries= 0\n   file no= 0   block no= 0\n";
        assert_eq!(parse_mt_status(bot, ""), Ok(Tape::AtBot));
        let away = bot.replace("file no= 0   block no= 0", "file no= 3   block no= 1127");
        assert_eq!(parse_mt_status(&away, ""), Ok(Tape::Away { file: Some(3), block: 1127 }));
        assert_eq!(parse_mt_status("", "/dev/rmt/4: no tape loaded or drive offline\n"), Ok(Tape::Empty));
        assert!(parse_mt_status("", "").is_err());
        assert!(parse_mt_status("Bandlaufwerk:\n   Datei Nr.= 0   Block Nr.= 0\n", "").is_err());
        assert!(parse_mt_status("   file no= x   block no= 0\n", "").is_err());
    }

    use crate::testkit::fixture;

    #[test]
    fn mt_fixtures_parse_as_documented() {
        let read = |name: &str| fixture(&format!("mt/{name}"));
        assert_eq!(parse_mt_status(&read("status_bot.txt"), ""), Ok(Tape::AtBot));
        let unknown = parse_mt_status(&read("status_unknown_position.txt"), "").unwrap();
        assert_eq!(unknown, Tape::Away { file: None, block: 0 }, "file no= -1 is not BOT");
        assert!(unknown.to_string().contains("position unknown"));
        assert_eq!(parse_mt_status("", &read("no_tape_loaded.txt")), Ok(Tape::Empty));
        // A failed ioctl or a missing device is no position at all.
        assert!(parse_mt_status("", &read("status_ioctl_failed.txt")).is_err());
        assert!(parse_mt_status("", &read("open_enoent.txt")).is_err());
        assert!(parse_mt_status("   file no= -2   block no= 0\n", "").is_err());
    }

    #[test]
    fn psrset_fixtures_parse_as_documented() {
        let read = |name: &str| fixture(&format!("psrset/{name}"));
        let cpus = [4, 9];
        assert!(
            parse_psrset(&read("info_empty.txt"), &cpus).unwrap().is_empty(),
            "an empty set is no set on the board"
        );
        assert_eq!(
            parse_psrset(&read("info_single.txt"), &cpus).unwrap(),
            vec!["user processor set 1 holds board processor(s) 4"]
        );
        assert_eq!(parse_psrset(&read("info_multi.txt"), &cpus).unwrap().len(), 2);
        assert!(parse_psrset(&read("info_system.txt"), &cpus).unwrap().is_empty());
        assert_eq!(
            parse_psrset(&read("info_system.txt"), &[1]).unwrap(),
            vec!["system processor set 1 holds board processor(s) 1"]
        );
        assert!(parse_psrset("user processor set 3: emptyish\n", &cpus).is_err());
    }

    #[test]
    fn modinfo_layout() {
        let out = " Id Loadaddr   Size Info Rev Module Name\n  5 fe926000   3e92   1   1  specfs (filesystem for specfs)\n141 fc580000   2d8c 116   1  sg (SCSA Generic Revision: 3.4d)\n";
        assert_eq!(parse_modinfo(out, "sg"), Ok(Some(141)));
        assert_eq!(parse_modinfo(out, "st"), Ok(None));
        assert!(parse_modinfo("", "sg").is_err());
        assert!(parse_modinfo("Kennung Ladeadresse\n", "sg").is_err());
        assert!(parse_modinfo(" Id Loadaddr   Size Info Rev Module Name\n141 fc580000\n", "sg").is_err());
    }

    #[test]
    fn psrset_and_pbind() {
        let cpus = [28, 29, 30, 31];
        assert!(parse_psrset("", &cpus).unwrap().is_empty());
        assert!(parse_psrset("user processor set 1: processors 4 5\n", &cpus).unwrap().is_empty());
        assert_eq!(parse_psrset("user processor set 1: processors 4 29\n", &cpus).unwrap().len(), 1);
        assert!(parse_psrset("garbage\n", &cpus).is_err());
        assert!(parse_pbind("process id 1234: not bound\nprocess id 99: 5\n", &cpus).unwrap().is_empty());
        let bound = parse_pbind("process id 4242: 30\n", &cpus).unwrap();
        assert_eq!(bound, vec!["process 4242 is bound to board processor 30"]);
        let bound = parse_pbind("pbind(1M): pid 77 strongly bound to processor(s) 28.\n", &cpus).unwrap();
        assert_eq!(bound.len(), 1);
        assert!(parse_pbind("process id x\n", &cpus).is_err());
    }
}
