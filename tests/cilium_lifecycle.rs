//! `vixens_cilium` through the real Terraform CLI against the Kubernetes API emulator (loopback only, zero
//! workload delays): after apply every Node is Ready, a LoadBalancer Service asking for 192.168.208.70 gets it,
//! the next plan is empty, toggling `hubble.ui` changes only the UI objects, drift is repaired, removing a pool
//! deletes it, and destroy leaves nothing owned behind.

mod cilium_emu;
mod common;

use std::time::{Duration, Instant};

use cilium_emu::{start_emulator_at, Emu};
use common::{Terraform, Workspace};
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::Client;
use serde_json::{json, Value};

const API_IP: &str = "127.0.113.17";

fn start_emulator() -> Emu {
    start_emulator_at(API_IP)
}

fn config(ui: bool, pools: &[(&str, &str, &str)]) -> String {
    let pools: String = pools
        .iter()
        .map(|(name, start, stop)| {
            format!(
                "  load_balancer_ip_pools {{\n    name = \"{name}\"\n    blocks {{\n      start = \"{start}\"\n      stop  = \"{stop}\"\n    }}\n  }}\n"
            )
        })
        .collect();
    format!(
        r#"
resource "vixens_cilium" "cni" {{
  kubeconfig   = file("${{path.module}}/kubeconfig")
  version      = "1.17.0"
  cluster_name = "dev"
  hubble {{
    enabled = true
    relay   = true
    ui      = {ui}
  }}
  l2_announcements {{
    enabled    = true
    interfaces = ["^eth[0-9]+"]
  }}
{pools}  l2_policy {{
    name              = "services-vlan"
    load_balancer_ips = true
  }}
}}
"#
    )
}

fn inventory(ws: &Workspace) -> Vec<Value> {
    let r = ws
        .resource("vixens_cilium.cni")
        .expect("vixens_cilium.cni in state");
    serde_json::from_str(r["inventory"].as_str().unwrap()).unwrap()
}

fn plural(kind: &str) -> String {
    match kind {
        "CiliumLoadBalancerIPPool" => "ciliumloadbalancerippools".into(),
        "CiliumL2AnnouncementPolicy" => "ciliuml2announcementpolicies".into(),
        k => format!("{}s", k.to_lowercase()),
    }
}

fn exists(emu: &Emu, r: &Value) -> bool {
    let kind = r["kind"].as_str().unwrap();
    emu.get(
        r["apiVersion"].as_str().unwrap(),
        kind,
        &plural(kind),
        r["namespace"].as_str(),
        r["name"].as_str().unwrap(),
    )
    .is_some()
}

