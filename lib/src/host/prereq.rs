//! The blueprint's DR prerequisites, each a [`Check`] that names its command or file and quotes
//! its evidence: the Solaris release (`uname -r`), on Solaris 2.6 the DR patches (`showrev -p`)
//! and the OBP variable `dr-max-mem` (a configured probe), on Solaris 7 and later the kernel cage
//! (`/etc/system`, confirmed in `/var/adm/messages`), memory interleaving off in the SSP's
//! `.postrc`, and no DR-unsafe device open but the robot driver (`showusage -r UNSAFE`).
//!
//! Sources are in `tests/fixtures/` (`etc_system/`, `messages/`, `showusage/report_types.txt`);
//! what could not be sourced (the `showrev -p` layout, `.postrc`'s syntax, the `-r UNSAFE` table)
//! is listed in README, "What ftl could not verify without a real SSP".

use crate::exec::Command;
use crate::platform::starfire::Starfire;
use crate::runbook::precheck::Check;
use crate::runbook::Context;

/// Solaris's release as `uname -r` prints it (`5.6` is Solaris 2.6, `5.8` Solaris 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Release(pub u32, pub u32);

impl Release {
    /// Solaris 2.6 and earlier: DR needs the patches and `dr-max-mem`, and has no kernel cage.
    pub fn before_cage(self) -> bool {
        self < Release(5, 7)
    }
}

impl std::fmt::Display for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SunOS {}.{}", self.0, self.1)
    }
}

pub fn parse_release(stdout: &str) -> Result<Release, String> {
    let text = stdout.trim();
    let mut parts = text.split('.');
    match (parts.next().map(str::parse), parts.next().map(str::parse)) {
        (Some(Ok(major)), Some(Ok(minor))) => Ok(Release(major, minor)),
        _ => Err(format!("`{text}` is not a release such as 5.6 or 5.8")),
    }
}

/// The patches of `wanted` that `showrev -p` shows neither installed (any revision) nor
/// obsoleted by an installed patch. Lines look like `Patch: 105181-17 Obsoletes: 105210-27,
/// 105212-01 Requires: ... Incompatibles: ... Packages: SUNWcar, SUNWkvm`.
pub fn missing_patches(stdout: &str, wanted: &[String]) -> Result<Vec<String>, String> {
    let mut have = std::collections::BTreeSet::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let rest = line
            .trim()
            .strip_prefix("Patch:")
            .ok_or_else(|| format!("line `{}` does not start with `Patch:`", line.trim()))?;
        let (own, rest) = rest.trim_start().split_once(char::is_whitespace).unwrap_or((rest.trim(), ""));
        have.insert(base(own).ok_or_else(|| format!("line `{}`: `{own}` is not a patch id", line.trim()))?);
        if let Some(obsoletes) = rest.split("Obsoletes:").nth(1) {
            let list = obsoletes.split("Requires:").next().unwrap_or("");
            let list = list.split("Incompatibles:").next().unwrap_or("").split("Packages:").next().unwrap_or("");
            have.extend(list.split([',', ' ']).filter_map(base));
        }
    }
    Ok(wanted.iter().filter(|w| !have.contains(w.as_str())).cloned().collect())
}

/// `105181-17` -> `105181`.
fn base(id: &str) -> Option<&str> {
    let (number, revision) = id.trim().split_once('-')?;
    (number.len() >= 6 && number.bytes().all(|b| b.is_ascii_digit()) && revision.bytes().all(|b| b.is_ascii_digit()))
        .then_some(number)
}

/// Whether `/etc/system` sets `kernel_cage_enable` to 1 (comment lines start with `*`; `set
/// kernel_cage_enable=1` and `set kernel_cage_enable = 1` are both written in the DR guides). The
/// last setting wins, as the kernel reads the file in order.
pub fn cage_set(etc_system: &str) -> Option<String> {
    // system(4): `set variable=value`, `set variable&mask`, `set variable|mask`, in order.
    let mut found: Option<String> = None;
    for line in etc_system.lines().map(str::trim).filter(|l| !l.starts_with('*')) {
        let Some(rest) = line.strip_prefix("set") else { continue };
        let compact: String = rest.chars().filter(|c| !c.is_whitespace()).collect();
        let Some(op) = compact.strip_prefix("kernel_cage_enable") else { continue };
        let (sign, operand) = op.split_at(op.len().min(1));
        let current = found.as_deref().and_then(number).unwrap_or(0);
        found = Some(match (sign, number(operand)) {
            ("=", _) => operand.to_string(),
            ("&", Some(mask)) => (current & mask).to_string(),
            ("|", Some(mask)) => (current | mask).to_string(),
            _ => format!("{op} (unreadable)"),
        });
    }
    found
}

