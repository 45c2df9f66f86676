//! `ftl-notify`: its flags and entry point, whether called by a hook name or as itself, and the detached background worker.

use super::*;

/// The NetBackup notify hooks.
#[derive(Debug, Parser)]
#[command(
    name = "ftl-notify",
    version,
    about = "NetBackup notify hook: make sure the shared tape library is here when backups run",
    long_about = "Installed (as links) under NetBackup's notify script names in \
/usr/openv/netbackup/bin, ftl-notify acts by the name it is called by, or by its HOOK argument:\n\n\
  session_start_notify                                 (master, start of a due set)\n\
  bpstart_notify[.POLICY[.SCHEDULE]] CLIENT POLICY SCHEDULE SCHEDTYPE\n\
  parent_start_notify CLIENT POLICY SCHEDULE SCHEDTYPE STATUS STREAM\n\
  session_notify                                       (master, end of the session)\n\
  bpend_notify[.POLICY[.SCHEDULE]] CLIENT POLICY SCHEDULE SCHEDTYPE STATUS\n\
  backup_exit_notify CLIENT POLICY SCHEDULE SCHEDTYPE STATUS [STREAM DONE_TRYING]\n\
  parent_end_notify CLIENT POLICY SCHEDULE SCHEDTYPE STATUS STREAM\n\n\
A start hook exits 0 at once when the library is here. Otherwise it records a request, starts a \
detached background acquire (which waits until this domain is idle, because acquiring restarts \
NetBackup) and exits 3, so that NetBackup fails the job now and retries it later \
(hooks.fail_job_when_elsewhere = false makes it exit 0). An end hook starts a background release \
that waits for the domain to be idle and releases if its window is closed or another domain has \
asked. Hooks print nothing on stdout. When called by a hook name the configuration comes from \
$FTL_CONFIG or /etc/ftl/ftl.toml. A site hook that install.sh set aside (NAME.ftl-site) runs first \
with the same arguments; when it fails, its exit status is returned.",
    after_help = EXIT_CODES
)]
pub struct NotifyArgs {
    #[command(flatten)]
    pub common: Common,
    /// Internal: run the detached background worker (acquire or release).
    #[arg(long, hide = true, value_parser = ["acquire", "release"])]
    pub background: Option<String>,
    /// The hook to act as (when not called by its name).
    #[arg(required_unless_present = "background")]
    pub hook: Option<String>,
    /// NetBackup's arguments for the hook.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `ftl-notify`: returns the process exit status (a site hook's own status passes through).
pub fn notify_main(argv: Vec<String>) -> u8 {
    let invoked = PathBuf::from(argv.first().cloned().unwrap_or_default());
    let name = invoked.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    if crate::notify::hook_of(&name).is_some() {
        let config =
            std::env::var_os("FTL_CONFIG").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
        return notify_run(&invoked, &name, &argv[1..], &config, None, 0, 0);
    }
    let args = NotifyArgs::parse_from(argv);
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
                report_error("ftl-notify", &e).code()
            }
        };
    }
    let hook = args.hook.clone().unwrap_or_default();
    notify_run(Path::new(&hook), &hook, &args.args, &c.config, c.domain.as_deref(), c.verbose, c.quiet)
}

fn notify_run(
    invoked: &Path,
    name: &str,
    args: &[String],
    config: &Path,
    domain: Option<&str>,
    verbose: u8,
    quiet: u8,
) -> u8 {
    let call = match crate::notify::parse(name, args) {
        Ok(call) => call,
        Err(e) => {
            eprintln!("ftl-notify: {e}");
            return Exit::Usage.code();
        }
    };
    // The site's own hook keeps working, whatever happens to ftl's configuration.
    let site = crate::notify::site_hook(invoked, invoked != Path::new(name));
    match site.and_then(|site| crate::notify::run_site_hook(&site, args, Duration::from_secs(300))) {
        Some(Ok(0)) | None => {}
        Some(Ok(code)) => {
            eprintln!("ftl-notify: the site's own {name} failed with status {code}");
            return u8::try_from(code).unwrap_or(1);
        }
        Some(Err(why)) => {
            eprintln!("ftl-notify: {why}");
            return Exit::Usage.code();
        }
    }
    let setup = match Setup::load(config, domain) {
        Ok(s) => s,
        Err(e) => return report_error("ftl-notify", &e).code(),
    };
    let progress = crate::runbook::progress::Silent;
    let ctx = setup.context(&SystemRunner, &SystemClock, &progress);
    let mut spawn = |kind: &str| {
        logging::init("ftl-notify", verbose, quiet);
        spawn_background(kind, config, &setup.domain)
    };
    match crate::notify::answer(&ctx, &call, &mut spawn) {
        Ok(crate::notify::Answer::Here) | Ok(crate::notify::Answer::ReleaseScheduled { .. }) => Exit::Done.code(),
        Ok(crate::notify::Answer::Elsewhere { worker_started }) => {
            let note =
                if worker_started { "a background acquire was started" } else { "an acquire is already under way" };
            if setup.config.hooks.fail_job_when_elsewhere {
                eprintln!("ftl-notify: the tape library is not in domain {}; a request is recorded and {note}; failing this job so that NetBackup retries it", setup.domain);
                Exit::Busy.code()
            } else {
                Exit::Done.code()
            }
        }
        Err(e) => report_error("ftl-notify", &e).code(),
    }
}

/// Starts `ftl-notify --background KIND` detached: its own session, no terminal, no stdio; it
/// logs to the journal.
fn spawn_background(kind: &str, config: &Path, domain: &str) -> Result<(), Error> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| Error::Failed(format!("cannot find the ftl-notify binary: {e}")))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--config").arg(config).args(["--domain", domain, "--background", kind]);
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn().map(|_| ()).map_err(|e| Error::Failed(format!("cannot start the background {kind}: {e}")))
}
