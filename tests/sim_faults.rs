//! Every injected fault does what the SPEC says, and `clear` removes them.

mod support;
use std::time::{Duration, Instant};
use support::*;

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
    for bad in ["bot:99", "hang:rm", "sg-busy:nobody", "meteor"] {
        let out = site.sim(&["fault", bad]);
        assert_eq!(code(&out), 1, "{bad}");
        assert!(stderr(&out).contains("unknown fault"), "{bad}: {}", stderr(&out));
    }
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
