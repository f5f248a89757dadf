//! Whether a configuration value is set, for either/or, required-together and conflicts-with checks.
//!
//! Terraform validates a configuration twice: at `terraform validate` (and early in plan) module variables,
//! resource references and other values not yet decided are *unknown*; at plan they are known, and a `null`
//! (e.g. `variable "m" { default = null }`) then means "not set". A check that involves an unknown value must
//! therefore skip, not guess: Terraform calls `ValidateResourceConfig` again once the value is known
//! (Terraform's `docs/resource-instance-change-lifecycle.md`, "ValidateResourceConfig").

use crate::cty::Value;

/// Whether a value is set: `Some(true)` for a known non-null value, `Some(false)` for null, `None` while the
/// value itself is unknown (its elements may still be unknown: a list with unknown items is set).
pub fn is_set(v: &Value) -> Option<bool> {
    match v {
        Value::Unknown => None,
        Value::Null => Some(false),
        _ => Some(true),
    }
}

/// Whether every value is known to be set or known to be null (none is unknown).
pub fn all_decided(values: &[&Value]) -> bool {
    values.iter().all(|v| v.is_known())
}

/// True when two or more of `values` are known to be set (a conflict); unknowns never count as set.
pub fn more_than_one_set(values: &[&Value]) -> bool {
    values.iter().filter(|v| is_set(v) == Some(true)).count() > 1
}

/// True when none of `values` is set and none is unknown (a missing either/or choice).
pub fn none_set(values: &[&Value]) -> bool {
    values.iter().all(|v| is_set(v) == Some(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_is_neither_set_nor_unset() {
        assert_eq!(is_set(&Value::Unknown), None);
        assert_eq!(is_set(&Value::Null), Some(false));
        assert_eq!(is_set(&Value::from("")), Some(true));
        assert_eq!(is_set(&Value::List(vec![Value::Unknown])), Some(true));
    }

    #[test]
    fn conflicts_and_missing_skip_unknowns() {
        let (set, null, unknown) = (Value::from("x"), Value::Null, Value::Unknown);
        assert!(more_than_one_set(&[&set, &set]));
        assert!(!more_than_one_set(&[&set, &unknown]));
        assert!(!more_than_one_set(&[&set, &null]));
        assert!(none_set(&[&null, &null]));
        assert!(!none_set(&[&null, &unknown]));
        assert!(!none_set(&[&set, &null]));
        assert!(all_decided(&[&set, &null]));
        assert!(!all_decided(&[&set, &unknown]));
    }
}
