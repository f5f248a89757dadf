//! The decode step of the v1alpha1 document, as Talos's decoder does it before any validation rule
//! (pkg/machinery/config/configloader/internal/decoder/decoder.go@v1.12.11 `decode`): the YAML node is decoded into
//! the typed `v1alpha1.Config` (a value of the wrong type fails with yaml's "cannot unmarshal" error, wrapped as
//! "error decoding  to *v1alpha1.Config: ..."; the kind of the legacy document is empty, hence the two spaces),
//! then siderolabs/gen `xyaml.CheckUnknownKeys` refuses keys the types do not have, listing them as YAML under
//! "unknown keys found during decoding:".
//!
//! The emulator knows the keys of the levels the provider writes (top, `machine`, `machine.network`, `cluster`)
//! and the types of the scalar fields below; deeper unknown keys and other fields are not checked. yaml.v3 names
//! the line of a wrongly typed value ("line 12: cannot unmarshal ..."); the emulator names the field path instead.

use crate::yaml::{Mapping, Value};

use super::config::{CLUSTER_KEYS, MACHINE_KEYS, NETWORK_KEYS, TOP_KEYS};

/// A scalar Go type of a v1alpha1 field, as yaml.v3 decodes into it.
#[derive(Debug, Clone, Copy)]
enum Scalar {
    Bool,
    Int,
    Str,
}

/// Scalar fields of `v1alpha1.Config` and their Go types (pkg/machinery/config/types/v1alpha1/
/// v1alpha1_types.go@v1.12.11).
const TYPED_FIELDS: &[(&[&str], Scalar)] = &[
    (&["version"], Scalar::Str),
    (&["debug"], Scalar::Bool),
    (&["persist"], Scalar::Bool),
    (&["machine", "type"], Scalar::Str),
    (&["machine", "token"], Scalar::Str),
    (&["machine", "install", "disk"], Scalar::Str),
    (&["machine", "install", "image"], Scalar::Str),
    (&["machine", "install", "wipe"], Scalar::Bool),
    (&["machine", "kubelet", "image"], Scalar::Str),
    (&["machine", "network", "hostname"], Scalar::Str),
    (&["machine", "features", "rbac"], Scalar::Bool),
    (
        &["machine", "features", "kubePrism", "enabled"],
        Scalar::Bool,
    ),
    (&["machine", "features", "kubePrism", "port"], Scalar::Int),
    (&["cluster", "clusterName"], Scalar::Str),
    (&["cluster", "controlPlane", "endpoint"], Scalar::Str),
    (&["cluster", "allowSchedulingOnControlPlanes"], Scalar::Bool),
    (&["cluster", "proxy", "disabled"], Scalar::Bool),
    (&["cluster", "apiServer", "image"], Scalar::Str),
    (&["cluster", "network", "dnsDomain"], Scalar::Str),
    (&["cluster", "network", "cni", "name"], Scalar::Str),
];

