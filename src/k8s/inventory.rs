//! The inventory of objects a resource owns: `(apiVersion, kind, namespace, name)` tuples kept in Terraform state
//! as JSON, so that an update deletes what is no longer wanted, drift can be read back, and destroy deletes exactly
//! what is owned (and nothing else).

use std::collections::BTreeSet;
use std::fmt;

use kube::api::{DeleteParams, DynamicObject, PropagationPolicy};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::apply::{apply_rank, Applier};
use super::error::{Error, Result};

/// One Kubernetes object, by identity. Ordered by apiVersion, kind, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// `group/version`, or `v1` for the core group.
    pub api_version: String,
    /// The kind, e.g. `Deployment`.
    pub kind: String,
    /// The namespace; `None` for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectRef {
    /// A reference from parts.
    pub fn new(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Self {
        ObjectRef {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        }
    }

    /// The identity of an object. Errors with [`Error::InvalidObject`] when apiVersion, kind or name is missing.
    pub fn of(obj: &DynamicObject) -> Result<Self> {
        let types = obj
            .types
            .as_ref()
            .ok_or_else(|| Error::InvalidObject("an object has no apiVersion/kind".into()))?;
        let name = obj
            .metadata
            .name
            .as_deref()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                Error::InvalidObject(format!("a {} has no metadata.name", types.kind))
            })?;
        Ok(ObjectRef::new(
            &types.api_version,
            &types.kind,
            obj.metadata.namespace.as_deref(),
            name,
        ))
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// A set of owned objects, serialized as a JSON array of [`ObjectRef`] (stable order).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Inventory {
    objects: BTreeSet<ObjectRef>,
}

impl Inventory {
    /// An inventory of the given references.
    pub fn new(refs: impl IntoIterator<Item = ObjectRef>) -> Self {
        Inventory {
            objects: refs.into_iter().collect(),
        }
    }

    /// The inventory of a list of objects; errors like [`ObjectRef::of`].
    pub fn of_objects(objects: &[DynamicObject]) -> Result<Self> {
        objects
            .iter()
            .map(ObjectRef::of)
            .collect::<Result<BTreeSet<_>>>()
            .map(|objects| Inventory { objects })
    }

    /// JSON text, e.g. `[{"apiVersion":"v1","kind":"Namespace","name":"argocd"}]`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "[]".to_string())
    }

    /// Parses [`Inventory::to_json`] output; an empty string is an empty inventory.
    pub fn from_json(text: &str) -> Result<Self> {
        if text.trim().is_empty() {
            return Ok(Inventory::default());
        }
        serde_json::from_str(text)
            .map_err(|e| Error::InvalidObject(format!("inventory JSON does not parse: {e}")))
    }

    /// The references, ordered.
    pub fn iter(&self) -> impl Iterator<Item = &ObjectRef> {
        self.objects.iter()
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// True when nothing is owned.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// True when `r` is owned.
    pub fn contains(&self, r: &ObjectRef) -> bool {
        self.objects.contains(r)
    }

    /// Adds references.
    pub fn extend(&mut self, refs: impl IntoIterator<Item = ObjectRef>) {
        self.objects.extend(refs);
    }

    /// Objects owned here but absent from `next`: what an update must delete.
    pub fn stale(&self, next: &Inventory) -> Vec<ObjectRef> {
        self.objects.difference(&next.objects).cloned().collect()
    }
}

/// How dependents of a deleted object are handled (Kubernetes `propagationPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Dependents are deleted in the background after the owner.
    Background,
    /// The owner stays (with `deletionTimestamp`) until its dependents are gone.
    Foreground,
    /// Dependents are kept.
    Orphan,
}

impl Propagation {
    fn params(self) -> DeleteParams {
        let policy = match self {
            Propagation::Background => PropagationPolicy::Background,
            Propagation::Foreground => PropagationPolicy::Foreground,
            Propagation::Orphan => PropagationPolicy::Orphan,
        };
        DeleteParams {
            propagation_policy: Some(policy),
            ..DeleteParams::default()
        }
    }
}

