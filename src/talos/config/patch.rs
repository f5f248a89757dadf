//! Strategic-merge config patches, as talos `pkg/machinery/config/configpatcher` applies them:
//! - a patch is one or more YAML documents; a document without `kind` patches the `v1alpha1` document, a
//!   document with `kind` (and `name`) patches the document of the same kind and name or is appended;
//! - `$patch: delete` in a mapping deletes that key (or, at document level, the whole document);
//! - merge rules (`pkg/machinery/config/merge/merge.go`): mappings merge key by key, lists are appended except
//!   `cluster.network.podSubnets`/`serviceSubnets` and `cluster.apiServer.auditPolicy` which are replaced,
//!   `machine.network.interfaces` merge by `interface` and their `vlans` by `vlanId`
//!   (`NetworkDeviceList.Merge`, `VlanList.Merge`), `cluster.apiServer.admissionControl` by `name`; a scalar
//!   replaces the old value unless it is an empty string or zero (booleans always replace).

use crate::yaml::{Mapping, Value};

/// A patch that is not YAML or does not have a patch's shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config patch {index}: {reason}")]
pub struct PatchError {
    /// 0-based index of the patch in the list it came from.
    pub index: usize,
    /// What is wrong.
    pub reason: String,
}

/// Parses a patch into its YAML documents (empty documents dropped), each a mapping.
///
/// # Errors
/// [`PatchError`] when the text is not YAML or a document is not a mapping.
pub fn parse_patch(index: usize, text: &str) -> Result<Vec<Value>, PatchError> {
    let mut docs = Vec::new();
    let values: Vec<Value> = crate::yaml::documents(text).map_err(|e| PatchError {
        index,
        // Line and column only: a patch may hold tokens or registry credentials.
        reason: format!("not valid YAML: {}", crate::redact::yaml_error(&e, text)),
    })?;
    for value in values {
        match value {
            Value::Null => {}
            Value::Object(_) => docs.push(value),
            _ => {
                return Err(PatchError {
                    index,
                    reason: "each document must be a YAML mapping".into(),
                })
            }
        }
    }
    Ok(docs)
}

fn is_delete(value: &Value) -> bool {
    value.get("$patch").and_then(Value::as_str) == Some("delete")
}

fn kind_and_name(doc: &Value) -> Option<(String, Option<String>)> {
    let kind = doc.get("kind")?.as_str()?.to_string();
    Some((
        kind,
        doc.get("name").and_then(Value::as_str).map(str::to_string),
    ))
}

/// Applies one patch (already parsed) to the config documents, the `v1alpha1` document first.
pub fn apply(docs: &mut Vec<Value>, patch: Vec<Value>) {
    for patch_doc in patch {
        match kind_and_name(&patch_doc) {
            None => {
                if let Some(base) = docs.iter_mut().find(|d| d.get("kind").is_none()) {
                    merge(base, patch_doc, "");
                }
            }
            Some(key) => {
                let position = docs
                    .iter()
                    .position(|d| kind_and_name(d).as_ref() == Some(&key));
                match (position, is_delete(&patch_doc)) {
                    (Some(i), true) => {
                        docs.remove(i);
                    }
                    (Some(i), false) => merge(&mut docs[i], patch_doc, ""),
                    (None, true) => {}
                    (None, false) => docs.push(patch_doc),
                }
            }
        }
    }
}

fn keyed_list_field(path: &str) -> Option<&'static str> {
    match path {
        "machine.network.interfaces" => Some("interface"),
        "cluster.apiServer.admissionControl" => Some("name"),
        _ if path.starts_with("machine.network.interfaces") && path.ends_with(".vlans") => {
            Some("vlanId")
        }
        _ => None,
    }
}

