//! The Sun Enterprise 10000 profile: the SSP's `showusage`, `deleteboard` and `addboard`.
//!
//! Every command runs through the configured prefix (for example `ssh -o BatchMode=yes
//! ssp@ssp0`) with `SUNW_HOSTNAME` naming the domain, as the SSP commands require. The
//! environment does not travel over ssh, so with a prefix the variable is set on the SSP side
//! through `env SUNW_HOSTNAME=DOMAIN`; without one it is set on the local process. `reconfig` is
//! never run: `deleteboard` and `addboard` do the whole detach (drain + complete_detach) and
//! attach (init_attach with POST + complete_attach).
//!
//! `showusage -b N -s` reports the board's state as its exit status and prints the owning
//! domain, when there is one, on stdout ([`BOARD_STATES`]). The board is placed from both: a
//! domain name places it in that domain whatever the status; a documented "in no domain" status
//! with nothing printed places it in no domain; anything else places it nowhere, and ftl refuses
//! to act on it. `deleteboard` takes no domain: it detaches the board from whatever domain holds
//! it, so the runbooks run it only right after `showusage` has placed the board in the domain
//! they mean.

use super::{Condition, Location, Platform, Reading};
use crate::config::Config;
use crate::exec::{Command, Output, Status};
use std::time::Duration;

/// One documented exit status of `showusage -s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardState {
    pub status: i32,
    /// The documented meaning, in English.
    pub meaning: &'static str,
    /// The board is assigned to a domain (the "software domain": listed in the SSP's
    /// domain_config file).
    pub in_domain: bool,
    pub condition: Condition,
}

const fn state(status: i32, meaning: &'static str, in_domain: bool, condition: Condition) -> BoardState {
    BoardState { status, meaning, in_domain, condition }
}

/// `showusage -s` exit status -> board state.
///
/// Source: Sun Enterprise 10000 SSP 3.4 and 3.5 Reference Manuals (Japanese), showusage(1M),
/// EXIT STATUS, https://docs.oracle.com/cd/E19065-01/servers.10k/806-6764/6jfme62q5/index.html
/// and https://docs.oracle.com/cd/E19065-01/servers.10k/816-2249/6m8k3p143/index.html, the same
/// list in both. The stored pages lost the list's numeric labels: the numbers are the list
/// positions from 0, corroborated by the SSP 3.4 User Guide's sample script
/// (https://docs.oracle.com/cd/E19065-01/servers.10k/806-6763/z40001b42ff4/index.html), which
/// takes `$status == 3` as "attachable", the manual's words for the fourth item. The list goes on
/// past 6, but no stored source shows the rest (a status of 7 or more is read as undocumented).
/// "Software domain": the domain's board list in domain_config; "hardware domain": the booted
/// domain. The same table, with its sources, is tests/fixtures/showusage/exit_status_s.txt.
pub const BOARD_STATES: [BoardState; 7] = [
    // In no domain but not attachable: addboard needs a powered-on board (addboard(1M)).
    state(0, "not present, in no domain", false, Condition::Unused),
    state(1, "not present, but assigned to a domain", true, Condition::Unused),
    state(2, "present, powered off, in no domain", false, Condition::Unused),
    state(3, "present, powered on, in no domain (attachable)", false, Condition::Settled),
    state(4, "present, powered off, assigned to a domain", true, Condition::Unused),
    state(
        5,
        "unconfigured: assigned to a domain (domain_config) but not part of the booted domain",
        true,
        Condition::Unused,
    ),
    state(
        6,
        "configured: in the domain's configuration and its booted domain, not in a DR-detachable state",
        true,
        Condition::Settled,
    ),
];

/// The documented state of exit status `status`, if any.
pub fn board_state(status: i32) -> Option<&'static BoardState> {
    BOARD_STATES.iter().find(|s| s.status == status)
}

