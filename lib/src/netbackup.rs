//! The backup application: NetBackup's commands as [`Command`]s, and parsers for what they print
//! (`bpdbjobs -report -most_columns`, `vmoprcmd -d ds`, `bpps -x`).
//!
//! Parsers are strict: output ftl cannot read (another layout, another locale, a truncated
//! table) is an error that quotes it, never a default that could move a library under a job.

use crate::config::Config;
use crate::exec::Command;
use std::collections::BTreeMap;

/// The `state` field of `bpdbjobs -report -most_columns` (field 3): 0 queued, 1 active,
/// 2 re-queued, 3 done, 4 suspended, 5 incomplete. Sources, in `tests/fixtures/bpdbjobs/`: a
/// public Perl script's `(0,1,2,4); # Queued, active, requested, suspended`, and "state < 3 means
/// running or being prepared"; 3 = done is inferred from that and 5 = incomplete is the
/// documented order but no numeric source was found (README, "What ftl could not verify").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    Queued,
    Active,
    ReQueued,
    Done,
    Suspended,
    Incomplete,
}

impl JobState {
    pub fn from_code(code: u64) -> Option<JobState> {
        use JobState::*;
        [Queued, Active, ReQueued, Done, Suspended, Incomplete].get(usize::try_from(code).ok()?).copied()
    }

    pub fn name(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Active => "active",
            JobState::ReQueued => "re-queued",
            JobState::Done => "done",
            JobState::Suspended => "suspended",
            JobState::Incomplete => "incomplete",
        }
    }

    /// Not running now, but it will come back for a drive: queued, re-queued, suspended and
    /// incomplete jobs.
    pub fn pending(self) -> bool {
        matches!(self, JobState::Queued | JobState::ReQueued | JobState::Suspended | JobState::Incomplete)
    }
}

/// NetBackup's commands for this site.
pub struct NetBackup<'a> {
    config: &'a Config,
}

impl<'a> NetBackup<'a> {
    pub fn new(config: &'a Config) -> Self {
        NetBackup { config }
    }

    fn t(&self) -> std::time::Duration {
        self.config.timeouts.command
    }

    pub fn jobs(&self) -> Command {
        Command::new([&self.config.netbackup.bpdbjobs, "-report", "-most_columns"], self.t())
    }

    pub fn drive_status(&self) -> Command {
        Command::new([&self.config.netbackup.vmoprcmd, "-d", "ds"], self.t())
    }

    pub fn drive_down(&self, index: u32) -> Command {
        Command::new([self.config.netbackup.vmoprcmd.clone(), "-down".into(), index.to_string()], self.t())
    }

    pub fn drive_up(&self, index: u32) -> Command {
        Command::new([self.config.netbackup.vmoprcmd.clone(), "-up".into(), index.to_string()], self.t())
    }

    pub fn processes(&self) -> Command {
        Command::new([&self.config.netbackup.bpps, "-x"], self.t())
    }

    pub fn stop(&self) -> Command {
        Command::new(&self.config.netbackup.stop, self.config.timeouts.netbackup_stop)
    }

    pub fn start(&self) -> Command {
        Command::new(&self.config.netbackup.start, self.config.timeouts.netbackup_start)
    }

    /// `nbpemreq -suspend_scheduling` or `-resume_scheduling`, when `netbackup.nbpemreq` is set.
    pub fn scheduling(&self, suspend: bool) -> Option<Command> {
        let flag = if suspend { "-suspend_scheduling" } else { "-resume_scheduling" };
        self.config.netbackup.nbpemreq.as_ref().map(|path| Command::new([path.as_str(), flag], self.t()))
    }

    pub fn policy(&self, policy: &str) -> Command {
        Command::new([&self.config.netbackup.bppllist, policy, "-U"], self.t())
    }
}

/// One job from `bpdbjobs -report -most_columns`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: u64,
    pub state: JobState,
    pub policy: String,
    pub schedule: String,
    pub client: String,
}