fn rv(emu: &Emu, r: &Value) -> String {
    let kind = r["kind"].as_str().unwrap();
    let o = emu
        .get(
            r["apiVersion"].as_str().unwrap(),
            kind,
            &plural(kind),
            r["namespace"].as_str(),
            r["name"].as_str().unwrap(),
        )
        .unwrap();
    o["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string()
}

fn assert_plan_empty(ws: &Workspace) {
    let out = ws.run(&["plan", "-detailed-exitcode", "-input=false"]);
    if out.code != 0 {
        ws.ok(&["refresh", "-input=false"]);
        let drift = ws.resource("vixens_cilium.cni").map(|r| r["drift"].clone());
        panic!("plan is not empty (drift now: {drift:?}):\n{}", out.all());
    }
}

#[test]
fn cilium_lifecycle_against_the_emulator() {
    let emu = start_emulator();
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    let pools = [
        ("assigned", "192.168.208.70", "192.168.208.79"),
        ("auto", "192.168.208.80", "192.168.208.89"),
    ];
    let ws = Workspace::new(&tf, &config(true, &pools));
    std::fs::write(ws.path().join("kubeconfig"), &emu.kubeconfig).unwrap();
    ws.init();
    let started = Instant::now();
    ws.apply();
    eprintln!("terraform apply (create) took {:?}", started.elapsed());

    // Every node Ready, the agent rolled out, 34 chart objects + 2 pools + the policy owned.
    let nodes = emu.nodes_ready();
    assert_eq!(nodes.len(), 2);
    assert!(nodes.iter().all(|(_, ready)| *ready), "{nodes:?}");
    let owned = inventory(&ws);
    assert_eq!(owned.len(), 37);
    assert!(owned.iter().all(|r| exists(&emu, r)));
    let cm = emu
        .get(
            "v1",
            "ConfigMap",
            "configmaps",
            Some("kube-system"),
            "cilium-config",
        )
        .unwrap();
    assert_eq!(cm["data"]["kube-proxy-replacement"], "true");
    assert_eq!(cm["data"]["cluster-name"], "dev");
    let ds = emu
        .get(
            "apps/v1",
            "DaemonSet",
            "daemonsets",
            Some("kube-system"),
            "cilium",
        )
        .unwrap();
    assert_eq!(ds["metadata"]["managedFields"][0]["manager"], "vixens");

    // A LoadBalancer Service asking for 192.168.208.70 gets it (a Service field only: nothing connects to it).
    let client = emu.client();
    emu.rt.block_on(async {
        let api: Api<k8s_openapi::api::core::v1::Service> =
            Api::namespaced(client.clone(), "default");
        let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "annotations": {"lbipam.cilium.io/ips": "192.168.208.70"}},
            "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}
        }))
        .unwrap();
        api.create(&PostParams::default(), &svc).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = api.get("web").await.unwrap();
            let ip = s
                .status
                .and_then(|s| s.load_balancer)
                .and_then(|lb| lb.ingress)
                .and_then(|i| i.first().and_then(|i| i.ip.clone()));
            if ip.as_deref() == Some("192.168.208.70") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Service web got no 192.168.208.70 (has {ip:?})"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });

    // Nothing to do on the next plan.
    assert_plan_empty(&ws);

    // Drift: a deleted DaemonSet and an edited cilium-config show up in the plan and are repaired.
    emu.rt.block_on(async {
        let ds: Api<k8s_openapi::api::apps::v1::DaemonSet> =
            Api::namespaced(client.clone(), "kube-system");
        ds.delete("cilium-envoy", &DeleteParams::default())
            .await
            .unwrap();
    });
    assert_eq!(ws.plan_exit_code(), 2);
    ws.apply();
    assert!(emu
        .get(
            "apps/v1",
            "DaemonSet",
            "daemonsets",
            Some("kube-system"),
            "cilium-envoy"
        )
        .is_some());
    assert_plan_empty(&ws);

    // Turning hubble.ui off deletes exactly the UI objects and leaves every other object untouched.
    let before: Vec<(Value, String)> = owned.iter().map(|r| (r.clone(), rv(&emu, r))).collect();
    ws.write_config(&config(false, &pools));
    ws.apply();
    let after = inventory(&ws);
    let removed: Vec<&Value> = owned.iter().filter(|r| !after.contains(r)).collect();
    let names: Vec<&str> = removed
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(removed.len(), 6, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| *n == "hubble-ui" || *n == "hubble-ui-nginx"),
        "{names:?}"
    );
    assert!(removed.iter().all(|r| !exists(&emu, r)));
    for (r, old) in &before {
        if after.contains(r) && r["name"] != "cilium-envoy" {
            assert_eq!(&rv(&emu, r), old, "{r} changed");
        }
    }
    assert_plan_empty(&ws);

    // Removing a pool deletes its CiliumLoadBalancerIPPool.
    ws.write_config(&config(false, &pools[..1]));
    ws.apply();
    assert!(emu
        .get(
            "cilium.io/v2alpha1",
            "CiliumLoadBalancerIPPool",
            "ciliumloadbalancerippools",
            None,
            "auto"
        )
        .is_none());
    assert!(emu
        .get(
            "cilium.io/v2alpha1",
            "CiliumLoadBalancerIPPool",
            "ciliumloadbalancerippools",
            None,
            "assigned"
        )
        .is_some());
    assert_plan_empty(&ws);

    // Destroy leaves nothing owned behind.
    let last = inventory(&ws);
    ws.destroy();
    let left: Vec<&Value> = last.iter().filter(|r| exists(&emu, r)).collect();
    assert!(left.is_empty(), "still present after destroy: {left:?}");
}

