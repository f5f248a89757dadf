//! One emulated Talos machine: its stage in the boot/install lifecycle and its configs.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use super::config::{MachineConfig, MachineType};
use super::tls::Listener;
use super::version::TalosVersion;
use crate::emulator::topology::NodeSpec;

/// Machine stage, as Talos's `MachineStatus` resource names them (pkg/machinery/resources/runtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// No config: maintenance mode API with a self-signed certificate.
    Maintenance,
    /// A config was accepted in maintenance mode; installing to disk (API down).
    Installing,
    /// Rebooting (API down); a reboot with the "never comes back" fault stays here.
    Rebooting,
    /// Booted from the installed system with a config: secure (mTLS) API.
    Running,
    /// Powered off (Shutdown, or Reset without reboot): down until powered on from the control endpoint.
    Halted,
}

/// Mutable state of a node.
#[derive(Debug, Clone)]
pub struct NodeState {
    /// Current stage.
    pub stage: Stage,
    /// The config in effect.
    pub active: Option<Arc<MachineConfig>>,
    /// The config on disk (STATE partition): what the next boot uses (differs from `active` after STAGED, or
    /// during TRY).
    pub persisted: Option<Arc<MachineConfig>>,
    /// Talos installed on the system disk.
    pub installed: bool,
    /// Reported Talos version tag (e.g. `v1.12.0`).
    pub version: String,
    /// The installer image the system on disk came from (install, then each upgrade); `None` before an install.
    pub installed_image: Option<String>,
    /// etcd data directory not empty (EPHEMERAL partition).
    pub etcd_data: bool,
    /// Bumped at every reboot or reset: a timer of an older generation does nothing.
    pub generation: u64,
    /// An apply in REBOOT mode is rebooting the node: further applies are refused until it is back.
    pub apply_rebooting: bool,
    /// Generation of the pending TRY rollback; a later non-TRY apply or reboot cancels it.
    pub try_generation: Option<u64>,
}

impl NodeState {
    /// A fresh node in maintenance mode.
    pub fn new(version: &str) -> NodeState {
        NodeState {
            stage: Stage::Maintenance,
            active: None,
            persisted: None,
            installed: false,
            version: version.to_string(),
            installed_image: None,
            etcd_data: false,
            generation: 0,
            apply_rebooting: false,
            try_generation: None,
        }
    }

    /// Whether the active config is a control plane's.
    pub fn is_control_plane(&self) -> bool {
        self.active
            .as_ref()
            .is_some_and(|c| c.machine_type == MachineType::ControlPlane)
    }
}

/// A node: its topology entry, state and current Talos API listener.
#[derive(Debug)]
pub struct Node {
    /// From the topology.
    pub spec: NodeSpec,
    state: Mutex<NodeState>,
    pub(crate) listener: Mutex<Option<Listener>>,
}

impl Node {
    /// A node in `state`.
    pub fn new(spec: NodeSpec, state: NodeState) -> Node {
        Node {
            spec,
            state: Mutex::new(state),
            listener: Mutex::new(None),
        }
    }

    /// Locks the state (a poisoned lock is recovered: the state is plain data).
    pub fn state(&self) -> MutexGuard<'_, NodeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hostname: the config's static hostname, else the topology name.
    pub fn hostname(&self) -> String {
        self.state()
            .active
            .as_ref()
            .and_then(|c| c.hostname.clone())
            .unwrap_or_else(|| self.spec.name.clone())
    }

    /// The Talos release the node runs now (its state's version tag); a tag that is not a release (an installer
    /// built from a branch) behaves as the newest release the emulator follows.
    pub fn talos(&self) -> TalosVersion {
        let tag = self.state().version.clone();
        match TalosVersion::parse(&tag) {
            Some(v) => v,
            None => TalosVersion {
                tag,
                major: 1,
                minor: 13,
            },
        }
    }

    /// Address as text.
    pub fn address(&self) -> String {
        self.spec.address.to_string()
    }
}
