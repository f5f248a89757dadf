//! `ValidateDataResourceConfig` / `ValidateDataSourceConfig` and `ReadDataSource` for the registered
//! [`DataSource`](crate::framework::DataSource)s.

use std::time::Instant;

use super::{complete, elapsed_ms, DynamicValue, Entry, ProviderServer};
use crate::framework::{DataSource, Diagnostic, Diagnostics};

impl ProviderServer {
    fn data_source(&self, type_name: &str) -> Result<&Entry<dyn DataSource>, Diagnostics> {
        Entry::find(&self.data_sources, type_name, "data source")
    }

    /// `ValidateDataResourceConfig` / `ValidateDataSourceConfig`.
    pub fn validate_data_source_config(
        &self,
        type_name: &str,
        config: &DynamicValue,
    ) -> Diagnostics {
        match self.data_source(type_name) {
            Ok(e) => e.validate(config, |d, c, diags| d.validate(c, diags)),
            Err(d) => d,
        }
    }

    /// `ReadDataSource`: the configuration with its computed attributes filled in (`None` on error).
    pub async fn read_data_source(
        &self,
        type_name: &str,
        config: &DynamicValue,
    ) -> (Option<DynamicValue>, Diagnostics) {
        let entry = match self.data_source(type_name) {
            Ok(e) => e,
            Err(d) => return (None, d),
        };
        let config = match config.decode(&entry.ty) {
            Ok(v) => v,
            Err(d) => return (None, d.into()),
        };
        tracing::debug!(type_name, "read data source");
        let started = Instant::now();
        let ctx = self.context();
        let result = entry.item.read(&ctx, &config).await;
        tracing::info!(
            type_name,
            elapsed_ms = elapsed_ms(started),
            "read data source done"
        );
        let mut diags = ctx.take_warnings();
        let value = match result {
            Ok(v) => v,
            Err(d) => {
                diags.extend(d);
                return (None, diags);
            }
        };
        let encoded = complete(&entry.schema, &entry.ty, value).and_then(|v| {
            if v.is_wholly_known() {
                DynamicValue::encode(&v, &entry.ty)
            } else {
                Err(Diagnostic::error(
                    "Provider returned an unknown value",
                    format!("{type_name} left a value unknown after its read; this is a bug in the provider."),
                ))
            }
        });
        match encoded {
            Ok(state) => (Some(state), diags),
            Err(d) => {
                diags.push(d);
                (None, diags)
            }
        }
    }
}
