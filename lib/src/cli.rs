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
use std::path::PathBuf;
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
        let config = Config::load(path)?;
        let domain = config.local_domain(domain, &os::hostname())?;
        let ledger = Ledger::open(&config)?;
        Ok(Setup {
            config,
            domain,
            ledger,
        })
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
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
        return;
    }
    println!(
        "{} {}: {} (epoch {})",
        report.operation, report.domain, report.outcome, report.epoch
    );
    if !report.steps.is_empty() {
        for s in &report.steps {
            let lanes = if s.parallel > 1 {
                format!(" x{}", s.parallel)
            } else {
                String::new()
            };
            println!(
                "  {:<3} {:<40} {:>8.1}s{lanes}  {}",
                s.id, s.name, s.secs, s.summary
            );
        }
        println!("  total {:.1}s", report.total_secs);
    }
}

fn run_with_context(
    common: &Common,
    f: impl FnOnce(&Context) -> Result<(), Error>,
) -> Result<(), Error> {
    let setup = Setup::load(&common.config, common.domain.as_deref())?;
    let progress = StderrProgress::new(common.quiet > 0);
    let ctx = setup.context(&SystemRunner, &SystemClock, &progress);
    f(&ctx)
}

const EXIT_CODES: &str =
    "Exit codes: 0 done or nothing to do; 1 a step failed (the ledger says where); \
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
}

pub fn acquire_main(args: AcquireArgs) -> Exit {
    logging::init("ftl-acquire", args.common.verbose, args.common.quiet);
    let options = AcquireOptions {
        wait: args.wait,
        force: args.reason.clone().filter(|_| args.force),
    };
    let json = args.common.json;
    finish(
        "ftl-acquire",
        run_with_context(&args.common, |ctx| {
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
}

pub fn release_main(args: ReleaseArgs) -> Exit {
    logging::init("ftl-release", args.common.verbose, args.common.quiet);
    let options = ReleaseOptions {
        if_idle: args.if_idle,
        force: args.reason.clone().filter(|_| args.force),
    };
    let json = args.common.json;
    finish(
        "ftl-release",
        run_with_context(&args.common, |ctx| {
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
                return Err(Error::Usage(format!(
                    "--owner {owner}: not a domain of {}",
                    setup.config.path.display()
                )));
            }
        }
        if common.dry_run {
            println!(
                "would create {} ({})",
                setup.ledger.state_path().display(),
                args.owner
                    .as_deref()
                    .map(|o| format!("owned by {o}"))
                    .unwrap_or("free".into())
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
        eprintln!(
            "ftl-status: rebuilt from journal epoch {}",
            repaired.from_epoch
        );
        print!("{}", status::describe(&repaired.record, now));
        return Ok(());
    }
    let record = setup.ledger.read()?;
    let history = args.history.map(|n| setup.ledger.history(n)).transpose()?;
    let checks = if args.check {
        let progress = StderrProgress::new(true);
        let ctx = setup.context(&SystemRunner, &SystemClock, &progress);
        Some(precheck::all(&ctx, &record))
    } else {
        None
    };
    if common.json {
        let value = status::to_json(
            &record,
            history.as_ref().map(|(e, s)| (e.as_slice(), *s)),
            checks.as_deref(),
        );
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
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
