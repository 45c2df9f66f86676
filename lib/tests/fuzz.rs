//! Fuzzing with proptest: every parser of command output, the configuration loader, the ledger
//! record, windows, durations and hook arguments get 10,000 cases each, half random text and
//! half valid samples with random edits (characters inserted, removed, lines cut or doubled).
//! None may panic; each must answer Ok or Err.

use ftl::config::Config;
use ftl::ledger::record::Record;
use ftl::window::Window;
use ftl::{duration, netbackup, notify, os};
use proptest::prelude::*;
use std::path::Path;

const CASES: u32 = 10_000;

const MT: &[&str] = &[
    "Quantum DLT7000 tape drive:\n   sense key(0x0)= No Additional Sense   residual= 0   retries= 0\n   file no= 0   block no= 0\n",
    "Quantum DLT7000 tape drive:\n   sense key(0x0)= No Additional Sense   residual= 0   retries= 0\n   file no= 12   block no= 3417\n",
    "/dev/rmt/3: no tape loaded or drive offline\n",
];
const MODINFO: &[&str] = &[" Id Loadaddr   Size Info Rev Module Name\n  5 fe926000   3e92   1   1  specfs (filesystem for specfs)\n141 fc580000   2d8c 116   1  sg (SCSA Generic Revision: 3.4d)\n"];
const JOBS: &[&str] = &["1203,0,1,0,daily,incr,db1,marmaduke,1764104403,0000000123,,tld0,1,,1024,12\n1202,0,3,0,fs,full,fs1,marmaduke,1764100000,0000000900,1764100900,tld0,1,,99,9\n"];
const DRIVES: &[&str] = &["\n                                DRIVE STATUS\n\nDrv Type   Control  User      Label  RecMID  ExtMID  Ready   Wr.Enbl.  ReqId\n  0 dlt      TLD    -   No  -  -  No  -  -\n  1 dlt    DOWN-TLD -   No  -  -  No  -  -\n\n   ADDITIONAL DRIVE STATUS\n"];
const BPPS: &[&str] = &["NB Processes\n------------\n    root   306     1  0   Nov 24 ?        0:00 /usr/openv/netbackup/bin/bprd\n\nMM Processes\n------------\n    root   295     1  0   Nov 24 ?        0:00 /usr/openv/volmgr/bin/ltid\n"];
const PSRSET: &[&str] = &[
    "user processor set 1: processors 4 29\n",
    "process id 1234: 28\nprocess id 99: not bound\npbind(1M): pid 77 strongly bound to processor(s) 30.\n",
];
const POLICY: &[&str] = &["Policy Name:  p\n  Schedule:   full\n    Daily Windows:\n          Sunday     18:00:00  -->  Monday     06:00:00\n          Monday     20:00:00  -->  Tuesday    01:00:00\n"];
const CONFIG: &[&str] = &[include_str!("../../config/ftl.toml")];
const RECORD: &[&str] = &[
    r#"{"version":1,"library":"L3500","state":"releasing","owner":"m","epoch":12,"since":"2026-11-25T22:00:03Z","holder":{"domain":"m","host":"h","pid":7,"boot_id":"b"},"step":{"operation":"release","id":"R3","name":"drives at BOT","started":"2026-11-25T22:00:03Z"},"requests":[{"domain":"f","at":"2026-11-25T22:00:03Z","until":null}],"last_error":null}"#,
];
const WINDOWS: &[&str] = &["Mon-Fri 22:00-06:00", "Sat 00:00-24:00", "Mon,Wed,Fri-Sun 20:00-23:30"];
const DURATIONS: &[&str] = &["90s", "15m", "1h30m", "250ms"];

/// A valid sample with random edits, or random text.
fn input(samples: &'static [&'static str]) -> impl Strategy<Value = String> {
    let edited = (0..samples.len(), proptest::collection::vec((0u8..5, any::<u16>(), any::<char>()), 0..12)).prop_map(
        move |(i, edits)| {
            let mut s: Vec<char> = samples[i].chars().collect();
            for (op, at, c) in edits {
                let at = if s.is_empty() { 0 } else { at as usize % s.len() };
                match op {
                    0 => s.insert(at, c),
                    1 if !s.is_empty() => {
                        s.remove(at);
                    }
                    2 => s.truncate(at),
                    3 => {
                        let copy: Vec<char> = s[at..].iter().take_while(|c| **c != '\n').cloned().collect();
                        s.splice(at..at, copy);
                    }
                    _ => s.insert(at, ['\n', ' ', ',', ':', '-', '0', '9', '"', '[', '='][c as usize % 10]),
                }
            }
            s.into_iter().collect::<String>()
        },
    );
    prop_oneof![edited, any::<String>(), "[ -~\n]{0,300}"]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn mt_status(text in input(MT)) {
        let _ = os::parse_mt_status(&text, &text);
    }

    #[test]
    fn modinfo(text in input(MODINFO)) {
        let _ = os::parse_modinfo(&text, "sg");
    }

    #[test]
    fn psrset_and_pbind(text in input(PSRSET)) {
        let _ = os::parse_psrset(&text, &[28, 29, 30, 31]);
        let _ = os::parse_pbind(&text, &[28, 29, 30, 31]);
    }

    #[test]
    fn bpdbjobs(text in input(JOBS)) {
        let _ = netbackup::parse_jobs(&text);
    }

    #[test]
    fn vmoprcmd(text in input(DRIVES)) {
        let _ = netbackup::parse_drive_status(&text);
    }

    #[test]
    fn bpps(text in input(BPPS)) {
        let _ = netbackup::parse_processes(&text);
    }

    #[test]
    fn bppllist(text in input(POLICY)) {
        let _ = netbackup::parse_policy_windows(&text);
    }

    #[test]
    fn configuration(text in input(CONFIG)) {
        let _ = Config::parse(Path::new("/etc/ftl/ftl.toml"), &text);
    }

    #[test]
    fn ledger_record(text in input(RECORD)) {
        if let Ok(record) = Record::from_json(&text) {
            // What parses must write back to the same record.
            prop_assert_eq!(Record::from_json(&record.to_json()).unwrap(), record);
        }
    }

    #[test]
    fn windows_and_durations(w in input(WINDOWS), d in input(DURATIONS)) {
        let _ = Window::parse(&w);
        let _ = duration::parse(&d);
    }

    #[test]
    fn hook_arguments(name in "[a-z_.]{0,30}", args in proptest::collection::vec(".{0,12}", 0..9)) {
        let _ = notify::parse(&name, &args);
    }
}
