//! `ftl-notify`: its flags and entry point, whether called by a hook name or as itself, and the detached background worker.

use super::*;
use std::ffi::OsString;

/// `--help`'s long description: the hooks, from [`crate::notify::Hook`], then what they do.
fn long_about() -> String {
    let hooks: String = crate::notify::Hook::all().iter().map(|h| format!("{}\n", h.synopsis())).collect();
    format!(
        "Installed (as links) under NetBackup's notify script names in {}, ftl-notify acts by the name it \
         is called by, or by its HOOK argument:\n\n{hooks}\n{ABOUT_TAIL}",
        crate::notify::NETBACKUP_BIN
    )
}

const ABOUT_TAIL: &str =
    "A start hook exits 0 at once when the library is here. Otherwise it records a request, starts a \
detached background acquire (which waits until this domain is idle, because acquiring restarts \
NetBackup) and exits 3, so that NetBackup fails the job now and retries it later \
(hooks.fail_job_when_elsewhere = false makes it exit 0). An end hook starts a background release \
that waits for the domain to be idle and releases if its window is closed or another domain has \
asked. Hooks print nothing on stdout. When called by a hook name the configuration comes from \
$FTL_CONFIG or /etc/ftl/ftl.toml. A site hook that install.sh set aside (NAME.ftl-site) runs first \
with the same arguments, for at most 5 minutes (then it is killed with its process group); when it \
fails, its exit status is returned (128 + N when signal N killed it, 1 when it timed out or could \
not start); one that others could write is not run and the hook exits 2. `ftl-notify --dry-run HOOK \
ARGS...` says on stderr what the hook would do and changes nothing. Arguments that are not UTF-8 \
are read lossily (and said so), never a reason to fail.";

/// The NetBackup notify hooks.
#[derive(Debug, Parser)]
#[command(
    name = "ftl-notify",
    version,
    about = "NetBackup notify hook: make sure the shared tape library is here when backups run",
    long_about = long_about(),
    after_help = EXIT_CODES
)]
pub struct NotifyArgs {
    #[command(flatten)]
    pub common: Common,
    /// Say on stderr what the hook would do (record a request, start a background acquire or
    /// release) and change nothing.
    #[arg(long, conflicts_with = "background")]
    pub dry_run: bool,
    /// Internal, not for operators: run the detached background worker (acquire or release)
    /// that a hook starts; it takes no hook and no hook arguments.
    #[arg(long, value_parser = ["acquire", "release"], value_name = "KIND", conflicts_with_all = ["hook", "args"])]
    pub background: Option<String>,
    /// The hook to act as (when not called by its name).
    #[arg(required_unless_present = "background")]
    pub hook: Option<String>,
    /// NetBackup's arguments for the hook.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_parser = clap::value_parser!(OsString))]
    pub args: Vec<OsString>,
}

/// `ftl-notify`: returns the process exit status (a site hook's own status passes through).
/// `argv` is taken as the system gives it: a name or an argument that is not UTF-8 is no reason
/// to abort a hook.
pub fn notify_main(argv: Vec<OsString>) -> u8 {
    let invoked = PathBuf::from(argv.first().cloned().unwrap_or_default());
    let name = invoked.file_name().unwrap_or_default().to_string_lossy().into_owned();
    if crate::notify::Hook::of_script(&name).is_some() {
        let config =
            std::env::var_os("FTL_CONFIG").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
        let hook = Hook { invoked: &invoked, name: &name, args: &argv[1..], dry_run: false };
        return notify_run(&hook, &config, None, 0, 0);
    }
    let args = match NotifyArgs::try_parse_from(argv) {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { Exit::Usage.code() } else { Exit::Done.code() };
        }
    };
    let c = &args.common;
    if let Some(kind) = &args.background {
        logging::init("ftl-notify", c.verbose, c.quiet);
        crate::signals::install();
        let result = Setup::load(&c.config, c.domain.as_deref()).and_then(|setup| {
            let progress = StderrProgress::new(true);
            let ctx = setup.context(&SystemRunner, &SystemClock, &progress);
            crate::notify::background(&ctx, kind, setup.config.hooks.acquire_wait, setup.config.hooks.release_wait)
        });
        return match result {
            Ok(outcome) => {
                tracing::info!(domain = c.domain.as_deref().unwrap_or_default(), "background {kind}: {outcome}");
                0
            }
            Err(e) => {
                tracing::error!("background {kind}: {e}");
                report_error("ftl-notify", &c.config, &e).code()
            }
        };
    }
    let name = args.hook.clone().unwrap_or_default();
    let hook = Hook { invoked: Path::new(&name), name: &name, args: &args.args, dry_run: args.dry_run };
    notify_run(&hook, &c.config, c.domain.as_deref(), c.verbose, c.quiet)
}

/// One hook call as the system gave it.
struct Hook<'a> {
    /// The path it was called by (the site's own hook is found next to it).
    invoked: &'a Path,
    name: &'a str,
    args: &'a [OsString],
    dry_run: bool,
}

fn notify_run(hook: &Hook, config: &Path, domain: Option<&str>, verbose: u8, quiet: u8) -> u8 {
    match answer_hook(hook, config, domain, verbose, quiet) {
        Ok(code) => code,
        Err(e) => report_error("ftl-notify", config, &e).code(),
    }
}