fn replaced(path: &str) -> bool {
    matches!(
        path,
        "cluster.network.podSubnets"
            | "cluster.network.serviceSubnets"
            | "cluster.apiServer.auditPolicy"
    )
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

fn merge(left: &mut Value, right: Value, path: &str) {
    if replaced(path) && !is_zero(&right) {
        *left = right;
        return;
    }
    match (left, right) {
        (Value::Object(l), Value::Object(r)) => merge_mapping(l, r, path),
        (Value::Array(l), Value::Array(r)) => match keyed_list_field(path) {
            Some(key) => merge_keyed(l, r, key, path),
            None => l.extend(r),
        },
        (left, right) => {
            if right.is_boolean() || !is_zero(&right) {
                *left = right;
            }
        }
    }
}

fn merge_mapping(left: &mut Mapping, right: Mapping, path: &str) {
    for (key, value) in right {
        let child = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        if is_delete(&value) {
            left.remove(&key);
            continue;
        }
        match left.get_mut(&key) {
            Some(existing) if !existing.is_null() => merge(existing, value, &child),
            _ if !value.is_boolean() && is_zero(&value) => {}
            _ => {
                left.insert(key, value);
            }
        }
    }
}

fn merge_keyed(left: &mut Vec<Value>, right: Vec<Value>, key: &str, path: &str) {
    for item in right {
        let id = item.get(key).cloned();
        let found = id
            .as_ref()
            .and_then(|id| left.iter().position(|l| l.get(key) == Some(id)));
        match (found, is_delete(&item)) {
            (Some(i), true) => {
                left.remove(i);
            }
            (Some(i), false) => merge(&mut left[i], item, path),
            (None, true) => {}
            (None, false) => left.push(item),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        crate::yaml::from_str(text).unwrap()
    }

    #[test]
    fn merges_maps_appends_lists_and_replaces_subnets() {
        let mut docs = vec![yaml(
            "machine: {certSANs: [a], install: {wipe: false}}\ncluster: {network: {podSubnets: [10.0.0.0/8]}}",
        )];
        let patch = parse_patch(
            0,
            "machine: {certSANs: [b], install: {wipe: true, disk: ''}}\ncluster: {network: {podSubnets: [10.1.0.0/16]}}",
        )
        .unwrap();
        apply(&mut docs, patch);
        assert_eq!(
            docs[0],
            yaml("machine: {certSANs: [a, b], install: {wipe: true}}\ncluster: {network: {podSubnets: [10.1.0.0/16]}}")
        );
    }

    #[test]
    fn keyed_lists_and_deletes() {
        let mut docs = vec![
            yaml("machine: {network: {interfaces: [{interface: eth0, mtu: 1500, vlans: [{vlanId: 111, mtu: 1}]}]}, features: {x: 1}}"),
            yaml("apiVersion: v1alpha1\nkind: LinkConfig\nname: eth0\nup: true"),
        ];
        let patch = parse_patch(
            3,
            "machine:\n  features: {$patch: delete}\n  network:\n    interfaces: [{interface: eth0, mtu: 9000, vlans: [{vlanId: 111, mtu: 2}]}]\n---\napiVersion: v1alpha1\nkind: LinkConfig\nname: eth0\n$patch: delete\n---\napiVersion: v1alpha1\nkind: HostnameConfig\nhostname: x",
        )
        .unwrap();
        apply(&mut docs, patch);
        assert_eq!(
            docs[0],
            yaml("machine: {network: {interfaces: [{interface: eth0, mtu: 9000, vlans: [{vlanId: 111, mtu: 2}]}]}}")
        );
        assert_eq!(docs[1]["kind"], Value::from("HostnameConfig"));
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn booleans_always_replace() {
        let mut docs = vec![yaml("cluster: {allowSchedulingOnControlPlanes: true}")];
        apply(
            &mut docs,
            parse_patch(0, "cluster: {allowSchedulingOnControlPlanes: false}").unwrap(),
        );
        assert_eq!(
            docs[0]["cluster"]["allowSchedulingOnControlPlanes"],
            Value::Bool(false)
        );
    }

    #[test]
    fn bad_patches_are_errors() {
        assert!(parse_patch(2, "machine: [")
            .unwrap_err()
            .reason
            .contains("YAML"));
        assert_eq!(parse_patch(1, "- a\n- b").unwrap_err().index, 1);
        assert!(parse_patch(0, "").unwrap().is_empty());
    }
}
