//! A hostname set by a config patch (issue 16 item 3), through real Terraform: a `HostnameConfig` patch (Talos
//! 1.12+) or `machine.network.hostname` (1.11) that gives a node another hostname than its `hostname` attribute
//! (the node name by default) is refused at plan, at the patch that sets it, saying to set `hostname` instead
//! (before: accepted, then the create waited for an etcd member under the unpatched name until its timeout). A
//! patch that repeats the attribute's hostname is accepted, and the create against `vixens-emulator` finishes with
//! the control plane in etcd under that name.
//!
//! Loopback only: 127.0.206.0/24.

mod common;

use common::emulator::EmulatorProcess;
use common::{Terraform, Workspace};
use std::time::{Duration, Instant};

/// A one-control-plane cluster; `cluster_patch` / `node_patch` are HCL strings (or empty), `hostname` the node's
/// attribute line (or empty).
fn config(
    prefix: &str,
    version: &str,
    cluster_patch: &str,
    node_patch: &str,
    hostname: &str,
) -> String {
    format!(
        r#"
resource "vixens_talos_cluster" "c" {{
  cluster_name  = "hostname"
  endpoint      = "https://{prefix}.11:6443"
  talos_version = "{version}"
  allow_scheduling_on_control_planes = true
  config_patches = [{cluster_patch}]
  nodes {{
    name    = "cp1"
    address = "{prefix}.11"
    role    = "controlplane"
    {hostname}
    config_patches = [{node_patch}]
    link {{
      name      = "eth0"
      addresses = ["{prefix}.11/24"]
    }}
  }}
  timeouts {{
    create = "90s"
  }}
}}
"#
    )
}

const HOSTNAME_DOC: &str = r#""apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: db1\n""#;
const LEGACY_HOSTNAME: &str = r#""machine:\n  network:\n    hostname: db1\n""#;

fn refused(tf: &Terraform, config: &str, at: &str) {
    let ws = Workspace::new(tf, config);
    ws.init();
    let started = Instant::now();
    let out = ws.fails(&["plan", "-input=false"]);
    let took = started.elapsed();
    let text = out.all();
    assert!(took < Duration::from_secs(20), "took {took:?}:\n{text}");
    for want in [
        "Hostname set by a config patch",
        "set the hostname of node \"cp1\" to \"db1\"",
        "hostname = \"db1\"",
        at,
    ] {
        assert!(text.contains(want), "missing {want:?}:\n{text}");
    }
}

#[test]
fn a_patch_that_renames_a_node_is_refused_at_plan_at_the_patch() {
    let prefix = "127.0.206";
    for tf in [Some(Terraform::cached("1.0.3")), Terraform::from_path()]
        .into_iter()
        .flatten()
    {
        // Talos 1.12: a HostnameConfig document in the node's patches.
        refused(
            &tf,
            &config(prefix, "1.12", "", HOSTNAME_DOC, ""),
            "config_patches = [\"apiVersion",
        );
        // Talos 1.11: machine.network.hostname in the cluster's patches, against a hostname attribute.
        refused(
            &tf,
            &config(prefix, "1.11", LEGACY_HOSTNAME, "", "hostname = \"cp1\""),
            "config_patches = [\"machine",
        );
    }
}

#[test]
fn a_patch_that_repeats_the_hostname_attribute_is_accepted_and_the_node_joins_under_it() {
    let prefix = "127.0.206";
    let topology = format!(
        "nodes:\n- {{name: cp1, address: {prefix}.11}}\ntimings: {{install_delay: 0ms, reboot_delay: 0ms, workload_delay: 0ms, upgrade_delay: 0ms}}\n"
    );
    let _emu = EmulatorProcess::start(&topology, None);
    let ws = Workspace::new(
        &Terraform::cached("1.0.3"),
        &config(prefix, "1.12", "", HOSTNAME_DOC, "hostname = \"db1\""),
    );
    ws.init();
    ws.apply();
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    assert_eq!(values["etcd_members"], serde_json::json!(["db1"]));
    assert_eq!(ws.plan_exit_code(), 0);
    ws.destroy();
}
