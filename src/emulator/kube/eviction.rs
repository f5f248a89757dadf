//! The `eviction` subresource of Pods (what `kubectl drain` POSTs): a `policy/v1` `Eviction` deletes the pod
//! unless that would violate its PodDisruptionBudget, as pkg/registry/core/pod/storage/eviction.go@v1.32.0 does:
//! - a pod that is Pending, Succeeded, Failed or already being deleted is deleted without looking at budgets;
//! - more than one budget selecting the pod answers 500 (not supported);
//! - an unready pod is deleted when its budget's `unhealthyPodEvictionPolicy` is `AlwaysAllow`, or (the default
//!   `IfHealthyBudget`) when the budget is healthy (`currentHealthy >= desiredHealthy > 0`);
//! - otherwise the budget must have been observed by the disruption controller (else 429 "still being processed")
//!   and allow a disruption (else 429 with a `DisruptionBudget` cause "needs N healthy pods and has M currently");
//!   the eviction then decrements `disruptionsAllowed` and records the pod in `disruptedPods`, and the pod is
//!   deleted. Success answers 201 with a `Status` of `Success`.
//!
//! Budgets without a selector (or with an empty one) select nothing here.

use serde_json::{json, Value};

use super::controllers::{rt, write_status};
use super::errors::{ApiError, ApiResult};
use super::handlers::Target;
use super::registry::ResourceType;
use super::selectors::LabelSelector;
use super::store::{GroupResource, Store};
use super::{timefmt, verbs, Inner};

/// At most this many pods in a budget's `disruptedPods` (`MaxDisruptedPodSize`).
const MAX_DISRUPTED_PODS: usize = 2000;

/// Whether `rt` serves `/eviction` (core Pods).
pub fn has_eviction(rt: &ResourceType) -> bool {
    rt.crd.is_none() && rt.group.is_empty() && rt.resource == "pods"
}

fn pdb_gr() -> GroupResource {
    GroupResource::new("policy", "poddisruptionbudgets")
}

fn int(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// Whether a pod's Ready condition is True (podutil.IsPodReady).
pub fn pod_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .is_some_and(|c| c["status"] == "True")
}

/// Whether a budget selects `pod` (same namespace, a non-empty selector matching its labels).
pub fn selects(pdb: &Value, pod: &Value) -> bool {
    let sel = pdb.pointer("/spec/selector");
    let empty = sel.is_none_or(|s| {
        s.get("matchLabels")
            .and_then(Value::as_object)
            .is_none_or(|m| m.is_empty())
            && s.get("matchExpressions")
                .and_then(Value::as_array)
                .is_none_or(|e| e.is_empty())
    });
    !empty
        && pdb.pointer("/metadata/namespace") == pod.pointer("/metadata/namespace")
        && LabelSelector::from_object(sel).is_some_and(|s| s.matches_object(pod))
}

/// POST `pods/<name>/eviction`.
pub fn create(inner: &Inner, t: &Target, body: &[u8]) -> ApiResult<(u16, Value)> {
    let name = t.name.clone().unwrap_or_default();
    let ns = t.namespace.clone().unwrap_or_default();
    let eviction: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding Eviction: {e}")))?;
    if let Some(kind) = eviction.get("kind").and_then(Value::as_str) {
        if kind != "Eviction" {
            return Err(ApiError::bad_request(format!(
                "not a Eviction object: {kind}"
            )));
        }
    }
    if eviction.pointer("/metadata/name").and_then(Value::as_str) != Some(name.as_str()) {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let mut st = inner.lock();
    let out = evict(&mut st, &t.rt, &t.version, &ns, &name);
    let rv = st.revision();
    drop(st);
    inner.notify(rv);
    out
}

fn evict(
    st: &mut Store,
    pods: &ResourceType,
    version: &str,
    ns: &str,
    name: &str,
) -> ApiResult<(u16, Value)> {
    let pod = st
        .get(&GroupResource::new("", "pods"), ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found("", "pods", name))?;
    let success = || {
        (
            201,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
        )
    };
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending");
    if matches!(phase, "Pending" | "Succeeded" | "Failed")
        || pod.pointer("/metadata/deletionTimestamp").is_some()
    {
        verbs::delete_object(st, pods, version, ns, name)?;
        return Ok(success());
    }
    let budgets: Vec<Value> = st
        .list(&pdb_gr(), Some(ns))
        .into_iter()
        .filter(|pdb| selects(pdb, &pod))
        .cloned()
        .collect();
    match budgets.as_slice() {
        [] => {}
        [pdb] => {
            let healthy = int(pdb, "/status/currentHealthy");
            let desired = int(pdb, "/status/desiredHealthy");
            let unready_may_go = !pod_ready(&pod)
                && (pdb.pointer("/spec/unhealthyPodEvictionPolicy") == Some(&json!("AlwaysAllow"))
                    || (healthy >= desired && desired > 0));
            if !unready_may_go {
                check_and_decrement(st, pdb, name)?;
            }
        }
        _ => {
            return Ok((
                500,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 500,
                    "message": "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."}),
            ))
        }
    }
    verbs::delete_object(st, pods, version, ns, name)?;
    Ok(success())
}

/// Takes one disruption from `pdb` for pod `pod_name`, or refuses (429/403) as `checkAndDecrement` does.
fn check_and_decrement(st: &mut Store, pdb: &Value, pod_name: &str) -> ApiResult<()> {
    let pdb_name = pdb
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if int(pdb, "/status/observedGeneration") < int(pdb, "/metadata/generation") {
        return Err(ApiError::disruption_budget(
            format!("The disruption budget {pdb_name} is still being processed by the server."),
            10,
        ));
    }
    let allowed = int(pdb, "/status/disruptionsAllowed");
    if allowed < 0 {
        return Err(ApiError::forbidden(format!(
            "poddisruptionbudgets.policy \"{pdb_name}\" is forbidden: pdb disruptions allowed is negative"
        )));
    }
    let disrupted = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object)
        .map_or(0, |m| m.len());
    if disrupted > MAX_DISRUPTED_PODS {
        return Err(ApiError::forbidden(format!(
            "poddisruptionbudgets.policy \"{pdb_name}\" is forbidden: DisruptedPods map too big - too many evictions not confirmed by PDB controller"
        )));
    }
    if allowed == 0 {
        return Err(ApiError::disruption_budget(
            format!(
                "The disruption budget {pdb_name} needs {} healthy pods and has {} currently",
                int(pdb, "/status/desiredHealthy"),
                int(pdb, "/status/currentHealthy")
            ),
            0,
        ));
    }
    let mut status = pdb.get("status").cloned().unwrap_or(json!({}));
    status["disruptionsAllowed"] = json!(allowed - 1);
    if allowed - 1 == 0 {
        super::controllers::disruption::set_allowed_condition(&mut status, false);
    }
    if !status["disruptedPods"].is_object() {
        status["disruptedPods"] = json!({});
    }
    status["disruptedPods"][pod_name] = json!(timefmt::now());
    if let Some(rt) = rt(st, "policy", "poddisruptionbudgets") {
        write_status(st, &rt, pdb, status, "kube-apiserver");
    }
    Ok(())
}
