//! What unit tests pass in instead of the outside world: a [`RecordingRunner`] that records
//! every command it is given and answers from a script, a [`FakePlatform`] whose controller
//! commands are easy to tell apart, a [`RecordingProgress`], and a [`Kit`] that holds them with
//! a configuration and a ledger in a temporary directory. Nothing here starts a process.

use crate::clock::FixedClock;
use crate::config::Config;
use crate::exec::{Command, ExecError, Output, Runner, Status};
use crate::ledger::record::Holder;
use crate::ledger::{DirLedger, Store};
use crate::platform::{Condition, Location, Platform, Reading};
use crate::runbook::progress::{Progress, StepInfo};
use crate::runbook::Context;
use chrono::{DateTime, TimeZone, Utc};
use std::sync::Mutex;
use std::time::Duration;

/// What a scripted command does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Exit {
        code: i32,
        stdout: String,
        stderr: String,
    },
    /// It does not finish within its timeout ([`ExecError::Timeout`]).
    Timeout,
    /// It cannot be started ([`ExecError::Spawn`]), for this reason.
    NotStarted(String),
}

impl Reply {
    /// Exit status 0 with this on stdout.
    pub fn ok(stdout: &str) -> Reply {
        Reply::Exit { code: 0, stdout: stdout.into(), stderr: String::new() }
    }

    /// Exit status `code` with this on stderr.
    pub fn fail(code: i32, stderr: &str) -> Reply {
        Reply::Exit { code, stdout: String::new(), stderr: stderr.into() }
    }
}

struct Rule {
    pattern: Vec<String>,
    reply: Reply,
    once: bool,
}

impl Rule {
    /// The pattern is a prefix of the argument vector; its first word matches the program by
    /// its full path or its file name.
    fn matches(&self, argv: &[String]) -> bool {
        argv.len() >= self.pattern.len()
            && self.pattern.iter().zip(argv).enumerate().all(|(i, (want, arg))| {
                want == arg || (i == 0 && std::path::Path::new(arg).file_name().is_some_and(|n| n == want.as_str()))
            })
    }
}

/// Records every command and answers it from its rules: the first rule whose pattern matches,
/// in the order they were given; a rule given with [`RecordingRunner::once`] answers one
/// command and is gone. A command no rule matches cannot be started, which the test then sees.
#[derive(Default)]
pub struct RecordingRunner {
    rules: Mutex<Vec<Rule>>,
    calls: Mutex<Vec<Command>>,
}

impl RecordingRunner {
    pub fn new() -> RecordingRunner {
        RecordingRunner::default()
    }

    /// Answers every command that starts with `pattern`.
    pub fn always(&self, pattern: &[&str], reply: Reply) -> &Self {
        self.add(pattern, reply, false)
    }

    /// Answers the next command that starts with `pattern`, once.
    pub fn once(&self, pattern: &[&str], reply: Reply) -> &Self {
        self.add(pattern, reply, true)
    }

    fn add(&self, pattern: &[&str], reply: Reply, once: bool) -> &Self {
        let pattern = pattern.iter().map(|p| p.to_string()).collect();
        self.rules.lock().unwrap().push(Rule { pattern, reply, once });
        self
    }

    /// Every command run so far, in the order they were given.
    pub fn calls(&self) -> Vec<Command> {
        self.calls.lock().unwrap().clone()
    }

    /// The commands run so far, each as its environment, the program's file name and its
    /// arguments (`vmoprcmd -down 0`), for assertions that read like the runbook.
    pub fn lines(&self) -> Vec<String> {
        self.calls().iter().map(line).collect()
    }
}

fn line(command: &Command) -> String {
    let mut words: Vec<String> = command.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for (i, arg) in command.argv.iter().enumerate() {
        let name = std::path::Path::new(arg).file_name().map(|n| n.to_string_lossy().into_owned());
        words.push(if i == 0 { name.unwrap_or_else(|| arg.clone()) } else { arg.clone() });
    }
    words.join(" ")
}

impl Runner for RecordingRunner {
    fn run(&self, command: &Command) -> Result<Output, ExecError> {
        self.calls.lock().unwrap().push(command.clone());
        let reply = {
            let mut rules = self.rules.lock().unwrap();
            match rules.iter().position(|r| r.matches(&command.argv)) {
                Some(i) if rules[i].once => Some(rules.remove(i).reply),
                Some(i) => Some(rules[i].reply.clone()),
                None => None,
            }
        };
        let shown = command.to_string();
        match reply {
            Some(Reply::Exit { code, stdout, stderr }) => {
                Ok(Output { status: Status::Exited(code), stdout, stderr, elapsed: Duration::ZERO })
            }
            Some(Reply::Timeout) => Err(ExecError::Timeout {
                command: shown,
                timeout: command.timeout,
                stdout: String::new(),
                stderr: String::new(),
            }),
            Some(Reply::NotStarted(reason)) => Err(ExecError::Spawn { command: shown, reason }),
            None => Err(ExecError::Spawn { command: shown, reason: "the test's script has no answer for it".into() }),
        }
    }
}

/// A controller whose commands are `fake-dr where`, `fake-dr detach DOMAIN` and `fake-dr attach
/// DOMAIN`, each with `FAKE_DR_DOMAIN` naming the domain that asks. `fake-dr where` answers
/// `unassigned` or `domain NAME` ([`FakePlatform::answer`]).
pub struct FakePlatform;

pub const FAKE_DR: &str = "fake-dr";

impl FakePlatform {
    /// What `fake-dr where` prints when the board is at `location`.
    pub fn answer(location: &Location) -> Reply {
        match location {
            Location::Unassigned => Reply::ok("unassigned\n"),
            Location::Domain(d) => Reply::ok(&format!("domain {d}\n")),
        }
    }

