//! Helpers for the integration tests in `tests/`: where the binaries under test are, a scrubbed
//! environment to run them in, and small sites (a configuration and a ledger directory) in
//! temporary directories. Every test builds its own site; nothing is shared between tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary `name` built by this `cargo test` run (target/<profile>/name).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/..");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

/// A command for binary `name` with a scrubbed environment (only PATH kept).
pub fn cmd(name: &str) -> Command {
    let mut c = Command::new(bin(name));
    c.env_clear();
    c.env(
        "PATH",
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
    );
    c.stdin(std::process::Stdio::null());
    c
}

pub fn run(mut c: impl std::borrow::BorrowMut<Command>) -> Output {
    c.borrow_mut().output().expect("the binary runs")
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The smallest valid configuration, with its ledger in `ledger_dir`.
pub fn minimal_config(ledger_dir: &Path) -> String {
    format!(
        r#"domain = "marmaduke"
[library]
name = "L3500"
[ledger]
dir = "{}"
[board]
id = 7
[[drives]]
index = 0
device = "/dev/rmt/0"
[[drives]]
index = 1
device = "/dev/rmt/1"
[domains.marmaduke]
windows = ["Mon-Sun 20:00-01:00"]
[domains.flinstones]
windows = ["Mon-Sun 02:00-07:00"]
[controller]
profile = "starfire"
"#,
        ledger_dir.display()
    )
}

/// A temporary directory with `ftl.toml` (the minimal configuration) and an empty `ledger/`.
pub struct MiniSite {
    pub dir: assert_fs::TempDir,
}

impl MiniSite {
    pub fn new() -> MiniSite {
        let dir = assert_fs::TempDir::new().unwrap();
        std::fs::create_dir(dir.path().join("ledger")).unwrap();
        let site = MiniSite { dir };
        site.write_config(&minimal_config(&site.ledger()));
        site
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("ftl.toml")
    }

    pub fn ledger(&self) -> PathBuf {
        self.dir.path().join("ledger")
    }

    pub fn state(&self) -> PathBuf {
        self.ledger().join("state.json")
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config(), text).unwrap();
    }

    /// `name` with `--config` pointing at this site.
    pub fn cmd(&self, name: &str) -> Command {
        let mut c = cmd(name);
        c.arg("--config").arg(self.config());
        c
    }
}

impl Default for MiniSite {
    fn default() -> Self {
        MiniSite::new()
    }
}
