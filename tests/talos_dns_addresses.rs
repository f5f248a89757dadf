//! Node addresses given as DNS names (issue 16 item 6), through real Terraform against `vixens-emulator`. The only
//! name that resolves to loopback here is `localhost` (127.0.0.1), so the emulated node listens there.
//! - A node addressed by a name gets that name in its certificates (`machine.certSANs`, and
//!   `cluster.apiServer.certSANs` on a control plane), as Talos puts its IP addresses there itself: the create
//!   finishes (before: the secure connection failed the certificate name check and the create waited its whole
//!   timeout with a generic message).
//! - A node whose certificate does not hold the name (here: created by IP, then addressed by name) fails at once with
//!   an error that names the node, the address and the names the certificate holds, and says how to get there;
//!   doing that works.
//!
//! Loopback only: 127.0.0.1 (ports 50000 and 6443).

mod common;

use common::emulator::EmulatorProcess;
use common::{Terraform, Workspace};
use std::time::{Duration, Instant};

fn config(address: &str, endpoint_host: &str, cert_sans: &str) -> String {
    format!(
        r#"
resource "vixens_talos_cluster" "c" {{
  cluster_name  = "dns"
  endpoint      = "https://{endpoint_host}:6443"
  talos_version = "1.12"
  allow_scheduling_on_control_planes = true
  cert_sans     = [{cert_sans}]
  nodes {{
    name    = "cp1"
    address = "{address}"
    role    = "controlplane"
    link {{
      name      = "eth0"
      addresses = ["127.0.0.1/8"]
    }}
  }}
  timeouts {{
    create = "60s"
    update = "60s"
    delete = "60s"
  }}
}}
"#
    )
}

const TOPOLOGY: &str = "nodes:\n- {name: cp1, address: 127.0.0.1}\ntimings: {install_delay: 0ms, reboot_delay: 0ms, workload_delay: 0ms, upgrade_delay: 0ms}\n";

/// A cluster whose control plane is addressed as `localhost`: created, then an empty plan.
fn created_by_name(tf: &Terraform) {
    let _emu = EmulatorProcess::start(TOPOLOGY, None);
    let ws = Workspace::new(tf, &config("localhost", "localhost", ""));
    ws.init();
    let started = Instant::now();
    let out = ws.run(&["apply", "-auto-approve", "-input=false"]);
    let took = started.elapsed();
    assert_eq!(out.code, 0, "terraform {}:\n{}", tf.version, out.all());
    eprintln!("terraform {}: create by name took {took:?}", tf.version);
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    let config = values["machine_configurations"]["cp1"].as_str().unwrap();
    let v1alpha1 = config.split("\n---\n").next().unwrap();
    let rendered: serde_json::Value = vixens::yaml::from_str(v1alpha1).unwrap();
    let has = |path: &[&str]| {
        path.iter()
            .fold(&rendered, |v, k| &v[*k])
            .as_array()
            .is_some_and(|s| s.iter().any(|n| n == "localhost"))
    };
    assert!(has(&["machine", "certSANs"]), "{rendered:?}");
    assert!(has(&["cluster", "apiServer", "certSANs"]), "{rendered:?}");
    assert_eq!(values["etcd_members"], serde_json::json!(["cp1"]));
    assert_eq!(ws.plan_exit_code(), 0, "terraform {}", tf.version);
    ws.destroy();
}

/// Created by IP, then addressed by name: a fast explicit error; then the way it names works.
fn certificate_without_the_name(tf: &Terraform) {
    let _emu = EmulatorProcess::start(TOPOLOGY, None);
    let ws = Workspace::new(tf, &config("127.0.0.1", "127.0.0.1", ""));
    ws.init();
    ws.apply();
    ws.write_config(&config("localhost", "127.0.0.1", ""));
    let started = Instant::now();
    let out = ws.fails(&["apply", "-auto-approve", "-input=false"]);
    let took = started.elapsed();
    // Terraform wraps the detail: compare with single spaces.
    let text = out.all().split_whitespace().collect::<Vec<_>>().join(" ");
    eprintln!(
        "terraform {}: the name check failed after {took:?}",
        tf.version
    );
    assert!(
        took < Duration::from_secs(20),
        "took {took:?} (update timeout 60s):\n{text}"
    );
    for want in [
        "The certificate of node \"cp1\" does not name its address",
        "the node at localhost presents",
        "not valid for \"localhost\": it names 127.0.0.1, cp1",
        "add \"localhost\" to cert_sans",
    ] {
        assert!(text.contains(want), "missing {want:?}:\n{text}");
    }
    // What the message says: the name in cert_sans with the previous address, then the address.
    ws.write_config(&config("127.0.0.1", "127.0.0.1", "\"localhost\""));
    ws.apply();
    ws.write_config(&config("localhost", "127.0.0.1", "\"localhost\""));
    ws.apply();
    assert_eq!(ws.plan_exit_code(), 0);
    ws.destroy();
}

/// One test: every part listens on 127.0.0.1.
#[test]
fn node_addresses_given_as_dns_names() {
    let tf = Terraform::cached("1.0.3");
    created_by_name(&tf);
    if let Some(path_tf) = Terraform::from_path() {
        created_by_name(&path_tf);
    }
    certificate_without_the_name(&tf);
}
