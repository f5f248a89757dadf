//! The data sources and the ephemeral resource through real Terraform CLIs against the `vixens-emulator` binary on
//! loopback addresses (127.0.219.11 for the hardware, 127.0.219.21 and the VIP 127.0.219.100 for a cluster):
//! - `vixens_talos_disks` and `vixens_talos_links` read an emulated node in maintenance mode with Terraform 1.0.3
//!   (protocol 6), 0.15 (protocol 5) and the `terraform` on PATH: the node's disks and links as the emulator
//!   serves them, an `install_disk` chosen from them, and a wrong certificate pin refused;
//! - with Terraform >= 1.11 on PATH (skipped with a message otherwise): an ephemeral
//!   `vixens_talos_client_config` minted from a `vixens_talos_cluster`'s secrets configures a second `vixens`
//!   provider block, whose `vixens_cluster_health` reads the etcd members and Nodes (NotReady without a CNI, Ready
//!   once `vixens_cilium` runs, as a `check` block sees), while neither the plan nor the state holds the
//!   ephemeral resource; without the ephemeral credentials the provider block has nothing to read with.

mod common;

use common::emulator::EmulatorProcess;
use common::{Terraform, Workspace};
use serde_json::Value;

const HARDWARE_NODE: &str = "127.0.219.11";

fn hardware_topology() -> String {
    format!(
        "nodes:\n- name: n1\n  address: {HARDWARE_NODE}\n  disks: [{{path: /dev/sda, size: 2TiB}}, \
         {{path: /dev/nvme0n1, size: 512GiB}}]\n  links: [enp3s0, enp4s0]\n\
         timings: {{install_delay: 0ms, reboot_delay: 0ms, workload_delay: 0ms}}\n"
    )
}

fn hardware_config(pin: &str) -> String {
    format!(
        r#"
data "vixens_talos_disks" "n1" {{
  node = "{HARDWARE_NODE}"
  {pin}
}}

data "vixens_talos_links" "n1" {{
  node = "{HARDWARE_NODE}"
}}

output "disks" {{
  value = data.vixens_talos_disks.n1.disks
}}

output "links" {{
  value = data.vixens_talos_links.n1.links
}}

output "install_disk" {{
  value = [for d in data.vixens_talos_disks.n1.disks : d.dev_path if !d.rotational && !d.cdrom][0]
}}
"#
    )
}

fn outputs(ws: &Workspace) -> Value {
    let out = ws.ok(&["output", "-json"]);
    let all: Value = serde_json::from_str(&out.stdout).unwrap();
    let mut values = serde_json::Map::new();
    for (k, v) in all.as_object().unwrap() {
        values.insert(k.clone(), v["value"].clone());
    }
    Value::Object(values)
}

