//! The COSI `Disks.block.talos.dev` resources of an emulated node (namespace `runtime`, one per topology disk, id
//! the device name such as `sda`; not sensitive, so readable in maintenance mode), as Talos's DisksController
//! writes them (internal/app/machined/pkg/controllers/block/disks.go@v1.12.11; spec
//! pkg/machinery/resources/block/disk.go, unchanged at v1.11.6 and v1.13.9). The hardware facts (model, serial,
//! bus path, transport) are the emulator's, the same StorageService.Disks reports.

use prost::Message;

use super::api::Ctx;
use crate::proto::cosi::resource::{Metadata, Resource, Spec};
use crate::proto::talos::resource::definitions::block::DiskSpec;

/// Resource type of Disk.
pub const DISK_TYPE: &str = "Disks.block.talos.dev";

/// `humanize.Bytes` (github.com/dustin/go-humanize, which `DiskSpec.SetSize` uses): SI units, one decimal below
/// 10, none from 10 (e.g. 10 GiB is "11 GB").
pub fn pretty_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 10 {
        return format!("{bytes} B");
    }
    let s = bytes as f64;
    let e = (s.ln() / 1000f64.ln()).floor();
    let unit = UNITS[(e as usize).min(UNITS.len() - 1)];
    let val = (s / 1000f64.powf(e) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1} {unit}")
    } else {
        format!("{val:.0} {unit}")
    }
}

/// The spec's YAML as gopkg.in/yaml.v3 writes the struct (fields in declaration order; `omitempty` ones left out
/// when empty).
fn spec_yaml(d: &DiskSpec) -> String {
    let mut out = format!(
        "dev_path: {}\nsize: {}\npretty_size: {}\nio_size: {}\nsector_size: {}\nreadonly: {}\ncdrom: {}\n",
        d.dev_path, d.size, d.pretty_size, d.io_size, d.sector_size, d.readonly, d.cdrom
    );
    for (key, value) in [
        ("model", &d.model),
        ("serial", &d.serial),
        ("modalias", &d.modalias),
        ("wwid", &d.wwid),
        ("uuid", &d.uuid),
        ("bus_path", &d.bus_path),
        ("sub_system", &d.sub_system),
        ("transport", &d.transport),
    ] {
        if !value.is_empty() {
            out.push_str(&format!("{key}: {}\n", yaml_string(value)));
        }
    }
    if d.rotational {
        out.push_str("rotational: true\n");
    }
    out
}

/// A YAML string scalar: plain when yaml.v3 would write it plain, else double-quoted.
fn yaml_string(s: &str) -> String {
    let plain = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/-_.: ".contains(c))
        && !s.starts_with([' ', ':', '-'])
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && s.parse::<f64>().is_err();
    if plain {
        s.to_string()
    } else {
        serde_json::Value::String(s.to_string()).to_string()
    }
}

/// The Disk resources of the node of `c`.
pub fn disks(c: &Ctx) -> Vec<Resource> {
    c.node
        .spec
        .disks
        .iter()
        .map(|d| {
            let id = d.path.trim_start_matches("/dev/").to_string();
            let nvme = id.starts_with("nvme");
            let spec = DiskSpec {
                size: d.size.0,
                pretty_size: pretty_size(d.size.0),
                io_size: 512,
                sector_size: 512,
                model: if nvme {
                    "Emulated NVMe"
                } else {
                    "QEMU HARDDISK"
                }
                .into(),
                serial: format!("EMU-{id}"),
                bus_path: format!("/pci0000:00/{id}"),
                sub_system: "/sys/class/block".into(),
                transport: if nvme { "nvme" } else { "sata" }.into(),
                rotational: !nvme,
                dev_path: format!("/dev/{id}"),
                ..Default::default()
            };
            Resource {
                metadata: Some(Metadata {
                    namespace: super::cosi::RUNTIME_NAMESPACE.into(),
                    r#type: DISK_TYPE.into(),
                    id,
                    version: "1".into(),
                    owner: "block.DisksController".into(),
                    phase: "running".into(),
                    ..Default::default()
                }),
                spec: Some(Spec {
                    yaml_spec: spec_yaml(&spec),
                    proto_spec: spec.encode_to_vec(),
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize_bytes() {
        assert_eq!(pretty_size(5), "5 B");
        assert_eq!(pretty_size(1500), "1.5 kB");
        assert_eq!(pretty_size(10 << 30), "11 GB");
        assert_eq!(pretty_size(256_060_514_304), "256 GB");
        assert_eq!(pretty_size(8_000_000_000), "8.0 GB");
    }
}
