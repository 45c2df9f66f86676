//! Bad configurations: each one exits 2 and names the file and the key.

use crate::support::*;

/// How to break the minimal file.
type Breaker = Box<dyn Fn(String) -> String>;

/// (what is wrong, how to break the minimal file, the key the message must name)
fn cases() -> Vec<(&'static str, Breaker, &'static str)> {
    vec![
        ("unknown top-level key", Box::new(|c| format!("colour = \"blue\"\n{c}")), "colour"),
        ("unknown key in a table", Box::new(|c| c.replace("[ledger]\n", "[ledger]\ndri = \"/x\"\n")), "ledger.dri"),
        ("missing ledger.dir", Box::new(|c| c.replace("[ledger]\ndir", "[ledger]\n#dir")), "ledger.dir"),
        ("missing library.name", Box::new(|c| c.replace("name = \"L3500\"", "")), "library.name"),
        ("missing [controller]", Box::new(|c| c.replace("[controller]\nprofile = \"starfire\"\n", "")), "controller"),
        ("wrong type", Box::new(|c| c.replace("id = 7", "id = \"seven\"")), "board.id"),
        ("negative board id", Box::new(|c| c.replace("id = 7", "id = -1")), "board.id"),
        ("duplicate drive index", Box::new(|c| c.replace("index = 1", "index = 0")), "drives[1].index"),
        ("relative device path", Box::new(|c| c.replace("\"/dev/rmt/1\"", "\"rmt/1\"")), "drives[1].device"),
        (
            "window that does not parse",
            Box::new(|c| c.replace("Mon-Sun 02:00-07:00", "Mon-Sun 2am-7am")),
            "domains.flinstones.windows[0]",
        ),
        ("domain not declared", Box::new(|c| c.replace("domain = \"marmaduke\"", "domain = \"barney\"")), "domain"),
        (
            "empty drive list",
            Box::new(|c| {
                let start = c.find("[[drives]]").unwrap();
                let end = c.find("[domains.marmaduke]").unwrap();
                format!("{}drives = []\n{}", &c[..start], &c[end..])
            }),
            "drives",
        ),
        ("duration without unit", Box::new(|c| format!("{c}[timeouts]\nrewind = \"10\"\n")), "timeouts.rewind"),
        ("relative ledger dir", Box::new(|c| c.replace("dir = \"/", "dir = \"")), "ledger.dir"),
        (
            "unknown controller profile",
            Box::new(|c| c.replace("profile = \"starfire\"", "profile = \"sunfire\"")),
            "controller.profile",
        ),
        (
            "relative command path",
            Box::new(|c| format!("{c}[netbackup]\nvmoprcmd = \"vmoprcmd\"\n")),
            "netbackup.vmoprcmd",
        ),
        ("empty stop command", Box::new(|c| format!("{c}[netbackup]\nstop = []\n")), "netbackup.stop"),
        (
            "host in two domains",
            Box::new(|c| c.replace("[domains.flinstones]\n", "[domains.flinstones]\nhosts = [\"marmaduke\"]\n")),
            "domains.marmaduke.hosts",
        ),
        ("bad domain name", Box::new(|c| c.replace("[domains.flinstones]", "[domains.\"fl/in\"]")), "domains.fl/in"),
        ("zero timeout", Box::new(|c| format!("{c}[timeouts]\naddboard = \"0s\"\n")), "timeouts.addboard"),
        (
            "boolean of the wrong type",
            Box::new(|c| format!("{c}[hooks]\nfail_job_when_elsewhere = \"yes\"\n")),
            "hooks.fail_job_when_elsewhere",
        ),
        (
            "windows not a list",
            Box::new(|c| c.replace("windows = [\"Mon-Sun 20:00-01:00\"]", "windows = \"Mon-Sun 20:00-01:00\"")),
            "domains.marmaduke.windows",
        ),
        (
            "unknown key in a drive",
            Box::new(|c| c.replacen("index = 0\n", "index = 0\nspeed = 5\n", 1)),
            "drives[0].speed",
        ),
    ]
}

#[test]
fn every_bad_configuration_exits_2_naming_the_file_and_the_key() {
    let cases = cases();
    assert!(cases.len() >= 15);
    for (what, breaker, key) in cases {
        let site = MiniSite::new();
        let text = breaker(minimal_config(&site.ledger()));
        site.write_config(&text);
        let out = run(site.cmd("ftl-status").arg("--json"));
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{what}: expected exit 2, got {}: {err}", code(&out));
        assert!(err.contains(&site.config().display().to_string()), "{what}: the file is not named: {err}");
        assert!(err.contains(&format!("`{key}`")), "{what}: the key `{key}` is not named: {err}");
        assert!(stdout(&out).is_empty(), "{what}: nothing on stdout");
    }
}

#[test]
fn syntax_errors_and_missing_files_name_the_file() {
    let site = MiniSite::new();
    site.write_config("[library\nname = 1\n");
    let out = run(site.cmd("ftl-status"));
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains(&site.config().display().to_string()) && stderr(&out).contains("line 1"),
        "{}",
        stderr(&out)
    );
    let out = run(cmd("ftl-status").args(["--config", "/nonexistent/ftl.toml"]));
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("/nonexistent/ftl.toml"), "{}", stderr(&out));
}

