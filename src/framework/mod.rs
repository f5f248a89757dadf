//! The protocol-neutral resource framework: the [`Resource`], [`DataSource`] and [`EphemeralResource`] traits, the
//! [`Schema`] model, [`Diagnostics`] with
//! attribute paths, the `timeouts` block helper, and the [`ProviderServer`] that the protocol 5 and 6 adapters in
//! `plugin/` serve. Nothing here knows about Talos or Kubernetes.
//!
//! # Writing a resource
//!
//! One file per resource in `src/resources/`, one line to register it in `src/provider.rs`. Values are
//! [`Value`] objects of the schema's type; read them with [`Value::get`] and `as_str`/`as_bool`/`as_i64`,
//! build them with [`Value::object`] or by cloning the plan and [`Value::set`]ting computed attributes.
//!
//! ```
//! use std::time::Duration;
//! use vixens::cty::{AttributePath, Value};
//! use vixens::framework::{
//!     async_trait, ApplyError, Attribute, Block, Context, Diagnostics, Nesting, NestedBlock, Resource, Schema,
//!     TimeoutDefaults,
//! };
//!
//! struct Greeting;
//!
//! #[async_trait]
//! impl Resource for Greeting {
//!     fn type_name(&self) -> &'static str {
//!         "vixens_greeting"
//!     }
//!
//!     fn schema(&self) -> Schema {
//!         Schema::new(
//!             Block::new("A greeting, for the docs.")
//!                 .attribute(Attribute::string("id").computed().description("Identifier."))
//!                 // Changing `name` replaces the resource; the framework plans that.
//!                 .attribute(Attribute::string("name").required().requires_replace())
//!                 .attribute(Attribute::string("text").optional())
//!                 .attribute(Attribute::string("token").computed().sensitive())
//!                 .block(NestedBlock::new("tag", Nesting::List, Block::new("A tag.")
//!                     .attribute(Attribute::string("key").required()))),
//!         )
//!         .with_timeouts(TimeoutDefaults::all(Duration::from_secs(600)))
//!     }
//!
//!     fn validate(&self, config: &Value, diags: &mut Diagnostics) {
//!         if config.get("name").as_str() == Some("") {
//!             diags.error_at(AttributePath::attr("name"), "Empty name", "Give the greeting a name.");
//!         }
//!     }
//!
//!     async fn create(&self, ctx: &Context, planned: &Value) -> Result<Value, ApplyError> {
//!         // Long waits go through ctx.run: it honours `timeouts.create` and Terraform's Stop.
//!         ctx.run("saying hello", tokio::time::sleep(Duration::from_millis(1))).await?;
//!         let mut state = planned.clone();
//!         state.set("id", planned.get("name").clone());
//!         state.set("token", "s3cr3t"); // computed: planned unknown, now known
//!         Ok(state)
//!     }
//!
//!     async fn read(&self, _ctx: &Context, state: &Value) -> Result<Option<Value>, Diagnostics> {
//!         Ok(Some(state.clone())) // Ok(None) when the object is gone
//!     }
//!
//!     async fn update(&self, _ctx: &Context, prior: &Value, planned: &Value) -> Result<Value, ApplyError> {
//!         let mut state = planned.clone();
//!         state.set("token", prior.get("token").clone());
//!         Ok(state)
//!     }
//!
//!     async fn delete(&self, _ctx: &Context, _state: &Value) -> Result<(), ApplyError> {
//!         Ok(())
//!     }
//! }
//!
//! # let rt = tokio::runtime::Runtime::new().unwrap();
//! # rt.block_on(async {
//! let planned = Value::object([("name", Value::from("hi")), ("id", Value::Unknown)]);
//! let state = Greeting.create(&Context::for_tests(), &planned).await.unwrap();
//! assert_eq!(state.get("id").as_str(), Some("hi"));
//! # });
//! ```
//!
//! Rules the framework applies for you (see [`rules`]): computed attributes unset in configuration are planned
//! unknown on create and keep their prior value on update (mark them unknown in [`Resource::modify_plan`] when an
//! update changes them); `requires_replace` attributes force replacement when they change; returned values get
//! missing attributes filled with null and are checked against the schema and the plan. When a create fails
//! after creating something, return `Err(ApplyError::new(diags).with_state(what_exists))`.

mod data_source;
mod diagnostics;
mod ephemeral;
pub mod presence;
mod resource;
pub mod rules;
pub mod schema;
pub mod server;
pub mod timeouts;

pub use async_trait::async_trait;
pub use data_source::DataSource;
pub use diagnostics::{Diagnostic, Diagnostics, Severity};
pub use ephemeral::EphemeralResource;
pub use resource::{
    ApplyError, Context, Operation, PlannedChange, RawState, Resource, PROGRESS_EVERY,
};
pub use schema::{Attribute, AttributeType, Block, NestedBlock, Nesting, Schema};
pub use server::ProviderServer;
pub use timeouts::TimeoutDefaults;

#[cfg(doc)]
use crate::cty::Value;
