//! Jobs run to completion (pkg/controller/job/job_controller.go@v1.32.0): a Job that is not suspended starts
//! (`startTime`, `active`), and the job delay (`KubeOptions::job_delay`) after it was first seen, once every
//! Secret and ConfigMap its pods mount exists, succeeds: `succeeded` = completions (default 1), conditions `SuccessCriteriaMet` then
//! `Complete` (the order 1.31+ controllers write them), `completionTime`.

use std::time::Duration;

use serde_json::{json, Value};

use super::workloads::volumes_present;
use super::{rt, write_status, Clock};
use crate::emulator::kube::store::{GroupResource, Store};
use crate::emulator::kube::timefmt;

fn finished(o: &Value) -> bool {
    o.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| matches!(c["type"].as_str(), Some("Complete" | "Failed")) && c["status"] == "True")
}

pub fn reconcile(st: &mut Store, clock: &mut Clock, delay: Duration) {
    let Some(rt) = rt(st, "batch", "jobs") else {
        return;
    };
    let jobs: Vec<Value> = st
        .list(&GroupResource::new("batch", "jobs"), None)
        .into_iter()
        .cloned()
        .collect();
    for o in jobs {
        if o.pointer("/metadata/deletionTimestamp").is_some()
            || finished(&o)
            || o.pointer("/spec/suspend") == Some(&json!(true))
        {
            continue;
        }
        let ns = o
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let pod = o
            .pointer("/spec/template/spec")
            .cloned()
            .unwrap_or(json!({}));
        let completions = o
            .pointer("/spec/completions")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let parallelism = o
            .pointer("/spec/parallelism")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .min(completions);
        let uid = o
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let now = timefmt::now();
        let start = o
            .pointer("/status/startTime")
            .cloned()
            .unwrap_or(json!(now));
        let done = volumes_present(st, ns, &pod) && clock.elapsed(format!("job/{uid}"), delay);
        let status = if done {
            let cond = |t: &str, reason: &str, message: &str| {
                json!({"type": t, "status": "True", "reason": reason, "message": message,
                    "lastProbeTime": now, "lastTransitionTime": now})
            };
            json!({
                "startTime": start, "completionTime": now, "succeeded": completions, "active": 0, "ready": 0,
                "terminating": 0, "uncountedTerminatedPods": {},
                "conditions": [
                    cond("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"),
                    cond("Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
                ],
            })
        } else {
            json!({"startTime": start, "active": parallelism, "ready": 0, "terminating": 0,
                "uncountedTerminatedPods": {}})
        };
        write_status(st, &rt, &o, status, "kube-controller-manager");
    }
}
