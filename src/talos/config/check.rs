//! Structural checks on rendered machine-config documents, run before anything is sent to a node. They cover
//! the rules Talos itself rejects a config for and that patches can break (talos `v1alpha1_validation.go` and
//! the document registry of `config.schema.json`); the full JSON-schema validation runs in the tests.

use crate::talos::contract::Contract;
use crate::yaml::Value;
use std::collections::HashSet;

/// Document kinds of the `network` group that exist only from contract 1.12 (absent from the 1.11 schema).
const MULTIDOC_NETWORK_KINDS: [&str; 5] = [
    "LinkConfig",
    "VLANConfig",
    "Layer2VIPConfig",
    "HostnameConfig",
    "ResolverConfig",
];

fn str_at<'a>(doc: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(doc, |v, key| v.get(*key))
        .and_then(Value::as_str)
}

/// Checks the documents of one node's config.
///
/// # Errors
/// A message naming the offending document or field.
pub fn check_documents(contract: Contract, docs: &[Value]) -> Result<(), String> {
    let base: Vec<&Value> = docs.iter().filter(|d| d.get("kind").is_none()).collect();
    let [v1] = base.as_slice() else {
        return Err(format!(
            "expected exactly one v1alpha1 document, found {}",
            base.len()
        ));
    };
    if str_at(v1, &["version"]) != Some("v1alpha1") {
        return Err("the v1alpha1 document must have version: v1alpha1".into());
    }
    match str_at(v1, &["machine", "type"]) {
        Some("controlplane" | "worker") => {}
        other => {
            return Err(format!(
                "machine.type must be controlplane or worker, got {other:?}"
            ))
        }
    }
    match str_at(v1, &["cluster", "controlPlane", "endpoint"]) {
        Some(e) if e.starts_with("https://") => {}
        other => {
            return Err(format!(
                "cluster.controlPlane.endpoint must be an https URL, got {other:?}"
            ))
        }
    }
    let legacy_network = v1.get("machine").and_then(|m| m.get("network"));
    if contract.multidoc_network() {
        if let Some(network) = legacy_network {
            let only_kubespan = network
                .as_object()
                .is_some_and(|m| m.keys().all(|k| k == "kubespan"));
            if !contract.legacy_machine_network() || !only_kubespan {
                return Err(format!(
                    "machine.network is not supported by Talos {contract}: use LinkConfig, VLANConfig, \
                     Layer2VIPConfig, HostnameConfig and ResolverConfig documents"
                ));
            }
        }
    }
    let mut seen = HashSet::new();
    for doc in docs.iter().filter(|d| d.get("kind").is_some()) {
        let kind = str_at(doc, &["kind"]).ok_or("a document has a non-string kind")?;
        if str_at(doc, &["apiVersion"]).is_none() {
            return Err(format!("{kind} document has no apiVersion"));
        }
        if !contract.multidoc_network() && MULTIDOC_NETWORK_KINDS.contains(&kind) {
            return Err(format!(
                "{kind} documents need Talos 1.12 or later (config contract is {contract})"
            ));
        }
        let name = str_at(doc, &["name"]).unwrap_or("");
        if !seen.insert((kind.to_string(), name.to_string())) {
            return Err(format!("duplicate {kind} document {name:?}"));
        }
        if kind == "HostnameConfig" && doc.get("hostname").is_some() && doc.get("auto").is_some() {
            return Err("HostnameConfig: hostname conflicts with auto".into());
        }
    }
    Ok(())
}
