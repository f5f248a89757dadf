//! Whether any Node can run a workload's pods, by the scheduler's node-level filters that a cluster's shape decides:
//! taints and tolerations (NoSchedule and NoExecute taints must be tolerated: the TaintToleration plugin, with
//! k8s.io/api core/v1 `Toleration.ToleratesTaint` matching), `nodeSelector` (NodeAffinity plugin) and cordoned
//! Nodes (NodeUnschedulable plugin: `spec.unschedulable` unless the pod tolerates
//! `node.kubernetes.io/unschedulable:NoSchedule`), as in pkg/scheduler/framework/plugins@v1.32.0. Resources, ports
//! and pod (anti-)affinity are not checked: this answers "can this cluster ever run it", not "where".
//!
//! Taints a cluster puts on Nodes only while they come up or fail (`node.kubernetes.io/not-ready`, `unreachable`,
//! `network-unavailable`, `node.cloudprovider.kubernetes.io/uninitialized`, `node.cilium.io/agent-not-ready`) are
//! not counted: they go away by themselves.

use k8s_openapi::api::core::v1::{Node, PodSpec, Taint, Toleration};
use kube::api::{Api, ListParams};
use kube::Client;

use super::error::{Error, Result};

/// Taints that mark a Node coming up or failing, not one that is refused to workloads.
const TRANSIENT_TAINTS: &[&str] = &[
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/network-unavailable",
    "node.cloudprovider.kubernetes.io/uninitialized",
    "node.cilium.io/agent-not-ready",
];

/// Whether `toleration` tolerates `taint` (k8s.io/api core/v1 toleration.go `ToleratesTaint`).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty()) {
        if effect != taint.effect {
            return false;
        }
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    let op = toleration.operator.as_deref().unwrap_or("Equal");
    if key.is_empty() {
        return op == "Exists";
    }
    if key != taint.key {
        return false;
    }
    match op {
        "Exists" => true,
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or_default()
                == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

/// Why `node` cannot run a pod of `spec` (e.g. `taint node-role.kubernetes.io/control-plane:NoSchedule`), or
/// `None` when it can.
pub fn refusal(spec: &PodSpec, node: &Node) -> Option<String> {
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    if let Some(selector) = &spec.node_selector {
        let labels = node.metadata.labels.clone().unwrap_or_default();
        if let Some((k, v)) = selector.iter().find(|(k, v)| labels.get(*k) != Some(*v)) {
            return Some(format!("nodeSelector {k}={v} does not match"));
        }
    }
    let node_spec = node.spec.clone().unwrap_or_default();
    let cordon = Taint {
        key: "node.kubernetes.io/unschedulable".into(),
        effect: "NoSchedule".into(),
        ..Default::default()
    };
    if node_spec.unschedulable == Some(true) && !tolerations.iter().any(|t| tolerates(t, &cordon)) {
        return Some("cordoned".into());
    }
    node_spec
        .taints
        .unwrap_or_default()
        .into_iter()
        .filter(|t| matches!(t.effect.as_str(), "NoSchedule" | "NoExecute"))
        .filter(|t| !TRANSIENT_TAINTS.contains(&t.key.as_str()))
        .find(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
        .map(|t| match t.value.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => format!("taint {}={v}:{} not tolerated", t.key, t.effect),
            None => format!("taint {}:{} not tolerated", t.key, t.effect),
        })
}

/// `None` when some Node of the cluster can run a pod of `spec`; otherwise why not, per Node
/// (`"cp1: taint node-role.kubernetes.io/control-plane:NoSchedule not tolerated"`, or "no Node" when there is none).
pub async fn nowhere(client: &Client, spec: &PodSpec) -> Result<Option<String>> {
    let nodes: Api<Node> = Api::all(client.clone());
    let list = nodes
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::api("list", "Nodes", e))?;
    if list.items.is_empty() {
        return Ok(Some("the cluster has no Node".into()));
    }
    let mut reasons = Vec::new();
    for n in &list.items {
        match refusal(spec, n) {
            None => return Ok(None),
            Some(why) => reasons.push(format!(
                "{}: {why}",
                n.metadata.name.as_deref().unwrap_or_default()
            )),
        }
    }
    Ok(Some(reasons.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(taints: serde_json::Value, unschedulable: bool) -> Node {
        serde_json::from_value(
            json!({"metadata": {"name": "cp1", "labels": {"kubernetes.io/os": "linux"}},
            "spec": {"taints": taints, "unschedulable": unschedulable}}),
        )
        .unwrap()
    }

    fn pod(spec: serde_json::Value) -> PodSpec {
        serde_json::from_value(spec).unwrap()
    }

    #[test]
    fn control_plane_taint_refuses_pods_without_its_toleration() {
        let cp = node(
            json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                   {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]),
            false,
        );
        let relay = pod(json!({"containers": [], "nodeSelector": {"kubernetes.io/os": "linux"}}));
        assert_eq!(
            refusal(&relay, &cp).as_deref(),
            Some("taint node-role.kubernetes.io/control-plane:NoSchedule not tolerated")
        );
        let operator = pod(json!({"containers": [],
            "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]}));
        assert_eq!(refusal(&operator, &cp), None, "not-ready is transient");
        let everything = pod(json!({"containers": [], "tolerations": [{"operator": "Exists"}]}));
        assert_eq!(refusal(&everything, &cp), None);
        let wrong_effect = pod(json!({"containers": [],
            "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoExecute"}]}));
        assert!(refusal(&wrong_effect, &cp).is_some());
        let soft = node(json!([{"key": "x", "effect": "PreferNoSchedule"}]), false);
        assert_eq!(refusal(&relay, &soft), None);
        assert_eq!(
            refusal(&relay, &node(json!([]), true)).as_deref(),
            Some("cordoned")
        );
        let elsewhere =
            pod(json!({"containers": [], "nodeSelector": {"kubernetes.io/os": "windows"}}));
        assert!(refusal(&elsewhere, &node(json!([]), false))
            .unwrap()
            .contains("nodeSelector"));
    }
}
