//! The command-line interface of every binary: argument definitions (also the source of the man
//! pages) and one entry function per binary. The binaries in `hooks/` call these and exit with
//! the code they return; every error is printed once, on stderr, prefixed by the program name.

use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config};
use crate::error::{Error, Exit};
use crate::exec::{Runner, SystemRunner};
use crate::ledger::Ledger;
use crate::runbook::acquire::{self, AcquireOptions};
use crate::runbook::progress::{Progress, StderrProgress};
use crate::runbook::release::{self, ReleaseOptions};
use crate::runbook::{precheck, Context, Plan, Report};
use crate::{duration, logging, os, platform, status};
use clap::{Args, Parser};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Flags every binary takes.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// The site configuration file.
    #[arg(long, value_name = "PATH", env = "FTL_CONFIG", default_value = config::DEFAULT_PATH, global = true)]
    pub config: PathBuf,
    /// Act as this domain (default: the file's `domain`, the host mapping, else the host name).
    #[arg(long, value_name = "NAME", global = true)]
    pub domain: Option<String>,
    /// Print the result as JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print the plan (every command in order, parallel groups marked) and change nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// More detail on stderr (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub quiet: u8,
}

/// The loaded configuration, the local domain and the ledger: what every command starts from.
pub struct Setup {
    pub config: Config,
    pub domain: String,
    pub ledger: Ledger,
}

impl Setup {
    pub fn load(path: &std::path::Path, domain: Option<&str>) -> Result<Setup, Error> {
        crate::trust::check_with_dir(path, "configuration")?;
        if let Ok(exe) = std::env::current_exe() {
            crate::trust::check_with_dir(&exe, "binary")?;
        }
        let config = Config::load(path)?;
        let domain = config.local_domain(domain, &os::hostname())?;
        let ledger = Ledger::open(&config)?;
        Ok(Setup { config, domain, ledger })
    }

    pub fn context<'a>(
        &'a self,
        runner: &'a dyn Runner,
        clock: &'a dyn Clock,
        progress: &'a dyn Progress,
    ) -> Context<'a> {
        Context {
            config: &self.config,
            domain: self.domain.clone(),
            holder: os::current_holder(&self.domain),
            runner,
            clock,
            ledger: &self.ledger,
            platform: platform::for_config(&self.config),
            progress,
        }
    }
}

/// Prints an error the one way every binary does, and returns its exit code.
pub fn report_error(program: &str, error: &Error) -> Exit {
    eprintln!("{program}: {error}");
    error.exit()
}

fn finish(program: &str, result: Result<(), Error>) -> Exit {
    match result {
        Ok(()) => Exit::Done,
        Err(e) => report_error(program, &e),
    }
}

fn print_plan(plan: &Plan, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(plan).unwrap_or_default());
    } else {
        print!("{plan}");
    }
}

fn print_report(report: &Report, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(report).unwrap_or_default());
        return;
    }
    println!("{} {}: {} (epoch {})", report.operation, report.domain, report.outcome, report.epoch);
    if !report.steps.is_empty() {
        for s in &report.steps {
            let lanes = if s.parallel > 1 { format!(" x{}", s.parallel) } else { String::new() };
            println!("  {:<3} {:<40} {:>8.1}s{lanes}  {}", s.id, s.name, s.secs, s.summary);
        }
        println!("  total {:.1}s", report.total_secs);
    }
}

fn run_with_context(common: &Common, f: impl FnOnce(&Context) -> Result<(), Error>) -> Result<(), Error> {
    let setup = Setup::load(&common.config, common.domain.as_deref())?;
    let progress = StderrProgress::new(common.quiet > 0);
    let ctx = setup.context(&SystemRunner, &SystemClock, &progress);
    f(&ctx)
}

const EXIT_CODES: &str = "Exit codes: 0 done or nothing to do; 1 a step failed (the ledger says where); \
2 usage or configuration error; 3 busy: another domain owns or is moving the library; \
4 a precheck refused (nothing changed); 5 the ledger lock was not obtained in time; \
6 the ledger is unreadable.";

