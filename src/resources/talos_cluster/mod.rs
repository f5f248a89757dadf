//! `vixens_talos_cluster` (issue 4): bare Talos nodes to a bootstrapped cluster in one resource. The only place
//! where the framework meets the Talos domain code (`crate::talos`).
//!
//! - [`schema`]: attributes and blocks; [`validate`]: plan-time checks with attribute paths;
//! - [`plan`]: which computed values an update changes; [`apply`]: create/update convergence;
//! - [`delete`]: node removal and destroy ([`drain`]: the Kubernetes side of a removal); [`upgrade`]: rolling
//!   upgrades; [`read`]: refresh;
//! - [`renewal`]: the admin client certificates, renewed within 30 days of expiry, as planned;
//! - [`extensions`]: system extensions and kernel arguments as an Image Factory schematic;
//! - [`resume`]: the next apply after a failed create keeps its secrets and continues;
//! - [`import`]: `terraform import vixens_talos_cluster.NAME <path to secrets.yaml>` and the plan that adopts;
//! - [`reach`]: nodes that do not answer (the apply's answer window, the plan-time check of new nodes);
//! - [`waits`]: node waits that name what they saw when they time out, and the wait for the cluster endpoint.

pub mod apply;
pub mod checks;
pub mod delete;
pub(crate) mod drain;
pub mod extensions;
pub mod import;
pub mod model;
pub mod outputs;
pub mod plan;
pub mod reach;
pub mod read;
pub mod renewal;
pub mod resume;
pub mod schema;
pub mod state;
pub(crate) mod trust;
pub mod upgrade;
pub mod validate;
pub mod waits;

use crate::cty::Value;
use crate::framework::{
    async_trait, ApplyError, Context, Diagnostic, Diagnostics, PlannedChange, Resource, Schema,
};
use crate::talos::secrets::SecretsBundle;

/// The resource type.
pub struct TalosCluster;

#[async_trait]
impl Resource for TalosCluster {
    fn type_name(&self) -> &'static str {
        "vixens_talos_cluster"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        validate::validate(config, diags);
    }

    async fn modify_plan(
        &self,
        ctx: &Context,
        change: &mut PlannedChange,
    ) -> Result<(), Diagnostics> {
        plan::modify(ctx, change).await
    }

    async fn create(&self, ctx: &Context, planned: &Value) -> Result<Value, ApplyError> {
        apply::create(ctx, planned).await
    }

    async fn read(&self, ctx: &Context, state: &Value) -> Result<Option<Value>, Diagnostics> {
        read::read(ctx, state).await
    }

    async fn update(
        &self,
        ctx: &Context,
        prior: &Value,
        planned: &Value,
    ) -> Result<Value, ApplyError> {
        apply::update(ctx, prior, planned).await
    }

    async fn delete(&self, ctx: &Context, state: &Value) -> Result<(), ApplyError> {
        delete::delete(ctx, state).await
    }

    /// Import from a talosctl secrets.yaml path: the state holds the secrets and, as `id`, the cluster id they
    /// carry (`cluster.id`, the id a created cluster gets too). The configuration supplies the rest: the first
    /// plan renders the machine configs and checks the nodes ([`plan`]); its apply adopts the nodes that run
    /// this cluster instead of re-applying them.
    ///
    /// Why that first plan is never empty: `ImportResourceState` gets only the id and `ReadResource` only the
    /// prior state, so the imported state cannot hold the configuration (nodes, endpoint, `timeouts`...); Terraform
    /// plans every non-computed attribute as its configured value and calls any difference from the prior state
    /// an update. That update writes the configuration into the state and changes nothing on the nodes.
    async fn import(&self, _ctx: &Context, id: &str) -> Result<Value, Diagnostics> {
        let text = std::fs::read_to_string(id).map_err(|e| {
            Diagnostics::from(Diagnostic::error(
                "Cannot read the secrets file",
                format!("{id}: {e}"),
            ))
        })?;
        let secrets = SecretsBundle::from_yaml(&text).map_err(|e| {
            Diagnostics::from(Diagnostic::error("Invalid secrets.yaml", e.to_string()))
        })?;
        Ok(Value::object([
            ("id", Value::from(secrets.cluster_id.clone())),
            ("machine_secrets", Value::from(text)),
        ]))
    }
}

#[cfg(test)]
mod tests;
