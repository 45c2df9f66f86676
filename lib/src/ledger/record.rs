//! The ownership record (`state.json`) and its state machine.
//!
//! [`State`] is an enum whose variants own their data, so an `owned` record without an owner
//! cannot be built. [`Record::apply`] is the only way to change a record: it checks the
//! transition against the rules of SPEC section 3 (only the holder's domain advances a moving
//! record; forced takeovers need a reason) and names every forbidden transition. The on-disk
//! form is the flat JSON of the SPEC; [`Record::from_json`] validates it field by field.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

pub const VERSION: u32 = 1;

/// The process that runs (or ran) a sequence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holder {
    pub domain: String,
    pub host: String,
    pub pid: u32,
    pub boot_id: String,
}

/// A domain's standing request for the library.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub domain: String,
    pub at: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Release,
    Acquire,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Release => "release",
            Operation::Acquire => "acquire",
        })
    }
}

/// The runbook step a moving or broken record is at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRef {
    pub operation: Operation,
    pub id: String,
    pub name: String,
    pub started: DateTime<Utc>,
}

/// What went wrong, kept in `last_error` for the operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    pub step: String,
    pub command: Option<String>,
    pub message: String,
    pub output: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateName {
    Free,
    Owned,
    Releasing,
    Acquiring,
    Broken,
}

impl fmt::Display for StateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StateName::Free => "free",
            StateName::Owned => "owned",
            StateName::Releasing => "releasing",
            StateName::Acquiring => "acquiring",
            StateName::Broken => "broken",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Free,
    Owned {
        owner: String,
    },
    /// The owner is taking the library away; it still owns it until the sequence ends.
    Releasing {
        holder: Holder,
        step: StepRef,
    },
    Acquiring {
        holder: Holder,
        step: StepRef,
    },
    /// A sequence stopped where no safe state could be restored; `last_error` says why.
    Broken {
        holder: Holder,
        step: StepRef,
    },
}

impl State {
    pub fn name(&self) -> StateName {
        match self {
            State::Free => StateName::Free,
            State::Owned { .. } => StateName::Owned,
            State::Releasing { .. } => StateName::Releasing,
            State::Acquiring { .. } => StateName::Acquiring,
            State::Broken { .. } => StateName::Broken,
        }
    }

    pub fn owner(&self) -> Option<&str> {
        match self {
            State::Owned { owner } => Some(owner),
            State::Releasing { holder, .. } => Some(&holder.domain),
            _ => None,
        }
    }

    pub fn holder(&self) -> Option<&Holder> {
        match self {
            State::Releasing { holder, .. } | State::Acquiring { holder, .. } | State::Broken { holder, .. } => {
                Some(holder)
            }
            _ => None,
        }
    }

    pub fn step(&self) -> Option<&StepRef> {
        match self {
            State::Releasing { step, .. } | State::Acquiring { step, .. } | State::Broken { step, .. } => Some(step),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub library: String,
    pub epoch: u64,
    pub since: DateTime<Utc>,
    pub state: State,
    pub requests: Vec<Request>,
    pub last_error: Option<Failure>,
}

/// What a forced takeover sets the record to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Forced {
    Free,
    Begin { holder: Holder, step: StepRef },
}

/// A change to the record. Every committed event adds exactly 1 to the epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Start, resume or advance a sequence to `step`.
    Begin { holder: Holder, step: StepRef },
    /// The sequence of `domain` completed.
    Finish { domain: String },
    /// The sequence of `domain` failed and was rolled back to the last safe state.
    RollBack { domain: String, failure: Failure },
    /// The sequence of `domain` failed where no safe state exists.
    Fail { domain: String, failure: Failure },
    /// `domain` asks for the library (replacing its earlier request when `until` differs).
    Request(Request),
    /// `domain` no longer asks.
    Withdraw { domain: String },
    /// An operator override, whatever the current state.
    Force { domain: String, reason: String, to: Forced },
}

impl Event {
    pub fn label(&self) -> String {
        match self {
            Event::Begin { step, .. } => format!("{} {} {}", step.operation, step.id, step.name),
            Event::Finish { .. } => "finish".into(),
            Event::RollBack { .. } => "roll back".into(),
            Event::Fail { .. } => "broken".into(),
            Event::Request(_) => "request".into(),
            Event::Withdraw { .. } => "withdraw request".into(),
            Event::Force { .. } => "forced".into(),
        }
    }
}