/// Acquire the tape library for this domain.
#[derive(Debug, Parser)]
#[command(
    name = "ftl-acquire",
    version,
    about = "Acquire the shared tape library for this domain",
    long_about = "Acquire the shared tape library for this domain, running the attach runbook: \
stop NetBackup, unload the robot driver, DR-attach the board on the controller, load the driver, \
start NetBackup, bring every drive UP, and record the domain as owner in the ledger.\n\n\
When another domain owns the library, a request is recorded in the ledger and ftl-acquire exits 3, \
or with --wait waits until the owner releases it (the owner releases at its next window tick or \
session end once idle). An interrupted acquire is resumed from the step the ledger names.",
    after_help = EXIT_CODES
)]
pub struct AcquireArgs {
    #[command(flatten)]
    pub common: Common,
    /// Wait up to DURATION (90s, 15m, 2h, 1h30m) for the owner to release and this domain to be idle.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse_flag)]
    pub wait: Option<Duration>,
    /// Take over from a dead holder or an owner that cannot release, after confirming the board with the controller.
    #[arg(long, requires = "reason")]
    pub force: bool,
    /// Why the override is needed (journaled with your user and host).
    #[arg(long, value_name = "TEXT", requires = "force")]
    pub reason: Option<String>,
    /// At boot (rc script): if the ledger names this domain as owner, confirm the board with the
    /// controller and bring the driver, NetBackup and the drives up; otherwise do nothing.
    #[arg(long, conflicts_with_all = ["wait", "force"])]
    pub at_boot: bool,
}

pub fn acquire_main(args: AcquireArgs) -> Exit {
    logging::init("ftl-acquire", args.common.verbose, args.common.quiet);
    let options = AcquireOptions { wait: args.wait, force: args.reason.clone().filter(|_| args.force) };
    let json = args.common.json;
    finish(
        "ftl-acquire",
        run_with_context(&args.common, |ctx| {
            if args.at_boot {
                let outcome = if args.common.dry_run {
                    "dry run: would check the ledger, then the board, then bring the driver, NetBackup and the drives up".into()
                } else {
                    crate::rc::boot(ctx)?
                };
                println!("{outcome}");
                return Ok(());
            }
            if args.common.dry_run {
                print_plan(&acquire::plan(ctx, &options)?, json);
                return Ok(());
            }
            print_report(&acquire::acquire(ctx, &options)?, json);
            Ok(())
        }),
    )
}

/// Release the tape library from this domain.
#[derive(Debug, Parser)]
#[command(
    name = "ftl-release",
    version,
    about = "Release the shared tape library from this domain",
    long_about = "Release the shared tape library from this domain, running the detach runbook: \
mark every drive DOWN, stop NetBackup, rewind every drive to BOT (in parallel), unload the robot \
driver, DR-detach the board on the controller, and record the library free in the ledger.\n\n\
A failure before the detach rolls back: NetBackup and the drives come back up and the domain \
still owns the library. Otherwise the ledger says `broken`, naming the step, the command and its \
output; running ftl-release again resumes from that step.",
    after_help = EXIT_CODES
)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub common: Common,
    /// Release only when no job is active; otherwise do nothing and exit 0.
    #[arg(long)]
    pub if_idle: bool,
    /// Override failed prechecks, or release for an owner that cannot (confirmed with the controller).
    #[arg(long, requires = "reason")]
    pub force: bool,
    /// Why the override is needed (journaled with your user and host).
    #[arg(long, value_name = "TEXT", requires = "force")]
    pub reason: Option<String>,
    /// At shutdown (rc script): release when hooks.release_at_shutdown is set and no job is active.
    #[arg(long, conflicts_with_all = ["force", "if_idle"])]
    pub at_shutdown: bool,
}

