//! Removing nodes on update and resetting every node on destroy (issue 4, "Update" and "Delete"). Resets wipe
//! only STATE and EPHEMERAL. An unreachable node gives a warning, never a failed destroy.

use super::apply::{wait_etcd, Progress};
use super::model::{model, Model, NodeModel};
use crate::cty::Value;
use crate::framework::{ApplyError, Context, Diagnostic, Diagnostics};
use crate::talos::ops::{self, Credentials};
use crate::talos::secrets::SecretsBundle;

fn warn_unreachable(ctx: &Context, name: &str, what: &str, reason: String) {
    ctx.warn(Diagnostic::warning(
        format!("Could not {what} node {name:?}"),
        reason,
    ));
}

/// Resets one node: a control plane leaves etcd first when `leave_etcd` (through a remaining member when it
/// cannot do so itself), then resets (`graceful` as given) and is waited out of secure mode.
async fn reset_node(
    ctx: &Context,
    node: &NodeModel,
    creds: &Credentials,
    graceful: bool,
    leave_etcd: Option<&NodeModel>,
) -> Result<(), Diagnostics> {
    let client = creds
        .client(&node.address)
        .map_err(|e| Diagnostics::from(Diagnostic::error("Bad address", e.to_string())))?;
    if let Some(remaining) = leave_etcd {
        let left = ctx.run("leaving etcd", client.etcd_leave_cluster()).await?;
        if let Err(e) = left {
            // The node cannot leave by itself (down): remove its member through a remaining control plane.
            let other = creds
                .client(&remaining.address)
                .map_err(|e| Diagnostics::from(Diagnostic::error("Bad address", e.to_string())))?;
            let members = ctx
                .run("listing etcd members", other.etcd_member_list())
                .await?
                .unwrap_or_default();
            match members
                .iter()
                .find(|m| m.hostname == node.spec.network.hostname)
            {
                Some(member) => {
                    let removed = ctx
                        .run(
                            "removing the etcd member",
                            other.etcd_remove_member(member.id),
                        )
                        .await?;
                    if let Err(e2) = removed {
                        return Err(Diagnostic::error(
                            format!("Node {:?} cannot leave etcd", node.name),
                            format!("{e}; removing it through {:?}: {e2}", remaining.name),
                        )
                        .into());
                    }
                }
                None => warn_unreachable(ctx, &node.name, "leave etcd on", e.to_string()),
            }
        }
    }
    match ctx.run("resetting a node", client.reset(graceful)).await? {
        Ok(()) => {
            ctx.run(
                "waiting for the node to reset",
                ops::wait_gone(&node.address, creds),
            )
            .await?;
        }
        Err(e) if e.is_unreachable() => warn_unreachable(ctx, &node.name, "reset", e.to_string()),
        Err(e) => {
            return Err(Diagnostic::error(
                format!("Cannot reset node {:?}", node.name),
                e.to_string(),
            )
            .into())
        }
    }
    Ok(())
}

