//! `ValidateEphemeralResourceConfig`, `OpenEphemeralResource` and `CloseEphemeralResource` for the registered
//! [`EphemeralResource`](crate::framework::EphemeralResource)s. Their values are never logged.

use std::time::Instant;

use super::{complete, elapsed_ms, DynamicValue, Entry, ProviderServer};
use crate::framework::{Diagnostics, EphemeralResource};

/// Answer to `OpenEphemeralResource`.
#[derive(Debug, Default)]
pub struct OpenResponse {
    /// The opened value (`None` on error).
    pub result: Option<DynamicValue>,
    /// Private data that Terraform hands back to close.
    pub private: Vec<u8>,
    /// Diagnostics.
    pub diagnostics: Diagnostics,
}

impl ProviderServer {
    fn ephemeral(&self, type_name: &str) -> Result<&Entry<dyn EphemeralResource>, Diagnostics> {
        Entry::find(
            &self.ephemeral_resources,
            type_name,
            "ephemeral resource type",
        )
    }

    /// `ValidateEphemeralResourceConfig`.
    pub fn validate_ephemeral_resource_config(
        &self,
        type_name: &str,
        config: &DynamicValue,
    ) -> Diagnostics {
        match self.ephemeral(type_name) {
            Ok(e) => e.validate(config, |r, c, diags| r.validate(c, diags)),
            Err(d) => d,
        }
    }

    /// `OpenEphemeralResource`.
    pub async fn open_ephemeral_resource(
        &self,
        type_name: &str,
        config: &DynamicValue,
    ) -> OpenResponse {
        let entry = match self.ephemeral(type_name) {
            Ok(e) => e,
            Err(d) => {
                return OpenResponse {
                    diagnostics: d,
                    ..Default::default()
                }
            }
        };
        let config = match config.decode(&entry.ty) {
            Ok(v) => v,
            Err(d) => {
                return OpenResponse {
                    diagnostics: d.into(),
                    ..Default::default()
                }
            }
        };
        let started = Instant::now();
        let ctx = self.context();
        let result = entry.item.open(&ctx, &config).await;
        tracing::info!(
            type_name,
            elapsed_ms = elapsed_ms(started),
            "open ephemeral resource done"
        );
        let mut diags = ctx.take_warnings();
        let opened = result.and_then(|v| {
            complete(&entry.schema, &entry.ty, v)
                .and_then(|v| DynamicValue::encode(&v, &entry.ty))
                .map_err(Diagnostics::from)
        });
        match opened {
            Ok(value) => OpenResponse {
                result: Some(value),
                private: ctx.take_private(Vec::new()),
                diagnostics: diags,
            },
            Err(d) => {
                diags.extend(d);
                OpenResponse {
                    diagnostics: diags,
                    ..Default::default()
                }
            }
        }
    }

    /// `CloseEphemeralResource`, with the private data that open returned.
    pub async fn close_ephemeral_resource(&self, type_name: &str, private: Vec<u8>) -> Diagnostics {
        let entry = match self.ephemeral(type_name) {
            Ok(e) => e,
            Err(d) => return d,
        };
        let ctx = self.context().with_private(private);
        let result = entry.item.close(&ctx).await;
        let mut diags = ctx.take_warnings();
        if let Err(d) = result {
            diags.extend(d);
        }
        tracing::debug!(type_name, "closed ephemeral resource");
        diags
    }
}
