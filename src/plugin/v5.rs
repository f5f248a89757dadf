//! The tfplugin5 adapter: a thin translation of `tfplugin5.Provider` (protocol 5.10, Terraform 0.15) onto
//! [`ProviderServer`]. Protocol 5 has no nested attributes: they are sent as a plain attribute of the equivalent
//! object or collection type. RPCs it does not list answer Unimplemented, as in [`super::v6`].

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::convert::{common_conversions, shared_rpcs};
use crate::framework::ProviderServer;
use pb::provider_server::Provider;

common_conversions!(tfplugin5);

/// Serves protocol 5.
pub struct V5(pub Arc<ProviderServer>);

/// Protocol 5 attribute: nested attributes are flattened to their value type.
pub(crate) fn attribute_out(a: &crate::framework::Attribute) -> pb::schema::Attribute {
    pb::schema::Attribute {
        name: a.name.clone(),
        r#type: a.value_type().to_json_bytes(),
        description: a.description.clone(),
        required: a.required,
        optional: a.optional,
        computed: a.computed,
        sensitive: a.sensitive,
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: a.deprecated,
        write_only: a.write_only,
        deprecation_message: String::new(),
    }
}

shared_rpcs!(V5 {
    async fn get_schema(
        &self,
        _req: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        ok(provider_schema_out(&self.0))
    }

    /// Echoes the configuration back: Terraform uses `prepared_config` as the configuration from then on.
    async fn prepare_provider_config(
        &self,
        req: Request<pb::prepare_provider_config::Request>,
    ) -> Result<Response<pb::prepare_provider_config::Response>, Status> {
        let config = req.into_inner().config;
        let d = self.0.validate_provider_config(&dv_in(config.clone()));
        ok(pb::prepare_provider_config::Response {
            prepared_config: config,
            diagnostics: diags_out(d),
        })
    }

    async fn validate_resource_type_config(
        &self,
        req: Request<pb::validate_resource_type_config::Request>,
    ) -> Result<Response<pb::validate_resource_type_config::Response>, Status> {
        let r = req.into_inner();
        let d = self.0.validate_resource_config(
            &r.type_name,
            &dv_in(r.config),
            caps_in(r.client_capabilities),
        );
        ok(pb::validate_resource_type_config::Response {
            diagnostics: diags_out(d),
        })
    }

    async fn validate_data_source_config(
        &self,
        req: Request<pb::validate_data_source_config::Request>,
    ) -> Result<Response<pb::validate_data_source_config::Response>, Status> {
        let r = req.into_inner();
        let d = self
            .0
            .validate_data_source_config(&r.type_name, &dv_in(r.config));
        ok(pb::validate_data_source_config::Response {
            diagnostics: diags_out(d),
        })
    }

    async fn configure(
        &self,
        req: Request<pb::configure::Request>,
    ) -> Result<Response<pb::configure::Response>, Status> {
        let d = self.0.configure(&dv_in(req.into_inner().config));
        ok(pb::configure::Response {
            diagnostics: diags_out(d),
        })
    }

    async fn stop(
        &self,
        _req: Request<pb::stop::Request>,
    ) -> Result<Response<pb::stop::Response>, Status> {
        self.0.stop();
        ok(pb::stop::Response {
            error: String::new(),
        })
    }
});
