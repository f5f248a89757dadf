//! Plan modification: which computed attributes an update changes, drift, renewal, and quorum checks.

use super::model::model;
use super::state;
use crate::cty::{AttributePath, Value};
use crate::framework::{Context, Diagnostic, Diagnostics, PlannedChange};

/// The configuration attributes (everything but computed ones, `timeouts` and `unreachable_timeout`) of a value.
pub(crate) fn inputs(value: &Value) -> Value {
    let mut v = value.clone();
    for name in state::COMPUTED {
        v.set(name, Value::Null);
    }
    v.set("timeouts", Value::Null);
    v.set(super::reach::ATTRIBUTE, Value::Null);
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
