//! The KVM host's `virsh` on a libvirt site: `[-c URI] dumpxml GUEST`, `attach-device GUEST FILE
//! --live`, `detach-device GUEST FILE --live` and `list [--name]`, over the platform state (the
//! board is the HBA; `board.domain` the guest that has it).
//!
//! Errors are printed as virsh prints them: `error: ` and virsh's own line, then `error: ` and
//! libvirt's message (a capture in launchpad bug 1867519, index file id 46592006454: "error:
//! Failed to detach device from /tmp/vf_interface_attached.xml" / "error: internal error: End of
//! file from qemu monitor"), and exit 1.

use crate::fake::{fail, ok, Call, Reply};
use crate::platform::Platform;
use crate::timing::secs;

/// virsh's options before the command: `-c URI` / `--connect URI` / `--connect=URI`, `-q`.
fn command_args(args: &[String]) -> Vec<&str> {
    let mut rest = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-c" | "--connect" => i += 1,
            a if a.starts_with("--connect=") || a == "-q" || a == "--quiet" => {}
            a => rest.push(a),
        }
        i += 1;
    }
    rest
}

/// A command's positional arguments and flags (`--domain G` and `--file F` named forms too).
fn operands<'a>(args: &[&'a str]) -> (Vec<&'a str>, Vec<&'a str>) {
    let (mut positional, mut flags) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "--domain" | "--file" if i + 1 < args.len() => {
                positional.push(args[i + 1]);
                i += 1;
            }
            a if a.starts_with("--") => flags.push(a),
            a => positional.push(a),
        }
        i += 1;
    }
    (positional, flags)
}

