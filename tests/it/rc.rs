//! Boot and shutdown (what /etc/init.d/ftl and ftl.service run): the owner confirms the board
//! and brings NetBackup and its drives up; at shutdown it releases when configured and idle.

use crate::support::*;

#[test]
fn at_boot_the_owner_confirms_the_board_and_brings_everything_up() {
    let site = SimSite::new();
    // The domain rebooted: NetBackup not started yet, sg not loaded, the drives left DOWN.
    for i in 0..7 {
        expect(
            {
                let mut c = site.fake("marmaduke", "vmoprcmd");
                c.args(["-down", &i.to_string()]);
                c
            },
            0,
        );
    }
    expect(
        {
            let mut c = site.fake("marmaduke", "netbackup-stop");
            c.arg("stop");
            c
        },
        0,
    );
    expect(
        {
            let mut c = site.fake("marmaduke", "modunload");
            c.args(["-i", "141"]);
            c
        },
        0,
    );
    let out = run(site.ftl("marmaduke", "ftl-acquire").arg("--at-boot"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("board 7 confirmed in marmaduke"), "{}", stdout(&out));
    let m = &site.platform()["domains"]["marmaduke"];
    assert_eq!(m["netbackup"], "running");
    assert_eq!(m["sg"], "loaded");
    assert!(m["control"].as_array().unwrap().iter().all(|c| c == "UP"), "{m}");
    // Another domain has nothing to do at boot.
    let out = run(site.ftl("flinstones", "ftl-acquire").arg("--at-boot"));
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("nothing to do at boot"), "{}", stdout(&out));
}

#[test]
fn at_boot_a_board_elsewhere_is_reported_not_touched() {
    let site = SimSite::new();
    // The board was moved by hand behind ftl's back.
    expect(
        {
            let mut c = site.fake("marmaduke", "netbackup-stop");
            c.arg("stop");
            c
        },
        0,
    );
    for i in 0..7 {
        let _ = run({
            let mut c = site.fake("marmaduke", "mt");
            c.args(["-f", &format!("/dev/rmt/{i}"), "rewind"]);
            c
        });
    }
    expect(
        {
            let mut c = site.fake("marmaduke", "modunload");
            c.args(["-i", "141"]);
            c
        },
        0,
    );
    expect(
        {
            let mut c = site.ssp("marmaduke", "deleteboard");
            c.args(["-b", "7"]);
            c
        },
        0,
    );
    let before = site.snapshot();
    let out = run(site.ftl("marmaduke", "ftl-acquire").arg("--at-boot"));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("the controller says board 7 is in no domain"), "{}", stderr(&out));
    assert_eq!(site.snapshot(), before);
}

#[test]
fn at_shutdown_the_owner_releases_when_configured_and_idle() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["job", "marmaduke", "start"])), 0);
    let out = run(site.ftl("marmaduke", "ftl-release").arg("--at-shutdown"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("not idle"), "a running job keeps it: {}", stdout(&out));
    assert_eq!(code(&site.sim(&["job", "marmaduke", "end"])), 0);
    site.edit_config("marmaduke", |t| t + "\n[hooks]\nrelease_at_shutdown = false\n");
    let out = run(site.ftl("marmaduke", "ftl-release").arg("--at-shutdown"));
    assert!(stdout(&out).contains("keeping the library"), "{}", stdout(&out));
    site.edit_config("marmaduke", |t| t.replace("release_at_shutdown = false", "release_at_shutdown = true"));
    let out = run(site.ftl("marmaduke", "ftl-release").arg("--at-shutdown"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(site.ledger("marmaduke")["state"], "free");
}
