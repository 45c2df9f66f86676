//! The hand-over policy: one pure function that decides, for every trigger (a window tick, a
//! start or end hook, boot, shutdown, a manual acquire or release), what this domain does with
//! the library, and says why in words. Every trigger calls [`decide`]; nothing else decides
//! whether a window is open or whether the owner may let go.
//!
//! A domain's *claim* on the library is its open window (from `start - lead` to `end`, extended
//! while its jobs run, up to `end + grace`) or a request that has not expired. The rules:
//! - the holder keeps the library while its own claim lasts; another domain's request never
//!   takes it from the holder's open window;
//! - when the holder's claim has ended and it is idle, it releases if another claim waits (at
//!   `end + grace` it releases even with jobs running, and says it ended them); when no other
//!   claim waits it keeps the library, since a free library serves nobody and every hand-over
//!   avoided saves 11 to 15 minutes without NetBackup on two domains
//!   (`schedule.release_at_window_end = true` releases at window end anyway);
//! - a free library goes to the earliest waiting claim (ties: the order of `[domains]`), and a
//!   domain acquires only for a claim of its own that is still valid;
//! - a domain whose window is open while the library is elsewhere records a request that lasts
//!   until that window ends, so that the holder learns of the claim through the ledger.
//!
//! A hand-over therefore happens only when a claim changes, never back and forth.

use crate::config::Config;
use crate::exec::ExecError;
use crate::ledger::record::{Record, State};
use crate::runbook::Context;
use crate::schedule::{self, Occurrence};
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::collections::BTreeMap;

/// What asks the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// `ftl-window tick`, every minute.
    Tick,
    /// A NetBackup start hook: a job of this domain wants the drives.
    StartHook,
    /// A NetBackup end hook: a job (or session) of this domain ended.
    EndHook,
    /// The rc script at boot.
    Boot,
    /// The rc script at shutdown.
    Shutdown,
    /// `ftl-acquire` by an operator.
    ManualAcquire,
    /// `ftl-release` by an operator.
    ManualRelease,
}

/// The schedule settings the policy reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub lead: Duration,
    pub grace: Duration,
    /// Release at window end even when no other claim waits.
    pub release_at_window_end: bool,
    /// How long a request lasts when no window of the domain is open.
    pub request_ttl: Duration,
    /// Release at shutdown (when idle).
    pub release_at_shutdown: bool,
}

impl Settings {
    pub fn from_config(config: &Config) -> Settings {
        let d = |d: std::time::Duration| Duration::from_std(d).unwrap_or(Duration::MAX);
        Settings {
            lead: d(config.schedule.lead),
            grace: d(config.schedule.grace),
            release_at_window_end: config.schedule.release_at_window_end,
            request_ttl: d(config.requests.ttl),
            release_at_shutdown: config.hooks.release_at_shutdown,
        }
    }
}

/// What the policy knows of the site: every domain (in the order of `[domains]`), its window
/// occurrences as this host knows them (the local domain's NetBackup policies included), and the
/// settings. Read once per decision.
#[derive(Debug, Clone)]
pub struct Site {
    pub domains: Vec<String>,
    pub occurrences: BTreeMap<String, Vec<Occurrence>>,
    pub settings: Settings,
}

impl Site {
    /// The site around `now` (a week either side).
    pub fn read<Tz: TimeZone>(ctx: &Context, now: DateTime<Utc>, tz: &Tz) -> Result<Site, ExecError> {
        Site::read_span(ctx, now - Duration::days(8), now + Duration::days(8), tz)
    }

    /// The site with every occurrence that overlaps `[from, to)`.
    pub fn read_span<Tz: TimeZone>(
        ctx: &Context,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        tz: &Tz,
    ) -> Result<Site, ExecError> {
        Site::from_config(ctx.config, &ctx.domain, ctx.runner, from, to, tz)
    }

