//! `ftl-status`: its flags and entry point (status, history, checks, metrics, ledger init and repair).

use super::*;
use crate::status;

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
--init-ledger creates the first record in an empty ledger directory (never beside a journal). \
--repair-ledger rebuilds an unreadable, missing or out-of-date state.json from the journal's last \
good line, after keeping a copy of the bad file and after the controller confirms where the board \
is; it reads only journal files that pass the trust checks, never writes an epoch lower than the \
journal's, and creates again a deleted ledger.lock (run it only when no ftl runs on any domain).",
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
    /// Rebuild an unreadable, missing or out-of-date state.json from the journal (keeps a copy of
    /// the bad file, confirms the board with the controller); recreates a deleted ledger.lock.
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
    if args.check || args.repair_ledger {
        crate::signals::install();
    }
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
        let progress = StderrProgress::new(true);
        let ctx = setup.context(&SystemRunner, &SystemClock, &progress);
        let board = || match crate::runbook::actions::locate(&ctx) {
            Ok(platform::Location::Domain(d)) => Ok(Some(d)),
            Ok(platform::Location::Unassigned) => Ok(None),
            Err(e) => Err(e.message),
        };
        let repaired = setup.ledger.repair(&holder, now, &board)?;
        if repaired.lock_recreated {
            eprintln!("ftl-status: the missing ledger lock was created again");
        }
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
