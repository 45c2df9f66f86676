//! The blueprint's manual procedure, run command by command with the fake commands alone, as an
//! operator would; and each step omitted or run out of order, showing the DR command failing
//! and the board staying where it was.

use crate::support::*;

const DRIVES: u32 = 7;

fn sg_id(site: &SimSite, domain: &str) -> String {
    let out = expect(site.fake(domain, "modinfo"), 0);
    let line = out.lines().find(|l| l.split_whitespace().nth(5) == Some("sg")).expect("modinfo lists sg");
    line.split_whitespace().next().unwrap().to_string()
}

fn drives_down(site: &SimSite, domain: &str) {
    for i in 0..DRIVES {
        let mut c = site.fake(domain, "vmoprcmd");
        c.args(["-down", &i.to_string()]);
        expect(c, 0);
    }
}

fn netbackup(site: &SimSite, domain: &str, verb: &str) {
    let mut c = site.fake(domain, if verb == "stop" { "netbackup-stop" } else { "netbackup-start" });
    c.arg(verb);
    expect(c, 0);
}

fn rewind_all(site: &SimSite, domain: &str) {
    for i in 0..DRIVES {
        let dev = format!("/dev/rmt/{i}");
        let mut c = site.fake(domain, "mt");
        c.args(["-f", &dev, "rewind"]);
        let out = run(c);
        let empty = stderr(&out).contains("no tape loaded or drive offline");
        assert!(code(&out) == 0 || empty, "mt rewind {dev}: {}", stderr(&out));
        let mut c = site.fake(domain, "mt");
        c.args(["-f", &dev, "status"]);
        let out = run(c);
        assert!(
            stdout(&out).contains("file no= 0   block no= 0") || stderr(&out).contains("no tape loaded"),
            "{dev} not at BOT"
        );
    }
}

fn unload_sg(site: &SimSite, domain: &str) {
    let id = sg_id(site, domain);
    let mut c = site.fake(domain, "modunload");
    c.args(["-i", &id]);
    expect(c, 0);
}

fn deleteboard(site: &SimSite, domain: &str) -> std::process::Output {
    let mut c = site.ssp(domain, "deleteboard");
    c.args(["-b", "7"]);
    run(c)
}

fn addboard(site: &SimSite, domain: &str) -> std::process::Output {
    let mut c = site.ssp(domain, "addboard");
    c.args(["-d", domain, "-b", "7"]);
    run(c)
}

#[test]
fn the_manual_procedure_moves_the_library() {
    let site = SimSite::new();
    // Release on marmaduke.
    drives_down(&site, "marmaduke");
    netbackup(&site, "marmaduke", "stop");
    rewind_all(&site, "marmaduke");
    unload_sg(&site, "marmaduke");
    let out = deleteboard(&site, "marmaduke");
    assert_eq!(code(&out), 0, "deleteboard: {}", stderr(&out));
    let mut c = site.ssp("marmaduke", "showusage");
    c.args(["-b", "7", "-s"]);
    assert_eq!(expect(c, 3), "", "in no domain, attachable: nothing on stdout");
    // Acquire on flinstones.
    netbackup(&site, "flinstones", "stop");
    unload_sg(&site, "flinstones");
    let out = addboard(&site, "flinstones");
    assert_eq!(code(&out), 0, "addboard: {}", stderr(&out));
    let mut c = site.fake("flinstones", "modload");
    c.arg("/kernel/drv/sg");
    expect(c, 0);
    netbackup(&site, "flinstones", "start");
    for i in 0..DRIVES {
        let mut c = site.fake("flinstones", "vmoprcmd");
        c.args(["-up", &i.to_string()]);
        expect(c, 0);
    }
    let p = site.platform();
    assert_eq!(p["board"]["domain"], "flinstones");
    let f = &p["domains"]["flinstones"];
    assert_eq!(f["netbackup"], "running");
    assert_eq!(f["sg"], "loaded");
    assert!(f["control"].as_array().unwrap().iter().all(|c| c == "UP"), "{f}");
    assert_eq!(p["domains"]["marmaduke"]["netbackup"], "stopped");
    assert!(p["drives"].as_array().unwrap().iter().all(|d| d["at_bot"] == true), "every drive at BOT");
    let mut c = site.ssp("flinstones", "showusage");
    c.args(["-b", "7", "-s"]);
    assert_eq!(expect(c, 6).trim(), "flinstones");
}

/// Runs the release procedure without `skip`, and returns deleteboard's result.
fn release_without(site: &SimSite, skip: &str) -> std::process::Output {
    if skip != "drives down" {
        drives_down(site, "marmaduke");
    }
    if skip != "netbackup stop" {
        netbackup(site, "marmaduke", "stop");
    }
    if skip != "rewind" && skip != "netbackup stop" {
        rewind_all(site, "marmaduke");
    }
    if skip != "unload sg" && skip != "netbackup stop" {
        unload_sg(site, "marmaduke");
    }
    deleteboard(site, "marmaduke")
}

