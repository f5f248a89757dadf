//! The [`Resource`] trait that every managed resource implements, and what its methods receive.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Diagnostic, Diagnostics, Schema};
use crate::cty::{self, AttributePath, Type, Value};

/// How often [`Context::run`] reports a step that is still running.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(30);

fn round_tenth(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// An apply operation (used for timeouts and messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Create.
    Create,
    /// Update in place.
    Update,
    /// Delete.
    Delete,
}

impl Operation {
    /// `"create"`, `"update"` or `"delete"` (also the attribute names in the `timeouts` block).
    pub fn name(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
}

/// What every resource method gets besides its values: the provider configuration, cancellation (Terraform's
/// `Stop`, e.g. on Ctrl-C), the deadline from the `timeouts` block, and a sink for warnings.
#[derive(Debug)]
pub struct Context {
    provider_config: Arc<Value>,
    cancel: CancellationToken,
    deadline: Option<(Instant, Duration)>,
    warnings: Mutex<Diagnostics>,
    private_in: Vec<u8>,
    private_out: Mutex<Option<Vec<u8>>>,
    config: Value,
    progress_every: Duration,
}

impl Context {
    /// A context with the given provider configuration and cancellation token, without deadline.
    pub fn new(provider_config: Arc<Value>, cancel: CancellationToken) -> Self {
        Self {
            provider_config,
            cancel,
            deadline: None,
            warnings: Mutex::new(Diagnostics::new()),
            private_in: Vec::new(),
            private_out: Mutex::new(None),
            config: Value::Null,
            progress_every: PROGRESS_EVERY,
        }
    }

    /// This context reporting running steps every `every` instead of [`PROGRESS_EVERY`].
    pub fn with_progress_every(mut self, every: Duration) -> Self {
        self.progress_every = every;
        self
    }

    /// This context carrying the resource's configuration (see [`Context::config`]).
    pub fn with_config(mut self, config: Value) -> Self {
        self.config = config;
        self
    }

    /// The resource's configuration as Terraform sent it with `ApplyResourceChange` (create and update): the only
    /// place where [write-only](super::Attribute::write_only) attributes hold their values, since the planned
    /// state never does. `Null` where Terraform sends no configuration (read, delete, import) and in plan, whose
    /// [`PlannedChange::config`] carries it.
    pub fn config(&self) -> &Value {
        &self.config
    }

    /// This context carrying the request's opaque private data: the prior state's private data for
    /// `ReadResource` and `PlanResourceChange`, the plan's (`planned_private`) for `ApplyResourceChange`.
    pub fn with_private(mut self, private: Vec<u8>) -> Self {
        self.private_in = private;
        self
    }

    /// The request's private data (see [`Context::with_private`]); empty when there is none.
    pub fn private(&self) -> &[u8] {
        &self.private_in
    }

    /// Sets the private data of the response (the plan's `planned_private`, or the private data stored with the
    /// new state on apply and read). Without it, the request's private data passes through unchanged.
    pub fn set_private(&self, private: Vec<u8>) {
        if let Ok(mut p) = self.private_out.lock() {
            *p = Some(private);
        }
    }

    /// The private data for the response: what [`Context::set_private`] set, else `fallback`.
    pub fn take_private(&self, fallback: Vec<u8>) -> Vec<u8> {
        self.private_out
            .lock()
            .ok()
            .and_then(|mut p| p.take())
            .unwrap_or(fallback)
    }

    /// A context for tests: empty provider configuration, never cancelled unless the token is.
    pub fn for_tests() -> Self {
        Self::new(Arc::new(Value::Null), CancellationToken::new())
    }

    /// This context with a deadline `timeout` from now.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.deadline = Some((Instant::now() + timeout, timeout));
        self
    }

    /// The provider's configuration (object of the provider schema; `Null` before `ConfigureProvider`).
    pub fn provider_config(&self) -> &Value {
        &self.provider_config
    }