pub fn release_main(args: ReleaseArgs) -> Exit {
    logging::init("ftl-release", args.common.verbose, args.common.quiet);
    let options = ReleaseOptions { if_idle: args.if_idle, force: args.reason.clone().filter(|_| args.force) };
    let json = args.common.json;
    finish(
        "ftl-release",
        run_with_context(&args.common, |ctx| {
            if args.at_shutdown && !args.common.dry_run {
                println!("{}", crate::rc::shutdown(ctx)?);
                return Ok(());
            }
            if args.common.dry_run {
                print_plan(&release::plan(ctx, &options)?, json);
                return Ok(());
            }
            print_report(&release::release(ctx, &options)?, json);
            Ok(())
        }),
    )
}

/// Show who owns the library.
#[derive(Debug, Parser)]
#[command(
    name = "ftl-status",
    version,
    about = "Show who owns the shared tape library, the journal, and the prechecks",
    long_about = "Show the ledger's record: who owns the library, since when, the epoch, standing \
requests and the last error. --history N adds the journal's last N transitions; --check runs every \
precheck (active jobs, the controller's view of the board, processor sets, bound threads, the \
robot driver) and prints pass or fail with the evidence.\n\n\
--init-ledger creates the first record in an empty ledger directory. --repair-ledger rebuilds an \
unreadable state.json from the journal's last good line, after keeping a copy of the bad file.",
    after_help = EXIT_CODES
)]
pub struct StatusArgs {
    #[command(flatten)]
    pub common: Common,
    /// Also show the journal's last N transitions.
    #[arg(long, value_name = "N")]
    pub history: Option<usize>,
    /// Run every precheck and show pass/fail with the evidence (exit 4 when one fails).
    #[arg(long)]
    pub check: bool,
    /// Rebuild an unreadable state.json from the journal (keeps a copy of the bad file).
    #[arg(long, conflicts_with_all = ["check", "init_ledger"])]
    pub repair_ledger: bool,
    /// Create the first ledger record (free, or owned with --owner).
    #[arg(long, conflicts_with = "check")]
    pub init_ledger: bool,
    /// With --init-ledger: the domain that owns the library now.
    #[arg(long, value_name = "DOMAIN", requires = "init_ledger")]
    pub owner: Option<String>,
    /// Output format; `prometheus` writes metrics for node_exporter's textfile collector.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Prometheus,
}

pub fn status_main(args: StatusArgs) -> Exit {
    logging::init("ftl-status", args.common.verbose, args.common.quiet);
    finish("ftl-status", status_run(&args))
}

fn status_run(args: &StatusArgs) -> Result<(), Error> {
    let common = &args.common;
    let setup = Setup::load(&common.config, common.domain.as_deref())?;
    let holder = os::current_holder(&setup.domain);
    let now = SystemClock.now();
    if args.init_ledger {
        if let Some(owner) = &args.owner {
            if !setup.config.domains.contains_key(owner) {
                return Err(Error::Usage(format!("--owner {owner}: not a domain of {}", setup.config.path.display())));
            }
        }
        if common.dry_run {
            println!(
                "would create {} ({})",
                setup.ledger.state_path().display(),
                args.owner.as_deref().map(|o| format!("owned by {o}")).unwrap_or("free".into())
            );
            return Ok(());
        }
        let record = setup.ledger.init(args.owner.as_deref(), &holder, now)?;
        print!("{}", status::describe(&record, now));
        return Ok(());
    }
    if args.repair_ledger {
        if common.dry_run {
            println!(
                "would copy {} aside and rebuild it from {}",
                setup.ledger.state_path().display(),
                setup.ledger.journal().path().display()
            );
            return Ok(());
        }
        let repaired = setup.ledger.repair(&holder, now)?;
        if let Some(copy) = &repaired.copy {
            eprintln!("ftl-status: the bad record was kept as {}", copy.display());
        }
        eprintln!("ftl-status: rebuilt from journal epoch {}", repaired.from_epoch);
        print!("{}", status::describe(&repaired.record, now));
        return Ok(());
    }
    let record = setup.ledger.read()?;
    if args.format == Format::Prometheus {
        // The last hand-over durations are in the journal's last lines, not in the record.
        let (recent, _) = setup.ledger.history(200)?;
        print!("{}", status::prometheus(&setup.config, &record, &recent, now));
        return Ok(());
    }
    let history = args.history.map(|n| setup.ledger.history(n)).transpose()?;
    let checks = if args.check {
        let progress = StderrProgress::new(true);
        let ctx = setup.context(&SystemRunner, &SystemClock, &progress);
        Some(precheck::all(&ctx, &record))
    } else {
        None
    };
    if common.json || args.format == Format::Json {
        let value = status::to_json(&record, history.as_ref().map(|(e, s)| (e.as_slice(), *s)), checks.as_deref());
        println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
    } else {
        print!("{}", status::describe(&record, now));
        if let Some((entries, skipped)) = &history {
            print!("{}", status::describe_history(entries, *skipped));
        }
        if let Some(checks) = &checks {
            print!("{}", status::describe_checks(checks));
        }
    }
    match checks.as_deref().and_then(precheck::failures) {
        Some(failed) => Err(Error::Refused(format!("prechecks failed:\n  {failed}"))),
        None => Ok(()),
    }
}

