//! Nodes on another Talos release than the cluster's installer image, and renames (fresh-user review findings):
//! - the emulator restores a node saved mid-install on its installer's release (a machine that finished
//!   installing boots the installed system, cmd/installer@v1.12.11), not the boot medium's;
//! - a node found running another release (installed by hand, left behind) shows in the plan with a warning, and
//!   the apply upgrades it, after which the plan is empty;
//! - a node renamed in place (same address, new name) is refused at plan at its name;
//! - an install disk the node in maintenance mode does not report is refused at plan, at `install_disk`.
//!
//! Loopback only: 127.0.217.0/24, 127.0.218.0/24, 127.0.222.0/24 and 127.0.223.0/24.

mod common;

use common::emulator::EmulatorProcess;
use common::{Terraform, Workspace};
use std::time::Duration;

use vixens::emulator::run::{Emulator, Options};
use vixens::emulator::topology::Topology;
use vixens::talos::client::{ApplyMode, Security, TalosClient};
use vixens::talos::config::render;
use vixens::talos::contract::Contract;
use vixens::talos::secrets::SecretsBundle;

fn config(prefix: &str, names: &[&str]) -> String {
    let nodes: String = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            format!(
                r#"
  nodes {{
    name    = "{name}"
    address = "{prefix}.{ip}"
    role    = "controlplane"
    link {{
      name      = "eth0"
      addresses = ["{prefix}.{ip}/24"]
    }}
  }}"#,
                ip = 11 + i
            )
        })
        .collect();
    format!(
        r#"
resource "vixens_talos_cluster" "c" {{
  cluster_name  = "drift"
  endpoint      = "https://{prefix}.11:6443"
  talos_version = "1.12"
  allow_scheduling_on_control_planes = true
  {nodes}
  timeouts {{
    create = "120s"
    update = "120s"
    delete = "60s"
  }}
}}
"#
    )
}

fn topology(prefix: &str, count: usize) -> String {
    let mut t = String::from("nodes:\n");
    for i in 0..count {
        t.push_str(&format!(
            "- {{name: n{i}, address: {prefix}.{}, talos_version: v1.12.0}}\n",
            11 + i
        ));
    }
    t.push_str("timings: {install_delay: 0ms, reboot_delay: 0ms, workload_delay: 0ms, upgrade_delay: 0ms}\n");
    t
}

#[tokio::test]
async fn a_node_saved_mid_install_comes_back_on_its_installers_release() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "nodes:\n- {name: n0, address: 127.0.222.11, talos_version: v1.12.0}\ntimings: {install_delay: 30s}\n";
    let start = || async {
        Emulator::start(Options {
            topology: Topology::parse(yaml).unwrap(),
            state_dir: Some(dir.path().to_path_buf()),
            control: None,
        })
        .await
        .unwrap()
    };
    let emu = start().await;
    let contract = Contract::V1_12;
    let secrets = SecretsBundle::generate(contract).unwrap();
    let cluster = common::specs::cluster("drift", contract, "127.0.222.11");
    let node = common::specs::control_plane("n0", "127.0.222.11");
    let cfg = render(&cluster, &node, &secrets).unwrap();
    TalosClient::connect(
        "127.0.222.11",
        &Security::Maintenance,
        Duration::from_secs(5),
    )
    .unwrap()
    .apply_configuration(cfg.as_bytes(), ApplyMode::Auto)
    .await
    .unwrap();
    // Saved while installing (the install takes 30 s), then restored as after a power cycle.
    emu.stop().await;
    let emu = start().await;
    {
        let st = emu.cluster.nodes[0].state();
        assert_eq!(st.version, "v1.12.11", "the installer's release");
    }
    emu.stop().await;
}

fn drift_then_upgrade(tf: &Terraform, prefix: &str) {
    let label = format!("terraform {}", tf.version);
    let state = tempfile::tempdir().unwrap();
    let mut emu = EmulatorProcess::start_persistent(&topology(prefix, 1), state.path());
    let ws = Workspace::new(tf, &config(prefix, &["n0"]));
    ws.init();
    ws.apply();
    assert_eq!(ws.plan_exit_code(), 0, "{label}");
    // The machine runs another release than the installer image's (as if installed by hand).
    emu.kill();
    let file = state.path().join("talos-state.json");
    let mut saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    saved["nodes"][0]["version"] = "v1.12.0".into();
    std::fs::write(&file, saved.to_string()).unwrap();
    let _emu = EmulatorProcess::start_persistent(&topology(prefix, 1), state.path());
    let plan = ws.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(plan.code, 2, "{label}: {}", plan.all());
    assert!(
        plan.all().contains("Nodes on another Talos release")
            && plan.all().contains("\"n0\" runs v1.12.0"),
        "{label}: {}",
        plan.all()
    );
    ws.apply();
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    assert_eq!(
        values["node_status"]["n0"]["talos_version"], "v1.12.11",
        "{label}"
    );
    assert_eq!(
        ws.plan_exit_code(),
        0,
        "{label}: the plan after the upgrade"
    );
}

#[test]
fn a_node_on_another_release_is_upgraded_to_the_installers() {
    drift_then_upgrade(&Terraform::cached("1.0.3"), "127.0.217");
}

#[test]
fn renaming_a_node_in_place_is_refused_at_plan() {
    let tf = Terraform::cached("1.0.3");
    let prefix = "127.0.218";
    let _emu = EmulatorProcess::start(&topology(prefix, 3), None);
    let ws = Workspace::new(&tf, &config(prefix, &["a", "b", "c"]));
    ws.init();
    ws.apply();
    ws.write_config(&config(prefix, &["a", "b", "c2"]));
    let out = ws.fails(&["plan", "-input=false", "-no-color"]);
    let text = out.all();
    assert!(
        text.contains("A node cannot be renamed in place")
            && text.contains("Node \"c2\" at 127.0.218.13 was \"c\""),
        "{text}"
    );
    assert!(text.contains("name"), "{text}");
    // Renaming back is no change; node_status holds the configured nodes only.
    ws.write_config(&config(prefix, &["a", "b", "c"]));
    assert_eq!(ws.plan_exit_code(), 0);
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    let names: Vec<&String> = values["node_status"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["a", "b", "c"]);
}

#[test]
fn an_install_disk_the_node_lacks_is_refused_at_plan() {
    let tf = Terraform::cached("1.0.3");
    let prefix = "127.0.223";
    let _emu = EmulatorProcess::start(&topology(prefix, 1), None);
    let config = config(prefix, &["a"]).replace(
        "role    = \"controlplane\"",
        "role    = \"controlplane\"\n    install_disk = \"/dev/nvme9n9\"",
    );
    let ws = Workspace::new(&tf, &config);
    ws.init();
    let out = ws.fails(&["plan", "-input=false", "-no-color"]);
    let text = out.all();
    assert!(
        text.contains("Install disk not found")
            && text.contains("Node \"a\" has no disk /dev/nvme9n9 (its disks: /dev/sda)")
            && text.contains("install_disk"),
        "{text}"
    );
    // A disk it has plans.
    ws.write_config(&config.replace("/dev/nvme9n9", "/dev/sda"));
    assert_eq!(ws.plan_exit_code(), 2);
}
