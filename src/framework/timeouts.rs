//! The `timeouts` block helper (as in Terraform's providers: `timeouts { create = "30m" }`).
//!
//! [`Schema::with_timeouts`](super::Schema::with_timeouts) adds the block; the framework reads it at apply time
//! and gives the operation a deadline ([`Context::run`](super::Context::run) enforces it). Durations use Go's
//! `time.ParseDuration` form (see [`parse_duration`](super::schema::parse_duration)). A resource may also take a
//! `read` duration ([`TimeoutDefaults::with_read`]): the framework then gives `ReadResource` that deadline, as
//! terraform-plugin-framework-timeouts does for its `read` attribute.

use std::time::Duration;

use super::schema::{parse_duration, Attribute, Block, NestedBlock, Nesting};
use super::{Diagnostics, Operation};
use crate::cty::{AttributePath, Value};

/// Name of the block.
pub const BLOCK_NAME: &str = "timeouts";

/// Default durations when the configuration does not set them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeoutDefaults {
    /// Create deadline.
    pub create: Duration,
    /// Update deadline.
    pub update: Duration,
    /// Delete deadline.
    pub delete: Duration,
    /// Read deadline; `None`: the block has no `read` attribute and reads have no deadline.
    pub read: Option<Duration>,
}

impl TimeoutDefaults {
    /// The same default for every operation.
    pub fn all(d: Duration) -> Self {
        Self {
            create: d,
            update: d,
            delete: d,
            read: None,
        }
    }

    /// The same defaults with a `read` attribute defaulting to `read`.
    pub const fn with_read(mut self, read: Duration) -> Self {
        self.read = Some(read);
        self
    }

    fn get(&self, op: Operation) -> Duration {
        match op {
            Operation::Create => self.create,
            Operation::Update => self.update,
            Operation::Delete => self.delete,
        }
    }
}

/// The block schema: a single `timeouts` block with optional `create`, `update`, `delete` (and, when the defaults
/// have one, `read`) strings.
pub fn block(defaults: &TimeoutDefaults) -> NestedBlock {
    let attr = |name: &str, d: Duration| {
        Attribute::string(name).optional().description(format!(
            "How long `{name}` may take, e.g. `\"30m\"` (default {}s).",
            d.as_secs()
        ))
    };
    let mut block =
        Block::new("Operation timeouts (durations such as `\"90s\"`, `\"20m\"`, `\"1h\"`).")
            .attribute(attr("create", defaults.create))
            .attribute(attr("update", defaults.update))
            .attribute(attr("delete", defaults.delete));
    if let Some(read) = defaults.read {
        block = block.attribute(attr("read", read));
    }
    NestedBlock::new(BLOCK_NAME, Nesting::Single, block)
}

/// The `read` timeout of a resource object value (its `timeouts` block), else the default; `None` when the
/// defaults have no `read`. An unparsable value (refused by [`validate`]) counts as the default.
pub fn read_timeout(value: &Value, defaults: &TimeoutDefaults) -> Option<Duration> {
    let default = defaults.read?;
    match value.get(BLOCK_NAME).get("read") {
        Value::String(s) => Some(parse_duration(s).unwrap_or(default)),
        _ => Some(default),
    }
}

/// The timeout for `op` from a resource object value (its `timeouts` block), or the default.
pub fn timeout_for(
    value: &Value,
    op: Operation,
    defaults: &TimeoutDefaults,
) -> Result<Duration, Diagnostics> {
    match value.get(BLOCK_NAME).get(op.name()) {
        Value::String(s) => parse_duration(s).map_err(|e| {
            let path = AttributePath::attr(BLOCK_NAME).join_attr(op.name());
            let mut d = Diagnostics::new();
            d.error_at(path, "Invalid timeout", e);
            d
        }),
        _ => Ok(defaults.get(op)),
    }
}

/// Checks every duration in a configuration's `timeouts` block.
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    let ops = [Operation::Create, Operation::Update, Operation::Delete];
    for name in ops.iter().map(|op| op.name()).chain(["read"]) {
        if let Value::String(s) = config.get(BLOCK_NAME).get(name) {
            if let Err(e) = parse_duration(s) {
                diags.error_at(
                    AttributePath::attr(BLOCK_NAME).join_attr(name),
                    "Invalid timeout",
                    e,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_configured_or_default() {
        let d = TimeoutDefaults::all(Duration::from_secs(60));
        let v = Value::object([(BLOCK_NAME, Value::object([("create", Value::from("2m"))]))]);
        assert_eq!(
            timeout_for(&v, Operation::Create, &d).unwrap(),
            Duration::from_secs(120)
        );
        assert_eq!(
            timeout_for(&v, Operation::Delete, &d).unwrap(),
            Duration::from_secs(60)
        );
        let bad = Value::object([(BLOCK_NAME, Value::object([("update", Value::from("soon"))]))]);
        let err = timeout_for(&bad, Operation::Update, &d).unwrap_err();
        assert_eq!(
            err.0[0].attribute.as_ref().unwrap().to_string(),
            "timeouts.update"
        );
        let mut diags = Diagnostics::new();
        validate(&bad, &mut diags);
        assert!(diags.has_errors());
        assert_eq!(read_timeout(&v, &d), None, "no read attribute");
        let d = d.with_read(Duration::from_secs(120));
        assert_eq!(read_timeout(&v, &d), Some(Duration::from_secs(120)));
        let v = Value::object([(BLOCK_NAME, Value::object([("read", Value::from("8s"))]))]);
        assert_eq!(read_timeout(&v, &d), Some(Duration::from_secs(8)));
        assert!(block(&d).block.attributes.iter().any(|a| a.name == "read"));
        let bad = Value::object([(BLOCK_NAME, Value::object([("read", Value::from("x"))]))]);
        let mut diags = Diagnostics::new();
        validate(&bad, &mut diags);
        assert!(diags.has_errors());
    }
}
