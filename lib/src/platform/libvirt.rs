//! The libvirt profile: the library's Fibre Channel HBA is a PCI host device that `virsh` on a
//! KVM host passes between guests, each guest a NetBackup domain.
//!
//! - locate: `virsh -c URI dumpxml GUEST` for every domain's guest; the guest that runs (its
//!   root `<domain>` has an `id`) and lists the HBA among its `<hostdev>`s has it.
//! - detach: `virsh -c URI detach-device GUEST /dev/stdin --live`, the hostdev XML on standard
//!   input. libvirt documents that a live detach may finish later, in cooperation with the guest
//!   ("detaching a device from a running domain may be asynchronous", virDomainDetachDeviceFlags),
//!   so the move is confirmed by asking again ([`Platform::settle`]).
//! - attach: `virsh -c URI attach-device GUEST /dev/stdin --live`.
//!
//! Formats and their sources: `tests/fixtures/virsh/`.

use super::libvirt_xml::{self, Pci};
use super::{Condition, Location, Platform, Reading};
use crate::config::Config;
use crate::exec::{Command, Output};
use std::time::Duration;

pub struct Libvirt {
    prefix: Vec<String>,
    virsh: String,
    uri: String,
    pci: Pci,
    hostdev: String,
    /// (ftl domain, libvirt guest), in the configuration's order.
    guests: Vec<(String, String)>,
    query_timeout: Duration,
    attach_timeout: Duration,
    detach_timeout: Duration,
}

/// A PCI address as the configuration writes it (`0000:41:00.0`), or `None`.
pub fn parse_pci(text: &str) -> Option<Pci> {
    text.parse().ok()
}

impl Libvirt {
    /// The profile of `config`, which must be libvirt's (see [`super::for_config`]).
    pub fn new(config: &Config) -> Libvirt {
        let crate::config::Controller::Libvirt(c) = &config.controller else {
            unreachable!("Libvirt::new is only called for the libvirt profile")
        };
        // Config::parse has checked the address.
        let pci = parse_pci(&c.pci).unwrap_or(Pci { domain: 0, bus: 0, slot: 0, function: 0 });
        Libvirt {
            prefix: c.prefix.clone(),
            virsh: c.virsh.clone(),
            uri: c.uri.clone(),
            hostdev: libvirt_xml::hostdev_xml(&pci, c.alias.as_deref()),
            pci,
            guests: config.domain_order.iter().map(|d| (d.clone(), c.guest(d).to_string())).collect(),
            query_timeout: config.timeouts.command,
            attach_timeout: c.attach_timeout,
            detach_timeout: c.detach_timeout,
        }
    }

    /// `virsh -c URI ARGS...` on the KVM host (through the prefix).
    fn virsh(&self, args: &[&str], timeout: Duration) -> Command {
        let local = [self.virsh.as_str(), "-c", self.uri.as_str()].into_iter().chain(args.iter().copied());
        if self.prefix.is_empty() {
            Command::new(local, timeout)
        } else {
            // ssh joins its arguments with spaces for the remote shell: quote each one for it.
            let mut argv = self.prefix.clone();
            argv.extend(local.map(crate::exec::shell_quote));
            Command::new(argv, timeout)
        }
    }

    fn guest<'a>(&'a self, domain: &'a str) -> &'a str {
        self.guests.iter().find(|(d, _)| d == domain).map(|(_, g)| g.as_str()).unwrap_or(domain)
    }
}

impl Platform for Libvirt {
    fn unit(&self) -> String {
        format!("PCI device {}", self.pci)
    }

    fn locate(&self, _domain: &str) -> Vec<Command> {
        self.guests.iter().map(|(_, guest)| self.virsh(&["dumpxml", guest], self.query_timeout)).collect()
    }

    fn read_location(&self, answers: &[Output]) -> Result<Reading, String> {
        if answers.len() != self.guests.len() {
            return Err(format!("expected {} dumpxml answers, got {}", self.guests.len(), answers.len()));
        }
        let mut holders = Vec::new();
        for ((domain, guest), out) in self.guests.iter().zip(answers) {
            if !out.status.success() {
                return Err(format!(
                    "virsh dumpxml {guest} (the guest of domain {domain}, controller.guests) failed ({}): {}",
                    out.status,
                    out.text()
                ));
            }
            let view = libvirt_xml::read_domain(&out.stdout, &self.pci)
                .map_err(|e| format!("the domain XML of guest {guest} cannot be read: {e}"))?;
            if view.running && view.has_device {
                holders.push((domain, guest));
            }
        }
        match holders.as_slice() {
            [] => Ok(Reading {
                location: Location::Unassigned,
                condition: Condition::Settled,
                reported: format!("no running guest's live XML lists {}", self.pci),
            }),
            [(domain, guest)] => Ok(Reading {
                location: Location::Domain(domain.to_string()),
                condition: Condition::Settled,
                reported: format!("in the live XML of guest {guest}"),
            }),
            many => Err(format!(
                "the live XML of {} guests lists {}: {}",
                many.len(),
                self.pci,
                many.iter().map(|(_, g)| g.as_str()).collect::<Vec<_>>().join(", ")
            )),
        }
    }

    fn detach(&self, domain: &str) -> Vec<Command> {
        let guest = self.guest(domain);
        vec![self.virsh(&["detach-device", guest, "/dev/stdin", "--live"], self.detach_timeout).input(&self.hostdev)]
    }

    fn attach(&self, domain: &str) -> Vec<Command> {
        let guest = self.guest(domain);
        vec![self.virsh(&["attach-device", guest, "/dev/stdin", "--live"], self.attach_timeout).input(&self.hostdev)]
    }

    fn noun(&self) -> &'static str {
        "HBA"
    }

    fn move_name(&self, attach: bool) -> &'static str {
        if attach {
            "attach the HBA (virsh)"
        } else {
            "detach the HBA (virsh)"
        }
    }

    fn detach_may_finish_later(&self) -> bool {
        true
    }

    /// A guest that has the HBA runs (locate sees only running guests), and a live detach
    /// finishes only when that guest lets the device go, which a guest that cannot release will
    /// not do: the request would stay pending and might finish at any later time, behind the
    /// ledger's back. The operator stops the guest first; a guest that does not run has no HBA.
    fn forced_detach_refusal(&self, domain: &str) -> Option<String> {
        let guest = self.guest(domain);
        Some(format!(
            "guest {guest} runs with {} attached, and a live detach completes only when the guest lets the device \
             go (libvirt: \"detaching a device from a running domain may be asynchronous\"); a detach it does not \
             finish stays pending and could take the HBA away later. Stop the guest (virsh shutdown {guest}, or \
             virsh destroy {guest} if it hangs), then run the --force again: a guest that does not run holds no HBA",
            self.unit()
        ))
    }

    fn settle(&self, attach: bool) -> Duration {
        if attach {
            Duration::ZERO
        } else {
            self.detach_timeout
        }
    }
}
