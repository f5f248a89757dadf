//! The protocol-neutral provider server: the one interface that the tfplugin5 and tfplugin6 adapters in
//! `plugin/` translate to. It decodes `DynamicValue`s with the schema's type, applies the framework's plan and
//! apply rules ([`super::rules`]) and calls the [`Resource`]s. Values are never logged (they may hold secrets).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::schema::{normalize_blocks, null_write_only, write_only_values};
use super::timeouts;
use super::{
    rules, ApplyError, Context, DataSource, Diagnostic, Diagnostics, EphemeralResource, Operation,
    PlannedChange, RawState, Resource, Schema,
};

mod data_sources;
mod ephemeral;

use crate::cty::{self, AttributePath, Type, Value};
pub use ephemeral::OpenResponse;

/// A `DynamicValue` as it travels on the wire: msgpack (always used in answers) or JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DynamicValue {
    /// msgpack encoding (preferred).
    pub msgpack: Vec<u8>,
    /// JSON encoding (used when `msgpack` is empty).
    pub json: Vec<u8>,
}

impl DynamicValue {
    /// Decodes with `ty`. Errors are diagnostics naming the offending path.
    pub fn decode(&self, ty: &Type) -> Result<Value, Diagnostic> {
        let result = if !self.msgpack.is_empty() {
            cty::msgpack::decode(&self.msgpack, ty)
        } else if !self.json.is_empty() {
            cty::json::decode(&self.json, ty)
        } else {
            Err(cty::Error::new("empty DynamicValue"))
        };
        result.map_err(|e| {
            let mut d = Diagnostic::from(e);
            d.summary = "Invalid DynamicValue".into();
            d
        })
    }

    /// Encodes `value` of type `ty` as msgpack.
    pub fn encode(value: &Value, ty: &Type) -> Result<Self, Diagnostic> {
        let msgpack = cty::msgpack::encode(value, ty).map_err(|e| {
            let mut d = Diagnostic::from(e);
            d.summary = "Provider produced a value that does not match its schema".into();
            d
        })?;
        Ok(Self {
            msgpack,
            json: Vec::new(),
        })
    }
}

/// All schemas of the provider.
#[derive(Clone, Debug)]
pub struct ProviderSchemas {
    /// The provider configuration schema.
    pub provider: Schema,
    /// Resource schemas by type name.
    pub resources: BTreeMap<String, Schema>,
    /// Data source schemas by type name.
    pub data_sources: BTreeMap<String, Schema>,
    /// Ephemeral resource schemas by type name.
    pub ephemeral_resources: BTreeMap<String, Schema>,
}

/// What the Terraform client announced it can handle (tfplugin `ClientCapabilities`); all false from clients
/// that predate a capability.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientCapabilities {
    /// The client keeps write-only attributes out of plans and states (Terraform >= 1.11).
    pub write_only_attributes_allowed: bool,
}

/// Answer to `ReadResource`.
#[derive(Debug, Default)]
pub struct ReadResponse {
    /// New state; `None` when the object is gone.
    pub new_state: Option<DynamicValue>,
    /// Opaque private data to keep.
    pub private: Vec<u8>,
    /// Diagnostics.
    pub diagnostics: Diagnostics,
}

/// `PlanResourceChange` request.
#[derive(Debug, Default)]
pub struct PlanRequest {
    /// Resource type name.
    pub type_name: String,
    /// Current state (null when creating).
    pub prior_state: DynamicValue,
    /// Terraform's proposed new state (config merged with prior computed values; null when destroying).
    pub proposed_new_state: DynamicValue,
    /// The configuration.
    pub config: DynamicValue,
    /// Private data from the prior state.
    pub prior_private: Vec<u8>,
}

/// Answer to `PlanResourceChange`.
#[derive(Debug, Default)]
pub struct PlanResponse {
    /// Planned new state.
    pub planned_state: Option<DynamicValue>,
    /// Attributes whose change forces replacement.
    pub requires_replace: Vec<AttributePath>,
    /// Private data for apply.
    pub planned_private: Vec<u8>,
    /// Diagnostics.
    pub diagnostics: Diagnostics,
}

