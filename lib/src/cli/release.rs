//! `ftl-release`: its flags and entry point.

use super::*;
use crate::runbook::release::{self, ReleaseOptions};

/// Release the tape library from this domain.
#[derive(Debug, Parser)]
#[command(
    name = "ftl-release",
    version,
    about = "Release the shared tape library from this domain",
    long_about = "Release the shared tape library from this domain, running the detach runbook: \
mark every drive DOWN, stop NetBackup, rewind every drive to BOT (in parallel), unload the robot \
driver, DR-detach the board on the controller, and record the library free in the ledger. (On a \
libvirt site: remove the tape and changer SCSI devices through sysfs, then detach the HBA from this \
guest with virsh.)\n\n\
A failure before the detach rolls back: NetBackup and the drives come back up and the domain \
still owns the library. A libvirt detach that did not finish is not rolled back, since it may \
still finish by itself: the ledger says `broken` until a rerun finds the HBA gone. Otherwise the ledger says `broken`, naming the step, the command and its \
output; running ftl-release again resumes from that step.",
    after_help = EXIT_CODES
)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub common: Common,
    /// Print the result (or with --dry-run the plan) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print the plan (every command in order, parallel groups marked) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Release only when no job is active (nor pending, unless netbackup.pending_jobs_block = false);
    /// otherwise do nothing and exit 0. When it cannot ask bpdbjobs, refuse (exit 4).
    #[arg(long)]
    pub if_idle: bool,
    #[command(flatten)]
    pub override_: Override,
    /// At shutdown (rc script): release when hooks.release_at_shutdown is set and no job is active.
    #[arg(long, conflicts_with_all = ["force", "if_idle"])]
    pub at_shutdown: bool,
}

pub fn release_main(args: ReleaseArgs) -> Exit {
    logging::init("ftl-release", args.common.verbose, args.common.quiet);
    let options = ReleaseOptions { if_idle: args.if_idle, force: args.override_.reason() };
    let json = args.json;
    finish(
        "ftl-release",
        &args.common.config,
        run_with_context(&args.common, |ctx| {
            if args.at_shutdown && !args.dry_run {
                say_line(format_args!("{}", crate::rc::shutdown(ctx)?));
                return Ok(());
            }
            if args.dry_run {
                // A dry run refuses what the run would refuse before it does anything.
                crate::runbook::validate_reason(options.force.as_deref())?;
                print_plan(&release::plan(ctx, &options)?, json);
                return Ok(());
            }
            print_report(&release::release(ctx, &options)?, json);
            Ok(())
        }),
    )
}
