//! What an outsider found on the libvirt platform, as tests: a live detach that does not finish
//! stays pending in the guest and may finish later, so ftl never leaves the ledger saying
//! "owned" (a rollback) or "unchanged" (a refused force) of an HBA that can still leave; a
//! release refuses, before it changes anything, when a device of the library is missing or
//! sysfs is not where the configuration says; a forced plan lists what the force runs.

use crate::support::*;

fn libvirt() -> SimSite {
    SimSite::with_args(&["--speed", "1000", "--platform", "libvirt"])
}

fn pending(site: &SimSite) -> bool {
    site.platform()["libvirt"]["unplug_pending"] == true
}

#[test]
fn a_force_against_a_running_guest_is_refused_before_any_detach() {
    let site = libvirt();
    let before = site.snapshot();
    let out = run(site.ftl("flinstones", "ftl-acquire").args(["--force", "--reason", "marmaduke hangs"]));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("virsh shutdown marmaduke") && stderr(&out).contains("Nothing was changed"),
        "{}",
        stderr(&out)
    );
    assert!(!pending(&site), "a refused force leaves no detach pending: {}", site.platform());
    let detaches = |s: &SimSite| {
        s.calls().iter().filter(|c| c["command"] == "virsh" && c["args"].to_string().contains("detach-device")).count()
    };
    assert_eq!(detaches(&site), 0, "no detach-device was run");
    assert_eq!(
        (site.snapshot().0, site.snapshot().1),
        (before.0, before.1),
        "the platform and the record are unchanged"
    );
    assert_eq!(site.ledger("marmaduke")["owner"], "marmaduke");
    // The same from the release side.
    let out = run(site.ftl("flinstones", "ftl-release").args(["--force", "--reason", "marmaduke hangs"]));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(!pending(&site));
}

#[test]
fn a_detach_left_pending_breaks_the_ledger_instead_of_rolling_back_and_a_rerun_finishes_it() {
    let site = libvirt();
    assert_eq!(code(&site.sim(&["fault", "no-release:marmaduke"])), 0);
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("may still finish later"), "{}", stderr(&out));
    assert!(pending(&site), "the simulated guest holds the detach request: {}", site.platform());
    let l = site.ledger("marmaduke");
    assert_eq!(l["state"], "broken", "not `owned`: the HBA may leave at any moment: {l}");
    assert_eq!(l["step"]["id"], "R5");
    // The guest lets the device go; the rerun finds the HBA gone and finishes the release.
    assert_eq!(code(&site.sim(&["fault", "clear"])), 0);
    site.wait_for(10, "the pending detach to finish", |s| s.board_domain().is_none());
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(site.ledger("marmaduke")["state"], "free");
    assert_eq!(code(&run(site.ftl("flinstones", "ftl-acquire"))), 0);
    assert_eq!(site.board_domain().as_deref(), Some("flinstones"));
}

#[test]
fn a_release_refuses_when_a_device_is_missing_or_sysfs_is_elsewhere() {
    let site = libvirt();
    let before = site.snapshot();
    // udev has not made the changer's link (or somebody removed it).
    let robot = site.path().join("marmaduke/dev/tape/by-id/scsi-3500110a0012345f0");
    let target = std::fs::read_link(&robot).unwrap();
    std::fs::remove_file(&robot).unwrap();
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("the robot") && stderr(&out).contains("missing"), "{}", stderr(&out));
    assert_eq!(site.ledger("marmaduke")["state"], "owned");
    std::os::unix::fs::symlink(&target, &robot).unwrap();
    // A sysfs that is not this guest's.
    site.edit_config("marmaduke", |c| {
        let sys = site.path().join("marmaduke/sys").display().to_string();
        c.replace(&format!("sysfs = \"{sys}\""), "sysfs = \"/nonexistent\"")
    });
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("host.sysfs"), "{}", stderr(&out));
    let out = run(site.ftl("marmaduke", "ftl-status").arg("--check"));
    assert_eq!(code(&out), 4, "{}", stdout(&out));
    assert!(stdout(&out).contains("[FAIL] library devices removable"), "{}", stdout(&out));
    assert_eq!((site.snapshot().0, site.snapshot().1), (before.0, before.1), "nothing changed");
}

#[test]
fn each_guest_belongs_to_one_declared_domain() {
    for (what, edit, key) in [
        ("an undeclared domain", "[controller.guests]\nzorro = \"zorro\"\n", "controller.guests.zorro"),
        ("two domains, one guest", "[controller.guests]\nflinstones = \"marmaduke\"\n", "controller.guests.marmaduke"),
    ] {
        let site = libvirt();
        site.edit_config("marmaduke", |c| {
            let start = c.find("[controller.guests]").unwrap();
            let end = c[start..].find("\n\n").map_or(c.len(), |e| start + e + 1);
            format!("{}{edit}{}", &c[..start], &c[end..])
        });
        let out = run(site.ftl("marmaduke", "ftl-status"));
        assert_eq!(code(&out), 2, "{what}: {}", stderr(&out));
        assert!(stderr(&out).contains(key) || stderr(&out).contains("controller.guests"), "{what}: {}", stderr(&out));
    }
}

#[test]
fn a_forced_plan_lists_the_detach_the_force_runs() {
    let site = SimSite::new();
    let out = run(site.ftl("flinstones", "ftl-acquire").args(["--force", "--reason", "r", "--dry-run"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("F1 detach from marmaduke") && stdout(&out).contains("deleteboard -b 7"),
        "{}",
        stdout(&out)
    );
}
