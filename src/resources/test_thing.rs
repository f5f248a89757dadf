//! `vixens_test_thing`: a test-only resource (cargo feature `test-resources`, never in released binaries) that
//! exercises the whole framework through a real Terraform: required/optional/computed/sensitive attributes, a
//! nested block, a requires-replace attribute, update in place, import, timeouts, and a create that fails after
//! creating something.
//!
//! Its "real world" is one JSON file per object in the directory named by `VIXENS_TEST_THING_DIR` (default
//! `<tmp>/vixens-test-thing`), so reads and imports see what earlier provider processes did.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

use crate::cty::{AttributePath, Type, Value};
use crate::framework::schema::parse_duration;
use crate::framework::{
    ApplyError, Attribute, Block, Context, Diagnostic, Diagnostics, NestedBlock, Nesting,
    PlannedChange, Resource, Schema, TimeoutDefaults,
};

/// Environment variable naming the directory that holds the objects.
pub const DIR_ENV: &str = "VIXENS_TEST_THING_DIR";

/// The test resource.
#[derive(Debug, Default)]
pub struct TestThing;

fn store_dir() -> PathBuf {
    std::env::var_os(DIR_ENV).map_or_else(
        || std::env::temp_dir().join("vixens-test-thing"),
        PathBuf::from,
    )
}

fn object_path(id: &str) -> Result<PathBuf, Diagnostic> {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Diagnostic::error(
            "Invalid id",
            format!("{id:?} is not a test thing id ([A-Za-z0-9_-]+)."),
        ));
    }
    Ok(store_dir().join(format!("{id}.json")))
}

fn schema_type() -> Type {
    TestThing.schema().value_type()
}

fn save(state: &Value) -> Result<(), Diagnostic> {
    let id = state.get("id").as_str().unwrap_or_default();
    let path = object_path(id)?;
    let bytes = crate::cty::json::encode(state, &schema_type()).map_err(Diagnostic::from)?;
    std::fs::create_dir_all(store_dir())
        .and_then(|()| std::fs::write(&path, bytes))
        .map_err(|e| {
            Diagnostic::error(
                "Cannot store test thing",
                format!("{}: {e}", path.display()),
            )
        })
}

fn load(id: &str) -> Result<Option<Value>, Diagnostic> {
    let path = object_path(id)?;
    match std::fs::read(&path) {
        Ok(bytes) => crate::cty::json::decode(&bytes, &schema_type())
            .map(Some)
            .map_err(Diagnostic::from),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Diagnostic::error(
            "Cannot read test thing",
            format!("{}: {e}", path.display()),
        )),
    }
}