/// A transition the rules forbid. Each variant names who holds what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Forbidden {
    #[error("the record's epoch {epoch} cannot grow (a record no ftl wrote: repair it from the journal)")]
    EpochExhausted { epoch: u64 },
    #[error("the library is {state} by `{holder}`, not by `{domain}`")]
    HeldByOther { state: StateName, holder: String, domain: String },
    #[error("`{domain}` cannot {operation} the library while it is {state}")]
    WrongState { domain: String, operation: Operation, state: StateName },
    #[error("`{domain}` cannot resume a broken {found} sequence with {wanted}")]
    OtherOperation { domain: String, found: Operation, wanted: Operation },
    #[error("`{domain}` has no sequence in progress (the library is {state})")]
    NoSequence { domain: String, state: StateName },
    #[error("`{domain}` already owns the library; it cannot request it")]
    AlreadyOwner { domain: String },
    #[error("a forced change needs a reason (--reason TEXT)")]
    NoReason,
}

impl Record {
    pub fn new(library: &str, state: State, now: DateTime<Utc>) -> Record {
        Record { library: library.into(), epoch: 0, since: now, state, requests: Vec::new(), last_error: None }
    }

    pub fn request_of(&self, domain: &str) -> Option<&Request> {
        self.requests.iter().find(|r| r.domain == domain)
    }

    /// The record after `event`, or `None` when the event changes nothing (withdrawing a request
    /// that was never made). The epoch grows by exactly one.
    pub fn apply(&self, event: &Event, now: DateTime<Utc>) -> Result<Option<Record>, Forbidden> {
        let mut next = self.clone();
        match event {
            Event::Begin { holder, step } => {
                next.state = self.begin(holder, step)?;
            }
            Event::Finish { domain } => {
                next.state = match self.moving_by(domain)? {
                    Operation::Release => State::Free,
                    Operation::Acquire => State::Owned { owner: domain.clone() },
                };
                // A request is a claim with an expiry: acquiring does not end it (the new owner
                // keeps the library while it lasts); releasing gives it up.
                if next.state.name() == StateName::Free {
                    next.requests.retain(|r| &r.domain != domain);
                }
                // A sequence that completes leaves no error behind (the journal keeps it).
                next.last_error = None;
            }
            Event::RollBack { domain, failure } => {
                next.state = match self.moving_by(domain)? {
                    Operation::Release => State::Owned { owner: domain.clone() },
                    Operation::Acquire => State::Free,
                };
                next.last_error = Some(failure.clone());
            }
            Event::Fail { domain, failure } => {
                self.moving_by(domain)?;
                let (holder, step) = (self.state.holder().cloned(), self.state.step().cloned());
                next.state = State::Broken {
                    holder: holder.expect("moving has a holder"),
                    step: step.expect("moving has a step"),
                };
                next.last_error = Some(failure.clone());
            }
            Event::Request(request) => {
                if self.state.owner() == Some(request.domain.as_str()) {
                    return Err(Forbidden::AlreadyOwner { domain: request.domain.clone() });
                }
                // Asking again for as long as before changes nothing (many hooks ask at once).
                if self.request_of(&request.domain).is_some_and(|r| r.until == request.until) {
                    return Ok(None);
                }
                next.requests.retain(|r| r.domain != request.domain);
                next.requests.push(request.clone());
            }
            Event::Withdraw { domain } => {
                if self.request_of(domain).is_none() {
                    return Ok(None);
                }
                next.requests.retain(|r| &r.domain != domain);
            }
            Event::Force { reason, to, .. } => {
                if reason.trim().is_empty() {
                    return Err(Forbidden::NoReason);
                }
                next.state = match to {
                    Forced::Free => State::Free,
                    Forced::Begin { holder, step } => match step.operation {
                        Operation::Release => State::Releasing { holder: holder.clone(), step: step.clone() },
                        Operation::Acquire => State::Acquiring { holder: holder.clone(), step: step.clone() },
                    },
                };
            }
        }
        // Every request has an expiry: an expired one (or one without, from an older ftl) is no
        // claim, and goes with the next commit.
        next.requests.retain(|r| r.until.is_some_and(|u| u > now));
        next.epoch = self.epoch.checked_add(1).ok_or(Forbidden::EpochExhausted { epoch: self.epoch })?;
        if next.state.name() != self.state.name() || next.state.owner() != self.state.owner() {
            next.since = now;
        }
        Ok(Some(next))
    }

    fn begin(&self, holder: &Holder, step: &StepRef) -> Result<State, Forbidden> {
        let domain = &holder.domain;
        let moving = |op: Operation| match op {
            Operation::Release => State::Releasing { holder: holder.clone(), step: step.clone() },
            Operation::Acquire => State::Acquiring { holder: holder.clone(), step: step.clone() },
        };
        let wanted = step.operation;
        match (&self.state, wanted) {
            (State::Owned { owner }, Operation::Release) if owner == domain => Ok(moving(wanted)),
            (State::Free, Operation::Acquire) => Ok(moving(wanted)),
            (State::Releasing { holder: h, .. }, Operation::Release)
            | (State::Acquiring { holder: h, .. }, Operation::Acquire)
                if &h.domain == domain =>
            {
                Ok(moving(wanted))
            }
            (State::Broken { holder: h, step: s }, _) if &h.domain == domain => {
                if s.operation == wanted {
                    Ok(moving(wanted))
                } else {
                    Err(Forbidden::OtherOperation { domain: domain.clone(), found: s.operation, wanted })
                }
            }
            (State::Owned { owner }, _) if owner != domain => {
                Err(Forbidden::HeldByOther { state: StateName::Owned, holder: owner.clone(), domain: domain.clone() })
            }
            (state, _) => match state.holder() {
                Some(h) if &h.domain != domain => Err(Forbidden::HeldByOther {
                    state: state.name(),
                    holder: h.domain.clone(),
                    domain: domain.clone(),
                }),
                _ => Err(Forbidden::WrongState { domain: domain.clone(), operation: wanted, state: state.name() }),
            },
        }
    }