fn pool_blocks(emu: &Emu, name: &str) -> Option<Value> {
    emu.get(
        "cilium.io/v2alpha1",
        "CiliumLoadBalancerIPPool",
        "ciliumloadbalancerippools",
        None,
        name,
    )
    .map(|p| p["spec"]["blocks"].clone())
}

/// `lb_ipam_hand_off`: the pools and the L2 policy are created with the install, then belong to GitOps: an edit by
/// another field manager (Argo CD syncing the `cilium-lb` app) is not drift, a change of the pools in Terraform is
/// still applied, and destroy leaves them while deleting everything else.
#[test]
fn lb_ipam_handed_off_to_gitops() {
    let emu = start_emulator_at("127.0.113.18");
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    let handed_off = |pools: &[(&str, &str, &str)]| {
        config(false, pools).replace(
            "  cluster_name = \"dev\"\n",
            "  cluster_name = \"dev\"\n  lb_ipam_hand_off = true\n",
        )
    };
    let pools = [
        ("assigned", "192.168.208.70", "192.168.208.79"),
        ("auto", "192.168.208.80", "192.168.208.89"),
    ];
    let ws = Workspace::new(&tf, &handed_off(&pools));
    std::fs::write(ws.path().join("kubeconfig"), &emu.kubeconfig).unwrap();
    ws.init();
    ws.apply();
    assert_eq!(
        pool_blocks(&emu, "auto"),
        Some(json!([{"start": "192.168.208.80", "stop": "192.168.208.89"}]))
    );
    assert_plan_empty(&ws);

    // Argo CD (its own field manager, server-side apply forcing conflicts) widens pool "auto" from Git: no drift.
    let client = emu.client();
    emu.rt.block_on(async {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("cilium.io", "v2alpha1", "CiliumLoadBalancerIPPool"),
            "ciliumloadbalancerippools",
        );
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let patch = json!({
            "apiVersion": "cilium.io/v2alpha1", "kind": "CiliumLoadBalancerIPPool",
            "metadata": {"name": "auto"},
            "spec": {"blocks": [{"start": "192.168.208.80", "stop": "192.168.208.99"}]}
        });
        api.patch(
            "auto",
            &kube::api::PatchParams::apply("argocd-controller").force(),
            &kube::api::Patch::Apply(&patch),
        )
        .await
        .unwrap();
    });
    assert_plan_empty(&ws);
    assert_eq!(
        pool_blocks(&emu, "auto"),
        Some(json!([{"start": "192.168.208.80", "stop": "192.168.208.99"}])),
        "a plan or refresh must not touch a handed-off pool"
    );

    // An update that leaves the pools alone does not re-apply them (Hubble UI on).
    ws.write_config(&handed_off(&pools).replace("ui      = false", "ui      = true"));
    ws.apply();
    assert_eq!(
        pool_blocks(&emu, "auto"),
        Some(json!([{"start": "192.168.208.80", "stop": "192.168.208.99"}]))
    );
    assert_plan_empty(&ws);

    // A change of the pools in Terraform is a deliberate change: applied.
    let narrowed = [
        ("assigned", "192.168.208.70", "192.168.208.75"),
        ("auto", "192.168.208.80", "192.168.208.89"),
    ];
    ws.write_config(&handed_off(&narrowed).replace("ui      = false", "ui      = true"));
    ws.apply();
    assert_eq!(
        pool_blocks(&emu, "assigned"),
        Some(json!([{"start": "192.168.208.70", "stop": "192.168.208.75"}]))
    );
    assert_plan_empty(&ws);

    // Destroy deletes the install and leaves the pools and the policy to GitOps.
    let last = inventory(&ws);
    ws.destroy();
    let (kept, gone): (Vec<&Value>, Vec<&Value>) = last.iter().partition(|r| exists(&emu, r));
    let mut kept: Vec<&str> = kept.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    kept.sort();
    assert_eq!(
        kept,
        [
            "CiliumL2AnnouncementPolicy",
            "CiliumLoadBalancerIPPool",
            "CiliumLoadBalancerIPPool"
        ],
        "only the LB IPAM objects stay"
    );
    assert_eq!(gone.len(), last.len() - 3);
}

