//! Nodes: registration as the kubelet does it (labels, podCIDR from the node IPAM controller's 10.244.0.0/16
//! with /24 per node, addresses, capacity) and the Ready condition, which stays False ("cni plugin not
//! initialized") with taint `node.kubernetes.io/not-ready:NoSchedule` until the `cilium` DaemonSet in
//! `kube-system` is ready on every live Node.
//!
//! A Node whose kubelet stopped ([`crate::emulator::kube::KubeCluster::stop_kubelet`]) keeps the status it last
//! posted; once the grace period has passed, the node lifecycle controller sets its Ready, MemoryPressure,
//! DiskPressure and PIDPressure conditions to `Unknown` ("Kubelet stopped posting node status.") and taints it
//! `node.kubernetes.io/unreachable` NoSchedule and NoExecute
//! (pkg/controller/nodelifecycle/node_lifecycle_controller.go@v1.32.0 `tryUpdateNodeHealth`,
//! `doNoScheduleTaintingPass`, `doNoExecuteTaintingPass`). The Node is never deleted by it.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::workloads::{fits, generation_observed};
use super::{keep_transition, rt, write, Clock};
use crate::emulator::kube::store::{GroupResource, Store};
use crate::emulator::kube::{timefmt, Inner, NodeOptions};

const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";
const CP_TAINT: &str = "node-role.kubernetes.io/control-plane";

/// Which kubelets stopped, when, and how long the node lifecycle controller waits before marking their Nodes.
pub struct Kubelets {
    /// Node name -> when its kubelet stopped.
    pub stopped: HashMap<String, Instant>,
    /// `--node-monitor-grace-period`.
    pub grace: Duration,
}

impl Kubelets {
    /// The state of `inner`'s kubelets now.
    pub fn of(inner: &Inner) -> Kubelets {
        Kubelets {
            stopped: inner
                .kubelets_stopped
                .lock()
                .map(|s| s.clone())
                .unwrap_or_default(),
            grace: inner.opts.node_monitor_grace_period,
        }
    }
}

/// Whether a Node's kubelet is (as far as the API knows) alive: its Ready condition is not `Unknown`.
pub fn kubelet_alive(node: &Value) -> bool {
    node.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .is_none_or(|c| c["status"] != "Unknown")
}

fn nodes_gr() -> GroupResource {
    GroupResource::new("", "nodes")
}

/// Creates or updates the Node for `n`.
pub fn ensure(inner: &Inner, n: &NodeOptions) {
    if let Ok(mut stopped) = inner.kubelets_stopped.lock() {
        stopped.remove(&n.name);
    }
    let kubelets = Kubelets::of(inner);
    let mut st = inner.lock();
    let Some(rt) = rt(&st, "", "nodes") else {
        return;
    };
    let old = st.get(&nodes_gr(), "", &n.name).cloned();
    let cidr = match old
        .as_ref()
        .and_then(|o| o.pointer("/spec/podCIDR"))
        .and_then(Value::as_str)
    {
        Some(c) => c.to_string(),
        None => {
            let used: BTreeSet<String> = st
                .list(&nodes_gr(), None)
                .iter()
                .filter_map(|o| {
                    o.pointer("/spec/podCIDR")
                        .and_then(Value::as_str)
                        .map(String::from)
                })
                .collect();
            (0..=255)
                .map(|i| format!("10.244.{i}.0/24"))
                .find(|c| !used.contains(c))
                .unwrap_or_default()
        }
    };
    let mut labels = json!({
        "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux",
    });
    let mut taints = vec![];
    if n.control_plane {
        labels[CP_TAINT] = json!("");
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = json!("");
        if !n.allow_scheduling_on_control_plane {
            taints.push(json!({"key": CP_TAINT, "effect": "NoSchedule"}));
        }
    }
    let mut node = old.clone().unwrap_or_else(|| {
        let now = timefmt::now();
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": n.name, "annotations": {"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
            "status": {
                "capacity": {"cpu": "2", "ephemeral-storage": "10Gi", "hugepages-2Mi": "0", "memory": "4Gi", "pods": "110"},
                "allocatable": {"cpu": "1950m", "ephemeral-storage": "9Gi", "hugepages-2Mi": "0", "memory": "3500Mi", "pods": "110"},
                "conditions": [ready_condition(false, &now)],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "architecture": "amd64", "bootID": crate::emulator::kube::handlers::new_uid(), "containerRuntimeVersion": "containerd://2.0.5",
                    "kernelVersion": "6.12.25-talos", "kubeProxyVersion": "", "kubeletVersion": inner.server_version(),
                    "machineID": crate::emulator::kube::handlers::new_uid().replace('-', ""), "operatingSystem": "linux",
                    "osImage": "Talos (v1.12.0)", "systemUUID": crate::emulator::kube::handlers::new_uid(),
                },
            },
        })
    });
    if let Some(m) = node["metadata"]["labels"].as_object() {
        for (k, v) in m {
            if (n.control_plane || k != CP_TAINT) && labels.get(k).is_none() {
                labels[k] = v.clone();
            }
        }
    }
    node["metadata"]["labels"] = labels;
    if let Some(v) = &n.kubelet_version {
        node["status"]["nodeInfo"]["kubeletVersion"] = json!(v);
    }
    if let Some(os) = &n.os_image {
        node["status"]["nodeInfo"]["osImage"] = json!(os);
    }
    node["spec"]["podCIDR"] = json!(cidr);
    node["spec"]["podCIDRs"] = json!([cidr]);
    let keep: Vec<Value> = node
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter(|t| t["key"] != CP_TAINT).cloned().collect())
        .unwrap_or_default();
    taints.extend(keep);
    node["spec"]["taints"] = json!(taints);
    node["status"]["addresses"] = json!([
        {"type": "InternalIP", "address": n.internal_ip.to_string()},
        {"type": "Hostname", "address": n.name},
    ]);
    write(&mut st, &rt, old.as_ref(), node, "kubelet");
    nodes_reconcile_inner(&mut st, &kubelets, &mut Clock::default());
    let rv = st.revision();
    drop(st);
    inner.notify(rv);
}

