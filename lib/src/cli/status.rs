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
requests and the last error; for a library being moved or left broken, whether the holder still \
runs (its run lock is held) or is LOST (nobody holds it: the process died or its etcd lease \
expired), and how long ago the record last changed. --history N adds the journal's last N \
transitions; --check runs every \
precheck (active jobs, the controller's view of the board, processor sets, bound threads, the \
robot driver) and prints pass or fail with the evidence, then warnings about the schedule that \
refuse nothing (overlapping windows, a window that never ends, a lead longer than the gap between \
two domains' windows, a domain with no window, a site with one domain). --format prometheus \
escapes label values as the exposition format requires.\n\n\
--init-ledger creates the first record in an empty ledger (the directory ledger's empty directory, \
or the etcd store's empty prefix; never beside a journal). \
--repair-ledger rebuilds an unreadable, missing or out-of-date record (the directory ledger's \
state.json, the etcd store's PREFIX/state) from the journal's last good entry, after keeping a copy \
of the bad one and after the controller confirms where the board is; it reads only journal files \
that pass the trust checks, never writes an epoch lower than the journal's, and on the directory \
ledger creates again a deleted ledger.lock (run it only when no ftl runs on any domain).\n\n\
--libraries [PARENT] lists every library kept under PARENT (default /ftl) on the configured etcd \
cluster: each key below PARENT/ whose name ends in /state, with its library, state, owner, epoch \
and open requests (the etcd store only).\n\n\
--migrate-ledger --from-dir DIR copies the directory ledger in DIR (its state.json and every \
journal file, the rotated ones included, oldest first) into the empty etcd prefix that [ledger] \
names (store = \"etcd\"), under DIR's ledger lock; it refuses (exit 4, nothing written) when the \
prefix holds any key, and (exit 3) while a hand-over of DIR runs. With --dry-run it says what it \
would copy. Afterwards point every domain's [ledger] at etcd.",
    after_help = EXIT_CODES,
    group(clap::ArgGroup::new("ledger_write").args(["init_ledger", "repair_ledger", "migrate_ledger"]))
)]
pub struct StatusArgs {
    #[command(flatten)]
    pub common: Common,
    /// Print the result as JSON on stdout (the same as --format json).
    #[arg(long, conflicts_with = "dry_run")]
    pub json: bool,
    /// With --init-ledger, --repair-ledger or --migrate-ledger: say what would be written and change nothing.
    /// (The status itself never changes anything, so without them --dry-run is a usage error.)
    #[arg(long, requires = "ledger_write")]
    pub dry_run: bool,
    /// Also show the journal's last N transitions.
    #[arg(long, value_name = "N", conflicts_with = "ledger_write")]
    pub history: Option<usize>,
    /// Run every precheck and show pass/fail with the evidence (exit 4 when one fails).
    #[arg(long)]
    pub check: bool,
    /// Rebuild an unreadable, missing or out-of-date record (the directory ledger's state.json,
    /// the etcd store's PREFIX/state) from the journal (keeps a copy of the bad one, confirms the
    /// board with the controller); on the directory ledger, recreates a deleted ledger.lock.
    #[arg(long, conflicts_with_all = ["check", "init_ledger"])]
    pub repair_ledger: bool,
    /// Create the first ledger record (free, or owned with --owner).
    #[arg(long, conflicts_with = "check")]
    pub init_ledger: bool,
    /// With --init-ledger: the domain that owns the library now.
    #[arg(long, value_name = "DOMAIN", requires = "init_ledger", conflicts_with = "repair_ledger")]
    pub owner: Option<String>,
    /// List every library under the etcd prefix PARENT (default /ftl): prefix, library, state,
    /// owner, epoch and open requests. Needs `[ledger] store = "etcd"` (exit 2 otherwise).
    #[arg(
        long,
        value_name = "PARENT",
        num_args = 0..=1,
        default_missing_value = "/ftl",
        conflicts_with_all = ["check", "history", "ledger_write"]
    )]
    pub libraries: Option<String>,
    /// Copy the directory ledger of --from-dir (record and whole journal) into the empty etcd
    /// prefix that `[ledger]` names; refused (exit 4, nothing written) when the prefix holds a key.
    #[arg(long, requires = "from_dir", conflicts_with = "check")]
    pub migrate_ledger: bool,
    /// With --migrate-ledger: the directory ledger to copy (the `dir` its domains configure).
    #[arg(long, value_name = "DIR", requires = "migrate_ledger")]
    pub from_dir: Option<PathBuf>,
    /// Output format (default text); `prometheus` writes metrics for node_exporter's textfile
    /// collector, and takes neither --json, --check nor --history.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Prometheus,
}

pub fn status_main(args: StatusArgs) -> Exit {
    logging::init("ftl-status", args.common.verbose, args.common.quiet);
    finish("ftl-status", &args.common.config, args.format().and_then(|format| status_run(&args, format)))
}