pub fn virsh(call: &Call, platform: &Platform) -> Result<Reply, Reply> {
    let lv = platform.libvirt.as_ref().ok_or_else(|| fail(1, "virsh: not a libvirt site\n"))?;
    let args = command_args(&call.args);
    let Some((command, rest)) = args.split_first() else {
        return Ok(fail(
            1,
            "error: no command given (the simulator answers dumpxml, attach-device, detach-device, list)\n",
        ));
    };
    // `hang:attach-device` (any subcommand): that virsh call never returns, the others answer.
    if platform.has_fault(&format!("hang:{command}")) {
        call.site.log_call(&call.host, &[format!("virsh {command}")], chrono::Utc::now(), f64::INFINITY, -1, None);
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    let (positional, flags) = operands(rest);
    let guest = |name: Option<&&str>| -> Result<String, Reply> {
        let name = name.ok_or_else(|| fail(1, format!("error: command '{command}' requires <domain> option\n")))?;
        if platform.domains.contains_key(*name) {
            Ok(name.to_string())
        } else {
            // virsh-util.c virshLookupDomainBy(): vshError(ctl, _("failed to get domain '%1$s'"), n).
            Err(fail(1, format!("error: failed to get domain '{name}'\n")))
        }
    };
    match *command {
        "list" => {
            call.sleep(secs::VIRSH);
            let mut running: Vec<(&u32, &String)> = lv.ids.iter().map(|(d, id)| (id, d)).collect();
            running.sort();
            if flags.contains(&"--name") {
                // INFERENCE: one name a line, then the blank line virsh ends a listing with.
                let mut out: String = running.iter().map(|(_, d)| format!("{d}\n")).collect();
                out.push('\n');
                return Ok(ok(out));
            }
            let mut out = String::from(" Id   Name         State\n------------------------------\n");
            for (id, d) in running {
                out.push_str(&format!(" {id:<4} {d:<12} running\n"));
            }
            out.push('\n');
            Ok(ok(out))
        }
        "dumpxml" => {
            let g = guest(positional.first())?;
            call.sleep(secs::VIRSH);
            let p = call.site.read().map_err(|e| fail(1, e))?;
            Ok(ok(dumpxml(&p, &g)))
        }
        "attach-device" | "detach-device" => {
            let g = guest(positional.first())?;
            let file = positional
                .get(1)
                .ok_or_else(|| fail(1, format!("error: command '{command}' requires <file> option\n")))?;
            let text = std::fs::read_to_string(file).map_err(|e| {
                // virfile.c virFileReadAll(): virReportSystemError(errno, _("Failed to open file '%1$s'"), path).
                let reason = e.to_string();
                let reason = reason.split(" (os error").next().unwrap_or(&reason).to_string();
                fail(1, format!("error: Failed to open file '{file}': {reason}\n"))
            })?;
            let attach = *command == "attach-device";
            let verb = if attach { "attach" } else { "detach" };
            // tools/virsh-domain.c cmdAttachDevice()/cmdDetachDevice():
            // vshError(ctl, _("Failed to attach device from %1$s"), from) (tests/fixtures/virsh/attach_failed.txt).
            let failed = |why: String| fail(1, format!("error: Failed to {verb} device from {file}\nerror: {why}\n"));
            let Some(address) = hostdev_address(&text) else {
                // INFERENCE: libvirt's parser rejects it; the wording here is the simulator's.
                return Ok(failed(
                    "XML error: the simulator understands only a PCI <hostdev> with a source address".into(),
                ));
            };
            if address != parse_pci(&lv.pci) {
                // INFERENCE: virPCIDeviceNew() on an address the host does not have.
                let name = format!("{:04x}:{:02x}:{:02x}.{:x}", address.0, address.1, address.2, address.3);
                return Ok(failed(format!(
                    "Device {name} not found: could not access /sys/bus/pci/devices/{name}/config: No such file or directory"
                )));
            }
            if platform.has_fault("fail:virsh") {
                call.sleep(secs::VIRSH);
                return Ok(failed("internal error: End of file from qemu monitor".into()));
            }
            if attach {
                attach_device(call, platform, &g, hostdev_alias(&text), failed)
            } else {
                detach_device(call, platform, &g, failed)
            }
        }
        // vsh.c: vshError(ctl, _("unknown command: '%1$s'"), tkdata).
        other => Ok(fail(1, format!("error: unknown command: '{other}'\n"))),
    }
}

fn attach_device(
    call: &Call,
    platform: &Platform,
    g: &str,
    alias: Option<String>,
    failed: impl Fn(String) -> Reply,
) -> Result<Reply, Reply> {
    let lv = platform.libvirt.as_ref().expect("a libvirt site");
    if let Some(owner) = &platform.board.domain {
        call.sleep(secs::VIRSH);
        // libvirt src/util/virhostdev.c virHostdevIsPCINodeDeviceUsed() (index file id
        // 2382525987): virReportError(VIR_ERR_OPERATION_INVALID, _("PCI device %1$s is in use by
        // driver %2$s, domain %3$s"), ...); as virsh prints it (index file id 1499265673):
        // "error: Requested operation is not valid: PCI device 0000:01:00.0 is in use by driver
        // QEMU, domain <guestname>" (tests/fixtures/virsh-sim/attach_in_use.txt). INFERENCE: the
        // same refusal when the guest already has it (its VFIO exemption is for other functions).
        return Ok(failed(format!(
            "Requested operation is not valid: PCI device {} is in use by driver QEMU, domain {owner}",
            lv.pci
        )));
    }
    call.sleep(secs::VIRSH_ATTACH);
    let probe = chrono::Utc::now().timestamp_millis() + (secs::HBA_PROBE / call.speed() * 1000.0) as i64;
    call.update(|p| {
        p.board.domain = Some(g.to_string());
        if let Some(lv) = p.libvirt.as_mut() {
            lv.present.iter_mut().for_each(|h| *h = false);
            lv.probe_at = Some(probe);
            lv.unplug_pending = false;
            // A user alias (libvirt: it must start with "ua-") is kept; else libvirt names it.
            lv.alias = alias.filter(|a| a.starts_with("ua-"));
        }
    })?;
    // tests/fixtures/virsh/attach_success.txt.
    Ok(ok("Device attached successfully\n"))
}

fn detach_device(call: &Call, platform: &Platform, g: &str, failed: impl Fn(String) -> Reply) -> Result<Reply, Reply> {
    if platform.board.domain.as_deref() != Some(g) {
        call.sleep(secs::VIRSH);
        let lv = platform.libvirt.as_ref().expect("a libvirt site");
        // INFERENCE: qemuDomainDetachPrepHostdev() reports VIR_ERR_DEVICE_MISSING ("device not
        // found: %s") for a PCI hostdev the guest does not have.
        return Ok(failed(format!("device not found: host pci device {} not found", lv.pci)));
    }
    // A guest releases the device only once its kernel has let every SCSI device of the HBA go
    // (and never while hung or with the fault no-release:G). libvirt then waits up to
    // QEMU_UNPLUG_TIMEOUT for the guest and returns 0 with the unplug pending: "detaching a
    // device from a running domain may be asynchronous ... in cooperation with a guest OS"
    // (virDomainDetachDeviceFlags, src/libvirt-domain.c); the hostdev stays in the live XML
    // until the guest lets go.
    let releases = |p: &Platform| {
        p.libvirt.as_ref().is_some_and(|lv| lv.probe_at.is_none() && lv.present.iter().all(|h| !h))
            && !p.has_fault(&format!("no-release:{g}"))
            && !p.has_fault(&format!("down:{g}"))
    };
    if releases(platform) {
        call.sleep(secs::VIRSH_DETACH);
    } else {
        call.update(|p| {
            if let Some(lv) = p.libvirt.as_mut() {
                lv.unplug_pending = true;
            }
        })?;
        call.sleep(secs::UNPLUG_TIMEOUT);
    }
    call.update(|p| {
        if p.board.domain.as_deref() == Some(g) && releases(p) {
            p.board.domain = None;
            if let Some(lv) = p.libvirt.as_mut() {
                lv.unplug_pending = false;
            }
        }
    })?;
    // tests/fixtures/virsh/detach_success.txt.
    Ok(ok("Device detached successfully\n"))
}

/// `(domain, bus, slot, function)` of `<hostdev mode='subsystem' type='pci'>`'s source address.
fn hostdev_address(xml: &str) -> Option<(u32, u32, u32, u32)> {
    let start = xml.find("<hostdev")?;
    let head = &xml[start..start + xml[start..].find('>')?];
    if attribute(head, "mode")? != "subsystem" || attribute(head, "type")? != "pci" {
        return None;
    }
    let source = &xml[start + xml[start..].find("<source")?..];
    let address = &source[source.find("<address")?..];
    let address = &address[..address.find('>')?];
    let hex = |name: &str| u32::from_str_radix(attribute(address, name)?.trim_start_matches("0x"), 16).ok();
    Some((hex("domain").unwrap_or(0), hex("bus")?, hex("slot")?, hex("function")?))
}

/// The `<alias name='...'/>` of the hostdev, if it has one.
fn hostdev_alias(xml: &str) -> Option<String> {
    let start = xml.find("<hostdev")?;
    let alias = &xml[start + xml[start..].find("<alias")?..];
    attribute(&alias[..alias.find('>')?], "name").map(str::to_string)
}

/// The value of `name='...'` or `name="..."` in a start tag.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let at = tag.split_whitespace().find_map(|part| part.strip_prefix(name)?.strip_prefix('='))?;
    let at = at.trim_end_matches('/');
    let quote = at.chars().next()?;
    let inner = at.strip_prefix(quote)?;
    Some(&inner[..inner.find(quote)?])
}

