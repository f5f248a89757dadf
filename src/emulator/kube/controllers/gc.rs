//! Garbage collection (k8s.io/kubernetes pkg/controller/garbagecollector) and namespace termination
//! (pkg/controller/namespace): dependents whose owners (by `ownerReferences[].uid`) are all gone are deleted
//! (background propagation); an owner with finalizer `foregroundDeletion` goes once its dependents are gone; an
//! owner with finalizer `orphan` first strips itself from its dependents' ownerReferences. A Terminating namespace
//! deletes everything in it, then goes.

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};

use super::{delete, remove_finalizer};
use crate::emulator::kube::store::{GroupResource, Store};
use crate::emulator::kube::verbs;

fn uid(o: &Value) -> String {
    o.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn owners(o: &Value) -> Vec<String> {
    o.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub fn reconcile(st: &mut Store) {
    namespaces(st);
    // Only objects with owners, or being deleted with a propagation finalizer, are cloned (the store can hold
    // megabytes of CRDs).
    let mut live: BTreeSet<String> = BTreeSet::new();
    let mut owned: Vec<(GroupResource, Value)> = vec![];
    let mut deleting: Vec<(GroupResource, Value)> = vec![];
    for (g, o) in st.all() {
        live.insert(uid(o));
        if o.pointer("/metadata/ownerReferences").is_some() {
            owned.push((g.clone(), o.clone()));
        }
        if o.pointer("/metadata/deletionTimestamp").is_some()
            && verbs::finalizers(o)
                .iter()
                .any(|f| f == "orphan" || f == "foregroundDeletion")
        {
            deleting.push((g, o.clone()));
        }
    }
    let mut dependents: HashMap<String, Vec<(GroupResource, Value)>> = HashMap::new();
    for (g, o) in &owned {
        for u in owners(o) {
            dependents
                .entry(u)
                .or_default()
                .push((g.clone(), o.clone()));
        }
    }
    for (g, o) in &owned {
        let own = owners(o);
        if !own.is_empty() && own.iter().all(|u| !live.contains(u)) {
            delete(st, g, o);
        }
    }
    for (g, o) in &deleting {
        let fins = verbs::finalizers(o);
        let deps = dependents.get(&uid(o)).cloned().unwrap_or_default();
        if fins.iter().any(|f| f == "orphan") {
            for (dg, d) in &deps {
                let mut nd = d.clone();
                let refs: Vec<Value> = d
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|r| r["uid"] != json!(uid(o)))
                    .collect();
                if refs.is_empty() {
                    if let Some(m) = nd["metadata"].as_object_mut() {
                        m.remove("ownerReferences");
                    }
                } else {
                    nd["metadata"]["ownerReferences"] = json!(refs);
                }
                st.put(dg, nd);
            }
            if let Some(cur) = current(st, g, o) {
                remove_finalizer(st, g, &cur, "orphan");
            }
        } else if fins.iter().any(|f| f == "foregroundDeletion") {
            let still: Vec<&(GroupResource, Value)> = deps
                .iter()
                .filter(|(dg, d)| current(st, dg, d).is_some())
                .collect();
            if still.is_empty() {
                if let Some(cur) = current(st, g, o) {
                    remove_finalizer(st, g, &cur, "foregroundDeletion");
                }
            } else {
                for (dg, d) in still.clone() {
                    delete(st, dg, d);
                }
            }
        }
    }
}

fn current(st: &Store, g: &GroupResource, o: &Value) -> Option<Value> {
    let (ns, name) = crate::emulator::kube::store::ns_name(o);
    st.get(g, &ns, &name).filter(|c| uid(c) == uid(o)).cloned()
}

fn namespaces(st: &mut Store) {
    let ns_gr = GroupResource::new("", "namespaces");
    let terminating: Vec<Value> = st
        .list(&ns_gr, None)
        .into_iter()
        .filter(|n| n.pointer("/metadata/deletionTimestamp").is_some())
        .cloned()
        .collect();
    for n in terminating {
        let name = n
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let inside: Vec<(GroupResource, Value)> = st
            .all()
            .into_iter()
            .filter(|(_, o)| {
                o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(name.as_str())
            })
            .map(|(g, o)| (g, o.clone()))
            .collect();
        for (g, o) in &inside {
            delete(st, g, o);
        }
        if inside.is_empty() && verbs::finalizers(&n).is_empty() {
            st.remove(&ns_gr, "", &name);
        }
    }
}
