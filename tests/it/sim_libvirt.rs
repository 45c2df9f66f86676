//! A libvirt site (`ftl-sim init --platform libvirt`), driven through its fake commands as
//! processes and through its guests' sysfs as ftl writes it: virsh's preconditions and formats,
//! mt-st's formats, the kernel's handling of `delete` and `scan`, and the watcher's life.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const HOSTDEV: &str = "<hostdev mode='subsystem' type='pci' managed='yes'>
  <source>
    <address domain='0x0000' bus='0x41' slot='0x00' function='0x0'/>
  </source>
  <alias name='ua-ftl-hba'/>
</hostdev>
";

fn libvirt_site() -> SimSite {
    SimSite::with_args(&["--speed", "1000", "--platform", "libvirt"])
}

/// A fixture's output: what follows its `# ---` header line.
fn fixture(path: &str) -> String {
    let text = std::fs::read_to_string(format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    text[text.find("# ---\n").unwrap() + 6..].to_string()
}

/// `virsh -c qemu:///system ARGS`, the hostdev XML on standard input as ftl gives it.
fn virsh(site: &SimSite, args: &[&str]) -> std::process::Output {
    use std::io::Write;
    let mut c = site.fake("controller", "virsh");
    c.args(["-c", "qemu:///system"]).args(args);
    c.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    // A command that reads nothing (dumpxml) may have exited already.
    let _ = child.stdin.take().unwrap().write_all(HOSTDEV.as_bytes());
    child.wait_with_output().unwrap()
}

fn sys(site: &SimSite, guest: &str) -> PathBuf {
    site.path().join(guest).join("sys")
}

/// The device paths ftl.toml of `guest` names: every drive, then the robot.
fn device_paths(site: &SimSite, guest: &str) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(site.config(guest)).unwrap();
    text.lines()
        .filter(|l| l.starts_with("device = ") || l.starts_with("robot = "))
        .map(|l| PathBuf::from(l.split_once(" = ").unwrap().1.trim_matches('"')))
        .collect()
}

/// The class entry (`class/scsi_tape/nst0`, `class/scsi_generic/sg7`) of a device path, as ftl
/// finds it: realpath, then the kernel name.
fn class_entry(site: &SimSite, guest: &str, device: &Path) -> PathBuf {
    let name = device.canonicalize().unwrap().file_name().unwrap().to_str().unwrap().to_string();
    let class = if name.starts_with("sg") { "scsi_generic" } else { "scsi_tape" };
    sys(site, guest).join("class").join(class).join(name)
}

fn wait_until(what: &str, check: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}

