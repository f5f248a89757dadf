//! The emulator's server-side apply run on its own, for the differential tests against structured-merge-diff
//! (tests/ssa_differential.rs, oracle tests/ssa-oracle): a sequence of apply/update operations on one object of
//! a type given by a JSON schema (the node shapes CRDs and kubernetes-validate schemas use), with the object,
//! the managed fields and the conflicts after each step, in the oracle's terms.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::apply::{self, entries, trackable, Scope};
use super::fields::{FieldSet, Shape};
use super::smd::strip_nulls;

/// One operation: `manager` applies `object` (server-side apply, `force` taking conflicting fields) or, with
/// `apply: false`, updates the object to `object` (create/update/patch: an Update operation).
#[derive(Debug, Clone)]
pub struct Step {
    pub manager: String,
    pub apply: bool,
    pub force: bool,
    pub object: Value,
}

/// The state after a step: the object (tracked fields only, nulls removed), each manager's field set as
/// `fieldsV1` keyed `<manager>/<Apply|Update>`, and, for a refused apply, the contested fields per manager.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub object: Value,
    pub managed: BTreeMap<String, Value>,
    pub conflicts: BTreeMap<String, Value>,
}

/// Runs `steps` from an absent object, typed by `schema` (a JSON schema node: properties,
/// additionalProperties, items, x-kubernetes-list-type/-list-map-keys/-map-type, default, `$ref`s into its own
/// `$defs`).
pub fn run(schema: &Value, steps: &[Step]) -> Vec<Outcome> {
    let shape = Shape::typed(schema, schema.get("$defs"));
    let scope = Scope::Main {
        status_ignored: false,
    };
    let mut live: Option<Value> = None;
    let mut out = vec![];
    for st in steps {
        let mut conflicts = BTreeMap::new();
        let mut obj = st.object.clone();
        if let Some(m) = obj.as_object_mut() {
            m.entry("metadata").or_insert_with(|| json!({}));
        }
        if st.apply {
            match apply::apply_checked(
                live.as_ref(),
                &obj,
                &st.manager,
                st.force,
                scope,
                "v1",
                &shape,
            ) {
                Ok(v) => live = Some(v),
                Err((list, cs)) => {
                    let mut by: BTreeMap<String, FieldSet> = BTreeMap::new();
                    for (i, p) in cs {
                        by.entry(key(&list[i])).or_default().insert(&p);
                    }
                    conflicts = by.into_iter().map(|(k, s)| (k, s.to_v1())).collect();
                }
            }
        } else {
            apply::record_update(live.as_ref(), &mut obj, &st.manager, scope, "v1", &shape);
            live = Some(obj);
        }
        let cur = live.clone().unwrap_or_else(|| json!({}));
        let mut object = trackable(&cur, scope);
        strip_nulls(&mut object);
        let managed = entries(&cur)
            .iter()
            .map(|e| (key(e), e.fields.to_v1()))
            .collect();
        out.push(Outcome {
            object,
            managed,
            conflicts,
        });
    }
    out
}

fn key(e: &apply::Entry) -> String {
    format!("{}/{}", e.manager, e.operation)
}
