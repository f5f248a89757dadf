//! The per-node status kept in the state (`node_status`) and helpers to build a returnable state.

use crate::cty::Value;
use std::collections::BTreeMap;

/// Computed attributes of the resource (top level).
pub const COMPUTED: [&str; 8] = [
    "id",
    "machine_secrets",
    "machine_configurations",
    "talosconfig",
    "kubeconfig",
    "kubernetes",
    "etcd_members",
    "node_status",
];

/// One node's entry of `node_status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeStatus {
    /// Talos version tag reported by the node.
    pub talos_version: String,
    /// `running`, `maintenance`, `booting` or `unreachable`.
    pub stage: String,
    /// Whether the node answered the last probe.
    pub reachable: bool,
    /// SHA-256 of the machine config applied to it; empty when none was applied.
    pub config_hash: String,
}

/// Reads `node_status` from a state (empty when null or unknown).
pub fn status(state: &Value) -> BTreeMap<String, NodeStatus> {
    let Some(map) = state.get("node_status").as_map() else {
        return BTreeMap::new();
    };
    map.iter()
        .map(|(name, v)| {
            let s = |k: &str| v.get(k).as_str().unwrap_or_default().to_string();
            let status = NodeStatus {
                talos_version: s("talos_version"),
                stage: s("stage"),
                reachable: v.get("reachable").as_bool().unwrap_or(false),
                config_hash: s("config_hash"),
            };
            (name.clone(), status)
        })
        .collect()
}

/// Writes `node_status` into a state.
pub fn set_status(state: &mut Value, status: &BTreeMap<String, NodeStatus>) {
    let entries = status.iter().map(|(name, s)| {
        let obj = Value::object([
            ("talos_version", Value::from(s.talos_version.clone())),
            ("stage", Value::from(s.stage.clone())),
            ("reachable", Value::from(s.reachable)),
            ("config_hash", Value::from(s.config_hash.clone())),
        ]);
        (name.clone(), obj)
    });
    state.set("node_status", Value::map(entries));
}

/// The state with every still-unknown computed attribute set to null (a state returned with an error must be
/// wholly known).
pub fn known_or_null(mut state: Value) -> Value {
    for name in COMPUTED {
        if !state.get(name).is_wholly_known() {
            state.set(name, Value::Null);
        }
    }
    state
}
