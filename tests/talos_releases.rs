//! `vixens_talos_cluster` through real Terraform (1.0.3) against emulated nodes that answer as Talos v1.11.6,
//! v1.12.11 and v1.13.9 do (see tests/emulator_talos_versions.rs for the per-release behaviours):
//! - after an apply, the next plan is empty on every release: the refresh reads the MachineConfig resource as
//!   talosctl does (protobuf `yaml_marshalled`), so `config_hash` does not drift;
//! - a node reset behind Terraform's back is seen in maintenance mode with its version on 1.11 (whose maintenance
//!   service refuses `Version`) as on 1.13 (which answers it): the plan refuses it without `reinstall`, and with it
//!   shows the drift;
//! - a node older than the config contract: refused at plan when the cluster already exists (the node is asked
//!   its version), and at apply within seconds, naming the node, its release and the contract that fits (before:
//!   retried in secure mode until the create timeout).
//!
//! Loopback only: 127.0.173.0/24 .. 127.0.176.0/24.

mod common;

use common::emulator::EmulatorProcess;
use common::{Terraform, Workspace};
use std::time::{Duration, Instant};
use vixens::talos::ops::{self, Credentials};
use vixens::talos::secrets::SecretsBundle;

fn topology(prefix: &str, nodes: &[(&str, &str)]) -> String {
    let mut out = String::from("nodes:\n");
    for (i, (name, version)) in nodes.iter().enumerate() {
        out.push_str(&format!(
            "- {{name: {name}, address: {prefix}.{}, talos_version: {version}}}\n",
            11 + i
        ));
    }
    out.push_str("timings: {install_delay: 0ms, reboot_delay: 0ms, workload_delay: 0ms, upgrade_delay: 0ms}\n");
    out
}

fn node(prefix: &str, name: &str, ip: u8, role: &str) -> String {
    format!(
        r#"
  nodes {{
    name    = "{name}"
    address = "{prefix}.{ip}"
    role    = "{role}"
    link {{
      name      = "eth0"
      addresses = ["{prefix}.{ip}/24"]
    }}
  }}"#
    )
}

/// `nodes`: (name, role, last octet of its address in the topology).
fn config(prefix: &str, talos_version: &str, nodes: &[(&str, &str, u8)], create: &str) -> String {
    let mut blocks = String::new();
    for (name, role, ip) in nodes {
        blocks.push_str(&node(prefix, name, *ip, role));
    }
    let endpoint_ip = nodes[0].2;
    format!(
        r#"
resource "vixens_talos_cluster" "c" {{
  cluster_name  = "releases"
  endpoint      = "https://{prefix}.{endpoint_ip}:6443"
  talos_version = "{talos_version}"
  allow_scheduling_on_control_planes = true
  {blocks}
  timeouts {{
    create = "{create}"
    update = "{create}"
    delete = "60s"
  }}
}}
"#
    )
}

fn tf() -> Terraform {
    Terraform::cached("1.0.3")
}

