//! The Linux guests' own command on a libvirt site: mt-st's `mt -f DEVICE rewind|status|offline`.
//!
//! Formats and exit statuses are those of iustin/mt-st mt.c @ a07846b2e3a2cad77f2c3951edace862549860ca
//! (tests/fixtures/mt-st/): open(2) failing is `perror(tape_name)` and exit 1, a failed ioctl is
//! `perror(tape_name)` and exit 2, an unknown command prints `mt: unknown command "X"` and the usage
//! (exit 1). The device is the guest's: a path that resolves (through udev's by-id link) to this
//! guest's `dev/nstT` or `dev/stT` is drive T; one that does not exist is ENOENT; any other file is
//! not a tape (ENOTTY on the ioctl).

use crate::fake::{fail, ok, Call, Reply};
use crate::platform::{Platform, Running};
use crate::timing::secs;

/// mtio.h: GMT_BOT, GMT_ONLINE, GMT_DR_OPEN, GMT_IM_REP_EN.
const GMT_BOT: u32 = 0x4000_0000;
const GMT_ONLINE: u32 = 0x0100_0000;
const GMT_DR_OPEN: u32 = 0x0004_0000;
const GMT_IM_REP_EN: u32 = 0x0001_0000;

/// mt.c usage(): the first two lines (the command list that `usage(1, 1)` adds is left out).
const USAGE: &str = "usage: mt [-v] [--version] [-h] [ -f device ] command [ count ]\ndefault tape device: /dev/tape\n";

/// The drive a device path names in this guest, if it is one of its tape nodes.
fn drive_of(call: &Call, device: &str) -> Result<Option<usize>, Reply> {
    let path = std::path::Path::new(device);
    let real = path.canonicalize().map_err(|e| fail(1, format!("{device}: {}\n", strerror(&e))))?;
    let dev = call.site.domain_dir(&call.host).join("dev");
    let dev = dev.canonicalize().unwrap_or(dev);
    if real.parent() != Some(dev.as_path()) {
        return Ok(None);
    }
    let name = real.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let number = name.strip_prefix("nst").or_else(|| name.strip_prefix("st"));
    Ok(number.and_then(|n| n.parse().ok()))
}

/// strerror(3)'s text, without std's " (os error N)".
fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    text.split(" (os error").next().unwrap_or(&text).to_string()
}

pub fn mt(call: &Call, platform: &Platform) -> Result<Reply, Reply> {
    let args: Vec<&str> = call.args.iter().map(String::as_str).collect();
    let ["-f", device, op, rest @ ..] = args.as_slice() else {
        return Ok(fail(1, USAGE));
    };
    if !["rewind", "status", "offline"].contains(op) {
        return Ok(fail(1, format!("mt: unknown command \"{op}\"\n{USAGE}")));
    }
    if !rest.is_empty() {
        return Ok(fail(1, format!("mt: too many arguments for the command '{op}'.\n")));
    }
    let Some(index) = drive_of(call, device)? else {
        // Not a tape: open succeeds, the ioctl fails (tests/fixtures/mt-st/not_a_tape.txt).
        return Ok(fail(2, format!("{device}: Inappropriate ioctl for device\n")));
    };
    let Some(drive) = platform.drives.get(index) else {
        return Ok(fail(1, format!("{device}: No such device or address\n")));
    };
    // The st driver allows one open at a time: NetBackup's ltid holds every drive while it runs.
    if platform.domain(&call.host).map_err(|e| fail(2, e))?.netbackup == Running::Running {
        return Ok(fail(1, format!("{device}: Device or resource busy\n")));
    }
    if !drive.tape {
        call.sleep(secs::MT_STATUS);
        if *op == "status" {
            // tests/fixtures/mt-st/status_no_tape.txt: status opens O_NONBLOCK and succeeds.
            return Ok(ok(status_text(-1, -1, 0, GMT_DR_OPEN | GMT_IM_REP_EN)));
        }
        // tests/fixtures/mt-st/offline_error.txt (ET_ONLINE: test_error() after the ioctl).
        return Ok(fail(
            2,
            format!("{device}: Input/output error\nmt: The device is offline (not powered on, no tape ?).\n"),
        ));
    }
    match *op {
        "status" => {
            call.sleep(secs::MT_STATUS);
            let p = call.site.read().map_err(|e| fail(1, e))?;
            let position = p.drives[index].position;
            let (file, block) = if p.has_fault(&format!("lost:{index}")) {
                (-1, -1)
            } else {
                ((position / 10_000) as i64, (position % 10_000) as i64)
            };
            let bot = if position == 0 && file == 0 { GMT_BOT } else { 0 };
            Ok(ok(status_text(file, block, 0x46, bot | GMT_ONLINE | GMT_IM_REP_EN)))
        }
        // offline rewinds and unloads; the simulator rewinds and leaves the tape in the drive
        // (the robot is not simulated).
        _ => crate::fake::rewind(call, platform, index),
    }
}

/// mt.c do_status() for a SCSI 2 drive (tests/fixtures/mt-st/status_bot_online.txt): density
/// 0x46 is LTO-4 and 0 "default" in its density_tbl; the bits are printed in mt.c's order.
pub fn status_text(file: i64, block: i64, density: u32, bits: u32) -> String {
    let name = if density == 0x46 { "LTO-4" } else { "default" };
    let mut flags = String::new();
    for (bit, text) in
        [(GMT_BOT, " BOT"), (GMT_ONLINE, " ONLINE"), (GMT_DR_OPEN, " DR_OPEN"), (GMT_IM_REP_EN, " IM_REP_EN")]
    {
        if bits & bit != 0 {
            flags.push_str(text);
        }
    }
    format!(
        "SCSI 2 tape drive:\nFile number={file}, block number={block}, partition=0.\nTape block size 0 bytes. Density code {density:#x} ({name}).\nSoft error count since last status=0\nGeneral status bits on ({bits:x}):\n{flags}\n"
    )
}
