//! What the kubelet reports for the pods bound to its Node (`spec.nodeName`): once its kubelet runs, a pod starts
//! `workload_delay` after it is first seen, then is `Running` with its Ready, ContainersReady, Initialized and
//! PodScheduled conditions True and each container running (pkg/kubelet/status/generate.go@v1.32.0). On a Node
//! whose kubelet stopped and that the node lifecycle controller marked `Unknown`, Ready and ContainersReady turn
//! False (pkg/controller/util/node/controller_utils.go@v1.32.0 `MarkPodsNotReady`). Pods no kubelet runs (unbound,
//! or bound to a Node that does not exist) keep their status: no scheduler is emulated.

use std::time::Duration;

use serde_json::{json, Value};

use super::nodes::kubelet_alive;
use super::{rt, write_status, Clock};
use crate::emulator::kube::store::{GroupResource, Store};
use crate::emulator::kube::timefmt;

fn running_status(pod: &Value, node: &Value, now: &str) -> Value {
    let host_ip = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|x| x["type"] == "InternalIP"))
        .map(|a| a["address"].clone())
        .unwrap_or(json!(""));
    let started = pod
        .pointer("/status/startTime")
        .cloned()
        .unwrap_or(json!(now));
    let cond = |kind: &str| json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": started});
    let containers: Vec<Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": true, "started": true,
                "restartCount": 0, "state": {"running": {"startedAt": started}}})
        })
        .collect();
    json!({
        "phase": "Running",
        "conditions": [cond("PodReadyToStartContainers"), cond("Initialized"), cond("Ready"), cond("ContainersReady"), cond("PodScheduled")],
        "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
        "startTime": started,
        "containerStatuses": containers,
        "qosClass": "BestEffort",
    })
}

fn not_ready(pod: &Value, now: &str) -> Value {
    let mut status = pod.get("status").cloned().unwrap_or(json!({}));
    if let Some(conds) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        for c in conds.iter_mut() {
            if matches!(c["type"].as_str(), Some("Ready" | "ContainersReady"))
                && c["status"] != "False"
            {
                c["status"] = json!("False");
                c["lastTransitionTime"] = json!(now);
            }
        }
    }
    status
}

pub fn reconcile(st: &mut Store, clock: &mut Clock, delay: Duration) {
    let Some(rt) = rt(st, "", "pods") else {
        return;
    };
    let pods: Vec<Value> = st
        .list(&GroupResource::new("", "pods"), None)
        .into_iter()
        .filter(|p| p.pointer("/spec/nodeName").is_some())
        .cloned()
        .collect();
    let now = timefmt::now();
    for pod in pods {
        if pod.pointer("/metadata/deletionTimestamp").is_some()
            || matches!(
                pod.pointer("/status/phase").and_then(Value::as_str),
                Some("Succeeded" | "Failed")
            )
        {
            continue;
        }
        let node_name = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(node) = st
            .get(&GroupResource::new("", "nodes"), "", node_name)
            .cloned()
        else {
            continue;
        };
        let status = if kubelet_alive(&node) {
            let key = format!(
                "pod/{}",
                pod.pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            );
            if !clock.elapsed(key, delay) {
                continue;
            }
            running_status(&pod, &node, &now)
        } else {
            not_ready(&pod, &now)
        };
        write_status(st, &rt, &pod, status, "kubelet");
    }
}