#[test]
fn every_problem_is_reported_at_once() {
    let site = MiniSite::new();
    let text = minimal_config(&site.ledger()).replace("id = 7", "id = \"x\"").replace("\"/dev/rmt/1\"", "\"rmt1\"");
    site.write_config(&text);
    let err = stderr(&run(site.cmd("ftl-status")));
    assert!(err.contains("2 problems") && err.contains("`board.id`") && err.contains("`drives[1].device`"), "{err}");
}

#[test]
fn the_example_configuration_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ftl.toml");
    let config = ftl::config::Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.drives.len(), 7);
    assert_eq!(config.controller.starfire().map(|s| s.board.id), Some(7));
    assert_eq!(config.domains.keys().collect::<Vec<_>>(), vec!["flinstones", "marmaduke"]);
}

#[test]
fn the_libvirt_example_configuration_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ftl-libvirt.toml");
    let config = ftl::config::Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let ftl::config::Controller::Libvirt(l) = &config.controller else { panic!("not the libvirt profile") };
    assert_eq!((l.pci.as_str(), l.guest("nbu-east")), ("0000:41:00.0", "nbu-east"));
    assert!(matches!(config.host, ftl::config::Host::Linux(_)));
}

/// Each profile reads its own keys and names the other's, and each runs on its own OS.
#[test]
fn a_profile_refuses_the_keys_and_the_os_of_the_other() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ftl-libvirt.toml");
    let libvirt = std::fs::read_to_string(example).unwrap();
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "a board on libvirt",
            format!(
                "{libvirt}
[board]
id = 7
"
            ),
            &["`board`"],
        ),
        (
            "an addboard timeout on libvirt",
            libvirt.replace("rewind = \"10m\"", "addboard = \"1h\""),
            &["`timeouts.addboard`"],
        ),
        ("a bad PCI address", libvirt.replace("0000:41:00.0", "41:00"), &["`controller.pci`", "41:00"]),
        (
            "a user alias without ua-",
            libvirt.replace("# alias = \"ua-ftl-hba\"", "alias = \"hba\""),
            &["`controller.alias`", "ua-"],
        ),
        ("Solaris on libvirt", libvirt.replace("os = \"linux\"", "os = \"solaris\""), &["`host.os`"]),
        (
            "no robot on Linux",
            libvirt.replace("robot = \"/dev/tape/by-id/scsi-3500110a0012345f0\"", ""),
            &["`host.robot`"],
        ),
        (
            "a Solaris command on Linux",
            libvirt.replace("kill = \"/usr/bin/kill\"", "kill = \"/usr/bin/kill\"\nmodinfo = \"/usr/sbin/modinfo\""),
            &["`commands.modinfo`"],
        ),
        (
            "an unknown profile",
            libvirt.replace("profile = \"libvirt\"", "profile = \"hyperv\""),
            &["`controller.profile`", "starfire, libvirt"],
        ),
        ("an unknown os", libvirt.replace("os = \"linux\"", "os = \"aix\""), &["`host.os`", "aix"]),
    ];
    for (what, text, wants) in cases {
        let site = MiniSite::new();
        site.write_config(&text);
        let out = run(site.cmd("ftl-status"));
        assert_eq!(code(&out), 2, "{what}: {}", stderr(&out));
        for want in wants {
            assert!(stderr(&out).contains(want), "{what}: wants {want}: {}", stderr(&out));
        }
    }
    let starfire =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ftl.toml")).unwrap();
    let site = MiniSite::new();
    site.write_config(&format!(
        "{starfire}
[host]
os = \"linux\"
robot = \"/dev/sg0\"
"
    ));
    let out = run(site.cmd("ftl-status"));
    assert!(code(&out) == 2 && stderr(&out).contains("`host.os`"), "Linux on the Starfire: {}", stderr(&out));
}

/// A configured program that cannot be started is named by its key and file, and `--if-idle`
/// does not call a domain busy when it could not ask.
#[test]
fn a_configured_program_that_cannot_start_names_its_key() {
    let site = SimSite::new();
    site.edit_config("marmaduke", |c| {
        c.lines()
            .map(|l| {
                if l.starts_with("bpdbjobs = ") {
                    "bpdbjobs = \"/nonexistent/bpdbjobs\"".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let config = site.config("marmaduke").display().to_string();
    let out = run(site.ftl("marmaduke", "ftl-release").arg("--if-idle"));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(code(&out), 4, "not knowing is a refusal, not nothing to do: {said}");
    assert!(said.contains(&format!("`netbackup.bpdbjobs` in {config}")), "{said}");
    assert!(!said.contains("not idle"), "it could not ask, so it cannot say busy: {said}");
    // Every configured program is looked for before a step needs it.
    let out = run(site.ftl("marmaduke", "ftl-status").arg("--check"));
    assert_eq!(code(&out), 4);
    assert!(stdout(&out).contains("/nonexistent/bpdbjobs (`netbackup.bpdbjobs`"), "{}", stdout(&out));
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("`netbackup.bpdbjobs` in {config}")), "{}", stderr(&out));
    // A program a step needs (bpps, in R2 and its undo) is missing: refused before R1, not broken.
    let site = SimSite::new();
    site.edit_config("marmaduke", |c| {
        c.replace("bpps = \"", "bpps = \"/nonexistent").replace("/nonexistent/", "/nonexistent/x/")
    });
    let before = site.snapshot();
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("`netbackup.bpps`"), "{}", stderr(&out));
    assert_eq!(site.snapshot(), before);
}
