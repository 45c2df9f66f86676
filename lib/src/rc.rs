//! What the rc script and the systemd unit do: at boot, a domain the ledger names as owner
//! confirms the board with the controller and brings the robot driver, NetBackup and its drives
//! up; at shutdown, it releases the library when configured to and no job is active. Neither
//! changes who owns the library except through the release runbook.

use crate::error::Error;
use crate::ledger::record::{Operation, Record};
use crate::platform::{Condition, Location};
use crate::policy::{self, Decision, Site, Trigger};
use crate::runbook::actions::{self, Action};
use crate::runbook::progress::StepInfo;
use crate::runbook::release::{self, ReleaseOptions};
use crate::runbook::{precheck, Context};
use std::time::Instant;

pub fn boot(ctx: &Context) -> Result<String, Error> {
    let _sequence = crate::signals::sequence();
    // Like every sequence: never beside a release or an acquire of this domain.
    let _run = crate::runbook::run_lock(ctx)?;
    let record = ctx.ledger.read()?;
    if !matches!(ask(ctx, &record, Trigger::Boot, true)?, Decision::BringUp { .. }) {
        return Ok(format!(
            "the ledger does not name {} as owner (it is {}); nothing to do at boot",
            ctx.domain,
            record.state.name()
        ));
    }
    let at = actions::read_board(ctx)
        .map_err(|e| Error::Refused(format!("cannot confirm the board with the controller: {}", e.message)))?;
    if at.location != Location::Domain(ctx.domain.clone()) || at.condition == Condition::Unused {
        return Err(Error::Refused(format!(
            "the ledger says {} owns the library but the controller says board {} is {at}; see `ftl-status --check`",
            ctx.domain, ctx.config.board.id
        )));
    }
    let mut done = Vec::new();
    for (id, name, action) in [
        ("B1", "load the robot driver", Action::LoadDriver),
        ("B2", "start NetBackup", Action::StartNetBackup),
        ("B3", "drives up", Action::DrivesUp),
    ] {
        let info = StepInfo {
            library: &record.library,
            domain: &ctx.domain,
            operation: Operation::Acquire,
            id,
            name,
            epoch: record.epoch,
        };
        ctx.progress.step_started(&info, action.width(ctx));
        let t0 = Instant::now();
        match action.run(ctx) {
            Ok(outcome) => {
                ctx.progress.step_finished(&info, t0.elapsed(), Ok(&outcome.summary));
                done.push(outcome.summary);
            }
            Err(e) => {
                ctx.progress.step_finished(&info, t0.elapsed(), Err(&e.message));
                let command = e.command.map(|c| format!(" (`{c}`)")).unwrap_or_default();
                return Err(Error::Failed(format!("at boot, {id} {name} failed{command}: {}", e.message)));
            }
        }
    }
    Ok(format!("board {} confirmed in {}; {}", ctx.config.board.id, ctx.domain, done.join("; ")))
}

pub fn shutdown(ctx: &Context) -> Result<String, Error> {
    let record = ctx.ledger.read()?;
    let idle = precheck::jobs(ctx).ok;
    match ask(ctx, &record, Trigger::Shutdown, idle)? {
        Decision::Release { .. } => Ok(release::release(ctx, &ReleaseOptions { if_idle: true, force: None })?.outcome),
        other => Ok(other.why().to_string()),
    }
}

/// What the policy says at boot or shutdown.
fn ask(ctx: &Context, record: &Record, trigger: Trigger, idle: bool) -> Result<Decision, Error> {
    let now = ctx.clock.now();
    let site = Site::read(ctx, now, &chrono::Local)?;
    Ok(policy::decide(trigger, &site.situation(record, &ctx.domain, now, idle)))
}
