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
        /// Print the decision for an idle domain and change nothing.
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
    let now = match &args.command {
        WindowCommand::Tick { now, .. } | WindowCommand::Show { now, .. } => *now,
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
        WindowCommand::Tick { dry_run, .. } => {
            if *dry_run {
                let record = setup.ledger.read()?;
                let occ = crate::tick::my_occurrences(&ctx, clock.now(), &chrono::Local)?;
                let lead = chrono::Duration::from_std(setup.config.schedule.lead).unwrap_or_default();
                let grace = chrono::Duration::from_std(setup.config.schedule.grace).unwrap_or_default();
                // A dry run does not ask bpdbjobs: it shows the decision for an idle domain.
                let decision =
                    crate::tick::decide(&record, &setup.domain, &occ, clock.now(), lead, grace, &mut || true);
                return print_tick(&decision, "dry run: nothing done", args.json);
            }
            let occ = crate::tick::my_occurrences(&ctx, clock.now(), &chrono::Local)?;
            let (decision, outcome) = crate::tick::tick(&ctx, &occ)?;
            print_tick(&decision, &outcome, args.json)
        }
        WindowCommand::Show { days, .. } => {
            let plan = crate::plan::Plan::build(&ctx, clock.now(), *days, &chrono::Local)?;
            if args.json {
                say_line(format_args!("{}", serde_json::to_string_pretty(&plan).unwrap_or_default()));
            } else {
                say(format_args!("{}", plan.render(&chrono::Local)));
            }
            Ok(())
        }
    }
}

fn print_tick(decision: &crate::tick::Decision, outcome: &str, json: bool) -> Result<(), Error> {
    if json {
        let mut value = serde_json::to_value(decision).unwrap_or_default();
        value["outcome"] = outcome.into();
        say_line(format_args!("{value}"));
    } else {
        let (action, why) = match decision {
            crate::tick::Decision::Nothing { why } => ("nothing", why),
            crate::tick::Decision::Acquire { why } => ("acquire", why),
            crate::tick::Decision::Request { why, .. } => ("request", why),
            crate::tick::Decision::Release { why, .. } => ("release", why),
            crate::tick::Decision::Resume { why } => ("resume", why),
        };
        if why == outcome {
            say_line(format_args!("{action}: {why}"));
        } else {
            say_line(format_args!("{action}: {why} -> {outcome}"));
        }
    }
    Ok(())
}
