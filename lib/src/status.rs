//! What `ftl-status` shows: the record in words or as JSON, the journal's last lines, the
//! prechecks, and the libraries under an etcd prefix. Reading status reads the ledger record
//! only (with one probe of the holder's run lock when a hand-over is in flight or broken, and the
//! end of the journal for `--history`), so it costs the same on a ledger with a million journal
//! lines as on a new one.

use crate::ledger::etcd::Library;
use crate::ledger::journal::Entry;
use crate::ledger::record::{Record, State};
use crate::ledger::{Holding, Liveness};
use crate::runbook::precheck::Check;
use chrono::{DateTime, Utc};
use std::fmt::Write;

/// How long before `now` `then` was, in words ("0s" for a time in the future).
fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    crate::duration::format(std::time::Duration::from_secs((now - then).num_seconds().max(0) as u64))
}

/// The record in words; with `holding` (see [`crate::ledger::liveness`]), whether its holder
/// still runs.
pub fn describe(record: &Record, holding: Option<&Holding>, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let age = ago(record.since, now);
    let _ = match &record.state {
        State::Free => {
            writeln!(
                out,
                "library {}: free (since {}, {age} ago)",
                record.library,
                record.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        }
        State::Owned { owner } => writeln!(
            out,
            "library {}: owned by {owner} (since {}, {age} ago)",
            record.library,
            record.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        State::Releasing { holder, step } | State::Acquiring { holder, step } | State::Broken { holder, step } => {
            writeln!(
                out,
                "library {}: {} by {} at {} {} (step started {}; holder pid {} on {})",
                record.library,
                record.state.name(),
                holder.domain,
                step.id,
                step.name,
                step.started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                holder.pid,
                holder.host
            )
        }
    };
    if let Some(h) = holding {
        let changed = format!(
            "the record last changed {} ago ({})",
            ago(h.changed, now),
            h.changed.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        let _ = match &h.liveness {
            Liveness::Running { note } => writeln!(out, "holder running: {note} holds {}'s run lock", h.domain),
            Liveness::Lost => {
                let op = record.state.step().map(|s| s.operation.to_string()).unwrap_or_default();
                writeln!(
                    out,
                    "holder LOST: no process holds {}'s run lock; {changed}. On {} rerun ftl-{op} to resume, \
                     or take over with --force --reason",
                    h.domain, h.domain
                )
            }
            Liveness::Unknown { error } => {
                writeln!(out, "holder unknown: cannot tell whether {}'s sequence runs ({error}); {changed}", h.domain)
            }
        };
    }
    let _ = writeln!(out, "epoch {}", record.epoch);
    for r in &record.requests {
        let until = r
            .until
            .map(|u| format!(" until {}", u.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "request: {} since {}{until}",
            r.domain,
            r.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
    }
    if let Some(e) = &record.last_error {
        let _ = writeln!(
            out,
            "last error at {} ({}): {}",
            e.step,
            e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            e.message
        );
        if let Some(c) = &e.command {
            let _ = writeln!(out, "  command: {c}");
        }
    }
    out
}

pub fn describe_history(entries: &[Entry], skipped: usize) -> String {
    let mut out = String::new();
    for e in entries {
        let secs = e.detail.get("completed").and_then(|c| c.get("secs")).and_then(|s| s.as_f64());
        let took = secs.map(|s| format!("  (previous step {s:.1}s)")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{:>6} {} {:<10} {} -> {}: {}{took}",
            e.epoch,
            e.at.format("%Y-%m-%d %H:%M:%S"),
            e.domain,
            e.from,
            e.to,
            e.event
        );
        // An override says who, why and what came of it; a failure, what failed.
        if let Some(forced) = e.detail.get("forced") {
            let field = |k: &str| forced.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string();
            let _ = writeln!(out, "         forced by {} on {}: {}", field("user"), field("host"), field("reason"));
            if let Some(outcome) = forced.get("outcome").and_then(|v| v.as_str()) {
                let _ = writeln!(out, "         outcome: {outcome}");
            }
        }
        if matches!(e.event.as_str(), "roll back" | "broken") {
            if let Some(error) = e.record.get("last_error").and_then(|v| v.get("message")).and_then(|v| v.as_str()) {
                let _ = writeln!(out, "         error: {error}");
            }
        }
    }
    if skipped > 0 {
        let _ = writeln!(out, "({skipped} unreadable journal line(s) skipped)");
    }
    out
}

pub fn describe_checks(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let _ = writeln!(out, "[{}] {}: {}", if c.ok { "pass" } else { "FAIL" }, c.name, c.evidence);
    }
    out
}

/// The record as JSON; with `holding`, a `liveness` object: the holder's domain, `state`
/// (`running`, `lost` or `unknown`), the run lock's `note` or the `error`, and when the record
/// last `changed` and how many seconds before `now` (`changed_secs_ago`).
pub fn to_json(
    record: &Record,
    holding: Option<&Holding>,
    history: Option<(&[Entry], usize)>,
    checks: Option<&[Check]>,
    now: DateTime<Utc>,
) -> serde_json::Value {
    let mut value = record.to_value();
    if let Some(h) = holding {
        let mut liveness = serde_json::json!({
            "domain": h.domain,
            "state": h.word(),
            "changed": h.changed,
            "changed_secs_ago": (now - h.changed).num_seconds().max(0),
        });
        match &h.liveness {
            Liveness::Running { note } => liveness["note"] = note.clone().into(),
            Liveness::Unknown { error } => liveness["error"] = error.clone().into(),
            Liveness::Lost => {}
        }
        value["liveness"] = liveness;
    }
    if let Some((entries, skipped)) = history {
        value["history"] = serde_json::to_value(entries).unwrap_or_default();
        value["history_skipped"] = skipped.into();
    }
    if let Some(checks) = checks {
        value["checks"] = serde_json::to_value(checks).unwrap_or_default();
    }
    value
}

/// The libraries found under `parent` ([`crate::ledger::EtcdStore::libraries`]), one line each.
pub fn describe_libraries(parent: &str, found: &[Library]) -> String {
    if found.is_empty() {
        return format!("no library under {}/ (no key there ends in /state)\n", parent.trim_end_matches('/'));
    }
    let mut rows = vec![["PREFIX", "LIBRARY", "STATE", "OWNER", "EPOCH", "REQUESTS"].map(String::from).to_vec()];
    for l in found {
        rows.push(match &l.record {
            Ok(r) => {
                let requests: Vec<&str> = r.requests.iter().map(|q| q.domain.as_str()).collect();
                let state = match r.state.holder() {
                    Some(h) => format!("{} by {}", r.state.name(), h.domain),
                    None => r.state.name().to_string(),
                };
                vec![
                    l.prefix.clone(),
                    r.library.clone(),
                    state,
                    r.state.owner().unwrap_or("-").to_string(),
                    r.epoch.to_string(),
                    if requests.is_empty() { "-".into() } else { requests.join(",") },
                ]
            }
            Err(reason) => vec![l.prefix.clone(), "?".into(), format!("unreadable: {reason}")],
        });
    }
    let widths: Vec<usize> =
        (0..6).map(|c| rows.iter().filter(|r| r.len() == 6).map(|r| r[c].len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| if c + 1 < row.len() { format!("{cell:<w$}", w = widths[c]) } else { cell.clone() })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  "));
    }
    out
}

/// The libraries found under a parent prefix as JSON: a list of objects with `prefix`,
/// `library`, `state`, `owner`, `holder`, `epoch` and `requests` (the domains asking), or
/// `prefix` and `error` for a record that cannot be read.
pub fn libraries_json(found: &[Library]) -> serde_json::Value {
    found
        .iter()
        .map(|l| match &l.record {
            Ok(r) => serde_json::json!({
                "prefix": l.prefix,
                "library": r.library,
                "state": r.state.name(),
                "owner": r.state.owner(),
                "holder": r.state.holder().map(|h| &h.domain),
                "epoch": r.epoch,
                "requests": r.requests.iter().map(|q| &q.domain).collect::<Vec<_>>(),
            }),
            Err(reason) => serde_json::json!({"prefix": l.prefix, "error": reason}),
        })
        .collect()
}

/// A label value as the exposition format writes it: backslash, double quote and newline escaped.
fn label(value: &str) -> String {
    value.replace('\\', r"\\").replace('"', r#"\""#).replace('\n', r"\n")
}

/// Metrics for node_exporter's textfile collector: who owns the library, the state, the epoch,
/// the time since the last transition and the last hand-over durations, so that a stranded or
/// broken library raises an alert.
pub fn prometheus(config: &crate::config::Config, record: &Record, recent: &[Entry], now: DateTime<Utc>) -> String {
    let lib = label(&record.library);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP ftl_library_owner 1 for the domain that owns (or is releasing) the library, 0 for the others."
    );
    let _ = writeln!(out, "# TYPE ftl_library_owner gauge");
    for domain in config.domains.keys() {
        let _ = writeln!(
            out,
            "ftl_library_owner{{library=\"{lib}\",domain=\"{}\"}} {}",
            label(domain),
            u8::from(record.state.owner() == Some(domain.as_str()))
        );
    }
    let _ = writeln!(out, "# HELP ftl_library_state 1 for the ledger's current state.");
    let _ = writeln!(out, "# TYPE ftl_library_state gauge");
    for state in ["free", "owned", "releasing", "acquiring", "broken"] {
        let _ = writeln!(
            out,
            "ftl_library_state{{library=\"{lib}\",state=\"{state}\"}} {}",
            u8::from(record.state.name().to_string() == state)
        );
    }
    let _ = writeln!(out, "# HELP ftl_ledger_epoch The ledger's epoch (one more per transition).");
    let _ = writeln!(out, "# TYPE ftl_ledger_epoch counter");
    let _ = writeln!(out, "ftl_ledger_epoch{{library=\"{lib}\"}} {}", record.epoch);
    let _ = writeln!(out, "# HELP ftl_seconds_since_transition Seconds since the state last changed.");
    let _ = writeln!(out, "# TYPE ftl_seconds_since_transition gauge");
    let _ = writeln!(
        out,
        "ftl_seconds_since_transition{{library=\"{lib}\"}} {}",
        (now - record.since).num_seconds().max(0)
    );
    let _ = writeln!(out, "# HELP ftl_requests Domains asking for the library.");
    let _ = writeln!(out, "# TYPE ftl_requests gauge");
    let _ = writeln!(out, "ftl_requests{{library=\"{lib}\"}} {}", record.requests.len());
    let _ = writeln!(out, "# HELP ftl_last_handover_seconds Duration of the last completed release and acquire.");
    let _ = writeln!(out, "# TYPE ftl_last_handover_seconds gauge");
    for (operation, to) in [("release", "free"), ("acquire", "owned")] {
        let last = recent.iter().rev().find(|e| e.event == "finish" && e.to.to_string() == to);
        if let Some(secs) = last.and_then(|e| e.detail.get("total_secs")).and_then(|s| s.as_f64()) {
            let _ = writeln!(out, "ftl_last_handover_seconds{{library=\"{lib}\",operation=\"{operation}\"}} {secs}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values_are_escaped_per_the_exposition_format() {
        assert_eq!(super::label("L3500"), "L3500");
        assert_eq!(super::label("a\\b\"c\nd"), r#"a\\b\"c\nd"#);
    }
}