/// The decode errors of the v1alpha1 document `v1`: the first wrongly typed value, else every unknown key.
///
/// # Errors
/// The message Talos's decoder gives (see the module doc).
pub fn check_v1alpha1(v1: &Value) -> Result<(), String> {
    for (path, want) in TYPED_FIELDS {
        let Some(value) = at(v1, path) else { continue };
        if let Some(problem) = type_mismatch(value, *want) {
            return Err(format!(
                "error decoding  to *v1alpha1.Config: yaml: unmarshal errors:\n  .{}: {problem}",
                path.join(".")
            ));
        }
    }
    let mut unknown = Mapping::new();
    collect_unknown(v1, TOP_KEYS, &mut unknown);
    let nested = |parent: &str, child: Option<&Value>, keys: &[&str], into: &mut Mapping| {
        let mut inner = Mapping::new();
        if let Some(child) = child {
            collect_unknown(child, keys, &mut inner);
        }
        if !inner.is_empty() {
            into.insert(parent.to_string(), Value::Object(inner));
        }
    };
    let mut machine_unknown = Mapping::new();
    if let Some(machine) = v1.get("machine") {
        collect_unknown(machine, MACHINE_KEYS, &mut machine_unknown);
        nested(
            "network",
            machine.get("network"),
            NETWORK_KEYS,
            &mut machine_unknown,
        );
    }
    if !machine_unknown.is_empty() {
        unknown.insert("machine".to_string(), Value::Object(machine_unknown));
    }
    nested("cluster", v1.get("cluster"), CLUSTER_KEYS, &mut unknown);
    if unknown.is_empty() {
        return Ok(());
    }
    let listed = crate::yaml::to_string(&Value::Object(unknown)).unwrap_or_default();
    Err(format!("unknown keys found during decoding:\n{listed}"))
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

/// Keys of mapping `v` not in `allowed`, with their values, into `out`.
fn collect_unknown(v: &Value, allowed: &[&str], out: &mut Mapping) {
    if let Some(map) = v.as_object() {
        for (k, value) in map {
            if !allowed.contains(&k.as_str()) {
                out.insert(k.clone(), value.clone());
            }
        }
    }
}

/// yaml.v3's refusal of `value` for a Go field of type `want`, as "cannot unmarshal !!tag `value` into type": a null
/// decodes into anything, any plain scalar into a string, only `!!bool` into a bool and `!!int` into an int.
fn type_mismatch(value: &Value, want: Scalar) -> Option<String> {
    let (tag, shown) = match value {
        Value::Null => return None,
        Value::Bool(b) => ("!!bool", b.to_string()),
        Value::Number(n) if n.is_i64() || n.is_u64() => ("!!int", n.to_string()),
        Value::Number(n) => ("!!float", n.to_string()),
        Value::String(s) => ("!!str", s.clone()),
        Value::Array(_) => ("!!seq", String::new()),
        Value::Object(_) => ("!!map", String::new()),
    };
    let ok = match want {
        Scalar::Str => !matches!(tag, "!!seq" | "!!map"),
        Scalar::Bool => tag == "!!bool",
        Scalar::Int => tag == "!!int",
    };
    if ok {
        return None;
    }
    let go_type = match want {
        Scalar::Bool => "bool",
        Scalar::Int => "int",
        Scalar::Str => "string",
    };
    Some(if shown.is_empty() {
        format!("cannot unmarshal {tag} into {go_type}")
    } else {
        format!("cannot unmarshal {tag} `{shown}` into {go_type}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> Result<(), String> {
        check_v1alpha1(&crate::yaml::from_str(yaml).unwrap())
    }

    #[test]
    fn wrong_types_are_decode_errors() {
        let e = check("version: v1alpha1\ncluster:\n  allowSchedulingOnControlPlanes: \"yes\"\n")
            .unwrap_err();
        assert!(
            e.starts_with("error decoding  to *v1alpha1.Config: yaml: unmarshal errors:"),
            "{e}"
        );
        assert!(e.contains("cannot unmarshal !!str `yes` into bool"), "{e}");
        let e = check("machine:\n  features:\n    kubePrism:\n      port: seventy\n").unwrap_err();
        assert!(
            e.contains(
                ".machine.features.kubePrism.port: cannot unmarshal !!str `seventy` into int"
            ),
            "{e}"
        );
        let e = check("machine:\n  install:\n    disk: [a, b]\n").unwrap_err();
        assert!(e.contains("cannot unmarshal !!seq into string"), "{e}");
        // yaml.v3 decodes any plain scalar into a string field.
        assert!(check("cluster:\n  clusterName: 42\n").is_ok());
    }

    #[test]
    fn unknown_keys_are_listed_with_their_values() {
        let e = check("version: v1alpha1\nbogus: 1\nmachine:\n  type: worker\n  nope: {a: b}\n  network:\n    extra: true\ncluster:\n  clusterName: c\n  what: x\n").unwrap_err();
        assert!(
            e.starts_with("unknown keys found during decoding:\n"),
            "{e}"
        );
        let listed: Value = crate::yaml::from_str(e.split_once('\n').unwrap().1).unwrap();
        let expected: Value = crate::yaml::from_str(
            "bogus: 1\nmachine: {nope: {a: b}, network: {extra: true}}\ncluster: {what: x}\n",
        )
        .unwrap();
        assert_eq!(listed, expected);
    }
}
