//! Running external commands: an argument vector (never a shell), an environment, a timeout,
//! and the captured exit status, stdout and stderr.
//!
//! A command runs in its own process group so that a timeout kills everything it started. "Could
//! not start" ([`ExecError::Spawn`]), "did not finish in time" ([`ExecError::Timeout`]) and
//! "exited non-zero" ([`ExecError::Failed`]) are different errors, each carrying the command as
//! the operator would type it and whatever it printed. The [`Runner`] trait is how the outside
//! world is passed in: production uses [`SystemRunner`], tests may record.

use std::fmt;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A command as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    /// Written to the command's standard input, which is then closed; `None`: `/dev/null`.
    pub stdin: Option<String>,
}

impl Command {
    pub fn new<S: AsRef<str>>(argv: impl IntoIterator<Item = S>, timeout: Duration) -> Command {
        Command {
            argv: argv.into_iter().map(|s| s.as_ref().to_string()).collect(),
            env: Vec::new(),
            timeout,
            stdin: None,
        }
    }

    /// Gives the command `text` on its standard input.
    pub fn input(mut self, text: impl Into<String>) -> Command {
        self.stdin = Some(text.into());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Command {
        self.env.push((key.into(), value.into()));
        self
    }
}

impl fmt::Display for Command {
    /// Shell-escaped, as an operator could paste it into bash (standard input as a here-string).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (k, v) in &self.env {
            write!(f, "{}{k}={}", if first { "" } else { " " }, shell_quote(v))?;
            first = false;
        }
        for arg in &self.argv {
            write!(f, "{}{}", if first { "" } else { " " }, shell_quote(arg))?;
            first = false;
        }
        if let Some(input) = &self.stdin {
            // A here-string adds a newline, which every reader of a document ignores.
            write!(f, " <<< {}", shell_quote(input.strip_suffix('\n').unwrap_or(input)))?;
        }
        Ok(())
    }
}

pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-./=:,@%+".contains(&b));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// What a finished command left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub status: Status,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signalled(i32),
}

impl Status {
    fn from_exit(status: ExitStatus) -> Status {
        match (status.code(), status.signal()) {
            (Some(code), _) => Status::Exited(code),
            (None, Some(sig)) => Status::Signalled(sig),
            (None, None) => Status::Exited(-1),
        }
    }

    pub fn success(self) -> bool {
        self == Status::Exited(0)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Exited(c) => write!(f, "exit status {c}"),
            Status::Signalled(s) => write!(f, "killed by signal {s}"),
        }
    }
}

impl Output {
    /// stdout and stderr together, trimmed, for messages.
    pub fn text(&self) -> String {
        let mut out = self.stdout.trim_end().to_string();
        let err = self.stderr.trim_end();
        if !err.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(err);
        }
        out
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ExecError {
    #[error("`{command}` could not be started: {reason}")]
    Spawn { command: String, reason: String },
    #[error("`{command}` did not finish within {} and was killed{}", crate::duration::format(*timeout), quote_output(stdout, stderr))]
    Timeout { command: String, timeout: Duration, stdout: String, stderr: String },
    #[error("`{command}` failed ({status}){}", quote_output(&output.stdout, &output.stderr))]
    Failed { command: String, status: Status, output: Output },
    #[error("`{command}` printed what ftl cannot read: {reason}{}", quote_output(&output.stdout, &output.stderr))]
    Unexpected { command: String, reason: String, output: Output },
    #[error("`{command}` was not started: ftl received {signal} and is stopping")]
    Interrupted { command: String, signal: crate::signals::Signal },
}

impl ExecError {
    pub fn command(&self) -> &str {
        match self {
            ExecError::Spawn { command, .. }
            | ExecError::Timeout { command, .. }
            | ExecError::Failed { command, .. }
            | ExecError::Unexpected { command, .. }
            | ExecError::Interrupted { command, .. } => command,
        }
    }

