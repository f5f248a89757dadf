//! The disruption controller (pkg/controller/disruption/disruption.go@v1.32.0 `trySync`): the status of each
//! `policy/v1` PodDisruptionBudget from the pods it selects ([`crate::emulator::kube::eviction::selects`]).
//! - `expectedPods`: the selected pods (upstream counts the `spec.replicas` of their controllers, which is the same
//!   number once every replica exists); `desiredHealthy`: `minAvailable` (a percentage of `expectedPods`, rounded
//!   up), or `expectedPods - maxUnavailable` (a percentage rounded up), never below 0;
//! - `currentHealthy`: selected pods that are Ready, not being deleted and not in `disruptedPods`;
//! - `disruptionsAllowed`: `currentHealthy - desiredHealthy`, never below 0, with the `DisruptionAllowed`
//!   condition (`SufficientPods` / `InsufficientPods`);
//! - `disruptedPods` (written by evictions) keeps the pods still there and not being deleted, for at most two
//!   minutes (`DeletionTimeout`).

use serde_json::{json, Value};

use super::{rt, write_status};
use crate::emulator::kube::eviction::{pod_ready, selects};
use crate::emulator::kube::store::{GroupResource, Store};
use crate::emulator::kube::timefmt;

/// How long an eviction's entry in `disruptedPods` holds when its pod is not deleted (`DeletionTimeout`).
const DELETION_TIMEOUT_SECS: i64 = 120;

/// Sets the `DisruptionAllowed` condition of a budget status (pdbhelper.UpdateDisruptionAllowedCondition).
pub fn set_allowed_condition(status: &mut Value, allowed: bool) {
    let (value, reason) = if allowed {
        ("True", "SufficientPods")
    } else {
        ("False", "InsufficientPods")
    };
    let mut conds: Vec<Value> = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(c) = conds.iter_mut().find(|c| c["type"] == "DisruptionAllowed") {
        if c["status"] == value {
            return;
        }
        *c = json!({"type": "DisruptionAllowed", "status": value, "reason": reason, "message": "", "lastTransitionTime": timefmt::now()});
    } else {
        conds.push(json!({"type": "DisruptionAllowed", "status": value, "reason": reason, "message": "", "lastTransitionTime": timefmt::now()}));
    }
    status["conditions"] = json!(conds);
}

/// An `IntOrString` count (`3` or `"30%"`) scaled against `total`, rounded up.
fn scaled(v: &Value, total: i64) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let pct: i64 = s.strip_suffix('%')?.trim().parse().ok()?;
            Some((pct * total + 99) / 100)
        }
        _ => None,
    }
}

fn seconds_since(rfc3339: &str) -> Option<i64> {
    let then = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()?;
    Some((time::OffsetDateTime::now_utc() - then).whole_seconds())
}

pub fn reconcile(st: &mut Store) {
    let Some(rt) = rt(st, "policy", "poddisruptionbudgets") else {
        return;
    };
    let budgets: Vec<Value> = st
        .list(&GroupResource::new("policy", "poddisruptionbudgets"), None)
        .into_iter()
        .cloned()
        .collect();
    for pdb in budgets {
        let ns = pdb
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let pods: Vec<Value> = st
            .list(&GroupResource::new("", "pods"), Some(ns))
            .into_iter()
            .filter(|p| selects(&pdb, p))
            .cloned()
            .collect();
        let expected = pods.len() as i64;
        let desired = if let Some(min) = pdb.pointer("/spec/minAvailable") {
            scaled(min, expected).unwrap_or(0)
        } else if let Some(max) = pdb.pointer("/spec/maxUnavailable") {
            expected - scaled(max, expected).unwrap_or(0)
        } else {
            0
        }
        .max(0);
        let name_of = |p: &Value| {
            p.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let mut disrupted = serde_json::Map::new();
        if let Some(m) = pdb
            .pointer("/status/disruptedPods")
            .and_then(Value::as_object)
        {
            for (pod, at) in m {
                let live = pods.iter().any(|p| {
                    name_of(p) == *pod && p.pointer("/metadata/deletionTimestamp").is_none()
                });
                let fresh = at
                    .as_str()
                    .and_then(seconds_since)
                    .is_some_and(|s| s < DELETION_TIMEOUT_SECS);
                if live && fresh {
                    disrupted.insert(pod.clone(), at.clone());
                }
            }
        }
        let healthy = pods
            .iter()
            .filter(|p| {
                pod_ready(p)
                    && p.pointer("/metadata/deletionTimestamp").is_none()
                    && !disrupted.contains_key(&name_of(p))
            })
            .count() as i64;
        let allowed = (healthy - desired).max(0);
        let mut status = pdb.get("status").cloned().unwrap_or(json!({}));
        status["observedGeneration"] = pdb
            .pointer("/metadata/generation")
            .cloned()
            .unwrap_or(json!(1));
        status["expectedPods"] = json!(expected);
        status["desiredHealthy"] = json!(desired);
        status["currentHealthy"] = json!(healthy);
        status["disruptionsAllowed"] = json!(allowed);
        if disrupted.is_empty() {
            if let Some(o) = status.as_object_mut() {
                o.remove("disruptedPods");
            }
        } else {
            status["disruptedPods"] = Value::Object(disrupted);
        }
        set_allowed_condition(&mut status, allowed > 0);
        write_status(st, &rt, &pdb, status, "kube-controller-manager");
    }
}
