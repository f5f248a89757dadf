//! The tfplugin6 adapter: a thin translation of `tfplugin6.Provider` onto [`ProviderServer`].

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::convert::common_conversions;
use crate::framework::server::{ApplyRequest, PlanRequest};
use crate::framework::{AttributeType, ProviderServer, RawState};
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
                min_items: 0,
                max_items: 0,
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
    }
}

fn unknown_data_source(type_name: &str) -> Vec<pb::Diagnostic> {
    let mut d = Diagnostics::new();
    d.error(
        "Unknown data source",
        format!("This provider has no data source {type_name:?}."),
    );
    diags_out(d)
}

#[tonic::async_trait]
impl Provider for V6 {
    async fn get_provider_schema(
        &self,
        _req: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        let schemas = self.0.schemas();
        ok(pb::get_provider_schema::Response {
            provider: Some(schema_out(&schemas.provider)),
            resource_schemas: schemas
                .resources
                .iter()
                .map(|(k, s)| (k.clone(), schema_out(s)))
                .collect(),
            data_source_schemas: Default::default(),
            diagnostics: Vec::new(),
            provider_meta: None,
        })
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
        let d = self
            .0
            .validate_resource_config(&r.type_name, &dv_in(r.config));
        ok(pb::validate_resource_config::Response {
            diagnostics: diags_out(d),
        })
    }

    async fn validate_data_resource_config(
        &self,
        req: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        ok(pb::validate_data_resource_config::Response {
            diagnostics: unknown_data_source(&req.into_inner().type_name),
        })
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let r = req.into_inner();
        let raw = RawState {
            json: r.raw_state.map(|s| s.json).unwrap_or_default(),
        };
        let (state, d) = self
            .0
            .upgrade_resource_state(&r.type_name, r.version, raw)
            .await;
        ok(pb::upgrade_resource_state::Response {
            upgraded_state: dv_out(state),
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

    async fn read_resource(
        &self,
        req: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        let r = req.into_inner();
        let out = self
            .0
            .read_resource(&r.type_name, &dv_in(r.current_state), r.private)
            .await;
        ok(pb::read_resource::Response {
            new_state: dv_out(out.new_state),
            diagnostics: diags_out(out.diagnostics),
            private: out.private,
        })
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let r = req.into_inner();
        let out = self
            .0
            .plan_resource_change(PlanRequest {
                type_name: r.type_name,
                prior_state: dv_in(r.prior_state),
                proposed_new_state: dv_in(r.proposed_new_state),
                config: dv_in(r.config),
                prior_private: r.prior_private,
            })
            .await;
        ok(pb::plan_resource_change::Response {
            planned_state: dv_out(out.planned_state),
            requires_replace: out.requires_replace.iter().map(path_out).collect(),
            planned_private: out.planned_private,
            diagnostics: diags_out(out.diagnostics),
        })
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let r = req.into_inner();
        let out = self
            .0
            .apply_resource_change(ApplyRequest {
                type_name: r.type_name,
                prior_state: dv_in(r.prior_state),
                planned_state: dv_in(r.planned_state),
                config: dv_in(r.config),
                planned_private: r.planned_private,
            })
            .await;
        ok(pb::apply_resource_change::Response {
            new_state: dv_out(out.new_state),
            private: out.private,
            diagnostics: diags_out(out.diagnostics),
        })
    }

    async fn import_resource_state(
        &self,
        req: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let r = req.into_inner();
        let (found, d) = self.0.import_resource_state(&r.type_name, &r.id).await;
        ok(pb::import_resource_state::Response {
            imported_resources: found
                .into_iter()
                .map(|i| pb::import_resource_state::ImportedResource {
                    type_name: i.type_name,
                    state: dv_out(Some(i.state)),
                    private: i.private,
                })
                .collect(),
            diagnostics: diags_out(d),
        })
    }

    async fn read_data_source(
        &self,
        req: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        ok(pb::read_data_source::Response {
            state: None,
            diagnostics: unknown_data_source(&req.into_inner().type_name),
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
}