/// `ApplyResourceChange` request.
#[derive(Debug, Default)]
pub struct ApplyRequest {
    /// Resource type name.
    pub type_name: String,
    /// Current state (null when creating).
    pub prior_state: DynamicValue,
    /// Planned state (null when destroying).
    pub planned_state: DynamicValue,
    /// The configuration.
    pub config: DynamicValue,
    /// Private data from the plan.
    pub planned_private: Vec<u8>,
}

/// Answer to `ApplyResourceChange`.
#[derive(Debug, Default)]
pub struct ApplyResponse {
    /// New state (null after delete; what exists after a partial failure).
    pub new_state: Option<DynamicValue>,
    /// Private data to store.
    pub private: Vec<u8>,
    /// Diagnostics.
    pub diagnostics: Diagnostics,
}

/// One object found by `ImportResourceState`.
#[derive(Debug, Default)]
pub struct ImportedResource {
    /// Resource type name.
    pub type_name: String,
    /// Its state (Terraform reads it next).
    pub state: DynamicValue,
    /// Private data.
    pub private: Vec<u8>,
}

struct Registered {
    resource: Arc<dyn Resource>,
    schema: Schema,
    ty: Type,
}

/// A registered data source or ephemeral resource with its schema and value type, computed once.
struct Entry<T: ?Sized> {
    item: Arc<T>,
    schema: Schema,
    ty: Type,
}

impl<T: ?Sized> Entry<T> {
    fn new(item: Arc<T>, schema: Schema) -> Self {
        let ty = schema.value_type();
        Self { item, schema, ty }
    }

    /// The entry of `type_name` in `map`, or an error naming it as a `kind` (e.g. "data source").
    fn find<'a>(
        map: &'a BTreeMap<String, Entry<T>>,
        type_name: &str,
        kind: &str,
    ) -> Result<&'a Entry<T>, Diagnostics> {
        map.get(type_name).ok_or_else(|| {
            Diagnostic::error(
                format!("Unknown {kind}"),
                format!("This provider has no {kind} {type_name:?}."),
            )
            .into()
        })
    }

    /// Decodes `config` and runs the item's `validate` on it.
    fn validate(
        &self,
        config: &DynamicValue,
        validate: impl FnOnce(&T, &Value, &mut Diagnostics),
    ) -> Diagnostics {
        let mut diags = Diagnostics::new();
        match config.decode(&self.ty) {
            Ok(config) => validate(&self.item, &config, &mut diags),
            Err(d) => diags.push(d),
        }
        diags
    }
}

/// The protocol-neutral provider: provider schema plus registered resources, data sources and ephemeral
/// resources. Cheap to share (`Arc`).
pub struct ProviderServer {
    provider_schema: Schema,
    resources: BTreeMap<String, Registered>,
    data_sources: BTreeMap<String, Entry<dyn DataSource>>,
    ephemeral_resources: BTreeMap<String, Entry<dyn EphemeralResource>>,
    config: RwLock<Arc<Value>>,
    cancel: Mutex<CancellationToken>,
}

impl ProviderServer {
    /// A server for `resources`, configured by `provider_schema`.
    pub fn new(provider_schema: Schema, resources: Vec<Arc<dyn Resource>>) -> Self {
        let resources = resources
            .into_iter()
            .map(|r| {
                let schema = r.schema();
                let ty = schema.value_type();
                (
                    r.type_name().to_string(),
                    Registered {
                        resource: r,
                        schema,
                        ty,
                    },
                )
            })
            .collect();
        Self {
            provider_schema,
            resources,
            data_sources: BTreeMap::new(),
            ephemeral_resources: BTreeMap::new(),
            config: RwLock::new(Arc::new(Value::Null)),
            cancel: Mutex::new(CancellationToken::new()),
        }
    }

    /// This server with `data_sources` registered too.
    pub fn with_data_sources(mut self, data_sources: Vec<Arc<dyn DataSource>>) -> Self {
        for d in data_sources {
            let schema = d.schema();
            self.data_sources
                .insert(d.type_name().to_string(), Entry::new(d, schema));
        }
        self
    }