#[test]
fn hardware_data_sources_read_a_maintenance_mode_node() {
    let _emulator = EmulatorProcess::start(&hardware_topology(), None);
    for tf in Terraform::all() {
        let ws = Workspace::new(&tf, &hardware_config(""));
        ws.init();
        ws.apply();
        let out = outputs(&ws);
        let disks = out["disks"].as_array().unwrap();
        let ids: Vec<&str> = disks.iter().map(|d| d["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["nvme0n1", "sda"], "terraform {}", tf.version);
        let nvme = &disks[0];
        assert_eq!(nvme["dev_path"], "/dev/nvme0n1");
        assert_eq!(nvme["size"].as_f64(), Some((512u64 << 30) as f64));
        assert_eq!(nvme["pretty_size"], "550 GB");
        assert_eq!(nvme["transport"], "nvme");
        assert_eq!(nvme["rotational"], false);
        assert_eq!(disks[1]["transport"], "sata");
        assert_eq!(disks[1]["rotational"], true);
        assert!(!disks[1]["model"].as_str().unwrap().is_empty());
        assert!(!disks[1]["serial"].as_str().unwrap().is_empty());
        assert_eq!(out["install_disk"], "/dev/nvme0n1");

        let links = out["links"].as_array().unwrap();
        let names: Vec<&str> = links.iter().map(|l| l["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            ["enp3s0", "enp4s0", "lo"],
            "terraform {}",
            tf.version
        );
        for l in &links[..2] {
            assert_eq!(l["type"], "ether");
            assert_eq!(l["operational_state"], "up");
            assert_eq!(l["link_state"], true);
            let mac = l["hardware_addr"].as_str().unwrap();
            assert_eq!(mac.len(), 17, "{mac}");
            assert_eq!(mac.matches(':').count(), 5, "{mac}");
        }
        assert_ne!(links[0]["hardware_addr"], links[1]["hardware_addr"]);
        assert_eq!(links[2]["type"], "loopback");
        assert_eq!(ws.plan_exit_code(), 0, "terraform {}", tf.version);
    }

    // A certificate pin that does not match fails the read, pointing at the node.
    let tf = Terraform::cached("1.0.3");
    let pin = format!("cert_fingerprint = \"{}\"", "A".repeat(43) + "=");
    let ws = Workspace::new(&tf, &hardware_config(&pin));
    ws.init();
    let out = ws.fails(&["plan", "-input=false"]);
    assert!(
        out.all().contains("Cannot read the node's disks"),
        "{}",
        out.all()
    );
    assert!(out.all().contains("fingerprint"), "{}", out.all());
}

const CLUSTER_PREFIX: &str = "127.0.219";

fn cluster_topology() -> String {
    format!(
        "nodes:\n- {{name: cp1, address: {CLUSTER_PREFIX}.21}}\n\
         timings: {{install_delay: 0ms, reboot_delay: 0ms, workload_delay: 0ms, upgrade_delay: 0ms}}\n"
    )
}

/// A one-node cluster, the ephemeral client config, a second provider block fed by it, the health data source
/// read through that block, and `extra` (e.g. Cilium).
fn cluster_config(extra: &str, provider_settings: &str) -> String {
    let p = CLUSTER_PREFIX;
    format!(
        r#"
resource "vixens_talos_cluster" "c" {{
  cluster_name  = "vixens"
  endpoint      = "https://{p}.100:6443"
  talos_version = "1.12"
  allow_scheduling_on_control_planes = true

  nodes {{
    name    = "cp1"
    address = "{p}.21"
    role    = "controlplane"
    nameservers = ["{p}.1"]
    link {{
      name = "eth0"
      vlan {{
        vlan_id   = 111
        addresses = ["{p}.21/24"]
        vip       = "{p}.100"
        route {{
          gateway = "{p}.1"
        }}
      }}
    }}
  }}

  timeouts {{
    create = "60s"
    update = "60s"
    delete = "60s"
  }}
}}

ephemeral "vixens_talos_client_config" "admin" {{
  machine_secrets = vixens_talos_cluster.c.machine_secrets
  cluster_name    = "vixens"
  endpoint        = vixens_talos_cluster.c.endpoint
  talos_endpoints = ["{p}.21"]
  validity        = "10m"
}}

provider "vixens" {{
  alias = "cluster"
  {provider_settings}
}}

data "vixens_cluster_health" "c" {{
  provider   = vixens.cluster
  depends_on = [vixens_talos_cluster.c]
}}

check "cluster_healthy" {{
  assert {{
    condition     = data.vixens_cluster_health.c.healthy
    error_message = "cluster not healthy"
  }}
}}

output "health" {{
  value = {{
    for k in ["etcd_members", "etcd_learners", "nodes", "ready_nodes", "kubernetes_version", "healthy"] :
    k => data.vixens_cluster_health.c[k]
  }}
}}

{extra}
"#
    )
}

const EPHEMERAL_SETTINGS: &str = r#"talosconfig = ephemeral.vixens_talos_client_config.admin.talosconfig
  kubeconfig  = ephemeral.vixens_talos_client_config.admin.kubeconfig"#;

const CILIUM: &str = r#"
resource "vixens_cilium" "c" {
  kubeconfig   = vixens_talos_cluster.c.kubeconfig
  cluster_name = "vixens"
}
"#;

/// Fails when the saved plan or the state mention the ephemeral resource anywhere but the configuration.
fn assert_not_stored(ws: &Workspace, plan_file: &str) {
    let plan: Value = serde_json::from_str(&ws.ok(&["show", "-json", plan_file]).stdout).unwrap();
    for key in ["planned_values", "resource_changes", "prior_state"] {
        let text = plan[key].to_string();
        assert!(
            !text.contains("vixens_talos_client_config"),
            "{key} of the plan: {text}"
        );
    }
    let state = std::fs::read_to_string(ws.path().join("terraform.tfstate")).unwrap_or_default();
    assert!(
        !state.contains("vixens_talos_client_config"),
        "the state holds the ephemeral resource"
    );
    assert!(
        !state.contains("\"ephemeral\""),
        "the state holds an ephemeral resource"
    );
}

#[test]
fn ephemeral_client_config_feeds_a_provider_block() {
    let Some(tf) = Terraform::from_path_at_least(1, 11, "the ephemeral client config") else {
        return;
    };
    let _emulator = EmulatorProcess::start(&cluster_topology(), None);
    let ws = Workspace::new(&tf, &cluster_config("", EPHEMERAL_SETTINGS));
    ws.init();
    ws.ok(&["plan", "-input=false", "-out=create.tfplan"]);
    assert_not_stored(&ws, "create.tfplan");
    let applied = ws.ok(&["apply", "-input=false", "create.tfplan"]);
    // No CNI yet: the Node is NotReady, and the check says so as a warning.
    assert!(
        applied.all().contains("cluster not healthy"),
        "{}",
        applied.all()
    );
    let health = &outputs(&ws)["health"];
    assert_eq!(health["etcd_members"], serde_json::json!(["cp1"]));
    assert_eq!(health["etcd_learners"], serde_json::json!([]));
    assert_eq!(health["nodes"][0]["name"], "cp1");
    assert_eq!(health["nodes"][0]["ready"], false);
    assert_eq!(health["nodes"][0]["control_plane"], true);
    assert_eq!(health["ready_nodes"].as_f64(), Some(0.0));
    assert!(
        health["kubernetes_version"]
            .as_str()
            .unwrap()
            .starts_with("v1."),
        "{health}"
    );
    assert_eq!(health["healthy"], false);

    // With Cilium the Node turns Ready and the check passes.
    ws.write_config(&cluster_config(CILIUM, EPHEMERAL_SETTINGS));
    ws.ok(&["plan", "-input=false", "-out=cilium.tfplan"]);
    assert_not_stored(&ws, "cilium.tfplan");
    let applied = ws.ok(&["apply", "-input=false", "cilium.tfplan"]);
    // The health read at plan saw the Node before Cilium: read again.
    ws.ok(&["apply", "-input=false", "-auto-approve", "-refresh-only"]);
    let health = &outputs(&ws)["health"];
    assert_eq!(health["healthy"], true, "{}\n{health}", applied.all());
    assert_eq!(health["ready_nodes"].as_f64(), Some(1.0));
    let plan = ws.run(&["plan", "-input=false", "-detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        !plan.all().contains("cluster not healthy"),
        "{}",
        plan.all()
    );
    assert_not_stored(&ws, "cilium.tfplan");

    // The provider block without the ephemeral credentials has nothing to read with.
    ws.write_config(&cluster_config(CILIUM, ""));
    let out = ws.fails(&["plan", "-input=false"]);
    assert!(out.all().contains("No talosconfig"), "{}", out.all());
    ws.write_config(&cluster_config(CILIUM, EPHEMERAL_SETTINGS));
    ws.destroy();
}