/// Places the board from `showusage -b N -s`: its exit status and what it printed.
pub fn read_showusage(output: &Output) -> Result<Reading, String> {
    let printed = match (output.stdout.trim(), output.stderr.trim()) {
        ("", "") => "nothing printed".to_string(),
        (out, "") => format!("stdout `{out}`"),
        ("", err) => format!("nothing on stdout, stderr `{err}`"),
        (out, err) => format!("stdout `{out}`, stderr `{err}`"),
    };
    let Status::Exited(status) = output.status else {
        return Err(format!("showusage -s was {} ({printed}); it does not place the board", output.status));
    };
    let documented = board_state(status);
    let reported = match documented {
        Some(s) => format!("showusage -s exit {status}: {}; {printed}", s.meaning),
        None => format!("showusage -s exit {status}, a status no stored source documents; {printed}"),
    };
    let names: Vec<&str> = output.stdout.split_whitespace().collect();
    if names.len() > 1 {
        return Err(format!(
            "{reported}: more than one word where one domain name belongs; ftl cannot place the board"
        ));
    }
    match (names.first().copied(), documented) {
        // A status that places the board in a domain, and the name of that domain.
        (Some(domain), Some(s)) if s.in_domain => {
            Ok(Reading { location: Location::Domain(domain.into()), condition: s.condition, reported })
        }
        // A status that says "in no domain", and a domain name: the report contradicts itself.
        (Some(_), Some(_)) => Err(format!(
            "{reported}: the status says the board is in no domain but a domain name was printed; ftl cannot \
             place the board"
        )),
        // A status no source documents: the name places the board, its state unknown.
        (Some(domain), None) => {
            Ok(Reading { location: Location::Domain(domain.into()), condition: Condition::Unknown, reported })
        }
        (None, Some(s)) if !s.in_domain => {
            Ok(Reading { location: Location::Unassigned, condition: s.condition, reported })
        }
        (None, Some(_)) => Err(format!(
            "{reported}: the status says the board is in a domain but no domain name was printed; ftl cannot \
             place the board"
        )),
        (None, None) => Err(format!("{reported}: ftl cannot place the board")),
    }
}

pub struct Starfire {
    prefix: Vec<String>,
    showusage: String,
    addboard: String,
    deleteboard: String,
    board: String,
    cpus: Vec<u32>,
    query_timeout: Duration,
    detach_timeout: Duration,
    attach_timeout: Duration,
}

impl Starfire {
    /// The profile of `config`, which must be the Starfire's (see [`super::for_config`]).
    pub fn new(config: &Config) -> Starfire {
        let Some(c) = config.controller.starfire() else {
            unreachable!("Starfire::new is only called for the starfire profile")
        };
        Starfire {
            prefix: c.prefix.clone(),
            showusage: c.showusage.clone(),
            addboard: c.addboard.clone(),
            deleteboard: c.deleteboard.clone(),
            board: c.board.id.to_string(),
            cpus: c.board.cpus.clone(),
            query_timeout: config.timeouts.command,
            detach_timeout: c.deleteboard_timeout,
            attach_timeout: c.addboard_timeout,
        }
    }

    /// `showusage` on the SSP for `domain`, with `args`.
    pub fn showusage(&self, domain: &str, args: &[&str], timeout: Duration) -> Command {
        self.ssp_command(domain, &self.showusage, args, timeout)
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
    fn unit(&self) -> String {
        format!("board {}", self.board)
    }

    fn locate(&self, domain: &str) -> Vec<Command> {
        vec![self.ssp_command(domain, &self.showusage, &["-b", &self.board, "-s"], self.query_timeout)]
    }

    fn read_location(&self, answers: &[Output]) -> Result<Reading, String> {
        match answers {
            [output] => read_showusage(output),
            _ => Err(format!("expected one showusage answer, got {}", answers.len())),
        }
    }

    fn detach(&self, domain: &str) -> Vec<Command> {
        vec![self.ssp_command(domain, &self.deleteboard, &["-b", &self.board], self.detach_timeout)]
    }

    fn attach(&self, domain: &str) -> Vec<Command> {
        vec![self.ssp_command(domain, &self.addboard, &["-d", domain, "-b", &self.board], self.attach_timeout)]
    }

    fn cpus(&self) -> &[u32] {
        &self.cpus
    }

    fn noun(&self) -> &'static str {
        "board"
    }

