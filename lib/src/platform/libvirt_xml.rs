//! The libvirt XML the libvirt profile writes and reads: the `<hostdev>` element ftl gives
//! `virsh attach-device` and `virsh detach-device` on standard input, and what ftl reads from
//! `virsh dumpxml GUEST`.
//!
//! libvirt formats a host PCI address as `<address domain='0x0000' bus='0x41' slot='0x00'
//! function='0x0'/>` and names the device `0000:41:00.0` in its messages
//! (`VIR_PCI_DEVICE_ADDRESS_FMT "%04x:%02x:%02x.%d"`, src/util/virpci.h). The live XML of a
//! running guest has an `id` attribute on its root element (`<domain type='kvm' id='7'>`); the
//! XML of a shut-off guest has none (libvirt's test data: tests/fixtures/virsh/dumpxml_*.xml).
//!
//! The document is read with a real XML parser (roxmltree), never with string matching: a
//! comment, a `<disk>` with its own `<address>`, or an `<audio id='1'>` must not be taken for
//! the HBA or for a running guest.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

/// A host PCI address, `domain:bus:slot.function`, as libvirt writes it: `0000:41:00.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pci {
    pub domain: u32,
    pub bus: u32,
    pub slot: u32,
    pub function: u32,
}

impl FromStr for Pci {
    type Err = String;

    /// Reads `DDDD:BB:SS.F` in hexadecimal: a domain of 1 to 4 digits, a bus and a slot of 1 or
    /// 2, a function of 1; the slot at most 0x1f and the function at most 7 (what a PCI address
    /// can hold).
    fn from_str(text: &str) -> Result<Pci, String> {
        let wrong = |why: &str| format!("`{text}` is not a PCI address DDDD:BB:SS.F (like 0000:41:00.0): {why}");
        let mut parts = text.split(':');
        let (Some(domain), Some(bus), Some(rest), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(wrong("it needs exactly two `:`"));
        };
        let (slot, function) = rest.split_once('.').ok_or_else(|| wrong("no `.` before the function"))?;
        let field = |digits: &str, name: &str, width: usize, max: u32| {
            if digits.is_empty() || digits.len() > width || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(wrong(&format!("the {name} `{digits}` is not 1 to {width} hexadecimal digits")));
            }
            let value = u32::from_str_radix(digits, 16).expect("checked hexadecimal digits");
            if value > max {
                return Err(wrong(&format!("the {name} {value:#x} is above {max:#x}")));
            }
            Ok(value)
        };
        Ok(Pci {
            domain: field(domain, "domain", 4, 0xffff)?,
            bus: field(bus, "bus", 2, 0xff)?,
            slot: field(slot, "slot", 2, 0x1f)?,
            function: field(function, "function", 1, 7)?,
        })
    }
}

impl fmt::Display for Pci {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:02x}:{:02x}.{:x}", self.domain, self.bus, self.slot, self.function)
    }
}

/// The `<hostdev>` element ftl writes to `virsh attach-device` / `detach-device` (tests/
/// fixtures/virsh/hostdev_pci.xml): a managed PCI host device with the address in libvirt's own
/// format, and `<alias name='...'/>` when the configuration names one (a user alias, which
/// libvirt requires to start with `ua-`; it is escaped here, not checked).
pub fn hostdev_xml(pci: &Pci, alias: Option<&str>) -> String {
    let mut xml = format!(
        "<hostdev mode='subsystem' type='pci' managed='yes'>\n  <source>\n    <address domain='0x{:04x}' bus='0x{:02x}' \
         slot='0x{:02x}' function='0x{:x}'/>\n  </source>\n",
        pci.domain, pci.bus, pci.slot, pci.function
    );
    if let Some(alias) = alias {
        xml.push_str(&format!("  <alias name='{}'/>\n", escape(alias)));
    }
    xml.push_str("</hostdev>\n");
    xml
}

/// What `virsh dumpxml GUEST` says about the guest and the HBA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestView {
    /// The root `<domain>` has an `id` attribute: libvirt formats one only for a running guest.
    pub running: bool,
    /// `devices/hostdev[@mode='subsystem'][@type='pci']/source/address` names the HBA. For a
    /// running guest that is the live assignment; for a shut-off guest it is the persistent
    /// configuration (the device goes to the guest when it starts).
    pub has_device: bool,
}