/// Whether a `kernel_cage_enable` value turns the cage on: the kernel reads an integer, decimal,
/// `0x` hexadecimal or `0` octal, and any value but zero enables it.
pub fn cage_value_enables(value: &str) -> Option<bool> {
    number(value).map(|n| n != 0)
}

/// An `/etc/system` integer for a 32-bit kernel variable (a larger one is refused, not wrapped).
fn number(text: &str) -> Option<u32> {
    let v = text.trim();
    if let Some(hex) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()
    } else if v.len() > 1 && v.starts_with('0') {
        u32::from_str_radix(&v[1..], 8).ok()
    } else {
        v.parse().ok()
    }
}

/// A `DR Kernel Cage is ENABLED|DISABLED` notice (any case, the state a whole word), as
/// (enabled, the line as it can be quoted).
pub fn cage_notice(line: &str) -> Option<(bool, String)> {
    let lower = line.to_ascii_lowercase();
    let at = lower.find("dr kernel cage is ")? + "dr kernel cage is ".len();
    let word: String = lower[at..].chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    match word.as_str() {
        "enabled" => Some((true, printable(line))),
        "disabled" => Some((false, printable(line))),
        _ => None,
    }
}

/// A line as it can be quoted: control characters shown as `\u{..}` escapes.
fn printable(line: &str) -> String {
    line.trim()
        .chars()
        .flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] })
        .collect()
}

/// Reads `path` line by line, whatever its size and encoding (bytes that are not UTF-8 are
/// replaced), and gives the last kernel cage notice.
fn cage_notice_in(path: &str) -> std::io::Result<Option<(bool, String)>> {
    use std::io::BufRead;
    let reader = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut last = None;
    for line in reader.split(b'\n') {
        last = cage_notice(&String::from_utf8_lossy(&line?)).or(last);
    }
    Ok(last)
}

/// The `.postrc` lines that enable `mem_interleave_ok` (`#` starts a comment).
pub fn interleave_lines(postrc: &str) -> Vec<String> {
    postrc
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| l.split_whitespace().next() == Some("mem_interleave_ok"))
        .map(str::to_string)
        .collect()
}

/// Lines of `showusage -r UNSAFE` that name a device other than the robot driver. The table's
/// layout is not documented where ftl could read it: blank lines, rules of dashes and lines
/// without a `/` (titles, column headings) are taken for the frame, and a line that names the
/// robot driver (`driver` as a word, or its path) is allowed.
pub fn unsafe_devices(stdout: &str, driver: &str, driver_path: &str) -> Vec<String> {
    stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '-' || c == '=') && l.contains('/'))
        .filter(|l| {
            let names_driver = l.contains(driver_path)
                || l.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').any(|w| w == driver);
            !names_driver
        })
        .map(str::to_string)
        .collect()
}

fn command(ctx: &Context, argv: &[&str]) -> Command {
    Command::new(argv, ctx.config.timeouts.command)
}

fn file(config: &crate::config::Config) -> String {
    config.path.display().to_string()
}

/// `uname -r`, or the failed check that says why it is unknown.
pub fn release(ctx: &Context, name: &'static str) -> Result<Release, Check> {
    let cmd = command(ctx, &[&ctx.config.prerequisites.uname, "-r"]);
    let out =
        ctx.runner.run_ok(&cmd).map_err(|e| Check::fail(name, format!("cannot tell the Solaris release: {e}")))?;
    parse_release(&out.stdout).map_err(|e| Check::fail(name, format!("`{cmd}` printed what ftl cannot read: {e}")))
}

