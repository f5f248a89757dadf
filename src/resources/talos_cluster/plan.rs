//! Plan modification: which computed attributes an update changes, drift, renewal, and quorum checks.

use super::model::model;
use super::state;
use crate::cty::{AttributePath, Value};
use crate::framework::{Context, Diagnostic, Diagnostics, PlannedChange};
use crate::talos::contract::{Contract, KubernetesVersion};

/// The configuration attributes (everything but computed ones, `timeouts` and `unreachable_timeout`) of a value,
/// with the versions in one spelling: `v1.12`, `1.12` and `1.12.0` are the same config contract, `v1.35.4` and
/// `1.35.4` the same Kubernetes release (the machine configs do not change), so respelling one plans an update of
/// that attribute only.
pub(crate) fn inputs(value: &Value) -> Value {
    let mut v = value.clone();
    for name in state::COMPUTED {
        v.set(name, Value::Null);
    }
    v.set("timeouts", Value::Null);
    v.set(super::reach::ATTRIBUTE, Value::Null);
    let talos = v.get("talos_version").as_str().map(Contract::parse);
    if let Some(Ok(contract)) = talos {
        v.set("talos_version", Value::from(contract.to_string()));
    }
    let kubernetes = v
        .get("kubernetes_version")
        .as_str()
        .map(KubernetesVersion::parse);
    if let Some(Ok(release)) = kubernetes {
        v.set("kubernetes_version", Value::from(release.to_string()));
    }
    v
}

/// Adjusts a plan: a create that replaces a failed create keeps its secrets ([`super::resume`]); the first update
/// after an import adopts the nodes ([`super::import`]); an update gets its changed computed attributes marked
/// unknown.
pub async fn modify(ctx: &Context, change: &mut PlannedChange) -> Result<(), Diagnostics> {
    if change.planned.is_null() {
        return Ok(());
    }
    // Terraform 0.15 validates only at `terraform validate`, when module variables are still unknown; 1.0
    // validates again at plan with them known. Checking here gives both the same errors.
    let mut invalid = Diagnostics::new();
    super::validate::validate(&change.config, &mut invalid);
    if invalid.has_errors() {
        return Err(invalid);
    }
    if change.is_create() {
        plan_resume(ctx, change);
        return super::reach::check_new_nodes(ctx, change).await;
    }
    let unknown = |change: &mut PlannedChange, names: &[&str]| {
        for name in names {
            change.set_unknown(&AttributePath::attr(*name));
        }
    };
    let imported = change.prior.get("machine_configurations").is_null();
    if imported {
        change.requires_replace.clear();
        return super::import::plan(ctx, change).await;
    }
    let entries = super::model::node_entries(change.planned.get("nodes"));
    super::trust::check_plan(
        &model(&change.planned),
        &state::status(&change.prior),
        |name| entries.as_ref().and_then(|e| e.get(name)).map(|(i, _)| *i),
    )?;
    check_renames(change)?;
    let prior_inputs = inputs(&change.prior);
    let planned_inputs = inputs(&change.planned);
    let status = state::status(&change.prior);
    let planned_nodes: Vec<String> = super::model::node_entries(change.planned.get("nodes"))
        .map(|m| m.into_keys().collect())
        .unwrap_or_default();
    // Drift: a node without a config, or whose config (as the refresh read it back) is not the one applied.
    let applied = change.prior.get("machine_configurations");
    let drifted = planned_nodes.iter().any(|n| {
        status.get(n).is_none_or(|s| {
            s.stage == "maintenance"
                || s.config_hash.is_empty()
                || applied
                    .get(n)
                    .as_str()
                    .is_some_and(|c| s.config_hash != crate::talos::ops::config_hash(c))
        })
    });
    // A node on another Talos release than the installer image of its applied config is upgraded by the apply.
    let lagging: Vec<_> = super::upgrade::behind(applied, &status)
        .into_iter()
        .filter(|(n, _, _)| planned_nodes.contains(n))
        .collect();
    if !lagging.is_empty() {
        let nodes: Vec<String> = lagging
            .iter()
            .map(|(n, runs, image)| format!("{n:?} runs {runs}, its installer image is {image}"))
            .collect();
        ctx.warn(Diagnostic::warning(
            "Nodes on another Talos release",
            format!(
                "{}. The apply upgrades them to it, one at a time.",
                nodes.join("; ")
            ),
        ));
    }
    let drifted = drifted || !lagging.is_empty();
    if prior_inputs != planned_inputs || !planned_inputs.is_wholly_known() || drifted {
        unknown(
            change,
            &[
                "machine_configurations",
                "node_status",
                "etcd_members",
                "talosconfig",
            ],
        );
    }
    if change.prior.get("endpoint") != change.planned.get("endpoint") {
        unknown(change, &["kubeconfig", "kubernetes"]);
    }
    super::renewal::plan(change);
    check_quorum(change)?;
    super::reach::check_new_nodes(ctx, change).await
}

