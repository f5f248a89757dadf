//! DaemonSet, Deployment and StatefulSet status as their controllers report it once pods run: a DaemonSet
//! schedules onto every Node its nodeSelector matches whose NoSchedule/NoExecute taints its pod tolerates (with
//! the tolerations the DaemonSet controller adds itself); Deployments and StatefulSets need at least one such
//! Node. Pods become ready `workload_delay` after the (generation, desired count) is first seen, and only once
//! every Secret and ConfigMap they mount exists ([`volumes_present`]).

use std::time::Duration;

use serde_json::{json, Value};

use super::nodes::kubelet_alive;
use super::{keep_transition, rt, write_status, Clock};
use crate::emulator::kube::store::{GroupResource, Store};
use crate::emulator::kube::timefmt;

/// Whether `toleration` tolerates `taint` (k8s.io/api core/v1 `Toleration.ToleratesTaint`).
pub fn tolerates(toleration: &Value, taint: &Value) -> bool {
    let s = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let effect = s(toleration, "effect");
    if !effect.is_empty() && effect != s(taint, "effect") {
        return false;
    }
    let op = s(toleration, "operator");
    let key = s(toleration, "key");
    if key.is_empty() {
        return op == "Exists";
    }
    if key != s(taint, "key") {
        return false;
    }
    match op.as_str() {
        "Exists" => true,
        "" | "Equal" => s(toleration, "value") == s(taint, "value"),
        _ => false,
    }
}

/// Tolerations the DaemonSet controller adds to its pods (pkg/controller/daemon/util).
fn daemonset_tolerations(host_network: bool) -> Vec<Value> {
    let mut t = vec![
        json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}),
        json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}),
        json!({"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"}),
        json!({"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"}),
        json!({"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"}),
        json!({"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}),
    ];
    if host_network {
        t.push(json!({"key": "node.kubernetes.io/network-unavailable", "operator": "Exists", "effect": "NoSchedule"}));
    }
    t
}

/// Whether a pod with `pod_spec` may run on `node`.
pub fn fits(pod_spec: &Value, node: &Value, daemon: bool) -> bool {
    let mut tolerations: Vec<Value> = pod_spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if daemon {
        tolerations.extend(daemonset_tolerations(
            pod_spec.get("hostNetwork") == Some(&json!(true)),
        ));
    }
    if let Some(sel) = pod_spec.get("nodeSelector").and_then(Value::as_object) {
        let labels = node.pointer("/metadata/labels");
        if !sel
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        {
            return false;
        }
    }
    let mut taints: Vec<Value> = node
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if node.pointer("/spec/unschedulable") == Some(&json!(true)) {
        taints.push(json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}));
    }
    taints
        .iter()
        .filter(|t| matches!(t["effect"].as_str(), Some("NoSchedule") | Some("NoExecute")))
        .all(|t| tolerations.iter().any(|tol| tolerates(tol, t)))
}

/// Whether every Secret and ConfigMap a pod template mounts (volumes `secret`, `configMap` and `projected`
/// sources, unless `optional`) exists in `ns`: the kubelet cannot set up such a volume
/// (pkg/volume/secret/secret.go@v1.32.0 and pkg/volume/configmap/configmap.go@v1.32.0 SetUpAt: "not found"),
/// so the pod stays ContainerCreating and never becomes ready.
pub fn volumes_present(st: &Store, ns: &str, pod_spec: &Value) -> bool {
    let exists = |res: &str, name: Option<&str>| {
        name.is_some_and(|n| st.get(&GroupResource::new("", res), ns, n).is_some())
    };
    let optional = |v: &Value| v.get("optional") == Some(&json!(true));
    let check = |src: &Value| -> bool {
        if let Some(sec) = src.get("secret") {
            let name = sec
                .get("secretName")
                .or_else(|| sec.get("name"))
                .and_then(Value::as_str);
            if !optional(sec) && !exists("secrets", name) {
                return false;
            }
        }
        if let Some(cm) = src.get("configMap") {
            if !optional(cm) && !exists("configmaps", cm.get("name").and_then(Value::as_str)) {
                return false;
            }
        }
        true
    };
    pod_spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .all(|v| {
            check(v)
                && v.pointer("/projected/sources")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .all(check)
        })
}

