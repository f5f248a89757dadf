//! Conversions and RPCs shared by the tfplugin5 and tfplugin6 adapters. The two protocols' common messages
//! (`DynamicValue`, `Diagnostic`, `AttributePath`, `Schema.Block`, `Schema.NestedBlock`, the resource, data source
//! and ephemeral resource RPCs) have the same shape in distinct generated modules, so [`common_conversions`]
//! writes the conversions for each, and [`shared_rpcs`] the RPCs that have the same name in both protocols.

macro_rules! common_conversions {
    ($pb:ident) => {
        use crate::cty::{AttributePath, PathStep};
        use crate::framework::server::{
            ClientCapabilities as NeutralCapabilities, DynamicValue as NeutralValue,
        };
        use crate::framework::{Block, Diagnostics, Nesting, Schema, Severity};
        use crate::proto::$pb as pb;

        /// A request value (absent means empty, which fails to decode with a diagnostic).
        pub(crate) fn dv_in(v: Option<pb::DynamicValue>) -> NeutralValue {
            v.map(|v| NeutralValue {
                msgpack: v.msgpack,
                json: v.json,
            })
            .unwrap_or_default()
        }

        /// A response value.
        pub(crate) fn dv_out(v: Option<NeutralValue>) -> Option<pb::DynamicValue> {
            v.map(|v| pb::DynamicValue {
                msgpack: v.msgpack,
                json: v.json,
            })
        }

        /// An attribute path.
        pub(crate) fn path_out(p: &AttributePath) -> pb::AttributePath {
            use pb::attribute_path::step::Selector;
            let steps = p
                .steps
                .iter()
                .map(|s| pb::attribute_path::Step {
                    selector: Some(match s {
                        PathStep::Attribute(n) => Selector::AttributeName(n.clone()),
                        PathStep::Key(k) => Selector::ElementKeyString(k.clone()),
                        PathStep::Index(i) => Selector::ElementKeyInt(*i),
                    }),
                })
                .collect();
            pb::AttributePath { steps }
        }

        /// Diagnostics.
        pub(crate) fn diags_out(d: Diagnostics) -> Vec<pb::Diagnostic> {
            d.into_iter()
                .map(|d| pb::Diagnostic {
                    severity: match d.severity {
                        Severity::Error => pb::diagnostic::Severity::Error as i32,
                        Severity::Warning => pb::diagnostic::Severity::Warning as i32,
                    },
                    summary: d.summary,
                    detail: d.detail,
                    attribute: d.attribute.as_ref().map(path_out),
                })
                .collect()
        }

        /// A block (attributes via the protocol-specific `attribute_out`).
        pub(crate) fn block_out(b: &Block, version: i64) -> pb::schema::Block {
            use pb::schema::nested_block::NestingMode;
            pb::schema::Block {
                version,
                attributes: b.attributes.iter().map(attribute_out).collect(),
                block_types: b
                    .blocks
                    .iter()
                    .map(|nb| pb::schema::NestedBlock {
                        type_name: nb.type_name.clone(),
                        block: Some(block_out(&nb.block, 0)),
                        nesting: match nb.nesting {
                            Nesting::Single => NestingMode::Single,
                            Nesting::Group => NestingMode::Group,
                            Nesting::List => NestingMode::List,
                            Nesting::Set => NestingMode::Set,
                            Nesting::Map => NestingMode::Map,
                        } as i32,
                        min_items: nb.min_items,
                        max_items: nb.max_items,
                    })
                    .collect(),
                description: b.description.clone(),
                description_kind: pb::StringKind::Markdown as i32,
                deprecated: b.deprecated,
                deprecation_message: String::new(),
            }
        }

        /// A schema.
        pub(crate) fn schema_out(s: &Schema) -> pb::Schema {
            pb::Schema {
                version: s.version,
                block: Some(block_out(&s.block, s.version)),
            }
        }

        /// What the client announced (absent from clients that predate the message: all false).
        pub(crate) fn caps_in(c: Option<pb::ClientCapabilities>) -> NeutralCapabilities {
            NeutralCapabilities {
                write_only_attributes_allowed: c.is_some_and(|c| c.write_only_attributes_allowed),
            }
        }

        /// The provider's capabilities: none of the optional ones (Terraform plans destroys itself and calls
        /// `GetProviderSchema` in each process).
        pub(crate) fn server_capabilities() -> pb::ServerCapabilities {
            pb::ServerCapabilities::default()
        }

        /// `GetProviderSchema` / `GetSchema`: every schema of `server`.
        pub(crate) fn provider_schema_out(
            server: &crate::framework::ProviderServer,
        ) -> pb::get_provider_schema::Response {
            let schemas = server.schemas();
            let all = |m: &std::collections::BTreeMap<String, Schema>| {
                m.iter().map(|(k, s)| (k.clone(), schema_out(s))).collect()
            };
            pb::get_provider_schema::Response {
                provider: Some(schema_out(&schemas.provider)),
                resource_schemas: all(&schemas.resources),
                data_source_schemas: all(&schemas.data_sources),
                ephemeral_resource_schemas: all(&schemas.ephemeral_resources),
                server_capabilities: Some(server_capabilities()),
                ..Default::default()
            }
        }

        /// Wraps a response.
        pub(crate) fn ok<T>(t: T) -> Result<tonic::Response<T>, tonic::Status> {
            Ok(tonic::Response::new(t))
        }
    };
}

