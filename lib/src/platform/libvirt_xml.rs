//! PLACEHOLDER until the sourced parser lands.
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pci {
    pub domain: u32,
    pub bus: u32,
    pub slot: u32,
    pub function: u32,
}

impl std::str::FromStr for Pci {
    type Err = String;
    fn from_str(s: &str) -> Result<Pci, String> {
        let bad = || format!("`{s}` is not a PCI address");
        let (domain, rest) = s.split_once(':').ok_or_else(bad)?;
        let (bus, rest) = rest.split_once(':').ok_or_else(bad)?;
        let (slot, function) = rest.split_once('.').ok_or_else(bad)?;
        let hex = |t: &str| u32::from_str_radix(t, 16).map_err(|_| bad());
        Ok(Pci { domain: hex(domain)?, bus: hex(bus)?, slot: hex(slot)?, function: hex(function)? })
    }
}

impl fmt::Display for Pci {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:02x}:{:02x}.{:x}", self.domain, self.bus, self.slot, self.function)
    }
}

pub struct GuestView {
    pub running: bool,
    pub has_device: bool,
}

pub fn hostdev_xml(pci: &Pci, alias: Option<&str>) -> String {
    let alias = alias.map(|a| format!("  <alias name='{a}'/>\n")).unwrap_or_default();
    format!(
        "<hostdev mode='subsystem' type='pci' managed='yes'>\n  <source>\n    <address domain='0x{:04x}' bus='0x{:02x}' slot='0x{:02x}' function='0x{:x}'/>\n  </source>\n{alias}</hostdev>\n",
        pci.domain, pci.bus, pci.slot, pci.function
    )
}

pub fn read_domain(xml: &str, pci: &Pci) -> Result<GuestView, String> {
    let running = xml.lines().next().is_some_and(|l| l.contains(" id="));
    let want = format!(
        "domain='0x{:04x}' bus='0x{:02x}' slot='0x{:02x}' function='0x{:x}'",
        pci.domain, pci.bus, pci.slot, pci.function
    );
    Ok(GuestView { running, has_device: xml.contains(&want) })
}
