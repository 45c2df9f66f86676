//! The fake `bppllist POLICY -U`: each domain of a simulated site has two NetBackup policies
//! (`daily-<domain>`, incremental every night, and `weekly-<domain>`, a full on Sunday), written
//! by `ftl-sim init` into `DIR/<domain>/policies/` in the layout `bppllist -U` prints, with the
//! domain's default window as their daily windows.

use crate::platform::Site;
use crate::timing::secs;

const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

fn window_lines(days: &[usize], start: (u32, u32), end: (u32, u32)) -> String {
    let crosses = end <= start;
    days.iter()
        .map(|&d| {
            let end_day = if crosses { (d + 1) % 7 } else { d };
            format!(
                "          {:<10} {:02}:{:02}:00  -->  {:<10} {:02}:{:02}:00\n",
                DAYS[d], start.0, start.1, DAYS[end_day], end.0, end.1
            )
        })
        .collect()
}

/// The two policies of a domain whose window opens at `start` and closes at `end` every day.
pub fn policies(domain: &str, start: (u32, u32), end: (u32, u32)) -> Vec<(String, String)> {
    let header = |name: &str, kind: &str| {
        format!(
            "------------------------------------------------------------\n\nPolicy Name:       {name}\n\n  Policy Type:         Standard\n  Active:              yes\n  Effective date:      11/01/2026 00:00:00\n  Client Compress:     no\n  Follow NFS Mnts:     no\n  Cross Mount Points:  no\n  Collect TIR info:    no\n  Block Incremental:   no\n  Mult. Data Streams:  yes\n  Perform Snapshot Backup:   no\n  Residence:           {domain}-dlt-robot-tld-0\n  Volume Pool:         NetBackup\n  Keyword:             (none specified)\n\n  HW/OS/Client:  Solaris       Solaris8      {domain}\n\n  Include:  ALL_LOCAL_DRIVES\n\n  Schedule:          {kind}\n"
        )
    };
    let daily = format!(
        "{}    Type:            Differential Incremental Backup\n    Frequency:       every 1 day\n    Calendar sched:  no\n    Number Copies:   1\n    Maximum MPX:     1\n    Retention Level: 1 (2 weeks)\n    Residence:       (specific storage unit not required)\n    Volume Pool:     (same as policy volume pool)\n    Included Dates-----------\n      (none)\n    Excluded Dates----------\n      (none)\n    Daily Windows:\n{}\n",
        header(&format!("daily-{domain}"), "incr"),
        window_lines(&[0, 1, 2, 3, 4, 5], start, end)
    );
    let weekly = format!(
        "{}    Type:            Full Backup\n    Frequency:       every 7 days\n    Calendar sched:  no\n    Number Copies:   1\n    Maximum MPX:     1\n    Retention Level: 3 (1 month)\n    Residence:       (specific storage unit not required)\n    Volume Pool:     (same as policy volume pool)\n    Included Dates-----------\n      (none)\n    Excluded Dates----------\n      (none)\n    Daily Windows:\n{}\n",
        header(&format!("weekly-{domain}"), "full"),
        window_lines(&[6], start, end)
    );
    vec![(format!("daily-{domain}"), daily), (format!("weekly-{domain}"), weekly)]
}

/// `bppllist POLICY -U` on `domain`.
pub fn bppllist(site: &Site, domain: &str, args: &[String], sleep: impl Fn(f64)) -> crate::fake::Reply {
    let [policy, flag] = args else {
        return crate::fake::Reply {
            code: 1,
            out: String::new(),
            err: "usage: bppllist [policy_name] [-L | -l | -U] ...\n".into(),
        };
    };
    if flag != "-U" {
        return crate::fake::Reply {
            code: 1,
            out: String::new(),
            err: format!("bppllist: {flag}: only -U is simulated\n"),
        };
    }
    sleep(secs::BPPLLIST);
    let valid = !policy.is_empty() && policy.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    match std::fs::read_to_string(site.domain_dir(domain).join("policies").join(policy)) {
        Ok(text) if valid => crate::fake::Reply { code: 0, out: text, err: String::new() },
        _ => crate::fake::Reply {
            code: 230,
            out: String::new(),
            err: "the specified policy does not exist in the configuration database\n".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policies_read_back_as_the_domain_window() {
        for (_, text) in policies("marmaduke", (20, 0), (1, 0)) {
            let windows = ftl::netbackup::parse_policy_windows(&text).unwrap();
            assert!(!windows.is_empty());
            assert!(windows.iter().all(|w| w.to_string().ends_with("20:00-01:00")), "{windows:?}");
        }
    }
}