/// Reads the domain XML `virsh dumpxml` printed. Errors quote what was wrong: output that is
/// not XML, a root element other than `<domain>`, an `id` that is not a number, and a PCI
/// hostdev without a source address or whose address numbers cannot be read. An address
/// attribute that is absent counts as 0, as libvirt reads it; a present one must be
/// hexadecimal with `0x`, as libvirt formats it.
pub fn read_domain(xml: &str, pci: &Pci) -> Result<GuestView, String> {
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| format!("virsh dumpxml did not print XML ({e}): `{}`", excerpt(xml, 0..xml.len())))?;
    let root = doc.root_element();
    if root.tag_name().name() != "domain" || root.tag_name().namespace().is_some() {
        return Err(format!(
            "the XML is not a libvirt domain: its root element is `{}`",
            excerpt(xml, start_tag(xml, root.range()))
        ));
    }
    let running = match root.attribute("id") {
        None => false,
        Some(id) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => true,
        Some(_) => {
            return Err(format!("the domain's id is not a number: `{}`", excerpt(xml, start_tag(xml, root.range()))))
        }
    };
    let mut has_device = false;
    let devices = root.children().filter(|n| n.has_tag_name("devices"));
    let hostdevs = devices.flat_map(|d| d.children()).filter(|n| {
        n.has_tag_name("hostdev") && n.attribute("mode") == Some("subsystem") && n.attribute("type") == Some("pci")
    });
    for hostdev in hostdevs {
        let address = hostdev
            .children()
            .find(|n| n.has_tag_name("source"))
            .and_then(|source| source.children().find(|n| n.has_tag_name("address")))
            .ok_or_else(|| format!("a PCI hostdev has no <source><address>: `{}`", excerpt(xml, hostdev.range())))?;
        let number = |name: &str| -> Result<u32, String> {
            let Some(value) = address.attribute(name) else { return Ok(0) };
            value
                .strip_prefix("0x")
                .or_else(|| value.strip_prefix("0X"))
                .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|digits| u32::from_str_radix(digits, 16).ok())
                .ok_or_else(|| {
                    format!(
                        "a PCI hostdev's {name}='{value}' is not a hexadecimal number: `{}`",
                        excerpt(xml, address.range())
                    )
                })
        };
        let found = Pci {
            domain: number("domain")?,
            bus: number("bus")?,
            slot: number("slot")?,
            function: number("function")?,
        };
        has_device |= found == *pci;
    }
    Ok(GuestView { running, has_device })
}

/// `range` of `xml` up to the end of its first tag (`<domain type='kvm' id='x'>`).
fn start_tag(xml: &str, range: Range<usize>) -> Range<usize> {
    let end = xml[range.clone()].find('>').map_or(range.end, |i| range.start + i + 1);
    range.start..end
}

