//! The `scale` subresource of Deployments, StatefulSets and ReplicaSets (what `kubectl scale` patches): an
//! `autoscaling/v1` `Scale` whose `spec.replicas` is the workload's, `status.replicas` its observed replicas and
//! `status.selector` its label selector as a string (k8s.io/kubernetes pkg/registry/apps/*/storage ScaleREST).
//! GET reads it; PUT and JSON/merge/strategic PATCH change the workload's `spec.replicas` (409 on a stale
//! `metadata.resourceVersion`, 422 on a negative count). Server-side apply of a Scale is not served (415).

use serde_json::{json, Value};

use super::apply::Scope;
use super::errors::{ApiError, ApiResult};
use super::fields::Shape;
use super::handlers::Target;
use super::patch::{apply_patch, PatchType};
use super::registry::ResourceType;
use super::verbs::{commit, gr, Ctx, Managed};
use super::Inner;

/// Whether `rt` serves `/scale`.
pub fn has_scale(rt: &ResourceType) -> bool {
    rt.crd.is_none()
        && rt.group == "apps"
        && matches!(
            rt.resource.as_str(),
            "deployments" | "statefulsets" | "replicasets"
        )
}

/// A label selector (`matchLabels`, `matchExpressions`) in its string form, e.g. `app=web,tier in (a,b)`.
fn selector_string(sel: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        let mut labels: Vec<_> = m.iter().collect();
        labels.sort_by(|a, b| a.0.cmp(b.0));
        for (k, v) in labels {
            parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = e["values"]
            .as_array()
            .map(|vs| vs.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        parts.push(match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "DoesNotExist" => format!("!{key}"),
            _ => key.to_string(),
        });
    }
    parts.join(",")
}

/// The Scale of a workload object.
fn to_scale(obj: &Value) -> Value {
    let md = &obj["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": md["name"],
            "namespace": md["namespace"],
            "uid": md["uid"],
            "resourceVersion": md["resourceVersion"],
            "creationTimestamp": md["creationTimestamp"],
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector_string(&obj["spec"]["selector"]),
        },
    })
}

fn parent(inner: &Inner, t: &Target) -> ApiResult<Value> {
    let name = t.name.as_deref().unwrap_or_default();
    inner
        .lock()
        .get(&gr(&t.rt), t.namespace.as_deref().unwrap_or_default(), name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&t.rt.group, &t.rt.resource, name))
}

/// GET `/scale`.
pub fn get(inner: &Inner, t: &Target) -> ApiResult<Value> {
    Ok(to_scale(&parent(inner, t)?))
}

/// PUT (`patch: None`, `body` a Scale) or PATCH (`patch: Some(kind)`) of `/scale`.
pub fn write(
    inner: &Inner,
    t: &Target,
    ctx: &Ctx,
    patch: Option<PatchType>,
    body: &[u8],
) -> ApiResult<(u16, Value)> {
    let name = t.name.clone().unwrap_or_default();
    let namespace = t.namespace.clone().unwrap_or_default();
    let mut st = inner.lock();
    let old = st
        .get(&gr(&t.rt), &namespace, &name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&t.rt.group, &t.rt.resource, &name))?;
    let current = to_scale(&old);
    let scale: Value = match patch {
        Some(PatchType::Apply) => return Err(ApiError::unsupported_media_type(&ctx.content_type)),
        Some(kind) => {
            let mut doc = current.clone();
            apply_patch(&mut doc, kind, body, &Shape::builtin())?;
            doc
        }
        None => serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding Scale: {e}")))?,
    };
    if scale.get("kind").is_some_and(|k| k != "Scale") {
        return Err(ApiError::bad_request(format!(
            "expected kind Scale, got {}",
            scale["kind"]
        )));
    }
    let stale = scale
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .is_some_and(|rv| {
            !rv.is_empty() && Some(rv) != current["metadata"]["resourceVersion"].as_str()
        });
    if stale {
        return Err(ApiError::conflict(
            &t.rt.group,
            &t.rt.resource,
            &name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    let replicas = match scale.pointer("/spec/replicas") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_i64()
            .filter(|n| *n >= 0 && *n <= i64::from(i32::MAX))
            .ok_or_else(|| {
                ApiError::invalid(
                    "Scale",
                    "autoscaling",
                    &name,
                    &[(
                        "spec.replicas".into(),
                        "FieldValueInvalid".into(),
                        format!("Invalid value: {v}: must be greater than or equal to 0"),
                    )],
                )
            })?,
    };
    let mut updated = old.clone();
    updated["spec"]["replicas"] = json!(replicas);
    let stored = commit(
        &mut st,
        &t.rt,
        &t.version,
        Some(&old),
        updated,
        Scope::Main {
            status_ignored: t.rt.status_subresource,
        },
        Managed::Update(&ctx.manager()),
        ctx.write_opts(),
    )?;
    let rv = st.revision();
    drop(st);
    inner.notify(rv);
    Ok((200, to_scale(&stored)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_strings() {
        let sel = json!({
            "matchLabels": {"tier": "web", "app": "shop"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["a", "b"]},
                {"key": "canary", "operator": "DoesNotExist"}
            ]
        });
        assert_eq!(
            selector_string(&sel),
            "app=shop,tier=web,env in (a,b),!canary"
        );
        let d = json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u", "resourceVersion": "7"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": 2}
        });
        let s = to_scale(&d);
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"], json!({"replicas": 2, "selector": "app=web"}));
    }
}
