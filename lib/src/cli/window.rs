//! `ftl-window`: its flags and entry point (`tick` and `show`).

use super::*;

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
    long_about = "`ftl-window tick`, run every minute by cron or a systemd timer, asks the hand-over \
policy what this domain does now and does it. A domain claims the library from `window start - \
lead` to window end (extended while its jobs run, up to `window end + grace`) or by a request that \
has not expired. The owner keeps the library while its claim lasts; once it has ended and the \
owner is idle, it releases if another domain claims the library (at `window end + grace` even \
with jobs running, which are ended, and says so), and keeps it otherwise \
(schedule.release_at_window_end = true releases at window end anyway). A free library goes to the \
earliest claim. A tick never waits for another domain: when the library is elsewhere it records \
a request and acts on a later tick. Running it twice is harmless. --now decides as if at that \
time; the ledger still records the real time.\n\n\
`ftl-window show` prints every domain's windows, the hand-overs the policy will make in the \
coming days and any overlapping windows.\n\n\
Windows are written like NetBackup's (`Mon-Fri 22:00-06:00`, `Sat 00:00-24:00`) in the host's local \
time, in [domains.NAME] windows, or read from the domain's NetBackup policies (`policies`, through \
`bppllist POLICY -U`). On a daylight-saving day a window keeps its wall-clock times.",
    after_help = EXIT_CODES
)]
pub struct WindowArgs {
    #[command(flatten)]
    pub common: Common,
    /// Print the result as JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
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
        /// Print what the tick would decide and change nothing.
        #[arg(long)]
        dry_run: bool,
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
    finish("ftl-window", &args.common.config, window_run(&args))
}

fn window_run(args: &WindowArgs) -> Result<(), Error> {
    let common = &args.common;
    crate::signals::install();
    let setup = Setup::load(&common.config, common.domain.as_deref())?;
    // --now changes only what is decided: the ledger and the journal record the real time.
    let now = match &args.command {
        WindowCommand::Tick { now, .. } | WindowCommand::Show { now, .. } => now.unwrap_or_else(|| SystemClock.now()),
    };
    let progress = StderrProgress::new(common.quiet > 0);
    let ctx = setup.context(&SystemRunner, &SystemClock, &progress);
    match &args.command {
        WindowCommand::Tick { dry_run, .. } => {
            if *dry_run {
                // The same decision as a real tick (it asks bpdbjobs, a query), nothing done.
                let (decision, _) = crate::tick::decide(&ctx, now, &chrono::Local)?;
                return print_tick(&decision, "dry run: nothing done", args.json);
            }
            let (decision, outcome) = crate::tick::tick(&ctx, now, &chrono::Local)?;
            print_tick(&decision, &outcome, args.json)
        }
        WindowCommand::Show { days, .. } => {
            let plan = crate::plan::Plan::build(&ctx, now, *days, &chrono::Local)?;
            if args.json {
                say_line(format_args!("{}", serde_json::to_string_pretty(&plan).unwrap_or_default()));
            } else {
                say(format_args!("{}", plan.render(&chrono::Local)));
            }
            Ok(())
        }
    }
}

fn print_tick(decision: &crate::policy::Decision, outcome: &str, json: bool) -> Result<(), Error> {
    if json {
        let mut value = serde_json::to_value(decision).unwrap_or_default();
        value["outcome"] = outcome.into();
        say_line(format_args!("{value}"));
    } else {
        let (action, why) = (decision.action(), decision.why());
        if why == outcome {
            say_line(format_args!("{action}: {why}"));
        } else {
            say_line(format_args!("{action}: {why} -> {outcome}"));
        }
    }
    Ok(())
}
