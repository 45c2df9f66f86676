//! The blueprint's DR prerequisites on the simulator: each passes on a fresh site, and each, made
//! to fail, refuses the hand-over it applies to (naming its command or file and quoting the
//! evidence) and shows in `ftl-status --check`, while changing nothing.

use crate::support::*;

fn check(site: &SimSite, domain: &str) -> (i32, String) {
    let out = run(site.ftl(domain, "ftl-status").arg("--check"));
    (code(&out), stdout(&out))
}

/// A release of marmaduke refused with exit 4 by a failed precheck whose text holds `evidence`.
fn release_refused(site: &SimSite, evidence: &[&str]) {
    let before = site.snapshot();
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    for e in evidence {
        assert!(stderr(&out).contains(e), "`{e}` not in: {}", stderr(&out));
    }
    assert_eq!(site.snapshot(), before, "a refused release changed something");
    let (exit, said) = check(site, "marmaduke");
    assert_eq!(exit, 4, "{said}");
    for e in evidence {
        assert!(said.contains(e), "--check: `{e}` not in: {said}");
    }
}

#[test]
fn a_fresh_site_meets_every_prerequisite() {
    let site = SimSite::new();
    let (exit, said) = check(&site, "marmaduke");
    assert_eq!(exit, 0, "{said}");
    for name in [
        "DR patches installed",
        "kernel cage enabled",
        "dr-max-mem set",
        "memory interleaving off",
        "no DR-unsafe device open",
    ] {
        assert!(said.contains(name), "{name} not checked: {said}");
    }
    assert!(said.contains("DR Kernel Cage is ENABLED"), "{said}");
    // The dry runs name what the prerequisite checks run.
    let plan = stdout(&run(site.ftl("marmaduke", "ftl-release").arg("--dry-run")));
    for what in ["uname -r", "showrev -p", "etc/system", "/bin/cat", "showusage -r UNSAFE"] {
        assert!(plan.contains(what), "{what} not in the release plan: {plan}");
    }
    assert_eq!(code(&run(site.ftl("marmaduke", "ftl-release"))), 0);
    let plan = stdout(&run(site.ftl("flinstones", "ftl-acquire").arg("--dry-run")));
    assert!(plan.contains("uname -r") && !plan.contains("-r UNSAFE"), "{plan}");
}

#[test]
fn no_kernel_cage_refuses_a_release() {
    let site = SimSite::new();
    let system = site.path().join("marmaduke/etc/system");
    std::fs::write(&system, "* set kernel_cage_enable=1\n").unwrap();
    release_refused(
        &site,
        &["kernel cage enabled", &format!("{} has no `set kernel_cage_enable=1`", system.display())],
    );
    // Set but not yet in effect: the messages say it is disabled.
    std::fs::write(&system, "set kernel_cage_enable=1\n").unwrap();
    let messages = site.path().join("marmaduke/var/adm/messages");
    std::fs::write(&messages, "Dec  1 09:00:00 marmaduke unix: NOTICE: DR kernel Cage is DISABLED\n").unwrap();
    release_refused(&site, &["DR kernel Cage is DISABLED", "reboot"]);
    // Whatever else the file holds: a byte that is not UTF-8 hides nothing.
    std::fs::write(
        &messages,
        b"Dec  1 09:00:00 marmaduke unix: NOTICE: DR Kernel Cage is DISABLED\nDec  1 09:00:01 marmaduke caf\xe9\n",
    )
    .unwrap();
    release_refused(&site, &["DR Kernel Cage is DISABLED", "reboot"]);
    // Any non-zero value enables the cage, and a comment in another encoding is only a comment.
    std::fs::write(&messages, "").unwrap();
    std::fs::write(&system, b"* r\xe9glages DR\nset kernel_cage_enable=0x1\n").unwrap();
    assert_eq!(check(&site, "marmaduke").0, 0, "{}", check(&site, "marmaduke").1);
}