/// Runs the site's own hook, then answers the call. `Ok` is the exit status: 0, or that of a
/// site hook that failed (passed on as it is); every error goes through [`report_error`].
fn answer_hook(hook: &Hook, config: &Path, domain: Option<&str>, verbose: u8, quiet: u8) -> Result<u8, Error> {
    let name = hook.name;
    // NetBackup's names are validated as text; one that is not UTF-8 is read lossily, and said so.
    let args: Vec<String> = hook.args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    // The fast path sets up logging only when asked to say more (or less) than warnings.
    if verbose > 0 || quiet > 0 {
        logging::init("ftl-notify", verbose, quiet);
    }
    for (raw, text) in hook.args.iter().zip(&args) {
        if raw.to_str().is_none() && quiet == 0 {
            warn_line(format_args!("ftl-notify: {name}: argument {raw:?} is not UTF-8; read as `{text}`"));
        }
    }
    let call = crate::notify::parse(name, &args).map_err(Error::Hook)?;
    if hook.dry_run {
        return Ok(notify_dry_run(hook, &call, config, domain));
    }
    // The site's own hook keeps working, whatever happens to ftl's configuration.
    let site = crate::notify::site_hook(hook.invoked, hook.invoked != Path::new(name));
    if site.as_ref().is_some_and(|s| s.is_file()) {
        // A signal to the hook reaches the site's hook too (it runs in a process group of its own).
        crate::signals::install();
    }
    let ran = site
        .and_then(|site| crate::notify::run_site_hook(&SystemRunner, &site, &args, crate::notify::SITE_HOOK_TIMEOUT));
    if let Some(signal) = crate::signals::interrupted() {
        return Err(Error::HookInterrupted { signal, hook: name.to_string() });
    }
    match ran {
        None => {}
        Some(Ok(run)) => {
            // What the site's hook printed goes where it always went.
            pass_on(&run);
            if let Some(note) = &run.note {
                warn_line(format_args!("ftl-notify: {note}"));
            }
            if run.code != 0 {
                warn_line(format_args!("ftl-notify: the site's own {name} failed with status {}", run.code));
                return Ok(u8::try_from(run.code).unwrap_or(1));
            }
        }
        Some(Err(why)) => return Err(Error::Hook(why)),
    }
    let setup = Setup::load(config, domain)?;
    let progress = crate::runbook::progress::Silent;
    let ctx = setup.context(&SystemRunner, &SystemClock, &progress);
    let mut spawn = |kind: &str| {
        logging::init("ftl-notify", verbose, quiet);
        spawn_background(kind, config, &setup.domain)
    };
    match crate::notify::answer(&ctx, &call, &mut spawn)? {
        crate::notify::Answer::Elsewhere { worker_started } if setup.config.hooks.fail_job_when_elsewhere => {
            let note =
                if worker_started { "a background acquire was started" } else { "an acquire is already under way" };
            Err(Error::Elsewhere { domain: setup.domain.clone(), note })
        }
        _ => Ok(Exit::Done.code()),
    }
}

/// Writes what the site's own hook printed to this process's stdout and stderr, as if it had
/// written there itself; a closed stream loses it, as it would have lost it then.
fn pass_on(run: &crate::notify::SiteHookRun) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(run.stdout.as_bytes()).and_then(|()| out.flush());
    let _ = std::io::stderr().lock().write_all(run.stderr.as_bytes());
}

/// `--dry-run`: what the hook would do, on stderr (a hook writes nothing on stdout); nothing runs.
fn notify_dry_run(hook: &Hook, call: &crate::notify::Call, config: &Path, domain: Option<&str>) -> u8 {
    if let Some(site) =
        crate::notify::site_hook(hook.invoked, hook.invoked != Path::new(hook.name)).filter(|s| s.is_file())
    {
        warn_line(format_args!("ftl-notify: dry run: would first run the site's hook {}", site.display()));
    }
    let described = Setup::load(config, domain).and_then(|setup| {
        let progress = crate::runbook::progress::Silent;
        let ctx = setup.context(&SystemRunner, &SystemClock, &progress);
        crate::notify::describe(&ctx, call, setup.config.hooks.fail_job_when_elsewhere)
    });
    match described {
        Ok(text) => {
            warn_line(format_args!("ftl-notify: dry run: {text}; nothing done"));
            Exit::Done.code()
        }
        Err(e) => report_error("ftl-notify", config, &e).code(),
    }
}

/// Starts `ftl-notify --background KIND` detached: its own session, no terminal, no stdio; it
/// logs to the journal.
fn spawn_background(kind: &str, config: &Path, domain: &str) -> Result<(), Error> {
    use std::os::unix::process::CommandExt;
    let exe =
        std::env::current_exe().map_err(|source| Error::Spawn { what: "find the ftl-notify binary".into(), source })?;
    let mut cmd = std::process::Command::new(exe);
    // By its name: the multi-call binary `ftl` acts by argv[0], and current_exe() names `ftl`
    // itself when the hook reached it through a symbolic link.
    cmd.arg0("ftl-notify");
    cmd.arg("--config").arg(config).args(["--domain", domain, "--background", kind]);
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn().map(|_| ()).map_err(|source| Error::Spawn { what: format!("start the background {kind}"), source })
}