/// Deletes exactly `refs`, in reverse dependency order (workloads first, CRDs and Namespaces last). Objects that
/// are already gone, or whose kind is no longer served, count as deleted. Returns the references that were deleted
/// by this call.
///
/// Errors: the first API failure other than 404.
pub async fn delete_objects(
    applier: &Applier,
    refs: &[ObjectRef],
    propagation: Propagation,
) -> Result<Vec<ObjectRef>> {
    let mut done = Vec::new();
    let mut deleted = Vec::new();
    delete_objects_into(applier, refs, propagation, &mut done, &mut deleted).await?;
    Ok(deleted)
}

/// [`delete_objects`], recording progress as it goes (also when it fails): `done` receives every reference that
/// no longer exists (deleted by this call, or already gone), `deleted` those this call deleted.
pub async fn delete_objects_into(
    applier: &Applier,
    refs: &[ObjectRef],
    propagation: Propagation,
    done: &mut Vec<ObjectRef>,
    deleted: &mut Vec<ObjectRef>,
) -> Result<()> {
    let mut ordered = refs.to_vec();
    ordered.sort_by_key(|r| std::cmp::Reverse(apply_rank(&r.api_version, &r.kind)));
    for r in ordered {
        let api = match applier.api_for(&r).await {
            Ok(api) => api,
            Err(e) if e.is_not_found() => {
                done.push(r);
                continue;
            }
            Err(e) => return Err(e),
        };
        let outcome = applier
            .request("delete", || async {
                match api.delete(&r.name, &propagation.params()).await {
                    Ok(_) => Ok(true),
                    Err(e) if super::error::is_not_found(&e) => Ok(false),
                    Err(e) => Err(Error::api("delete", r.to_string(), e)),
                }
            })
            .await?;
        if outcome {
            tracing::info!(object = %r, "deleted");
            deleted.push(r.clone());
        }
        done.push(r);
    }
    Ok(())
}

