//! Every injected fault does what the SPEC says, and `clear` removes them.

use crate::support::*;
use std::time::{Duration, Instant};

fn stop_netbackup(site: &SimSite, domain: &str) {
    expect(
        {
            let mut c = site.fake(domain, "netbackup-stop");
            c.arg("stop");
            c
        },
        0,
    );
}

#[test]
fn bot_leaves_the_drive_away_from_bot() {
    let site = SimSite::with_args(&["--speed", "1000", "--seed", "3"]);
    let p = site.platform();
    let i = p["drives"].as_array().unwrap().iter().find(|d| d["at_bot"] == false).unwrap()["index"].as_u64().unwrap();
    assert_eq!(code(&site.sim(&["fault", &format!("bot:{i}")])), 0);
    stop_netbackup(&site, "marmaduke");
    let dev = format!("/dev/rmt/{i}");
    expect(
        {
            let mut c = site.fake("marmaduke", "mt");
            c.args(["-f", &dev, "rewind"]);
            c
        },
        0,
    );
    let status = expect(
        {
            let mut c = site.fake("marmaduke", "mt");
            c.args(["-f", &dev, "status"]);
            c
        },
        0,
    );
    assert!(!status.contains("file no= 0   block no= 0"), "{status}");
    assert_eq!(site.platform()["drives"][i as usize]["at_bot"], false);
}

#[test]
fn hang_never_returns() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["fault", "hang:modinfo"])), 0);
    let mut child = site.fake("marmaduke", "modinfo").stdout(std::process::Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        assert!(child.try_wait().unwrap().is_none(), "a hung command returned");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn fail_exits_non_zero_with_a_message_and_changes_nothing() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["fault", "fail:netbackup-stop", "fail:deleteboard"])), 0);
    let out = run({
        let mut c = site.fake("marmaduke", "netbackup-stop");
        c.arg("stop");
        c
    });
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("bprdreq"), "{}", stderr(&out));
    assert_eq!(site.platform()["domains"]["marmaduke"]["netbackup"], "running");
    let out = run({
        let mut c = site.ssp("marmaduke", "deleteboard");
        c.args(["-b", "7"]);
        c
    });
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("drain failed"), "{}", stderr(&out));
}

#[test]
fn controller_down_fails_every_controller_command_like_ssh() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["fault", "controller-down"])), 0);
    for (name, args) in [
        ("showusage", vec!["-b", "7", "-s"]),
        ("deleteboard", vec!["-b", "7"]),
        ("addboard", vec!["-d", "flinstones", "-b", "7"]),
    ] {
        let out = run({
            let mut c = site.ssp("marmaduke", name);
            c.args(&args);
            c
        });
        assert_eq!(code(&out), 255, "{name}");
        assert!(stderr(&out).contains("Connection refused"), "{name}: {}", stderr(&out));
    }
    assert_eq!(site.board_domain().as_deref(), Some("marmaduke"));
}

#[test]
fn sg_busy_makes_modunload_fail_with_ebusy() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["fault", "sg-busy:marmaduke"])), 0);
    stop_netbackup(&site, "marmaduke");
    let out = run({
        let mut c = site.fake("marmaduke", "modunload");
        c.args(["-i", "141"]);
        c
    });
    assert_eq!(code(&out), 16);
    assert_eq!(stderr(&out), "can't unload the module: Device busy\n");
}

#[test]
fn bound_shows_in_pbind_and_blocks_deleteboard() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["fault", "bound:marmaduke"])), 0);
    let out = expect(
        {
            let mut c = site.fake("marmaduke", "pbind");
            c.arg("-q");
            c
        },
        0,
    );
    assert_eq!(
        ftl::os::parse_pbind(&out, &[28, 29, 30, 31]).unwrap(),
        vec!["process 4242 is bound to board processor 29"]
    );
    let out = run({
        let mut c = site.ssp("marmaduke", "deleteboard");
        c.args(["-b", "7"]);
        c
    });
    assert!(stderr(&out).contains("bound to cpu 29"), "{}", stderr(&out));
}

#[test]
fn clear_removes_every_fault_and_unknown_faults_are_refused() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["fault", "controller-down", "bot:2"])), 0);
    assert_eq!(site.platform()["faults"].as_array().unwrap().len(), 2);
    assert_eq!(code(&site.sim(&["fault", "clear"])), 0);
    assert!(site.platform()["faults"].as_array().unwrap().is_empty());
    for bad in ["bot:99", "hang:rm", "sg-busy:nobody", "meteor", "dr-fail:reconfig", "dr-fail"] {
        let out = site.sim(&["fault", bad]);
        assert_eq!(code(&out), 1, "{bad}");
        assert!(stderr(&out).contains("unknown fault"), "{bad}: {}", stderr(&out));
    }
}

/// `showusage -b 7 -s` on the controller: its exit status and stdout.
fn showusage(site: &SimSite) -> (i32, String) {
    let out = run({
        let mut c = site.ssp("marmaduke", "showusage");
        c.args(["-b", "7", "-s"]);
        c
    });
    (code(&out), stdout(&out))
}