    pub fn output_text(&self) -> Option<String> {
        match self {
            ExecError::Spawn { .. } | ExecError::Interrupted { .. } => None,
            ExecError::Timeout { stdout, stderr, .. } => Some(format!("{stdout}{stderr}").trim_end().to_string()),
            ExecError::Failed { output, .. } | ExecError::Unexpected { output, .. } => Some(output.text()),
        }
    }
}

fn quote_output(stdout: &str, stderr: &str) -> String {
    let mut lines = String::new();
    for line in stdout.lines().chain(stderr.lines()).filter(|l| !l.trim().is_empty()).take(12) {
        lines.push_str("\n    | ");
        lines.push_str(line);
    }
    if lines.is_empty() {
        lines
    } else {
        format!("; it said:{lines}")
    }
}

/// Which configuration key set each program ftl runs, so that a program that cannot be started
/// is named by the key and the file that hold it (set when a configuration is loaded).
static ORIGINS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Remembers `program -> "KEY in FILE"` for the messages of programs that cannot be started.
pub fn name_programs(file: &std::path::Path, programs: Vec<(String, &'static str)>) {
    if let Ok(mut origins) = ORIGINS.lock() {
        origins.clear();
        origins.extend(programs.into_iter().map(|(p, key)| (p, format!("`{key}` in {}", file.display()))));
    }
}

fn origin(program: &str) -> Option<String> {
    ORIGINS.lock().ok()?.iter().find(|(p, _)| p == program).map(|(_, o)| o.clone())
}

/// Runs commands. Implementations must honour the command's timeout.
pub trait Runner: Send + Sync {
    fn run(&self, command: &Command) -> Result<Output, ExecError>;

    /// Runs and requires exit status 0.
    fn run_ok(&self, command: &Command) -> Result<Output, ExecError> {
        let output = self.run(command)?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(ExecError::Failed { command: command.to_string(), status: output.status, output })
        }
    }
}

/// Runs real processes.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRunner;

impl Runner for SystemRunner {
    fn run(&self, command: &Command) -> Result<Output, ExecError> {
        let shown = command.to_string();
        let Some((program, args)) = command.argv.split_first() else {
            return Err(ExecError::Spawn { command: shown, reason: "empty argument vector".into() });
        };
        if let Some(signal) = crate::signals::refuse_new_commands() {
            return Err(ExecError::Interrupted { command: shown, signal });
        }
        let start = Instant::now();
        let mut child = std::process::Command::new(program)
            .args(args)
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .stdin(if command.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| ExecError::Spawn {
                command: shown.clone(),
                reason: match origin(program) {
                    Some(origin) => format!("{e} ({program} is {origin})"),
                    None => e.to_string(),
                },
            })?;
        let registered = crate::signals::Running::register(child.id() as i32);
        if let (Some(mut pipe), Some(text)) = (child.stdin.take(), command.stdin.clone()) {
            // On a thread of its own, so that a command that does not read cannot hold ftl past
            // its timeout; a command that exits without reading it all is not an error here.
            std::thread::spawn(move || {
                use std::io::Write;
                let _ = pipe.write_all(text.as_bytes());
            });
        }
        let stdout = reader(child.stdout.take());
        let stderr = reader(child.stderr.take());
        let status = wait_with_timeout(&mut child, command.timeout);
        if status.is_none() {
            // SIGKILL the whole group: grandchildren holding the pipes open die too.
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGKILL);
            }
            let _ = child.wait();
        }
        drop(registered);
        // The command has ended; what it started may still hold the pipes (a daemon, a `sleep &`):
        // wait a moment for them to close, then take what was written, and leave those alone.
        let drained = Instant::now() + PIPE_GRACE;
        let stdout = stdout.collect(drained);
        let stderr = stderr.collect(drained);
        tracing::info!(
            "ran `{shown}`: {} after {}",
            status.map_or("timed out".into(), |s| Status::from_exit(s).to_string()),
            crate::duration::format(start.elapsed())
        );
        match status {
            None => Err(ExecError::Timeout { command: shown, timeout: command.timeout, stdout, stderr }),
            Some(status) => Ok(Output { status: Status::from_exit(status), stdout, stderr, elapsed: start.elapsed() }),
        }
    }
}

/// How long the pipes may stay open after the command ended.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// A pipe read on a thread of its own, into a buffer that can be taken before the end.
struct Reader {
    bytes: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
}