/// Solaris 2.6: every DR patch of `prerequisites.patches` installed (or obsoleted).
pub fn patches(ctx: &Context, release: Release) -> Check {
    const NAME: &str = "DR patches installed";
    if !release.before_cage() {
        return Check::pass(NAME, format!("{release}: the Solaris 2.6 DR patches do not apply"));
    }
    let p = &ctx.config.prerequisites;
    let cmd = command(ctx, &[&p.showrev, "-p"]);
    match ctx.runner.run_ok(&cmd) {
        Err(e) => Check::fail(NAME, e.to_string()),
        Ok(out) => match missing_patches(&out.stdout, &p.patches) {
            Err(e) => Check::fail(NAME, format!("`{cmd}` printed what ftl cannot read: {e}")),
            Ok(missing) if missing.is_empty() => Check::pass(
                NAME,
                format!("{release}: `{cmd}` lists {} (or patches obsoleting them)", p.patches.join(", ")),
            ),
            Ok(missing) => Check::fail(
                NAME,
                format!(
                    "{release}: `{cmd}` lists no revision of {} (prerequisites.patches in {})",
                    missing.join(", "),
                    file(ctx.config)
                ),
            ),
        },
    }
}

/// Solaris 7 and later: the kernel cage enabled in `/etc/system`, and not reported disabled.
pub fn kernel_cage(ctx: &Context, release: Release) -> Check {
    const NAME: &str = "kernel cage enabled";
    if release.before_cage() {
        return Check::pass(NAME, format!("{release}: no kernel cage before Solaris 7 (dr-max-mem instead)"));
    }
    let p = &ctx.config.prerequisites;
    // Comments may be in any encoding (an EUC-JP comment, say): read the bytes.
    let system = match std::fs::read(&p.etc_system) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => return Check::fail(NAME, format!("cannot read {}: {e}", p.etc_system)),
    };
    match cage_set(&system) {
        Some(value) if cage_value_enables(&value) == Some(true) => {}
        Some(value) => {
            return Check::fail(
                NAME,
                format!("{} sets kernel_cage_enable={value}; DR needs `set kernel_cage_enable=1`", p.etc_system),
            )
        }
        None => return Check::fail(NAME, format!("{} has no `set kernel_cage_enable=1`", p.etc_system)),
    }
    // The messages rotate, so an absent notice proves nothing; a DISABLED one means the setting
    // has not taken effect (no reboot since).
    match cage_notice_in(&p.messages) {
        Ok(Some((true, line))) => {
            Check::pass(NAME, format!("{} sets it and {} says `{line}`", p.etc_system, p.messages))
        }
        Ok(Some((false, line))) => Check::fail(
            NAME,
            format!(
                "{} sets kernel_cage_enable but {} last says `{line}`: the cage is not on until a reboot",
                p.etc_system, p.messages
            ),
        ),
        Ok(None) => Check::pass(
            NAME,
            format!("{} sets it ({} has no kernel cage notice to confirm it)", p.etc_system, p.messages),
        ),
        Err(e) => Check::pass(NAME, format!("{} sets it (cannot read {}: {e})", p.etc_system, p.messages)),
    }
}

/// Solaris 2.6: `dr-max-mem` non-zero, read by the configured probe.
pub fn dr_max_mem(ctx: &Context, release: Release) -> Check {
    const NAME: &str = "dr-max-mem set";
    if !release.before_cage() {
        return Check::pass(NAME, format!("{release}: dr-max-mem is not used after Solaris 2.6"));
    }
    let Some(argv) = &ctx.config.prerequisites.dr_max_mem else {
        return Check::pass(
            NAME,
            format!(
                "not checked: prerequisites.dr_max_mem (a command printing the OBP variable) is not set in {}",
                file(ctx.config)
            ),
        );
    };
    let cmd = Command::new(argv, ctx.config.timeouts.command);
    match ctx.runner.run_ok(&cmd) {
        Err(e) => Check::fail(NAME, e.to_string()),
        Ok(out) => {
            let text = out.stdout.trim();
            let value = text.rsplit(['=', ' ', ':']).next().unwrap_or("").trim().parse::<u64>();
            match value {
                Ok(0) => Check::fail(NAME, format!("`{cmd}` says `{text}`: DR cannot attach memory with dr-max-mem 0")),
                Ok(_) => Check::pass(NAME, format!("`{cmd}` says `{text}`")),
                Err(_) => Check::fail(NAME, format!("`{cmd}` printed `{text}`, which holds no number")),
            }
        }
    }
}