fn ready_condition(ready: bool, now: &str) -> Value {
    if ready {
        json!({"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now})
    } else {
        json!({"type": "Ready", "status": "False", "reason": "KubeletNotReady",
            "message": "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
            "lastHeartbeatTime": now, "lastTransitionTime": now})
    }
}

/// What the node lifecycle controller sets on a Node whose kubelet stopped posting: every condition `Unknown`.
fn unknown_condition(kind: &str, now: &str) -> Value {
    json!({"type": kind, "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status.",
        "lastHeartbeatTime": now, "lastTransitionTime": now})
}

/// Whether the `cilium` agents run on every live Node the DaemonSet targets (the CNI is initialized there).
fn cni_ready(st: &Store, nodes: &[Value]) -> bool {
    let Some(ds) = st.get(
        &GroupResource::new("apps", "daemonsets"),
        "kube-system",
        "cilium",
    ) else {
        return false;
    };
    if ds.pointer("/metadata/deletionTimestamp").is_some() || !generation_observed(ds) {
        return false;
    }
    let pod = ds
        .pointer("/spec/template/spec")
        .cloned()
        .unwrap_or(json!({}));
    let live = nodes
        .iter()
        .filter(|n| fits(&pod, n, true) && kubelet_alive(n))
        .count() as i64;
    let ready = ds
        .pointer("/status/numberReady")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    live > 0 && ready >= live
}

/// Flips the Ready condition and not-ready taint of Nodes with a running kubelet after the `cilium` DaemonSet;
/// marks Nodes whose kubelet stopped more than the grace period ago `Unknown` and unreachable.
pub fn reconcile(st: &mut Store, kubelets: &Kubelets, clock: &mut Clock) {
    nodes_reconcile_inner(st, kubelets, clock);
}

fn nodes_reconcile_inner(st: &mut Store, kubelets: &Kubelets, clock: &mut Clock) {
    let Some(rt) = rt(st, "", "nodes") else {
        return;
    };
    let nodes: Vec<Value> = st.list(&nodes_gr(), None).into_iter().cloned().collect();
    let cni_ready = cni_ready(st, &nodes);
    let now = timefmt::now();
    for n in nodes {
        let name = n
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut new = n.clone();
        let mut conds: Vec<Value> = n
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut taints: Vec<Value> = n
            .pointer("/spec/taints")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(since) = kubelets.stopped.get(name) {
            // No kubelet posts status: the last one stays until the grace period ends.
            let key = format!("kubelet-stopped/{name}/{since:?}");
            let elapsed = since.elapsed() >= kubelets.grace
                || clock.elapsed(key, kubelets.grace.saturating_sub(since.elapsed()));
            if !elapsed {
                continue;
            }
            for c in conds.iter_mut() {
                if c["status"] != "Unknown" {
                    if let Some(kind) = c["type"].as_str() {
                        *c = unknown_condition(kind, &now);
                    }
                }
            }
            taints.retain(|t| t["key"] != NOT_READY_TAINT && t["key"] != UNREACHABLE_TAINT);
            taints
                .push(json!({"key": UNREACHABLE_TAINT, "effect": "NoSchedule", "timeAdded": now}));
            taints.push(json!({"key": UNREACHABLE_TAINT, "effect": "NoExecute", "timeAdded": now}));
            if n.pointer("/spec/taints")
                .and_then(Value::as_array)
                .is_some_and(|old| old.iter().any(|t| t["key"] == UNREACHABLE_TAINT))
            {
                continue; // already marked
            }
        } else {
            let cond = keep_transition(&n, ready_condition(cni_ready, &now));
            conds.retain(|c| c["type"] != "Ready" && c["status"] != "Unknown");
            conds.push(cond);
            taints.retain(|t| t["key"] != NOT_READY_TAINT && t["key"] != UNREACHABLE_TAINT);
            if !cni_ready {
                taints.push(json!({"key": NOT_READY_TAINT, "effect": "NoSchedule"}));
            }
        }
        new["status"]["conditions"] = json!(conds);
        new["spec"]["taints"] = json!(taints);
        if new != n {
            write(st, &rt, Some(&n), new, "kube-controller-manager");
        }
    }
}
