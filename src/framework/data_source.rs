//! The [`DataSource`] trait that every data source implements: a read-only lookup, run at plan when its
//! configuration is known (else at apply), whose result Terraform keeps in state until the next refresh.

use async_trait::async_trait;

use super::{Context, Diagnostics, Schema};
use crate::cty::Value;

/// A data source type. Implement it once; the framework serves it over protocol 5 and 6.
///
/// The configuration and the result are objects of [`DataSource::schema`]'s type: attributes the user sets
/// (`required`/`optional`) and the ones the read fills in (`computed`). The framework fills attributes left out
/// of the result with null and checks it against the schema.
#[async_trait]
pub trait DataSource: Send + Sync + 'static {
    /// Terraform type name, e.g. `"vixens_talos_disks"`.
    fn type_name(&self) -> &'static str;

    /// The schema (called often: keep it cheap and deterministic).
    fn schema(&self) -> Schema;

    /// Checks a configuration (values may be unknown). Report problems with [`Diagnostics::error_at`].
    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        let _ = (config, diags);
    }

    /// Reads: returns `config` with its computed attributes set. Terraform calls it only with a wholly known
    /// configuration. Errors fail the plan (or apply) that needed the data.
    async fn read(&self, ctx: &Context, config: &Value) -> Result<Value, Diagnostics>;
}
