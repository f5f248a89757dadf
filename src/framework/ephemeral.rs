//! The [`EphemeralResource`] trait (Terraform >= 1.10, protocol 5.7/6.7): a value opened for the length of one
//! Terraform run, e.g. credentials handed to another provider's configuration, and never written to the plan or
//! the state.

use async_trait::async_trait;

use super::{Context, Diagnostics, Schema};
use crate::cty::Value;

/// An ephemeral resource type. Implement it once; the framework serves it over protocol 5 and 6.
///
/// Terraform opens it (in plan and again in apply) when its configuration is wholly known, hands the result to
/// whatever references it, and closes it at the end of the run. Private data set with
/// [`Context::set_private`] during [`EphemeralResource::open`] comes back in [`Context::private`] to
/// [`EphemeralResource::close`] (e.g. a lease to revoke).
#[async_trait]
pub trait EphemeralResource: Send + Sync + 'static {
    /// Terraform type name, e.g. `"vixens_talos_client_config"`.
    fn type_name(&self) -> &'static str;

    /// The schema (called often: keep it cheap and deterministic).
    fn schema(&self) -> Schema;

    /// Checks a configuration (values may be unknown). Report problems with [`Diagnostics::error_at`].
    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        let _ = (config, diags);
    }

    /// Opens: returns `config` with its computed attributes set.
    async fn open(&self, ctx: &Context, config: &Value) -> Result<Value, Diagnostics>;

    /// Closes what [`EphemeralResource::open`] opened; its private data is in [`Context::private`]. The default
    /// does nothing (nothing outlives the run).
    async fn close(&self, ctx: &Context) -> Result<(), Diagnostics> {
        let _ = ctx;
        Ok(())
    }
}
