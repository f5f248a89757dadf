//! Hubble relay on a cluster no pod of it can run on (issue 16 item 9), through Terraform 1.0.3 against
//! `vixens-emulator` on 127.0.229.0/24: one control plane, `allow_scheduling_on_control_planes = false`, no
//! worker. The plan warns that hubble-relay cannot run there; the apply installs Cilium without waiting for the
//! relay and UI (they stay Pending) and says so, instead of waiting for them until its timeout.

mod common;

use std::time::{Duration, Instant};

use common::emulator::EmulatorProcess;
use common::{Terraform, Workspace};

const PREFIX: &str = "127.0.229";

fn config() -> String {
    format!(
        r#"
resource "vixens_talos_cluster" "c" {{
  cluster_name  = "tainted"
  endpoint      = "https://{PREFIX}.100:6443"
  talos_version = "1.12"
  nodes {{
    name    = "cp1"
    address = "{PREFIX}.11"
    role    = "controlplane"
    link {{
      name = "eth0"
      vlan {{
        vlan_id   = 111
        addresses = ["{PREFIX}.11/24"]
        vip       = "{PREFIX}.100"
      }}
    }}
  }}
  timeouts {{
    create = "60s"
  }}
}}

resource "vixens_cilium" "cni" {{
  kubeconfig   = vixens_talos_cluster.c.kubeconfig
  version      = "1.19.6"
  cluster_name = "tainted"
  hubble {{
    enabled = true
    relay   = true
    ui      = true
  }}
  timeouts {{
    create = "90s"
  }}
}}
"#
    )
}

#[test]
fn hubble_relay_that_nothing_can_schedule_is_said_at_plan_and_not_waited_for() {
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    let _emulator = EmulatorProcess::start(
        &format!("nodes:\n- {{name: cp1, address: {PREFIX}.11}}\ntimings: {{install_delay: 0ms, reboot_delay: 0ms, workload_delay: 100ms, upgrade_delay: 0ms}}\n"),
        None,
    );
    let ws = Workspace::new(&tf, &config());
    ws.init();

    let plan = ws.ok(&["plan", "-input=false"]);
    let text = plan.all();
    assert!(
        text.contains("No node can run workloads") && text.contains("hubble-relay"),
        "{text}"
    );

    let started = Instant::now();
    let applied = ws.apply();
    let took = started.elapsed();
    eprintln!("apply with an unschedulable hubble-relay: {took:?}");
    let text = applied.all();
    assert!(
        text.contains("hubble-relay cannot be scheduled")
            && text.contains("hubble-ui cannot be scheduled")
            && text.contains("node-role.kubernetes.io/control-plane:NoSchedule not tolerated"),
        "{text}"
    );
    // Not a timing test: the create timeout (90 s) is far; only a wait for the relay could reach it.
    assert!(took < Duration::from_secs(90), "{took:?}");
    assert_eq!(ws.plan_exit_code(), 0);
}
