//! `ftl-window show`: every domain's windows, the hand-overs they plan over the coming days,
//! overlapping windows (two domains that both expect the library at once) and the schedule's
//! other warnings, which `ftl-status --check` prints too.

use crate::error::Error;
use crate::runbook::Context;
use crate::schedule::{self, Occurrence};
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::fmt::Write;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Handover {
    pub at: DateTime<Utc>,
    pub action: &'static str,
    pub domain: String,
    pub note: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub now: DateTime<Utc>,
    pub windows: Vec<(String, Vec<String>)>,
    pub occurrences: Vec<Occurrence>,
    pub handovers: Vec<Handover>,
    pub overlaps: Vec<(Occurrence, Occurrence)>,
    pub notes: Vec<String>,
    /// What is allowed but probably not meant ([`schedule::warnings`]).
    pub warnings: Vec<String>,
}

/// Each warning names the keys it is about; this adds the file that holds them.
fn in_file(ctx: &Context, warnings: Vec<String>) -> Vec<String> {
    warnings.into_iter().map(|w| format!("{w} [{}]", ctx.config.path.display())).collect()
}

/// The site's schedule warnings as seen from this host (see [`schedule::warnings`]).
pub fn warnings<Tz: TimeZone>(ctx: &Context, now: DateTime<Utc>, tz: &Tz) -> Result<Vec<String>, Error> {
    let (windows, elsewhere) = schedule::known_windows(ctx.config, &ctx.domain, ctx.runner)?;
    let lead = Duration::from_std(ctx.config.schedule.lead).unwrap_or_default();
    Ok(in_file(ctx, schedule::warnings(&windows, &elsewhere, lead, now, tz)))
}

impl Plan {
    pub fn build<Tz: TimeZone>(ctx: &Context, now: DateTime<Utc>, days: u32, tz: &Tz) -> Result<Plan, Error> {
        let until = now + Duration::days(i64::from(days));
        let lead = Duration::from_std(ctx.config.schedule.lead).unwrap_or_default();
        let grace = Duration::from_std(ctx.config.schedule.grace).unwrap_or_default();
        let (known, elsewhere) = schedule::known_windows(ctx.config, &ctx.domain, ctx.runner)?;
        let mut windows = Vec::new();
        let mut all = Vec::new();
        let notes = elsewhere
            .iter()
            .map(|name| {
                format!(
                    "{name}'s policy windows ({}) are read on {name}; only its configured windows are shown",
                    ctx.config.domains[name].policies.join(", ")
                )
            })
            .collect();
        for (name, list) in &known {
            windows.push((name.clone(), list.iter().map(|w| w.to_string()).collect()));
            all.extend(schedule::occurrences(name, list, now - grace, until, tz));
        }
        let warnings = in_file(ctx, schedule::warnings(&known, &elsewhere, lead, now, tz));
        all.sort_by_key(|o| o.start);
        // The hand-overs are the policy's own, run forward from the ledger's record.
        let site = crate::policy::Site::read_span(ctx, now - grace, until + Duration::days(1), tz)?;
        let record = ctx.ledger.read()?;
        let mut handovers: Vec<Handover> = crate::policy::forecast(&site, &record, now, until)
            .into_iter()
            .map(|e| Handover { at: e.at, action: e.action, domain: e.domain, note: e.why })
            .collect();
        handovers.sort_by_key(|h| h.at);
        let overlaps = schedule::overlaps(&all).into_iter().map(|(a, b)| (a.clone(), b.clone())).collect();
        Ok(Plan { now, windows, occurrences: all, handovers, overlaps, notes, warnings })
    }

    pub fn render<Tz: TimeZone>(&self, tz: &Tz) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "now {} (local time)", local(self.now, tz));
        let _ = writeln!(out, "windows:");
        for (d, w) in &self.windows {
            let _ = writeln!(out, "  {d:<12} {}", if w.is_empty() { "(none)".into() } else { w.join(", ") });
        }
        let _ = writeln!(out, "planned hand-overs:");
        for h in &self.handovers {
            let _ = writeln!(out, "  {}  {:<7} {:<12} {}", local(h.at, tz), h.action, h.domain, h.note);
        }
        if self.overlaps.is_empty() {
            let _ = writeln!(out, "overlaps: none");
        }
        for (a, b) in &self.overlaps {
            let _ = writeln!(
                out,
                "OVERLAP: {} {}..{} and {} {}..{}: both expect the library",
                a.domain,
                local(a.start, tz),
                local(a.end, tz),
                b.domain,
                local(b.start, tz),
                local(b.end, tz)
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        out
    }
}

fn local<Tz: TimeZone>(t: DateTime<Utc>, tz: &Tz) -> String {
    t.with_timezone(tz).naive_local().format("%a %Y-%m-%d %H:%M").to_string()
}