impl Reader {
    /// What was read, once the pipe closed or `deadline` passed, whichever comes first.
    fn collect(self, deadline: Instant) -> String {
        let _ = self.done.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        let bytes = self.bytes.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn reader<R: Read + Send + 'static>(pipe: Option<R>) -> Reader {
    let bytes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx, done) = mpsc::channel();
    let into = bytes.clone();
    std::thread::spawn(move || {
        if let Some(mut pipe) = pipe {
            let mut chunk = [0u8; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => {
                        if let Ok(mut b) = into.lock() {
                            b.extend_from_slice(&chunk[..n]);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        let _ = tx.send(());
    });
    Reader { bytes, done }
}

/// Waits for the child, at most `timeout`. A helper thread blocks in `waitpid` while this one
/// waits on a channel, so the wake-up is immediate in both cases.
fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // WNOWAIT leaves the child to be reaped by `Child::wait` below.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT) };
        let _ = tx.send(());
    });
    match rx.recv_timeout(timeout) {
        Ok(_) => child.wait().ok(),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Duration) -> Command {
        Command::new(["/bin/sh", "-c", script], timeout)
    }

    #[test]
    fn a_background_child_holding_the_pipes_does_not_hold_the_command() {
        // The command exits at once; its child keeps both pipes open for 30 s.
        let start = Instant::now();
        let out = SystemRunner.run(&sh("echo started; sleep 30 & exit 0", Duration::from_secs(60))).unwrap();
        assert_eq!(out.status, Status::Exited(0));
        assert_eq!(out.stdout, "started\n");
        assert!(start.elapsed() < Duration::from_secs(10), "waited {:?} for the child's pipes", start.elapsed());
    }

    #[test]
    fn captures_status_and_both_streams() {
        let out = SystemRunner.run(&sh("echo out; echo err >&2; exit 3", Duration::from_secs(5))).unwrap();
        assert_eq!(out.status, Status::Exited(3));
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        let err = SystemRunner.run_ok(&sh("echo nope >&2; exit 3", Duration::from_secs(5))).unwrap_err();
        assert!(err.to_string().contains("exit status 3") && err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn a_hung_command_and_its_children_are_killed_at_the_timeout() {
        let dir = assert_fs::TempDir::new().unwrap();
        let pidfile = dir.path().join("grandchild");
        let script = format!("sleep 30 & echo $! > {}; sleep 30; echo never", pidfile.display());
        let timeout = Duration::from_millis(300);
        let start = Instant::now();
        let err = SystemRunner.run(&sh(&script, timeout)).unwrap_err();
        let elapsed = start.elapsed();
        assert!(matches!(err, ExecError::Timeout { .. }), "{err}");
        assert!(elapsed < timeout + Duration::from_secs(1), "the step ended {elapsed:?} after it started");
        assert!(err.to_string().contains("did not finish within 300ms"), "{err}");
        let grandchild: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        // The whole process group was killed: the grandchild is gone, or a zombie once its new
        // parent (init) has had the moment it needs to notice; under load that takes a while.
        let dead = || {
            (unsafe { libc::kill(grandchild, 0) }) != 0
                || std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default().contains(") Z")
        };
        let waited = Instant::now();
        while !dead() && waited.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(dead(), "the command's own child {grandchild} survived the timeout by {:?}", waited.elapsed());
    }

    #[test]
    fn standard_input_is_given_and_shown_as_a_here_string() {
        let cmd = Command::new(["/bin/cat", "/dev/stdin"], Duration::from_secs(5)).input("<a x='1'/>\n");
        assert_eq!(SystemRunner.run(&cmd).unwrap().stdout, "<a x='1'/>\n");
        assert_eq!(cmd.to_string(), r"/bin/cat /dev/stdin <<< '<a x='\''1'\''/>'");
        // A command that never reads its input still ends at its timeout.
        let deaf = sh("sleep 30", Duration::from_millis(300)).input("x".repeat(1 << 20));
        assert!(matches!(SystemRunner.run(&deaf), Err(ExecError::Timeout { .. })));
    }

    #[test]
    fn not_started_is_not_the_same_as_failed() {
        let err = SystemRunner.run(&Command::new(["/nonexistent/vmoprcmd"], Duration::from_secs(1))).unwrap_err();
        assert!(matches!(err, ExecError::Spawn { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/vmoprcmd"));
    }

    #[test]
    fn arguments_are_passed_literally_never_through_a_shell() {
        let evil = "$(touch /tmp/ftl-pwned); `id` | rm -rf / ; 'quoted'";
        let out = SystemRunner.run(&Command::new(["/bin/echo", evil], Duration::from_secs(5))).unwrap();
        assert_eq!(out.stdout.trim_end(), evil);
        let shown = Command::new(["/bin/echo", evil], Duration::from_secs(1)).to_string();
        assert_eq!(shown, r"/bin/echo '$(touch /tmp/ftl-pwned); `id` | rm -rf / ; '\''quoted'\'''");
    }
}
