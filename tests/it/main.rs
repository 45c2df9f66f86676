//! Every integration test, in one test binary: one link instead of one per file, and the
//! harness runs tests of all files side by side (most of them wait on simulated commands, not on
//! the processor; `.cargo/config.toml` sets `RUST_TEST_THREADS`). Each file is a module named
//! after what it tests, so `cargo test --test it safety::` runs one file's tests.

mod support;

mod args_fuzz;
mod config_errors;
mod crash;
mod dr_unfinished;
mod etcd;
mod etcd_status;
mod handover;
mod help;
mod hostile;
mod install;
mod interfaces;
mod journald;
mod ledger_cli;
mod ledger_faults;
mod libvirt_safety;
mod multicall;
mod netbackup_truth;
mod notify;
mod plan_truth;
mod policy_cli;
mod prerequisites;
mod races;
mod rc;
mod safety;
mod signals;
mod sim_cli;
mod sim_faults;
mod sim_formats;
mod sim_libvirt;
mod sim_procedure;
mod storage;
mod terminal;
mod trust;
mod window_cli;
mod window_week;
