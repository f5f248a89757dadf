//! Nodes: registration as the kubelet does it (labels, podCIDR from the node IPAM controller's 10.244.0.0/16
//! with /24 per node, addresses, capacity) and the Ready condition, which stays False ("cni plugin not
//! initialized") with taint `node.kubernetes.io/not-ready:NoSchedule` until the `cilium` DaemonSet in
//! `kube-system` is fully ready.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::workloads::daemonset_ready;
use super::{keep_transition, rt, write};
use crate::emulator::kube::store::{GroupResource, Store};
use crate::emulator::kube::{timefmt, Inner, NodeOptions};

const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
const CP_TAINT: &str = "node-role.kubernetes.io/control-plane";

fn nodes_gr() -> GroupResource {
    GroupResource::new("", "nodes")
}

/// Creates or updates the Node for `n`.
pub fn ensure(inner: &Inner, n: &NodeOptions) {
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
    nodes_reconcile_inner(&mut st);
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

/// Flips every Node's Ready condition and not-ready taint after the `cilium` DaemonSet.
pub fn reconcile(st: &mut Store) {
    nodes_reconcile_inner(st);
}

fn nodes_reconcile_inner(st: &mut Store) {
    let Some(rt) = rt(st, "", "nodes") else {
        return;
    };
    let cni_ready = st
        .get(
            &GroupResource::new("apps", "daemonsets"),
            "kube-system",
            "cilium",
        )
        .is_some_and(|d| d.pointer("/metadata/deletionTimestamp").is_none() && daemonset_ready(d));
    let nodes: Vec<Value> = st.list(&nodes_gr(), None).into_iter().cloned().collect();
    let now = timefmt::now();
    for n in nodes {
        let mut new = n.clone();
        let cond = keep_transition(&n, ready_condition(cni_ready, &now));
        let mut conds: Vec<Value> = n
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        conds.retain(|c| c["type"] != "Ready");
        conds.push(cond);
        new["status"]["conditions"] = json!(conds);
        let mut taints: Vec<Value> = n
            .pointer("/spec/taints")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        taints.retain(|t| t["key"] != NOT_READY_TAINT);
        if !cni_ready {
            taints.push(json!({"key": NOT_READY_TAINT, "effect": "NoSchedule"}));
        }
        new["spec"]["taints"] = json!(taints);
        if new != n {
            write(st, &rt, Some(&n), new, "kube-controller-manager");
        }
    }
}