    /// The site around `now` as `config` describes it (a configuration read afresh).
    pub fn read_config<Tz: TimeZone>(
        config: &Config,
        me: &str,
        runner: &dyn crate::exec::Runner,
        now: DateTime<Utc>,
        tz: &Tz,
    ) -> Result<Site, ExecError> {
        Site::from_config(config, me, runner, now - Duration::days(8), now + Duration::days(8), tz)
    }

    fn from_config<Tz: TimeZone>(
        config: &Config,
        me: &str,
        runner: &dyn crate::exec::Runner,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        tz: &Tz,
    ) -> Result<Site, ExecError> {
        let (known, _) = schedule::known_windows(config, me, runner)?;
        let occurrences = known.iter().map(|(d, w)| (d.clone(), schedule::occurrences(d, w, from, to, tz))).collect();
        Ok(Site { domains: config.domain_order.clone(), occurrences, settings: Settings::from_config(config) })
    }

    pub fn situation<'a>(&'a self, record: &'a Record, me: &'a str, now: DateTime<Utc>, idle: bool) -> Situation<'a> {
        Situation {
            record,
            me,
            domains: &self.domains,
            occurrences: &self.occurrences,
            now,
            settings: self.settings,
            idle,
        }
    }
}

/// A hand-over the policy expects, for `ftl-window show`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Expected {
    pub at: DateTime<Utc>,
    pub action: &'static str,
    pub domain: String,
    pub why: String,
}

/// The hand-overs the policy will make from `record` over `[from, to)`, assuming every domain
/// idle and no request but those recorded: each domain's tick is asked at every boundary of a
/// claim (a window's `start - lead`, its end, its end plus the grace, a request's expiry).
pub fn forecast(site: &Site, record: &Record, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Expected> {
    let lead = site.settings.lead;
    let mut times: Vec<DateTime<Utc>> = site
        .occurrences
        .values()
        .flatten()
        .flat_map(|o| [o.start - lead, o.end, o.end + site.settings.grace])
        .chain(record.requests.iter().filter_map(|r| r.until))
        .chain(std::iter::once(from))
        .filter(|t| *t >= from && *t < to)
        .collect();
    times.sort();
    times.dedup();
    let mut record = record.clone();
    let mut expected = Vec::new();
    for now in times {
        record.requests.retain(|r| r.until.is_some_and(|u| u > now));
        // The holder first, then the others: a release and the acquire it makes way for happen
        // in the same minute.
        for _ in 0..2 {
            for me in &site.domains {
                let d = decide(Trigger::Tick, &site.situation(&record, me, now, true));
                match d {
                    Decision::Release { why, .. } => {
                        record.state = State::Free;
                        record.requests.retain(|r| &r.domain != me);
                        expected.push(Expected { at: now, action: "release", domain: me.clone(), why });
                    }
                    Decision::Acquire { why, .. } => {
                        record.state = State::Owned { owner: me.clone() };
                        expected.push(Expected { at: now, action: "acquire", domain: me.clone(), why });
                    }
                    Decision::Request { until, .. } => {
                        record.requests.retain(|r| &r.domain != me);
                        record.requests.push(crate::ledger::record::Request {
                            domain: me.clone(),
                            at: now,
                            until: Some(until),
                        });
                    }
                    _ => {}
                }
            }
        }
    }
    expected
}

/// Everything the policy looks at.
#[derive(Debug, Clone, Copy)]
pub struct Situation<'a> {
    pub record: &'a Record,
    /// This domain.
    pub me: &'a str,
    /// Every domain, in the order of `[domains]` (ties go to the first).
    pub domains: &'a [String],
    /// Every domain's window occurrences around now.
    pub occurrences: &'a BTreeMap<String, Vec<Occurrence>>,
    pub now: DateTime<Utc>,
    pub settings: Settings,
    /// This domain has no active job.
    pub idle: bool,
}

/// Why a domain wants the library, from when, until when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Claim {
    pub domain: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub by: By,
}