/// The text of `range` on one line, at most 200 characters, for messages.
fn excerpt(xml: &str, range: Range<usize>) -> String {
    let text: String = xml.get(range).unwrap_or(xml).split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// `text` escaped for an XML attribute in single quotes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::fixture;

    fn pci(text: &str) -> Pci {
        text.parse().unwrap()
    }

    #[test]
    fn a_pci_address_reads_and_prints_as_libvirt_writes_it() {
        let hba = pci("0000:41:00.0");
        assert_eq!(hba, Pci { domain: 0, bus: 0x41, slot: 0, function: 0 });
        assert_eq!(hba.to_string(), "0000:41:00.0");
        assert_eq!(pci("1:6:12.5").to_string(), "0001:06:12.5");
        assert_eq!(pci("ffff:FF:1f.7"), Pci { domain: 0xffff, bus: 0xff, slot: 0x1f, function: 7 });
    }

    #[test]
    fn a_malformed_pci_address_says_what_is_wrong() {
        for (text, why) in [
            ("0000:41:00", "no `.`"),
            ("41:00.0", "exactly two `:`"),
            ("0000:0000:41:00.0", "exactly two `:`"),
            ("00000:41:00.0", "the domain `00000`"),
            ("0000:141:00.0", "the bus `141`"),
            ("0000:41:20.0", "the slot 0x20 is above 0x1f"),
            ("0000:41:00.8", "the function 0x8 is above 0x7"),
            ("0000:4g:00.0", "the bus `4g`"),
            ("0000::00.0", "the bus ``"),
            ("", "exactly two `:`"),
        ] {
            let e = text.parse::<Pci>().unwrap_err();
            assert!(e.contains(&format!("`{text}`")) && e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn the_hostdev_xml_is_the_protocol_s() {
        assert_eq!(
            hostdev_xml(&pci("0000:41:00.0"), Some("ua-ftl-hba")),
            "<hostdev mode='subsystem' type='pci' managed='yes'>\n  <source>\n    \
             <address domain='0x0000' bus='0x41' slot='0x00' function='0x0'/>\n  </source>\n  \
             <alias name='ua-ftl-hba'/>\n</hostdev>\n"
        );
        assert_eq!(
            hostdev_xml(&pci("0001:06:12.5"), None),
            "<hostdev mode='subsystem' type='pci' managed='yes'>\n  <source>\n    \
             <address domain='0x0001' bus='0x06' slot='0x12' function='0x5'/>\n  </source>\n</hostdev>\n"
        );
        assert!(hostdev_xml(&pci("0000:41:00.0"), Some("ua-a'b<&")).contains("<alias name='ua-a&apos;b&lt;&amp;'/>"));
    }

    #[test]
    fn the_hostdev_xml_parses_and_names_the_device() {
        for alias in [None, Some("ua-ftl-hba"), Some("ua-'\"<>&")] {
            let hostdev = hostdev_xml(&pci("0000:41:00.0"), alias);
            let doc = roxmltree::Document::parse(&hostdev).unwrap();
            assert_eq!(doc.root_element().tag_name().name(), "hostdev");
            let alias_read = doc.descendants().find(|n| n.has_tag_name("alias")).and_then(|n| n.attribute("name"));
            assert_eq!(alias_read, alias);
            let domain = format!("<domain type='kvm' id='3'><devices>{hostdev}</devices></domain>");
            assert_eq!(read_domain(&domain, &pci("0000:41:00.0")), Ok(GuestView { running: true, has_device: true }));
        }
    }

    #[test]
    fn a_running_guest_with_the_hostdev_has_it() {
        let xml = fixture("virsh/dumpxml_running_hostdev.xml");
        assert_eq!(read_domain(&xml, &pci("0000:06:12.2")), Ok(GuestView { running: true, has_device: true }));
        // Another host device, or another function of the same slot, is not the HBA.
        for other in ["0000:41:00.0", "0000:06:12.3", "0001:06:12.2", "0000:06:13.2", "0000:00:02.0"] {
            assert_eq!(read_domain(&xml, &pci(other)), Ok(GuestView { running: true, has_device: false }), "{other}");
        }
    }

    #[test]
    fn a_running_guest_without_a_hostdev_does_not_have_it() {
        // Its controllers' guest-side <address type='pci' ...> and <audio id='1'> are no hostdev
        // and no domain id.
        let xml = fixture("virsh/dumpxml_running.xml");
        for any in ["0000:06:12.2", "0000:00:01.2", "0000:00:03.0"] {
            assert_eq!(read_domain(&xml, &pci(any)), Ok(GuestView { running: true, has_device: false }), "{any}");
        }
    }

    #[test]
    fn a_shut_off_guest_is_not_running_and_its_configuration_may_list_the_device() {
        let xml = fixture("virsh/dumpxml_shutoff.xml");
        assert_eq!(read_domain(&xml, &pci("0000:06:12.5")), Ok(GuestView { running: false, has_device: true }));
        assert_eq!(read_domain(&xml, &pci("0000:41:00.0")), Ok(GuestView { running: false, has_device: false }));
    }

    #[test]
    fn virsh_s_error_for_a_missing_guest_is_not_xml() {
        let e = read_domain(&fixture("virsh/dumpxml_nosuch.txt"), &pci("0000:41:00.0")).unwrap_err();
        assert!(e.starts_with("virsh dumpxml did not print XML"), "{e}");
        assert!(e.contains("`error: failed to get domain 'nosuch'`"), "{e}");
        let e = read_domain("", &pci("0000:41:00.0")).unwrap_err();
        assert!(e.starts_with("virsh dumpxml did not print XML"), "{e}");
        let e = read_domain("<domain type='kvm' id='1'><devices>", &pci("0000:41:00.0")).unwrap_err();
        assert!(e.starts_with("virsh dumpxml did not print XML"), "{e}");
    }

    #[test]
    fn another_root_element_is_no_domain() {
        let e = read_domain("<network>\n  <name>default</name>\n</network>\n", &pci("0000:41:00.0")).unwrap_err();
        assert_eq!(e, "the XML is not a libvirt domain: its root element is `<network>`");
        let e = read_domain("<x:domain xmlns:x='urn:x' id='2'/>", &pci("0000:41:00.0")).unwrap_err();
        assert!(e.contains("`<x:domain xmlns:x='urn:x' id='2'/>`"), "{e}");
    }

    #[test]
    fn an_id_that_is_no_number_is_an_error() {
        for id in ["", "-1", "seven", "7 "] {
            let xml = format!("<domain type='kvm' id='{id}'><name>g</name></domain>");
            let e = read_domain(&xml, &pci("0000:41:00.0")).unwrap_err();
            assert_eq!(e, format!("the domain's id is not a number: `<domain type='kvm' id='{id}'>`"));
        }
    }

    #[test]
    fn a_hostdev_with_unreadable_numbers_is_an_error_that_quotes_it() {
        let guest = |address: &str| {
            format!(
                "<domain type='kvm' id='4'><devices><hostdev mode='subsystem' type='pci' managed='yes'>\
                 <source>{address}</source></hostdev></devices></domain>"
            )
        };
        for (address, attribute) in [
            ("<address domain='0x0000' bus='0xzz' slot='0x00' function='0x0'/>", "bus='0xzz'"),
            ("<address domain='0x0000' bus='65' slot='0x00' function='0x0'/>", "bus='65'"),
            ("<address domain='0x0000' bus='0x41' slot='' function='0x0'/>", "slot=''"),
            ("<address domain='0x' bus='0x41' slot='0x00' function='0x0'/>", "domain='0x'"),
            ("<address domain='0x0000' bus='0x41' slot='0x00' function='0x100000000'/>", "function='0x100000000'"),
        ] {
            let e = read_domain(&guest(address), &pci("0000:41:00.0")).unwrap_err();
            assert_eq!(e, format!("a PCI hostdev's {attribute} is not a hexadecimal number: `{address}`"));
        }
        let e = read_domain(&guest(""), &pci("0000:41:00.0")).unwrap_err();
        assert!(e.starts_with("a PCI hostdev has no <source><address>: `<hostdev mode='subsystem'"), "{e}");
    }

    #[test]
    fn absent_address_attributes_count_as_zero_as_libvirt_reads_them() {
        // The RHEL guide's example (tests/fixtures/virsh/hostdev_pci.xml's source) omits domain.
        let xml = "<domain type='kvm'><devices><hostdev mode='subsystem' type='pci' managed='yes'><source>\
                   <address bus='0x41' slot='0x00' function='0x0'/></source></hostdev></devices></domain>";
        assert_eq!(read_domain(xml, &pci("0000:41:00.0")), Ok(GuestView { running: false, has_device: true }));
    }

    #[test]
    fn only_a_pci_subsystem_hostdev_under_devices_counts() {
        let address = "<source><address domain='0x0000' bus='0x41' slot='0x00' function='0x0'/></source>";
        for (devices, has) in [
            (format!("<hostdev mode='subsystem' type='pci'>{address}</hostdev>"), true),
            (format!("<hostdev mode='subsystem' type='usb'>{address}</hostdev>"), false),
            (format!("<hostdev mode='capabilities' type='pci'>{address}</hostdev>"), false),
            (format!("<interface type='hostdev'>{address}</interface>"), false),
            (format!("<disk type='block'>{address}</disk>"), false),
            (format!("<!-- <hostdev mode='subsystem' type='pci'>{address}</hostdev> -->"), false),
        ] {
            let xml = format!("<?xml version='1.0'?>\n<domain type='kvm' id='9'><devices>{devices}</devices></domain>");
            assert_eq!(read_domain(&xml, &pci("0000:41:00.0")).map(|v| v.has_device), Ok(has), "{devices}");
        }
        // A hostdev outside <devices> (here inside <metadata>) is not one of the guest's devices.
        let xml = format!(
            "<domain type='kvm' id='9'><metadata><hostdev mode='subsystem' type='pci'>{address}</hostdev></metadata>\
             <devices/></domain>"
        );
        assert_eq!(read_domain(&xml, &pci("0000:41:00.0")).map(|v| v.has_device), Ok(false));
    }

    #[test]
    fn a_long_output_is_quoted_shortened() {
        let junk = "x".repeat(5000);
        let e = read_domain(&junk, &pci("0000:41:00.0")).unwrap_err();
        assert!(e.ends_with("...`") && e.len() < 400, "{e}");
    }
}
