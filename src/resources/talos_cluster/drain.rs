//! Scale-down, Kubernetes side (issue 16 item 7): a node removed from the configuration is cordoned and drained
//! before its reset (evictions through the Eviction API, so PodDisruptionBudgets hold; see
//! [`crate::k8s::drain`]), and its Node object is deleted after it (neither Talos's reset nor Kubernetes deletes
//! it, and a stale NotReady Node would stall DaemonSet rollouts and "every Node Ready" waits).
//!
//! The drain is bounded by what is left of the update's timeout. A budget that keeps refusing fails the update
//! before the reset: the node stays cordoned and in the cluster, and the error names the pod and the budget. An
//! API server that cannot be reached within [`REACH`] gives a warning, and the node is reset without a drain
//! (Talos's graceful reset of a worker still drains it with the kubelet's credentials).

use std::time::Duration;

use kube::Client;

use super::model::NodeModel;
use crate::cty::Value;
use crate::framework::{Context, Diagnostic, Diagnostics};
use crate::k8s::{drain, retry, Connection};

/// How long reaching the Kubernetes API may take before the scale-down goes on without it.
pub const REACH: Duration = Duration::from_secs(30);

/// The name of `node`'s Kubernetes Node: its hostname (the kubelet registers under it).
fn node_name(node: &NodeModel) -> &str {
    &node.spec.network.hostname
}

/// A client from the admin kubeconfig of `prior` (the state before this update), or `None` with a warning when
/// the API cannot be reached, and without one when the state has no kubeconfig (never bootstrapped).
pub(crate) async fn connect(ctx: &Context, prior: &Value) -> Option<Client> {
    let kubeconfig = prior.get("kubeconfig").as_str()?;
    let connection = Connection::Kubeconfig(kubeconfig.to_string());
    match ctx
        .run(
            "connecting to the Kubernetes API",
            connection.connect(REACH),
        )
        .await
    {
        Ok(Ok(client)) => Some(client),
        Ok(Err(e)) => {
            ctx.warn(Diagnostic::warning(
                "Removed nodes are not drained",
                format!(
                    "The Kubernetes API could not be reached ({e}), so the nodes removed from the configuration \
                     are reset without being cordoned and drained first, and their Node objects stay."
                ),
            ));
            None
        }
        Err(_) => None,
    }
}

/// Cordons `node` and evicts its pods, within what is left of the operation's deadline.
///
/// Errors: a pod that could not be evicted in time (its budget kept refusing) or another API failure; the node
/// is then left cordoned and not reset.
pub(crate) async fn cordon_and_drain(
    ctx: &Context,
    client: &Client,
    node: &NodeModel,
) -> Result<(), Diagnostics> {
    let name = node_name(node);
    let cannot = |e: crate::k8s::Error| {
        Diagnostics::from(Diagnostic::error(
            format!("Cannot drain node {:?}", node.name),
            format!(
                "{e}. The node is left cordoned and is not reset: let the PodDisruptionBudget allow the eviction (or \
                 scale the workload so it does), or raise `timeouts.update`, then apply again."
            ),
        ))
    };
    let cordoning = retry::transient("cordon", REACH, || drain::cordon(client, name));
    let present = ctx
        .run("cordoning the node", cordoning)
        .await?
        .map_err(cannot)?;
    if !present {
        tracing::info!(node = name, "no Node object: nothing to drain");
        return Ok(());
    }
    // Finish before the operation's deadline, so the error names the pod rather than the deadline.
    let left = ctx.remaining().unwrap_or(Duration::from_secs(600));
    let bound = left.saturating_sub((left / 10).min(Duration::from_secs(5)));
    let drained = ctx
        .run("draining the node", drain::drain(client, name, bound))
        .await?
        .map_err(cannot)?;
    tracing::info!(node = name, evicted = ?drained.evicted, left = ?drained.left, "node drained");
    Ok(())
}

/// Deletes `node`'s Node object after its reset; a failure is a warning (the node itself is gone).
pub(crate) async fn delete_node(ctx: &Context, client: &Client, node: &NodeModel) {
    let name = node_name(node);
    // After a control plane's reset the endpoint may move (a VIP fails over): retried while unreachable.
    let deleting = retry::transient("delete Node", REACH, || drain::delete_node(client, name));
    match ctx.run("deleting the Node object", deleting).await {
        Ok(Ok(deleted)) => tracing::info!(node = name, deleted, "Node object removed"),
        Ok(Err(e)) => ctx.warn(Diagnostic::warning(
            format!("Node object {name:?} not deleted"),
            format!("The node was reset, but deleting its Node object failed: {e}. Delete it with `kubectl delete node {name}`."),
        )),
        Err(d) => ctx.warn(Diagnostic::warning(d.summary, d.detail)),
    }
}
