//! Saving and restoring node state under `--state-dir` (file `talos-state.json`), so that a run after an emulator
//! restart sees the same cluster: configs (active and on-disk), install state, versions, etcd membership. A node
//! caught mid-reboot or mid-install comes back booted, as a machine would after a power cycle.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::config;
use super::etcd::Etcd;
use super::node::{Node, NodeState, Stage};
use super::version::TalosVersion;
use crate::emulator::topology::Topology;

const FILE: &str = "talos-state.json";

#[derive(Serialize, Deserialize)]
struct SavedNode {
    name: String,
    stage: Stage,
    active: Option<String>,
    persisted: Option<String>,
    installed: bool,
    version: String,
    #[serde(default)]
    installed_image: Option<String>,
    etcd_data: bool,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    nodes: Vec<SavedNode>,
    etcd: Option<Etcd>,
}

/// Writes the state atomically (temporary file then rename).
pub fn save(dir: &Path, nodes: &[Arc<Node>], etcd: Option<&Etcd>) -> std::io::Result<()> {
    let saved = Saved {
        nodes: nodes
            .iter()
            .map(|n| {
                let st = n.state();
                SavedNode {
                    name: n.spec.name.clone(),
                    stage: st.stage,
                    active: st.active.as_ref().map(|c| c.raw.clone()),
                    persisted: st.persisted.as_ref().map(|c| c.raw.clone()),
                    installed: st.installed,
                    version: st.version.clone(),
                    installed_image: st.installed_image.clone(),
                    etcd_data: st.etcd_data,
                }
            })
            .collect(),
        etcd: etcd.cloned(),
    };
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{FILE}.tmp"));
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(&saved).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(tmp, dir.join(FILE))
}

/// Reads the saved state for `topology`'s nodes (matched by name; new nodes start fresh). `None` when there is no
/// saved state or it does not parse (then the emulator starts fresh and says so in the log).
pub fn load(dir: &Path, topology: &Topology) -> Option<(Vec<NodeState>, Option<Etcd>)> {
    let bytes = std::fs::read(dir.join(FILE)).ok()?;
    let saved: Saved = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring unreadable emulator state");
            return None;
        }
    };
    let states = topology
        .nodes
        .iter()
        .map(|spec| {
            let Some(s) = saved.nodes.iter().find(|s| s.name == spec.name) else {
                return NodeState::new(topology.version_of(spec));
            };
            let talos = TalosVersion::parse(&s.version)
                .or_else(|| TalosVersion::parse(topology.version_of(spec)));
            let parse = |raw: &Option<String>| {
                raw.as_ref()
                    .zip(talos.as_ref())
                    .and_then(|(r, v)| config::validate(r.as_bytes(), spec, v).ok())
                    .map(Arc::new)
            };
            let mut st = NodeState::new(&s.version);
            st.installed = s.installed;
            st.installed_image = s.installed_image.clone();
            st.etcd_data = s.etcd_data;
            st.persisted = parse(&s.persisted);
            st.active = match s.stage {
                Stage::Running => parse(&s.active).or_else(|| st.persisted.clone()),
                _ => st.persisted.clone(),
            };
            // Halted stays off; anything else boots from disk as after a power cycle, on the release installed
            // (a node saved mid-install comes back on its installer's release, not the boot medium's).
            if s.stage == Stage::Halted {
                st.stage = Stage::Halted;
            } else {
                super::cluster::settle_boot(&mut st, topology.version_of(spec));
            }
            st
        })
        .collect();
    Some((states, saved.etcd))
}