/// Parses `bpdbjobs -report -most_columns`: comma-separated, no header, one line per job of
/// about 64 fields on NetBackup 7 and later (fewer on older releases), the first being jobid,
/// jobtype, state, status, policy, schedule, client, server, started (the field list in
/// `tests/fixtures/bpdbjobs/most_columns_fields.txt`). A state outside 0-5 is refused.
pub fn parse_jobs(stdout: &str) -> Result<Vec<Job>, String> {
    let mut jobs = Vec::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() < 9 {
            return Err(format!("line `{}` has {} fields, expected at least 9", line.trim(), fields.len()));
        }
        let number = |i: usize, what: &str| -> Result<u64, String> {
            fields[i]
                .trim()
                .parse()
                .map_err(|_| format!("line `{}`: {what} `{}` is not a number", line.trim(), fields[i]))
        };
        let state = number(2, "state")?;
        let state = JobState::from_code(state).ok_or_else(|| {
            format!("line `{}`: job state {state} is none of 0-5 (queued .. incomplete)", line.trim())
        })?;
        jobs.push(Job {
            id: number(0, "jobid")?,
            state,
            policy: fields[4].trim().to_string(),
            schedule: fields[5].trim().to_string(),
            client: fields[6].trim().to_string(),
        });
    }
    Ok(jobs)
}

pub fn active_jobs(jobs: &[Job]) -> Vec<&Job> {
    jobs.iter().filter(|j| j.state == JobState::Active).collect()
}

/// Jobs that are not running but will come back for a drive.
pub fn pending_jobs(jobs: &[Job]) -> Vec<&Job> {
    jobs.iter().filter(|j| j.state.pending()).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Up,
    Down,
}

/// Parses the DRIVE STATUS table of `vmoprcmd -d ds` into drive index -> control state. A robotic
/// drive that is up shows its robot type (`TLD`, `ACS`, ...) or `UP`; a down one `DOWN` or
/// `DOWN-TLD`.
pub fn parse_drive_status(stdout: &str) -> Result<BTreeMap<u32, (Control, String)>, String> {
    let mut lines = stdout.lines();
    lines
        .by_ref()
        .find(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.first() == Some(&"Drv") && cols.get(2) == Some(&"Control")
        })
        .ok_or("no `Drv Type Control ...` header (is this the DRIVE STATUS table of `vmoprcmd -d ds`?)")?;
    let mut drives = BTreeMap::new();
    for line in lines {
        if line.trim().is_empty() {
            if drives.is_empty() {
                continue;
            }
            break;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 3 {
            return Err(format!("drive line `{}` is too short", line.trim()));
        }
        let index: u32 = fields[0]
            .parse()
            .map_err(|_| format!("drive line `{}`: `{}` is not a drive index", line.trim(), fields[0]))?;
        let raw = fields[2].to_string();
        let control = control_state(&raw).ok_or_else(|| format!("drive {index}: unknown control state `{raw}`"))?;
        if drives.insert(index, (control, raw)).is_some() {
            return Err(format!("drive {index} is listed twice"));
        }
    }
    Ok(drives)
}

/// Robot types NetBackup shows in the control column of an UP robotic drive.
const ROBOT_TYPES: &[&str] = &["ACS", "LMF", "ODL", "RSM", "TL4", "TL8", "TLD", "TLH", "TLM", "TS8", "TSD", "TSH"];

/// Reads one control column value: `UP`, `AVR`, `OPR`, `SCAN`, a robot type, `PEND-`/`SCAN-`
/// forms (up), or `DOWN` forms (tests/fixtures/vmoprcmd/control_values.txt: only `DOWN-TLD` is
/// seen in a real capture; the rest are the documented list). Anything else is not guessed at.
fn control_state(raw: &str) -> Option<Control> {
    if raw == "DOWN" || raw.strip_prefix("DOWN-").is_some_and(|t| ROBOT_TYPES.contains(&t)) {
        return Some(Control::Down);
    }
    let robot = raw.strip_prefix("PEND-").or_else(|| raw.strip_prefix("SCAN-")).unwrap_or(raw);
    (["UP", "AVR", "OPR", "SCAN"].contains(&raw) || ROBOT_TYPES.contains(&robot)).then_some(Control::Up)
}