    /// The operation `domain` has in flight, or why it has none.
    fn moving_by(&self, domain: &str) -> Result<Operation, Forbidden> {
        match &self.state {
            State::Releasing { holder, step } | State::Acquiring { holder, step } if holder.domain == domain => {
                Ok(step.operation)
            }
            State::Releasing { holder, .. } | State::Acquiring { holder, .. } | State::Broken { holder, .. }
                if holder.domain != domain =>
            {
                Err(Forbidden::HeldByOther {
                    state: self.state.name(),
                    holder: holder.domain.clone(),
                    domain: domain.into(),
                })
            }
            state => Err(Forbidden::NoSequence { domain: domain.into(), state: state.name() }),
        }
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(&Wire::from(self)).expect("a record always serializes");
        text.push('\n');
        text
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(Wire::from(self)).expect("a record always serializes")
    }

    /// Parses and validates `state.json`; the error says what is wrong, in words.
    pub fn from_json(text: &str) -> Result<Record, String> {
        if text.trim().is_empty() {
            return Err("the file is empty".into());
        }
        let wire: Wire = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Record::try_from(wire)
    }

    pub fn from_value(value: serde_json::Value) -> Result<Record, String> {
        let wire: Wire = serde_json::from_value(value).map_err(|e| e.to_string())?;
        Record::try_from(wire)
    }
}

/// The flat on-disk form of SPEC section 3.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    version: u32,
    library: String,
    state: StateName,
    owner: Option<String>,
    epoch: u64,
    since: DateTime<Utc>,
    holder: Option<Holder>,
    step: Option<StepRef>,
    #[serde(default)]
    requests: Vec<Request>,
    last_error: Option<Failure>,
}

impl From<&Record> for Wire {
    fn from(r: &Record) -> Wire {
        Wire {
            version: VERSION,
            library: r.library.clone(),
            state: r.state.name(),
            owner: r.state.owner().map(str::to_string),
            epoch: r.epoch,
            since: r.since,
            holder: r.state.holder().cloned(),
            step: r.state.step().cloned(),
            requests: r.requests.clone(),
            last_error: r.last_error.clone(),
        }
    }
}

impl TryFrom<Wire> for Record {
    type Error = String;

    fn try_from(w: Wire) -> Result<Record, String> {
        if w.version != VERSION {
            return Err(format!("unknown version {} (this ftl reads version {VERSION})", w.version));
        }
        let need = |what: &str| format!("state `{}` without `{what}`", w.state);
        let state = match w.state {
            StateName::Free => {
                if let Some(owner) = &w.owner {
                    return Err(format!("state `free` names an owner (`{owner}`)"));
                }
                State::Free
            }
            StateName::Owned => State::Owned { owner: w.owner.clone().ok_or_else(|| need("owner"))? },
            StateName::Releasing => {
                let holder = w.holder.clone().ok_or_else(|| need("holder"))?;
                if w.owner.as_deref() != Some(holder.domain.as_str()) {
                    return Err("state `releasing` whose owner is not the holder's domain".into());
                }
                State::Releasing { holder, step: w.step.clone().ok_or_else(|| need("step"))? }
            }
            StateName::Acquiring => State::Acquiring {
                holder: w.holder.clone().ok_or_else(|| need("holder"))?,
                step: w.step.clone().ok_or_else(|| need("step"))?,
            },
            StateName::Broken => {
                if w.last_error.is_none() {
                    return Err(need("last_error"));
                }
                State::Broken {
                    holder: w.holder.clone().ok_or_else(|| need("holder"))?,
                    step: w.step.clone().ok_or_else(|| need("step"))?,
                }
            }
        };
        if matches!(state, State::Acquiring { .. } | State::Broken { .. }) && w.owner.is_some() {
            return Err(format!("state `{}` names an owner", w.state));
        }
        if matches!(state, State::Free | State::Owned { .. }) && (w.holder.is_some() || w.step.is_some()) {
            return Err(format!("state `{}` has a holder or step (only moving records do)", w.state));
        }
        Ok(Record {
            library: w.library,
            epoch: w.epoch,
            since: w.since,
            state,
            requests: w.requests,
            last_error: w.last_error,
        })
    }
}