fn has_hostdev(site: &SimSite, guest: &str) -> bool {
    let out = virsh(site, &["dumpxml", guest]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    stdout(&out).contains("<hostdev mode='subsystem' type='pci'")
}

/// ftl's quiesce: `1` to the `delete` of every drive and of the robot, then wait until gone.
fn delete_all(site: &SimSite, guest: &str) -> Duration {
    let entries: Vec<PathBuf> = device_paths(site, guest).iter().map(|d| class_entry(site, guest, d)).collect();
    for e in &entries {
        std::fs::write(e.join("device/delete"), "1").unwrap();
    }
    wait_until("every device is deleted", || entries.iter().all(|e| !e.exists()))
}

#[test]
fn the_site_has_the_contract_layout() {
    let site = libvirt_site();
    let text = std::fs::read_to_string(site.config("marmaduke")).unwrap();
    for line in [
        "profile = \"libvirt\"",
        "prefix = []",
        "uri = \"qemu:///system\"",
        "pci = \"0000:41:00.0\"",
        "alias = \"ua-ftl-hba\"",
        "[controller.guests]",
        "os = \"linux\"",
    ] {
        assert!(text.lines().any(|l| l == line), "`{line}` missing from:\n{text}");
    }
    let virsh_line = format!("virsh = \"{}\"", site.path().join("controller/bin/virsh").display());
    let sysfs_line = format!("sysfs = \"{}\"", sys(&site, "marmaduke").display());
    assert!(text.contains(&virsh_line) && text.contains(&sysfs_line), "{text}");
    let paths = device_paths(&site, "marmaduke");
    assert_eq!(paths.len(), 8, "7 drives and the robot");
    for (i, path) in paths.iter().enumerate() {
        assert!(path.starts_with(site.path().join("marmaduke/dev/tape/by-id")), "{}", path.display());
        let real = path.canonicalize().unwrap();
        let want = if i < 7 { format!("nst{i}") } else { "sg7".to_string() };
        assert_eq!(real, site.path().join("marmaduke/dev").join(&want));
        let device = class_entry(&site, "marmaduke", path).join("device").canonicalize().unwrap();
        assert_eq!(device.file_name().unwrap().to_str().unwrap(), format!("2:0:{i}:0"));
        assert!(device.join("delete").is_file());
    }
    assert!(sys(&site, "marmaduke").join("class/scsi_host/host2/scan").is_file());
    // The guest without the HBA has none of it; Solaris and SSP commands are not there.
    for path in device_paths(&site, "flinstones") {
        assert!(!path.exists(), "{}", path.display());
    }
    assert!(!sys(&site, "flinstones").join("class/scsi_host/host2").exists());
    assert!(
        !site.path().join("marmaduke/bin/modinfo").exists() && !site.path().join("controller/bin/showusage").exists()
    );
    assert_eq!(site.board_domain().as_deref(), Some("marmaduke"));
}

#[test]
fn virsh_prints_libvirts_formats() {
    let site = libvirt_site();
    let out = virsh(&site, &["dumpxml", "marmaduke"]);
    assert_eq!((code(&out), stdout(&out)), (0, fixture("virsh-sim/dumpxml_hostdev.xml")));
    let flinstones = stdout(&virsh(&site, &["dumpxml", "flinstones"]));
    assert!(flinstones.starts_with("<domain type='kvm' id='2'>\n  <name>flinstones</name>\n"), "{flinstones}");
    assert!(!flinstones.contains("<hostdev"), "{flinstones}");
    let out = virsh(&site, &["dumpxml", "nosuch"]);
    assert_eq!((code(&out), stderr(&out).as_str()), (1, "error: failed to get domain 'nosuch'\n"));
    let out = virsh(&site, &["list", "--name"]);
    assert_eq!((code(&out), stdout(&out).as_str()), (0, "marmaduke\nflinstones\n\n"));
    // Attaching to flinstones while marmaduke has the HBA: libvirt's refusal, and nothing moves.
    let out = virsh(&site, &["attach-device", "flinstones", "/dev/stdin", "--live"]);
    assert_eq!((code(&out), stderr(&out)), (1, fixture("virsh-sim/attach_in_use.txt")));
    assert_eq!(site.board_domain().as_deref(), Some("marmaduke"));
    assert!(has_hostdev(&site, "marmaduke") && !has_hostdev(&site, "flinstones"));
}

#[test]
fn a_detach_completes_only_once_the_guest_deleted_its_devices() {
    let site = libvirt_site();
    // Devices still there: libvirt returns 0 with the unplug pending; the HBA stays.
    let out = virsh(&site, &["detach-device", "marmaduke", "/dev/stdin", "--live"]);
    assert_eq!((code(&out), stdout(&out)), (0, fixture("virsh/detach_success.txt")));
    std::thread::sleep(Duration::from_millis(100));
    assert!(has_hostdev(&site, "marmaduke"), "the guest still has the HBA's devices");
    assert_eq!(site.board_domain().as_deref(), Some("marmaduke"));
    let out = virsh(&site, &["attach-device", "flinstones", "/dev/stdin", "--live"]);
    assert_eq!(code(&out), 1, "still in use while the unplug is pending");
    // ftl's quiesce: the devices go, then the pending unplug completes.
    delete_all(&site, "marmaduke");
    for path in device_paths(&site, "marmaduke") {
        assert!(std::fs::symlink_metadata(&path).is_err(), "{} and its by-id link are gone", path.display());
    }
    wait_until("the HBA left marmaduke", || !has_hostdev(&site, "marmaduke"));
    assert_eq!(site.board_domain(), None);
    assert!(!sys(&site, "marmaduke").join("class/scsi_host/host2").exists());
}

#[test]
fn attach_then_quiesce_then_detach_hands_the_hba_over() {
    let site = libvirt_site();
    let took = delete_all(&site, "marmaduke");
    assert!(took < Duration::from_secs(1), "the kernel applied the writes in {took:?}");
    let out = virsh(&site, &["detach-device", "marmaduke", "/dev/stdin", "--live"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!has_hostdev(&site, "marmaduke"), "released at once: the guest had let every device go");
    let out = virsh(&site, &["attach-device", "flinstones", "/dev/stdin", "--live"]);
    assert_eq!((code(&out), stdout(&out)), (0, fixture("virsh/attach_success.txt")));
    assert!(has_hostdev(&site, "flinstones"));
    let paths = device_paths(&site, "flinstones");
    wait_until("flinstones' drives and robot appear", || paths.iter().all(|p| p.exists()));
    for (i, path) in paths.iter().enumerate() {
        let name = path.canonicalize().unwrap().file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(name, if i < 7 { format!("nst{i}") } else { "sg7".into() });
    }
    assert!(device_paths(&site, "marmaduke").iter().all(|p| !p.exists()));
    let out = virsh(&site, &["attach-device", "marmaduke", "/dev/stdin", "--live"]);
    assert!(stderr(&out).ends_with("is in use by driver QEMU, domain flinstones\n"), "{}", stderr(&out));
}

#[test]
fn a_scan_brings_back_deleted_devices_while_the_hba_is_there() {
    let site = libvirt_site();
    let paths = device_paths(&site, "marmaduke");
    let entry = class_entry(&site, "marmaduke", &paths[0]);
    std::fs::write(entry.join("device/delete"), "1").unwrap();
    wait_until("nst0 is deleted", || !entry.exists());
    assert!(!paths[0].exists() && paths[1].exists(), "only that device went");
    std::fs::write(sys(&site, "marmaduke").join("class/scsi_host/host2/scan"), "- - -").unwrap();
    wait_until("nst0 is back", || paths[0].exists() && entry.exists());
    // Away from the guest, there is no host to scan.
    delete_all(&site, "marmaduke");
    assert_eq!(code(&virsh(&site, &["detach-device", "marmaduke", "/dev/stdin", "--live"])), 0);
    let host = sys(&site, "marmaduke").join("class/scsi_host/host2");
    wait_until("the HBA's SCSI host leaves marmaduke", || !host.exists());
    assert!(std::fs::write(sys(&site, "marmaduke").join("class/scsi_host/host2/scan"), "- - -").is_err());
}

#[test]
fn mt_st_prints_its_formats() {
    let site = libvirt_site();
    let mt = |args: &[&str]| {
        let mut c = site.fake("marmaduke", "mt");
        c.args(args);
        run(c)
    };
    let drives = device_paths(&site, "marmaduke");
    let d0 = drives[0].to_str().unwrap();
    let out = mt(&["-f", d0, "status"]);
    assert_eq!((code(&out), stderr(&out)), (1, format!("{d0}: Device or resource busy\n")), "ltid holds it");
    let mut stop = site.fake("marmaduke", "netbackup-stop");
    stop.arg("stop");
    expect(stop, 0);
    assert_eq!(code(&mt(&["-f", d0, "rewind"])), 0);
    let out = mt(&["-f", d0, "status"]);
    assert_eq!((code(&out), stdout(&out)), (0, fixture("mt-st/status_bot_online.txt")));
    let empty = drives[6].to_str().unwrap();
    let out = mt(&["-f", empty, "status"]);
    assert_eq!((code(&out), stdout(&out)), (0, fixture("mt-st/status_no_tape.txt")));
    let out = mt(&["-f", empty, "rewind"]);
    assert_eq!((code(&out), stderr(&out)), (2, fixture("mt-st/offline_error.txt").replace("/dev/nst0", empty)));
    let out = mt(&["-f", "/dev/no-such-tape", "rewind"]);
    assert_eq!((code(&out), stderr(&out)), (1, fixture("mt-st/no_such_device.txt")));
    let out = mt(&["-f", "/dev/null", "status"]);
    assert_eq!((code(&out), stderr(&out)), (2, fixture("mt-st/not_a_tape.txt")));
    let out = mt(&["-f", d0, "dance"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).starts_with("mt: unknown command \"dance\"\nusage: mt "), "{}", stderr(&out));
    // Another guest's device does not exist there.
    let theirs = device_paths(&site, "flinstones")[0].display().to_string();
    let mut c = site.fake("flinstones", "mt");
    c.args(["-f", &theirs, "status"]);
    let out = run(c);
    assert_eq!((code(&out), stderr(&out)), (1, format!("{theirs}: No such file or directory\n")));
}

/// The watcher processes (`ftl-sim kernel`) whose working directory is this site.
fn kernels(site: &SimSite) -> Vec<u32> {
    let dir = site.path().canonicalize().unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            (cmdline == b"ftl-sim\0kernel\0"
                && !stat.contains(") Z")
                && std::fs::read_link(e.path().join("cwd")).ok()? == dir)
                .then_some(pid)
        })
        .collect()
}