/// `0000:41:00.0` as numbers.
pub fn parse_pci(pci: &str) -> (u32, u32, u32, u32) {
    let mut parts = pci.split([':', '.']).map(|p| u32::from_str_radix(p, 16).unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// A stable UUID for a guest name (FNV-1a over the name, twice).
fn uuid(name: &str) -> String {
    let fnv = |seed: u64| name.bytes().fold(seed, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let (a, b) = (fnv(0xcbf2_9ce4_8422_2325), fnv(0x8422_2325_cbf2_9ce4));
    let hex = format!("{a:016x}{b:016x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// The live domain XML, laid out as libvirt formats it: libvirt's own test data
/// tests/qemuhotplugtestdomains/qemuhotplug-base-live+hostdev-pci.xml @
/// 706cd474872c2876c9444e3285054780fc6dbaff (a running guest, `id` on `<domain>`, and a PCI
/// hostdev with `<driver name='vfio'/>`, its alias and its guest-side address), with this site's
/// guest, HBA and alias (tests/fixtures/virsh-sim/dumpxml_hostdev.xml, dumpxml_no_hostdev.xml).
/// A hostdev whose unplug is pending is still listed.
pub fn dumpxml(p: &Platform, guest: &str) -> String {
    let lv = p.libvirt.as_ref().expect("a libvirt site");
    let id = lv.ids.get(guest).copied().unwrap_or(0);
    let mut x = format!("<domain type='kvm' id='{id}'>\n  <name>{guest}</name>\n  <uuid>{}</uuid>\n", uuid(guest));
    x.push_str(
        "  <memory unit='KiB'>4194304</memory>
  <currentMemory unit='KiB'>4194304</currentMemory>
  <vcpu placement='static'>4</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
    <apic/>
    <pae/>
  </features>
  <cpu mode='custom' match='exact' check='none'>
    <model fallback='forbid'>qemu64</model>
  </cpu>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>restart</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' index='0' model='piix3-uhci'>
      <alias name='usb'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x2'/>
    </controller>
    <controller type='ide' index='0'>
      <alias name='ide'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x1'/>
    </controller>
    <controller type='scsi' index='0' model='virtio-scsi'>
      <alias name='scsi0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
    </controller>
    <controller type='pci' index='0' model='pci-root'>
      <alias name='pci'/>
    </controller>
    <controller type='virtio-serial' index='0'>
      <alias name='virtio-serial0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>
    </controller>
    <input type='mouse' bus='ps2'>
      <alias name='input0'/>
    </input>
    <input type='keyboard' bus='ps2'>
      <alias name='input1'/>
    </input>
    <audio id='1' type='none'/>
",
    );
    if p.board.domain.as_deref() == Some(guest) {
        let (d, b, s, f) = parse_pci(&lv.pci);
        let (gd, gb, gs, gf) = parse_pci(crate::kernel::GUEST_PCI);
        let alias = lv.alias.clone().unwrap_or_else(|| "hostdev0".into());
        x.push_str(&format!(
            "    <hostdev mode='subsystem' type='pci' managed='yes'>
      <driver name='vfio'/>
      <source>
        <address domain='{d:#06x}' bus='{b:#04x}' slot='{s:#04x}' function='{f:#x}'/>
      </source>
      <alias name='{alias}'/>
      <address type='pci' domain='{gd:#06x}' bus='{gb:#04x}' slot='{gs:#04x}' function='{gf:#x}'/>
    </hostdev>
"
        ));
    }
    x.push_str("    <memballoon model='none'/>\n  </devices>\n  <seclabel type='none' model='none'/>\n</domain>\n");
    x
}