/// Resets `address` as an operator would with `talosctl reset` (the admin certificate from the state's secrets):
/// STATE and EPHEMERAL wiped, back to maintenance mode.
fn reset_behind_terraforms_back(ws: &Workspace, address: &str) {
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    let secrets = SecretsBundle::from_yaml(values["machine_secrets"].as_str().unwrap()).unwrap();
    let creds = Credentials::from_secrets(&secrets).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        creds.client(address).unwrap().reset(false).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while ops::maintenance_version(address).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "{address} never came back in maintenance mode"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

#[test]
fn no_drift_after_apply_and_a_reset_node_is_seen_on_every_release() {
    for (i, (version, contract)) in [("v1.11.6", "1.11"), ("v1.13.9", "1.13")]
        .iter()
        .enumerate()
    {
        let prefix = format!("127.0.{}", 173 + i);
        let _emu = EmulatorProcess::start(&topology(&prefix, &[("cp1", version)]), None);
        let ws = Workspace::new(
            &tf(),
            &config(&prefix, contract, &[("cp1", "controlplane", 11)], "120s"),
        );
        ws.init();
        ws.apply();
        assert_eq!(
            ws.plan_exit_code(),
            0,
            "{version}: the plan after apply must be empty"
        );
        let values = ws.resource("vixens_talos_cluster.c").unwrap();
        assert_eq!(values["node_status"]["cp1"]["talos_version"], *version);

        reset_behind_terraforms_back(&ws, &format!("{prefix}.11"));
        // Seen in maintenance mode: the plan refuses to send the cluster's keys without consent (tests/talos_trust.rs).
        let refused = ws.fails(&["plan", "-input=false", "-lock=false"]);
        assert!(
            refused
                .all()
                .contains("Node \"cp1\" was configured and now answers in maintenance mode"),
            "{version}: {}",
            refused.all()
        );
        ws.write_config(
            &config(&prefix, contract, &[("cp1", "controlplane", 11)], "120s").replace(
                "role    = \"controlplane\"",
                "role    = \"controlplane\"\n    reinstall = true",
            ),
        );
        ws.ok(&["refresh", "-input=false", "-lock=false"]);
        let values = ws.resource("vixens_talos_cluster.c").unwrap();
        let status = &values["node_status"]["cp1"];
        assert_eq!(status["stage"], "maintenance", "{version}: {status}");
        assert_eq!(status["talos_version"], *version, "{version}: {status}");
        assert_eq!(status["reachable"], true, "{version}: {status}");
        assert_eq!(ws.plan_exit_code(), 2, "{version}: the reset node is drift");
    }
}

#[test]
fn a_node_older_than_the_contract_is_refused_fast_with_the_contract_that_fits() {
    let prefix = "127.0.175";
    let _emu = EmulatorProcess::start(
        &topology(prefix, &[("cp1", "v1.12.11"), ("old", "v1.11.6")]),
        None,
    );
    // A create on a 1.11 node with the 1.12 contract: the plan asks the node its release and refuses it.
    let mut ws = Workspace::new(
        &tf(),
        &config(prefix, "1.12", &[("old", "controlplane", 12)], "10m"),
    );
    ws.init();
    let planned = ws.fails(&["plan", "-input=false", "-lock=false"]);
    for want in [
        "Node \"old\" runs a Talos older than the config contract",
        "Talos v1.11.6",
        "talos_version = \"1.11\"",
    ] {
        assert!(
            planned.all().contains(want),
            "missing {want:?}:\n{}",
            planned.all()
        );
    }
    // Planned without the node checks (a CI plan), the apply refuses it as fast, with the node's own answer.
    ws.set_env("VIXENS_CHECK_NODES_AT_PLAN", "false");
    let started = Instant::now();
    let out = ws.fails(&["apply", "-auto-approve", "-input=false", "-lock=false"]);
    let took = started.elapsed();
    let text = out.all();
    assert!(
        took < Duration::from_secs(60),
        "took {took:?} (the create timeout is 10m):\n{text}"
    );
    for want in [
        "Cannot apply the machine config to node \"old\"",
        "failed to parse config",
        "not registered",
        "v1.11.6",
        "talos_version = \"1.11\"",
    ] {
        assert!(text.contains(want), "missing {want:?}:\n{text}");
    }
    // The failed create left a tainted object whose nodes never took a config: nothing to reset.
    ws.write_config(&config(
        prefix,
        "1.11",
        &[("old", "controlplane", 12)],
        "10m",
    ));
    ws.destroy();
}

#[test]
fn adding_a_node_older_than_the_contract_is_refused_at_plan() {
    let prefix = "127.0.176";
    let _emu = EmulatorProcess::start(
        &topology(prefix, &[("cp1", "v1.12.11"), ("old", "v1.11.6")]),
        None,
    );
    let one = config(prefix, "1.12", &[("cp1", "controlplane", 11)], "120s");
    let ws = Workspace::new(&tf(), &one);
    ws.init();
    ws.apply();
    ws.write_config(&config(
        prefix,
        "1.12",
        &[("cp1", "controlplane", 11), ("old", "worker", 12)],
        "120s",
    ));
    let out = ws.fails(&["plan", "-input=false", "-lock=false"]);
    let text = out.all();
    for want in [
        "Node \"old\" runs a Talos older than the config contract",
        "Talos v1.11.6",
        "talos_version",
    ] {
        assert!(text.contains(want), "missing {want:?}:\n{text}");
    }
    // Terraform refreshes with the configuration before a destroy: back to the one that plans.
    ws.write_config(&one);
    ws.destroy();
}