/// A process listed by `bpps -x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub command: String,
    /// The section title it was listed under (`NB Processes`, `MM Processes`, or a vendor's
    /// shared section), empty before any title.
    pub section: String,
}

/// The sections of `bpps -x` that hold NetBackup's own daemons. NetBackup 6 and later add a
/// section of processes shared with other products (the Private Branch Exchange,
/// `pbx_exchange`, under a title naming the vendor): those belong to no NetBackup and are
/// neither waited for nor signalled when NetBackup stops. No capture of that section was found
/// (`tests/fixtures/bpps/not_found.txt`): any other title counts as shared.
pub const OWN_SECTIONS: &[&str] = &["NB Processes", "MM Processes"];

/// Programs that `bpps -x` may list but that are not NetBackup's, whatever section they appear
/// in: the Private Branch Exchange serves other products too. The section layout is not sourced,
/// so the name is checked as well as the section.
pub const SHARED_PROGRAMS: &[&str] = &["pbx_exchange"];

impl Process {
    pub fn own(&self) -> bool {
        let program = self.command.split_whitespace().next().unwrap_or("");
        let name = program.rsplit('/').next().unwrap_or(program);
        let own_section = self.section.is_empty() || OWN_SECTIONS.iter().any(|s| s.eq_ignore_ascii_case(&self.section));
        own_section && !SHARED_PROGRAMS.contains(&name)
    }
}

/// NetBackup's own processes among what `bpps -x` listed.
pub fn own(processes: &[Process]) -> Vec<&Process> {
    processes.iter().filter(|p| p.own()).collect()
}