/// What a claim comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum By {
    /// An open window (its text).
    Window(String),
    /// A window that has ended while the domain's jobs still run, until the grace.
    Jobs(String),
    Request,
    Operator,
}

impl std::fmt::Display for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let until = fmt(self.until);
        match &self.by {
            By::Window(w) => write!(f, "window {w} (open until {until})"),
            By::Jobs(w) => write!(f, "window {w} has ended but its jobs still run (grace until {until})"),
            By::Request => write!(f, "a request until {until}"),
            By::Operator => write!(f, "an operator's request (until {until})"),
        }
    }
}

/// What this domain does.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Decision {
    /// Nothing to do now.
    Nothing { why: String },
    /// This domain holds the library and keeps it.
    Keep { why: String },
    /// Run the acquire runbook, for this claim of this domain.
    Acquire { why: String, claim: Claim },
    /// Record (or renew) this domain's request, valid until `until`.
    Request { why: String, until: DateTime<Utc> },
    /// Run the release runbook; `ended_jobs` when the grace has passed with jobs still running.
    Release { why: String, ended_jobs: bool },
    /// The holder must release but jobs still run: wait for them (or for the grace).
    WaitForJobs { why: String },
    /// Finish this domain's interrupted sequence.
    Resume { why: String },
    /// Bring this domain's driver, NetBackup and drives up (boot of the owner).
    BringUp { why: String },
}

impl Decision {
    pub fn why(&self) -> &str {
        match self {
            Decision::Nothing { why }
            | Decision::Keep { why }
            | Decision::Acquire { why, .. }
            | Decision::Request { why, .. }
            | Decision::Release { why, .. }
            | Decision::WaitForJobs { why }
            | Decision::Resume { why }
            | Decision::BringUp { why } => why,
        }
    }

    /// The one-word name of the action, for output.
    pub fn action(&self) -> &'static str {
        match self {
            Decision::Nothing { .. } => "nothing",
            Decision::Keep { .. } => "keep",
            Decision::Acquire { .. } => "acquire",
            Decision::Request { .. } => "request",
            Decision::Release { .. } => "release",
            Decision::WaitForJobs { .. } => "wait",
            Decision::Resume { .. } => "resume",
            Decision::BringUp { .. } => "bring up",
        }
    }
}

fn fmt(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The window occurrence of `domain` that is open at `now` (counting the lead).
pub fn open_window<'a>(s: &Situation<'a>, domain: &str) -> Option<&'a Occurrence> {
    schedule::wanted(s.occurrences.get(domain)?, s.now, s.settings.lead)
}

/// The latest occurrence of `domain` that has ended by now.
fn last_ended<'a>(s: &Situation<'a>, domain: &str) -> Option<&'a Occurrence> {
    schedule::last_ended(s.occurrences.get(domain)?, s.now)
}

/// `domain`'s claim now, if it has one. `busy` extends an ended window until its grace.
pub fn claim(s: &Situation, domain: &str, busy: bool) -> Option<Claim> {
    let lead = s.settings.lead;
    let window = open_window(s, domain).map(|o| Claim {
        domain: domain.into(),
        since: o.start - lead,
        until: o.end,
        by: By::Window(o.window.clone()),
    });
    let extended = || {
        last_ended(s, domain).filter(|o| busy && s.now < o.end + s.settings.grace).map(|o| Claim {
            domain: domain.into(),
            since: o.start - lead,
            until: o.end + s.settings.grace,
            by: By::Jobs(o.window.clone()),
        })
    };
    let request = s
        .record
        .request_of(domain)
        .and_then(|r| r.until.filter(|u| *u > s.now).map(|u| (r, u)))
        .map(|(r, u)| Claim { domain: domain.into(), since: r.at, until: u, by: By::Request });
    // The earliest-starting claim stands for the domain: it decides its place in the queue.
    [window.or_else(extended), request].into_iter().flatten().min_by_key(|c| c.since)
}