impl StatusArgs {
    /// The output format, refusing flags that it would ignore.
    fn format(&self) -> Result<Format, Error> {
        let conflict = |flag, format| Err(Error::FormatConflict { flag, format });
        let format = match (self.json, self.format) {
            (true, Some(Format::Text)) => return conflict("--json", "text"),
            (true, Some(Format::Prometheus)) => return conflict("--json", "prometheus"),
            (true, _) => Format::Json,
            (false, format) => format.unwrap_or(Format::Text),
        };
        if format == Format::Prometheus {
            for (set, flag) in [
                (self.check, "--check"),
                (self.history.is_some(), "--history"),
                (self.init_ledger, "--init-ledger"),
                (self.repair_ledger, "--repair-ledger"),
                (self.libraries.is_some(), "--libraries"),
                (self.migrate_ledger, "--migrate-ledger"),
            ] {
                if set {
                    return conflict(flag, "prometheus");
                }
            }
        }
        Ok(format)
    }
}

fn print_record(record: &crate::ledger::record::Record, format: Format, now: chrono::DateTime<chrono::Utc>) {
    if format == Format::Json {
        say_line(format_args!(
            "{}",
            serde_json::to_string_pretty(&status::to_json(record, None, None, None, now)).unwrap_or_default()
        ));
    } else {
        say(format_args!("{}", status::describe(record, None, now)));
    }
}

fn status_run(args: &StatusArgs, format: Format) -> Result<(), Error> {
    let common = &args.common;
    if args.check || args.repair_ledger {
        crate::signals::install();
    }
    let now = SystemClock.now();
    if let Some(parent) = &args.libraries {
        return libraries(&common.config, parent, format);
    }
    if args.migrate_ledger {
        return migrate(args, format, now);
    }
    if !(args.init_ledger || args.repair_ledger || args.check || common.domain.is_some()) {
        // Reading the record needs no local domain.
        let config = trusted_config(&common.config)?;
        let ledger = ledger::open(&config)?;
        return show(&config, ledger.as_ref(), args, format, None, now);
    }
    let setup = Setup::load(&common.config, common.domain.as_deref())?;
    let holder = os::current_holder(&setup.domain);
    if args.init_ledger {
        if let Some(owner) = &args.owner {
            if !setup.config.domains.contains_key(owner) {
                return Err(Error::NotADomain {
                    flag: "--owner",
                    domain: owner.clone(),
                    config: setup.config.path.clone(),
                });
            }
        }
        if args.dry_run {
            say_line(format_args!(
                "would create {} ({})",
                setup.ledger.location().record,
                args.owner.as_deref().map(|o| format!("owned by {o}")).unwrap_or("free".into())
            ));
            return Ok(());
        }
        // The first record must say where the unit is: a controller that answers and places it
        // elsewhere refuses the init (one that cannot be asked is warned about: --check tells).
        let progress = StderrProgress::new(true);
        let ctx = setup.context(&SystemRunner, &SystemClock, &progress);
        let want = match &args.owner {
            Some(owner) => platform::Location::Domain(owner.clone()),
            None => platform::Location::Unassigned,
        };
        match crate::runbook::actions::read_board(&ctx) {
            Ok(at) if at.location != want => {
                return Err(Error::Refused(format!(
                    "--init-ledger would record the library {}, but the controller reports {} {at}; nothing was \
                     written (give --owner the domain that has it, or none when it is in no domain)",
                    args.owner.as_deref().map(|o| format!("owned by {o}")).unwrap_or("free".into()),
                    ctx.platform.unit()
                )))
            }
            Ok(_) => {}
            Err(e) => warn_line(format_args!(
                "ftl-status: could not confirm with the controller where the {} is ({}); run ftl-status --check \
                 once it answers",
                ctx.platform.noun(),
                e.message
            )),
        }
        let record = setup.ledger.init(args.owner.as_deref(), &holder, now)?;
        print_record(&record, format, now);
        return Ok(());
    }
    if args.repair_ledger {
        if args.dry_run {
            let location = setup.ledger.location();
            say_line(format_args!("would copy {} aside and rebuild it from {}", location.record, location.journal));
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
            warn_line(format_args!("ftl-status: the missing ledger lock was created again"));
        }
        if let Some(copy) = &repaired.copy {
            warn_line(format_args!("ftl-status: the bad record was kept as {copy}"));
        }
        warn_line(format_args!("ftl-status: rebuilt from journal epoch {}", repaired.from_epoch));
        print_record(&repaired.record, format, now);
        return Ok(());
    }
    show(&setup.config, setup.ledger.as_ref(), args, format, Some(&setup), now)
}

