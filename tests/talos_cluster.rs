//! `vixens_talos_cluster` through the real Terraform CLI against the `vixens-emulator` binary on loopback
//! addresses (127.0.111.0/24 and 127.0.112.0/24). Management VLAN 111 carries the node addresses and a loopback
//! VIP that the emulator serves the Kubernetes API on after bootstrap; VLAN 208 uses 192.168.208.0/24, which is
//! only rendered, never contacted.

mod common;

use common::{Terraform, Workspace};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `vixens-emulator` process, killed on drop.
struct EmulatorProcess {
    child: Child,
    _dir: tempfile::TempDir,
}

impl EmulatorProcess {
    fn start(prefix: &str, nodes: &[&str], install_delay_ms: u64) -> EmulatorProcess {
        Self::start_with(prefix, nodes, install_delay_ms, "", None)
    }

    fn start_with(
        prefix: &str,
        nodes: &[&str],
        install_delay_ms: u64,
        extra: &str,
        control: Option<&str>,
    ) -> EmulatorProcess {
        let dir = tempfile::tempdir().unwrap();
        let mut topology = String::from("nodes:\n");
        for (i, name) in nodes.iter().enumerate() {
            topology.push_str(&format!(
                "- {{name: {name}, address: {prefix}.{}}}\n",
                11 + i
            ));
        }
        topology.push_str(&format!(
            "timings: {{install_delay: {install_delay_ms}ms, reboot_delay: 0ms, workload_delay: 0ms, upgrade_delay: 0ms}}\n"
        ));
        topology.push_str(extra);
        let path = dir.path().join("topology.yaml");
        std::fs::write(&path, topology).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vixens-emulator"));
        if let Some(addr) = control {
            cmd.arg("--control").arg(addr);
        }
        let mut child = cmd
            .arg("--topology")
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start vixens-emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "emulator did not start");
        EmulatorProcess { child, _dir: dir }
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A node block: `cp` or worker, address `<prefix>.<ip>`, VLAN 111 on the node address and (control planes)
/// the loopback VIP `<prefix>.100`.
fn node(prefix: &str, name: &str, ip: u8, controlplane: bool) -> String {
    let role = if controlplane {
        "controlplane"
    } else {
        "worker"
    };
    let vip = if controlplane {
        format!("vip = \"{prefix}.100\"")
    } else {
        String::new()
    };
    format!(
        r#"
  nodes "{name}" {{
    address = "{prefix}.{ip}"
    role    = "{role}"
    nameservers = ["{prefix}.1"]
    link {{
      name = "eth0"
      vlan {{
        vlan_id   = 111
        addresses = ["{prefix}.{ip}/24"]
        {vip}
        route {{
          gateway = "{prefix}.1"
        }}
      }}
      vlan {{
        vlan_id   = 208
        addresses = ["192.168.208.{ip}/24"]
      }}
    }}
  }}"#
    )
}

fn cluster(prefix: &str, cps: usize, workers: usize, extra: &str) -> String {
    let mut nodes = String::new();
    for i in 0..cps {
        nodes.push_str(&node(prefix, &format!("cp{}", i + 1), 11 + i as u8, true));
    }
    for i in 0..workers {
        nodes.push_str(&node(
            prefix,
            &format!("w{}", i + 1),
            11 + (3 + i) as u8,
            false,
        ));
    }
    format!(
        r#"
resource "vixens_talos_cluster" "c" {{
  cluster_name  = "vixens"
  endpoint      = "https://{prefix}.100:6443"
  talos_version = "1.12"
  {extra}
  {nodes}
  timeouts {{
    create = "60s"
    update = "60s"
    delete = "60s"
  }}
}}

output "members" {{
  value = vixens_talos_cluster.c.etcd_members
}}
"#
    )
}

fn etcd_members(ws: &Workspace) -> Vec<String> {
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    values["etcd_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn one_control_plane_then_three_then_worker_then_destroy() {
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    let prefix = "127.0.111";
    let _emulator = EmulatorProcess::start(prefix, &["cp1", "cp2", "cp3", "w1"], 0);
    let ws = Workspace::new(&tf, &cluster(prefix, 1, 0, ""));
    ws.init();
    ws.ok(&["validate"]);

    // 1. One control plane, then an empty plan.
    let started = std::time::Instant::now();
    ws.apply();
    eprintln!("create with 1 control plane: {:?}", started.elapsed());
    assert_eq!(ws.plan_exit_code(), 0, "plan after create must be empty");
    assert_eq!(etcd_members(&ws), ["cp1"]);
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    let secrets = values["machine_secrets"].as_str().unwrap().to_string();
    assert!(secrets.contains("trustdinfo:"));
    assert!(values["kubeconfig"]
        .as_str()
        .unwrap()
        .contains(&format!("https://{prefix}.100:6443")));
    assert_eq!(values["node_status"]["cp1"]["stage"], "running");

    // 2. Scale to three control planes; the secrets stay; the plan is empty again.
    ws.write_config(&cluster(prefix, 3, 0, ""));
    ws.apply();
    assert_eq!(etcd_members(&ws), ["cp1", "cp2", "cp3"]);
    assert_eq!(ws.plan_exit_code(), 0, "plan after scale-up must be empty");
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    assert_eq!(
        values["machine_secrets"].as_str().unwrap(),
        secrets,
        "secrets are never re-minted"
    );

    // 3. Two control planes are refused at plan time, with the attribute named.
    ws.write_config(&cluster(prefix, 2, 0, ""));
    let refused = ws.fails(&["plan", "-input=false"]);
    assert!(refused.all().contains("odd number"), "{}", refused.all());

    // 4. Add, then remove, a worker.
    ws.write_config(&cluster(prefix, 3, 1, ""));
    ws.apply();
    assert_eq!(ws.plan_exit_code(), 0);
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    assert_eq!(values["node_status"]["w1"]["stage"], "running");
    ws.write_config(&cluster(prefix, 3, 0, ""));
    ws.apply();
    assert_eq!(ws.plan_exit_code(), 0);
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    assert!(values["node_status"].get("w1").is_none());

    // 6. Destroy resets every node: they are back in maintenance mode and take a fresh config again.
    ws.destroy();
    let again = Workspace::new(&tf, &cluster(prefix, 1, 0, ""));
    again.init();
    again.apply();
    assert_eq!(etcd_members(&again), ["cp1"]);
    again.destroy();
}

#[test]
fn plan_time_validation_names_attributes() {
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    let prefix = "127.0.112";
    let bad = cluster(
        prefix,
        1,
        0,
        "kubernetes_version = \"1.20.0\"\n  config_patches = [\"machine: [\"]",
    )
    .replace("vlan_id   = 208", "vlan_id   = 5000");
    let ws = Workspace::new(&tf, &bad);
    ws.init();
    let out = ws.fails(&["plan", "-input=false"]);
    let all = out.all();
    for needle in [
        "Unsupported Kubernetes version",
        "Invalid config patch",
        "Invalid VLAN id",
    ] {
        assert!(all.contains(needle), "{needle} missing:\n{all}");
    }
}

/// POSTs a JSON body to the emulator's control endpoint (plain HTTP/1.1 on loopback).
fn control_post(addr: &str, path: &str, body: &str) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

#[test]
fn faults_converge_without_losing_state_and_upgrades_roll() {
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    let prefix = "127.0.113";
    let control = "127.0.113.250:17070";
    // cp1's first Bootstrap fails (transient), cp3 is powered off when the apply starts.
    let faults = "faults:\n  nodes:\n    cp1: {fail_next: {Bootstrap: unavailable}}\n    cp3: {down: true}\n";
    let _emulator =
        EmulatorProcess::start_with(prefix, &["cp1", "cp2", "cp3"], 0, faults, Some(control));
    let ws = Workspace::new(&tf, &cluster(prefix, 3, 0, ""));
    ws.init();
    std::thread::scope(|scope| {
        let apply = scope.spawn(|| ws.apply());
        std::thread::sleep(std::time::Duration::from_secs(3));
        control_post(control, "/faults/nodes/cp3", r#"{"down": false}"#);
        apply.join().unwrap();
    });
    assert_eq!(etcd_members(&ws), ["cp1", "cp2", "cp3"]);
    assert_eq!(ws.plan_exit_code(), 0);
    let secrets = ws.resource("vixens_talos_cluster.c").unwrap()["machine_secrets"].clone();

    // A changed config that cp1 rejects once: the update fails, the state keeps everything, a re-apply converges.
    let patched = cluster(
        prefix,
        3,
        0,
        "config_patches = [\"machine:\\n  sysctls:\\n    vm.max_map_count: \\\"262144\\\"\\n\"]",
    );
    ws.write_config(&patched);
    control_post(
        control,
        "/faults/nodes/cp1",
        r#"{"fail_next": {"ApplyConfiguration": "invalid_argument"}}"#,
    );
    let failed = ws.fails(&["apply", "-auto-approve", "-input=false"]);
    assert!(
        failed.all().contains("refused the changed config"),
        "{}",
        failed.all()
    );
    assert_eq!(
        ws.resource("vixens_talos_cluster.c").unwrap()["machine_secrets"],
        secrets
    );
    ws.apply();
    assert_eq!(ws.plan_exit_code(), 0);

    // A Talos version bump rolls through the nodes, control planes one at a time.
    let upgraded = patched.replace(
        "talos_version = \"1.12\"",
        "talos_version = \"1.12\"\n  install_image = \"ghcr.io/siderolabs/installer:v1.12.1\"",
    );
    ws.write_config(&upgraded);
    ws.apply();
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    for node in ["cp1", "cp2", "cp3"] {
        assert_eq!(
            values["node_status"][node]["talos_version"], "v1.12.1",
            "{node}"
        );
    }
    assert_eq!(etcd_members(&ws), ["cp1", "cp2", "cp3"]);
    assert_eq!(ws.plan_exit_code(), 0);
    assert_eq!(values["machine_secrets"], secrets);

    // Import adopts the running cluster from its secrets.yaml without re-applying it.
    let secrets_file = ws.path().join("secrets.yaml");
    std::fs::write(&secrets_file, secrets.as_str().unwrap()).unwrap();
    let adopt = Workspace::new(&tf, &upgraded);
    adopt.init();
    adopt.import("vixens_talos_cluster.c", secrets_file.to_str().unwrap());
    adopt.apply();
    assert_eq!(etcd_members(&adopt), ["cp1", "cp2", "cp3"]);
    assert_eq!(
        adopt.resource("vixens_talos_cluster.c").unwrap()["machine_secrets"],
        secrets
    );
    assert_eq!(adopt.plan_exit_code(), 0);
    ws.destroy();
}