fn dr(site: &SimSite, domain: &str, name: &str) -> std::process::Output {
    run({
        let mut c = site.ssp(domain, name);
        if name == "addboard" {
            c.args(["-d", domain]);
        }
        c.args(["-b", "7"]);
        c
    })
}

/// Makes marmaduke's board detachable: NetBackup stopped, sg unloaded, every tape at BOT.
fn free_the_board(site: &SimSite) {
    stop_netbackup(site, "marmaduke");
    let id = expect(site.fake("marmaduke", "modinfo"), 0)
        .lines()
        .find(|l| l.split_whitespace().nth(5) == Some("sg"))
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap();
    expect(
        {
            let mut c = site.fake("marmaduke", "modunload");
            c.args(["-i", &id]);
            c
        },
        0,
    );
    for i in 0..7 {
        run({
            let mut c = site.fake("marmaduke", "mt");
            c.args(["-f", &format!("/dev/rmt/{i}"), "rewind"]);
            c
        });
    }
}

#[test]
fn dr_fail_complete_detach_leaves_the_board_drained_in_its_domain_until_deleteboard_is_rerun() {
    let site = SimSite::new();
    free_the_board(&site);
    assert_eq!(code(&site.sim(&["fault", "dr-fail:complete_detach"])), 0);
    let out = dr(&site, "marmaduke", "deleteboard");
    assert_eq!(code(&out), 10, "{}", stderr(&out));
    assert!(stdout(&out).contains("drain complete"), "{}", stdout(&out));
    assert!(stderr(&out).contains("Board detachment failed"), "{}", stderr(&out));
    assert_eq!(site.platform()["board"]["domain"], "marmaduke");
    assert_eq!(site.platform()["board"]["unfinished"], "complete_detach");
    assert_eq!(showusage(&site), (7, "marmaduke\n".into()));
    // Another domain cannot take a board a deleteboard left unfinished.
    assert_eq!(code(&dr(&site, "flinstones", "addboard")), 5);
    assert_eq!(code(&site.sim(&["fault", "clear"])), 0);
    let out = dr(&site, "marmaduke", "deleteboard");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(showusage(&site), (3, String::new()));
}

#[test]
fn dr_fail_init_attach_leaves_the_board_unconfigured_until_addboard_is_rerun() {
    let site = SimSite::new();
    free_the_board(&site);
    assert_eq!(code(&dr(&site, "marmaduke", "deleteboard")), 0);
    stop_netbackup(&site, "flinstones");
    let id = expect(site.fake("flinstones", "modinfo"), 0)
        .lines()
        .find(|l| l.split_whitespace().nth(5) == Some("sg"))
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap();
    expect(
        {
            let mut c = site.fake("flinstones", "modunload");
            c.args(["-i", &id]);
            c
        },
        0,
    );
    assert_eq!(code(&site.sim(&["fault", "dr-fail:init_attach"])), 0);
    let out = dr(&site, "flinstones", "addboard");
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert_eq!(site.platform()["board"]["unfinished"], "init_attach");
    assert_eq!(showusage(&site), (5, "flinstones\n".into()));
    // The fault stays: a rerun fails the same way, and the board stays where it was.
    assert_eq!(code(&dr(&site, "flinstones", "addboard")), 7);
    assert_eq!(code(&dr(&site, "marmaduke", "addboard")), 5, "the board is in flinstones' configuration");
    assert_eq!(code(&site.sim(&["fault", "clear"])), 0);
    let out = dr(&site, "flinstones", "addboard");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(showusage(&site), (6, "flinstones\n".into()));
    assert!(site.platform()["board"]["unfinished"].is_null());
}

#[test]
fn dr_fail_complete_attach_leaves_the_board_half_attached_until_deleteboard_returns_it() {
    let site = SimSite::new();
    free_the_board(&site);
    assert_eq!(code(&dr(&site, "marmaduke", "deleteboard")), 0);
    assert_eq!(code(&site.sim(&["fault", "dr-fail:complete_attach"])), 0);
    let out = dr(&site, "marmaduke", "addboard");
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert!(stdout(&out).contains("POST passed"), "{}", stdout(&out));
    assert!(stderr(&out).contains("Failed to complete attach board"), "{}", stderr(&out));
    assert_eq!(site.platform()["board"]["unfinished"], "complete_attach");
    assert_eq!(showusage(&site), (7, "marmaduke\n".into()));
    assert_eq!(code(&site.sim(&["fault", "clear"])), 0);
    let out = dr(&site, "marmaduke", "deleteboard");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(showusage(&site), (3, String::new()));
}

#[test]
fn jobs_start_and_end() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["job", "marmaduke", "start"])), 0);
    assert_eq!(site.platform()["domains"]["marmaduke"]["jobs"], 1);
    assert_eq!(code(&site.sim(&["job", "marmaduke", "end"])), 0);
    assert_eq!(code(&site.sim(&["job", "marmaduke", "end"])), 1, "no job to end");
    stop_netbackup(&site, "flinstones");
    assert_eq!(code(&site.sim(&["job", "flinstones", "start"])), 1, "no job without NetBackup");
}