fn random_hex() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[async_trait]
impl Resource for TestThing {
    fn type_name(&self) -> &'static str {
        "vixens_test_thing"
    }

    fn schema(&self) -> Schema {
        let rule = Block::new("A rule.")
            .attribute(
                Attribute::number("port")
                    .required()
                    .description("Port number, 1-65535."),
            )
            .attribute(
                Attribute::string("protocol")
                    .optional()
                    .computed()
                    .description("`tcp` (default) or `udp`."),
            );
        Schema::new(
            Block::new("A test-only thing stored as a JSON file.")
                .attribute(
                    Attribute::string("id")
                        .computed()
                        .description("Identifier: `<name>-<random>`."),
                )
                .attribute(
                    Attribute::string("name")
                        .required()
                        .requires_replace()
                        .description("Name; changing it replaces the thing."),
                )
                .attribute(
                    Attribute::string("description")
                        .optional()
                        .description("Free text, updated in place."),
                )
                .attribute(
                    Attribute::number("size")
                        .optional()
                        .computed()
                        .description("Size, default 1."),
                )
                .attribute(
                    Attribute::string("secret")
                        .optional()
                        .sensitive()
                        .description("A secret input."),
                )
                .attribute(
                    Attribute::string("token")
                        .computed()
                        .sensitive()
                        .description("A secret output."),
                )
                .attribute(
                    Attribute::number("revision")
                        .computed()
                        .description("Counts updates."),
                )
                .attribute(
                    Attribute::bool("fail_after_create")
                        .optional()
                        .description("Fail after storing the object."),
                )
                .attribute(
                    Attribute::string("create_delay")
                        .optional()
                        .description("Wait this long in create (e.g. `\"5s\"`)."),
                )
                .block(NestedBlock::new("rule", Nesting::List, rule)),
        )
        .version(1)
        .with_timeouts(TimeoutDefaults::all(Duration::from_secs(60)))
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        if let Value::String(name) = config.get("name") {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                diags.error_at(
                    AttributePath::attr("name"),
                    "Invalid name",
                    "Use letters, digits and '-'.",
                );
            }
        }
        if let Value::String(d) = config.get("create_delay") {
            if let Err(e) = parse_duration(d) {
                diags.error_at(AttributePath::attr("create_delay"), "Invalid duration", e);
            }
        }
        for (i, rule) in config
            .get("rule")
            .as_list()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            if let Some(port) = rule.get("port").as_number() {
                if !(port.is_integer()
                    && (1..=65535).contains(&rule.get("port").as_i64().unwrap_or(0)))
                {
                    let path = AttributePath::attr("rule").join_index(i).join_attr("port");
                    diags.error_at(
                        path,
                        "Invalid port",
                        "A port is an integer from 1 to 65535.",
                    );
                }
            }
        }
    }

    async fn modify_plan(
        &self,
        _ctx: &Context,
        change: &mut PlannedChange,
    ) -> Result<(), Diagnostics> {
        // Defaults for optional+computed attributes left unset: known at plan time.
        if change.config.get("size").is_null() {
            change.planned.set("size", 1);
        }
        let unset_protocols: Vec<bool> = change
            .config
            .get("rule")
            .as_list()
            .unwrap_or_default()
            .iter()
            .map(|r| r.get("protocol").is_null())
            .collect();
        for (rule, unset) in planned_rules(&mut change.planned)
            .into_iter()
            .zip(unset_protocols)
        {
            if unset {
                rule.set("protocol", "tcp");
            }
        }
        if !change.is_create() && change.planned != change.prior {
            change.set_unknown(&AttributePath::attr("revision"));
        }
        Ok(())
    }

    async fn create(&self, ctx: &Context, planned: &Value) -> Result<Value, ApplyError> {
        if let Value::String(d) = planned.get("create_delay") {
            let delay = parse_duration(d).map_err(|e| Diagnostic::error("Invalid duration", e))?;
            ctx.run("creating the test thing", tokio::time::sleep(delay))
                .await?;
        }
        let mut state = planned.clone();
        let name = planned.get("name").as_str().unwrap_or("thing");
        state.set("id", format!("{name}-{}", random_hex()));
        state.set("token", random_hex());
        state.set("revision", 0);
        save(&state)?;
        if planned.get("fail_after_create").as_bool() == Some(true) {
            return Err(ApplyError::new(Diagnostic::error(
                "Injected failure after create",
                "fail_after_create is true: the object was stored, then the create failed.",
            ))
            .with_state(state));
        }
        Ok(state)
    }

    async fn read(&self, _ctx: &Context, state: &Value) -> Result<Option<Value>, Diagnostics> {
        let id = state.get("id").as_str().unwrap_or_default();
        Ok(load(id)?)
    }

    async fn update(
        &self,
        _ctx: &Context,
        prior: &Value,
        planned: &Value,
    ) -> Result<Value, ApplyError> {
        let mut state = planned.clone();
        state.set("token", prior.get("token").clone());
        state.set("revision", prior.get("revision").as_i64().unwrap_or(0) + 1);
        save(&state)?;
        Ok(state)
    }

    async fn delete(&self, _ctx: &Context, state: &Value) -> Result<(), ApplyError> {
        let path = object_path(state.get("id").as_str().unwrap_or_default())?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Diagnostic::error(
                "Cannot delete test thing",
                format!("{}: {e}", path.display()),
            )
            .into()),
        }
    }

    async fn import(&self, _ctx: &Context, id: &str) -> Result<Value, Diagnostics> {
        match load(id)? {
            Some(v) => Ok(Value::object([("id", v.get("id").clone())])),
            None => Err(Diagnostic::error(
                "Cannot import",
                format!("No test thing with id {id:?}."),
            )
            .into()),
        }
    }

    async fn upgrade_state(
        &self,
        from_version: i64,
        raw: &crate::framework::RawState,
    ) -> Result<Value, Diagnostics> {
        // Version 0 called `description` `note`.
        if from_version != 0 {
            return Err(Diagnostic::error(
                "Unsupported state version",
                format!("No upgrade from {from_version}."),
            )
            .into());
        }
        let mut v = raw.decode(&schema_type())?;
        let old = raw.to_json()?;
        if let Some(note) = old.get("note").and_then(|n| n.as_str()) {
            v.set("description", note);
        }
        Ok(v)
    }
}

fn planned_rules(planned: &mut Value) -> Vec<&mut Value> {
    match planned {
        Value::Object(m) => match m.get_mut("rule") {
            Some(Value::List(items)) => items
                .iter_mut()
                .filter(|r| matches!(r, Value::Object(_)))
                .collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}