/// Every other domain's claim, earliest first (ties: the order of `[domains]`). A domain with
/// both a window and a request waits with each (the request matters to an operator's acquire).
pub fn waiting(s: &Situation) -> Vec<Claim> {
    let mut claims: Vec<(usize, Claim)> = s
        .domains
        .iter()
        .enumerate()
        .filter(|(_, d)| d.as_str() != s.me && s.record.state.owner() != Some(d.as_str()))
        .flat_map(|(i, d)| {
            let request = s
                .record
                .request_of(d)
                .and_then(|r| r.until.filter(|u| *u > s.now).map(|u| (r, u)))
                .map(|(r, u)| Claim { domain: d.clone(), since: r.at, until: u, by: By::Request });
            claim(s, d, false).into_iter().chain(request).map(move |c| (i, c))
        })
        .collect();
    claims.sort_by_key(|(i, c)| (c.since, *i));
    claims.into_iter().map(|(_, c)| c).collect()
}

/// The expiry of a request this domain records now: the end of its open window, else the ttl.
pub fn request_until(s: &Situation) -> DateTime<Utc> {
    open_window(s, s.me).map(|o| o.end).unwrap_or(s.now + s.settings.request_ttl)
}

/// What this domain does when `trigger` asks, in `s`.
pub fn decide(trigger: Trigger, s: &Situation) -> Decision {
    let me = s.me;
    let record = s.record;
    match &record.state {
        State::Releasing { holder, .. } | State::Acquiring { holder, .. } if holder.domain == me => {
            return match trigger {
                Trigger::Boot | Trigger::Shutdown | Trigger::StartHook | Trigger::EndHook => Decision::Nothing {
                    why: format!(
                        "this domain's {} was interrupted; a tick or an operator resumes it",
                        record.state.name()
                    ),
                },
                _ => Decision::Resume { why: format!("this domain's {} was interrupted", record.state.name()) },
            };
        }
        State::Broken { step, .. } if record.state.holder().is_some_and(|h| h.domain == me) => {
            return Decision::Nothing {
                why: format!(
                    "the ledger is broken at {} {}; an operator must rerun the command or use --force",
                    step.id, step.name
                ),
            }
        }
        _ => {}
    }
    let mine = matches!(&record.state, State::Owned { owner } if owner == me);
    match trigger {
        Trigger::StartHook if mine => Decision::Keep { why: "the library is here".into() },
        Trigger::ManualAcquire if mine => Decision::Nothing { why: format!("{me} already owns the library") },
        Trigger::Boot if mine => Decision::BringUp { why: format!("the ledger names {me} as owner") },
        Trigger::Boot => Decision::Nothing { why: format!("the ledger does not name {me} as owner") },
        Trigger::Shutdown if mine && s.settings.release_at_shutdown && s.idle => {
            Decision::Release { why: "the domain shuts down and no job is active".into(), ended_jobs: false }
        }
        Trigger::Shutdown if mine && s.settings.release_at_shutdown => {
            Decision::Keep { why: "not idle: jobs are active at shutdown; keeping the library".into() }
        }
        Trigger::Shutdown if mine => {
            Decision::Keep { why: "hooks.release_at_shutdown is false; keeping the library".into() }
        }
        Trigger::Shutdown => Decision::Nothing { why: format!("{me} does not own the library") },
        Trigger::ManualRelease if mine => Decision::Release { why: "an operator asked".into(), ended_jobs: false },
        Trigger::ManualRelease => Decision::Nothing { why: format!("{me} does not own the library") },
        _ if mine => holder_decides(s),
        Trigger::ManualAcquire => match &record.state {
            // The operator's request is this domain's claim.
            State::Free => Decision::Acquire {
                why: "an operator asked and the library is free".into(),
                claim: Claim { domain: me.into(), since: s.now, until: request_until(s), by: By::Operator },
            },
            _ => wants_elsewhere(s, true),
        },
        Trigger::StartHook => match &record.state {
            State::Free => free(s, true),
            _ => wants_elsewhere(s, true),
        },
        Trigger::EndHook => Decision::Nothing { why: format!("{me} does not own the library") },
        Trigger::Tick => match &record.state {
            State::Free => free(s, false),
            _ => wants_elsewhere(s, false),
        },
    }
}