/// The live object, or `None` when it does not exist (or its kind is no longer served).
pub async fn read_live(applier: &Applier, r: &ObjectRef) -> Result<Option<DynamicObject>> {
    let api = match applier.api_for(r).await {
        Ok(api) => api,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    applier
        .request("get", || async {
            api.get_opt(&r.name)
                .await
                .map_err(|e| Error::api("get", r.to_string(), e))
        })
        .await
}

/// The JSON paths (e.g. `spec.source.targetRevision`) where `live` no longer holds what was `sent` by server-side
/// apply. Only the fields present in `sent` are compared, so fields defaulted or added by the API server and by
/// other field managers are not drift. Arrays must keep their length; their items are compared the same way.
/// `metadata` keys other than labels and annotations are ignored.
pub fn drift(sent: &Value, live: &Value) -> Vec<String> {
    let mut out = Vec::new();
    compare("", sent, live, &mut out);
    out
}

fn compare(path: &str, sent: &Value, live: &Value, out: &mut Vec<String>) {
    match (sent, live) {
        (Value::Object(s), Value::Object(l)) => {
            for (key, sv) in s {
                if path == "metadata" && !matches!(key.as_str(), "labels" | "annotations") {
                    continue;
                }
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match l.get(key) {
                    Some(lv) => compare(&child, sv, lv, out),
                    None if sv.is_null() => {}
                    None => out.push(child),
                }
            }
        }
        (Value::Array(s), Value::Array(l)) => {
            if s.len() != l.len() {
                out.push(path.to_string());
                return;
            }
            // Lists of objects are associative lists keyed by a merge key (containers, ports, env, volumes): the API
            // server keeps their items in its merge order, which after an upgrade that changes keys need not be the
            // order sent (structured-merge-diff), so an item that holds what was sent at another index is no drift.
            // Lists of scalars (args, command) keep their order.
            let unordered = s.iter().all(Value::is_object);
            for (i, (sv, lv)) in s.iter().zip(l).enumerate() {
                let item = format!("{path}[{i}]");
                let mut here = Vec::new();
                compare(&item, sv, lv, &mut here);
                if here.is_empty() {
                    continue;
                }
                let elsewhere = unordered
                    && l.iter().any(|other| {
                        let mut found = Vec::new();
                        compare(&item, sv, other, &mut found);
                        found.is_empty()
                    });
                if !elsewhere {
                    out.extend(here);
                }
            }
        }
        (Value::Number(s), Value::Number(l)) => {
            if s.as_f64() != l.as_f64() {
                out.push(path.to_string());
            }
        }
        (s, l) => {
            if s != l {
                out.push(path.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(kind: &str, ns: Option<&str>, name: &str) -> ObjectRef {
        ObjectRef::new("v1", kind, ns, name)
    }

    #[test]
    fn inventory_round_trips_json_and_diffs() {
        let old = Inventory::new([
            r("ConfigMap", Some("a"), "x"),
            r("Namespace", None, "a"),
            r("Secret", Some("a"), "s"),
        ]);
        let text = old.to_json();
        assert!(text.starts_with("[{\"apiVersion\":\"v1\""), "{text}");
        assert!(!text.contains("\"namespace\":null"));
        assert_eq!(Inventory::from_json(&text).unwrap(), old);
        let next = Inventory::new([r("Namespace", None, "a"), r("Secret", Some("a"), "s")]);
        assert_eq!(old.stale(&next), vec![r("ConfigMap", Some("a"), "x")]);
        assert!(next.stale(&old).is_empty());
        assert!(Inventory::from_json("").unwrap().is_empty());
        assert!(Inventory::from_json("{").is_err());
    }

    #[test]
    fn object_ref_needs_kind_and_name() {
        let obj: DynamicObject =
            serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}}))
                .unwrap();
        assert_eq!(ObjectRef::of(&obj).unwrap().to_string(), "ConfigMap n/c");
        let nameless: DynamicObject = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}),
        )
        .unwrap();
        assert!(ObjectRef::of(&nameless)
            .unwrap_err()
            .to_string()
            .contains("ConfigMap has no metadata.name"));
    }

    #[test]
    fn drift_matches_list_items_of_objects_in_any_order() {
        let sent = serde_json::json!({"ports": [{"containerPort": 9963, "name": "prometheus"},
                                                {"containerPort": 9234, "name": "health"}],
                                      "args": ["a", "b"]});
        let reordered = serde_json::json!({"ports": [{"containerPort": 9234, "name": "health", "protocol": "TCP"},
                                                     {"containerPort": 9963, "name": "prometheus", "protocol": "TCP"}],
                                           "args": ["a", "b"]});
        assert!(drift(&sent, &reordered).is_empty());
        let changed = serde_json::json!({"ports": [{"containerPort": 9963, "name": "prometheus"},
                                                   {"containerPort": 9235, "name": "health"}],
                                         "args": ["b", "a"]});
        assert_eq!(
            drift(&sent, &changed),
            ["ports[1].containerPort", "args[0]", "args[1]"]
        );
    }

    #[test]
    fn drift_compares_only_sent_fields() {
        let sent = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"replicas": 2, "template": {"containers": [{"name": "c", "image": "i:1"}]}}});
        let same = json!({"metadata": {"name": "a", "uid": "u", "labels": {"x": "1", "extra": "y"}}, "spec": {"replicas": 2.0, "template": {"containers": [{"name": "c", "image": "i:1", "imagePullPolicy": "IfNotPresent"}]}}, "status": {}});
        assert!(drift(&sent, &same).is_empty());
        let changed = json!({"metadata": {"name": "a", "labels": {}}, "spec": {"replicas": 3, "template": {"containers": [{"name": "c", "image": "i:2"}]}}});
        assert_eq!(
            drift(&sent, &changed),
            vec![
                "metadata.labels.x",
                "spec.replicas",
                "spec.template.containers[0].image"
            ]
        );
        let fewer = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"replicas": 2, "template": {"containers": []}}});
        assert_eq!(drift(&sent, &fewer), vec!["spec.template.containers"]);
    }
}
