//! Fault injection: per-node faults (down, slow RPCs, next call failing with a chosen gRPC code, a reboot that
//! never comes back, an install that fails) and Kubernetes API faults (5xx bursts, timeouts). Set from the topology file or at run time
//! through the control endpoint ([`super::control`]).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Faults of one node. Every field is optional in YAML/JSON; on the control endpoint, fields present replace the
/// current ones and fields absent keep them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFaults {
    /// Listeners closed (connection refused) while true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down: Option<bool>,
    /// Delay added before every RPC on the node (e.g. `500ms`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_duration"
    )]
    pub slow: Option<Duration>,
    /// RPC method name (e.g. `Bootstrap`, `Version`, `Disks`) -> gRPC code name (`unavailable`, `Internal`, ...) or
    /// number; the next call to that RPC fails with it, once.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fail_next: BTreeMap<String, String>,
    /// The next reboot (install, Reboot, Upgrade, Reset) leaves the node down for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot_never_returns: Option<bool>,
    /// While true, every install (a config applied in maintenance mode) comes to nothing: the machine comes back
    /// from its boot medium without a config, in maintenance mode (an installer that fails, or a boot order that
    /// puts the ISO or PXE before the install disk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_fails: Option<bool>,
}

impl NodeFaults {
    /// Overlays `update` on `self`: present fields replace, `fail_next` entries are added (an empty code removes).
    pub fn merge(&mut self, update: NodeFaults) {
        if update.down.is_some() {
            self.down = update.down;
        }
        if update.slow.is_some() {
            self.slow = update.slow;
        }
        if update.reboot_never_returns.is_some() {
            self.reboot_never_returns = update.reboot_never_returns;
        }
        if update.install_fails.is_some() {
            self.install_fails = update.install_fails;
        }
        for (rpc, code) in update.fail_next {
            if code.is_empty() {
                self.fail_next.remove(&rpc);
            } else {
                self.fail_next.insert(rpc, code);
            }
        }
    }
}

/// Kubernetes API faults, forwarded to the Kubernetes API emulation.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KubeFaults {
    /// The next `errors` requests answer 503 ServiceUnavailable.
    #[serde(default)]
    pub errors: u32,
    /// The next `timeouts` requests hang until the client gives up.
    #[serde(default)]
    pub timeouts: u32,
}

mod opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => crate::emulator::topology::duration::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct W(#[serde(with = "crate::emulator::topology::duration")] Duration);
        Option::<W>::deserialize(d).map(|o| o.map(|w| w.0))
    }
}

/// Parses a gRPC code from its name in any case (`unavailable`, `FAILED_PRECONDITION`, `FailedPrecondition`) or
/// its number (0..=16), as listed in grpc's `doc/statuscodes.md`.
pub fn parse_code(s: &str) -> Option<tonic::Code> {
    if let Ok(n) = s.parse::<i32>() {
        return (0..=16).contains(&n).then(|| tonic::Code::from_i32(n));
    }
    let norm: String = s
        .chars()
        .filter(|c| *c != '_')
        .collect::<String>()
        .to_ascii_lowercase();
    (0..=16)
        .map(tonic::Code::from_i32)
        .find(|c| format!("{c:?}").to_ascii_lowercase() == norm)
}

/// The live fault table shared by the Talos nodes and the control endpoint.
#[derive(Debug, Default)]
pub struct FaultTable {
    nodes: Mutex<BTreeMap<String, NodeFaults>>,
}

impl FaultTable {
    /// Builds the table from the topology's faults.
    pub fn new(initial: BTreeMap<String, NodeFaults>) -> FaultTable {
        FaultTable {
            nodes: Mutex::new(initial),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<String, NodeFaults>) -> R) -> R {
        let mut guard = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Current faults of `node`.
    pub fn get(&self, node: &str) -> NodeFaults {
        self.with(|m| m.get(node).cloned().unwrap_or_default())
    }

    /// Merges `update` into the faults of `node`; returns the result.
    pub fn update(&self, node: &str, update: NodeFaults) -> NodeFaults {
        self.with(|m| {
            let entry = m.entry(node.to_string()).or_default();
            entry.merge(update);
            entry.clone()
        })
    }

    /// Whether `node` is held down.
    pub fn is_down(&self, node: &str) -> bool {
        self.get(node).down.unwrap_or(false)
    }

    /// Applies the RPC faults of `node` for `rpc`: waits the slow delay, then consumes a `fail_next` entry.
    pub async fn before_rpc(&self, node: &str, rpc: &str) -> Result<(), tonic::Status> {
        if let Some(delay) = self.get(node).slow {
            tokio::time::sleep(delay).await;
        }
        let code = self.with(|m| m.get_mut(node).and_then(|f| f.fail_next.remove(rpc)));
        match code {
            None => Ok(()),
            Some(name) => {
                let code = parse_code(&name).unwrap_or(tonic::Code::Unavailable);
                Err(tonic::Status::new(
                    code,
                    format!("injected fault: {rpc} fails with {code:?}"),
                ))
            }
        }
    }

    /// Consumes the "reboot never returns" fault: true when this reboot must leave the node down.
    pub fn take_reboot_hang(&self, node: &str) -> bool {
        self.with(|m| match m.get_mut(node) {
            Some(f) if f.reboot_never_returns == Some(true) => {
                f.reboot_never_returns = None;
                f.down = Some(true);
                true
            }
            _ => false,
        })
    }
}

impl FaultTable {
    /// Whether installs on `node` come to nothing.
    pub fn install_fails(&self, node: &str) -> bool {
        self.get(node).install_fails.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_failures_last_until_cleared() {
        let t = FaultTable::default();
        let set = |on| NodeFaults {
            install_fails: Some(on),
            ..NodeFaults::default()
        };
        t.update("a", set(true));
        assert!(!t.install_fails("b"));
        assert!(t.install_fails("a"));
        assert!(t.install_fails("a"));
        t.update("a", NodeFaults::default());
        assert!(t.install_fails("a"), "absent fields keep the fault");
        t.update("a", set(false));
        assert!(!t.install_fails("a"));
    }

    #[test]
    fn codes_parse_in_any_case() {
        assert_eq!(parse_code("unavailable"), Some(tonic::Code::Unavailable));
        assert_eq!(
            parse_code("FAILED_PRECONDITION"),
            Some(tonic::Code::FailedPrecondition)
        );
        assert_eq!(
            parse_code("AlreadyExists"),
            Some(tonic::Code::AlreadyExists)
        );
        assert_eq!(parse_code("14"), Some(tonic::Code::Unavailable));
        assert_eq!(parse_code("nope"), None);
    }

    #[tokio::test]
    async fn fail_next_fires_once() {
        let t = FaultTable::default();
        let mut f = NodeFaults::default();
        f.fail_next.insert("Version".into(), "internal".into());
        t.update("a", f);
        let e = t.before_rpc("a", "Version").await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::Internal);
        assert!(t.before_rpc("a", "Version").await.is_ok());
    }

    #[test]
    fn merge_keeps_absent_fields() {
        let mut f: NodeFaults = serde_json::from_str(r#"{"down":true,"slow":"250ms"}"#).unwrap();
        f.merge(serde_json::from_str(r#"{"down":false}"#).unwrap());
        assert_eq!(f.down, Some(false));
        assert_eq!(f.slow, Some(Duration::from_millis(250)));
    }
}