/// Parses `bpps -x`: section titles (`NB Processes`, `MM Processes`, a shared vendor section),
/// dashes, then `ps -f` lines (`root   306     1  0   Nov 24 ?   0:00 /usr/openv/netbackup/bin/bprd`).
pub fn parse_processes(stdout: &str) -> Result<Vec<Process>, String> {
    let mut processes = Vec::new();
    let mut section = String::new();
    for line in stdout.lines() {
        let trimmed = line.trim();
        let lower = trimmed.to_ascii_lowercase();
        if lower.ends_with("processes") || lower.ends_with("components") {
            section = trimmed.to_string();
            continue;
        }
        if trimmed.is_empty() || trimmed.chars().all(|c| c == '-') {
            continue;
        }
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        let pid =
            fields.get(1).and_then(|p| p.parse().ok()).ok_or_else(|| format!("line `{trimmed}` has no process id"))?;
        let time_at = fields
            .iter()
            .skip(4)
            .position(|f| {
                f.split_once(':')
                    .is_some_and(|(m, s)| m.parse::<u32>().is_ok() && s.len() == 2 && s.parse::<u32>().is_ok())
            })
            .map(|p| p + 4)
            .ok_or_else(|| format!("line `{trimmed}` has no TIME column"))?;
        let command = fields[time_at + 1..].join(" ");
        if command.is_empty() {
            return Err(format!("line `{trimmed}` has no command"));
        }
        processes.push(Process { pid, command, section: section.clone() });
    }
    Ok(processes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_layout() {
        let out = "1203,0,1,0,daily-oracle,incr,db1,marmaduke,1764104403,0000000123,,tld0,1,,1024,12\n1202,0,3,0,daily-fs,full,fs1,marmaduke,1764100000,0000000900,1764100900,tld0,1,,99,9\n";
        let jobs = parse_jobs(out).unwrap();
        assert_eq!(jobs.len(), 2);
        let active = active_jobs(&jobs);
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].policy, "daily-oracle");
        assert!(parse_jobs("").unwrap().is_empty());
        assert!(parse_jobs("1203,0,1\n").is_err());
        assert!(parse_jobs("Auftrag;Typ;Status;x;y;z;a;b;c\n").is_err());
    }

    /// A 64-field line as NetBackup 7 and later print it: the first 12 fields as the fixture's
    /// field list names them, the rest empty or numbers.
    fn line64(id: u64, state: u64) -> String {
        let mut fields: Vec<String> =
            format!("{id},0,{state},0,daily-oracle,incr,db1,marmaduke,1764104403,0000000123,,tld0")
                .split(',')
                .map(String::from)
                .collect();
        fields.resize(64, String::new());
        fields.join(",")
    }

    #[test]
    fn every_documented_job_state_is_read_from_a_64_field_line() {
        let names: Vec<&str> = (0..6).map(|s| parse_jobs(&line64(10 + s, s)).unwrap()[0].state.name()).collect();
        assert_eq!(names, ["queued", "active", "re-queued", "done", "suspended", "incomplete"]);
        let all: String = (0..6).map(|s| line64(10 + s, s) + "\n").collect();
        let jobs = parse_jobs(&all).unwrap();
        assert_eq!(jobs.len(), 6);
        assert_eq!(active_jobs(&jobs).iter().map(|j| j.id).collect::<Vec<_>>(), [11]);
        assert_eq!(pending_jobs(&jobs).iter().map(|j| j.id).collect::<Vec<_>>(), [10, 12, 14, 15]);
        let err = parse_jobs(&line64(9, 6)).unwrap_err();
        assert!(err.contains("job state 6"), "{err}");
    }

    #[test]
    fn drive_status_layout() {
        let out = "\n                                DRIVE STATUS\n\nDrv Type   Control  User      Label  RecMID  ExtMID  Ready   Wr.Enbl.  ReqId\n  0 dlt      TLD              No     -                No      -          0\n  1 dlt    DOWN-TLD           No     -                No      -          0\n\n                             ADDITIONAL DRIVE STATUS\n\nDrv DriveName  Shared  Assigned  Comment\n  0 dlt0       No      -\n";
        let drives = parse_drive_status(out).unwrap();
        assert_eq!(drives.len(), 2);
        assert_eq!(drives[&0].0, Control::Up);
        assert_eq!(drives[&1], (Control::Down, "DOWN-TLD".to_string()));
        assert!(parse_drive_status("The Media Manager device daemon (ltid) is not active\n").is_err());
        assert!(parse_drive_status("Drv Type Control\n  0 dlt\n").is_err());
        assert!(parse_drive_status("Drv Type Control\n  0 dlt bereit\n").is_err());
        assert!(parse_drive_status("Drv Type Control\n  0 dlt BEREIT\n").is_err());
        assert!(parse_drive_status("Drv Type Control\n  0 dlt DOWN-XYZ\n").is_err());
        for up in ["UP", "AVR", "OPR", "SCAN", "TLD", "ACS", "PEND-TLD", "SCAN-TL8"] {
            assert_eq!(
                parse_drive_status(&format!("Drv Type Control\n  0 dlt {up}\n")).unwrap()[&0].0,
                Control::Up,
                "{up}"
            );
        }
    }

    #[test]
    fn processes_layout() {
        let out = "NB Processes\n------------\n    root   306     1  0   Nov 24 ?        0:00 /usr/openv/netbackup/bin/bprd\n    root   311     1  0 22:01:07 ?        0:02 /usr/openv/netbackup/bin/bpdbm\n\nMM Processes\n------------\n    root   295     1  0   Nov 24 ?        0:00 /usr/openv/volmgr/bin/ltid -v\n";
        let ps = parse_processes(out).unwrap();
        assert_eq!(ps.iter().map(|p| p.pid).collect::<Vec<_>>(), vec![306, 311, 295]);
        assert_eq!(ps[2].command, "/usr/openv/volmgr/bin/ltid -v");
        assert!(parse_processes("NB Processes\n------------\n").unwrap().is_empty());
        assert!(ps.iter().all(Process::own));
        // NetBackup 6+: a section of processes shared with other products.
        let shared = format!("{out}\nShared Symantec Processes\n-------------------------\n    root   210     1  0   Nov 24 ?        0:03 /opt/VRTSpbx/bin/pbx_exchange\n");
        let ps = parse_processes(&shared).unwrap();
        assert_eq!(ps.len(), 4);
        assert_eq!(own(&ps).iter().map(|p| p.pid).collect::<Vec<_>>(), vec![306, 311, 295]);
        assert!(!ps[3].own() && ps[3].command.ends_with("pbx_exchange"));
        // Titles in another case are titles still.
        assert_eq!(own(&parse_processes(&out.to_lowercase()).unwrap()).len(), 3);
        // Listed under NetBackup's own sections, or with no section at all, it is still shared.
        let pbx = "    root   210     1  0   Nov 24 ?        0:03 /opt/VRTSpbx/bin/pbx_exchange\n";
        for layout in [format!("{out}{pbx}"), pbx.to_string()] {
            let ps = parse_processes(&layout).unwrap();
            assert!(own(&ps).iter().all(|p| !p.command.contains("pbx_exchange")), "{layout}");
        }
        assert!(parse_processes("root abc\n").is_err());
    }
}

