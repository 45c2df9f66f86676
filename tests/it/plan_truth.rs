//! `--dry-run` lists exactly the commands a run executes: the plan of a release and of an
//! acquire, on each platform, against the commands the simulator's fakes logged to `calls.jsonl`
//! while the same operation ran. Both sides come from the same builders in the library, so this
//! test fails when a plan line is written by hand and drifts from what runs.

use crate::support::*;
use serde_json::Value;
use std::collections::BTreeSet;

/// Splits a command as `Command`'s Display writes it (shell words, single quotes, an optional
/// here-string) into its words.
fn words(line: &str) -> Vec<String> {
    let line = line.split(" <<< ").next().unwrap_or(line);
    let (mut out, mut word, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => word.push(c),
        }
    }
    if any || !word.is_empty() {
        out.push(word);
    }
    out
}

/// A planned command: the program's file name and its arguments (`<...>` matches any).
type Call = (String, Vec<String>);

/// The plan's commands of programs under `site` (the fakes, which log their calls): the required
/// ones, and those the plan marks conditional (`(on 5.6)`).
fn planned(plan: &Value, site: &str) -> (Vec<Call>, Vec<Call>) {
    let (mut required, mut optional) = (Vec::new(), Vec::new());
    for step in plan["steps"].as_array().expect("steps") {
        for group in step["groups"].as_array().expect("groups") {
            for line in group["commands"].as_array().expect("commands") {
                for part in line.as_str().unwrap().split(" ; ") {
                    let (part, conditional) = match part.split_once(" (on ") {
                        Some((cmd, _)) => (cmd, true),
                        None => (part, false),
                    };
                    let mut w = words(part);
                    while w.first().is_some_and(|x| x.contains('=') && !x.starts_with('/')) {
                        w.remove(0);
                    }
                    let Some(program) = w.first().filter(|p| p.starts_with(site)) else {
                        continue;
                    };
                    let name = program.rsplit('/').next().unwrap().to_string();
                    let call = (name, w[1..].to_vec());
                    if conditional {
                        optional.push(call);
                    } else {
                        required.push(call);
                    }
                }
            }
        }
    }
    (required, optional)
}

fn matches(plan: &Call, call: &Call) -> bool {
    plan.0 == call.0
        && plan.1.len() == call.1.len()
        && plan.1.iter().zip(&call.1).all(|(p, c)| (p.starts_with('<') && p.ends_with('>')) || p == c)
}

fn executed(site: &SimSite, skip: usize) -> Vec<Call> {
    site.calls()
        .into_iter()
        .skip(skip)
        .map(|c| {
            let args = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
            (c["command"].as_str().unwrap().to_string(), args)
        })
        .collect()
}

/// Plans `binary` on `domain` (`--dry-run --json`), runs it, and compares.
fn plan_then_run(site: &SimSite, domain: &str, binary: &str) {
    let out = run(site.ftl(domain, binary).args(["--dry-run", "--json"]));
    assert_eq!(code(&out), 0, "{binary} --dry-run: {}", stderr(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).expect("the plan is JSON");
    let before = site.calls().len();
    let root = site.path().display().to_string();
    let (required, optional) = planned(&plan, &root);
    assert!(required.len() > 10, "a hand-over plan has its commands: {plan}");
    let out = run(site.ftl(domain, binary));
    assert_eq!(code(&out), 0, "{binary}: {}", stderr(&out));
    let ran = executed(site, before);
    let unplanned: BTreeSet<String> = ran
        .iter()
        .filter(|c| !required.iter().chain(&optional).any(|p| matches(p, c)))
        .map(|c| format!("{} {}", c.0, c.1.join(" ")))
        .collect();
    assert!(
        unplanned.is_empty(),
        "{binary} on {domain} ran commands its plan does not list: {unplanned:?}\nplan: {plan}"
    );
    let not_run: Vec<String> = required
        .iter()
        .filter(|p| !ran.iter().any(|c| matches(p, c)))
        .map(|c| format!("{} {}", c.0, c.1.join(" ")))
        .collect();
    assert!(not_run.is_empty(), "{binary} on {domain} did not run what its plan lists: {not_run:?}");
}

#[test]
fn the_dry_run_lists_the_commands_a_release_and_an_acquire_run_on_the_starfire() {
    let site = SimSite::new();
    plan_then_run(&site, "marmaduke", "ftl-release");
    plan_then_run(&site, "flinstones", "ftl-acquire");
}

#[test]
fn a_plan_line_is_split_into_the_words_it_was_made_of() {
    assert_eq!(words("SUNW_HOSTNAME=a /x/showusage -b 7 -s"), ["SUNW_HOSTNAME=a", "/x/showusage", "-b", "7", "-s"]);
    assert_eq!(words("/x/modunload -i '<id of sg>'"), ["/x/modunload", "-i", "<id of sg>"]);
    assert_eq!(words("/x/virsh -c qemu:///system attach-device g /dev/stdin --live <<< '<hostdev/>'").len(), 7);
    assert!(matches(&("m".into(), vec!["-i".into(), "<id>".into()]), &("m".into(), vec!["-i".into(), "4".into()])));
    assert!(!matches(&("m".into(), vec!["-i".into()]), &("m".into(), vec!["-x".into()])));
}

#[test]
fn the_dry_run_lists_the_commands_a_release_and_an_acquire_run_on_libvirt() {
    let site = SimSite::with_args(&["--speed", "1000", "--platform", "libvirt"]);
    plan_then_run(&site, "marmaduke", "ftl-release");
    plan_then_run(&site, "flinstones", "ftl-acquire");
}
