//! Real etcd members for tests, benchmarks and the simulator's fleet rehearsal: Debian's
//! `etcd-server` started on free loopback ports, with data directories in a temporary
//! directory, each member killed by its pid when dropped (and with the thread that started it).
//! A missing `etcd` panics with what to install: a test that needs etcd fails without it, never
//! skips. Built for the tests and, with the feature `etcd-cluster`, for `ftl-sim`.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The etcd program: `$FTL_TEST_ETCD`, else `etcd` on the PATH, installed from Debian's
/// packages first when it is missing ([`install`]).
pub fn etcd_program() -> String {
    if let Ok(program) = std::env::var("FTL_TEST_ETCD") {
        return program;
    }
    install();
    "etcd".into()
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// On a fresh machine (root, with apt), installs what the etcd tests need, as `.ci/run` does:
/// Debian's `etcd-server` and `etcd-client` (`etcdctl`), and `openssl` for the TLS tests. Once
/// per machine: concurrent test processes wait on one lock file. So `cargo test --workspace`
/// needs nothing but the Rust toolchain and the package archive; without apt, the starter's panic
/// says what to install.
pub fn install() {
    if on_path("etcd") && on_path("etcdctl") && on_path("openssl") {
        return;
    }
    let is_root = unsafe { libc::geteuid() } == 0;
    if !is_root || !on_path("apt-get") {
        return;
    }
    let Ok(lock) = std::fs::File::create(std::env::temp_dir().join("ftl-test-etcd-install.lock")) else {
        return;
    };
    if lock.lock().is_err() {
        return;
    }
    if on_path("etcd") && on_path("etcdctl") && on_path("openssl") {
        return;
    }
    eprintln!("the etcd tests need Debian's etcd-server, etcd-client and openssl: installing them with apt-get");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !(apt(&["update", "-qq"]) && apt(&["install", "-y", "-qq", "etcd-server", "etcd-client", "openssl"])) {
        eprintln!("apt-get could not install etcd-server, etcd-client and openssl");
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One etcd member started by a test, killed (SIGKILL, by its pid) when dropped.
pub struct Member {
    pub name: String,
    pub client_url: String,
    peer_url: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Member {
    /// Kills this member now (by its pid), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A cluster of one or more members started by a test, in its own temporary directory.
pub struct Etcd {
    pub members: Vec<Member>,
    /// The members' data directories and logs, removed when dropped.
    _dir: assert_fs::TempDir,
    /// The directory of [`make_certificates`], for a cluster that requires TLS and client
    /// certificates.
    tls: Option<PathBuf>,
}

impl Etcd {
    /// One member, healthy.
    pub fn single() -> Etcd {
        Etcd::cluster(1)
    }

    /// `size` members on loopback ports, healthy.
    pub fn cluster(size: usize) -> Etcd {
        Etcd::start(size, None)
    }

    /// `size` members; with `tls` (the certificates of [`make_certificates`]), they serve
    /// https only and require client certificates signed by its CA.
    pub fn start(size: usize, tls: Option<&Path>) -> Etcd {
        let dir = assert_fs::TempDir::new().unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let extra: Vec<String> = match tls {
            None => Vec::new(),
            Some(certs) => {
                let at = |f: &str| certs.join(f).display().to_string();
                vec![
                    "--cert-file".into(),
                    at("server.pem"),
                    "--key-file".into(),
                    at("server-key.pem"),
                    "--client-cert-auth".into(),
                    "--trusted-ca-file".into(),
                    at("ca.pem"),
                ]
            }
        };
        let mut members: Vec<Member> = (0..size)
            .map(|i| Member {
                name: format!("m{i}"),
                client_url: format!("{scheme}://127.0.0.1:{}", free_port()),
                peer_url: format!("http://127.0.0.1:{}", free_port()),
                child: None,
                log: dir.path().join(format!("m{i}.log")),
            })
            .collect();
        let initial = members.iter().map(|m| format!("{}={}", m.name, m.peer_url)).collect::<Vec<_>>().join(",");
        for member in &mut members {
            let log = std::fs::File::create(&member.log).unwrap();
            let mut command = Command::new(etcd_program());
            command
                .args(["--name", &member.name])
                .arg("--data-dir")
                .arg(dir.path().join(&member.name))
                .args(["--listen-client-urls", &member.client_url, "--advertise-client-urls", &member.client_url])
                .args(["--listen-peer-urls", &member.peer_url, "--initial-advertise-peer-urls", &member.peer_url])
                .args(["--initial-cluster", &initial, "--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", &format!("ftl-test-{}", initial)])
                .args(["--heartbeat-interval", "10", "--election-timeout", "100"])
                .args(&extra)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log);
            // The member dies with the test thread that started it, even when the test aborts.
            unsafe {
                use std::os::unix::process::CommandExt;
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            member.child = Some(command.spawn().unwrap_or_else(|e| {
                panic!(
                    "cannot start `{}` ({e}): the etcd tests need a real etcd; install Debian's etcd-server \
                     (apt-get install etcd-server etcd-client; CI's .ci/run installs it)",
                    etcd_program()
                )
            }));
        }
        let etcd = Etcd { members, _dir: dir, tls: tls.map(Path::to_path_buf) };
        etcd.wait_healthy(Duration::from_secs(20));
        etcd
    }

    pub fn wait_healthy(&self, within: Duration) {
        let start = Instant::now();
        let agent = self.agent();
        for member in &self.members {
            loop {
                let healthy = agent
                    .get(format!("{}/health", member.client_url))
                    .call()
                    .ok()
                    .and_then(|mut r| r.body_mut().read_to_string().ok())
                    .is_some_and(|body| body.contains("\"true\""));
                if healthy {
                    break;
                }
                assert!(
                    start.elapsed() < within,
                    "etcd member {} not healthy in {within:?}:\n{}",
                    member.name,
                    member.log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn agent(&self) -> ureq::Agent {
        use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};
        let mut tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()));
        if let Some(certs) = &self.tls {
            let read = |f: &str| std::fs::read(certs.join(f)).unwrap();
            let ca = Certificate::from_pem(&read("ca.pem")).unwrap();
            let client = Certificate::from_pem(&read("client.pem")).unwrap();
            let key = PrivateKey::from_pem(&read("client-key.pem")).unwrap();
            tls = tls
                .root_certs(RootCerts::Specific(std::sync::Arc::new(vec![ca])))
                .client_cert(Some(ClientCert::new_with_certs(&[client], key)));
        }
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .proxy(None)
            .tls_config(tls.build())
            .build()
            .new_agent()
    }

    /// The member that leads now, by `/v3/maintenance/status` on each member.
    pub fn leader(&self) -> Option<usize> {
        let agent = self.agent();
        self.members.iter().position(|m| {
            agent
                .post(format!("{}/v3/maintenance/status", m.client_url))
                .send("{}")
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok())
                .and_then(|body| serde_json::from_str::<Value>(&body).ok())
                .is_some_and(|v| v["leader"].is_string() && v["leader"] == v["header"]["member_id"])
        })
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate in `dir` (`ca.pem`,
/// `server.pem`, `server-key.pem`, `client.pem`, `client-key.pem`), made with the `openssl` CLI.
pub fn make_certificates(dir: &Path) {
    install();
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
        .unwrap();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    let ca = [
        &["req", "-x509"][..],
        &ec,
        &["-days", "2", "-subj", "/CN=ftl test CA", "-keyout", "ca-key.pem", "-out", "ca.pem"],
    ]
    .concat();
    run(&ca);
    for name in ["server", "client"] {
        let (key, csr, pem) = (format!("{name}-key.pem"), format!("{name}.csr"), format!("{name}.pem"));
        run(&[&["req"][..], &ec, &["-subj", &format!("/CN=ftl-{name}"), "-keyout", &key, "-out", &csr]].concat());
        run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            &pem,
        ]);
    }
}

/// Removes every key under `prefix` (`prefix/...`) through the first of `endpoints` (http://)
/// that answers: what `ftl-sim demo` does to the keys its rehearsal made. Returns how many keys
/// went.
pub fn delete_prefix(endpoints: &[String], prefix: &str) -> Result<u64, String> {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let from = format!("{prefix}/");
    // The range end of a prefix: its last byte plus one ('/' + 1 is '0').
    let end = format!("{prefix}0");
    let body = serde_json::json!({"key": b64(&from), "range_end": b64(&end)}).to_string();
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(5))).proxy(None).build().into();
    let mut failures = Vec::new();
    for endpoint in endpoints {
        match agent.post(format!("{endpoint}/v3/kv/deleterange")).send(&body) {
            Ok(mut response) => {
                let text = response.body_mut().read_to_string().map_err(|e| format!("{endpoint}: {e}"))?;
                let value: Value = serde_json::from_str(&text).map_err(|e| format!("{endpoint}: {e}: {text}"))?;
                return Ok(value["deleted"].as_str().and_then(|d| d.parse().ok()).unwrap_or(0));
            }
            Err(e) => failures.push(format!("{endpoint}: {e}")),
        }
    }
    Err(failures.join("; "))
}
