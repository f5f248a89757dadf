//! Value checks used by plan-time validation ([`super::validate`]): each returns why a value is refused, so the
//! caller reports it at the attribute the user wrote.

use super::validate::is_hostname;
use regex::Regex;
use std::net::IpAddr;
use std::sync::LazyLock;

/// Smallest MTU a link may have: 68 bytes, the IPv4 minimum (RFC 791); Linux refuses less on an IPv4 link.
pub const MIN_MTU: i64 = 68;
/// Largest MTU accepted: 65535 bytes, the largest IPv4 packet (RFC 791). Talos's schema types it as an unsigned
/// integer only (`LinkConfig.mtu`, `VLANConfig.mtu`); the kernel and the NIC refuse what they cannot carry.
pub const MAX_MTU: i64 = 65535;

/// A node's Talos API address: an IP address or an RFC 1123 DNS name, without a port (the Talos API is always
/// dialled on 50000).
///
/// # Errors
/// Why the value is not one (a port, a dotted quad out of range, characters a host name cannot have).
pub fn node_address(text: &str) -> Result<(), String> {
    if text.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    if text.contains(':') || text.starts_with('[') {
        return Err(format!(
            "{text:?} is not an IP address or a DNS name: write the host only, without brackets or a port (the \
             Talos API port is 50000)."
        ));
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("{text:?} is not a valid IPv4 address."));
    }
    if is_hostname(text) {
        Ok(())
    } else {
        Err(format!(
            "{text:?} is not an IP address or an RFC 1123 DNS name."
        ))
    }
}

/// `install_disk`: an absolute device path under `/dev/` (Talos's `machine.install.disk`, e.g. `/dev/sda`,
/// `/dev/nvme0n1`, `/dev/disk/by-id/...`).
///
/// # Errors
/// Why the value is not one.
pub fn install_disk(text: &str) -> Result<(), String> {
    let rest = text.strip_prefix("/dev/").unwrap_or_default();
    if rest.is_empty() || text.chars().any(char::is_whitespace) || rest.ends_with('/') {
        return Err(format!(
            "{text:?} is not a device path: use the absolute path of the disk, e.g. /dev/sda or /dev/nvme0n1."
        ));
    }
    Ok(())
}

/// A certificate SAN: an IP address or a DNS name (RFC 1123, with an optional leading `*.` wildcard label).
///
/// # Errors
/// Why the value is not one.
pub fn cert_san(text: &str) -> Result<(), String> {
    let name = text.strip_prefix("*.").unwrap_or(text);
    if text.parse::<IpAddr>().is_ok() || (!name.is_empty() && is_hostname(name)) {
        Ok(())
    } else {
        Err(format!(
            "{text:?} is not an IP address or a DNS name (a certificate SAN)."
        ))
    }
}

/// Container image reference grammar of the distribution project (`reference/regexp.go`): optional registry
/// host[:port], lowercase path components separated by `/`, optional `:tag` (`[\w][\w.-]{0,127}`) and optional
/// `@algorithm:hex` digest.
static IMAGE_REFERENCE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let domain_component = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let domain = format!(r"{domain_component}(?:\.{domain_component})*(?::[0-9]+)?");
    let path_component = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
    let name = format!(r"(?:{domain}/)?{path_component}(?:/{path_component})*");
    let tag = r"[\w][\w.-]{0,127}";
    let digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    Regex::new(&format!(r"^{name}(?::{tag})?(?:@{digest})?$")).ok()
});

/// `install_image`: a container image reference (e.g. `ghcr.io/siderolabs/installer:v1.12.1`, or one pinned by
/// digest).
///
/// # Errors
/// Why the value is not one.
pub fn image_reference(text: &str) -> Result<(), String> {
    if IMAGE_REFERENCE.as_ref().is_some_and(|re| re.is_match(text)) {
        Ok(())
    } else {
        Err(format!(
            "{text:?} is not a container image reference (registry/repository[:tag][@digest], lowercase \
             repository, e.g. ghcr.io/siderolabs/installer:v1.12.1)."
        ))
    }
}

/// A link or VLAN MTU: [`MIN_MTU`]..=[`MAX_MTU`].
///
/// # Errors
/// Why the value is refused.
pub fn mtu(value: Option<i64>) -> Result<(), String> {
    match value {
        Some(m) if (MIN_MTU..=MAX_MTU).contains(&m) => Ok(()),
        _ => Err(format!(
            "An MTU is a whole number of bytes from {MIN_MTU} (the IPv4 minimum) to {MAX_MTU}."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_addresses() {
        for ok in ["127.0.95.11", "::1", "node1.lan", "obsy"] {
            assert!(node_address(ok).is_ok(), "{ok}");
        }
        for bad in [
            "127.0.95.11:0",
            "999.0.95.11",
            "[::1]:50000",
            "node 1",
            "",
            "1.2.3",
        ] {
            assert!(node_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn disks_sans_images_and_mtus() {
        assert!(install_disk("/dev/sda").is_ok());
        assert!(install_disk("/dev/disk/by-id/wwn-0x5000").is_ok());
        for bad in ["sda", "/dev/", "dev/sda", "/dev/s da"] {
            assert!(install_disk(bad).is_err(), "{bad}");
        }
        for ok in ["10.0.0.1", "k8s.lan", "*.k8s.lan", "fd00::1"] {
            assert!(cert_san(ok).is_ok(), "{ok}");
        }
        for bad in ["", "bad host", "*.", "a..b"] {
            assert!(cert_san(bad).is_err(), "{bad}");
        }
        for ok in [
            "ghcr.io/siderolabs/installer:v1.12.1",
            "factory.talos.dev/installer/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba:v1.12.0",
            "localhost:5000/installer",
            "installer@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(image_reference(ok).is_ok(), "{ok}");
        }
        for bad in [
            "not an image!!",
            "",
            "Ghcr.io/Siderolabs/Installer",
            "a:b:c",
            "x:",
        ] {
            assert!(image_reference(bad).is_err(), "{bad}");
        }
        assert!(mtu(Some(1500)).is_ok() && mtu(Some(9000)).is_ok() && mtu(Some(68)).is_ok());
        assert!(mtu(Some(67)).is_err() && mtu(Some(65536)).is_err() && mtu(None).is_err());
    }
}