/// The record, the history, the prechecks (which need the local domain's `setup`), or metrics.
fn show(
    config: &Config,
    ledger: &dyn Store,
    args: &StatusArgs,
    format: Format,
    setup: Option<&Setup>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), Error> {
    let record = ledger.read()?;
    tracing::debug!(state = ?record.state.name(), epoch = record.epoch, "ledger record read");
    if format == Format::Prometheus {
        // The last hand-over durations are in the journal's last lines, not in the record.
        let (recent, _) = ledger.history(200)?;
        say(format_args!("{}", status::prometheus(config, &record, &recent, now)));
        return Ok(());
    }
    let holding = ledger::liveness(ledger, &record);
    let history = args.history.map(|n| ledger.history(n)).transpose()?;
    let (checks, warnings) = match setup.filter(|_| args.check) {
        Some(setup) => {
            let progress = StderrProgress::new(true);
            let ctx = setup.context(&SystemRunner, &SystemClock, &progress);
            // A schedule that cannot be read (a policy) is a failed check, not a warning.
            let mut checks = precheck::all(&ctx, &record);
            let warnings = crate::plan::warnings(&ctx, now, &chrono::Local).unwrap_or_else(|e| {
                checks.push(precheck::Check::fail("schedule", e.to_string()));
                Vec::new()
            });
            (Some(checks), warnings)
        }
        None => (None, Vec::new()),
    };
    if format == Format::Json {
        let history = history.as_ref().map(|(e, s)| (e.as_slice(), *s));
        let mut value = status::to_json(&record, holding.as_ref(), history, checks.as_deref(), now);
        if args.check {
            value["warnings"] = warnings.clone().into();
        }
        say_line(format_args!("{}", serde_json::to_string_pretty(&value).unwrap_or_default()));
    } else {
        let mut text = status::describe(&record, holding.as_ref(), now);
        if let Some((entries, skipped)) = &history {
            text += &status::describe_history(entries, *skipped);
        }
        if let Some(checks) = &checks {
            text += &status::describe_checks(checks);
        }
        for w in &warnings {
            text += &format!("[warn] {w}\n");
        }
        say(format_args!("{text}"));
    }
    match checks.as_deref().and_then(precheck::failures) {
        Some(failed) => Err(Error::PrechecksFailed(failed)),
        None => Ok(()),
    }
}

/// The configured etcd store, or a usage error saying that `what` needs it.
fn etcd_store(config: &Config, what: &str) -> Result<ledger::EtcdStore, Error> {
    match &config.ledger {
        config::LedgerConfig::Etcd(_) => Ok(ledger::EtcdStore::open(config)?),
        config::LedgerConfig::Dir(dir) => Err(Error::Usage(format!(
            "{what} needs the etcd store, but {} names the directory ledger {} (`ledger.store` is \"dir\"); \
             set [ledger] store = \"etcd\" with its endpoints",
            config.path.display(),
            dir.dir.display()
        ))),
    }
}

/// `--libraries PARENT`: every library under the parent prefix on the configured etcd.
fn libraries(path: &Path, parent: &str, format: Format) -> Result<(), Error> {
    let config = trusted_config(path)?;
    if !parent.starts_with('/') {
        return Err(Error::Usage(format!("--libraries {parent}: a prefix starts with `/` (as /ftl)")));
    }
    let store = etcd_store(&config, "--libraries")?;
    let found = store.libraries(parent)?;
    if format == Format::Json {
        say_line(format_args!("{}", serde_json::to_string_pretty(&status::libraries_json(&found)).unwrap_or_default()));
    } else {
        say(format_args!("{}", status::describe_libraries(parent, &found)));
    }
    Ok(())
}

/// `--migrate-ledger --from-dir DIR`: the directory ledger in DIR copied into the configured
/// etcd prefix.
fn migrate(args: &StatusArgs, format: Format, now: chrono::DateTime<chrono::Utc>) -> Result<(), Error> {
    let config = trusted_config(&args.common.config)?;
    let to = etcd_store(&config, "--migrate-ledger")?;
    let dir = args.from_dir.as_deref().expect("clap requires --from-dir with --migrate-ledger");
    let from = ledger::DirLedger::open_dir(&config, dir)?;
    let done = ledger::migrate::migrate(&from, &to, args.dry_run)?;
    if args.dry_run {
        say(format_args!("{done}"));
        return Ok(());
    }
    if format == Format::Json {
        let mut value = status::to_json(&done.record, None, None, None, now);
        value["migrated"] = serde_json::json!({
            "from": done.from,
            "to": done.to,
            "files": done.files,
            "transitions": done.transitions,
            "audits": done.audits,
            "skipped": done.skipped,
            "transactions": done.transactions,
        });
        say_line(format_args!("{}", serde_json::to_string_pretty(&value).unwrap_or_default()));
    } else {
        say(format_args!("{done}{}", status::describe(&done.record, None, now)));
    }
    Ok(())
}