// ---------------------------------------------------------------------------------------------------------------
// `vixens_talos_cluster` and `vixens_cilium` together, through Terraform, against the `vixens-emulator` binary.
// ---------------------------------------------------------------------------------------------------------------

/// Loopback prefix of the composed test: nodes `.11` (control plane) and `.12` (worker), VIP `.100`.
const PREFIX: &str = "127.0.123";

/// A running `vixens-emulator` process (Talos API on every node, the Kubernetes API after bootstrap), killed on
/// drop.
struct EmulatorProcess {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl EmulatorProcess {
    fn start(nodes: &[&str]) -> EmulatorProcess {
        use std::io::{BufRead, BufReader};
        let dir = tempfile::tempdir().unwrap();
        let mut topology = String::from("nodes:\n");
        for (i, name) in nodes.iter().enumerate() {
            topology.push_str(&format!(
                "- {{name: {name}, address: {PREFIX}.{}}}\n",
                11 + i
            ));
        }
        topology.push_str(
            "timings: {install_delay: 0ms, reboot_delay: 0ms, workload_delay: 0ms, upgrade_delay: 0ms}\n",
        );
        let path = dir.path().join("topology.yaml");
        std::fs::write(&path, topology).unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vixens-emulator"))
            .arg("--topology")
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
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

/// A node block: VLAN 111 on loopback (the control plane carries the VIP), VLAN 208 only rendered.
fn talos_node(name: &str, ip: u8, controlplane: bool) -> String {
    let role = if controlplane {
        "controlplane"
    } else {
        "worker"
    };
    let vip = if controlplane {
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
      vlan {{
        vlan_id   = 208
        addresses = ["192.168.208.{ip}/24"]
      }}
    }}
  }}"#
    )
}

/// The dev environment's shape: a Talos cluster (one control plane, one worker) and Cilium connected through a
/// `kubernetes {}` block fed from the cluster's outputs (unknown at plan time on the first apply). Pool
/// "assigned" serves only Services labelled `lb.vixens.io/pool = assigned`; "auto" serves every Service.
fn composed_config(ui: bool, pools: &[&str]) -> String {
    let pool = |name: &str| match name {
        "assigned" => {
            r#"
  load_balancer_ip_pools {
    name             = "assigned"
    service_selector = { "lb.vixens.io/pool" = "assigned" }
    blocks {
      start = "192.168.208.70"
      stop  = "192.168.208.79"
    }
  }"#
        }
        "auto" => {
            r#"
  load_balancer_ip_pools {
    name = "auto"
    blocks {
      start = "192.168.208.80"
      stop  = "192.168.208.89"
    }
  }"#
        }
        other => panic!("no pool {other}"),
    };
    let pools: String = pools.iter().map(|p| pool(p)).collect();
    format!(
        r#"
resource "vixens_talos_cluster" "c" {{
  cluster_name  = "vixens-dev"
  endpoint      = "https://{PREFIX}.100:6443"
  talos_version = "1.12"
  {cp}
  {worker}
  timeouts {{
    create = "60s"
    update = "60s"
    delete = "60s"
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
  cluster_name = "vixens-dev"
  hubble {{
    enabled = true
    relay   = true
    ui      = {ui}
  }}
  l2_announcements {{
    enabled    = true
    interfaces = ["^eth0\\.208$"]
  }}
{pools}
  l2_policy {{
    name              = "services"
    load_balancer_ips = true
  }}
  timeouts {{
    create = "60s"
    update = "60s"
    delete = "60s"
  }}
}}
"#,
        cp = talos_node("cp1", 11, true),
        worker = talos_node("w1", 12, false),
    )
}

/// `apiVersion kind namespace/name` of a live object.
fn object_key(api_version: &str, kind: &str, o: &DynamicObject) -> String {
    format!(
        "{api_version} {kind} {}/{}",
        o.metadata.namespace.as_deref().unwrap_or(""),
        o.metadata.name.as_deref().unwrap_or("")
    )
}

/// Every object the API server lists (all discovered resource types), by [`object_key`]: resourceVersion and
/// the field managers.
fn snapshot(
    rt: &tokio::runtime::Runtime,
    client: &Client,
) -> std::collections::BTreeMap<String, (String, Vec<String>)> {
    use kube::discovery::{verbs, Discovery};
    rt.block_on(async {
        let discovery = Discovery::new(client.clone()).run().await.unwrap();
        let mut out = std::collections::BTreeMap::new();
        for group in discovery.groups() {
            for (ar, caps) in group.recommended_resources() {
                if !caps.supports_operation(verbs::LIST) || ar.plural.contains('/') {
                    continue;
                }
                let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
                for o in api.list(&Default::default()).await.unwrap().items {
                    let managers = o
                        .metadata
                        .managed_fields
                        .iter()
                        .flatten()
                        .filter_map(|m| m.manager.clone())
                        .collect();
                    out.insert(
                        object_key(&ar.api_version, &ar.kind, &o),
                        (
                            o.metadata.resource_version.clone().unwrap_or_default(),
                            managers,
                        ),
                    );
                }
            }
        }
        out
    })
}

/// The objects whose name starts with `hubble-ui` in a [`snapshot`] key.
fn is_hubble_ui(key: &str) -> bool {
    key.rsplit('/')
        .next()
        .is_some_and(|n| n.starts_with("hubble-ui"))
}

/// `terraform plan -out` then `terraform show -json` of that plan.
fn plan_json(ws: &Workspace) -> Value {
    ws.ok(&["plan", "-input=false", "-out=tfplan"]);
    let out = ws.ok(&["show", "-json", "tfplan"]);
    serde_json::from_str(&out.stdout).unwrap()
}

/// The `resource_changes[]` entry of `address` in a JSON plan.
fn change_of<'a>(plan: &'a Value, address: &str) -> &'a Value {
    plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == address)
        .unwrap_or_else(|| panic!("{address} not in the plan"))
}

