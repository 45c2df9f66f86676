//! What `ftl-status` shows: the record in words or as JSON, the journal's last lines, the
//! prechecks. Reading status reads the ledger record only (and the end of the journal for
//! `--history`), so it costs the same on a ledger with a million journal lines as on a new one.

use crate::ledger::journal::Entry;
use crate::ledger::record::{Record, State};
use crate::runbook::precheck::Check;
use chrono::{DateTime, Utc};
use std::fmt::Write;

pub fn describe(record: &Record, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let age = crate::duration::format(std::time::Duration::from_secs((now - record.since).num_seconds().max(0) as u64));
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

pub fn to_json(record: &Record, history: Option<(&[Entry], usize)>, checks: Option<&[Check]>) -> serde_json::Value {
    let mut value = record.to_value();
    if let Some((entries, skipped)) = history {
        value["history"] = serde_json::to_value(entries).unwrap_or_default();
        value["history_skipped"] = skipped.into();
    }
    if let Some(checks) = checks {
        value["checks"] = serde_json::to_value(checks).unwrap_or_default();
    }
    value
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
