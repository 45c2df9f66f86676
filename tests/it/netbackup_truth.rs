//! What the real NetBackup and Solaris print, on the simulator: a shared `pbx_exchange` that a
//! stop of NetBackup leaves alone, queued jobs that refuse a release, an empty processor set that
//! is no set on the board, and a tape whose position is unknown (`file no= -1`).

use crate::support::*;

fn release(site: &SimSite, domain: &str) -> std::process::Output {
    run(site.ftl(domain, "ftl-release"))
}

#[test]
fn stopping_netbackup_leaves_the_shared_pbx_exchange_alone() {
    let site = SimSite::new();
    let pbx = site.platform()["domains"]["marmaduke"]["pbx"].as_u64().expect("the site runs a pbx_exchange");
    let listed = run(site.fake("marmaduke", "bpps").arg("-x"));
    assert!(stdout(&listed).contains("pbx_exchange"), "{}", stdout(&listed));
    let out = release(&site, "marmaduke");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(site.ledger("marmaduke")["state"], "free");
    let d = &site.platform()["domains"]["marmaduke"];
    assert_eq!(d["netbackup"], "stopped", "{d}");
    assert_eq!(d["pbx"].as_u64(), Some(pbx), "the release killed the shared pbx_exchange: {d}");
    assert_eq!(site.calls_with("marmaduke", "kill", &pbx.to_string()), 0, "pbx_exchange was signalled");
    assert_eq!(site.count_calls("kill"), 0, "the stop script worked, so nothing needed a signal");
}

#[test]
fn a_queued_job_refuses_a_release_and_is_listed_by_check_unless_configured_away() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["job", "marmaduke", "queue"])), 0);
    let before = site.snapshot();
    let out = release(&site, "marmaduke");
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("job 1400 queued") && said.contains("netbackup.pending_jobs_block"), "{said}");
    assert_eq!(site.snapshot(), before, "a refused release changed something");

    let out = run(site.ftl("marmaduke", "ftl-status").arg("--check"));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stdout(&out).contains("job 1400 queued"), "{}", stdout(&out));

    // An acquire is what queued jobs wait for: flinstones's own queued job never refuses it.
    site.edit_config("marmaduke", |c| c.replace("[netbackup]", "[netbackup]\npending_jobs_block = false"));
    let out = release(&site, "marmaduke");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(code(&site.sim(&["job", "flinstones", "queue"])), 0);
    let out = run(site.ftl("flinstones", "ftl-acquire"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(site.board_domain().as_deref(), Some("flinstones"));
}

#[test]
fn an_empty_processor_set_is_no_set_on_the_board() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["fault", "empty-pset:marmaduke"])), 0);
    let listed = run(site.fake("marmaduke", "psrset").arg("-i"));
    assert_eq!(stdout(&listed), "user processor set 1: empty\n");
    let out = run(site.ftl("marmaduke", "ftl-status").arg("--check"));
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let out = release(&site, "marmaduke");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(site.board_domain(), None);
}

#[test]
fn a_tape_whose_position_is_unknown_is_not_at_bot() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["fault", "lost:2"])), 0);
    let out = release(&site, "marmaduke");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("not at BOT") && said.contains("file no= -1") && said.contains("position unknown"), "{said}");
    // R3 rolls back: the library stays with marmaduke, its NetBackup running again.
    assert_eq!(site.board_domain().as_deref(), Some("marmaduke"));
    assert_eq!(site.ledger("marmaduke")["owner"], "marmaduke");
    assert_eq!(site.platform()["domains"]["marmaduke"]["netbackup"], "running");
}

