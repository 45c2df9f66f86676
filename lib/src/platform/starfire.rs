//! The Sun Enterprise 10000 profile: the SSP's `showusage`, `deleteboard` and `addboard`.
//!
//! Every command runs through the configured prefix (for example `ssh -o BatchMode=yes
//! ssp@ssp0`) with `SUNW_HOSTNAME` naming the domain, as the SSP commands require. The
//! environment does not travel over ssh, so with a prefix the variable is set on the SSP side
//! through `env SUNW_HOSTNAME=DOMAIN`; without one it is set on the local process. `reconfig` is
//! never run: `deleteboard` and `addboard` do the whole detach (drain + complete_detach) and
//! attach (init_attach with POST + complete_attach).

use super::{Location, Platform};
use crate::config::Config;
use crate::exec::{Command, Output, Status};
use std::time::Duration;

/// `showusage -s` exits with this status when the board is in no domain.
pub const SHOWUSAGE_UNASSIGNED: i32 = 3;

pub struct Starfire {
    prefix: Vec<String>,
    showusage: String,
    addboard: String,
    deleteboard: String,
    board: String,
    query_timeout: Duration,
    detach_timeout: Duration,
    attach_timeout: Duration,
}

impl Starfire {
    pub fn new(config: &Config) -> Starfire {
        let c = &config.controller;
        Starfire {
            prefix: c.prefix.clone(),
            showusage: c.showusage.clone(),
            addboard: c.addboard.clone(),
            deleteboard: c.deleteboard.clone(),
            board: config.board.id.to_string(),
            query_timeout: config.timeouts.command,
            detach_timeout: config.timeouts.deleteboard,
            attach_timeout: config.timeouts.addboard,
        }
    }

    /// A command on the SSP for `domain` (through the prefix, with `SUNW_HOSTNAME`).
    pub fn ssp_command(&self, domain: &str, program: &str, args: &[&str], timeout: Duration) -> Command {
        let assignment = format!("SUNW_HOSTNAME={domain}");
        if self.prefix.is_empty() {
            let mut argv = vec![program.to_string()];
            argv.extend(args.iter().map(|a| a.to_string()));
            Command::new(argv, timeout).env("SUNW_HOSTNAME", domain)
        } else {
            // ssh joins its arguments with spaces and the SSP's shell parses the result, so each
            // argument is quoted for that shell: a configured value is never run as shell code.
            let mut argv = self.prefix.clone();
            let remote = ["env", assignment.as_str(), program].into_iter().chain(args.iter().copied());
            argv.extend(remote.map(crate::exec::shell_quote));
            Command::new(argv, timeout)
        }
    }
}

impl Platform for Starfire {
    fn locate(&self, domain: &str) -> Command {
        self.ssp_command(domain, &self.showusage, &["-b", &self.board, "-s"], self.query_timeout)
    }

    fn parse_location(&self, output: &Output) -> Result<Location, String> {
        match output.status {
            Status::Exited(SHOWUSAGE_UNASSIGNED) => Ok(Location::Unassigned),
            Status::Exited(0) => {
                let domain = output.stdout.split_whitespace().next().ok_or("showusage printed no domain name")?;
                Ok(Location::Domain(domain.to_string()))
            }
            other => Err(format!("showusage failed ({other}): {}", output.text())),
        }
    }

    fn detach(&self, domain: &str) -> Command {
        self.ssp_command(domain, &self.deleteboard, &["-b", &self.board], self.detach_timeout)
    }

    fn attach(&self, domain: &str) -> Command {
        self.ssp_command(domain, &self.addboard, &["-d", domain, "-b", &self.board], self.attach_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::MINIMAL;
    use std::path::Path;

    #[test]
    fn commands_go_through_the_prefix_with_the_domain() {
        let config = Config::parse(Path::new("f"), MINIMAL).unwrap();
        let sf = Starfire::new(&config);
        assert_eq!(
            sf.attach("flinstones").to_string(),
            "ssh -o BatchMode=yes ssp@ssp0 env SUNW_HOSTNAME=flinstones /opt/SUNWssp/bin/addboard -d flinstones -b 7"
        );
        assert_eq!(
            sf.detach("marmaduke").to_string(),
            "ssh -o BatchMode=yes ssp@ssp0 env SUNW_HOSTNAME=marmaduke /opt/SUNWssp/bin/deleteboard -b 7"
        );
        let local = Config::parse(
            Path::new("f"),
            &MINIMAL.replace("prefix = [\"ssh\", \"-o\", \"BatchMode=yes\", \"ssp@ssp0\"]", ""),
        )
        .unwrap();
        let cmd = Starfire::new(&local).locate("marmaduke");
        assert_eq!(cmd.env, vec![("SUNW_HOSTNAME".to_string(), "marmaduke".to_string())]);
        assert_eq!(cmd.argv, vec!["/opt/SUNWssp/bin/showusage", "-b", "7", "-s"]);
    }

    #[test]
    fn a_remote_shell_gets_every_argument_quoted() {
        let config = Config::parse(
            Path::new("f"),
            &MINIMAL.replace("[controller]", "[controller]\nshowusage = \"/opt/ssp/showusage$(touch X)\""),
        )
        .unwrap();
        let cmd = Starfire::new(&config).locate("marmaduke");
        assert_eq!(&cmd.argv[..4], ["ssh", "-o", "BatchMode=yes", "ssp@ssp0"]);
        assert_eq!(
            &cmd.argv[4..],
            ["env", "SUNW_HOSTNAME=marmaduke", "'/opt/ssp/showusage$(touch X)'", "-b", "7", "-s"]
        );
    }

    #[test]
    fn reads_showusage() {
        let config = Config::parse(Path::new("f"), MINIMAL).unwrap();
        let sf = Starfire::new(&config);
        let out = |code, stdout: &str| Output {
            status: Status::Exited(code),
            stdout: stdout.into(),
            stderr: String::new(),
            elapsed: Duration::ZERO,
        };
        assert_eq!(sf.parse_location(&out(0, "marmaduke\n")), Ok(Location::Domain("marmaduke".into())));
        assert_eq!(sf.parse_location(&out(3, "")), Ok(Location::Unassigned));
        assert!(sf.parse_location(&out(255, "")).is_err());
        assert!(sf.parse_location(&out(0, "")).is_err());
    }
}
