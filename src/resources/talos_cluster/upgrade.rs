//! Rolling upgrade when `install_image` changes, or of the nodes that run another Talos release than the one the
//! image names (a node left behind by an interrupted create or upgrade, or one installed by hand): one node at a
//! time, control planes first; each node must come back on the secure API (and control planes back into etcd)
//! before the next starts, so quorum is never lost (talos docs "Upgrading Talos Linux": upgrade nodes one by
//! one).

use std::collections::BTreeMap;
use std::time::Duration;

use super::apply::{wait_all_secure, wait_etcd, Progress};
use super::model::{model, Model, NodeModel};
use super::state::NodeStatus;
use crate::cty::Value;
use crate::framework::{Context, Diagnostic, Diagnostics};
use crate::talos::ops::{self, Credentials};

/// The Talos release `install_image` names (`v1.12.11` of `…/installer:v1.12.11`), when its tag is a final release
/// tag; `None` for any other tag (`latest`, a digest, a pre-release), whose release cannot be compared.
pub(crate) fn image_release(install_image: &str) -> Option<&str> {
    let tag = ops::image_tag(install_image)?;
    (tag.starts_with('v') && crate::version::parse_release(tag).is_some()).then_some(tag)
}

/// The installer image of a rendered machine config: `machine.install.image` of its v1alpha1 document (the
/// first document that has `machine`).
fn applied_image(config: &str) -> Option<String> {
    let docs: Vec<serde_json::Value> = crate::yaml::documents(config).ok()?;
    docs.iter().find_map(|d| {
        d.pointer("/machine/install/image")?
            .as_str()
            .map(str::to_string)
    })
}

/// The running nodes (by the last probe, `status`) whose Talos release is not the one named by the installer
/// image of the config applied to them (`applied`: `machine_configurations` of the state), with the release
/// each runs. Configs whose image names no release (`installer:latest` of early states) are not judged.
pub(crate) fn behind(
    applied: &Value,
    status: &BTreeMap<String, NodeStatus>,
) -> Vec<(String, String, String)> {
    let Some(configs) = applied.as_map() else {
        return Vec::new();
    };
    configs
        .iter()
        .filter_map(|(name, config)| {
            let s = status.get(name)?;
            if s.stage != "running" || s.talos_version.is_empty() {
                return None;
            }
            let image = applied_image(config.as_str()?)?;
            let release = image_release(&image)?;
            (s.talos_version != release)
                .then(|| (name.clone(), s.talos_version.clone(), release.to_string()))
        })
        .collect()
}

/// Upgrades every node that existed before when the installer image changed, else the nodes [`behind`] it; with
/// `etcd_running`, each control plane must be back in etcd before the next node starts.
pub(crate) async fn upgrade_if_needed(
    ctx: &Context,
    m: &Model,
    prior: Option<&Value>,
    creds: &Credentials,
    etcd_running: bool,
    p: &mut Progress,
) -> Result<(), Diagnostics> {
    let old = prior.map(model);
    let image_changed = old
        .as_ref()
        .is_some_and(|o| o.cluster.install_image != m.cluster.install_image);
    // The configs just applied (a rolling config change comes after this step: those of the prior state).
    let applied = prior.map_or(&p.state, |v| v).get("machine_configurations");
    let lagging: Vec<String> = behind(applied, &p.status)
        .into_iter()
        .map(|(n, _, _)| n)
        .filter(|n| m.nodes.contains_key(n))
        .collect();
    if !image_changed && lagging.is_empty() {
        return Ok(());
    }
    let existing = |n: &&NodeModel| {
        let existed = old.as_ref().is_some_and(|o| o.nodes.contains_key(&n.name));
        (image_changed && existed) || lagging.contains(&n.name)
    };
    let mut ordered: Vec<&NodeModel> = m.control_planes().into_iter().filter(existing).collect();
    ordered.extend(m.workers().into_iter().filter(existing));
    for node in ordered {
        let client = creds
            .client(&node.address)
            .map_err(|e| Diagnostics::from(Diagnostic::error("Bad address", e.to_string())))?;
        let what = format!("upgrading node {:?}", node.name);
        // A node whose API restarts (after the previous node's reboot changed etcd or certificates) may drop the
        // call: retry a few times while it is unreachable, as talosctl's retrying client does.
        let mut delay = Duration::from_millis(250);
        let mut attempts = 0;
        let outcome = loop {
            match ctx
                .run(&what, client.upgrade(&m.cluster.install_image))
                .await?
            {
                Err(e) if (e.is_unreachable() || e.is_connection_lost()) && attempts < 6 => {
                    attempts += 1;
                    ctx.run(&what, tokio::time::sleep(delay)).await?;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                other => break other,
            }
        };
        outcome.map_err(|e| {
            Diagnostics::from(Diagnostic::error(
                format!("Cannot upgrade node {:?}", node.name),
                e.to_string(),
            ))
        })?;
        // The node reboots into the new version: wait for that version when the image names it (a short reboot
        // can be missed by polling for the node to go away), else for the node to go away.
        match ops::image_tag(&m.cluster.install_image) {
            Some(tag) => {
                ctx.run(
                    "waiting for the node to reboot into the new version",
                    ops::wait_version(&node.address, creds, tag),
                )
                .await?
                .map_err(|e| Diagnostics::from(Diagnostic::error("Bad address", e.to_string())))?;
            }
            None => {
                ctx.run(
                    "waiting for the node to reboot",
                    ops::wait_gone(&node.address, creds),
                )
                .await?;
            }
        }
        wait_all_secure(ctx, m, creds, &[node], p).await?;
        if node.is_control_plane() && etcd_running {
            wait_etcd(ctx, m, creds, &[]).await?;
        }
    }
    Ok(())
}
