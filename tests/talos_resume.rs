//! A create that failed before etcd was bootstrapped, retried after a config change (issue 16 item 2), through
//! real Terraform against `vixens-emulator`: the retry resumes with the same secrets, applies the changed config
//! to the node that took the first one, and bootstraps, instead of waiting (until the create timeout) for etcd
//! members that cannot exist yet: whether bootstrap happened is asked of the nodes.
//!
//! Loopback only: 127.0.204.0/24 and 127.0.205.0/24 (control endpoints on .250).

mod common;

use common::emulator::{control_post, EmulatorProcess};
use common::{Terraform, Workspace};
use std::time::{Duration, Instant};

fn config(prefix: &str, patches: &str) -> String {
    format!(
        r#"
resource "vixens_talos_cluster" "c" {{
  cluster_name  = "resume"
  endpoint      = "https://{prefix}.11:6443"
  talos_version = "1.12"
  allow_scheduling_on_control_planes = true
  config_patches = [{patches}]
  nodes {{
    name    = "cp1"
    address = "{prefix}.11"
    role    = "controlplane"
    link {{
      name      = "eth0"
      addresses = ["{prefix}.11/24"]
    }}
  }}
  timeouts {{
    create = "90s"
    update = "90s"
    delete = "60s"
  }}
}}
"#
    )
}

fn retried_create_after_a_config_change(tf: &Terraform, prefix: &str) {
    let control = format!("{prefix}.250:17080");
    let topology = format!(
        "nodes:\n- {{name: cp1, address: {prefix}.11}}\ntimings: {{install_delay: 0ms, reboot_delay: 0ms, workload_delay: 0ms, upgrade_delay: 0ms}}\n"
    );
    let _emu = EmulatorProcess::start(&topology, Some(&control));
    // cp1 takes its config, then refuses the bootstrap: the create fails before etcd exists.
    control_post(
        &control,
        "/faults/nodes/cp1",
        r#"{"fail_next": {"Bootstrap": "internal"}}"#,
    );
    let ws = Workspace::new(tf, &config(prefix, ""));
    ws.init();
    let failed = ws.fails(&["apply", "-auto-approve", "-input=false"]);
    assert!(
        failed.all().contains("Cannot bootstrap etcd"),
        "{}",
        failed.all()
    );
    let entry = ws.resource_entry("vixens_talos_cluster.c").unwrap();
    assert_eq!(entry["tainted"], true);
    let secrets = entry["values"]["machine_secrets"].clone();
    let first_hash = entry["values"]["node_status"]["cp1"]["config_hash"].clone();
    assert!(!first_hash.as_str().unwrap().is_empty());

    // A patch changes before the retry: the resumed create applies the new config and bootstraps.
    ws.write_config(&config(
        prefix,
        r#""machine:\n  sysctls:\n    vm.max_map_count: \"262144\"\n""#,
    ));
    let started = Instant::now();
    let out = ws.ok(&["apply", "-auto-approve", "-input=false"]);
    let took = started.elapsed();
    eprintln!("terraform {}: resumed create took {took:?}", tf.version);
    assert!(
        out.all().contains("Resuming the failed create"),
        "{}",
        out.all()
    );
    assert!(
        took < Duration::from_secs(45),
        "the retry took {took:?} (create timeout 90s):\n{}",
        out.all()
    );
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    assert_eq!(values["machine_secrets"], secrets);
    assert_eq!(values["etcd_members"], serde_json::json!(["cp1"]));
    assert_ne!(values["node_status"]["cp1"]["config_hash"], first_hash);
    assert!(values["machine_configurations"]["cp1"]
        .as_str()
        .unwrap()
        .contains("vm.max_map_count"));
    assert_eq!(ws.plan_exit_code(), 0);
    ws.destroy();
}

#[test]
fn a_create_retried_after_a_config_change_bootstraps_instead_of_waiting_for_etcd() {
    retried_create_after_a_config_change(&Terraform::cached("1.0.3"), "127.0.204");
    match Terraform::from_path() {
        Some(tf) => retried_create_after_a_config_change(&tf, "127.0.205"),
        None => eprintln!("note: no terraform >= 1.0 on PATH"),
    }
}
