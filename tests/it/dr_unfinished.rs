//! DR operations the SSP leaves half done (`ftl-sim fault DIR dr-fail:PHASE`), and what ftl makes
//! of them: a rerun completes the move where the SSP allows it, a rollback where that is safe,
//! otherwise the ledger says `broken` and names the state the controller reports. And `deleteboard`,
//! which detaches the board from whatever domain holds it, is run only right after `showusage`
//! has placed the board in the domain it is run for.

use crate::support::*;

fn release(site: &SimSite, domain: &str, args: &[&str]) -> std::process::Output {
    run(site.ftl(domain, "ftl-release").args(args))
}

fn acquire(site: &SimSite, domain: &str, args: &[&str]) -> std::process::Output {
    run(site.ftl(domain, "ftl-acquire").args(args))
}

/// `showusage -b 7 -s` on the controller: its exit status and stdout.
fn showusage(site: &SimSite) -> (i32, String) {
    let mut c = site.ssp("marmaduke", "showusage");
    c.args(["-b", "7", "-s"]);
    let out = run(c);
    (code(&out), stdout(&out))
}

fn fault(site: &SimSite, name: &str) {
    let out = site.sim(&["fault", name]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

fn assert_owner(site: &SimSite, domain: &str) {
    let p = site.platform();
    assert_eq!(p["board"]["domain"], domain, "{p}");
    assert!(p["board"]["unfinished"].is_null(), "{p}");
    let d = &p["domains"][domain];
    assert_eq!((d["netbackup"].as_str(), d["sg"].as_str()), (Some("running"), Some("loaded")), "{d}");
    assert!(d["control"].as_array().unwrap().iter().all(|c| c == "UP"), "{d}");
    let l = site.ledger(domain);
    assert_eq!((l["state"].as_str(), l["owner"].as_str()), (Some("owned"), Some(domain)), "{l}");
}

#[test]
fn a_detach_left_drained_breaks_the_ledger_naming_the_state_and_a_rerun_completes_it() {
    let site = SimSite::new();
    fault(&site, "dr-fail:complete_detach");
    let out = release(&site, "marmaduke", &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    // The SSP left the board drained, still assigned to marmaduke: no rollback can restore it.
    let p = site.platform();
    assert_eq!(p["board"]["domain"], "marmaduke", "{p}");
    assert_eq!(p["board"]["unfinished"], "complete_detach", "{p}");
    assert_eq!(showusage(&site), (7, "marmaduke\n".into()));
    let l = site.ledger("marmaduke");
    assert_eq!(l["state"], "broken", "{l}");
    assert!(l["last_error"]["step"].as_str().unwrap().starts_with("R5"), "{l}");
    let message = l["last_error"]["message"].as_str().unwrap();
    assert!(message.contains("in domain marmaduke") && message.contains("exit 7"), "{message}");
    assert!(message.contains("no stored source documents"), "{message}");
    assert!(stderr(&out).contains("broken"), "{}", stderr(&out));
    // deleteboard may be rerun on a board whose deleteboard was not completed: the rerun finishes.
    fault(&site, "clear");
    let out = release(&site, "marmaduke", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(site.ledger("marmaduke")["state"], "free");
    assert_eq!(site.board_domain(), None);
    assert_eq!(showusage(&site), (3, String::new()));
}

#[test]
fn an_init_attach_failure_is_rolled_back_by_returning_the_board_and_a_rerun_acquires() {
    let site = SimSite::new();
    assert_eq!(code(&release(&site, "marmaduke", &[])), 0);
    fault(&site, "dr-fail:init_attach");
    let out = acquire(&site, "flinstones", &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("rolled back"), "{}", stderr(&out));
    // The board was unconfigured in flinstones (showusage 5): ftl returned it with deleteboard,
    // then brought flinstones' NetBackup back.
    assert!(stderr(&out).contains("exit 5"), "{}", stderr(&out));
    let p = site.platform();
    assert!(p["board"]["domain"].is_null(), "{p}");
    assert!(p["board"]["unfinished"].is_null(), "{p}");
    let f = &p["domains"]["flinstones"];
    assert_eq!((f["netbackup"].as_str(), f["sg"].as_str()), (Some("running"), Some("loaded")), "{f}");
    assert_eq!(site.ledger("flinstones")["state"], "free");
    assert_eq!(site.calls_with("flinstones", "deleteboard", "7"), 1, "the undo detached the board");
    fault(&site, "clear");
    let out = acquire(&site, "flinstones", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_owner(&site, "flinstones");
}

#[test]
fn a_complete_attach_failure_breaks_the_ledger_naming_the_state_and_a_rerun_completes_it() {
    let site = SimSite::new();
    assert_eq!(code(&release(&site, "marmaduke", &[])), 0);
    fault(&site, "dr-fail:complete_attach");
    let out = acquire(&site, "flinstones", &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let p = site.platform();
    assert_eq!(p["board"]["domain"], "flinstones", "{p}");
    assert_eq!(p["board"]["unfinished"], "complete_attach", "{p}");
    let l = site.ledger("flinstones");
    assert_eq!(l["state"], "broken", "{l}");
    assert!(l["last_error"]["step"].as_str().unwrap().starts_with("A3"), "{l}");
    let message = l["last_error"]["message"].as_str().unwrap();
    assert!(message.contains("in domain flinstones") && message.contains("exit 7"), "{message}");
    // NetBackup was not started on a board the domain's OS may be using only in part.
    assert_eq!(p["domains"]["flinstones"]["netbackup"], "stopped", "{p}");
    assert_eq!(site.calls_with("flinstones", "deleteboard", "7"), 0);
    fault(&site, "clear");
    let out = acquire(&site, "flinstones", &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_owner(&site, "flinstones");
}

/// Every `deleteboard` ftl runs follows a `showusage` for the same domain that placed the board in
/// that domain, with no other controller command between them.
fn assert_every_deleteboard_follows_a_placing_showusage(site: &SimSite) -> usize {
    let calls = site.calls();
    let controller: Vec<&serde_json::Value> = calls
        .iter()
        .filter(|c| ["showusage", "addboard", "deleteboard"].contains(&c["command"].as_str().unwrap()))
        .collect();
    let mut seen = 0;
    for (i, call) in controller.iter().enumerate() {
        if call["command"] != "deleteboard" {
            continue;
        }
        seen += 1;
        let before = i.checked_sub(1).map(|j| controller[j]).expect("a showusage before the deleteboard");
        assert_eq!(before["command"], "showusage", "{before} before {call}");
        assert_eq!(before["domain"], call["domain"], "{before} before {call}");
        assert_eq!(before["stdout"].as_str().map(str::trim), call["domain"].as_str(), "{before} before {call}");
    }
    seen
}

#[test]
fn deleteboard_runs_only_right_after_showusage_placed_the_board_in_that_domain() {
    let site = SimSite::new();
    fault(&site, "dr-fail:complete_detach");
    assert_eq!(code(&release(&site, "marmaduke", &[])), 1);
    fault(&site, "clear");
    assert_eq!(code(&release(&site, "marmaduke", &[])), 0);
    fault(&site, "dr-fail:init_attach");
    assert_eq!(code(&acquire(&site, "flinstones", &[])), 1);
    fault(&site, "clear");
    assert_eq!(code(&acquire(&site, "flinstones", &[])), 0);
    assert_eq!(code(&release(&site, "flinstones", &[])), 0);
    assert_eq!(assert_every_deleteboard_follows_a_placing_showusage(&site), 4);
}

/// deleteboard detaches the board from whatever domain holds it: with the board in flinstones
/// while the ledger still names marmaduke, no command of marmaduke, forced or not, runs it.
#[test]
fn a_board_another_domain_holds_is_never_detached() {
    let site = SimSite::new();
    // An operator moved the board by hand, behind ftl's back.
    for (domain, name, args) in
        [("marmaduke", "netbackup-stop", vec!["stop"]), ("flinstones", "netbackup-stop", vec!["stop"])]
    {
        expect(
            {
                let mut c = site.fake(domain, name);
                c.args(args);
                c
            },
            0,
        );
    }
    for domain in ["marmaduke", "flinstones"] {
        let id = expect(site.fake(domain, "modinfo"), 0)
            .lines()
            .find(|l| l.split_whitespace().nth(5) == Some("sg"))
            .and_then(|l| l.split_whitespace().next().map(str::to_string))
            .unwrap();
        let mut c = site.fake(domain, "modunload");
        c.args(["-i", &id]);
        expect(c, 0);
    }
    for i in 0..7 {
        let mut c = site.fake("marmaduke", "mt");
        c.args(["-f", &format!("/dev/rmt/{i}"), "rewind"]);
        run(c);
    }
    let mut c = site.ssp("marmaduke", "deleteboard");
    c.args(["-b", "7"]);
    expect(c, 0);
    let mut c = site.ssp("flinstones", "addboard");
    c.args(["-d", "flinstones", "-b", "7"]);
    expect(c, 0);
    let before = site.count_calls("deleteboard");
    let out = release(&site, "marmaduke", &[]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("in domain flinstones"), "{}", stderr(&out));
    // flinstones forcing marmaduke's release: the controller does not confirm marmaduke has it.
    let out = release(&site, "flinstones", &["--force", "--reason", "marmaduke is down"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let out = release(&site, "marmaduke", &["--force", "--reason", "marmaduke's NetBackup is wedged"]);
    assert_ne!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(site.count_calls("deleteboard"), before, "ftl ran deleteboard");
    assert_eq!(site.board_domain().as_deref(), Some("flinstones"));
}

/// A domain that is down answers nothing: a release there fails clearly within its timeouts, and
/// a forced acquire from another domain does what the SSP allows: the board cannot be detached
/// from a domain whose DR daemon does not answer, so nothing changes and the ledger keeps its
/// owner. Once the domain is back, the same force takes the library.
#[test]
fn a_domain_that_is_down_keeps_the_library_until_the_ssp_can_detach_it() {
    let site = SimSite::new();
    site.set_timeout("command", "1s");
    assert_eq!(code(&site.sim(&["fault", "down:marmaduke"])), 0);
    let before = site.snapshot();
    let out = run(site.ftl("marmaduke", "ftl-release"));
    let said = stderr(&out);
    assert_eq!(code(&out), 4, "{said}");
    assert!(said.contains("did not finish") || said.contains("timed out"), "{said}");
    assert_eq!(site.snapshot().0, before.0, "the platform changed");

    let out = run(site.ftl("flinstones", "ftl-acquire").args(["--force", "--reason", "marmaduke crashed"]));
    let said = stderr(&out);
    assert_ne!(code(&out), 0, "{said}");
    assert!(said.contains("cannot communicate with the DR daemon of domain marmaduke"), "{said}");
    assert_eq!(site.board_domain().as_deref(), Some("marmaduke"));
    let l = site.ledger("flinstones");
    assert_eq!((l["state"].as_str(), l["owner"].as_str()), (Some("owned"), Some("marmaduke")), "{l}");
    site.kill_strays();

    assert_eq!(code(&site.sim(&["fault", "clear"])), 0);
    // Back up, marmaduke's OS still uses the board: the SSP refuses a force from outside too (sg
    // loaded, NetBackup holding the drives), and nothing changes; marmaduke's own release works.
    let out = run(site.ftl("flinstones", "ftl-acquire").args(["--force", "--reason", "marmaduke crashed"]));
    assert_ne!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("sg (id 141) is loaded on marmaduke"), "{}", stderr(&out));
    assert_eq!(site.ledger("flinstones")["owner"], "marmaduke");
    assert_eq!(code(&run(site.ftl("marmaduke", "ftl-release"))), 0);
    let out = run(site.ftl("flinstones", "ftl-acquire"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(site.board_domain().as_deref(), Some("flinstones"));
    assert_eq!(site.ledger("flinstones")["owner"], "flinstones");
}

/// A board in no domain that the SSP reports absent or powered off (showusage -s 0 or 2) is not
/// attachable: the acquire is refused before anything runs, and `--check` says why.
#[test]
fn a_powered_off_board_is_refused_before_an_acquire_touches_anything() {
    let site = SimSite::new();
    assert_eq!(code(&run(site.ftl("marmaduke", "ftl-release"))), 0);
    assert_eq!(code(&site.sim(&["fault", "board-off"])), 0);
    let before = site.snapshot();
    let calls = site.calls().len();
    let out = run(site.ftl("flinstones", "ftl-acquire"));
    let said = stderr(&out);
    assert_eq!(code(&out), 4, "{said}");
    assert!(said.contains("exit 2: present, powered off, in no domain") && said.contains("not attachable"), "{said}");
    assert_eq!(site.snapshot(), before, "a refused acquire changed something");
    let ran: Vec<String> =
        site.calls()[calls..].iter().map(|c| c["command"].as_str().unwrap_or_default().to_string()).collect();
    assert!(!ran.iter().any(|c| c == "netbackup-stop" || c == "addboard"), "{ran:?}");
    let out = run(site.ftl("flinstones", "ftl-status").arg("--check"));
    assert_eq!(code(&out), 4, "{}", stdout(&out));
    // A force cannot attach it either: refused at once, not after stopping NetBackup.
    let out = run(site.ftl("flinstones", "ftl-acquire").args(["--force", "--reason", "the window is open"]));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot be attached") && stderr(&out).contains("Nothing was changed"),
        "{}",
        stderr(&out)
    );
    let now = site.snapshot();
    assert_eq!((now.0, now.1), (before.0, before.1), "a refused force changes neither the platform nor the record");
    let ran: Vec<String> =
        site.calls()[calls..].iter().map(|c| c["command"].as_str().unwrap_or_default().to_string()).collect();
    assert!(!ran.iter().any(|c| c == "netbackup-stop" || c == "addboard"), "{ran:?}");
    assert_eq!(code(&site.sim(&["fault", "clear"])), 0);
    assert_eq!(code(&run(site.ftl("flinstones", "ftl-acquire"))), 0);
    assert_eq!(site.board_domain().as_deref(), Some("flinstones"));
}
