//! Scale-down through Terraform 1.0.3 against `vixens-emulator` (issue 16 item 7), on 127.0.226.0/24: a node
//! removed from `vixens_talos_cluster` is cordoned and drained through the Eviction API before its reset, so a
//! PodDisruptionBudget that allows no disruption stops the update (node cordoned, not reset, pods in place), and
//! once the budget allows it the pods are evicted, the node reset and its Node object deleted. Removed control
//! planes are drained the same way.

mod common;

use std::time::Duration;

use common::emulator::EmulatorProcess;
use common::poll::eventually;
use common::{Terraform, Workspace};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::json;

const PREFIX: &str = "127.0.226";

fn node(name: &str, ip: u8, cp: bool) -> String {
    let (role, vip) = if cp {
        ("controlplane", format!("vip = \"{PREFIX}.100\""))
    } else {
        ("worker", String::new())
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
}

fn config(cps: u8, worker: bool) -> String {
    let mut nodes = String::new();
    for i in 1..=cps {
        nodes.push_str(&node(&format!("cp{i}"), 10 + i, true));
    }
    if worker {
        nodes.push_str(&node("w1", 14, false));
    }
    format!(
        r#"
resource "vixens_talos_cluster" "c" {{
  cluster_name                       = "drain"
  endpoint                           = "https://{PREFIX}.100:6443"
  talos_version                      = "1.12"
  allow_scheduling_on_control_planes = true
  {nodes}
  timeouts {{
    create = "90s"
    update = "20s"
  }}
}}
"#
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

async fn client(ws: &Workspace) -> kube::Client {
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    let kubeconfig = values["kubeconfig"].as_str().unwrap().to_string();
    vixens::k8s::Connection::Kubeconfig(kubeconfig)
        .connect(Duration::from_secs(20))
        .await
        .unwrap()
}

/// A ReplicaSet `web` and two of its pods, `web-w1` on w1 and `web-cp3` on cp3, with a budget `web` of
/// `min_available`.
async fn workload(client: &kube::Client) {
    let rs_api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
            "apps",
            "v1",
            "ReplicaSet",
        )),
    );
    let rs: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}
    }))
    .unwrap();
    let rs = rs_api.create(&PostParams::default(), &rs).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for node in ["w1", "cp3"] {
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("web-{node}"), "labels": {"app": "web"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                              "uid": rs.metadata.uid, "controller": true}]},
            "spec": {"nodeName": node, "containers": [{"name": "web", "image": "nginx:1.27"}]}
        }))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
}

fn pdb_api(client: &kube::Client) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        "default",
        &kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
            "policy",
            "v1",
            "PodDisruptionBudget",
        )),
    )
}

/// Applies the budget `web` with `minAvailable` and waits until the disruption controller allows `allowed`.
async fn budget(client: &kube::Client, min_available: i64, allowed: i64) {
    let pdb: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": "web"}}}
    }))
    .unwrap();
    let api = pdb_api(client);
    api.patch(
        "web",
        &PatchParams::apply("test").force(),
        &Patch::Apply(&pdb),
    )
    .await
    .unwrap();
    eventually("the budget's status", || async {
        let live = api.get("web").await.unwrap();
        (live.data["status"]["disruptionsAllowed"] == json!(allowed)
            && live.data["status"]["observedGeneration"] == json!(live.metadata.generation))
        .then_some(())
    })
    .await;
}

async fn node_names(client: &kube::Client) -> Vec<String> {
    let api: Api<Node> = Api::all(client.clone());
    let mut names: Vec<String> = api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    names.sort();
    names
}

async fn pod_names(client: &kube::Client) -> Vec<String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut names: Vec<String> = api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort();
    names
}

#[test]
fn removed_nodes_are_drained_honouring_budgets_and_their_node_objects_deleted() {
    let tf = Terraform::get("1.0.3").expect("terraform 1.0.3");
    let topology = format!(
        "nodes:\n- {{name: cp1, address: {PREFIX}.11}}\n- {{name: cp2, address: {PREFIX}.12}}\n- {{name: cp3, address: {PREFIX}.13}}\n- {{name: w1, address: {PREFIX}.14}}\ntimings: {{install_delay: 0ms, reboot_delay: 0ms, workload_delay: 0ms, upgrade_delay: 0ms, node_monitor_grace_period: 1s}}\n"
    );
    let _emulator = EmulatorProcess::start(&topology, None);
    let ws = Workspace::new(&tf, &config(3, true));
    ws.init();
    ws.apply();
    let rt = runtime();
    let kube = rt.block_on(client(&ws));
    rt.block_on(workload(&kube));
    rt.block_on(budget(&kube, 2, 0));

    // 1. The budget allows no disruption: removing w1 fails before its reset, naming the pod and the budget.
    ws.write_config(&config(3, false));
    let refused = ws.fails(&["apply", "-auto-approve", "-input=false"]);
    let text = refused.all();
    assert!(
        text.contains("Cannot drain node \"w1\"")
            && text.contains("default/web-w1")
            && text.contains("disruption budget web needs 2 healthy pods"),
        "{text}"
    );
    let w1: Node = rt
        .block_on(Api::<Node>::all(kube.clone()).get("w1"))
        .unwrap();
    assert_eq!(
        w1.spec.and_then(|s| s.unschedulable),
        Some(true),
        "w1 is left cordoned"
    );
    assert_eq!(rt.block_on(pod_names(&kube)), ["web-cp3", "web-w1"]);
    let values = ws.resource("vixens_talos_cluster.c").unwrap();
    assert_eq!(
        values["node_status"]["w1"]["stage"], "running",
        "w1 was not reset"
    );

    // 2. The budget allows one disruption: w1 is drained, reset, and its Node object deleted.
    rt.block_on(budget(&kube, 1, 1));
    ws.apply();
    assert_eq!(rt.block_on(pod_names(&kube)), ["web-cp3"]);
    assert_eq!(rt.block_on(node_names(&kube)), ["cp1", "cp2", "cp3"]);

    // 3. Two control planes go: cp3's pod is evicted (no budget left), and both Node objects are deleted, also
    // once the node lifecycle controller would have marked them (grace period 1 s).
    rt.block_on(pdb_api(&kube).delete("web", &Default::default()))
        .unwrap();
    ws.write_config(&config(1, false));
    ws.apply();
    assert_eq!(rt.block_on(pod_names(&kube)), Vec::<String>::new());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(rt.block_on(node_names(&kube)), ["cp1"]);
    assert_eq!(ws.plan_exit_code(), 0);
}
