//! The fake commands print the real layouts: each output is compared line by line with the
//! real command's layout, and read back with ftl's own parsers.

use crate::support::*;

fn out_of(site: &SimSite, who: &str, name: &str, args: &[&str]) -> std::process::Output {
    let mut c = site.fake(who, name);
    c.args(args);
    run(c)
}

#[test]
fn mt_status_layouts() {
    let site = SimSite::new();
    expect(
        {
            let mut c = site.fake("marmaduke", "netbackup-stop");
            c.arg("stop");
            c
        },
        0,
    );
    let out = out_of(&site, "marmaduke", "mt", &["-f", "/dev/rmt/0", "rewind"]);
    assert_eq!(code(&out), 0);
    let out = out_of(&site, "marmaduke", "mt", &["-f", "/dev/rmt/0", "status"]);
    assert_eq!(code(&out), 0);
    assert_eq!(
        stdout(&out),
        "Quantum DLT7000 tape drive:\n   sense key(0x0)= No Additional Sense   residual= 0   retries= 0\n   file no= 0   block no= 0\n"
    );
    assert_eq!(ftl::os::parse_mt_status(&stdout(&out), ""), Ok(ftl::os::Tape::AtBot));
    // The last drive of a default site has no tape.
    let out = out_of(&site, "marmaduke", "mt", &["-f", "/dev/rmt/6", "status"]);
    assert_eq!(code(&out), 1);
    assert_eq!(stderr(&out), "/dev/rmt/6: no tape loaded or drive offline\n");
    assert_eq!(ftl::os::parse_mt_status("", &stderr(&out)), Ok(ftl::os::Tape::Empty));
    // A drive away from BOT.
    let p = site.platform();
    let away = p["drives"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["at_bot"] == false && d["tape"] == true)
        .expect("a drive away from BOT");
    let dev = format!("/dev/rmt/{}", away["index"]);
    let out = out_of(&site, "marmaduke", "mt", &["-f", &dev, "stat"]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[2].starts_with("   file no= ") && lines[2].contains("   block no= "), "{lines:?}");
    assert!(matches!(ftl::os::parse_mt_status(&stdout(&out), ""), Ok(ftl::os::Tape::Away { .. })));
    // A device of a board in another domain is missing; an unknown command is refused.
    let out = out_of(&site, "flinstones", "mt", &["-f", "/dev/rmt/0", "status"]);
    assert_eq!((code(&out), stderr(&out).as_str()), (1, "/dev/rmt/0: No such file or directory\n"));
    let out = out_of(&site, "marmaduke", "mt", &["-f", "/dev/rmt/0", "dance"]);
    assert_eq!((code(&out), stderr(&out).as_str()), (1, "mt: unknown command: dance\n"));
}

#[test]
fn modinfo_layout() {
    let site = SimSite::new();
    let out = out_of(&site, "marmaduke", "modinfo", &[]);
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(" Id Loadaddr   Size Info Rev Module Name"));
    let sg = lines.find(|l| l.contains(" sg ")).expect("sg is listed");
    let fields: Vec<&str> = sg.split_whitespace().collect();
    assert_eq!(&fields[5..], &["sg", "(SCSA", "Generic", "Revision:", "3.4d)"]);
    assert!(fields[0].parse::<u32>().is_ok() && u32::from_str_radix(fields[1], 16).is_ok(), "{sg}");
    assert!(sg.starts_with("141 "), "ids are right-aligned in three columns: {sg:?}");
    assert_eq!(ftl::os::parse_modinfo(&text, "sg"), Ok(Some(141)));
}