    fn move_name(&self, attach: bool) -> &'static str {
        if attach {
            "DR attach"
        } else {
            "DR detach"
        }
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
            sf.attach("flinstones")[0].to_string(),
            "ssh -o BatchMode=yes ssp@ssp0 env SUNW_HOSTNAME=flinstones /opt/SUNWssp/bin/addboard -d flinstones -b 7"
        );
        assert_eq!(
            sf.detach("marmaduke")[0].to_string(),
            "ssh -o BatchMode=yes ssp@ssp0 env SUNW_HOSTNAME=marmaduke /opt/SUNWssp/bin/deleteboard -b 7"
        );
        let local = Config::parse(
            Path::new("f"),
            &MINIMAL.replace("prefix = [\"ssh\", \"-o\", \"BatchMode=yes\", \"ssp@ssp0\"]", ""),
        )
        .unwrap();
        let cmd = Starfire::new(&local).locate("marmaduke").remove(0);
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
        let cmd = Starfire::new(&config).locate("marmaduke").remove(0);
        assert_eq!(&cmd.argv[..4], ["ssh", "-o", "BatchMode=yes", "ssp@ssp0"]);
        assert_eq!(
            &cmd.argv[4..],
            ["env", "SUNW_HOSTNAME=marmaduke", "'/opt/ssp/showusage$(touch X)'", "-b", "7", "-s"]
        );
    }

    fn out(status: Status, stdout: &str, stderr: &str) -> Output {
        Output { status, stdout: stdout.into(), stderr: stderr.into(), elapsed: Duration::ZERO }
    }

    fn exited(code: i32, stdout: &str) -> Output {
        out(Status::Exited(code), stdout, "")
    }

    /// What a fixture file shows, below its `# ---` line.
    fn body(fixture: &str) -> &str {
        fixture.split_once("# ---\n").map(|(_, b)| b).expect("a fixture has a `# ---` line")
    }

    fn here(domain: &str) -> Location {
        Location::Domain(domain.into())
    }

    #[test]
    fn the_state_table_is_the_sourced_one() {
        let table = body(include_str!("../../../tests/fixtures/showusage/exit_status_s.txt"));
        let rows: Vec<(i32, &str)> = table
            .lines()
            .map(|l| {
                let (n, meaning) = l.split_once('\t').expect("status TAB meaning");
                (n.parse().unwrap(), meaning)
            })
            .collect();
        assert_eq!(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            BOARD_STATES.iter().map(|s| s.status).collect::<Vec<_>>()
        );
        for ((status, meaning), state) in rows.iter().zip(BOARD_STATES) {
            assert_eq!(!meaning.contains("not in a software domain"), state.in_domain, "status {status}: {meaning}");
            assert_eq!(meaning.contains("attachable"), state.meaning.contains("attachable"), "status {status}");
            assert_eq!(meaning.contains("unconfigured"), state.meaning.contains("unconfigured"), "status {status}");
            assert_eq!(meaning.contains("powered off"), state.meaning.contains("powered off"), "status {status}");
            assert_eq!(meaning.starts_with("board not present"), state.meaning.starts_with("not present"), "{status}");
        }
        // The User Guide's script attaches the board when showusage exits 3.
        let script = body(include_str!("../../../tests/fixtures/showusage/user_guide_script.csh"));
        assert!(script.contains("if ( $status == 3 ) then\n       addboard"), "{script}");
        assert!(board_state(3).unwrap().meaning.contains("attachable"));
    }

    #[test]
    fn reads_the_stored_outputs() {
        let named = body(include_str!("../../../tests/fixtures/showusage/stdout_s.txt"));
        let r = read_showusage(&exited(6, named)).unwrap();
        assert_eq!((r.location, r.condition), (here("xf7-b4"), Condition::Settled));
        assert_eq!(r.reported, "showusage -s exit 6: configured: in the domain's configuration and its booted domain, not in a DR-detachable state; stdout `xf7-b4`");
        let nothing = body(include_str!("../../../tests/fixtures/showusage/stdout_s_not_in_domain.txt"));
        assert_eq!(nothing, "");
        // In no domain: attachable (3), or absent or powered off (0, 2), which no addboard takes.
        for (status, condition) in [(0, Condition::Unused), (2, Condition::Unused), (3, Condition::Settled)] {
            let r = read_showusage(&exited(status, nothing)).unwrap();
            assert_eq!((r.location, r.condition), (Location::Unassigned, condition), "{status}");
        }
    }

    #[test]
    fn each_status_places_the_board_or_is_refused_quoting_it() {
        for s in BOARD_STATES {
            let named = read_showusage(&exited(s.status, "marmaduke\n"));
            let bare = read_showusage(&exited(s.status, ""));
            if s.in_domain {
                let named = named.unwrap();
                assert_eq!(named.location, here("marmaduke"), "a name places the board, status {}", s.status);
                assert!(named.reported.contains(&format!("exit {}: {}", s.status, s.meaning)), "{}", named.reported);
                assert_eq!(named.condition, s.condition, "{}", s.status);
                let e = bare.unwrap_err();
                assert!(
                    e.contains(&format!("exit {}: {}", s.status, s.meaning)) && e.contains("no domain name"),
                    "{e}"
                );
            } else {
                // A name beside a status that says "in no domain": the report contradicts itself.
                let e = named.unwrap_err();
                assert!(
                    e.contains(&format!("exit {}: {}", s.status, s.meaning))
                        && e.contains("in no domain but a domain name"),
                    "{e}"
                );
                assert_eq!(bare.unwrap().location, Location::Unassigned, "{}", s.status);
            }
        }
        let two = read_showusage(&exited(6, "marmaduke\nflinstones\n")).unwrap_err();
        assert!(two.contains("more than one word"), "{two}");
        assert_eq!(read_showusage(&exited(1, "")).unwrap_err(), "showusage -s exit 1: not present, but assigned to a domain; nothing printed: the status says the board is in a domain but no domain name was printed; ftl cannot place the board");
        let cases = [
            (exited(5, "marmaduke\n"), Ok((here("marmaduke"), Condition::Unused))),
            (exited(6, "marmaduke\n"), Ok((here("marmaduke"), Condition::Settled))),
            (exited(7, "marmaduke\n"), Ok((here("marmaduke"), Condition::Unknown))),
            (exited(3, ""), Ok((Location::Unassigned, Condition::Settled))),
            (exited(7, ""), Err("showusage -s exit 7, a status no stored source documents; nothing printed: ftl cannot place the board")),
            (
                out(Status::Exited(255), "", "ssh: connect to host ssp0 port 22: Connection refused\n"),
                Err("showusage -s exit 255, a status no stored source documents; nothing on stdout, stderr `ssh: connect to host ssp0 port 22: Connection refused`: ftl cannot place the board"),
            ),
            (out(Status::Signalled(9), "marmaduke\n", ""), Err("showusage -s was killed by signal 9 (stdout `marmaduke`); it does not place the board")),
        ];
        for (output, want) in cases {
            let got = read_showusage(&output).map(|r| (r.location, r.condition));
            assert_eq!(got, want.map_err(str::to_string), "{output:?}");
        }
        // The Platform trait reads through the same table.
        let config = Config::parse(Path::new("f"), MINIMAL).unwrap();
        assert_eq!(
            Starfire::new(&config).read_location(&[exited(6, "marmaduke\n")]),
            read_showusage(&exited(6, "marmaduke\n"))
        );
    }
}