    /// This server with `ephemeral_resources` registered too.
    pub fn with_ephemeral_resources(
        mut self,
        ephemeral_resources: Vec<Arc<dyn EphemeralResource>>,
    ) -> Self {
        for e in ephemeral_resources {
            let schema = e.schema();
            self.ephemeral_resources
                .insert(e.type_name().to_string(), Entry::new(e, schema));
        }
        self
    }

    /// The names of the registered resource types.
    pub fn resource_types(&self) -> impl Iterator<Item = &str> {
        self.resources.keys().map(String::as_str)
    }

    /// The names of the registered data sources.
    pub fn data_source_types(&self) -> impl Iterator<Item = &str> {
        self.data_sources.keys().map(String::as_str)
    }

    /// The names of the registered ephemeral resource types.
    pub fn ephemeral_resource_types(&self) -> impl Iterator<Item = &str> {
        self.ephemeral_resources.keys().map(String::as_str)
    }

    /// Every schema (`GetProviderSchema`).
    pub fn schemas(&self) -> ProviderSchemas {
        ProviderSchemas {
            provider: self.provider_schema.clone(),
            resources: self
                .resources
                .iter()
                .map(|(k, r)| (k.clone(), r.schema.clone()))
                .collect(),
            data_sources: self
                .data_sources
                .iter()
                .map(|(k, d)| (k.clone(), d.schema.clone()))
                .collect(),
            ephemeral_resources: self
                .ephemeral_resources
                .iter()
                .map(|(k, e)| (k.clone(), e.schema.clone()))
                .collect(),
        }
    }

    fn lookup(&self, type_name: &str) -> Result<&Registered, Diagnostics> {
        self.resources.get(type_name).ok_or_else(|| {
            Diagnostic::error(
                "Unknown resource type",
                format!("This provider has no resource type {type_name:?}."),
            )
            .into()
        })
    }

    fn context(&self) -> Context {
        let config = self.config.read().map(|c| c.clone()).unwrap_or_default();
        let cancel = self.cancel.lock().map(|c| c.clone()).unwrap_or_default();
        Context::new(config, cancel)
    }

    /// Cancels work in flight (`StopProvider`/`Stop`); later calls get a fresh token.
    pub fn stop(&self) {
        tracing::info!("stop requested: cancelling operations in flight");
        if let Ok(mut c) = self.cancel.lock() {
            c.cancel();
            *c = CancellationToken::new();
        }
    }

    /// `ValidateProviderConfig` / `PrepareProviderConfig`.
    pub fn validate_provider_config(&self, config: &DynamicValue) -> Diagnostics {
        match config.decode(&self.provider_schema.value_type()) {
            Ok(_) => Diagnostics::new(),
            Err(d) => d.into(),
        }
    }

    /// `ConfigureProvider`: keeps the configuration for [`Context::provider_config`].
    pub fn configure(&self, config: &DynamicValue) -> Diagnostics {
        match config.decode(&self.provider_schema.value_type()) {
            Ok(v) => {
                if let Ok(mut c) = self.config.write() {
                    *c = Arc::new(v);
                }
                Diagnostics::new()
            }
            Err(d) => d.into(),
        }
    }

    /// `ValidateResourceConfig` / `ValidateResourceTypeConfig`. A value for a write-only attribute is an error
    /// unless the client announced it keeps them out of plans and states.
    pub fn validate_resource_config(
        &self,
        type_name: &str,
        config: &DynamicValue,
        client: ClientCapabilities,
    ) -> Diagnostics {
        let reg = match self.lookup(type_name) {
            Ok(r) => r,
            Err(d) => return d,
        };
        let config = match config.decode(&reg.ty) {
            Ok(v) => v,
            Err(d) => return d.into(),
        };
        let mut diags = Diagnostics::new();
        if !client.write_only_attributes_allowed {
            for path in write_only_values(&reg.schema.block, &config) {
                diags.error_at(
                    path.clone(),
                    "Write-only attribute needs Terraform 1.11 or later",
                    format!(
                        "`{path}` is write-only: Terraform 1.11 and later pass it to the provider without writing it \
                         to the plan or the state. This Terraform cannot, so leave it unset and use the attribute \
                         that is kept in state instead (see the documentation of {type_name})."
                    ),
                );
            }
        }
        if reg.schema.timeouts.is_some() {
            timeouts::validate(&config, &mut diags);
        }
        reg.resource.validate(&config, &mut diags);
        diags
    }

