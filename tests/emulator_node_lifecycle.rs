//! Conformance of the Kubernetes API emulator's node lifecycle and evictions (issue 16 item 7), with kube-rs on
//! 127.0.227.5-6:
//! - a Node whose kubelet stopped stays, keeps its last status for the grace period, then turns `Unknown`
//!   ("Kubelet stopped posting node status.") and is tainted `node.kubernetes.io/unreachable` NoSchedule and
//!   NoExecute (kube-controller-manager's node lifecycle controller); the DaemonSet still counts it but its pod
//!   there is not ready; the live Node stays Ready; a kubelet registering again makes it Ready;
//! - the kubelet runs bound pods (Running, Ready), the disruption controller computes budgets, and the Eviction
//!   API refuses (429, `DisruptionBudget` cause) what a budget does not allow, evicts what it does (201), and
//!   answers 404 / 400 as the API server does.

#[path = "argocd_bootstrap/support.rs"]
mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DynamicObject, EvictParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::Env;
use vixens::emulator::kube::{KubeOptions, NodeOptions};

fn options(grace_ms: u64) -> KubeOptions {
    KubeOptions {
        workload_delay: Duration::from_millis(20),
        node_monitor_grace_period: Duration::from_millis(grace_ms),
        ..Default::default()
    }
}

fn worker(ip: &str) -> NodeOptions {
    NodeOptions {
        os_image: None,
        name: "w-1".into(),
        internal_ip: ip.parse().unwrap(),
        control_plane: false,
        allow_scheduling_on_control_plane: false,
        kubelet_version: None,
    }
}

fn condition(node: &Node, kind: &str) -> (String, String) {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == kind))
        .map(|c| (c.status.clone(), c.reason.clone().unwrap_or_default()))
        .unwrap_or_default()
}

fn taints(node: &Node) -> Vec<String> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|t| format!("{}:{}", t.key, t.effect))
        .collect()
}

async fn wait_for<F, Fut>(what: &str, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..250 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_kubelet_stopped_stays_and_turns_unknown_after_the_grace_period() {
    let env = Env::start_with("127.0.227.5", options(600)).await;
    env.cluster
        .ensure_node_with(worker("127.0.227.15"))
        .unwrap();
    let client = env.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    wait_for("both Nodes Ready", || async {
        let list = nodes.list(&Default::default()).await.unwrap().items;
        list.len() == 2 && list.iter().all(|n| condition(n, "Ready").0 == "True")
    })
    .await;

    env.cluster.stop_kubelet("w-1");
    // Within the grace period: the Node keeps what its kubelet last posted.
    let w = nodes.get("w-1").await.unwrap();
    assert_eq!(condition(&w, "Ready").0, "True");
    wait_for("w-1 Unknown", || async {
        condition(&nodes.get("w-1").await.unwrap(), "Ready")
            == ("Unknown".into(), "NodeStatusUnknown".into())
    })
    .await;
    let w = nodes.get("w-1").await.unwrap();
    let t = taints(&w);
    assert!(
        t.contains(&"node.kubernetes.io/unreachable:NoSchedule".into())
            && t.contains(&"node.kubernetes.io/unreachable:NoExecute".into()),
        "{t:?}"
    );
    let cp = nodes.get("cp-1").await.unwrap();
    assert_eq!(
        condition(&cp, "Ready").0,
        "True",
        "the live node stays Ready"
    );
    let ds: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "kube-system",
        &kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
            "apps",
            "v1",
            "DaemonSet",
        )),
    );
    let cilium = ds.get("cilium").await.unwrap();
    assert_eq!(cilium.data["status"]["desiredNumberScheduled"], 2);
    assert_eq!(cilium.data["status"]["numberReady"], 1);

    // The kubelet registers again: Ready, untainted.
    env.cluster
        .ensure_node_with(worker("127.0.227.15"))
        .unwrap();
    wait_for("w-1 Ready again", || async {
        let w = nodes.get("w-1").await.unwrap();
        condition(&w, "Ready").0 == "True" && !taints(&w).iter().any(|t| t.contains("unreachable"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evictions_honour_disruption_budgets() {
    let env = Env::start_with("127.0.227.6", options(40_000)).await;
    let client = env.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"nodeName": "cp-1", "containers": [{"name": "web", "image": "nginx:1.27"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    wait_for("the pod Running and Ready", || async {
        let p = pods.get("web").await.unwrap();
        let status = p.status.unwrap_or_default();
        status.phase.as_deref() == Some("Running")
            && status
                .conditions
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
    })
    .await;
    let pdbs: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
            "policy",
            "v1",
            "PodDisruptionBudget",
        )),
    );
    let budget = |min: i64| {
        serde_json::from_value::<DynamicObject>(json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
            "spec": {"minAvailable": min, "selector": {"matchLabels": {"app": "web"}}}
        }))
        .unwrap()
    };
    let apply = PatchParams::apply("test").force();
    pdbs.patch("web", &apply, &Patch::Apply(&budget(1)))
        .await
        .unwrap();
    wait_for("the budget observed", || async {
        let b = pdbs.get("web").await.unwrap();
        b.data["status"]["currentHealthy"] == 1 && b.data["status"]["observedGeneration"] == 1
    })
    .await;
    let b = pdbs.get("web").await.unwrap();
    assert_eq!(b.data["status"]["disruptionsAllowed"], 0);
    assert_eq!(b.data["status"]["desiredHealthy"], 1);
    assert_eq!(b.data["status"]["expectedPods"], 1);

    let refused = pods
        .evict("web", &EvictParams::default())
        .await
        .unwrap_err();
    let kube::Error::Api(status) = refused else {
        panic!("{refused}")
    };
    assert_eq!(status.code, 429);
    assert_eq!(
        status.message,
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    let cause = &status.details.as_ref().unwrap().causes[0];
    assert_eq!(cause.reason, "DisruptionBudget");
    assert_eq!(
        cause.message,
        "The disruption budget web needs 1 healthy pods and has 1 currently"
    );
    assert!(pods.get_opt("web").await.unwrap().is_some());

    pdbs.patch("web", &apply, &Patch::Apply(&budget(0)))
        .await
        .unwrap();
    wait_for("one disruption allowed", || async {
        pdbs.get("web").await.unwrap().data["status"]["disruptionsAllowed"] == 1
    })
    .await;
    pods.evict("web", &EvictParams::default()).await.unwrap();
    assert!(pods.get_opt("web").await.unwrap().is_none(), "evicted");
    let missing = pods
        .evict("web", &EvictParams::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, kube::Error::Api(s) if s.code == 404),
        "{missing}"
    );
    let wrong_name = client
        .request::<serde_json::Value>(
            http::Request::post("/api/v1/namespaces/default/pods/web/eviction")
                .header("content-type", "application/json")
                .body(
                    serde_json::to_vec(&json!({"apiVersion": "policy/v1", "kind": "Eviction",
                        "metadata": {"name": "other", "namespace": "default"}}))
                    .unwrap(),
                )
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&wrong_name, kube::Error::Api(s) if s.code == 400 && s.message.contains("does not match")),
        "{wrong_name}"
    );
}
