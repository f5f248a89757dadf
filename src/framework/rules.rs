//! Terraform's plan and apply rules that the framework applies for every resource, so that resource code cannot
//! get them wrong (see Terraform's `docs/resource-instance-change-lifecycle.md`):
//! - on create, a computed attribute left unset in configuration is planned unknown;
//! - on update, an attribute marked `requires_replace` whose planned value differs from the prior one forces
//!   replacement;
//! - after apply, every known planned value equals the applied one and nothing is unknown;
//! - after read, values equal to the prior ones keep the prior representation (e.g. set order).

use super::schema::{walk_attributes, Block};
use super::Diagnostics;
use crate::cty::{AttributePath, Value};

/// Plans computed-and-unset attributes as unknown (used on create).
pub fn mark_computed_unknown(block: &Block, config: &Value, planned: &mut Value) {
    let mut paths = Vec::new();
    walk_attributes(block, planned, &AttributePath::root(), &mut |attr, path| {
        if attr.computed && config.get_path(path).is_null() && planned.get_path(path).is_null() {
            paths.push(path.clone());
        }
    });
    for p in paths {
        if let Some(v) = planned.get_path_mut(&p) {
            *v = Value::Unknown;
        }
    }
}

/// Paths of `requires_replace` attributes whose planned value differs from the prior value.
pub fn requires_replace(block: &Block, prior: &Value, planned: &Value) -> Vec<AttributePath> {
    let mut out = Vec::new();
    if prior.is_null() || planned.is_null() {
        return out;
    }
    walk_attributes(block, planned, &AttributePath::root(), &mut |attr, path| {
        if attr.requires_replace && prior.get_path(path) != planned.get_path(path) {
            out.push(path.clone());
        }
    });
    out
}

/// Errors for every known planned value that the applied state does not keep, and for unknowns left in the
/// applied state (Terraform would reject both as "Provider produced inconsistent result after apply").
pub fn check_apply_consistency(planned: &Value, applied: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    compare(planned, applied, &AttributePath::root(), &mut diags);
    diags
}

fn compare(planned: &Value, applied: &Value, path: &AttributePath, diags: &mut Diagnostics) {
    if !applied.is_wholly_known() {
        diags.error_at(
            path.clone(),
            "Provider returned an unknown value after apply",
            "This is a bug in the provider: every value must be known once applied.",
        );
        return;
    }
    match (planned, applied) {
        (Value::Unknown, _) => {}
        (Value::Object(p), Value::Object(a)) => {
            for (k, pv) in p {
                compare(
                    pv,
                    a.get(k).unwrap_or(&Value::Null),
                    &path.join_attr(k),
                    diags,
                );
            }
        }
        (Value::List(p), Value::List(a)) | (Value::Tuple(p), Value::Tuple(a))
            if p.len() == a.len() =>
        {
            for (i, (pv, av)) in p.iter().zip(a).enumerate() {
                compare(pv, av, &path.join_index(i), diags);
            }
        }
        (Value::Map(p), Value::Map(a)) if p.len() == a.len() && p.keys().eq(a.keys()) => {
            for (k, pv) in p {
                compare(pv, &a[k], &path.join_key(k), diags);
            }
        }
        // A set containing unknowns may apply to any set of the same size.
        (Value::Set(p), Value::Set(a)) if !planned.is_wholly_known() && p.len() == a.len() => {}
        (p, a) if p == a => {}
        _ => diags.error_at(
            path.clone(),
            "Provider produced inconsistent result after apply",
            "This is a bug in the provider: the applied value differs from the planned one.",
        ),
    }
}

/// Returns `new`, but with the prior representation wherever the two are equal (so a refresh of an unchanged
/// object shows no diff, e.g. for sets in a different order or `1.0` vs `1`).
pub fn keep_prior_where_equal(prior: &Value, new: Value) -> Value {
    if &new == prior {
        return prior.clone();
    }
    match (prior, new) {
        (Value::Object(p), Value::Object(mut n)) => {
            for (k, v) in n.iter_mut() {
                if let Some(pv) = p.get(k) {
                    *v = keep_prior_where_equal(pv, std::mem::take(v));
                }
            }
            Value::Object(n)
        }
        (Value::List(p), Value::List(mut n)) if p.len() == n.len() => {
            for (pv, v) in p.iter().zip(n.iter_mut()) {
                *v = keep_prior_where_equal(pv, std::mem::take(v));
            }
            Value::List(n)
        }
        (_, n) => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::{Attribute, NestedBlock, Nesting};

    fn block() -> Block {
        Block::new("")
            .attribute(Attribute::string("name").required().requires_replace())
            .attribute(Attribute::string("id").computed())
            .attribute(Attribute::string("opt").optional().computed())
            .block(NestedBlock::new(
                "item",
                Nesting::List,
                Block::new("").attribute(Attribute::string("uid").computed()),
            ))
    }

    #[test]
    fn computed_unknown_on_create() {
        let config = Value::object([
            ("name", "a".into()),
            ("id", Value::Null),
            ("opt", "set".into()),
            (
                "item",
                Value::List(vec![Value::object([("uid", Value::Null)])]),
            ),
        ]);
        let mut planned = config.clone();
        mark_computed_unknown(&block(), &config, &mut planned);
        assert_eq!(planned.get("id"), &Value::Unknown);
        assert_eq!(planned.get("opt").as_str(), Some("set"));
        assert_eq!(
            planned.get_path(&AttributePath::attr("item").join_index(0).join_attr("uid")),
            &Value::Unknown
        );
    }

    #[test]
    fn replace_and_consistency() {
        let prior = Value::object([("name", "a".into()), ("id", "1".into())]);
        let planned = Value::object([("name", "b".into()), ("id", "1".into())]);
        assert_eq!(
            requires_replace(&block(), &prior, &planned),
            vec![AttributePath::attr("name")]
        );
        assert!(requires_replace(&block(), &Value::Null, &planned).is_empty());
        let applied = Value::object([("name", "b".into()), ("id", "2".into())]);
        let d = check_apply_consistency(&planned, &applied);
        assert_eq!(d.0.len(), 1);
        assert_eq!(d.0[0].attribute, Some(AttributePath::attr("id")));
        let planned = Value::object([("name", "b".into()), ("id", Value::Unknown)]);
        assert!(check_apply_consistency(&planned, &applied).is_empty());
        assert!(check_apply_consistency(&planned, &planned).has_errors());
    }

    #[test]
    fn read_keeps_prior_representation() {
        let prior = Value::object([
            ("s", Value::Set(vec!["a".into(), "b".into()])),
            ("x", "1".into()),
        ]);
        let new = Value::object([
            ("s", Value::Set(vec!["b".into(), "a".into()])),
            ("x", "2".into()),
        ]);
        let out = keep_prior_where_equal(&prior, new);
        assert!(matches!(out.get("s"), Value::Set(v) if v[0].as_str() == Some("a")));
        assert_eq!(out.get("x").as_str(), Some("2"));
    }
}
