//! Talos minor upgrades through real Terraform (issue 16 item 4): a cluster created on Talos v1.11.6 nodes with
//! `talos_version = "1.11"` goes to 1.12 then 1.13 by changing `talos_version` alone. Each emulated node parses
//! and validates every config with the rules of the release it runs (a 1.11 node refuses the 1.12 network
//! documents, tests/emulator_talos_versions.rs), so a config of the new contract sent before the node's OS upgrade
//! fails the apply: the provider upgrades each node first (control planes first, one at a time), then applies the
//! new contract. After each step every node runs the new release, the control planes are etcd members, and the
//! next plan is empty.
//!
//! Loopback only: 127.0.207.0/24 and 127.0.208.0/24.

mod common;

use common::emulator::EmulatorProcess;
use common::{Terraform, Workspace};
use std::time::Instant;

fn config(prefix: &str, talos_version: &str) -> String {
    let node = |name: &str, ip: u8, role: &str| {
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
    };
    format!(
        r#"
resource "vixens_talos_cluster" "c" {{
  cluster_name  = "chain"
  endpoint      = "https://{prefix}.11:6443"
  talos_version = "{talos_version}"
  allow_scheduling_on_control_planes = true
  {cp1}
  {cp2}
  {cp3}
  {w1}
  timeouts {{
    create = "120s"
    update = "120s"
    delete = "60s"
  }}
}}
"#,
        cp1 = node("cp1", 11, "controlplane"),
        cp2 = node("cp2", 12, "controlplane"),
        cp3 = node("cp3", 13, "controlplane"),
        w1 = node("w1", 14, "worker"),
    )
}

fn chain(tf: &Terraform, prefix: &str) {
    let mut topology = String::from("nodes:\n");
    for (i, name) in ["cp1", "cp2", "cp3", "w1"].iter().enumerate() {
        topology.push_str(&format!(
            "- {{name: {name}, address: {prefix}.{}, talos_version: v1.11.6}}\n",
            11 + i
        ));
    }
    topology.push_str("timings: {install_delay: 0ms, reboot_delay: 0ms, workload_delay: 0ms, upgrade_delay: 0ms}\n");
    let _emu = EmulatorProcess::start(&topology, None);
    let ws = Workspace::new(tf, &config(prefix, "1.11"));
    ws.init();
    ws.apply();
    for (contract, release) in [
        ("1.11", "v1.11.6"),
        ("1.12", "v1.12.11"),
        ("1.13", "v1.13.9"),
    ] {
        let label = format!("terraform {} talos_version {contract}", tf.version);
        if contract != "1.11" {
            ws.write_config(&config(prefix, contract));
            let started = Instant::now();
            let out = ws.run(&["apply", "-auto-approve", "-input=false"]);
            assert_eq!(out.code, 0, "{label}:\n{}", out.all());
            eprintln!("{label}: upgrade apply took {:?}", started.elapsed());
        }
        let values = ws.resource("vixens_talos_cluster.c").unwrap();
        for node in ["cp1", "cp2", "cp3", "w1"] {
            let status = &values["node_status"][node];
            assert_eq!(
                status["talos_version"], release,
                "{label}: {node}: {status}"
            );
            assert_eq!(status["stage"], "running", "{label}: {node}: {status}");
        }
        assert_eq!(
            values["etcd_members"],
            serde_json::json!(["cp1", "cp2", "cp3"]),
            "{label}"
        );
        let multidoc = values["machine_configurations"]["cp1"]
            .as_str()
            .unwrap()
            .contains("kind: HostnameConfig");
        assert_eq!(multidoc, contract != "1.11", "{label}");
        assert_eq!(ws.plan_exit_code(), 0, "{label}: the plan after the apply");
    }
    ws.destroy();
}

#[test]
fn talos_1_11_to_1_12_to_1_13_by_talos_version_alone() {
    chain(&Terraform::cached("1.0.3"), "127.0.207");
    match Terraform::from_path() {
        Some(tf) => chain(&tf, "127.0.208"),
        None => eprintln!("note: no terraform >= 1.0 on PATH"),
    }
}