    /// The token cancelled when Terraform calls `Stop`; pass it to long waits.
    pub fn cancellation_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Whether Terraform asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Time left before the deadline, if there is one.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|(at, _)| at.saturating_duration_since(Instant::now()))
    }

    /// Runs `fut` until it finishes, Terraform stops the provider, or the deadline passes. The last two give an
    /// error diagnostic whose summary names `what` (e.g. `"waiting for etcd"`).
    ///
    /// Progress goes to the log at INFO (`TF_LOG_PROVIDER=info`): one line when the step starts (its message is
    /// `what`), one every [`PROGRESS_EVERY`] (see [`Context::with_progress_every`]) while it runs, with the elapsed time and what the step last saw
    /// ([`crate::progress::observe`]), and one when a step that took a second or more ends. `what` is logged: name
    /// the step and its node or object, never a secret.
    pub async fn run<F: Future>(&self, what: &str, fut: F) -> Result<F::Output, Diagnostic> {
        let deadline = async {
            match self.deadline {
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tracing::info!("{what}");
        let started = Instant::now();
        let slot = crate::progress::Slot::default();
        let fut = slot.scope(fut);
        tokio::pin!(fut, deadline);
        let every = self.progress_every;
        let mut beat = tokio::time::interval_at(started + every, every);
        loop {
            tokio::select! {
                out = &mut fut => {
                    let elapsed_s = started.elapsed().as_secs_f64();
                    if elapsed_s >= 1.0 {
                        tracing::info!(elapsed_s = round_tenth(elapsed_s), "{what}: done after {elapsed_s:.1}s");
                    }
                    return Ok(out);
                }
                () = self.cancel.cancelled() => return Err(Diagnostic::error(
                    format!("Cancelled while {what}"),
                    "Terraform asked the provider to stop (for example after Ctrl-C).",
                )),
                () = &mut deadline => return Err(Diagnostic::error(
                    format!("Timed out while {what}"),
                    format!(
                        "The operation did not finish within {}s; raise it in the `timeouts` block.",
                        self.deadline.map_or(0, |(_, d)| d.as_secs())
                    ),
                )),
                _ = beat.tick() => {
                    let elapsed_s = started.elapsed().as_secs();
                    match slot.last() {
                        Some(seen) => tracing::info!(elapsed_s, "still {what} after {elapsed_s}s; last seen: {seen}"),
                        None => tracing::info!(elapsed_s, "still {what} after {elapsed_s}s"),
                    }
                }
            }
        }
    }

    /// Adds a warning shown with the operation's result.
    pub fn warn(&self, warning: Diagnostic) {
        if let Ok(mut w) = self.warnings.lock() {
            w.push(warning);
        }
    }

    /// Takes the warnings collected so far.
    pub fn take_warnings(&self) -> Diagnostics {
        self.warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }
}

/// A failed create, update or delete. `state` is what exists after the failure: for a create that got halfway,
/// the object describing what was created (Terraform records it, marked tainted); `None` keeps the prior state
/// for update/delete and records nothing for create.
#[derive(Debug, Default)]
pub struct ApplyError {
    /// Why it failed (at least one error).
    pub diagnostics: Diagnostics,
    /// What exists now, if known and different from the prior state.
    pub state: Option<Value>,
}

impl ApplyError {
    /// A failure with `diagnostics` and no partial state.
    pub fn new(diagnostics: impl Into<Diagnostics>) -> Self {
        Self {
            diagnostics: diagnostics.into(),
            state: None,
        }
    }

    /// This failure, recording `state` as what exists.
    pub fn with_state(mut self, state: Value) -> Self {
        self.state = Some(state);
        self
    }
}

impl From<Diagnostics> for ApplyError {
    fn from(d: Diagnostics) -> Self {
        Self::new(d)
    }
}

impl From<Diagnostic> for ApplyError {
    fn from(d: Diagnostic) -> Self {
        Self::new(d)
    }
}

impl From<anyhow::Error> for ApplyError {
    fn from(e: anyhow::Error) -> Self {
        Self::new(Diagnostics::from(e))
    }
}

impl From<cty::Error> for ApplyError {
    fn from(e: cty::Error) -> Self {
        Self::new(Diagnostics::from(e))
    }
}

/// A planned change, as given to [`Resource::modify_plan`] after the framework's own plan rules ran.
#[derive(Clone, Debug)]
pub struct PlannedChange {
    /// The current state; `Null` when the resource is being created (also for the create half of a replacement).
    pub prior: Value,
    /// The configuration (unknown where it depends on other resources not yet applied).
    pub config: Value,
    /// The planned new state: editable. Computed attributes left unset in configuration are already unknown on
    /// create, and hold their prior value on update (set them [`Value::Unknown`] when the update changes them).
    pub planned: Value,
    /// Attributes whose change forces replacement: editable. Already holds the changed attributes marked
    /// [`Attribute::requires_replace`](super::Attribute::requires_replace).
    pub requires_replace: Vec<AttributePath>,
}

impl PlannedChange {
    /// Whether this plans a create.
    pub fn is_create(&self) -> bool {
        self.prior.is_null()
    }

    /// Whether the planned value at `path` differs from the prior state.
    pub fn changes(&self, path: &AttributePath) -> bool {
        self.prior.get_path(path) != self.planned.get_path(path)
    }

    /// Marks the planned value at `path` as known only after apply.
    pub fn set_unknown(&mut self, path: &AttributePath) {
        if let Some(v) = self.planned.get_path_mut(path) {
            *v = Value::Unknown;
        }
    }
}

/// A stored state as Terraform passes it to `UpgradeResourceState`: JSON written with an older (or the same)
/// schema version.
#[derive(Clone, Debug, Default)]
pub struct RawState {
    /// The state JSON (cty JSON encoding, object at the top).
    pub json: Vec<u8>,
}

impl RawState {
    /// Decodes with `ty`, dropping attributes that `ty` no longer has and filling new ones with null.
    pub fn decode(&self, ty: &Type) -> Result<Value, cty::Error> {
        let opts = cty::json::DecodeOptions {
            ignore_undefined_attributes: true,
        };
        cty::json::decode_with(&self.json, ty, opts)
    }

    /// The same state with each top-level attribute in `names` that holds an object (a block stored with single
    /// nesting) turned into a list of that one object, and a null one into an empty list: the migration of a
    /// block whose nesting changed from single to a list of at most one. Other values are left as they are.
    ///
    /// Errors: the state is not a JSON object.
    pub fn single_blocks_as_lists(&self, names: &[&str]) -> Result<RawState, cty::Error> {
        let mut json = self.to_json()?;
        let Some(object) = json.as_object_mut() else {
            return Err(cty::Error::new("invalid state JSON: not an object"));
        };
        for name in names {
            if let Some(v) = object.get_mut(*name) {
                match v {
                    serde_json::Value::Object(_) => *v = serde_json::Value::Array(vec![v.take()]),
                    serde_json::Value::Null => *v = serde_json::Value::Array(Vec::new()),
                    _ => {}
                }
            }
        }
        let json = serde_json::to_vec(&json)
            .map_err(|e| cty::Error::new(format!("cannot encode the state JSON: {e}")))?;
        Ok(RawState { json })
    }

    /// The JSON as a `serde_json` value, for hand-written migrations (numbers beyond f64 lose precision here).
    pub fn to_json(&self) -> Result<serde_json::Value, cty::Error> {
        serde_json::from_slice(&self.json)
            .map_err(|e| cty::Error::new(format!("invalid state JSON: {e}")))
    }
}

/// A managed resource type. Implement it once; the framework serves it over protocol 5 and 6.
///
/// Values are objects of [`Resource::schema`]'s type. The framework fills attributes you leave out with null,
/// turns null repeated blocks into empty ones, and checks the result against the schema and the plan
/// (Terraform's rule: every known planned value must equal the applied one).
#[async_trait]
pub trait Resource: Send + Sync + 'static {
    /// Terraform type name, e.g. `"vixens_cilium"`.
    fn type_name(&self) -> &'static str;

    /// The schema (called often: keep it cheap and deterministic).
    fn schema(&self) -> Schema;

    /// Checks a configuration (values may be unknown). Report problems with [`Diagnostics::error_at`].
    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        let _ = (config, diags);
    }

    /// Adjusts a plan after the framework's rules (requires-replace attributes, computed-unknown on create).
    /// Not called for destroy.
    async fn modify_plan(
        &self,
        ctx: &Context,
        change: &mut PlannedChange,
    ) -> Result<(), Diagnostics> {
        let _ = (ctx, change);
        Ok(())
    }

    /// Creates the object described by `planned`; returns the new state (wholly known). On failure after
    /// something was created, return [`ApplyError::with_state`] describing what exists.
    async fn create(&self, ctx: &Context, planned: &Value) -> Result<Value, ApplyError>;

    /// Refreshes `state` from the real world. `Ok(None)` means the object is gone (Terraform plans a create).
    async fn read(&self, ctx: &Context, state: &Value) -> Result<Option<Value>, Diagnostics>;

    /// Updates in place from `prior` to `planned`; returns the new state.
    async fn update(
        &self,
        ctx: &Context,
        prior: &Value,
        planned: &Value,
    ) -> Result<Value, ApplyError>;

    /// Deletes the object in `state`.
    async fn delete(&self, ctx: &Context, state: &Value) -> Result<(), ApplyError>;

    /// Imports an existing object by its id (the string given to `terraform import`); returns a state with at
    /// least the id, which Terraform then passes to [`Resource::read`]. The default refuses import.
    async fn import(&self, ctx: &Context, id: &str) -> Result<Value, Diagnostics> {
        let _ = (ctx, id);
        Err(Diagnostic::error(
            format!("{} cannot be imported", self.type_name()),
            "This resource type does not support `terraform import`.",
        )
        .into())
    }

    /// Upgrades a state stored with an older schema version (`from_version` < [`Schema::version`]) to the current
    /// schema. Same-version states and newer-version errors are handled by the framework. The default refuses.
    async fn upgrade_state(&self, from_version: i64, raw: &RawState) -> Result<Value, Diagnostics> {
        let _ = raw;
        Err(Diagnostic::error(
            "Unsupported state version",
            format!(
                "{} has no upgrade from schema version {from_version}.",
                self.type_name()
            ),
        )
        .into())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
    use tracing_subscriber::Layer;

    use super::*;

    /// Collects the messages of INFO events.
    struct Messages(Arc<Mutex<Vec<String>>>);

    impl<S: tracing::Subscriber> Layer<S> for Messages {
        fn on_event(&self, event: &tracing::Event<'_>, _ctx: LayerContext<'_, S>) {
            if *event.metadata().level() == tracing::Level::INFO {
                let line = crate::logging::format_event(event);
                let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                let message = v["@message"].as_str().unwrap_or_default().to_string();
                self.0.lock().unwrap().push(message);
            }
        }
    }

    #[tokio::test]
    async fn run_reports_start_progress_with_the_last_observation_and_end() {
        let messages = Arc::new(Mutex::new(Vec::new()));
        let sub = tracing_subscriber::registry().with(Messages(messages.clone()));
        let _guard = tracing::subscriber::set_default(sub);
        let ctx = Context::for_tests().with_progress_every(Duration::from_millis(100));
        let step = async {
            crate::progress::observe("node 10.0.0.5: connection refused");
            tokio::time::sleep(Duration::from_millis(450)).await;
            crate::progress::observe("node 10.0.0.5 answers in maintenance mode");
            tokio::time::sleep(Duration::from_millis(700)).await;
        };
        ctx.run("waiting for node \"cp1\"", step).await.unwrap();
        let messages = messages.lock().unwrap().clone();
        let still = |seen: &str| {
            messages.iter().any(|m| {
                m.starts_with("still waiting for node \"cp1\" after ")
                    && m.ends_with(&format!("; last seen: {seen}"))
            })
        };
        assert_eq!(messages[0], "waiting for node \"cp1\"", "{messages:?}");
        assert!(still("node 10.0.0.5: connection refused"), "{messages:?}");
        assert!(
            still("node 10.0.0.5 answers in maintenance mode"),
            "{messages:?}"
        );
        let last = messages.last().unwrap();
        assert!(
            last.starts_with("waiting for node \"cp1\": done after 1."),
            "{messages:?}"
        );
    }
}
