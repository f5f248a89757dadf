//! Through the real Terraform CLI: `terraform apply` of a Talos cluster with Cilium survives the emulator being
//! restarted (same `--state-dir`) while the provider waits for Cilium to roll out: the wait reconnects and goes
//! on (src/k8s/wait.rs), the apply finishes, and the install is not recreated (the workloads keep their uids).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::emulator::EmulatorProcess;
use common::{Terraform, Workspace};
use serde_json::Value;

const PREFIX: &str = "127.0.114";

fn config() -> String {
    let node = |name: &str, ip: u8, role: &str| {
        let vip = if role == "controlplane" {
            format!("vip = \"{PREFIX}.100\"")
        } else {
            String::new()
        };
        format!(
            r#"
  nodes {{
    name    = "{name}"
    address = "{PREFIX}.{ip}"
    role    = "{role}"
    link {{
      name = "eth0"
      vlan {{
        vlan_id   = 111
        addresses = ["{PREFIX}.{ip}/24"]
        {vip}
      }}
    }}
  }}"#
        )
    };
    format!(
        r#"
resource "vixens_talos_cluster" "c" {{
  cluster_name                      = "reconnect"
  endpoint                          = "https://{PREFIX}.100:6443"
  talos_version                     = "1.12"
  allow_scheduling_on_control_planes = true
  {cp}
  timeouts {{
    create = "60s"
  }}
}}

resource "vixens_cilium" "cni" {{
  kubernetes {{
    host               = vixens_talos_cluster.c.kubernetes.host
    ca_certificate     = vixens_talos_cluster.c.kubernetes.ca_certificate
    client_certificate = vixens_talos_cluster.c.kubernetes.client_certificate
    client_key         = vixens_talos_cluster.c.kubernetes.client_key
  }}
  version      = "1.17.0"
  cluster_name = "reconnect"
  timeouts {{
    create = "90s"
  }}
}}
"#,
        cp = node("cp1", 11, "controlplane"),
    )
}

/// The uid of object `kind`/`name` in the emulator's saved Kubernetes state, if it is there.
fn uid_of(state_dir: &Path, kind: &str, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(state_dir.join("kube-state.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    find(&v, kind, name)
}

fn find(v: &Value, kind: &str, name: &str) -> Option<String> {
    match v {
        Value::Object(m) => {
            if m.get("kind").and_then(Value::as_str) == Some(kind)
                && v.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
            {
                return v
                    .pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .map(String::from);
            }
            m.values().find_map(|c| find(c, kind, name))
        }
        Value::Array(a) => a.iter().find_map(|c| find(c, kind, name)),
        _ => None,
    }
}

/// The workloads whose rollouts the provider waits for (version 1.17.0, Hubble relay and UI off by default).
const WORKLOADS: [(&str, &str); 3] = [
    ("DaemonSet", "cilium"),
    ("DaemonSet", "cilium-envoy"),
    ("Deployment", "cilium-operator"),
];

#[test]
fn apply_survives_an_api_server_restart_during_the_cilium_wait() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir: PathBuf = dir.path().join("state");
    std::fs::create_dir_all(&state_dir).unwrap();
    // Workloads take 4 s to become ready, so the provider is in its rollout wait when the emulator goes away.
    let topology = format!(
        "nodes:\n- {{name: cp1, address: {PREFIX}.11}}\ntimings: {{install_delay: 0ms, reboot_delay: 0ms, workload_delay: 4000ms, upgrade_delay: 0ms}}\n"
    );
    let mut emulator = EmulatorProcess::start_persistent(&topology, &state_dir);
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    let ws = Workspace::new(&tf, &config());
    ws.init();
    let apply = std::thread::spawn(move || {
        let out = ws.run(&["apply", "-input=false", "-auto-approve"]);
        (ws, out)
    });

    // Wait for every workload to exist (the provider then waits for their rollouts, 4 s), then restart.
    let started = Instant::now();
    let uids = loop {
        let uids: Vec<Option<String>> = WORKLOADS
            .iter()
            .map(|(kind, name)| uid_of(&state_dir, kind, name))
            .collect();
        if uids.iter().all(Option::is_some) {
            break uids;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the Cilium workloads never appeared: {uids:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(300));
    emulator.kill();
    std::thread::sleep(Duration::from_millis(1500));
    let _emulator = EmulatorProcess::start_persistent(&topology, &state_dir);

    let (ws, out) = apply.join().unwrap();
    assert_eq!(
        out.code,
        0,
        "apply failed after the restart:\n{}",
        out.all()
    );
    for ((kind, name), uid) in WORKLOADS.iter().zip(&uids) {
        assert_eq!(
            &uid_of(&state_dir, kind, name),
            uid,
            "{kind} {name} was recreated"
        );
    }
    assert_eq!(
        ws.plan_exit_code(),
        0,
        "the plan after the apply is not empty"
    );
}
