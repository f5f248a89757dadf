//! The COSI `LinkStatuses.net.talos.dev` resources of an emulated node (namespace `network`, id the link name;
//! not sensitive, so readable in maintenance mode, where one picks the `link` of a node), shaped as Talos's
//! LinkStatusController writes them (pkg/machinery/resources/network/link_status.go@v1.13.9; the same fields at
//! v1.11.6 and v1.12.11 but `vrfMaster`, never set here): the loopback `lo` (index 1) and the topology's links
//! (index 2, 3, ...) as wired Ethernet ports that are up. Links a machine config creates (VLANs, bonds) are not
//! listed. The hardware facts (MAC addresses, driver, speed) are the emulator's.

use prost::Message;

use super::api::Ctx;
use crate::proto::cosi::resource::{Metadata, Resource, Spec};
use crate::proto::talos::resource::definitions::enums::{
    NethelpersDuplex, NethelpersLinkType, NethelpersOperationalState, NethelpersPort,
};
use crate::proto::talos::resource::definitions::network::LinkStatusSpec;

/// Resource type of LinkStatus.
pub const LINK_STATUS_TYPE: &str = "LinkStatuses.net.talos.dev";
/// Namespace of LinkStatus (pkg/machinery/resources/network/network.go).
pub const NETWORK_NAMESPACE: &str = "network";

/// The kernel's `IFF_*` flag names in bit order, as nethelpers.LinkFlags prints them (comma-separated).
const FLAG_NAMES: [&str; 19] = [
    "UP",
    "BROADCAST",
    "DEBUG",
    "LOOPBACK",
    "POINTTOPOINT",
    "NOTRAILERS",
    "RUNNING",
    "NOARP",
    "PROMISC",
    "ALLMULTI",
    "MASTER",
    "SLAVE",
    "MULTICAST",
    "PORTSEL",
    "AUTOMEDIA",
    "DYNAMIC",
    "LOWER_UP",
    "DORMANT",
    "ECHO",
];

const UP: u32 = 1;
const BROADCAST: u32 = 1 << 1;
const LOOPBACK: u32 = 1 << 3;
const RUNNING: u32 = 1 << 6;
const MULTICAST: u32 = 1 << 12;
const LOWER_UP: u32 = 1 << 16;

fn flags_text(flags: u32) -> String {
    FLAG_NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| flags & (1 << bit) != 0)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(",")
}

/// `net.HardwareAddr.String()`: lowercase hex bytes joined by `:`, empty for no address.
fn mac_text(addr: &[u8]) -> String {
    addr.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The enumer text of the enums (nethelpers, `-linecomment` names).
fn link_type_text(t: i32) -> &'static str {
    match NethelpersLinkType::try_from(t) {
        Ok(NethelpersLinkType::LinkEther) => "ether",
        Ok(NethelpersLinkType::LinkLoopbck) => "loopback",
        _ => "netrom",
    }
}

fn oper_state_text(s: i32) -> &'static str {
    match NethelpersOperationalState::try_from(s) {
        Ok(NethelpersOperationalState::OperStateNotPresent) => "notPresent",
        Ok(NethelpersOperationalState::OperStateDown) => "down",
        Ok(NethelpersOperationalState::OperStateLowerLayerDown) => "lowerLayerDown",
        Ok(NethelpersOperationalState::OperStateTesting) => "testing",
        Ok(NethelpersOperationalState::OperStateDormant) => "dormant",
        Ok(NethelpersOperationalState::OperStateUp) => "up",
        _ => "unknown",
    }
}

fn port_text(p: i32) -> &'static str {
    match NethelpersPort::try_from(p) {
        Ok(NethelpersPort::TwistedPair) => "TwistedPair",
        _ => "Other",
    }
}

fn duplex_text(d: i32) -> &'static str {
    match NethelpersDuplex::try_from(d) {
        Ok(NethelpersDuplex::Half) => "Half",
        Ok(NethelpersDuplex::Full) => "Full",
        _ => "Unknown",
    }
}

/// A YAML string scalar as yaml.v3 writes it: double-quoted when empty or when YAML 1.1 would read it as a
/// base-60 number (yaml.v3 encode.go `isBase60Float`: a MAC of digits only such as `00:00:00:00:00:00`), else
/// plain (the values here need no other quoting).
fn text(s: &str) -> String {
    static BASE60: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$").ok()
    });
    let base60 = BASE60.as_ref().is_some_and(|re| re.is_match(s));
    if s.is_empty() || base60 {
        format!("\"{s}\"")
    } else {
        s.into()
    }
}