fn generation(o: &Value) -> i64 {
    o.pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// Whether the controller has observed the object's latest generation.
pub fn generation_observed(o: &Value) -> bool {
    o.pointer("/status/observedGeneration")
        .and_then(Value::as_i64)
        == Some(generation(o))
}

fn key(o: &Value, desired: i64) -> String {
    format!(
        "{}/{}/{desired}",
        o.pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        generation(o)
    )
}

pub fn reconcile(st: &mut Store, clock: &mut Clock, delay: Duration) {
    let nodes: Vec<Value> = st
        .list(&GroupResource::new("", "nodes"), None)
        .into_iter()
        .cloned()
        .collect();
    for resource in ["daemonsets", "deployments", "statefulsets"] {
        let Some(rt) = rt(st, "apps", resource) else {
            continue;
        };
        let objs: Vec<Value> = st
            .list(&GroupResource::new("apps", resource), None)
            .into_iter()
            .cloned()
            .collect();
        for o in objs {
            if o.pointer("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            let pod = o
                .pointer("/spec/template/spec")
                .cloned()
                .unwrap_or(json!({}));
            let ns = o
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let volumes = volumes_present(st, ns, &pod);
            let status = match resource {
                "daemonsets" => {
                    // A Node whose kubelet is gone still gets a pod (the DaemonSet tolerates unreachable), which
                    // is not ready: the node lifecycle controller marks the pods of such Nodes not ready.
                    let targets: Vec<&Value> =
                        nodes.iter().filter(|n| fits(&pod, n, true)).collect();
                    let desired = targets.len() as i64;
                    let live = targets.iter().filter(|n| kubelet_alive(n)).count() as i64;
                    let ready = if volumes && clock.elapsed(key(&o, desired), delay) {
                        live
                    } else {
                        0
                    };
                    let mut s = json!({
                        "currentNumberScheduled": desired, "desiredNumberScheduled": desired, "numberMisscheduled": 0,
                        "numberReady": ready, "observedGeneration": generation(&o), "updatedNumberScheduled": desired,
                    });
                    if ready > 0 {
                        s["numberAvailable"] = json!(ready);
                    }
                    if desired - ready > 0 {
                        s["numberUnavailable"] = json!(desired - ready);
                    }
                    s
                }
                _ => {
                    let replicas = o
                        .pointer("/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                    let placeable = replicas == 0
                        || nodes
                            .iter()
                            .any(|n| fits(&pod, n, false) && kubelet_alive(n));
                    let ready = if placeable && volumes && clock.elapsed(key(&o, replicas), delay) {
                        replicas
                    } else {
                        0
                    };
                    if resource == "deployments" {
                        deployment_status(&o, replicas, ready)
                    } else {
                        let mut s = json!({"observedGeneration": generation(&o), "replicas": replicas, "currentReplicas": replicas, "updatedReplicas": replicas,
                            "availableReplicas": ready, "collisionCount": 0});
                        if ready > 0 {
                            s["readyReplicas"] = json!(ready);
                        }
                        let rev = format!(
                            "{}-{}",
                            o.pointer("/metadata/name")
                                .and_then(Value::as_str)
                                .unwrap_or_default(),
                            &revision_hash(&o)[..10]
                        );
                        s["currentRevision"] = json!(rev);
                        s["updateRevision"] = json!(rev);
                        s
                    }
                }
            };
            let manager = "kube-controller-manager";
            write_status(st, &rt, &o, status, manager);
        }
    }
}

fn revision_hash(o: &Value) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(
        o.pointer("/spec/template")
            .cloned()
            .unwrap_or_default()
            .to_string()
            .as_bytes(),
    );
    hex::encode(h)
}

fn deployment_status(o: &Value, replicas: i64, ready: i64) -> Value {
    let now = timefmt::now();
    let name = o
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let rs = format!("{name}-{}", &revision_hash(o)[..10]);
    let available = ready >= replicas;
    let avail = if available {
        json!({"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now})
    } else {
        json!({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now})
    };
    let progressing = if available {
        json!({"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{rs}\" has successfully progressed."), "lastUpdateTime": now, "lastTransitionTime": now})
    } else {
        json!({"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": format!("ReplicaSet \"{rs}\" is progressing."), "lastUpdateTime": now, "lastTransitionTime": now})
    };
    let mut s = json!({
        "observedGeneration": generation(o), "replicas": replicas, "updatedReplicas": replicas,
        "conditions": [keep_transition(o, avail), keep_transition(o, progressing)],
    });
    if ready > 0 {
        s["readyReplicas"] = json!(ready);
        s["availableReplicas"] = json!(ready);
    }
    if replicas - ready > 0 {
        s["unavailableReplicas"] = json!(replicas - ready);
    }
    s
}

/// Whether a Deployment or StatefulSet reports all replicas ready for its current generation.
pub fn is_ready(o: &Value) -> bool {
    let want = o
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    o.pointer("/status/observedGeneration")
        .and_then(Value::as_i64)
        == Some(generation(o))
        && o.pointer("/status/readyReplicas")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            >= want
}
