//! System extensions through real Terraform (1.0.3) against emulated Talos v1.12.11 nodes and the emulator's
//! Image Factory stand-in (issue 20):
//! - `system_extensions` makes the nodes install `<factory>/metal-installer/<schematic ID>:v1.12.11`, the ID
//!   computed at plan (here the one the public factory published for iscsi-tools + util-linux-tools); the apply
//!   registered the schematic first (the stand-in refuses to serve an image of an unknown schematic), and the
//!   nodes report the extensions as Talos does (`ExtensionStatus` resources, with the factory's `schematic`
//!   extension naming the ID); the next plan is empty;
//! - changing the set rolls an upgrade to the new schematic's installer, control plane then worker, and the nodes
//!   report the new set;
//! - a bad extension name and `install_image` set as well are refused at plan, at their attributes.
//!
//! Loopback only: 127.0.220.0/24 (factory on 127.0.220.100:8080).

mod common;

use common::emulator::EmulatorProcess;
use common::{Terraform, Workspace};
use vixens::talos::client::extensions::InstalledExtension;
use vixens::talos::ops::Credentials;
use vixens::talos::secrets::SecretsBundle;

const PREFIX: &str = "127.0.220";
const FACTORY: &str = "127.0.220.100:8080";
/// The public Image Factory's ID for iscsi-tools + util-linux-tools (see talos::schematic's tests).
const STORAGE_SCHEMATIC: &str = "613e1592b2da41ae5e265e8789429f22e121aab91cb4deb6bc3c0b6262961245";

fn topology() -> String {
    format!(
        "nodes:\n- {{name: cp1, address: {PREFIX}.11}}\n- {{name: w1, address: {PREFIX}.12}}\n\
         talos_version: v1.12.11\nimage_factory: {FACTORY}\n\
         timings: {{install_delay: 0ms, reboot_delay: 0ms, workload_delay: 0ms, upgrade_delay: 0ms}}\n"
    )
}

fn config(extensions: &[&str], extra: &str) -> String {
    let list = extensions
        .iter()
        .map(|e| format!("{e:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let node = |name: &str, ip: u8, role: &str| {
        format!(
            r#"
  nodes {{
    name    = "{name}"
    address = "{PREFIX}.{ip}"
    role    = "{role}"
    link {{
      name      = "eth0"
      addresses = ["{PREFIX}.{ip}/24"]
    }}
  }}"#
        )
    };
    format!(
        r#"
resource "vixens_talos_cluster" "c" {{
  cluster_name      = "extensions"
  endpoint          = "https://{PREFIX}.11:6443"
  talos_version     = "1.12"
  system_extensions = [{list}]
  image_factory     = "http://{FACTORY}"
  {extra}
  {cp}
  {w}
  timeouts {{
    create = "120s"
    update = "120s"
    delete = "60s"
  }}
}}
"#,
        cp = node("cp1", 11, "controlplane"),
        w = node("w1", 12, "worker"),
    )
}

fn extensions_of(ws: &Workspace, address: &str) -> Vec<InstalledExtension> {
    let values = ws.resource("vixens_talos_cluster.c").expect("state");
    let secrets = SecretsBundle::from_yaml(values["machine_secrets"].as_str().expect("secrets"))
        .expect("parse");
    let creds = Credentials::from_secrets(&secrets).expect("credentials");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async { creds.client(address).expect("client").extensions().await })
        .expect("ExtensionStatuses")
}

fn names(exts: &[InstalledExtension]) -> Vec<&str> {
    exts.iter().map(|e| e.name.as_str()).collect()
}

fn schematic_of(exts: &[InstalledExtension]) -> Option<&str> {
    exts.iter()
        .find(|e| e.name == "schematic")
        .map(|e| e.version.as_str())
}

#[test]
fn extensions_install_the_factory_installer_and_changes_roll_an_upgrade() {
    let _emu = EmulatorProcess::start(&topology(), None);
    let tf = Terraform::cached("1.0.3");
    let ws = Workspace::new(
        &tf,
        &config(
            &["siderolabs/util-linux-tools", "siderolabs/iscsi-tools"],
            "",
        ),
    );
    ws.init();
    ws.apply();
    let values = ws.resource("vixens_talos_cluster.c").expect("state");
    let image = format!("{FACTORY}/metal-installer/{STORAGE_SCHEMATIC}:v1.12.11");
    for node in ["cp1", "w1"] {
        let rendered = values["machine_configurations"][node]
            .as_str()
            .expect("config");
        assert!(
            rendered.contains(&format!("image: {image}")),
            "{node} installs the factory installer:\n{rendered}"
        );
        assert_eq!(values["node_status"][node]["talos_version"], "v1.12.11");
    }
    for address in [format!("{PREFIX}.11"), format!("{PREFIX}.12")] {
        let exts = extensions_of(&ws, &address);
        assert_eq!(
            names(&exts),
            ["iscsi-tools", "util-linux-tools", "schematic"],
            "{address}"
        );
        assert_eq!(schematic_of(&exts), Some(STORAGE_SCHEMATIC), "{address}");
        assert_eq!(
            exts.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["0", "1", "2"]
        );
    }
    assert_eq!(ws.plan_exit_code(), 0, "no change after apply");

    // One more extension: a new schematic, rolled as an upgrade of both nodes.
    ws.write_config(&config(
        &[
            "siderolabs/iscsi-tools",
            "siderolabs/util-linux-tools",
            "siderolabs/qemu-guest-agent",
        ],
        "",
    ));
    ws.apply();
    for address in [format!("{PREFIX}.11"), format!("{PREFIX}.12")] {
        let exts = extensions_of(&ws, &address);
        assert_eq!(
            names(&exts),
            [
                "iscsi-tools",
                "qemu-guest-agent",
                "util-linux-tools",
                "schematic"
            ],
            "{address}"
        );
        let id = schematic_of(&exts).expect("schematic extension");
        assert_ne!(
            id, STORAGE_SCHEMATIC,
            "{address} upgraded to the new schematic"
        );
    }
    assert_eq!(ws.plan_exit_code(), 0, "no change after the upgrade");
}

#[test]
fn bad_schematic_entries_are_refused_at_plan() {
    let tf = Terraform::cached("1.0.3");
    let ws = Workspace::new(&tf, &config(&["iscsi-tools"], ""));
    ws.init();
    let out = ws.fails(&["plan", "-input=false", "-lock=false"]);
    assert!(
        out.all()
            .contains("\"iscsi-tools\" is not an official extension name")
            && out.all().contains("system_extensions"),
        "{}",
        out.all()
    );
    ws.write_config(&config(
        &["siderolabs/iscsi-tools"],
        "install_image = \"ghcr.io/siderolabs/installer:v1.12.11\"",
    ));
    let out = ws.fails(&["plan", "-input=false", "-lock=false"]);
    assert!(
        out.all()
            .contains("install_image conflicts with the schematic"),
        "{}",
        out.all()
    );
}
