//! Server-side apply and managedFields, following the Kubernetes server-side apply documentation and
//! k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager: one `managedFields` entry per (manager, operation,
//! subresource); Apply conflicts with other managers owning a field to a different value (409 unless force,
//! which takes ownership); fields an applier stops applying are removed unless another manager owns them;
//! Update operations (create, update, non-apply patch) take ownership of what they change without conflicts.

use serde_json::{json, Map, Value};

use super::errors::ApiError;
use super::fields::{display, fields_of, remove_at, value_at, FieldSet, ListKind, Path, Shape};
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

/// Applies `config` (already checked for apiVersion/kind/name) over `live` (None when creating) for `manager`.
/// Returns the new object with its managedFields, or a 409 conflict listing each contested field.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    scope: Scope,
    api_version: &str,
    shape: &Shape,
) -> Result<Value, ApiError> {
    let sub = scope.subresource();
    let mut obj = live.cloned().unwrap_or_else(|| json!({"metadata": {}}));
    let mut list = entries(&obj);
    let cfg = trackable(config, scope);
    let new_set = fields_of(&cfg, shape, false);
    let old_set = list
        .iter()
        .find(|e| e.same_slot(manager, "Apply", sub))
        .map(|e| e.fields.clone())
        .unwrap_or_default();

    // Conflicts: another manager owns a field this config sets to a different value.
    let mut conflicts: Vec<(usize, Path)> = vec![];
    let new_paths = new_set.paths();
    for (i, e) in list.iter().enumerate() {
        if e.same_slot(manager, "Apply", sub) {
            continue;
        }
        for p in new_paths.iter().cloned() {
            if e.fields.has(&p) && value_at(&obj, &p) != value_at(&cfg, &p) {
                conflicts.push((i, p));
            }
        }
    }
    if !conflicts.is_empty() {
        if !force {
            return Err(conflict_error(&list, &conflicts));
        }
        for (i, p) in &conflicts {
            list[*i].fields.remove(p);
        }
    }

    // Fields this manager applied before and no longer does: removed unless someone else still owns them.
    let mut dropped = old_set.difference(&new_set);
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in dropped {
        let others = list
            .iter()
            .any(|e| !e.same_slot(manager, "Apply", sub) && e.fields.has_prefix(&p));
        if !others && !new_set.has_prefix(&p) {
            remove_at(&mut obj, &p);
        }
    }

    merge(&mut obj, &cfg, shape);

    let now = timefmt::now();
    let entry = Entry {
        manager: manager.to_string(),
        operation: "Apply".into(),
        api_version: api_version.to_string(),
        time: now,
        subresource: sub.to_string(),
        fields: new_set,
    };
    match list.iter_mut().find(|e| e.same_slot(manager, "Apply", sub)) {
        Some(e) => *e = entry,
        None => list.push(entry),
    }
    set_entries(&mut obj, list);
    Ok(obj)
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

/// Merges an applied configuration into an object: maps field by field (null removes), associative lists by
/// key, sets by value, everything else replaced.
pub fn merge(live: &mut Value, cfg: &Value, shape: &Shape) {
    match (live.as_object_mut(), cfg.as_object()) {
        (Some(l), Some(c)) if !shape.atomic_map() => {
            for (k, v) in c {
                if v.is_null() {
                    l.remove(k);
                    continue;
                }
                match l.get_mut(k) {
                    Some(lv) => merge(lv, v, &shape.field(k)),
                    None => {
                        l.insert(k.clone(), v.clone());
                    }
                }
            }
            return;
        }
        _ => {}
    }
    if let (Some(l), Some(c)) = (live.as_array(), cfg.as_array()) {
        match shape.list_kind() {
            ListKind::Map(keys) => {
                let same =
                    |cfg_item: &Value, live_item: &Value| same_key(&keys, cfg_item, live_item);
                let mut out = vec![];
                for ci in c {
                    let mut item = ci.clone();
                    if let Some(li) = l.iter().find(|li| same(ci, li)) {
                        item = li.clone();
                        merge(&mut item, ci, &shape.item());
                    }
                    out.push(item);
                }
                for li in l {
                    if !c.iter().any(|ci| same(ci, li)) {
                        out.push(li.clone());
                    }
                }
                *live = Value::Array(out);
                return;
            }
            ListKind::Set => {
                let mut out = c.clone();
                out.extend(l.iter().filter(|li| !c.contains(li)).cloned());
                *live = Value::Array(out);
                return;
            }
            ListKind::Atomic => {}
        }
    }
    *live = cfg.clone();
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

/// Records an Update operation by `manager` that turned `old` (None on create) into `new`: the manager takes the
/// fields it set or changed; other managers lose them; removed fields leave every set. Writes managedFields of
/// `new`. A request that itself rewrites managedFields keeps what it wrote (`[{}]` clears them, as upstream).
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
    let old_set = fields_of(&before, shape, true);
    let new_set = fields_of(&after, shape, true);
    let changed: Vec<Path> = new_set
        .paths()
        .into_iter()
        .filter(|p| {
            let leaf = value_at(&after, p).is_some_and(|v| {
                !(v.is_object() || v.is_array()) || !new_set_has_children(&new_set, p)
            });
            if leaf {
                value_at(&before, p) != value_at(&after, p)
            } else {
                !old_set.has(p) && value_at(&before, p).is_none()
            }
        })
        .collect();
    let removed = old_set.difference(&new_set);
    for e in list.iter_mut() {
        for p in changed.iter().chain(removed.iter()) {
            if !e.same_slot(manager, "Update", sub) || removed.contains(p) {
                e.fields.remove(p);
            }
        }
    }
    if !changed.is_empty() {
        let idx = match list
            .iter()
            .position(|e| e.same_slot(manager, "Update", sub))
        {
            Some(i) => i,
            None => {
                list.push(Entry {
                    manager: manager.to_string(),
                    operation: "Update".into(),
                    api_version: api_version.to_string(),
                    time: String::new(),
                    subresource: sub.to_string(),
                    fields: FieldSet::default(),
                });
                list.len() - 1
            }
        };
        let e = &mut list[idx];
        for p in &changed {
            e.fields.insert(p);
        }
        e.time = timefmt::now();
        e.api_version = api_version.to_string();
    }
    set_entries(new, list);
}

fn new_set_has_children(set: &FieldSet, p: &[String]) -> bool {
    let mut n = set;
    for el in p {
        match n.children.get(el) {
            Some(c) => n = c,
            None => return false,
        }
    }
    !n.children.is_empty()
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
        assert!(!alice.fields.has(&["f:data".into(), "f:k".into()]));
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
