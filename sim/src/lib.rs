//! `ftl-sim`: a faithful simulated Starfire site (two or more domains, the SSP, a shared tape
//! library) on one Linux machine, so that ftl runs and is tested end to end without a Sun
//! Enterprise 10000, and administrators can rehearse a hand-over before trusting it.
//!
//! [`site`] builds a site, [`platform`] holds its state, [`fake`] is every fake command (one
//! multi-call binary behind links named like the real commands) and [`policies`] the fake
//! `bppllist`, [`virsh`] the KVM host and [`linux`] the guests' `mt` of a libvirt site, [`kernel`]
//! its guests' sysfs and /dev, [`timing`] the realistic durations, [`demo`] the rehearsal a new user runs first,
//! [`bench`] the performance figures, [`docs`] the man pages and completions of every binary.

/// `print!`/`println!`/`eprint!`/`eprintln!` that never panic: a closed or full stdout or
/// stderr (`> /dev/full`, `| true`) loses the text, not the exit status of the work done.
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => {{ use std::io::Write as _; let _ = write!(std::io::stdout(), $($t)*); }};
}
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => {{ use std::io::Write as _; let _ = writeln!(std::io::stdout(), $($t)*); }};
}
#[macro_export]
macro_rules! err {
    ($($t:tt)*) => {{ use std::io::Write as _; let _ = write!(std::io::stderr(), $($t)*); }};
}
#[macro_export]
macro_rules! errln {
    ($($t:tt)*) => {{ use std::io::Write as _; let _ = writeln!(std::io::stderr(), $($t)*); }};
}

pub mod bench;
pub mod cli;
pub mod demo;
pub mod docs;
pub mod fake;
pub mod fleet;
pub mod kernel;
pub mod linux;
pub mod platform;
pub mod policies;
pub mod site;
pub mod timing;
pub mod virsh;
