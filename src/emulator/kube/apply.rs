//! Server-side apply and managedFields, following the Kubernetes server-side apply documentation and
//! k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager: one `managedFields` entry per (manager, operation,
//! subresource); Apply conflicts with other managers owning a field to a different value (409 unless force,
//! which takes ownership); fields an applier stops applying are removed unless another manager owns them;
//! Update operations (create, update, non-apply patch) take ownership of what they change without conflicts.

use serde_json::{json, Map, Value};

use super::errors::ApiError;
use super::fields::{display, FieldSet, Path, Shape};
use super::smd;
use super::timefmt;

/// One managedFields entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    pub api_version: String,
    pub time: String,
    /// `""` for the main resource, `status` for the status subresource.
    pub subresource: String,
    pub fields: FieldSet,
}

impl Entry {
    fn same_slot(&self, manager: &str, operation: &str, subresource: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource == subresource
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "manager": self.manager, "operation": self.operation, "apiVersion": self.api_version,
            "time": self.time, "fieldsType": "FieldsV1", "fieldsV1": self.fields.to_v1(),
        });
        if !self.subresource.is_empty() {
            v["subresource"] = json!(self.subresource);
        }
        v
    }

    /// How conflict messages name the manager (k8s.io/apiserver fieldmanager `printManager`).
    fn printed(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == "Update" {
            s.push_str(&format!(" using {}", self.api_version));
            if !self.time.is_empty() {
                s.push_str(&format!(" at {}", self.time));
            }
        }
        s
    }
}

/// Parses `metadata.managedFields`.
pub fn entries(obj: &Value) -> Vec<Entry> {
    let s = |e: &Value, k: &str| {
        e.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| Entry {
                    manager: s(e, "manager"),
                    operation: s(e, "operation"),
                    api_version: s(e, "apiVersion"),
                    time: s(e, "time"),
                    subresource: s(e, "subresource"),
                    fields: FieldSet::from_v1(e.get("fieldsV1").unwrap_or(&Value::Null)),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn set_entries(obj: &mut Value, list: Vec<Entry>) {
    let arr: Vec<Value> = list
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(Entry::to_json)
        .collect();
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if arr.is_empty() {
            m.remove("managedFields");
        } else {
            m.insert("managedFields".into(), Value::Array(arr));
        }
    }
}

/// Which part of the object a request writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scope {
    /// The main resource; `status_ignored` when the type has a status subresource.
    Main { status_ignored: bool },
    /// The `/status` subresource.
    Status,
}

impl Scope {
    fn subresource(self) -> &'static str {
        match self {
            Scope::Main { .. } => "",
            Scope::Status => "status",
        }
    }
}

/// The part of an object that managers own: apiVersion, kind and system metadata are not tracked; for the
/// main resource of a type with a status subresource, status is not either; for `/status`, only status is.
pub fn trackable(obj: &Value, scope: Scope) -> Value {
    let mut v = obj.clone();
    let Some(m) = v.as_object_mut() else {
        return Value::Object(Map::new());
    };
    for k in ["apiVersion", "kind"] {
        m.remove(k);
    }
    match scope {
        Scope::Main { status_ignored } => {
            if status_ignored {
                m.remove("status");
            }
        }
        Scope::Status => m.retain(|k, _| k == "status"),
    }
    if let Some(md) = m.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "managedFields",
            "selfLink",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generateName",
        ] {
            md.remove(k);
        }
        if md.is_empty() {
            m.remove("metadata");
        }
    }
    v
}