    fn command(domain: &str, args: &[&str]) -> Command {
        Command::new(std::iter::once(FAKE_DR).chain(args.iter().copied()), Duration::from_secs(5))
            .env("FAKE_DR_DOMAIN", domain)
    }
}

impl Platform for FakePlatform {
    fn unit(&self) -> String {
        "board 7".into()
    }

    fn locate(&self, domain: &str) -> Vec<Command> {
        vec![FakePlatform::command(domain, &["where"])]
    }

    fn read_location(&self, answers: &[Output]) -> Result<Reading, String> {
        let [output] = answers else { return Err(format!("{} answers", answers.len())) };
        let text = output.stdout.trim();
        let location = match text.split_once(' ') {
            _ if !output.status.success() => return Err(format!("fake-dr where failed ({})", output.status)),
            None if text == "unassigned" => Location::Unassigned,
            Some(("domain", name)) => Location::Domain(name.into()),
            _ => return Err(format!("fake-dr where said `{text}`")),
        };
        Ok(Reading { location, condition: Condition::Settled, reported: format!("fake-dr said `{text}`") })
    }

    fn detach(&self, domain: &str) -> Vec<Command> {
        vec![FakePlatform::command(domain, &["detach", domain])]
    }

    fn noun(&self) -> &'static str {
        "board"
    }

    fn move_name(&self, attach: bool) -> &'static str {
        if attach {
            "DR attach"
        } else {
            "DR detach"
        }
    }

    fn attach(&self, domain: &str) -> Vec<Command> {
        vec![FakePlatform::command(domain, &["attach", domain])]
    }
}

/// Records what a sequence reports: `start ID`, `done ID: SUMMARY`, `failed ID: MESSAGE`,
/// `note: TEXT`.
#[derive(Default)]
pub struct RecordingProgress(Mutex<Vec<String>>);

impl RecordingProgress {
    pub fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub fn notes(&self) -> Vec<String> {
        self.events().into_iter().filter_map(|e| e.strip_prefix("note: ").map(str::to_string)).collect()
    }
}

impl Progress for RecordingProgress {
    fn step_started(&self, step: &StepInfo, _: usize) {
        self.0.lock().unwrap().push(format!("start {}", step.id));
    }

    fn step_finished(&self, step: &StepInfo, _: Duration, outcome: Result<&str, &str>) {
        self.0.lock().unwrap().push(match outcome {
            Ok(summary) => format!("done {}: {summary}", step.id),
            Err(message) => format!("failed {}: {message}", step.id),
        });
    }

    fn note(&self, text: &str) {
        self.0.lock().unwrap().push(format!("note: {text}"));
    }
}

/// The time every kit's clock says.
/// The output part of `tests/fixtures/PATH`: what follows its `# ---` header line.
pub fn fixture(path: &str) -> String {
    let file = format!("{}/../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let start = text.find("# ---\n").unwrap_or_else(|| panic!("{file} has no `# ---` line")) + "# ---\n".len();
    text[start..].to_string()
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 22, 0, 3).unwrap()
}

pub fn holder(domain: &str) -> Holder {
    Holder { domain: domain.into(), host: format!("{domain}-host"), pid: 100, boot_id: "boot".into() }
}

/// A site of two domains (marmaduke and flinstones) with one drive (so that no step runs
/// commands side by side and the recorded order is the executor's), a ledger in a temporary
/// directory, and recording stand-ins for everything else.
pub struct Kit {
    /// Holds the ledger's directory for as long as the kit lives.
    _dir: assert_fs::TempDir,
    pub config: Config,
    pub ledger: Box<dyn Store>,
    pub runner: RecordingRunner,
    pub clock: FixedClock,
    pub progress: RecordingProgress,
}

impl Kit {
    /// `extra` is appended to the configuration (more tables); the ledger starts owned by
    /// `owner`, or free.
    pub fn new(extra: &str, owner: Option<&str>) -> Kit {
        let dir = assert_fs::TempDir::new().unwrap();
        let text = crate::config::tests::MINIMAL
            .replace("/shared/ftl", &dir.path().display().to_string())
            .replace("[[drives]]\nindex = 1\ndevice = \"/dev/rmt/1\"\n", "")
            // A script that never shows the daemons gone (or back) fails a test in a second.
            + "[timeouts]\nnetbackup_start = \"1s\"\nstop_grace = \"1s\"\n"
            + extra;
        let config = Config::parse(std::path::Path::new("t.toml"), &text).unwrap();
        assert_eq!(config.drives.len(), 1);
        let ledger = DirLedger::open(&config).unwrap().with_mountinfo(dir.path().join("no-mountinfo"));
        ledger.init(owner, &holder(owner.unwrap_or("marmaduke")), t0()).unwrap();
        Kit {
            _dir: dir,
            config,
            ledger: Box::new(ledger),
            runner: RecordingRunner::new(),
            clock: FixedClock::new(t0()),
            progress: RecordingProgress::default(),
        }
    }

    /// What a sequence of `domain` runs with.
    pub fn context(&self, domain: &str) -> Context<'_> {
        Context {
            config: &self.config,
            domain: domain.into(),
            holder: holder(domain),
            runner: &self.runner,
            clock: &self.clock,
            ledger: self.ledger.as_ref(),
            platform: Box::new(FakePlatform),
            host: crate::host::for_config(&self.config),
            progress: &self.progress,
        }
    }

    /// The journal's event labels after the first `skip` entries, in order.
    pub fn journal_events(&self, skip: usize) -> Vec<String> {
        let (entries, _) = self.ledger.history(1000).unwrap();
        entries.into_iter().skip(skip).map(|e| e.event).collect()
    }
}