/// `impl Provider for $adapter { ... }` with the RPCs named alike in tfplugin5 and tfplugin6 written once, plus
/// the protocol's own ones given in the braces. `$adapter.0` is the
/// [`ProviderServer`](crate::framework::ProviderServer); the module must have run [`common_conversions`]. (One
/// macro writes the whole impl: `#[async_trait]` must see the methods already expanded.)
macro_rules! shared_rpcs {
    ($adapter:ty { $($own:tt)* }) => {
        #[tonic::async_trait]
        impl Provider for $adapter {
        $($own)*
        async fn get_metadata(
            &self,
            _req: Request<pb::get_metadata::Request>,
        ) -> Result<Response<pb::get_metadata::Response>, Status> {
            use pb::get_metadata as m;
            let server = &self.0;
            ok(m::Response {
                server_capabilities: Some(server_capabilities()),
                resources: server
                    .resource_types()
                    .map(|t| m::ResourceMetadata { type_name: t.into() })
                    .collect(),
                data_sources: server
                    .data_source_types()
                    .map(|t| m::DataSourceMetadata { type_name: t.into() })
                    .collect(),
                ephemeral_resources: server
                    .ephemeral_resource_types()
                    .map(|t| m::EphemeralMetadata { type_name: t.into() })
                    .collect(),
                ..Default::default()
            })
        }

        /// No resource has an identity (Terraform 1.12+ asks; an empty answer is what older providers mean).
        async fn get_resource_identity_schemas(
            &self,
            _req: Request<pb::get_resource_identity_schemas::Request>,
        ) -> Result<Response<pb::get_resource_identity_schemas::Response>, Status> {
            ok(Default::default())
        }

        async fn upgrade_resource_state(
            &self,
            req: Request<pb::upgrade_resource_state::Request>,
        ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
            let r = req.into_inner();
            let raw = crate::framework::RawState {
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
                ..Default::default()
            })
        }

        async fn plan_resource_change(
            &self,
            req: Request<pb::plan_resource_change::Request>,
        ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
            let r = req.into_inner();
            let out = self
                .0
                .plan_resource_change(crate::framework::server::PlanRequest {
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
                ..Default::default()
            })
        }

        async fn apply_resource_change(
            &self,
            req: Request<pb::apply_resource_change::Request>,
        ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
            let r = req.into_inner();
            let out = self
                .0
                .apply_resource_change(crate::framework::server::ApplyRequest {
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
                ..Default::default()
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
                        ..Default::default()
                    })
                    .collect(),
                diagnostics: diags_out(d),
                ..Default::default()
            })
        }

        async fn read_data_source(
            &self,
            req: Request<pb::read_data_source::Request>,
        ) -> Result<Response<pb::read_data_source::Response>, Status> {
            let r = req.into_inner();
            let (state, d) = self.0.read_data_source(&r.type_name, &dv_in(r.config)).await;
            ok(pb::read_data_source::Response {
                state: dv_out(state),
                diagnostics: diags_out(d),
                ..Default::default()
            })
        }

        async fn validate_ephemeral_resource_config(
            &self,
            req: Request<pb::validate_ephemeral_resource_config::Request>,
        ) -> Result<Response<pb::validate_ephemeral_resource_config::Response>, Status> {
            let r = req.into_inner();
            let d = self
                .0
                .validate_ephemeral_resource_config(&r.type_name, &dv_in(r.config));
            ok(pb::validate_ephemeral_resource_config::Response {
                diagnostics: diags_out(d),
            })
        }

        async fn open_ephemeral_resource(
            &self,
            req: Request<pb::open_ephemeral_resource::Request>,
        ) -> Result<Response<pb::open_ephemeral_resource::Response>, Status> {
            let r = req.into_inner();
            let out = self
                .0
                .open_ephemeral_resource(&r.type_name, &dv_in(r.config))
                .await;
            ok(pb::open_ephemeral_resource::Response {
                result: dv_out(out.result),
                private: (!out.private.is_empty()).then_some(out.private),
                diagnostics: diags_out(out.diagnostics),
                ..Default::default()
            })
        }

        async fn close_ephemeral_resource(
            &self,
            req: Request<pb::close_ephemeral_resource::Request>,
        ) -> Result<Response<pb::close_ephemeral_resource::Response>, Status> {
            let r = req.into_inner();
            let d = self
                .0
                .close_ephemeral_resource(&r.type_name, r.private.unwrap_or_default())
                .await;
            ok(pb::close_ephemeral_resource::Response {
                diagnostics: diags_out(d),
            })
        }
        }
    };
}

pub(crate) use common_conversions;
pub(crate) use shared_rpcs;