#[test]
fn no_kernel_cage_refuses_an_acquire_too() {
    let site = SimSite::new();
    assert_eq!(code(&run(site.ftl("marmaduke", "ftl-release"))), 0);
    let system = site.path().join("flinstones/etc/system");
    std::fs::write(&system, "set kernel_cage_enable=0\n").unwrap();
    let before = site.snapshot();
    let out = run(site.ftl("flinstones", "ftl-acquire"));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("sets kernel_cage_enable=0"), "{}", stderr(&out));
    assert_eq!(site.snapshot(), before);
}

#[test]
fn a_missing_patch_on_solaris_2_6_refuses_both_hand_overs() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["fault", "solaris-2.6:marmaduke", "solaris-2.6:flinstones"])), 0);
    // On 2.6 the patches matter and the kernel cage does not.
    std::fs::write(site.path().join("marmaduke/etc/system"), "").unwrap();
    let (exit, said) = check(&site, "marmaduke");
    assert_eq!(exit, 0, "{said}");
    assert!(said.contains("SunOS 5.6: no kernel cage"), "{said}");
    let showrev = site.path().join("marmaduke/var/sadm/showrev-p");
    let text = std::fs::read_to_string(&showrev).unwrap();
    std::fs::write(&showrev, text.lines().filter(|l| !l.contains("107000")).collect::<Vec<_>>().join("\n")).unwrap();
    release_refused(&site, &["DR patches installed", "no revision of 106048, 106284", "prerequisites.patches"]);

    // The attach side: flinstones lacks 105181; its acquire is refused before anything runs.
    std::fs::write(&showrev, &text).unwrap();
    assert_eq!(code(&run(site.ftl("marmaduke", "ftl-release"))), 0);
    let theirs = site.path().join("flinstones/var/sadm/showrev-p");
    std::fs::write(&theirs, text.lines().skip(1).collect::<Vec<_>>().join("\n")).unwrap();
    let before = site.snapshot();
    let out = run(site.ftl("flinstones", "ftl-acquire"));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("no revision of 105181"), "{}", stderr(&out));
    assert_eq!(site.snapshot(), before);
}

#[test]
fn dr_max_mem_zero_refuses_an_acquire_on_solaris_2_6() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["fault", "solaris-2.6:flinstones"])), 0);
    let (exit, said) = check(&site, "flinstones");
    assert!(said.contains("not checked: prerequisites.dr_max_mem"), "{exit} {said}");
    assert_eq!(code(&run(site.ftl("marmaduke", "ftl-release"))), 0);
    let probe = site.dir.path().join("dr-max-mem");
    std::fs::write(&probe, "#!/bin/sh\necho 'dr-max-mem=0'\n").unwrap();
    std::fs::set_permissions(&probe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    site.edit_config("flinstones", |c| {
        c.replace("[prerequisites]", &format!("[prerequisites]\ndr_max_mem = [{:?}]", probe.display().to_string()))
    });
    let out = run(site.ftl("flinstones", "ftl-acquire"));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("dr-max-mem=0"), "{}", stderr(&out));
    std::fs::write(&probe, "#!/bin/sh\necho 'dr-max-mem=1024'\n").unwrap();
    let out = run(site.ftl("flinstones", "ftl-acquire"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn memory_interleaving_in_the_postrc_refuses_a_release() {
    let site = SimSite::new();
    let postrc = site.path().join("controller/etc/marmaduke/.postrc");
    std::fs::write(&postrc, "level 16\nmem_interleave_ok\n").unwrap();
    release_refused(&site, &["memory interleaving off", "enables interleaving: `mem_interleave_ok`"]);
    std::fs::write(&postrc, "level 16\n# mem_interleave_ok\n").unwrap();
    assert_eq!(check(&site, "marmaduke").0, 0);
}

#[test]
fn an_unsafe_device_open_refuses_a_release() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["fault", "unsafe:marmaduke"])), 0);
    release_refused(&site, &["no DR-unsafe device open", "st@5,0 (st)", "-r UNSAFE"]);
}