/// The spec's YAML as gopkg.in/yaml.v3 writes the struct: declaration order, `omitempty` fields left out when
/// empty (the per-kind sub-specs are always empty here).
fn spec_yaml(l: &LinkStatusSpec) -> String {
    let mut out = format!(
        "index: {}\ntype: {}\nlinkIndex: {}\nflags: {}\nhardwareAddr: {}\npermanentAddr: {}\nbroadcastAddr: {}\n\
         mtu: {}\nqueueDisc: {}\n",
        l.index,
        link_type_text(l.r#type),
        l.link_index,
        text(&flags_text(l.flags)),
        text(&mac_text(&l.hardware_addr)),
        text(&mac_text(&l.permanent_addr)),
        text(&mac_text(&l.broadcast_addr)),
        l.mtu,
        text(&l.queue_disc),
    );
    out.push_str(&format!(
        "operationalState: {}\nkind: {}\nslaveKind: {}\n",
        oper_state_text(l.operational_state),
        text(&l.kind),
        text(&l.slave_kind)
    ));
    if !l.driver.is_empty() {
        out.push_str(&format!("driver: {}\n", l.driver));
    }
    out.push_str(&format!("linkState: {}\n", l.link_state));
    if l.speed_megabits != 0 {
        out.push_str(&format!("speedMbit: {}\n", l.speed_megabits));
    }
    out.push_str(&format!(
        "port: {}\nduplex: {}\n",
        port_text(l.port),
        duplex_text(l.duplex)
    ));
    out
}

fn resource(id: &str, spec: &LinkStatusSpec) -> Resource {
    Resource {
        metadata: Some(Metadata {
            namespace: NETWORK_NAMESPACE.into(),
            r#type: LINK_STATUS_TYPE.into(),
            id: id.into(),
            version: "1".into(),
            owner: "network.LinkStatusController".into(),
            phase: "running".into(),
            ..Default::default()
        }),
        spec: Some(Spec {
            yaml_spec: spec_yaml(spec),
            proto_spec: spec.encode_to_vec(),
        }),
    }
}

/// The LinkStatus resources of the node of `c`: `lo`, then the topology's links.
pub fn links(c: &Ctx) -> Vec<Resource> {
    let lo = LinkStatusSpec {
        index: 1,
        r#type: NethelpersLinkType::LinkLoopbck as i32,
        flags: UP | LOOPBACK | RUNNING | LOWER_UP,
        hardware_addr: vec![0; 6],
        broadcast_addr: vec![0; 6],
        mtu: 65536,
        queue_disc: "noqueue".into(),
        operational_state: NethelpersOperationalState::OperStateUnknown as i32,
        port: NethelpersPort::Other as i32,
        duplex: NethelpersDuplex::Unknown as i32,
        ..Default::default()
    };
    let mut out = vec![resource("lo", &lo)];
    let octets = c.node.spec.address.octets();
    for (i, name) in c.node.spec.links.iter().enumerate() {
        let index = 2 + i as u32;
        // A locally administered MAC derived from the node's address and the link's index.
        let mac = vec![0x52, 0x54, 0x00, octets[2], octets[3], index as u8];
        let spec = LinkStatusSpec {
            index,
            r#type: NethelpersLinkType::LinkEther as i32,
            flags: UP | BROADCAST | RUNNING | MULTICAST | LOWER_UP,
            hardware_addr: mac.clone(),
            permanent_addr: mac,
            broadcast_addr: vec![0xff; 6],
            mtu: 1500,
            queue_disc: "pfifo_fast".into(),
            operational_state: NethelpersOperationalState::OperStateUp as i32,
            driver: "emulated".into(),
            link_state: true,
            speed_megabits: 1000,
            port: NethelpersPort::TwistedPair as i32,
            duplex: NethelpersDuplex::Full as i32,
            ..Default::default()
        };
        out.push(resource(name, &spec));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_as_nethelpers_prints_them() {
        assert_eq!(
            flags_text(UP | BROADCAST | RUNNING | MULTICAST | LOWER_UP),
            "UP,BROADCAST,RUNNING,MULTICAST,LOWER_UP"
        );
        assert_eq!(
            flags_text(UP | LOOPBACK | RUNNING | LOWER_UP),
            "UP,LOOPBACK,RUNNING,LOWER_UP"
        );
        assert_eq!(mac_text(&[0x52, 0x54, 0, 0xa, 0xb, 2]), "52:54:00:0a:0b:02");
        assert_eq!(mac_text(&[]), "");
        assert_eq!(text("52:54:00:12:34:56"), "\"52:54:00:12:34:56\"");
        assert_eq!(text("52:54:00:0a:0b:02"), "52:54:00:0a:0b:02");
        assert_eq!(text("ff:ff:ff:ff:ff:ff"), "ff:ff:ff:ff:ff:ff");
        let lo = LinkStatusSpec {
            index: 1,
            r#type: NethelpersLinkType::LinkLoopbck as i32,
            flags: UP | LOOPBACK | RUNNING | LOWER_UP,
            hardware_addr: vec![0; 6],
            broadcast_addr: vec![0; 6],
            mtu: 65536,
            queue_disc: "noqueue".into(),
            port: NethelpersPort::Other as i32,
            duplex: NethelpersDuplex::Unknown as i32,
            ..Default::default()
        };
        assert_eq!(
            spec_yaml(&lo),
            "index: 1\ntype: loopback\nlinkIndex: 0\nflags: UP,LOOPBACK,RUNNING,LOWER_UP\n\
             hardwareAddr: \"00:00:00:00:00:00\"\npermanentAddr: \"\"\nbroadcastAddr: \"00:00:00:00:00:00\"\n\
             mtu: 65536\n\
             queueDisc: noqueue\noperationalState: unknown\nkind: \"\"\nslaveKind: \"\"\nlinkState: false\n\
             port: Other\nduplex: Unknown\n"
        );
    }
}