/// The SSP's `.postrc` for this domain does not enable memory interleaving.
pub fn interleave(ctx: &Context) -> Check {
    const NAME: &str = "memory interleaving off";
    let Some(template) = &ctx.config.prerequisites.postrc else {
        return Check::pass(NAME, format!("not checked: prerequisites.postrc is not set in {}", file(ctx.config)));
    };
    let path = template.replace("{domain}", &ctx.domain);
    let cmd = Starfire::new(ctx.config).ssp_command(
        &ctx.domain,
        &ctx.config.prerequisites.cat,
        &[&path],
        ctx.config.timeouts.command,
    );
    let out = match ctx.runner.run(&cmd) {
        Err(e) => return Check::fail(NAME, e.to_string()),
        Ok(out) => out,
    };
    if !out.status.success() {
        if out.text().contains("No such file") {
            return Check::pass(NAME, format!("{path} does not exist on the SSP (`{cmd}`), so nothing enables it"));
        }
        return Check::fail(NAME, format!("`{cmd}` failed ({}): {}", out.status, out.text().trim()));
    }
    match interleave_lines(&out.stdout).as_slice() {
        [] => Check::pass(NAME, format!("{path} on the SSP has no mem_interleave_ok")),
        lines => Check::fail(NAME, format!("{path} on the SSP enables interleaving: `{}`", lines.join("`, `"))),
    }
}

/// No DR-unsafe device open in the domain but the robot driver (`showusage -r UNSAFE`).
pub fn unsafe_open(ctx: &Context) -> Check {
    const NAME: &str = "no DR-unsafe device open";
    if !ctx.config.prerequisites.unsafe_devices {
        return Check::pass(NAME, format!("not checked: prerequisites.unsafe_devices = false in {}", file(ctx.config)));
    }
    let c = &ctx.config;
    let cmd = Starfire::new(c).showusage(&ctx.domain, &["-r", "UNSAFE"], c.timeouts.command);
    match ctx.runner.run_ok(&cmd) {
        Err(e) => Check::fail(NAME, e.to_string()),
        Ok(out) => match unsafe_devices(&out.stdout, &c.library.driver, &c.library.driver_path).as_slice() {
            [] => Check::pass(NAME, format!("`{cmd}` lists no unsafe device but the robot driver")),
            lines => Check::fail(NAME, format!("`{cmd}` lists DR-unsafe devices open: {}", lines.join("; "))),
        },
    }
}

/// What the prerequisite checks of a detach (`attach` false) or an attach run and read, for the
/// dry-run plan.
pub fn plan(ctx: &Context, attach: bool) -> Vec<String> {
    let c = ctx.config;
    let p = &c.prerequisites;
    let mut out =
        vec![command(ctx, &[&p.uname, "-r"]).to_string(), format!("{} -p (on 5.6)", command(ctx, &[&p.showrev]))];
    if attach {
        if let Some(argv) = &p.dr_max_mem {
            out.push(format!("{} (on 5.6)", Command::new(argv, c.timeouts.command)));
        }
    }
    out.push(format!("read {} and {} (on 5.7 and later)", p.etc_system, p.messages));
    if let Some(template) = &p.postrc {
        let path = template.replace("{domain}", &ctx.domain);
        out.push(Starfire::new(c).ssp_command(&ctx.domain, &p.cat, &[&path], c.timeouts.command).to_string());
    }
    if !attach && p.unsafe_devices {
        out.push(Starfire::new(c).showusage(&ctx.domain, &["-r", "UNSAFE"], c.timeouts.command).to_string());
    }
    out
}

/// The prerequisites of a detach (release), of an attach (acquire), or all (`--check`).
pub fn for_detach(ctx: &Context) -> Vec<Check> {
    checks(ctx, true, false)
}

/// The kernel cage is checked before an attach too: without it the kernel may place its own
/// memory on the board it just attached, which no DR can detach again.
pub fn for_attach(ctx: &Context) -> Vec<Check> {
    checks(ctx, false, true)
}

pub fn all(ctx: &Context) -> Vec<Check> {
    checks(ctx, true, true)
}