#[test]
fn one_watcher_per_site_restarted_by_any_fake_and_gone_with_the_site() {
    let site = libvirt_site();
    wait_until("init started the watcher", || kernels(&site).len() == 1);
    let children: Vec<_> = (0..10)
        .map(|i| {
            let mut c = site.fake(if i % 2 == 0 { "marmaduke" } else { "flinstones" }, "vmoprcmd");
            c.args(["-d", "ds"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
            c.spawn().unwrap()
        })
        .collect();
    for mut c in children {
        c.wait().unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    let pids = kernels(&site);
    assert_eq!(pids.len(), 1, "never twice for one site: {pids:?}");
    // Idle, it polls at most every 20 ms and slows down: measure what it costs.
    let ticks = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = ticks(pids[0]);
    std::thread::sleep(Duration::from_secs(2));
    let used = ticks(pids[0]) - before;
    assert!(used <= 10, "the idle watcher used {used} clock ticks in 2 s");
    signal(pids[0], libc::SIGKILL);
    wait_until("the killed watcher is gone", || kernels(&site).is_empty());
    run(site.fake("marmaduke", "bpps"));
    wait_until("a fake started it again", || kernels(&site).len() == 1);
    let pid = kernels(&site)[0];
    let dir = site.path();
    drop(site);
    assert!(!dir.exists());
    let start = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z")
    {
        assert!(start.elapsed() < Duration::from_secs(2), "the watcher outlived its site");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_starfire_site_has_no_watcher_and_the_old_layout() {
    let site = SimSite::new();
    assert!(kernels(&site).is_empty());
    assert!(!site.path().join("controller/bin/virsh").exists() && !site.path().join("marmaduke/sys").exists());
    assert!(site.platform().get("libvirt").is_none(), "platform.json is unchanged");
}

#[test]
fn faults_on_a_libvirt_site() {
    let site = libvirt_site();
    assert_eq!(code(&site.sim(&["fault", "sg-busy:marmaduke"])), 1, "a Solaris fault does not apply");
    assert_eq!(code(&site.sim(&["fault", "no-release:marmaduke", "fail:virsh"])), 0);
    let out = virsh(&site, &["detach-device", "marmaduke", "/dev/stdin", "--live"]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out),
        "error: Failed to detach device from /dev/stdin\nerror: internal error: End of file from qemu monitor\n"
    );
    assert_eq!(code(&site.sim(&["fault", "clear"])), 0);
    assert_eq!(code(&site.sim(&["fault", "no-release:marmaduke"])), 0);
    delete_all(&site, "marmaduke");
    assert_eq!(code(&virsh(&site, &["detach-device", "marmaduke", "/dev/stdin", "--live"])), 0);
    std::thread::sleep(Duration::from_millis(100));
    assert!(has_hostdev(&site, "marmaduke"), "a guest that never releases keeps it");
    assert_eq!(code(&site.sim(&["fault", "clear"])), 0);
    wait_until("released once the fault is cleared", || !has_hostdev(&site, "marmaduke"));
    assert_eq!(code(&site.sim(&["fault", "controller-down"])), 0);
    let out = virsh(&site, &["dumpxml", "marmaduke"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).starts_with("error: failed to connect to the hypervisor\n"), "{}", stderr(&out));
}

/// The demo on libvirt runs the same policy and executor as on the Starfire: four hand-overs of
/// five steps, ending healthy, with the Linux host's step names.
#[test]
fn the_demo_hands_the_hba_over_and_back() {
    let out = run(cmd("ftl-sim").args(["demo", "--platform", "libvirt", "--speed", "1000", "--json"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["healthy"], true, "{report}");
    let steps = report["timeline"].as_array().unwrap();
    assert_eq!(steps.len(), 20, "five steps in each of four hand-overs");
    assert!(steps.iter().all(|s| s["ok"] == true));
    assert!(steps.iter().any(|s| s.to_string().contains("remove the tape and changer devices")), "{report}");
}

/// A site dropped while its guest's kernel is still probing an HBA just attached (the devices
/// appear during the removal): the watcher finishes the removal and leaves nothing behind.
#[test]
fn a_site_removed_during_a_probe_leaves_nothing_behind() {
    for _ in 0..5 {
        let site = libvirt_site();
        delete_all(&site, "marmaduke");
        assert_eq!(code(&virsh(&site, &["detach-device", "marmaduke", "/dev/stdin", "--live"])), 0);
        assert_eq!(code(&virsh(&site, &["attach-device", "flinstones", "/dev/stdin", "--live"])), 0);
        let pids = kernels(&site);
        let dir = site.path();
        // Removed as an operator would, while the watcher runs (not through SimSite's drop,
        // which stops the watcher first): a second `rm -rf` may be needed when the first races
        // with a probe, never more, and then the watcher exits by itself.
        let passes = std::cell::Cell::new(0);
        wait_until("the site is gone", || {
            passes.set(passes.get() + 1);
            std::fs::remove_dir_all(&dir).is_ok() || !dir.exists()
        });
        assert!(passes.get() <= 3, "{} removals of {}", passes.get(), dir.display());
        drop(site);
        wait_until("its watcher is gone", || {
            pids.iter()
                .all(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).map(|s| s.contains(") Z")).unwrap_or(true))
        });
    }
}