    /// `UpgradeResourceState`: same version is decoded as is; older versions go through
    /// [`Resource::upgrade_state`]; newer versions are an error.
    pub async fn upgrade_resource_state(
        &self,
        type_name: &str,
        version: i64,
        raw: RawState,
    ) -> (Option<DynamicValue>, Diagnostics) {
        let reg = match self.lookup(type_name) {
            Ok(r) => r,
            Err(d) => return (None, d),
        };
        tracing::debug!(type_name, version, "upgrade resource state");
        if raw.json.is_empty() {
            let d = Diagnostic::error(
                "Unsupported state format",
                "The state has no JSON form (flatmap states of Terraform 0.11 are not supported).",
            );
            return (None, d.into());
        }
        let current = reg.schema.version;
        let value = if version > current {
            Err(Diagnostic::error(
                "Resource state is from a newer provider",
                format!(
                    "The state of this {type_name} has schema version {version}, but this provider only knows \
                     versions up to {current}. Use the provider version that wrote it."
                ),
            )
            .into())
        } else if version == current {
            raw.decode(&reg.ty).map_err(Diagnostics::from)
        } else {
            reg.resource.upgrade_state(version, &raw).await
        };
        match value.and_then(|v| finish(reg, v).map_err(Diagnostics::from)) {
            Ok(v) => encode_state(reg, &v, Diagnostics::new()),
            Err(d) => (None, d),
        }
    }

    /// `ReadResource`.
    pub async fn read_resource(
        &self,
        type_name: &str,
        current: &DynamicValue,
        private: Vec<u8>,
    ) -> ReadResponse {
        let reg = match self.lookup(type_name) {
            Ok(r) => r,
            Err(d) => {
                return ReadResponse {
                    diagnostics: d,
                    ..Default::default()
                }
            }
        };
        let current = match current.decode(&reg.ty) {
            Ok(v) => v,
            Err(d) => {
                return ReadResponse {
                    diagnostics: d.into(),
                    ..Default::default()
                }
            }
        };
        if current.is_null() {
            return ReadResponse {
                new_state: DynamicValue::encode(&Value::Null, &reg.ty).ok(),
                private,
                ..Default::default()
            };
        }
        tracing::debug!(type_name, "read resource");
        let started = Instant::now();
        let mut ctx = self.context().with_private(private.clone());
        if let Some(t) = reg
            .schema
            .timeouts
            .as_ref()
            .and_then(|d| timeouts::read_timeout(&current, d))
        {
            ctx = ctx.with_timeout(t);
        }
        let result = reg.resource.read(&ctx, &current).await;
        tracing::info!(
            type_name,
            elapsed_ms = elapsed_ms(started),
            "read resource done"
        );
        let mut diags = ctx.take_warnings();
        let new = match result {
            Ok(Some(mut v)) => {
                copy_timeouts(reg, &current, &mut v);
                match finish(reg, v) {
                    Ok(v) => rules::keep_prior_where_equal(&current, v),
                    Err(d) => {
                        diags.push(d);
                        current
                    }
                }
            }
            Ok(None) => Value::Null,
            Err(d) => {
                diags.extend(d);
                current
            }
        };
        let (new_state, diagnostics) = encode_state(reg, &new, diags);
        ReadResponse {
            new_state,
            private: ctx.take_private(private),
            diagnostics,
        }
    }