/// The prerequisites of a detach, an attach, or both.
pub fn checks(ctx: &Context, detach: bool, attach: bool) -> Vec<Check> {
    let mut checks = match release(ctx, "DR prerequisites readable") {
        Err(check) => vec![check],
        Ok(r) => {
            let mut by_release = vec![patches(ctx, r), kernel_cage(ctx, r)];
            if attach {
                by_release.push(dr_max_mem(ctx, r));
            }
            by_release
        }
    };
    checks.push(interleave(ctx));
    if detach {
        checks.push(unsafe_open(ctx));
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testkit::fixture;

    #[test]
    fn releases() {
        assert_eq!(parse_release(&fixture("uname/release_5_6.txt")), Ok(Release(5, 6)));
        assert_eq!(parse_release("5.6\n"), Ok(Release(5, 6)));
        assert!(parse_release("5.6\n").unwrap().before_cage());
        assert!(!parse_release("5.8").unwrap().before_cage());
        assert!(parse_release("SunOS").is_err());
    }

    #[test]
    fn patches_by_any_revision_or_an_obsoleting_patch() {
        let wanted: Vec<String> = ["105181", "106381", "106048", "106284"].iter().map(|s| s.to_string()).collect();
        let out = "Patch: 105181-17 Obsoletes: 105210-27, 105212-01 Requires: 105568-13 Incompatibles:  Packages: SUNWcar, SUNWkvm\n\
                   Patch: 106381-02 Obsoletes:  Requires:  Incompatibles:  Packages: SUNWcar\n\
                   Patch: 107000-01 Obsoletes: 106048-05, 106284-03 Requires:  Incompatibles:  Packages: SUNWcsu\n";
        assert_eq!(missing_patches(out, &wanted), Ok(vec![]));
        let first = out.lines().next().unwrap();
        assert_eq!(missing_patches(first, &wanted).unwrap(), ["106381", "106048", "106284"]);
        // A patch a listed patch requires is not thereby installed.
        assert_eq!(missing_patches(first, &["105568".to_string()]).unwrap(), ["105568"]);
        assert!(missing_patches("No patches are installed\n", &wanted).is_err());
    }

    #[test]
    fn kernel_cage_from_the_fixtures() {
        assert_eq!(cage_set(&fixture("etc_system/kernel_cage.txt")).as_deref(), Some("1"));
        assert_eq!(cage_set("set kernel_cage_enable = 1\n").as_deref(), Some("1"));
        assert_eq!(cage_set("* set kernel_cage_enable=1\n"), None, "a comment sets nothing");
        assert_eq!(cage_set("set kernel_cage_enable=1\nset kernel_cage_enable=0\n").as_deref(), Some("0"));
        assert_eq!(cage_set("set kernel_cage_enable=1\nset kernel_cage_enable & 0\n").as_deref(), Some("0"));
        assert_eq!(cage_set("set kernel_cage_enable=0\nset kernel_cage_enable|1\n").as_deref(), Some("1"));
        // The last notice counts, as cage_notice_in reads them.
        let notice = |text: &str| text.lines().rev().find_map(cage_notice).map(|(on, _)| on);
        assert_eq!(notice(&fixture("messages/kernel_cage_enabled.txt")), Some(true));
        assert_eq!(
            notice("Nov 30 unix: NOTICE: DR kernel Cage is ENABLED.\nDec 1 unix: NOTICE: DR kernel Cage is DISABLED\n"),
            Some(false)
        );
        assert_eq!(notice("nothing\n"), None);
        assert_eq!(notice("NOTICE: DR Kernel Cage is ENABLEDX\n"), None, "the state is a whole word");
        for (value, on) in [
            ("1", Some(true)),
            ("2", Some(true)),
            ("0x1", Some(true)),
            ("0", Some(false)),
            ("0x0", Some(false)),
            ("yes", None),
            ("4294967296", None),
            ("0x100000000", None),
        ] {
            assert_eq!(cage_value_enables(value), on, "{value}");
        }
    }

    #[test]
    fn interleave_and_unsafe_devices() {
        assert!(interleave_lines("# mem_interleave_ok\nlevel 16\n").is_empty());
        assert_eq!(interleave_lines("level 16\nmem_interleave_ok   # for speed\n"), ["mem_interleave_ok"]);
        let out =
            "UNSAFE devices open in domain marmaduke\n------\n/devices/sbus@41,0/SUNW,fas@0,8800000/sg@4,0 (sg)\n";
        assert!(unsafe_devices(out, "sg", "/kernel/drv/sparcv9/sg").is_empty());
        let bad = format!("{out}/devices/pci@1f,0/scsi@2/st@5,0 (st)\n");
        assert_eq!(unsafe_devices(&bad, "sg", "/kernel/drv/sparcv9/sg"), ["/devices/pci@1f,0/scsi@2/st@5,0 (st)"]);
    }
}
