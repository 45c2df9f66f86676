//! Hostile and malformed input: configuration values with shell metacharacters reach commands
//! literally (never through a shell), and command output ftl cannot read is a clear error,
//! never a wrong decision.

use crate::support::*;
use std::os::unix::fs::PermissionsExt;

/// Replaces a fake command of `domain` with a script.
fn replace(site: &SimSite, domain: &str, name: &str, script: &str) {
    let path = site.path().join(domain).join("bin").join(name);
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn shell_metacharacters_in_the_configuration_are_passed_literally() {
    let site = SimSite::new();
    let cwd = site.dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let evil = ["$(touch pwned1)", "`touch pwned2`", "a;touch pwned3", "|touch pwned4", "&& touch pwned5", "'\"\\"];
    site.edit_config("marmaduke", |t| {
        let list: Vec<String> = evil.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
        t.replace("prefix = []", &format!("prefix = [\"/bin/echo\", {}]", list.join(", ")))
    });
    let out = run(site.ftl("marmaduke", "ftl-status").arg("--check").current_dir(&cwd));
    assert_eq!(code(&out), 4, "the controller's answer is nonsense, so the check fails: {}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("[FAIL] controller agrees with the ledger") && text.contains("$(touch"), "{text}");
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0, "nothing was run by a shell");
    // A release refuses on that answer rather than acting on it.
    let out = run(site.ftl("marmaduke", "ftl-release").current_dir(&cwd));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0);
}

#[test]
fn output_in_another_locale_refuses_at_the_precheck() {
    let site = SimSite::new();
    replace(
        &site,
        "marmaduke",
        "modinfo",
        "printf ' Kennung Ladeadr  Groesse Info Rev Modulname\\n141 fc580000 2d8c 116 1 sg (SCSA)\\n'",
    );
    let before = site.snapshot();
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("robot driver readable") && stderr(&out).contains("Kennung"), "{}", stderr(&out));
    assert_eq!(site.snapshot(), before);
}

#[test]
fn truncated_or_empty_output_in_a_step_rolls_back() {
    for (name, script, needle) in [
        (
            "mt",
            "case \"$3\" in status) printf 'Quantum DLT7000 tape drive:\\n   sense key(0x0)= No Addi';; esac; exit 0",
            "cannot read",
        ),
        ("mt", "exit 0", "cannot read"),
    ] {
        let site = SimSite::new();
        replace(&site, "marmaduke", name, script);
        let out = run(site.ftl("marmaduke", "ftl-release"));
        assert_eq!(code(&out), 1, "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle) && stderr(&out).contains("rolled back"), "{}", stderr(&out));
        assert_eq!(site.ledger("marmaduke")["owner"], "marmaduke");
        assert_eq!(site.platform()["domains"]["marmaduke"]["netbackup"], "running");
    }
}

#[test]
fn extra_columns_and_unknown_control_states() {
    let site = SimSite::new();
    // A drive table with an unknown control state: the drives are not declared DOWN on a guess.
    replace(
        &site,
        "marmaduke",
        "vmoprcmd",
        "case \"$1\" in -d) printf 'Drv Type   Control  User  Label\\n  0 dlt  BEREIT  -  No\\n';; esac; exit 0",
    );
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("unknown control state `BEREIT`"), "{}", stderr(&out));
    // bpdbjobs in another layout: the job check fails, the release is refused.
    let site = SimSite::new();
    replace(&site, "marmaduke", "bpdbjobs", "printf 'Auftrag;Typ;Status\\n'");
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("no active job") && stderr(&out).contains("fields"), "{}", stderr(&out));
}