    /// `PlanResourceChange`.
    pub async fn plan_resource_change(&self, req: PlanRequest) -> PlanResponse {
        let reg = match self.lookup(&req.type_name) {
            Ok(r) => r,
            Err(d) => {
                return PlanResponse {
                    diagnostics: d,
                    ..Default::default()
                }
            }
        };
        let decoded = (|| {
            Ok::<_, Diagnostic>((
                req.prior_state.decode(&reg.ty)?,
                req.proposed_new_state.decode(&reg.ty)?,
                req.config.decode(&reg.ty)?,
            ))
        })();
        let (prior, proposed, config) = match decoded {
            Ok(v) => v,
            Err(d) => {
                return PlanResponse {
                    diagnostics: d.into(),
                    ..Default::default()
                }
            }
        };
        if proposed.is_null() {
            let (planned_state, diagnostics) = encode_state(reg, &Value::Null, Diagnostics::new());
            return PlanResponse {
                planned_state,
                diagnostics,
                planned_private: req.prior_private,
                ..Default::default()
            };
        }
        tracing::debug!(type_name = %req.type_name, create = prior.is_null(), "plan resource change");
        let mut planned = proposed;
        if prior.is_null() {
            rules::mark_computed_unknown(&reg.schema.block, &config, &mut planned);
        }
        let requires_replace = rules::requires_replace(&reg.schema.block, &prior, &planned);
        let mut change = PlannedChange {
            prior,
            config,
            planned,
            requires_replace,
        };
        let started = Instant::now();
        let ctx = self.context().with_private(req.prior_private.clone());
        let result = reg.resource.modify_plan(&ctx, &mut change).await;
        tracing::info!(
            type_name = %req.type_name,
            elapsed_ms = elapsed_ms(started),
            "plan resource change done"
        );
        let mut diags = ctx.take_warnings();
        if let Err(d) = result {
            diags.extend(d);
            return PlanResponse {
                diagnostics: diags,
                ..Default::default()
            };
        }
        let planned = match finish(reg, change.planned) {
            Ok(v) => v,
            Err(d) => {
                diags.push(d);
                return PlanResponse {
                    diagnostics: diags,
                    ..Default::default()
                };
            }
        };
        let (planned_state, diagnostics) = encode_state(reg, &planned, diags);
        PlanResponse {
            planned_state,
            requires_replace: change.requires_replace,
            planned_private: ctx.take_private(req.prior_private),
            diagnostics,
        }
    }

    /// `ApplyResourceChange`: create, update or delete, with the deadline from the `timeouts` block.
    pub async fn apply_resource_change(&self, req: ApplyRequest) -> ApplyResponse {
        let reg = match self.lookup(&req.type_name) {
            Ok(r) => r,
            Err(d) => {
                return ApplyResponse {
                    diagnostics: d,
                    ..Default::default()
                }
            }
        };
        let decoded = (|| {
            Ok::<_, Diagnostic>((
                req.prior_state.decode(&reg.ty)?,
                req.planned_state.decode(&reg.ty)?,
            ))
        })();
        let (prior, planned) = match decoded {
            Ok(v) => v,
            Err(d) => {
                return ApplyResponse {
                    diagnostics: d.into(),
                    ..Default::default()
                }
            }
        };
        let op = match (prior.is_null(), planned.is_null()) {
            (_, true) => Operation::Delete,
            (true, false) => Operation::Create,
            (false, false) => Operation::Update,
        };
        tracing::info!(type_name = %req.type_name, operation = op.name(), "apply resource change");
        // The configuration carries the write-only values; absent (delete) or undecodable, it is null.
        let config = if op == Operation::Delete {
            Value::Null
        } else {
            req.config.decode(&reg.ty).unwrap_or(Value::Null)
        };
        let mut ctx = self
            .context()
            .with_private(req.planned_private.clone())
            .with_config(config);
        if let Some(defaults) = &reg.schema.timeouts {
            let source = if op == Operation::Delete {
                &prior
            } else {
                &planned
            };
            match timeouts::timeout_for(source, op, defaults) {
                Ok(t) => ctx = ctx.with_timeout(t),
                Err(d) => {
                    return ApplyResponse {
                        diagnostics: d,
                        new_state: encode_state(reg, &prior, Diagnostics::new()).0,
                        ..Default::default()
                    }
                }
            }
        }
        let started = Instant::now();
        let result = match op {
            Operation::Delete => reg
                .resource
                .delete(&ctx, &prior)
                .await
                .map(|()| Value::Null),
            Operation::Create => reg.resource.create(&ctx, &planned).await,
            Operation::Update => reg.resource.update(&ctx, &prior, &planned).await,
        };
        tracing::info!(
            type_name = %req.type_name,
            operation = op.name(),
            elapsed_ms = elapsed_ms(started),
            "apply resource change done"
        );
        let mut diags = ctx.take_warnings();
        let new = match result {
            Ok(Value::Null) => Value::Null,
            Ok(mut v) => {
                copy_timeouts(reg, &planned, &mut v);
                match finish(reg, v) {
                    Ok(v) => {
                        diags.extend(rules::check_apply_consistency(&planned, &v));
                        v
                    }
                    Err(d) => {
                        diags.push(d);
                        if op == Operation::Create {
                            Value::Null
                        } else {
                            prior
                        }
                    }
                }
            }
            Err(ApplyError { diagnostics, state }) => {
                tracing::warn!(type_name = %req.type_name, operation = op.name(), "apply failed");
                diags.extend(diagnostics);
                if !diags.has_errors() {
                    diags.error(
                        format!("{} failed", op.name()),
                        "The resource reported a failure without details.",
                    );
                }
                match state {
                    Some(mut partial) if !partial.is_null() => {
                        copy_timeouts(reg, &planned, &mut partial);
                        finish(reg, partial).unwrap_or(if op == Operation::Create {
                            Value::Null
                        } else {
                            prior
                        })
                    }
                    Some(_) => Value::Null,
                    None if op == Operation::Create => Value::Null,
                    None => prior,
                }
            }
        };
        let (new_state, diagnostics) = encode_state(reg, &new, diags);
        ApplyResponse {
            new_state,
            private: ctx.take_private(req.planned_private),
            diagnostics,
        }
    }