/// Plans a create that resumes a failed create of the same cluster (remembered by the refresh of the tainted
/// object): its secrets are kept, and the marker tells the destroy half of the replacement to leave the nodes.
fn plan_resume(ctx: &Context, change: &mut PlannedChange) {
    let Some(tainted) = super::resume::find(&change.planned) else {
        return;
    };
    change
        .planned
        .set("machine_secrets", tainted.get("machine_secrets").clone());
    ctx.set_private(super::resume::marker(&tainted));
    ctx.warn(Diagnostic::warning(
        "Resuming the failed create of this cluster",
        "The tainted object comes from a create that failed after the cluster secrets existed. Its replacement \
         keeps those secrets and continues where it stopped: nodes that took their config are neither reset nor \
         re-applied. `terraform destroy` still resets them.",
    ));
}

/// Refuses renaming a node in place (a new name at the address of a node the plan removes). A node keeps the name
/// it joined with: Talos names its etcd member after the hostname at join time (it is not renamed later) and the
/// kubelet registers the Kubernetes Node under it, so the apply would wait for a member that never appears. The
/// way is to remove the node (it is drained, leaves etcd and is reset) and add it again under the new name.
fn check_renames(change: &PlannedChange) -> Result<(), Diagnostics> {
    if !change.planned.get("nodes").is_wholly_known() {
        return Ok(());
    }
    let old = model(&change.prior);
    let new = model(&change.planned);
    let entries = super::model::node_entries(change.planned.get("nodes")).unwrap_or_default();
    let mut diags = Diagnostics::new();
    for node in new
        .nodes
        .values()
        .filter(|n| !old.nodes.contains_key(&n.name))
    {
        let renamed = old
            .nodes
            .values()
            .find(|o| o.address == node.address && !new.nodes.contains_key(&o.name));
        if let (Some(previous), Some((i, _))) = (renamed, entries.get(&node.name)) {
            diags.push(
                Diagnostic::error(
                    "A node cannot be renamed in place",
                    format!(
                        "Node {:?} at {} was {:?}. A node keeps the name it joined the cluster with (its etcd \
                         member and Kubernetes Node). Remove {:?} first (apply: it is drained, leaves etcd and is \
                         reset to maintenance mode), then add it under the new name.",
                        node.name, node.address, previous.name, previous.name
                    ),
                )
                .at(super::validate::node_path(*i).join_attr("name")),
            );
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(())
}

/// Refuses removing control planes when the control planes that stay and are reachable could not keep quorum.
fn check_quorum(change: &PlannedChange) -> Result<(), Diagnostics> {
    if !change.planned.get("nodes").is_wholly_known() {
        return Ok(());
    }
    let old = model(&change.prior);
    let new = model(&change.planned);
    let removed_cps = old
        .control_planes()
        .iter()
        .filter(|n| !new.nodes.contains_key(&n.name))
        .count();
    if removed_cps == 0 {
        return Ok(());
    }
    let status = state::status(&change.prior);
    let staying_reachable = old
        .control_planes()
        .iter()
        .filter(|n| {
            new.nodes.contains_key(&n.name) && status.get(&n.name).is_some_and(|s| s.reachable)
        })
        .count();
    let final_cps = new.control_planes().len();
    let quorum = final_cps / 2 + 1;
    if staying_reachable < quorum {
        return Err(Diagnostic::error(
            "Removing these control planes would lose etcd quorum",
            format!("{staying_reachable} reachable control plane(s) would remain; {quorum} are needed for {final_cps}. Bring the nodes back first."),
        )
        .at(AttributePath::attr("nodes"))
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::inputs;
    use crate::cty::Value;

    #[test]
    fn version_spellings_are_the_same_inputs() {
        let config = |talos: &str, k8s: &str| {
            Value::object([
                ("talos_version", Value::from(talos)),
                ("kubernetes_version", Value::from(k8s)),
            ])
        };
        let canonical = inputs(&config("1.12", "1.35.4"));
        for (talos, k8s) in [
            ("v1.12", "v1.35.4"),
            ("1.12.0", "1.35.4"),
            (" 1.12 ", "v1.35.4"),
        ] {
            assert_eq!(inputs(&config(talos, k8s)), canonical, "{talos} {k8s}");
        }
        assert_ne!(inputs(&config("1.13", "1.35.4")), canonical);
        assert_ne!(inputs(&config("1.12", "1.35.5")), canonical);
    }
}
