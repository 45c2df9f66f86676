//! Solaris, the Starfire domains' OS: Solaris `mt`, the robot's `sg` driver unloaded with
//! `modunload` and loaded with `modload`, and the processor-set, bound-thread, driver and DR
//! prerequisite checks.

use super::prereq;
use super::HostOs;
use crate::config::Drive;
use crate::exec::{Command, Output};
use crate::os::{self, Tape};
use crate::runbook::actions::{self, Group, Outcome};
use crate::runbook::precheck::{self, Check};
use crate::runbook::{ActionError, Context};

pub struct Solaris;

fn mt(ctx: &Context, drive: &Drive, op: &str, timeout: std::time::Duration) -> Command {
    Command::new([ctx.config.commands.mt.as_str(), "-f", &drive.device.display().to_string(), op], timeout)
}

pub fn modinfo(ctx: &Context) -> Command {
    Command::new([&ctx.config.commands.modinfo], ctx.config.timeouts.command)
}

/// `modunload -i ID`; the plan gives a placeholder for the id `modinfo` will print.
fn modunload(ctx: &Context, id: &str) -> Command {
    Command::new([ctx.config.commands.modunload.as_str(), "-i", id], ctx.config.timeouts.command)
}

fn modload(ctx: &Context) -> Command {
    Command::new([&ctx.config.commands.modload, &ctx.config.library.driver_path], ctx.config.timeouts.command)
}

fn driver_id(ctx: &Context) -> Result<Option<u32>, ActionError> {
    let cmd = modinfo(ctx);
    let out = ctx.runner.run_ok(&cmd)?;
    os::parse_modinfo(&out.stdout, &ctx.config.library.driver).map_err(|e| actions::unexpected(&cmd, &out, e))
}

impl HostOs for Solaris {
    fn quiesce_name(&self) -> &'static str {
        "unload the robot driver"
    }

    fn restore_name(&self) -> &'static str {
        "load the robot driver"
    }

    fn rewind(&self, ctx: &Context, drive: &Drive) -> Command {
        mt(ctx, drive, "rewind", ctx.config.timeouts.rewind)
    }

    fn tape_status(&self, ctx: &Context, drive: &Drive) -> Command {
        mt(ctx, drive, "status", ctx.config.timeouts.command)
    }

    fn rewind_found_empty(&self, output: &Output) -> bool {
        output.text().contains("no tape loaded or drive offline")
    }

    fn read_tape(&self, output: &Output) -> Result<Tape, String> {
        os::parse_mt_status(&output.stdout, &output.stderr)
    }

    fn quiesce(&self, ctx: &Context) -> Result<Outcome, ActionError> {
        let driver = &ctx.config.library.driver;
        let Some(id) = driver_id(ctx)? else {
            return Ok(Outcome::found(format!("{driver} was not loaded")));
        };
        let unload = modunload(ctx, &id.to_string());
        ctx.runner.run_ok(&unload)?;
        if let Some(still) = driver_id(ctx)? {
            return Err(ActionError {
                command: Some(unload.to_string()),
                message: format!("{driver} is still loaded (id {still}) after `{unload}`"),
                output: None,
            });
        }
        Ok(Outcome::changed(format!("{driver} (id {id}) unloaded")))
    }

    fn plan_quiesce(&self, ctx: &Context) -> Vec<Group> {
        let id = format!("<id of {} from modinfo>", ctx.config.library.driver);
        vec![Group::of(vec![modinfo(ctx), modunload(ctx, &id), modinfo(ctx)], false)]
    }

    fn restore(&self, ctx: &Context) -> Result<Outcome, ActionError> {
        let driver = &ctx.config.library.driver;
        if let Some(id) = driver_id(ctx)? {
            return Ok(Outcome::found(format!("{driver} was already loaded (id {id})")));
        }
        let load = modload(ctx);
        ctx.runner.run_ok(&load)?;
        match driver_id(ctx)? {
            Some(id) => Ok(Outcome::changed(format!("{driver} loaded (id {id})"))),
            None => Err(ActionError {
                command: Some(load.to_string()),
                message: format!("modinfo does not list {driver} after `{load}`"),
                output: None,
            }),
        }
    }

    fn plan_restore(&self, ctx: &Context) -> Vec<Group> {
        vec![Group::of(vec![modinfo(ctx), modload(ctx), modinfo(ctx)], false)]
    }

    fn checks(&self, ctx: &Context, detach: bool, attach: bool) -> Vec<Check> {
        let mut checks = Vec::new();
        if detach {
            checks.extend([precheck::processor_sets(ctx), precheck::bound_threads(ctx), precheck::driver(ctx)]);
        }
        checks.extend(prereq::checks(ctx, detach, attach));
        checks
    }

    fn plan_checks(&self, ctx: &Context, attach: bool) -> Vec<String> {
        let mut out = Vec::new();
        if !attach {
            out.extend([
                precheck::processor_sets_command(ctx).to_string(),
                precheck::bound_threads_command(ctx).to_string(),
                modinfo(ctx).to_string(),
            ]);
        }
        out.extend(prereq::plan(ctx, attach));
        out
    }
}