#[test]
fn vmoprcmd_layout() {
    let site = SimSite::new();
    expect(
        {
            let mut c = site.fake("marmaduke", "vmoprcmd");
            c.args(["-down", "1"]);
            c
        },
        0,
    );
    let out = out_of(&site, "marmaduke", "vmoprcmd", &["-d", "ds"]);
    let text = stdout(&out);
    assert!(text.contains("                                DRIVE STATUS\n"));
    assert!(text.contains("\nDrv Type   Control  User      Label  RecMID  ExtMID  Ready   Wr.Enbl.  ReqId\n"));
    let row = |i: u32| text.lines().find(|l| l.split_whitespace().next() == Some(&i.to_string())).unwrap().to_string();
    assert_eq!(row(0).split_whitespace().nth(2), Some("TLD"));
    assert_eq!(row(1).split_whitespace().nth(2), Some("DOWN-TLD"));
    let parsed = ftl::netbackup::parse_drive_status(&text).unwrap();
    assert_eq!(parsed.len(), 7, "the ADDITIONAL DRIVE STATUS section is not mistaken for drives");
    assert_eq!(parsed[&1].0, ftl::netbackup::Control::Down);
    let out = out_of(&site, "marmaduke", "vmoprcmd", &["-down", "9"]);
    assert_eq!(code(&out), 1);
    expect(
        {
            let mut c = site.fake("marmaduke", "netbackup-stop");
            c.arg("stop");
            c
        },
        0,
    );
    let out = out_of(&site, "marmaduke", "vmoprcmd", &["-d", "ds"]);
    assert_eq!(code(&out), 1);
    assert_eq!(stderr(&out), "The Media Manager device daemon (ltid) is not active on host marmaduke\n");
}

#[test]
fn bpdbjobs_bpps_pbind_layouts() {
    let site = SimSite::new();
    assert_eq!(code(&site.sim(&["job", "marmaduke", "start"])), 0);
    let out = out_of(&site, "marmaduke", "bpdbjobs", &["-report", "-most_columns"]);
    let text = stdout(&out);
    for line in text.lines() {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 64, "NetBackup 7 and later print about 64 fields: {line}");
        assert!(fields[0].parse::<u64>().is_ok() && fields[2].parse::<u32>().is_ok(), "{line}");
        assert_eq!(fields[7], "marmaduke", "the server column");
    }
    let jobs = ftl::netbackup::parse_jobs(&text).unwrap();
    assert_eq!(ftl::netbackup::active_jobs(&jobs).len(), 1);
    let out = out_of(&site, "marmaduke", "bpps", &["-x"]);
    let text = stdout(&out);
    assert!(text.starts_with("NB Processes\n------------\n"));
    assert!(text.contains("\nMM Processes\n------------\n"));
    assert!(text.lines().any(|l| l.ends_with("/usr/openv/volmgr/bin/ltid")));
    let listed = ftl::netbackup::parse_processes(&text).unwrap();
    assert_eq!(ftl::netbackup::own(&listed).len(), 7, "NetBackup's own daemons");
    assert_eq!(listed.len(), 8, "and the shared pbx_exchange");
    let out = out_of(&site, "marmaduke", "pbind", &["-q"]);
    assert!(stdout(&out).lines().all(|l| l.starts_with("process id ")));
    assert!(ftl::os::parse_pbind(&stdout(&out), &[28, 29, 30, 31]).unwrap().is_empty());
    let out = out_of(&site, "marmaduke", "psrset", &["-i"]);
    assert_eq!((code(&out), stdout(&out).as_str()), (0, ""));
}

#[test]
fn showusage_layout_and_exit_codes() {
    let site = SimSite::new();
    let mut c = site.ssp("flinstones", "showusage");
    c.args(["-b", "7", "-s"]);
    assert_eq!(expect(c, 6), "marmaduke\n", "configured in marmaduke");
    assert!(!site.path().join("marmaduke/bin/showusage").exists(), "controller commands live on the controller");
}