const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// Reads the `Daily Windows:` of every `Schedule:` block of `bppllist POLICY -U`, whose lines
/// look like `Sunday     18:00:00  -->  Monday     06:00:00`.
pub fn parse_policy_windows(stdout: &str) -> Result<Vec<crate::window::Window>, String> {
    let mut windows = Vec::new();
    let mut in_windows = false;
    let mut schedules = 0;
    for line in stdout.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("Schedule:") {
            schedules += 1;
            in_windows = false;
            continue;
        }
        if trimmed.starts_with("Daily Windows:") {
            in_windows = true;
            continue;
        }
        if !in_windows {
            continue;
        }
        let Some((from, to)) = trimmed.split_once("-->") else {
            in_windows = false;
            continue;
        };
        let point = |text: &str| -> Result<u32, String> {
            let mut parts = text.split_whitespace();
            let (Some(day), Some(time), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!("window line `{trimmed}`: expected DAY HH:MM:SS on each side of -->"));
            };
            let day = WEEKDAYS
                .iter()
                .position(|d| d.eq_ignore_ascii_case(day))
                .ok_or_else(|| format!("window line `{trimmed}`: `{day}` is not a day"))?;
            let hms: Vec<u32> = time
                .split(':')
                .map(|n| n.parse().map_err(|_| format!("window line `{trimmed}`: bad time `{time}`")))
                .collect::<Result<_, _>>()?;
            let [h, m, s] = hms[..] else {
                return Err(format!("window line `{trimmed}`: bad time `{time}`"));
            };
            if h > 24 || m > 59 || s > 59 {
                return Err(format!("window line `{trimmed}`: bad time `{time}`"));
            }
            Ok(day as u32 * crate::window::MINUTES_PER_DAY + h * 60 + m + u32::from(s > 0))
        };
        let (start, end) = (point(from)?, point(to)?);
        let week = crate::window::MINUTES_PER_WEEK;
        let length = (end + week - start) % week;
        if length > 0 {
            windows.push(crate::window::Window::from_parts(
                start / crate::window::MINUTES_PER_DAY,
                start % crate::window::MINUTES_PER_DAY,
                length,
            ));
        }
    }
    if schedules == 0 {
        return Err("no `Schedule:` block (is this the output of `bppllist POLICY -U`?)".into());
    }
    Ok(windows)
}

#[cfg(test)]
mod policy_tests {
    use super::*;

    pub const POLICY: &str = "------------------------------------------------------------\n\nPolicy Name:       daily-oracle\n\n  Policy Type:         Standard\n  Active:              yes\n\n  Schedule:          full\n    Type:            Full Backup\n    Frequency:       every 7 days\n    Daily Windows:\n          Sunday     18:00:00  -->  Monday     06:00:00\n\n  Schedule:          incr\n    Type:            Differential Incremental Backup\n    Daily Windows:\n          Monday     20:00:00  -->  Tuesday    01:00:00\n          Tuesday    20:00:00  -->  Wednesday  01:00:00\n";

    #[test]
    fn reads_every_schedule_window() {
        let w = parse_policy_windows(POLICY).unwrap();
        let texts: Vec<String> = w.iter().map(|w| w.to_string()).collect();
        assert_eq!(texts, vec!["Sun 18:00-06:00", "Mon 20:00-01:00", "Tue 20:00-01:00"]);
        assert!(parse_policy_windows("Policy Name: x\n").is_err());
        assert!(parse_policy_windows(
            "  Schedule: a\n    Daily Windows:\n      Someday 18:00:00 --> Monday 06:00:00\n"
        )
        .is_err());
    }
}