/// Where `netbackup.nbpemreq` is configured, a release suspends the policy scheduler before R1
/// and resumes it when it rolls back; an acquire resumes it after A5.
#[test]
fn a_configured_nbpemreq_suspends_scheduling_for_a_release_and_resumes_it() {
    let site = SimSite::new();
    let nbpemreq = site.path().join("marmaduke/bin/nbpemreq");
    for d in ["marmaduke", "flinstones"] {
        let path = site.path().join(d).join("bin/nbpemreq");
        site.edit_config(d, |c| c.replace("[netbackup]", &format!("[netbackup]\nnbpemreq = \"{}\"", path.display())));
    }
    let suspended = |site: &SimSite, d: &str| site.platform()["domains"][d]["scheduling_suspended"] == true;
    let out = run(site.ftl("marmaduke", "ftl-release").arg("--dry-run"));
    assert!(stdout(&out).contains(&format!("{} -suspend_scheduling", nbpemreq.display())), "{}", stdout(&out));

    // A rolled-back release resumes the scheduler it suspended.
    assert_eq!(code(&site.sim(&["fault", "bot:1"])), 0);
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(!suspended(&site, "marmaduke"), "a rolled-back release left the scheduler suspended");
    assert_eq!(site.calls_with("marmaduke", "nbpemreq", "-resume_scheduling"), 1);
    assert_eq!(code(&site.sim(&["fault", "clear"])), 0);

    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(suspended(&site, "marmaduke"));
    // Suspended before any drive went down.
    let calls = site.calls();
    let mine: Vec<&serde_json::Value> = calls.iter().filter(|c| c["domain"] == "marmaduke").collect();
    let rolled_back = mine.iter().rposition(|c| c["command"] == "nbpemreq" && c["args"][0] == "-resume_scheduling");
    let second = &mine[rolled_back.unwrap() + 1..];
    let suspend = second.iter().position(|c| c["command"] == "nbpemreq" && c["args"][0] == "-suspend_scheduling");
    let first_down = second.iter().position(|c| c["command"] == "vmoprcmd" && c["args"][0] == "-down");
    assert!(suspend.unwrap() < first_down.unwrap(), "the scheduler was suspended after a drive went down");
    let job = site.sim(&["job", "marmaduke", "start"]);
    assert_eq!(code(&job), 1, "a job started on a suspended scheduler");

    // The acquire back onto marmaduke resumes it (step A6).
    let out = run(site.ftl("marmaduke", "ftl-acquire"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!suspended(&site, "marmaduke"));
    assert_eq!(site.ledger("marmaduke")["owner"], "marmaduke");
}

/// A scheduler that cannot be suspended rolls the release back and leaves the ledger owned (not
/// broken); a drive that cannot come up in a rollback still resumes the scheduler first.
#[test]
fn a_failing_nbpemreq_never_breaks_the_ledger_and_a_rollback_resumes_first() {
    let site = SimSite::new();
    for d in ["marmaduke", "flinstones"] {
        let path = site.path().join(d).join("bin/nbpemreq");
        site.edit_config(d, |c| c.replace("[netbackup]", &format!("[netbackup]\nnbpemreq = \"{}\"", path.display())));
    }
    assert_eq!(code(&site.sim(&["fault", "fail:nbpemreq"])), 0);
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("could not resume the policy scheduler"), "{}", stderr(&out));
    let l = site.ledger("marmaduke");
    assert_eq!((l["state"].as_str(), l["owner"].as_str()), (Some("owned"), Some("marmaduke")), "{l}");
    assert_eq!(site.board_domain().as_deref(), Some("marmaduke"));

    // R1 suspends, then a drive cannot go down: the undo resumes the scheduler before anything else.
    assert_eq!(code(&site.sim(&["fault", "clear"])), 0);
    assert_eq!(code(&site.sim(&["fault", "fail:vmoprcmd"])), 0);
    let _ = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(site.platform()["domains"]["marmaduke"]["scheduling_suspended"], false);
    assert!(site.calls_with("marmaduke", "nbpemreq", "-resume_scheduling") >= 1);
}

/// A job writes on a tape wherever the library is, so after the first hand-over the next
/// release must rewind again, and a drive that cannot reach BOT stops it there too.
#[test]
fn jobs_move_tapes_after_the_first_hand_over_too() {
    let site = SimSite::new();
    assert_eq!(code(&run(site.ftl("marmaduke", "ftl-release"))), 0);
    assert_eq!(code(&run(site.ftl("flinstones", "ftl-acquire"))), 0);
    let drives = |site: &SimSite| site.platform()["drives"].as_array().unwrap().clone();
    assert!(drives(&site).iter().all(|d| d["at_bot"] == true), "the first release rewound every tape");
    assert_eq!(code(&site.sim(&["job", "flinstones", "start"])), 0);
    assert_eq!(code(&site.sim(&["job", "flinstones", "end"])), 0);
    let away: Vec<u64> =
        drives(&site).iter().filter(|d| d["at_bot"] == false).map(|d| d["index"].as_u64().unwrap()).collect();
    assert_eq!(away.len(), 1, "the job left its tape away from BOT: {:?}", drives(&site));
    assert_eq!(code(&site.sim(&["fault", &format!("bot:{}", away[0])])), 0);
    let out = run(site.ftl("flinstones", "ftl-release"));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("not at BOT"), "{}", stderr(&out));
    assert_eq!(site.ledger("flinstones")["owner"], "flinstones");
    assert_eq!(code(&site.sim(&["fault", "clear"])), 0);
    assert_eq!(code(&run(site.ftl("flinstones", "ftl-release"))), 0);
    assert!(drives(&site).iter().all(|d| d["at_bot"] == true));
}