/// The inventory (as `Kind namespace/name` strings) held in a plan's `before` or `after`.
fn inventory_names(values: &Value) -> std::collections::BTreeSet<String> {
    let list: Vec<Value> = serde_json::from_str(values["inventory"].as_str().unwrap()).unwrap();
    list.iter()
        .map(|r| {
            format!(
                "{} {}/{}",
                r["kind"].as_str().unwrap(),
                r["namespace"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap()
            )
        })
        .collect()
}

/// Top-level attributes whose planned value differs from the prior one.
fn changed_attributes(change: &Value) -> Vec<String> {
    let (before, after) = (&change["change"]["before"], &change["change"]["after"]);
    let mut keys: Vec<String> = before
        .as_object()
        .unwrap()
        .keys()
        .chain(after.as_object().unwrap().keys())
        .filter(|k| {
            before.get(*k) != after.get(*k) || change["change"]["after_unknown"][*k] == true
        })
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Waits (at most 10 s) until `check` holds for the cluster snapshot.
fn wait_snapshot(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    what: &str,
    check: impl Fn(&std::collections::BTreeMap<String, (String, Vec<String>)>) -> bool,
) -> std::collections::BTreeMap<String, (String, Vec<String>)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let snap = snapshot(rt, client);
        if check(&snap) {
            return snap;
        }
        assert!(Instant::now() < deadline, "{what}: {snap:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until Service `default/<name>` has `ip` as its LoadBalancer ingress (or none when `ip` is `None`).
fn wait_lb_ip(rt: &tokio::runtime::Runtime, client: &Client, name: &str, ip: Option<&str>) {
    rt.block_on(async {
        let api: Api<k8s_openapi::api::core::v1::Service> =
            Api::namespaced(client.clone(), "default");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = api.get(name).await.unwrap();
            let got = s
                .status
                .and_then(|s| s.load_balancer)
                .and_then(|lb| lb.ingress)
                .and_then(|i| i.first().and_then(|i| i.ip.clone()));
            if got.as_deref() == ip {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Service {name}: LoadBalancer IP {got:?}, expected {ip:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

#[test]
fn cilium_on_a_talos_cluster_through_terraform() {
    let _emulator = EmulatorProcess::start(&["cp1", "w1"]);
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let both = ["assigned", "auto"];
    let ws = Workspace::new(&tf, &composed_config(true, &both));
    ws.init();

    // The first plan is clean although the connection is unknown until the cluster exists; the inventory is
    // already known (it follows from the settings).
    let plan = plan_json(&ws);
    let cni = change_of(&plan, "vixens_cilium.cni");
    assert_eq!(cni["change"]["actions"], json!(["create"]));
    let unknown = &cni["change"]["after_unknown"]["kubernetes"];
    let host_unknown = unknown
        .pointer("/host")
        .or_else(|| unknown.pointer("/0/host"));
    assert_eq!(host_unknown, Some(&json!(true)), "{unknown}");
    let planned_inventory = inventory_names(&cni["change"]["after"]);
    assert_eq!(planned_inventory.len(), 37);
    assert!(planned_inventory.contains("CiliumLoadBalancerIPPool /assigned"));

    let started = Instant::now();
    ws.ok(&["apply", "-input=false", "tfplan"]);
    eprintln!(
        "terraform apply (talos cluster + cilium) took {:?}",
        started.elapsed()
    );
    let cilium = ws.resource("vixens_cilium.cni").unwrap();
    assert_eq!(inventory_names(&cilium), planned_inventory);
    let kubeconfig = ws.resource("vixens_talos_cluster.c").unwrap()["kubeconfig"]
        .as_str()
        .unwrap()
        .to_string();
    let client = rt.block_on(async {
        let kc = Kubeconfig::from_yaml(&kubeconfig).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap();
        Client::try_from(cfg).unwrap()
    });

    // Every node Ready (they registered NotReady: CNI none, until the cilium DaemonSet rolled out).
    let nodes = rt.block_on(async {
        let api: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
        api.list(&Default::default()).await.unwrap().items
    });
    let ready: Vec<(String, bool)> = nodes
        .iter()
        .map(|n| {
            let ready = n
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            (n.metadata.name.clone().unwrap_or_default(), ready)
        })
        .collect();
    assert_eq!(ready.len(), 2, "{ready:?}");
    assert!(ready.iter().all(|(_, r)| *r), "{ready:?}");

    // A LoadBalancer Service asking for 192.168.208.70 gets it from "assigned" (only that pool selects it and
    // holds the address); a Service asking for nothing gets the first address of "auto".
    rt.block_on(async {
        let api: Api<k8s_openapi::api::core::v1::Service> =
            Api::namespaced(client.clone(), "default");
        for svc in [
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "traefik", "labels": {"lb.vixens.io/pool": "assigned"},
                             "annotations": {"lbipam.cilium.io/ips": "192.168.208.70"}},
                "spec": {"type": "LoadBalancer", "selector": {"app": "traefik"}, "ports": [{"port": 443}]}
            }),
            json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "other"},
                "spec": {"type": "LoadBalancer", "selector": {"app": "other"}, "ports": [{"port": 80}]}
            }),
        ] {
            let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(svc).unwrap();
            api.create(&PostParams::default(), &svc).await.unwrap();
        }
    });
    wait_lb_ip(&rt, &client, "traefik", Some("192.168.208.70"));
    wait_lb_ip(&rt, &client, "other", Some("192.168.208.80"));

    // The next plan is empty.
    assert_eq!(ws.plan_exit_code(), 0, "the plan after apply is empty");

    // Turning hubble.ui off: the plan changes only hubble.ui and the inventory (the UI objects leave it), the
    // cluster loses only the hubble-ui objects, and nothing else's resourceVersion moves.
    let before = snapshot(&rt, &client);
    assert!(before.keys().any(|k| is_hubble_ui(k)));
    ws.write_config(&composed_config(false, &both));
    let plan = plan_json(&ws);
    assert_eq!(
        change_of(&plan, "vixens_talos_cluster.c")["change"]["actions"],
        json!(["no-op"])
    );
    let cni = change_of(&plan, "vixens_cilium.cni");
    assert_eq!(cni["change"]["actions"], json!(["update"]));
    assert_eq!(changed_attributes(cni), ["hubble", "inventory"]);
    let (old, new) = (
        inventory_names(&cni["change"]["before"]),
        inventory_names(&cni["change"]["after"]),
    );
    assert!(new.is_subset(&old));
    let dropped: Vec<&String> = old.difference(&new).collect();
    assert_eq!(dropped.len(), 6, "{dropped:?}");
    assert!(dropped.iter().all(|k| is_hubble_ui(k)), "{dropped:?}");
    ws.ok(&["apply", "-input=false", "tfplan"]);
    let after = wait_snapshot(&rt, &client, "hubble-ui objects still present", |s| {
        !s.keys().any(|k| is_hubble_ui(k))
    });
    let gone: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    assert!(gone.iter().all(|k| is_hubble_ui(k)), "{gone:?}");
    assert!(gone.len() >= 6, "{gone:?}");
    let appeared: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert!(appeared.is_empty(), "{appeared:?}");
    let moved: Vec<&String> = after
        .keys()
        .filter(|k| after[*k].0 != before[*k].0)
        .collect();
    assert!(
        moved.is_empty(),
        "changed by turning hubble.ui off: {moved:?}"
    );
    eprintln!(
        "hubble.ui off: {} objects in the cluster, {} gone (all hubble-ui), none changed",
        before.len(),
        gone.len()
    );
    assert_eq!(ws.plan_exit_code(), 0);

    // And on again: exactly the hubble-ui objects come back.
    ws.write_config(&composed_config(true, &both));
    let plan = plan_json(&ws);
    let cni = change_of(&plan, "vixens_cilium.cni");
    assert_eq!(changed_attributes(cni), ["hubble", "inventory"]);
    ws.ok(&["apply", "-input=false", "tfplan"]);
    let back = snapshot(&rt, &client);
    let appeared: Vec<&String> = back.keys().filter(|k| !after.contains_key(*k)).collect();
    assert!(appeared.iter().all(|k| is_hubble_ui(k)), "{appeared:?}");
    assert!(appeared.len() >= 6, "{appeared:?}");
    assert!(after.keys().all(|k| back.contains_key(k)));
    let moved: Vec<&String> = after.keys().filter(|k| after[*k].0 != back[*k].0).collect();
    assert!(
        moved.is_empty(),
        "changed by turning hubble.ui on: {moved:?}"
    );
    assert_eq!(ws.plan_exit_code(), 0);

    // Removing the "auto" pool deletes its CR; the Service it served loses its address, "traefik" keeps its own.
    ws.write_config(&composed_config(true, &["assigned"]));
    ws.apply();
    let pools = rt.block_on(async {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("cilium.io", "v2alpha1", "CiliumLoadBalancerIPPool"),
            "ciliumloadbalancerippools",
        );
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        api.list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect::<Vec<_>>()
    });
    assert_eq!(pools, ["assigned"]);
    wait_lb_ip(&rt, &client, "other", None);
    wait_lb_ip(&rt, &client, "traefik", Some("192.168.208.70"));
    assert_eq!(ws.plan_exit_code(), 0);

    // Destroying Cilium leaves nothing it owned, and no object managed by `vixens`; then the cluster goes.
    let owned = inventory_names(&ws.resource("vixens_cilium.cni").unwrap());
    let with_cilium = snapshot(&rt, &client);
    ws.ok(&[
        "destroy",
        "-auto-approve",
        "-input=false",
        "-target=vixens_cilium.cni",
    ]);
    let is_owned = |k: &String| {
        let short = k.split_once(' ').map(|(_, rest)| rest).unwrap_or(k);
        owned.contains(short)
    };
    let left = wait_snapshot(&rt, &client, "owned objects left after destroy", |s| {
        !s.keys().any(is_owned)
    });
    let still: Vec<&String> = left.keys().filter(|k| is_owned(k)).collect();
    assert!(still.is_empty(), "owned objects left: {still:?}");
    let managed: Vec<&String> = left
        .iter()
        .filter(|(_, (_, managers))| managers.iter().any(|m| m == "vixens"))
        .map(|(k, _)| k)
        .collect();
    assert!(
        managed.is_empty(),
        "objects managed by vixens left: {managed:?}"
    );
    assert!(
        with_cilium.len() - left.len() >= owned.len(),
        "{} objects before, {} after, {} owned",
        with_cilium.len(),
        left.len(),
        owned.len()
    );
    ws.destroy();
    assert!(ws.resource("vixens_cilium.cni").is_none());
    assert!(ws.resource("vixens_talos_cluster.c").is_none());
}