/// The fake showusage of a site, run as ftl runs it, reads through the product's own parser as
/// a real one would: configured in a domain, in no domain, unconfigured after a failed
/// init_attach, drained after a failed complete_detach.
#[test]
fn the_fake_showusage_passes_the_product_parser() {
    use ftl::exec::Runner;
    use ftl::platform::{Condition, Location};
    let site = SimSite::new();
    let config = ftl::config::Config::load(&site.config("flinstones")).unwrap();
    let platform = ftl::platform::for_config(&config);
    let read = || {
        let answers: Vec<_> =
            platform.locate("flinstones").iter().map(|c| ftl::exec::SystemRunner.run(c).unwrap()).collect();
        platform.read_location(&answers).unwrap_or_else(|e| panic!("{e}"))
    };
    let here = |d: &str| Location::Domain(d.to_string());
    let r = read();
    assert_eq!((r.location, r.condition), (here("marmaduke"), Condition::Settled), "{}", r.reported);
    let out = run(site.ftl("marmaduke", "ftl-release"));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r = read();
    assert_eq!((r.location, r.condition), (Location::Unassigned, Condition::Settled), "{}", r.reported);
    assert!(r.reported.contains("exit 3") && r.reported.contains("attachable"), "{}", r.reported);
    assert_eq!(code(&site.sim(&["fault", "dr-fail:init_attach"])), 0);
    assert_eq!(code(&run(site.ftl("flinstones", "ftl-acquire"))), 1);
    // ftl rolled the attach back: in no domain again. Left half done by hand, it reads unconfigured.
    assert_eq!(read().location, Location::Unassigned);
    run({
        let mut c = site.fake("flinstones", "netbackup-stop");
        c.arg("stop");
        c
    });
    let id = expect(site.fake("flinstones", "modinfo"), 0)
        .lines()
        .find(|l| l.split_whitespace().nth(5) == Some("sg"))
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap();
    let mut c = site.fake("flinstones", "modunload");
    c.args(["-i", &id]);
    expect(c, 0);
    let mut c = site.ssp("flinstones", "addboard");
    c.args(["-d", "flinstones", "-b", "7"]);
    expect(c, 7);
    let r = read();
    assert_eq!((r.location, r.condition), (here("flinstones"), Condition::Unused), "{}", r.reported);
    assert!(r.reported.contains("exit 5") && r.reported.contains("unconfigured"), "{}", r.reported);
    assert_eq!(code(&site.sim(&["fault", "clear"])), 0);
    // The ledger says free, the board is assigned: refused, unless forced, which finishes the attach.
    assert_eq!(code(&run(site.ftl("flinstones", "ftl-acquire"))), 4);
    let out = run(site.ftl("flinstones", "ftl-acquire").args(["--force", "--reason", "finish the attach"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(code(&site.sim(&["fault", "dr-fail:complete_detach"])), 0);
    assert_eq!(code(&run(site.ftl("flinstones", "ftl-release"))), 1);
    let r = read();
    assert_eq!((r.location, r.condition), (here("flinstones"), Condition::Unknown), "{}", r.reported);
    assert!(r.reported.contains("exit 7"), "{}", r.reported);
}

/// 20 invocations at once from both domains; the state stays valid and no change is lost.
#[test]
fn concurrent_invocations_keep_the_state_valid() {
    let site = SimSite::new();
    let children: Vec<_> = (0..20)
        .map(|i| {
            let mut c = match i % 4 {
                0 | 1 => {
                    let mut c = site.fake("marmaduke", "vmoprcmd");
                    c.args(["-down", &(i % 7).to_string()]);
                    c
                }
                2 => {
                    let mut c = site.fake("flinstones", "vmoprcmd");
                    c.args(["-up", &(i % 7).to_string()]);
                    c
                }
                _ => {
                    let mut c = site.ssp("flinstones", "showusage");
                    c.args(["-b", "7", "-s"]);
                    c
                }
            };
            (i % 4 == 3, c.stdout(std::process::Stdio::null()).spawn().unwrap())
        })
        .collect();
    for (showusage, mut child) in children {
        // showusage -s reports the board's state as its exit status: 6, configured.
        assert_eq!(child.wait().unwrap().code(), Some(if showusage { 6 } else { 0 }));
    }
    let p = site.platform();
    let m: Vec<&str> =
        p["domains"]["marmaduke"]["control"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    let f: Vec<&str> =
        p["domains"]["flinstones"]["control"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    for i in 0..20usize {
        match i % 4 {
            0 | 1 => assert_eq!(m[i % 7], "DOWN", "marmaduke drive {} lost its -down", i % 7),
            2 => assert_eq!(f[i % 7], "UP", "flinstones drive {} lost its -up", i % 7),
            _ => {}
        }
    }
    assert_eq!(site.count_calls("vmoprcmd") + site.count_calls("showusage"), 20, "every call is logged");
}

/// A fixture's output: what follows its `# ---` header line.
fn fixture(path: &str) -> String {
    let text = std::fs::read_to_string(format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    text[text.find("# ---\n").unwrap() + 6..].to_string()
}

#[test]
fn fake_commands_print_what_the_fixtures_show() {
    let site = SimSite::new();
    let fake = |name: &str, args: &[&str]| out_of(&site, "marmaduke", name, args);
    let out = fake("modunload", &[]);
    assert_eq!((code(&out), stderr(&out)), (255, fixture("modunload/usage.txt")));
    let out = fake("modunload", &["-i", "abc"]);
    assert_eq!((code(&out), stderr(&out)), (255, fixture("modunload/invalid_id_arg.txt")));
    let out = fake("modunload", &["-i", "9999"]);
    assert_eq!((code(&out), stderr(&out)), (22, fixture("modunload/invalid.txt")));
    let out = fake("modload", &[]);
    assert_eq!((code(&out), stderr(&out)), (255, fixture("modload/usage.txt")));
    // Any module file loads, whatever its directory; a file that is not there does not.
    assert_eq!(code(&fake("modload", &["/kernel/drv/sparcv9/st"])), 0);
    assert_eq!(code(&fake("modload", &["/usr/kernel/drv/sg"])), 0);
    let out = fake("modload", &["/kernel/drv/sparcv9/nosuch"]);
    assert_eq!((code(&out), stderr(&out)), (2, fixture("modload/cant_load.txt")));
    let ds = fake("vmoprcmd", &["-d", "ds"]);
    assert!(stdout(&ds).contains("DRIVE STATUS") && !stdout(&ds).contains("ADDITIONAL"), "{}", stdout(&ds));
    assert_eq!(ftl::netbackup::parse_drive_status(&stdout(&ds)).unwrap().len(), 7);
    assert!(stdout(&fake("vmoprcmd", &["-d"])).contains("ADDITIONAL DRIVE STATUS"));
    let down = fixture("vmoprcmd/ds_down_tld.txt");
    assert!(ftl::netbackup::parse_drive_status(&down).is_ok(), "the real capture parses");
    let ltid = fixture("vmoprcmd/ltid_not_active.txt");
    assert!(ftl::netbackup::parse_drive_status(&ltid).is_err());
    assert_eq!(code(&site.sim(&["fault", "fail:mt"])), 0);
    let out = fake("mt", &["-f", "/dev/rmt/0n", "rewind"]);
    assert_eq!((code(&out), stderr(&out)), (2, fixture("mt/rewind_failed.txt")));
    let out = fake("mt", &["-f", "/dev/rmt/0n", "status"]);
    assert_eq!((code(&out), stderr(&out)), (2, fixture("mt/status_ioctl_failed.txt")));
    assert_eq!(code(&site.sim(&["fault", "clear"])), 0);
    let mut stop = site.fake("marmaduke", "netbackup-stop");
    stop.arg("stop");
    assert_eq!(code(&run(stop)), 0);
    let out = fake("vmoprcmd", &["-d", "ds"]);
    assert_eq!(stderr(&out), ltid.replace("tggitsbackup", "marmaduke"));
}

/// `bppllist POLICY -U` carries the schedule labels a public script looks for, in that order,
/// and the product's parser reads the windows that follow `Daily Windows:`.
#[test]
fn bppllist_has_the_full_schedule_block() {
    let site = SimSite::new();
    let out = out_of(&site, "marmaduke", "bppllist", &["daily-marmaduke", "-U"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let trimmed: Vec<&str> = text.lines().map(str::trim).collect();
    let skeleton = fixture("bppllist/schedule_labels.txt");
    let labels: Vec<&str> = skeleton.lines().map(str::trim).collect();
    let mut at = 0;
    for label in labels.iter().filter(|l| !l.is_empty()) {
        let found = trimmed[at..].iter().position(|l| l.starts_with(label));
        assert!(found.is_some(), "`{label}` missing or out of order in:\n{text}");
        at += found.unwrap();
    }
    let windows = ftl::netbackup::parse_policy_windows(&text).unwrap();
    assert_eq!(windows.len(), 6, "{text}");
    // The skeleton alone is a schedule with no window, not an error.
    assert_eq!(ftl::netbackup::parse_policy_windows(&fixture("bppllist/schedule_labels.txt")).unwrap().len(), 0);
}