#[test]
fn a_release_step_left_out_makes_deleteboard_fail_and_the_board_stay() {
    for (skip, why) in
        [("netbackup stop", "held open by ltid"), ("rewind", "is not at BOT"), ("unload sg", "DR-unsafe driver sg")]
    {
        let site = SimSite::new();
        let out = release_without(&site, skip);
        assert_ne!(code(&out), 0, "without {skip}, deleteboard succeeded");
        assert!(stderr(&out).contains(why), "without {skip}: {}", stderr(&out));
        assert_eq!(site.board_domain().as_deref(), Some("marmaduke"), "without {skip} the board moved");
    }
}

#[test]
fn steps_out_of_order_fail_as_on_the_machine() {
    let site = SimSite::new();
    // Drives down after NetBackup is stopped: vmoprcmd needs ltid.
    netbackup(&site, "marmaduke", "stop");
    let mut c = site.fake("marmaduke", "vmoprcmd");
    c.args(["-down", "0"]);
    let out = run(c);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("The Media Manager device daemon (ltid) is not active"));
    // Rewinding while NetBackup runs: the drive is busy.
    let site = SimSite::new();
    let mut c = site.fake("marmaduke", "mt");
    c.args(["-f", "/dev/rmt/0", "rewind"]);
    let out = run(c);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("Device busy"), "{}", stderr(&out));
    // Unloading sg while NetBackup runs: busy (exit 16).
    let id = sg_id(&site, "marmaduke");
    let mut c = site.fake("marmaduke", "modunload");
    c.args(["-i", &id]);
    let out = run(c);
    assert_eq!(code(&out), 16);
    assert!(stderr(&out).contains("can't unload the module: Device busy"));
    // addboard before the owner detached: not eligible (5), the board stays.
    let out = addboard(&site, "flinstones");
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert_eq!(site.board_domain().as_deref(), Some("marmaduke"));
}

#[test]
fn an_acquire_step_left_out_makes_addboard_fail_and_the_board_stay_unassigned() {
    for skip in ["netbackup stop", "unload sg"] {
        let site = SimSite::new();
        assert_eq!(code(&release_without(&site, "nothing")), 0);
        if skip == "unload sg" {
            netbackup(&site, "flinstones", "stop");
        } else {
            // Without stopping NetBackup, sg cannot be unloaded either.
            let id = sg_id(&site, "flinstones");
            let mut c = site.fake("flinstones", "modunload");
            c.args(["-i", &id]);
            assert_eq!(code(&run(c)), 16);
        }
        let out = addboard(&site, "flinstones");
        assert_ne!(code(&out), 0, "without {skip}, addboard succeeded");
        assert!(stderr(&out).contains("DR-unsafe driver sg is loaded"), "{}", stderr(&out));
        assert_eq!(site.board_domain(), None, "without {skip} the board moved");
    }
}

#[test]
fn dr_commands_exit_0_when_the_board_is_already_there() {
    let site = SimSite::new();
    let out = addboard(&site, "marmaduke");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("already in domain marmaduke"));
    assert_eq!(code(&release_without(&site, "nothing")), 0);
    let out = deleteboard(&site, "marmaduke");
    assert_eq!(code(&out), 0, "detaching an unassigned board: {}", stderr(&out));
    let mut c = site.ssp("marmaduke", "deleteboard");
    c.env_remove("SUNW_HOSTNAME").args(["-b", "7"]);
    assert_ne!(code(&run(c)), 0, "SUNW_HOSTNAME is required");
    let mut c = site.ssp("marmaduke", "showusage");
    c.args(["-b", "3", "-s"]);
    assert_eq!(expect(c, 0), "", "a board that is not there: not present, in no domain");
}

/// deleteboard takes no domain: it detaches the board from whichever domain holds it, whatever
/// SUNW_HOSTNAME says.
#[test]
fn deleteboard_detaches_the_board_from_whatever_domain_holds_it() {
    let site = SimSite::new();
    drives_down(&site, "marmaduke");
    netbackup(&site, "marmaduke", "stop");
    rewind_all(&site, "marmaduke");
    unload_sg(&site, "marmaduke");
    let out = deleteboard(&site, "flinstones");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("domain marmaduke"), "{}", stdout(&out));
    assert_eq!(site.board_domain(), None);
    // Its preconditions are those of the domain that held the board.
    let site = SimSite::new();
    let out = deleteboard(&site, "flinstones");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("loaded on marmaduke"), "{}", stderr(&out));
    assert_eq!(site.board_domain().as_deref(), Some("marmaduke"));
}
