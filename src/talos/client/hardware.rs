//! A node's disks and network links as `talosctl get disks` and `talosctl get links` show them: the COSI resources
//! `Disks.block.talos.dev` (namespace `runtime`; spec pkg/machinery/resources/block/disk.go@v1.13.9) and
//! `LinkStatuses.net.talos.dev` (namespace `network`; spec pkg/machinery/resources/network/link_status.go@v1.13.9),
//! listed with COSI `State.List` (cosi-project/runtime `api/v1alpha1/state.proto`). Neither type is sensitive, so
//! a client without a certificate lists them in maintenance mode, which is when one picks `install_disk` and
//! `link`.

use prost::Message;

use super::{ClientError, TalosClient};
use crate::proto::cosi::resource::{state_client::StateClient, ListRequest, Resource};
use crate::proto::talos::resource::definitions::block::DiskSpec;
use crate::proto::talos::resource::definitions::enums::NethelpersOperationalState;
use crate::proto::talos::resource::definitions::network::LinkStatusSpec;

/// A disk (`DiskSpec`), as `talosctl get disks` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// Resource id, the kernel's device name, e.g. `sda` or `nvme0n1`.
    pub id: String,
    /// Device path, e.g. `/dev/sda` (what `install_disk` takes).
    pub dev_path: String,
    /// Size in bytes.
    pub size: u64,
    /// Size as Talos prints it (SI units, e.g. `256 GB`).
    pub pretty_size: String,
    /// Model, e.g. `Samsung SSD 870`.
    pub model: String,
    /// Serial number.
    pub serial: String,
    /// World-wide id, when the disk has one.
    pub wwid: String,
    /// Transport: `sata`, `nvme`, `usb`, `virtio`, ...
    pub transport: String,
    /// Whether it spins.
    pub rotational: bool,
    /// Read-only.
    pub readonly: bool,
    /// An optical drive.
    pub cdrom: bool,
}

/// A network link (`LinkStatusSpec`), as `talosctl get links` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Resource id, the link name, e.g. `eth0` or `enp3s0`.
    pub id: String,
    /// Link type as Talos prints it: `ether`, `loopback`, ... (nethelpers `LinkType`).
    pub r#type: String,
    /// Kind of a virtual link (`vlan`, `bond`, ...), empty for a physical one.
    pub kind: String,
    /// MAC address, lowercase `aa:bb:...`, empty when none.
    pub hardware_addr: String,
    /// Permanent MAC address (the hardware's, when a bond changed the current one), empty when unknown.
    pub permanent_addr: String,
    /// Operational state: `up`, `down`, `lowerLayerDown`, `dormant`, `testing`, `notPresent` or `unknown`.
    pub operational_state: String,
    /// Carrier detected.
    pub link_state: bool,
    /// MTU.
    pub mtu: u32,
    /// Kernel driver, e.g. `e1000e`.
    pub driver: String,
    /// Speed in Mbit/s, 0 when unknown.
    pub speed_mbit: i64,
}

/// `net.HardwareAddr.String()`: lowercase hex bytes joined by `:`.
fn mac(addr: &[u8]) -> String {
    addr.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The text nethelpers gives a link type (pkg/machinery/nethelpers/linktype.go@v1.13.9, its line comments), for
/// the types a machine's own links have; other types print as their number.
fn link_type_text(t: i32) -> String {
    match t {
        1 => "ether".into(),
        32 => "infiniband".into(),
        512 => "ppp".into(),
        768 => "ipip".into(),
        772 => "loopback".into(),
        776 => "sit".into(),
        778 => "gre".into(),
        801 => "ieee802.11".into(),
        other => other.to_string(),
    }
}

/// The text nethelpers gives an operational state (pkg/machinery/nethelpers/operstate.go@v1.13.9).
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

fn id_of(r: &Resource) -> String {
    r.metadata
        .as_ref()
        .map(|m| m.id.clone())
        .unwrap_or_default()
}

impl TalosClient {
    /// COSI `State.List` of every resource of `resource_type` in `namespace`.
    ///
    /// # Errors
    /// [`ClientError`] (PermissionDenied for a sensitive type without `os:admin`).
    async fn cosi_list(
        &self,
        namespace: &str,
        resource_type: &str,
    ) -> Result<Vec<Resource>, ClientError> {
        const CALL: &str = "COSI.List";
        let request = ListRequest {
            namespace: namespace.into(),
            r#type: resource_type.into(),
            options: None,
        };
        let mut cosi =
            StateClient::new(self.channel.clone()).max_decoding_message_size(64 * 1024 * 1024);
        let mut stream = self.call(CALL, cosi.list(request)).await?;
        let mut out = Vec::new();
        loop {
            let next = async { stream.message().await.map(tonic::Response::new) };
            match self.call(CALL, next).await? {
                Some(item) => out.extend(item.resource),
                None => return Ok(out),
            }
        }
    }

    /// The node's disks, sorted by id.
    ///
    /// # Errors
    /// [`ClientError`]; [`ClientError::Reply`] when a spec does not decode.
    pub async fn disks_resources(&self) -> Result<Vec<Disk>, ClientError> {
        let mut out = Vec::new();
        for r in self.cosi_list("runtime", "Disks.block.talos.dev").await? {
            let spec = r
                .spec
                .as_ref()
                .map(|s| s.proto_spec.as_slice())
                .unwrap_or_default();
            let d = DiskSpec::decode(spec).map_err(|_| self.bad_spec("Disk"))?;
            out.push(Disk {
                id: id_of(&r),
                dev_path: d.dev_path,
                size: d.size,
                pretty_size: d.pretty_size,
                model: d.model,
                serial: d.serial,
                wwid: d.wwid,
                transport: d.transport,
                rotational: d.rotational,
                readonly: d.readonly,
                cdrom: d.cdrom,
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The node's links, sorted by id.
    ///
    /// # Errors
    /// [`ClientError`]; [`ClientError::Reply`] when a spec does not decode.
    pub async fn link_statuses(&self) -> Result<Vec<Link>, ClientError> {
        let mut out = Vec::new();
        for r in self
            .cosi_list("network", "LinkStatuses.net.talos.dev")
            .await?
        {
            let spec = r
                .spec
                .as_ref()
                .map(|s| s.proto_spec.as_slice())
                .unwrap_or_default();
            let l = LinkStatusSpec::decode(spec).map_err(|_| self.bad_spec("LinkStatus"))?;
            out.push(Link {
                id: id_of(&r),
                r#type: link_type_text(l.r#type),
                kind: l.kind,
                hardware_addr: mac(&l.hardware_addr),
                permanent_addr: mac(&l.permanent_addr),
                operational_state: oper_state_text(l.operational_state).into(),
                link_state: l.link_state,
                mtu: l.mtu,
                driver: l.driver,
                speed_mbit: l.speed_megabits,
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    fn bad_spec(&self, kind: &str) -> ClientError {
        ClientError::Reply {
            call: "COSI.List",
            addr: self.addr.clone(),
            reason: format!("a {kind} spec does not decode"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_follow_nethelpers() {
        assert_eq!(link_type_text(1), "ether");
        assert_eq!(link_type_text(772), "loopback");
        assert_eq!(oper_state_text(6), "up");
        assert_eq!(oper_state_text(3), "lowerLayerDown");
        assert_eq!(mac(&[0, 0x1b, 0xaa]), "00:1b:aa");
    }
}
