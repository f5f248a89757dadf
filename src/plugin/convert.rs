//! Conversions shared by the tfplugin5 and tfplugin6 adapters. The two protocols' common messages
//! (`DynamicValue`, `Diagnostic`, `AttributePath`, `Schema.Block`, `Schema.NestedBlock`) have the same shape in
//! distinct generated modules, so one macro writes these conversions for each.

macro_rules! common_conversions {
    ($pb:ident) => {
        use crate::cty::{AttributePath, PathStep};
        use crate::framework::server::DynamicValue as NeutralValue;
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
            }
        }

        /// A schema.
        pub(crate) fn schema_out(s: &Schema) -> pb::Schema {
            pb::Schema {
                version: s.version,
                block: Some(block_out(&s.block, s.version)),
            }
        }

        /// Wraps a response.
        pub(crate) fn ok<T>(t: T) -> Result<tonic::Response<T>, tonic::Status> {
            Ok(tonic::Response::new(t))
        }
    };
}

pub(crate) use common_conversions;
