//! Ctrl-C during a scale-up, through Terraform 1.0.3 against the emulator on 127.0.233.0/24 (issue 15 item 9): the
//! apply of 1 -> 3 control planes is interrupted (SIGINT to terraform) while the new nodes install the config they
//! took; the re-apply finishes, its outputs say what the nodes are (every node running, every control plane an etcd
//! member), and the next `plan -detailed-exitcode` is empty.

mod common;

use common::emulator::EmulatorProcess;
use common::{Terraform, Workspace};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const PREFIX: &str = "127.0.233";
const CONTROL: &str = "127.0.233.250:17233";

fn node(i: u8) -> String {
    format!(
        r#"
  nodes {{
    name    = "cp{i}"
    address = "{PREFIX}.1{i}"
    role    = "controlplane"
    link {{
      name      = "eth0"
      addresses = ["{PREFIX}.1{i}/24"]
    }}
  }}"#
    )
}

fn config(cps: u8) -> String {
    let nodes: String = (1..=cps).map(node).collect();
    format!(
        r#"
resource "vixens_talos_cluster" "c" {{
  cluster_name  = "interrupt"
  endpoint      = "https://{PREFIX}.11:6443"
  talos_version = "1.12"
  allow_scheduling_on_control_planes = true
  {nodes}
  timeouts {{
    create = "120s"
    update = "120s"
    delete = "60s"
  }}
}}

output "node_status" {{
  value = vixens_talos_cluster.c.node_status
}}

output "etcd_members" {{
  value = vixens_talos_cluster.c.etcd_members
}}
"#
    )
}

/// The emulator's `GET /state`.
fn emulator_state() -> serde_json::Value {
    let mut stream = std::net::TcpStream::connect(CONTROL).unwrap();
    write!(
        stream,
        "GET /state HTTP/1.1\r\nHost: {CONTROL}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let body = reply.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {reply}"))
}

/// Whether the emulator shows node `name` holding a config (it took one).
fn configured(name: &str) -> bool {
    emulator_state()["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["name"] == name && n["configured"] == true)
}

#[test]
fn an_interrupted_scale_up_resumes_to_outputs_that_are_what_the_nodes_are() {
    let tf = Terraform::cached("1.0.3");
    let topology = format!(
        "nodes:\n- {{name: cp1, address: {PREFIX}.11}}\n- {{name: cp2, address: {PREFIX}.12}}\n\
         - {{name: cp3, address: {PREFIX}.13}}\ntalos_version: v1.12.11\n\
         timings: {{install_delay: 4s, reboot_delay: 0ms, workload_delay: 0ms, upgrade_delay: 0ms}}\n"
    );
    let _emulator = EmulatorProcess::start(&topology, Some(CONTROL));
    let ws = Workspace::new(&tf, &config(1));
    ws.init();
    ws.apply();

    // 1 -> 3, interrupted once the new nodes took their config and answered (they install for 4 s).
    ws.write_config(&config(3));
    let apply = ws.spawn(&["apply", "-auto-approve", "-input=false"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(configured("cp2") && configured("cp3")) {
        assert!(Instant::now() < deadline, "cp2 and cp3 never took a config");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500)); // their answer reaches the provider
    apply.interrupt();
    let interrupted = apply.wait();
    assert_ne!(interrupted.code, 0, "{}", interrupted.all());
    assert!(
        interrupted
            .all()
            .contains("Terraform asked the provider to stop"),
        "{}",
        interrupted.all()
    );
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    for n in ["cp2", "cp3"] {
        assert_eq!(
            values["node_status"][n]["stage"], "booting",
            "the interrupt came while {n} installed: {}",
            values["node_status"]
        );
    }

    // The re-apply waits for the nodes that were booting: the outputs are what the nodes are.
    ws.apply();
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    for n in ["cp1", "cp2", "cp3"] {
        assert_eq!(
            values["node_status"][n]["stage"], "running",
            "{n}: {}",
            values["node_status"]
        );
        assert_eq!(values["node_status"][n]["reachable"], true, "{n}");
    }
    assert_eq!(
        values["etcd_members"],
        serde_json::json!(["cp1", "cp2", "cp3"])
    );
    let plan = ws.run(&["plan", "-detailed-exitcode", "-input=false"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    ws.destroy();
}
