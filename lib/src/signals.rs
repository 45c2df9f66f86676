//! SIGINT, SIGTERM and SIGHUP while ftl runs commands.
//!
//! Dying on the spot would orphan the running command: it runs in its own process group (so
//! that a timeout can kill everything it started), so it would go on past every timeout, and a
//! rerun could start a second `addboard` beside it. Instead, once [`install`]ed, a signal is
//! recorded and:
//! - during a hand-over (a [`sequence`] scope is alive), the running command is left to finish
//!   or time out, no new command starts (except that a rollback under way is finished), and the
//!   executor commits where it stands and exits saying how to resume; a second signal kills the
//!   running command's whole group at once;
//! - elsewhere (a precheck, a query), the running command's group is killed at once.
//!
//! Either way no command of ftl's outlives it. The handler only stores the signal and writes a
//! byte to a pipe (both async-signal-safe); a watcher thread does the killing.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

static SIGNAL: AtomicI32 = AtomicI32::new(0);
static COUNT: AtomicUsize = AtomicUsize::new(0);
static WAKE: AtomicI32 = AtomicI32::new(-1);
static SEQUENCES: AtomicUsize = AtomicUsize::new(0);
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();

extern "C" fn on_signal(signal: libc::c_int) {
    SIGNAL.store(signal, Ordering::SeqCst);
    COUNT.fetch_add(1, Ordering::SeqCst);
    let fd = WAKE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the byte only wakes the watcher.
        unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    }
}

/// Catches SIGINT, SIGTERM and SIGHUP for the rest of the process. Idempotent.
pub fn install() {
    INSTALL.call_once(|| {
        let mut fds = [0; 2];
        // SAFETY: plain system calls on memory we own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return;
        }
        WAKE.store(fds[1], Ordering::SeqCst);
        let read_end = fds[0];
        std::thread::spawn(move || watch(read_end));
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: the handler is async-signal-safe; SA_RESTART keeps blocking calls going.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
    });
}

fn watch(fd: i32) {
    let mut byte = [0u8; 1];
    loop {
        // SAFETY: reading into a buffer we own.
        let n = unsafe { libc::read(fd, byte.as_mut_ptr().cast(), 1) };
        if n == 0 || (n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted) {
            return;
        }
        if must_kill() {
            kill_groups();
        }
    }
}

/// Whether a running command must be killed now rather than waited for.
fn must_kill() -> bool {
    let count = COUNT.load(Ordering::SeqCst);
    count >= 2 || (count == 1 && SEQUENCES.load(Ordering::SeqCst) == 0)
}

fn kill_groups() {
    let groups = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
    for group in groups.iter() {
        // SAFETY: signalling a process group that this process started and has not reaped.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    }
}

/// The signal received, if any (the last one when several were).
pub fn interrupted() -> Option<Signal> {
    (COUNT.load(Ordering::SeqCst) > 0).then(|| Signal(SIGNAL.load(Ordering::SeqCst)))
}

/// The signal that forbids starting a new command now: any signal, except that a rollback under
/// way (a [`rollback`] scope) is let finish after one signal, since stopping it half-way would
/// leave the domain neither as it was nor as the ledger says; a second signal stops it too.
pub fn refuse_new_commands() -> Option<Signal> {
    let count = COUNT.load(Ordering::SeqCst);
    let protected = ROLLBACKS.load(Ordering::SeqCst) > 0;
    (count >= 2 || (count == 1 && !protected)).then(|| Signal(SIGNAL.load(Ordering::SeqCst)))
}

static ROLLBACKS: AtomicUsize = AtomicUsize::new(0);

/// Counts itself in `counter` while it lives.
pub struct Scope(&'static AtomicUsize);

impl Scope {
    fn enter(counter: &'static AtomicUsize) -> Scope {
        counter.fetch_add(1, Ordering::SeqCst);
        Scope(counter)
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Alive while a rollback runs: see [`refuse_new_commands`].
pub fn rollback() -> Scope {
    Scope::enter(&ROLLBACKS)
}

/// Alive while a hand-over runs: a first signal then waits for the running command.
pub fn sequence() -> Scope {
    Scope::enter(&SEQUENCES)
}

/// A signal number, shown by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal(pub i32);

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            libc::SIGINT => "SIGINT",
            libc::SIGTERM => "SIGTERM",
            libc::SIGHUP => "SIGHUP",
            _ => "a signal",
        })
    }
}

/// A running command's process group, registered so that a signal can reach it. Registering
/// after a signal that requires killing kills the group at once (the signal came between the
/// spawn and the registration).
pub struct Running(i32);

impl Running {
    pub fn register(group: i32) -> Running {
        GROUPS.lock().unwrap_or_else(|e| e.into_inner()).push(group);
        if must_kill() {
            kill_groups();
        }
        Running(group)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        GROUPS.lock().unwrap_or_else(|e| e.into_inner()).retain(|g| *g != self.0);
    }
}
