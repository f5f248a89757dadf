//! The tfplugin6 adapter: a thin translation of `tfplugin6.Provider` (protocol 6.10, Terraform >= 1.0) onto
//! [`ProviderServer`]. RPCs it does not list (functions, list resources, actions, state stores, identities'
//! upgrade, move and config generation) answer Unimplemented, as Terraform expects of providers without them.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::convert::{common_conversions, shared_rpcs};
use crate::framework::{AttributeType, ProviderServer};
use pb::provider_server::Provider;

common_conversions!(tfplugin6);

/// Serves protocol 6.
pub struct V6(pub Arc<ProviderServer>);

/// Protocol 6 attribute: nested attributes become `nested_type`.
pub(crate) fn attribute_out(a: &crate::framework::Attribute) -> pb::schema::Attribute {
    use pb::schema::object::NestingMode;
    let (ty, nested_type) = match &a.ty {
        AttributeType::Type(t) => (t.to_json_bytes(), None),
        AttributeType::Nested {
            nesting,
            attributes,
        } => (
            Vec::new(),
            Some(pb::schema::Object {
                attributes: attributes.iter().map(attribute_out).collect(),
                nesting: match nesting {
                    Nesting::Single | Nesting::Group => NestingMode::Single,
                    Nesting::List => NestingMode::List,
                    Nesting::Set => NestingMode::Set,
                    Nesting::Map => NestingMode::Map,
                } as i32,
                ..Default::default()
            }),
        ),
    };
    pb::schema::Attribute {
        name: a.name.clone(),
        r#type: ty,
        nested_type,
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

shared_rpcs!(V6 {
    async fn get_provider_schema(
        &self,
        _req: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        ok(provider_schema_out(&self.0))
    }

    async fn validate_provider_config(
        &self,
        req: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let d = self
            .0
            .validate_provider_config(&dv_in(req.into_inner().config));
        ok(pb::validate_provider_config::Response {
            diagnostics: diags_out(d),
        })
    }

    async fn validate_resource_config(
        &self,
        req: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let r = req.into_inner();
        let d = self.0.validate_resource_config(
            &r.type_name,
            &dv_in(r.config),
            caps_in(r.client_capabilities),
        );
        ok(pb::validate_resource_config::Response {
            diagnostics: diags_out(d),
        })
    }

    async fn validate_data_resource_config(
        &self,
        req: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let r = req.into_inner();
        let d = self
            .0
            .validate_data_source_config(&r.type_name, &dv_in(r.config));
        ok(pb::validate_data_resource_config::Response {
            diagnostics: diags_out(d),
        })
    }

    async fn configure_provider(
        &self,
        req: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let d = self.0.configure(&dv_in(req.into_inner().config));
        ok(pb::configure_provider::Response {
            diagnostics: diags_out(d),
        })
    }

    async fn stop_provider(
        &self,
        _req: Request<pb::stop_provider::Request>,
    ) -> Result<Response<pb::stop_provider::Response>, Status> {
        self.0.stop();
        ok(pb::stop_provider::Response {
            error: String::new(),
        })
    }
});
