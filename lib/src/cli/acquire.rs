//! `ftl-acquire`: its flags and entry point.

use super::*;
use crate::runbook::acquire::{self, AcquireOptions};

/// Acquire the tape library for this domain.
#[derive(Debug, Parser)]
#[command(
    name = "ftl-acquire",
    version,
    about = "Acquire the shared tape library for this domain",
    long_about = "Acquire the shared tape library for this domain, running the attach runbook: \
stop NetBackup, unload the robot driver, DR-attach the board on the controller, load the driver, \
start NetBackup, bring every drive UP, and record the domain as owner in the ledger. (On a libvirt \
site: attach the HBA to this guest with virsh, then wait for the tape and changer devices.)\n\n\
When another domain owns the library, a request is recorded in the ledger and ftl-acquire exits 3, \
or with --wait waits until the owner releases it. The request is this domain's claim: it lasts \
until now + the --wait duration, or else until the end of this domain's open window, or \
requests.ttl (default 2h); it is ignored once expired and dropped at the next commit; --cancel \
withdraws it. The owner releases for it once the owner's own claim (its open window) has ended and \
it is idle; the library then goes to the earliest waiting claim. While the request lasts after \
the acquire, it keeps the library here. An interrupted acquire is resumed from the step the ledger \
names.",
    after_help = EXIT_CODES
)]
pub struct AcquireArgs {
    #[command(flatten)]
    pub common: Common,
    /// Print the result (or with --dry-run the plan) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print the plan (every command in order, parallel groups marked) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Wait up to DURATION (90s, 15m, 2h, 1h30m; at most 365d) for the owner to release and this
    /// domain to be idle.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub wait: Option<Duration>,
    #[command(flatten)]
    pub override_: Override,
    /// At boot (rc script): if the ledger names this domain as owner, confirm the board with the
    /// controller and bring the driver, NetBackup and the drives up; otherwise do nothing.
    #[arg(long, conflicts_with_all = ["wait", "force"])]
    pub at_boot: bool,
    /// Withdraw this domain's request for the library (journaled) and do nothing else.
    #[arg(long, conflicts_with_all = ["wait", "force", "at_boot", "dry_run"])]
    pub cancel: bool,
}

pub fn acquire_main(args: AcquireArgs) -> Exit {
    logging::init("ftl-acquire", args.common.verbose, args.common.quiet);
    let options = AcquireOptions { wait: args.wait, force: args.override_.reason(), for_claim: false };
    let json = args.json;
    finish(
        "ftl-acquire",
        &args.common.config,
        run_with_context(&args.common, |ctx| {
            if args.at_boot {
                let outcome = if args.dry_run {
                    "dry run: would check the ledger, then the board, then bring the driver, NetBackup and the drives up".into()
                } else {
                    crate::rc::boot(ctx)?
                };
                say_line(format_args!("{outcome}"));
                return Ok(());
            }
            if args.cancel {
                print_report(&acquire::cancel(ctx)?, json);
                return Ok(());
            }
            if args.dry_run {
                // A dry run refuses what the run would refuse before it does anything.
                crate::runbook::validate_reason(options.force.as_deref())?;
                print_plan(&acquire::plan(ctx, &options)?, json);
                return Ok(());
            }
            print_report(&acquire::acquire(ctx, &options)?, json);
            Ok(())
        }),
    )
}