/// A `--now` value: RFC 3339.
fn parse_now(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("`{text}` is not an RFC 3339 time like 2026-11-25T22:00:00Z ({e})"))
}

/// Run the window scheduler.
#[derive(Debug, Parser)]
#[command(
    name = "ftl-window",
    version,
    about = "Move the shared tape library by the domains' backup windows",
    long_about = "`ftl-window tick`, run every minute by cron or a systemd timer, acquires the \
library for this domain at `window start - lead` and releases it at window end once no job is \
active, or at `window end + grace` whatever runs. It never waits for another domain: when the \
library is elsewhere it records a request and acts on a later tick. Running it twice is harmless.\n\n\
`ftl-window show` prints every domain's windows, the planned hand-overs of the coming days and any \
overlapping windows.\n\n\
Windows are written like NetBackup's (`Mon-Fri 22:00-06:00`, `Sat 00:00-24:00`) in the host's local \
time, in [domains.NAME] windows, or read from the domain's NetBackup policies (`policies`, through \
`bppllist POLICY -U`). On a daylight-saving day a window keeps its wall-clock times.",
    after_help = EXIT_CODES
)]
pub struct WindowArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: WindowCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum WindowCommand {
    /// Act on this domain's windows now (meant for cron every minute).
    Tick {
        /// Evaluate as if at this time (RFC 3339), for rehearsals and tests.
        #[arg(long, value_name = "TIME", value_parser = parse_now)]
        now: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Print the windows, the planned hand-overs and overlaps.
    Show {
        /// Evaluate as if at this time (RFC 3339).
        #[arg(long, value_name = "TIME", value_parser = parse_now)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        /// How many days ahead to plan.
        #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=62))]
        days: u32,
    },
}

pub fn window_main(args: WindowArgs) -> Exit {
    logging::init("ftl-window", args.common.verbose, args.common.quiet);
    finish("ftl-window", window_run(&args))
}

fn window_run(args: &WindowArgs) -> Result<(), Error> {
    let common = &args.common;
    let setup = Setup::load(&common.config, common.domain.as_deref())?;
    let now = match &args.command {
        WindowCommand::Tick { now } | WindowCommand::Show { now, .. } => *now,
    };
    // --now freezes the clock for a rehearsal; otherwise the ledger gets real step times.
    let fixed;
    let clock: &dyn Clock = match now {
        Some(t) => {
            fixed = crate::clock::FixedClock::new(t);
            &fixed
        }
        None => &SystemClock,
    };
    let progress = StderrProgress::new(common.quiet > 0);
    let ctx = setup.context(&SystemRunner, clock, &progress);
    match &args.command {
        WindowCommand::Tick { .. } => {
            if common.dry_run {
                let record = setup.ledger.read()?;
                let occ = crate::tick::my_occurrences(&ctx, clock.now(), &chrono::Local)?;
                let lead = chrono::Duration::from_std(setup.config.schedule.lead).unwrap_or_default();
                let grace = chrono::Duration::from_std(setup.config.schedule.grace).unwrap_or_default();
                // A dry run does not ask bpdbjobs: it shows the decision for an idle domain.
                let decision =
                    crate::tick::decide(&record, &setup.domain, &occ, clock.now(), lead, grace, &mut || true);
                return print_tick(&decision, "dry run: nothing done", common.json);
            }
            let occ = crate::tick::my_occurrences(&ctx, clock.now(), &chrono::Local)?;
            let (decision, outcome) = crate::tick::tick(&ctx, &occ)?;
            print_tick(&decision, &outcome, common.json)
        }
        WindowCommand::Show { days, .. } => {
            let plan = crate::plan::Plan::build(&ctx, clock.now(), *days, &chrono::Local)?;
            if common.json {
                println!("{}", serde_json::to_string_pretty(&plan).unwrap_or_default());
            } else {
                print!("{}", plan.render(&chrono::Local));
            }
            Ok(())
        }
    }
}

fn print_tick(decision: &crate::tick::Decision, outcome: &str, json: bool) -> Result<(), Error> {
    if json {
        let mut value = serde_json::to_value(decision).unwrap_or_default();
        value["outcome"] = outcome.into();
        println!("{value}");
    } else {
        let (action, why) = match decision {
            crate::tick::Decision::Nothing { why } => ("nothing", why),
            crate::tick::Decision::Acquire { why } => ("acquire", why),
            crate::tick::Decision::Request { why, .. } => ("request", why),
            crate::tick::Decision::Release { why, .. } => ("release", why),
            crate::tick::Decision::Resume { why } => ("resume", why),
        };
        if why == outcome {
            println!("{action}: {why}");
        } else {
            println!("{action}: {why} -> {outcome}");
        }
    }
    Ok(())
}

/// The NetBackup notify hooks.
#[derive(Debug, Parser)]
#[command(
    name = "ftl-notify",
    version,
    about = "NetBackup notify hook: make sure the shared tape library is here when backups run",
    long_about = "Installed (as links) under NetBackup's notify script names in \
/usr/openv/netbackup/bin, ftl-notify acts by the name it is called by, or by its HOOK argument:\n\n\
  session_start_notify                                 (master, start of a due set)\n\
  bpstart_notify[.POLICY[.SCHEDULE]] CLIENT POLICY SCHEDULE SCHEDTYPE\n\
  parent_start_notify CLIENT POLICY SCHEDULE SCHEDTYPE STATUS STREAM\n\
  session_notify                                       (master, end of the session)\n\
  bpend_notify[.POLICY[.SCHEDULE]] CLIENT POLICY SCHEDULE SCHEDTYPE STATUS\n\
  backup_exit_notify CLIENT POLICY SCHEDULE SCHEDTYPE STATUS [STREAM DONE_TRYING]\n\
  parent_end_notify CLIENT POLICY SCHEDULE SCHEDTYPE STATUS STREAM\n\n\
A start hook exits 0 at once when the library is here. Otherwise it records a request, starts a \
detached background acquire (which waits until this domain is idle, because acquiring restarts \
NetBackup) and exits 3, so that NetBackup fails the job now and retries it later \
(hooks.fail_job_when_elsewhere = false makes it exit 0). An end hook starts a background release \
that waits for the domain to be idle and releases if its window is closed or another domain has \
asked. Hooks print nothing on stdout. When called by a hook name the configuration comes from \
$FTL_CONFIG or /etc/ftl/ftl.toml. A site hook that install.sh set aside (NAME.ftl-site) runs first \
with the same arguments; when it fails, its exit status is returned.",
    after_help = EXIT_CODES
)]
pub struct NotifyArgs {
    #[command(flatten)]
    pub common: Common,
    /// Internal: run the detached background worker (acquire or release).
    #[arg(long, hide = true, value_parser = ["acquire", "release"])]
    pub background: Option<String>,
    /// The hook to act as (when not called by its name).
    #[arg(required_unless_present = "background")]
    pub hook: Option<String>,
    /// NetBackup's arguments for the hook.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `ftl-notify`: returns the process exit status (a site hook's own status passes through).
pub fn notify_main(argv: Vec<String>) -> u8 {
    let invoked = PathBuf::from(argv.first().cloned().unwrap_or_default());
    let name = invoked.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    if crate::notify::hook_of(&name).is_some() {
        let config =
            std::env::var_os("FTL_CONFIG").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
        return notify_run(&invoked, &name, &argv[1..], &config, None, 0, 0);
    }
    let args = NotifyArgs::parse_from(argv);
    let c = &args.common;
    if let Some(kind) = &args.background {
        logging::init("ftl-notify", c.verbose, c.quiet);
        let result = Setup::load(&c.config, c.domain.as_deref()).and_then(|setup| {
            let progress = StderrProgress::new(true);
            let ctx = setup.context(&SystemRunner, &SystemClock, &progress);
            crate::notify::background(&ctx, kind, setup.config.hooks.acquire_wait, setup.config.hooks.release_wait)
        });
        return match result {
            Ok(outcome) => {
                tracing::info!(domain = c.domain.as_deref().unwrap_or_default(), "background {kind}: {outcome}");
                0
            }
            Err(e) => {
                tracing::error!("background {kind}: {e}");
                report_error("ftl-notify", &e).code()
            }
        };
    }
    let hook = args.hook.clone().unwrap_or_default();
    notify_run(Path::new(&hook), &hook, &args.args, &c.config, c.domain.as_deref(), c.verbose, c.quiet)
}

fn notify_run(
    invoked: &Path,
    name: &str,
    args: &[String],
    config: &Path,
    domain: Option<&str>,
    verbose: u8,
    quiet: u8,
) -> u8 {
    let call = match crate::notify::parse(name, args) {
        Ok(call) => call,
        Err(e) => {
            eprintln!("ftl-notify: {e}");
            return Exit::Usage.code();
        }
    };
    // The site's own hook keeps working, whatever happens to ftl's configuration.
    if let Some(code) = crate::notify::run_site_hook(invoked, args, Duration::from_secs(300)) {
        if code != 0 {
            eprintln!("ftl-notify: the site's own {name} failed with status {code}");
            return u8::try_from(code).unwrap_or(1);
        }
    }
    let setup = match Setup::load(config, domain) {
        Ok(s) => s,
        Err(e) => return report_error("ftl-notify", &e).code(),
    };
    let progress = crate::runbook::progress::Silent;
    let ctx = setup.context(&SystemRunner, &SystemClock, &progress);
    let mut spawn = |kind: &str| {
        logging::init("ftl-notify", verbose, quiet);
        spawn_background(kind, config, &setup.domain)
    };
    match crate::notify::answer(&ctx, &call, &mut spawn) {
        Ok(crate::notify::Answer::Here) | Ok(crate::notify::Answer::ReleaseScheduled { .. }) => Exit::Done.code(),
        Ok(crate::notify::Answer::Elsewhere { worker_started }) => {
            let note =
                if worker_started { "a background acquire was started" } else { "an acquire is already under way" };
            if setup.config.hooks.fail_job_when_elsewhere {
                eprintln!("ftl-notify: the tape library is not in domain {}; a request is recorded and {note}; failing this job so that NetBackup retries it", setup.domain);
                Exit::Busy.code()
            } else {
                Exit::Done.code()
            }
        }
        Err(e) => report_error("ftl-notify", &e).code(),
    }
}

/// Starts `ftl-notify --background KIND` detached: its own session, no terminal, no stdio; it
/// logs to the journal.
fn spawn_background(kind: &str, config: &Path, domain: &str) -> Result<(), Error> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| Error::Failed(format!("cannot find the ftl-notify binary: {e}")))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--config").arg(config).args(["--domain", domain, "--background", kind]);
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn().map(|_| ()).map_err(|e| Error::Failed(format!("cannot start the background {kind}: {e}")))
}
