//! What the rc script and the systemd unit do: at boot, a domain the ledger names as owner
//! confirms the board with the controller and brings the robot driver, NetBackup and its drives
//! up; at shutdown, it releases the library when configured to and no job is active. Neither
//! changes who owns the library except through the release runbook.

use crate::error::Error;
use crate::ledger::record::{Operation, Record};
use crate::platform::{Condition, Location};
use crate::policy::{self, Decision, Site, Trigger};
use crate::runbook::actions::{self, Action};
use crate::runbook::release::{self, ReleaseOptions};
use crate::runbook::{executor, precheck, Context, OnFailure, Step};

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
    let unit = ctx.platform.unit();
    if at.location != Location::Domain(ctx.domain.clone()) || at.condition == Condition::Unused {
        return Err(Error::Refused(format!(
            "the ledger says {} owns the library but the controller says {unit} is {at}; see `ftl-status --check`",
            ctx.domain
        )));
    }
    let steps = [
        Step::new("B1", ctx.host.restore_name(), &[Action::Restore], &[], OnFailure::Broken),
        Step::new("B2", "start NetBackup", &[Action::StartNetBackup], &[], OnFailure::Broken),
        Step::new("B3", "drives up", &[Action::DrivesUp], &[], OnFailure::Broken),
    ];
    match executor::run_unrecorded(ctx, Operation::Acquire, &steps) {
        Ok(timings) => Ok(format!(
            "{unit} confirmed in {}; {}",
            ctx.domain,
            timings.iter().map(|t| t.summary.as_str()).collect::<Vec<_>>().join("; ")
        )),
        Err((index, e)) => {
            let command = e.command.map(|c| format!(" (`{c}`)")).unwrap_or_default();
            let step = &steps[index];
            Err(Error::Failed(format!("at boot, {} {} failed{command}: {}", step.id, step.name, e.message)))
        }
    }
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