/// The holder, on a tick or a hook: keep while its claim lasts, release when it ended and another
/// claim waits.
fn holder_decides(s: &Situation) -> Decision {
    if let Some(c) = claim(s, s.me, !s.idle) {
        return Decision::Keep { why: format!("{} claims the library: {c}", s.me) };
    }
    let others = waiting(s);
    let ended = last_ended(s, s.me);
    let past_grace = ended.is_some_and(|o| s.now >= o.end + s.settings.grace);
    let reason = match (others.first(), s.settings.release_at_window_end) {
        (Some(next), _) => format!("{}'s claim has ended and {} waits ({next})", s.me, next.domain),
        (None, true) => format!("{}'s window has ended and schedule.release_at_window_end is set", s.me),
        (None, false) => {
            return Decision::Keep {
                why: format!("{}'s claim has ended but no other domain claims the library; keeping it", s.me),
            }
        }
    };
    if s.idle {
        Decision::Release { why: format!("{reason}; no job is active"), ended_jobs: false }
    } else if past_grace {
        let o = ended.expect("past the grace of an ended window");
        Decision::Release {
            why: format!(
                "{reason}; window {} ended at {} and the grace of {} has passed: the running jobs are ended",
                o.window,
                fmt(o.end),
                crate::duration::format(s.settings.grace.to_std().unwrap_or_default())
            ),
            ended_jobs: true,
        }
    } else {
        Decision::WaitForJobs { why: format!("{reason}; waiting for the active jobs to end") }
    }
}

/// The library is free: the earliest waiting claim takes it.
fn free(s: &Situation, hook: bool) -> Decision {
    let Some(mine) = claim(s, s.me, false) else {
        if hook {
            // A starting job is a claim: recorded first, then served like any other.
            let until = request_until(s);
            return Decision::Request {
                why: format!("a job of {} starts; it claims the library until {}", s.me, fmt(until)),
                until,
            };
        }
        return Decision::Nothing { why: format!("the library is free but {} has no claim on it", s.me) };
    };
    match waiting(s).into_iter().find(|c| (c.since, rank(s, &c.domain)) < (mine.since, rank(s, s.me))) {
        Some(earlier) => Decision::Nothing {
            why: format!("the library is free, but {}'s claim ({earlier}) is earlier", earlier.domain),
        },
        None => Decision::Acquire { why: format!("the library is free and {} claims it: {mine}", s.me), claim: mine },
    }
}

fn rank(s: &Situation, domain: &str) -> usize {
    s.domains.iter().position(|d| d == domain).unwrap_or(usize::MAX)
}

/// The library is elsewhere: make the claim known through a request, once.
fn wants_elsewhere(s: &Situation, asked: bool) -> Decision {
    let holder =
        s.record.state.owner().or(s.record.state.holder().map(|h| h.domain.as_str())).unwrap_or("another domain");
    let window = open_window(s, s.me);
    if window.is_none() && !asked {
        return Decision::Nothing { why: format!("{holder} has the library and {} has no open window", s.me) };
    }
    let until = request_until(s);
    match s.record.request_of(s.me) {
        Some(r) if r.until.is_some_and(|u| u >= until) => Decision::Nothing {
            why: format!("{holder} has the library; {}'s request stands until {}", s.me, fmt(r.until.unwrap_or(until))),
        },
        _ => Decision::Request {
            why: format!("{holder} has the library; {} claims it until {}", s.me, fmt(until)),
            until,
        },
    }
}

#[cfg(test)]
mod tests;