/// Update: resets the nodes of `prior` that are no longer planned, workers first, control planes one at a time
/// (each leaves etcd, membership is checked before the next); each is cordoned and drained before and its Node
/// object deleted after ([`super::drain`]).
pub(crate) async fn remove_nodes(
    ctx: &Context,
    m: &Model,
    prior: &Value,
    creds: &Credentials,
    p: &mut Progress,
) -> Result<(), Diagnostics> {
    let old = model(prior);
    // Nodes that never took a config (e.g. left out of the configuration after a failed create) need no reset.
    let removed: Vec<&NodeModel> = old
        .nodes
        .values()
        .filter(|n| !m.nodes.contains_key(&n.name))
        .filter(|n| {
            p.status
                .get(&n.name)
                .is_some_and(|s| !s.config_hash.is_empty())
        })
        .collect();
    p.status
        .retain(|name, s| m.nodes.contains_key(name) || !s.config_hash.is_empty());
    if removed.is_empty() {
        return Ok(());
    }
    let remaining_cp = m.control_planes().first().copied();
    let mut ordered: Vec<&&NodeModel> = removed.iter().filter(|n| !n.is_control_plane()).collect();
    ordered.extend(removed.iter().filter(|n| n.is_control_plane()));
    // A reset node leaves the Kubernetes cluster: drained before, its Node object deleted after.
    let kube = if m.reset_on_destroy {
        super::drain::connect(ctx, prior).await
    } else {
        None
    };
    for node in ordered {
        if m.reset_on_destroy {
            if let Some(client) = &kube {
                super::drain::cordon_and_drain(ctx, client, node).await?;
            }
            let leave = if node.is_control_plane() {
                remaining_cp
            } else {
                None
            };
            let graceful = m.graceful_reset && !node.is_control_plane();
            reset_node(ctx, node, creds, graceful, leave).await?;
            if let Some(client) = &kube {
                super::drain::delete_node(ctx, client, node).await;
            }
        }
        p.status.remove(&node.name);
        if node.is_control_plane() {
            // A reset control plane left etcd first; without a reset it stays a member.
            let gone = if m.reset_on_destroy {
                vec![node.spec.network.hostname.clone()]
            } else {
                Vec::new()
            };
            let members = wait_etcd(ctx, m, creds, &gone).await?;
            p.state.set("etcd_members", Value::string_list(members));
        }
    }
    Ok(())
}

/// Destroy: resets every node, the workers at once, then the control planes one at a time in reverse order,
/// gracefully except the last control plane; with `on_destroy.reset = false` leaves them as they are. The destroy half of a replacement that
/// resumes a failed create leaves the nodes for the create ([`super::resume`]); destroying a failed create resets
/// only the nodes that took a config (the others are still in maintenance mode).
pub async fn delete(ctx: &Context, state: &Value) -> Result<(), ApplyError> {
    if super::resume::delete_resumes(ctx, state) {
        super::resume::remember(state);
        return Ok(());
    }
    let mut m = model(state);
    if super::resume::is_incomplete(state) {
        let status = super::state::status(state);
        m.nodes
            .retain(|name, _| status.get(name).is_some_and(|s| !s.config_hash.is_empty()));
    }
    if !m.reset_on_destroy || m.nodes.is_empty() {
        return Ok(());
    }
    let Some(secrets_yaml) = state.get("machine_secrets").as_str() else {
        return Ok(());
    };
    let secrets = SecretsBundle::from_yaml(secrets_yaml).map_err(|e| {
        ApplyError::new(Diagnostic::error(
            "The stored machine secrets do not parse",
            e.to_string(),
        ))
    })?;
    let creds = Credentials::from_secrets(&secrets).map_err(|e| {
        ApplyError::new(Diagnostic::error(
            "Cannot mint the Talos client certificate",
            e.to_string(),
        ))
    })?;
    // Before bootstrap there is no etcd member to leave nor workload to drain: resets need not be graceful.
    let bootstrapped = state
        .get("etcd_members")
        .as_list()
        .is_some_and(|l| !l.is_empty());
    if !bootstrapped {
        m.graceful_reset = false;
    }
    // Workers hold no etcd member: they reset all at once. Every reset is tried; the errors are reported together.
    let workers = m.workers();
    let resets = workers
        .iter()
        .map(|node| reset_node(ctx, node, &creds, m.graceful_reset, None));
    let mut failed = Diagnostics::new();
    for result in futures::future::join_all(resets).await {
        if let Err(d) = result {
            failed.extend(d);
        }
    }
    if failed.has_errors() {
        return Err(failed.into());
    }
    // Control planes one at a time (each graceful reset leaves etcd while a quorum remains), the last one
    // non-graceful: there is no etcd left to leave.
    let mut cps = m.control_planes();
    cps.reverse();
    let last = cps.len().saturating_sub(1);
    for (i, node) in cps.iter().enumerate() {
        let graceful = m.graceful_reset && i != last;
        reset_node(ctx, node, &creds, graceful, None).await?;
    }
    // The Kubernetes API went with the last control plane: a resource of this run still holding objects there
    // (destroyed after this one) gives up at once, with a warning, instead of waiting for it.
    if !m.cluster.endpoint.is_empty() {
        crate::k8s::down::mark(&m.cluster.endpoint);
    }
    Ok(())
}