/// The object a request produces from the tracked part `tracked` (see [`trackable`]): apiVersion and kind from
/// `config` (else `live`), system metadata from `live`, and what the scope does not track from `live`.
fn reassemble(live: &Value, config: &Value, tracked: Value, scope: Scope) -> Value {
    let mut out = match tracked {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for k in ["apiVersion", "kind"] {
        if let Some(v) = config.get(k).or_else(|| live.get(k)) {
            out.insert(k.into(), v.clone());
        }
    }
    match scope {
        Scope::Main { status_ignored } => {
            if status_ignored {
                out.remove("status");
                if let Some(st) = live.get("status") {
                    out.insert("status".into(), st.clone());
                }
            }
        }
        Scope::Status => {
            if let Some(l) = live.as_object() {
                for (k, v) in l {
                    if k != "status" && k != "metadata" {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
        }
    }
    let mut md = out
        .remove("metadata")
        .and_then(|m| match m {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default();
    if let Some(lm) = live.get("metadata").and_then(Value::as_object) {
        let tracked_md = trackable(
            &json!({"metadata": lm}),
            Scope::Main {
                status_ignored: false,
            },
        );
        for (k, v) in lm {
            let is_tracked = tracked_md.pointer(&format!("/metadata/{k}")).is_some();
            if !is_tracked || scope == Scope::Status {
                md.insert(k.clone(), v.clone());
            }
        }
    }
    out.insert("metadata".into(), Value::Object(md));
    Value::Object(out)
}

/// Applies `config` (already checked for apiVersion/kind/name) over `live` (None when creating) for `manager`,
/// as structured-merge-diff's `Updater.Apply` does (merge/update.go@v4.1.2): merge, then prune what the manager
/// applied last time and no longer applies unless another manager owns it, then take ownership of the applied
/// fields; fields other managers own that the result adds or changes conflict (409 unless `force`, which takes
/// them); fields it removes leave every set. Returns the new object with its managedFields.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    scope: Scope,
    api_version: &str,
    shape: &Shape,
) -> Result<Value, ApiError> {
    apply_checked(live, config, manager, force, scope, api_version, shape)
        .map_err(|(list, conflicts)| conflict_error(&list, &conflicts))
}

/// The entries of an object and the (entry index, path) conflicts of a refused apply.
pub type Conflicts = (Vec<Entry>, Vec<(usize, Path)>);

/// [`apply`], with a refusal as the managers and the contested paths.
pub fn apply_checked(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    scope: Scope,
    api_version: &str,
    shape: &Shape,
) -> Result<Value, Conflicts> {
    let sub = scope.subresource();
    let base = live.cloned().unwrap_or_else(|| json!({"metadata": {}}));
    let mut list = entries(&base);
    let live_t = trackable(&base, scope);
    let cfg = trackable(config, scope);
    let merged = smd::merge(Some(&live_t), Some(&cfg), shape).unwrap_or_else(|| json!({}));
    let new_set = smd::to_set(&cfg, shape).strip_meta();
    let mine = list.iter().position(|e| e.same_slot(manager, "Apply", sub));
    let last_set = mine.map(|i| list[i].fields.clone());
    let mut managed_union = new_set.clone();
    for (i, e) in list.iter().enumerate() {
        if Some(i) != mine {
            managed_union = managed_union.union(&e.fields);
        }
    }
    let mut new_t = match last_set.filter(|s| !s.is_empty()) {
        Some(last) => prune(&merged, &last, &managed_union, shape),
        None => merged,
    };
    let cmp = smd::compare(&live_t, &new_t, shape);
    smd::strip_nulls(&mut new_t);
    let changed = cmp.modified.union(&cmp.added);
    let mut conflicts: Vec<(usize, Path)> = vec![];
    for (i, e) in list.iter().enumerate() {
        if Some(i) == mine {
            continue;
        }
        for p in e.fields.intersection(&changed).paths() {
            conflicts.push((i, p));
        }
    }
    if !conflicts.is_empty() && !force {
        return Err((list, conflicts));
    }
    for (i, e) in list.iter_mut().enumerate() {
        if Some(i) != mine {
            e.fields = e.fields.minus(&changed).minus(&cmp.removed);
        }
    }
    let entry = Entry {
        manager: manager.to_string(),
        operation: "Apply".into(),
        api_version: api_version.to_string(),
        time: timefmt::now(),
        subresource: sub.to_string(),
        fields: new_set,
    };
    match mine {
        Some(i) => list[i] = entry,
        None => list.push(entry),
    }
    let mut obj = reassemble(&base, config, new_t, scope);
    set_entries(&mut obj, list);
    Ok(obj)
}

/// structured-merge-diff's `Updater.prune` (merge/update.go@v4.1.2): removes from `merged` what `last` (the
/// applier's previous set) holds, adds back what anyone (`managed`, including the applier's new set) owns, and
/// never removes what `last` did not hold.
fn prune(merged: &Value, last: &FieldSet, managed: &FieldSet, shape: &Shape) -> Value {
    let empty = || json!({});
    let last_n = smd::ensure_named(last, shape);
    let pruned = smd::remove_items(merged, &last_n, shape).unwrap_or_else(empty);
    // addBackOwnedItems
    let merged_set = smd::ensure_named(&smd::to_set(merged, shape), shape);
    let pruned_set = smd::ensure_named(&smd::to_set(&pruned, shape), shape);
    let keep = pruned_set.union(&smd::ensure_named(managed, shape));
    let pruned = smd::remove_items(merged, &merged_set.minus(&keep), shape).unwrap_or_else(empty);
    // addBackDanglingItems
    let pruned_set = smd::ensure_named(&smd::to_set(&pruned, shape), shape);
    let drop = merged_set.minus(&pruned_set).intersection(&last_n);
    smd::remove_items(merged, &drop, shape).unwrap_or_else(empty)
}

fn conflict_error(list: &[Entry], conflicts: &[(usize, Path)]) -> ApiError {
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(i, p)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", list[*i].printed()), "field": display(p)}))
        .collect();
    let message = if let [(i, p)] = conflicts {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            list[*i].printed(),
            display(p)
        )
    } else {
        let mut managers: Vec<(String, Vec<String>)> = vec![];
        for (i, p) in conflicts {
            let m = list[*i].printed();
            match managers.iter_mut().find(|(n, _)| *n == m) {
                Some((_, ps)) => ps.push(display(p)),
                None => managers.push((m, vec![display(p)])),
            }
        }
        managers.sort_by(|a, b| a.0.cmp(&b.0));
        let mut lines = vec![];
        for (m, ps) in managers {
            lines.push(format!("conflicts with {m}:"));
            lines.extend(ps.into_iter().map(|p| format!("- {p}")));
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    ApiError::apply_conflict(message, causes)
}

/// Whether a configured list item and a live one have the same key. Key fields the configuration leaves out
/// match anything (the API server defaults them, e.g. `protocol: TCP` of ports, before merging).
pub fn same_key(keys: &[String], cfg_item: &Value, live_item: &Value) -> bool {
    let present: Vec<&String> = keys
        .iter()
        .filter(|k| cfg_item.get(k.as_str()).is_some())
        .collect();
    !present.is_empty()
        && present
            .iter()
            .all(|k| cfg_item.get(k.as_str()) == live_item.get(k.as_str()))
}

/// Records an Update operation by `manager` that turned `old` (None on create) into `new`, as
/// structured-merge-diff's `Updater.Update` does (merge/update.go@v4.1.2): the fields it added or changed are
/// taken from every other manager and become the manager's; removed fields leave every set. Writes managedFields
/// of `new`. A request that itself rewrites managedFields keeps what it wrote (`[{}]` clears them, as upstream).
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    scope: Scope,
    api_version: &str,
    shape: &Shape,
) {
    let empty = json!({});
    let old_obj = old.unwrap_or(&empty);
    let written = new.pointer("/metadata/managedFields").cloned();
    if old.is_some()
        && written.is_some()
        && written.as_ref() != old_obj.pointer("/metadata/managedFields")
    {
        let cleared = written
            .as_ref()
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().all(|e| e.as_object().is_some_and(Map::is_empty)));
        if cleared {
            if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("managedFields");
            }
        }
        return;
    }
    let sub = scope.subresource();
    let mut list = entries(old_obj);
    let before = trackable(old_obj, scope);
    let after = trackable(new, scope);
    let cmp = smd::compare(&before, &after, shape);
    let changed = cmp.modified.union(&cmp.added);
    let mine = list
        .iter()
        .position(|e| e.same_slot(manager, "Update", sub));
    for (i, e) in list.iter_mut().enumerate() {
        if Some(i) != mine {
            e.fields = e.fields.minus(&changed).minus(&cmp.removed);
        }
    }
    let own = mine.map(|i| list[i].fields.clone()).unwrap_or_default();
    let fields = own.union(&changed).minus(&cmp.removed).strip_meta();
    let entry = Entry {
        manager: manager.to_string(),
        operation: "Update".into(),
        api_version: api_version.to_string(),
        time: timefmt::now(),
        subresource: sub.to_string(),
        fields,
    };
    match mine {
        Some(i) => {
            if !changed.is_empty() || list[i].fields != entry.fields {
                list[i] = entry;
            }
        }
        None => list.push(entry),
    }
    set_entries(new, list);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "d"}, "data": data})
    }

    #[test]
    fn two_appliers_conflict_then_force_takes_ownership() {
        let shape = Shape::builtin();
        let main = Scope::Main {
            status_ignored: false,
        };
        let a = apply(
            None,
            &cm(json!({"k": "1", "a": "x"})),
            "alice",
            false,
            main,
            "v1",
            &shape,
        )
        .unwrap();
        let err = apply(
            Some(&a),
            &cm(json!({"k": "2"})),
            "bob",
            false,
            main,
            "v1",
            &shape,
        )
        .unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"alice\": .data.k"
        );
        assert_eq!(err.details.unwrap()["causes"][0]["field"], ".data.k");
        // Same value: shared ownership, no conflict.
        let shared = apply(
            Some(&a),
            &cm(json!({"k": "1"})),
            "bob",
            false,
            main,
            "v1",
            &shape,
        )
        .unwrap();
        assert_eq!(entries(&shared).len(), 2);
        let forced = apply(
            Some(&a),
            &cm(json!({"k": "2"})),
            "bob",
            true,
            main,
            "v1",
            &shape,
        )
        .unwrap();
        assert_eq!(forced["data"], json!({"k": "2", "a": "x"}));
        let alice = entries(&forced)
            .into_iter()
            .find(|e| e.manager == "alice")
            .unwrap();
        assert!(alice.fields.to_v1().pointer("/f:data/f:k").is_none());
        // alice stops applying `a` and `k`: `a` goes, `k` stays (bob owns it).
        let after = apply(
            Some(&forced),
            &cm(json!({})),
            "alice",
            false,
            main,
            "v1",
            &shape,
        )
        .unwrap();
        assert_eq!(after["data"], json!({"k": "2"}));
    }

    #[test]
    fn update_takes_ownership_and_then_conflicts_with_apply() {
        let shape = Shape::builtin();
        let main = Scope::Main {
            status_ignored: false,
        };
        let a = apply(
            None,
            &cm(json!({"k": "1"})),
            "alice",
            false,
            main,
            "v1",
            &shape,
        )
        .unwrap();
        let mut edited = a.clone();
        edited["data"]["k"] = json!("9");
        record_update(Some(&a), &mut edited, "kubectl-edit", main, "v1", &shape);
        let es = entries(&edited);
        assert!(es
            .iter()
            .any(|e| e.manager == "kubectl-edit" && e.operation == "Update"));
        let err = apply(
            Some(&edited),
            &cm(json!({"k": "1"})),
            "alice",
            false,
            main,
            "v1",
            &shape,
        )
        .unwrap_err();
        assert!(
            err.message.starts_with(
                "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using v1 at "
            ),
            "{}",
            err.message
        );
    }
}