    /// `ImportResourceState`.
    pub async fn import_resource_state(
        &self,
        type_name: &str,
        id: &str,
    ) -> (Vec<ImportedResource>, Diagnostics) {
        let reg = match self.lookup(type_name) {
            Ok(r) => r,
            Err(d) => return (Vec::new(), d),
        };
        tracing::info!(type_name, "import resource state");
        let ctx = self.context();
        let result = reg.resource.import(&ctx, id).await;
        let mut diags = ctx.take_warnings();
        let value = match result.and_then(|v| finish(reg, v).map_err(Diagnostics::from)) {
            Ok(v) => v,
            Err(d) => {
                diags.extend(d);
                return (Vec::new(), diags);
            }
        };
        match encode_state(reg, &value, diags) {
            (Some(state), diags) => (
                vec![ImportedResource {
                    type_name: type_name.to_string(),
                    state,
                    private: Vec::new(),
                }],
                diags,
            ),
            (None, diags) => (Vec::new(), diags),
        }
    }
}

/// Keeps the `timeouts` block of `from` in a resource's result (resources need not copy it).
/// Milliseconds since `started`, rounded to 0.1 ms: the `elapsed_ms` field of the "... done" log lines that
/// scripts/rehearse.sh sums to tell the provider's share of a run from Terraform core's.
fn elapsed_ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0
}

fn copy_timeouts(reg: &Registered, from: &Value, to: &mut Value) {
    if reg.schema.timeouts.is_some() && to.get(timeouts::BLOCK_NAME).is_null() {
        if let Value::Object(m) = to {
            m.insert(
                timeouts::BLOCK_NAME.to_string(),
                from.get(timeouts::BLOCK_NAME).clone(),
            );
        }
    }
}

/// Completes a value returned by a resource: fills missing attributes, normalizes blocks, nulls write-only
/// attributes, checks the type.
fn finish(reg: &Registered, v: Value) -> Result<Value, Diagnostic> {
    complete(&reg.schema, &reg.ty, v)
}

/// [`finish`] for any schema.
fn complete(schema: &Schema, ty: &Type, mut v: Value) -> Result<Value, Diagnostic> {
    if v.is_null() {
        return Ok(v);
    }
    v.fill_nulls(ty);
    normalize_blocks(&schema.block, &mut v);
    null_write_only(&schema.block, &mut v);
    v.check_type(ty).map_err(|e| {
        let mut d = Diagnostic::from(e);
        d.summary = "Provider produced a value that does not match its schema".into();
        d
    })?;
    Ok(v)
}

fn encode_state(
    reg: &Registered,
    v: &Value,
    mut diags: Diagnostics,
) -> (Option<DynamicValue>, Diagnostics) {
    match DynamicValue::encode(v, &reg.ty) {
        Ok(dv) => (Some(dv), diags),
        Err(d) => {
            diags.push(d);
            (None, diags)
        }
    }
}
