//! The typed model of Talos's machine config, and the check of config documents against it: a key the Go types do
//! not have, or a value the decoder cannot put into its field's type, is refused before anything is sent, as the
//! node would refuse the config ("unknown keys found during decoding", "cannot unmarshal !!seq into
//! map[string]string").
//!
//! The models (`types/v1_11.json`, `v1_12.json`, `v1_13.json`) are written by `scripts/talos-config-types.py` from
//! the Go types each document kind decodes into, at the release each contract pins (v1.11.6, v1.12.11, v1.13.9,
//! `pkg/machinery/config/types/**`); the script's docs list the type names. The check follows how Talos decodes
//! (pkg/machinery/config/configloader/internal/decoder/decoder.go: yaml.v3, then `xyaml.CheckUnknownKeys`) and how
//! yaml.v3 puts a YAML value into a Go type (gopkg.in/yaml.v3 decode.go `scalar`/`sequence`/`mapping`):
//! - null fits every type; any scalar fits a string (a number or a boolean is read as its text);
//! - a boolean field takes a boolean or one of YAML 1.1's words (`yes`, `off`...); a quoted `"true"` does not fit;
//! - an integer field takes a number within the type's range (a fraction is truncated), never a string;
//! - a `time.Duration` takes a Go duration string (`"30s"`), never a number;
//! - lists, maps and structures take only a sequence or a mapping; a structure refuses keys its type lacks.
//!
//! Values are checked against what is sent: the YAML the provider renders keeps the scalar types of the patch.
//! A `$patch: delete` directive is skipped wherever it appears.

use crate::talos::contract::{Contract, SUPPORTED};
use crate::yaml::Value;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::LazyLock;

#[derive(Debug, Deserialize)]
struct Struct {
    fields: BTreeMap<String, String>,
    #[serde(default)]
    free: bool,
}

/// The Go types of one Talos release's config documents, as `scripts/talos-config-types.py` writes them.
#[derive(Debug, Deserialize)]
pub struct TypeModel {
    /// The release the model was read from (e.g. `v1.12.11`).
    pub release: String,
    /// Document kind (`v1alpha1` for the main document) -> its type.
    documents: BTreeMap<String, String>,
    types: BTreeMap<String, Struct>,
}

fn load(json: &str) -> TypeModel {
    // The models are files of this crate, checked by the tests: a parse failure is a build defect.
    serde_json::from_str(json).unwrap_or_else(|e| panic!("embedded Talos config model: {e}"))
}

static V1_11: LazyLock<TypeModel> = LazyLock::new(|| load(include_str!("types/v1_11.json")));
static V1_12: LazyLock<TypeModel> = LazyLock::new(|| load(include_str!("types/v1_12.json")));
static V1_13: LazyLock<TypeModel> = LazyLock::new(|| load(include_str!("types/v1_13.json")));

/// The model of `contract`'s pinned release.
pub fn model(contract: Contract) -> &'static TypeModel {
    match contract.minor {
        11 => &V1_11,
        12 => &V1_12,
        _ => &V1_13,
    }
}

/// What is wrong with a document, as the node would say it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A key no type of the contract has.
    #[error("unknown key {path}: Talos {contract} has no such machine-config field")]
    UnknownKey {
        /// Dotted path of the key (`machine.kubelet.extraArg`).
        path: String,
        /// The contract.
        contract: Contract,
    },
    /// A key that a later contract has.
    #[error("{path} needs Talos 1.{minor} or later (the config contract is {contract})")]
    Later {
        /// The key's path.
        path: String,
        /// The first minor that has it.
        minor: u32,
        /// The contract.
        contract: Contract,
    },
    /// A document kind that a later contract registers.
    #[error("{kind} documents need Talos 1.{minor} or later (the config contract is {contract})")]
    LaterKind {
        /// The kind.
        kind: String,
        /// The first minor that has it.
        minor: u32,
        /// The contract.
        contract: Contract,
    },
    /// A document kind no contract registers.
    #[error("unknown document kind {kind:?}: Talos {contract} registers no such document")]
    UnknownKind {
        /// The kind.
        kind: String,
        /// The contract.
        contract: Contract,
    },
    /// A value the decoder cannot put into its field.
    #[error("{path}: {found} where Talos {contract} expects {expected} (the node refuses it: \"cannot unmarshal\")")]
    WrongType {
        /// Dotted path of the value (`machine.kubelet.extraArgs`).
        path: String,
        /// What the value is (`a list`): never the value itself, which may be a secret.
        found: &'static str,
        /// What the field's Go type takes.
        expected: String,
        /// The contract.
        contract: Contract,
    },
}

impl Problem {
    /// Whether this is a value of the wrong type (rather than an unknown key or kind).
    pub fn is_wrong_type(&self) -> bool {
        matches!(self, Problem::WrongType { .. })
    }
}

/// Checks config documents (a whole config, or the documents of one patch) against `contract`'s model: the
/// `v1alpha1` document (no `kind`) and every other document by its kind.
///
/// # Errors
/// Every problem found, in document order.
pub fn check_documents(contract: Contract, docs: &[Value]) -> Result<(), Vec<Problem>> {
    let mut out = Vec::new();
    for doc in docs {
        let kind = match doc.get("kind") {
            None => "v1alpha1".to_string(),
            Some(k) => k.as_str().unwrap_or_default().to_string(),
        };
        let checker = Checker {
            contract,
            kind: &kind,
        };
        match model(contract).documents.get(&kind) {
            Some(ty) => {
                let prefix = if kind == "v1alpha1" { "" } else { &kind };
                checker.value(ty, doc, prefix, &mut Vec::new(), &mut out);
            }
            None => out.push(
                match first_minor_with(contract, |m| m.documents.contains_key(&kind)) {
                    Some(minor) => Problem::LaterKind {
                        kind,
                        minor,
                        contract,
                    },
                    None => Problem::UnknownKind { kind, contract },
                },
            ),
        }
    }
    if out.is_empty() {
        Ok(())
    } else {
        Err(out)
    }
}

/// The first supported minor after `contract` whose model satisfies `has`.
fn first_minor_with(contract: Contract, has: impl Fn(&TypeModel) -> bool) -> Option<u32> {
    SUPPORTED
        .into_iter()
        .filter(|c| *c > contract)
        .find(|c| has(model(*c)))
        .map(|c| c.minor)
}

/// Key for the strategic-merge delete directive, allowed anywhere in a patch.
const PATCH_DIRECTIVE: &str = "$patch";

/// YAML 1.1 words yaml.v3 reads into a Go bool.
const BOOL_WORDS: [&str; 16] = [
    "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off",
    "OFF",
];

struct Checker<'a> {
    contract: Contract,
    kind: &'a str,
}

fn found(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn is_scalar(v: &Value) -> bool {
    matches!(v, Value::Bool(_) | Value::Number(_) | Value::String(_))
}

/// Range of a Go integer type by name.
fn int_range(ty: &str) -> Option<(i128, i128)> {
    let bits: u32 = ty
        .trim_start_matches("uint")
        .trim_start_matches("int")
        .parse()
        .ok()?;
    Some(if ty.starts_with('u') {
        (0, (1i128 << bits) - 1)
    } else {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    })
}

fn fits_int(v: &Value, (lo, hi): (i128, i128)) -> bool {
    let Value::Number(n) = v else { return false };
    if let Some(i) = n.as_i64() {
        return (lo..=hi).contains(&i128::from(i));
    }
    if let Some(u) = n.as_u64() {
        return (lo..=hi).contains(&i128::from(u));
    }
    // yaml.v3 truncates a float that fits the type.
    n.as_f64()
        .is_some_and(|f| f.is_finite() && f >= lo as f64 && f <= hi as f64)
}

/// Whether `s` is a Go duration (`time.ParseDuration`): `0`, or signed decimal numbers each with a unit (ns, us,
/// µs, μs, ms, s, m, h), e.g. `1h30m`, `1.5s`.
pub fn is_go_duration(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"]
            .into_iter()
            .filter(|u| rest.starts_with(u))
            .max_by_key(|u| u.len());
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

fn describe(ty: &str) -> String {
    match ty {
        "string" => "a string".into(),
        "scalar" | "text" => "a single value".into(),
        "bool" => "a boolean".into(),
        "float" => "a number".into(),
        "duration" => "a duration such as \"30s\"".into(),
        "args" => "a string or a list of strings".into(),
        t if t.starts_with("[]") => "a list".into(),
        t if t.starts_with("map:") => "a mapping".into(),
        t => match int_range(t) {
            Some((0, _)) if t == "uint64" => "a non-negative integer".into(),
            Some(_) if t == "int64" => "an integer".into(),
            Some((lo, hi)) => format!("an integer from {lo} to {hi}"),
            None => "a mapping (object)".into(),
        },
    }
}

impl Checker<'_> {
    fn wrong(&self, path: &str, v: &Value, ty: &str, out: &mut Vec<Problem>) {
        out.push(Problem::WrongType {
            path: if path.is_empty() {
                "the document".into()
            } else {
                path.to_string()
            },
            found: found(v),
            expected: describe(ty),
            contract: self.contract,
        });
    }

    /// Checks `v` against type `ty` at `path` (`keys`: the key path without list indexes).
    fn value(
        &self,
        ty: &str,
        v: &Value,
        path: &str,
        keys: &mut Vec<String>,
        out: &mut Vec<Problem>,
    ) {
        if v.is_null() || v.get(PATCH_DIRECTIVE).is_some() {
            return;
        }
        let ok = match ty {
            "any" => true,
            "string" | "scalar" | "text" => is_scalar(v),
            "bool" => match v {
                Value::Bool(_) => true,
                Value::String(s) => BOOL_WORDS.contains(&s.as_str()),
                _ => false,
            },
            "float" => matches!(v, Value::Number(_)),
            "duration" => v.as_str().is_some_and(is_go_duration),
            "args" => {
                is_scalar(v)
                    || v.as_array()
                        .is_some_and(|items| items.iter().all(|i| is_scalar(i) || i.is_null()))
            }
            t if t.starts_with("[]") => {
                let Some(items) = v.as_array() else {
                    return self.wrong(path, v, ty, out);
                };
                for (i, item) in items.iter().enumerate() {
                    self.value(&t[2..], item, &format!("{path}[{i}]"), keys, out);
                }
                true
            }
            t if t.starts_with("map:") => {
                let Some(map) = v.as_object() else {
                    return self.wrong(path, v, ty, out);
                };
                for (k, item) in map {
                    let key = k.clone();
                    self.value(&t[4..], item, &join(path, &key), keys, out);
                }
                true
            }
            t => match int_range(t) {
                Some(range) => fits_int(v, range),
                None => return self.structure(t, v, path, keys, out),
            },
        };
        if !ok {
            self.wrong(path, v, ty, out);
        }
    }

    fn structure(
        &self,
        ty: &str,
        v: &Value,
        path: &str,
        keys: &mut Vec<String>,
        out: &mut Vec<Problem>,
    ) {
        let Some(st) = model(self.contract).types.get(ty) else {
            return; // not in the model: not checked
        };
        let Some(map) = v.as_object() else {
            return self.wrong(path, v, ty, out);
        };
        if st.free {
            return;
        }
        for (k, child) in map {
            let key = k.clone();
            if key == PATCH_DIRECTIVE {
                continue;
            }
            let at = join(path, &key);
            keys.push(key.clone());
            match st.fields.get(&key) {
                Some(field) => self.value(field, child, &at, keys, out),
                None => out.push(
                    match first_minor_with(self.contract, |m| m.has_path(self.kind, keys)) {
                        Some(minor) => Problem::Later {
                            path: at,
                            minor,
                            contract: self.contract,
                        },
                        None => Problem::UnknownKey {
                            path: at,
                            contract: self.contract,
                        },
                    },
                ),
            }
            keys.pop();
        }
    }
}

impl TypeModel {
    /// Whether the document `kind` has the key path `keys` (list levels skipped, map keys taken as any).
    fn has_path(&self, kind: &str, keys: &[String]) -> bool {
        let Some(mut ty) = self.documents.get(kind).map(String::as_str) else {
            return false;
        };
        let mut keys = keys.iter();
        let mut key = keys.next();
        while let Some(k) = key {
            ty = ty.trim_start_matches("[]");
            if let Some(inner) = ty.strip_prefix("map:") {
                ty = inner;
                key = keys.next();
                continue;
            }
            match self.types.get(ty) {
                Some(st) if st.free => return true,
                Some(st) => match st.fields.get(k) {
                    Some(next) => ty = next,
                    None => return false,
                },
                None => return ty == "any",
            }
            key = keys.next();
        }
        true
    }

    /// Every document kind of the model.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.documents.keys().map(String::as_str)
    }

    /// The type a document kind decodes into.
    pub fn document_type(&self, kind: &str) -> Option<&str> {
        self.documents.get(kind).map(String::as_str)
    }

    /// Whether the model has the structure `ty`.
    pub fn has_struct(&self, ty: &str) -> bool {
        self.types.contains_key(ty)
    }

    /// Whether the structure `ty` takes any key (an inline map, as `v1alpha1.Unstructured`).
    pub fn is_free(&self, ty: &str) -> bool {
        self.types.get(ty).is_some_and(|s| s.free)
    }

    /// The type of key `key` of the structure `ty`.
    pub fn field_type(&self, ty: &str, key: &str) -> Option<&str> {
        self.types.get(ty)?.fields.get(key).map(String::as_str)
    }
}

/// Checks one value against a type of `contract`'s model (the type names of `scripts/talos-config-types.py`).
pub fn check_value(contract: Contract, ty: &str, value: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    let checker = Checker {
        contract,
        kind: "v1alpha1",
    };
    checker.value(ty, value, "", &mut Vec::new(), &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(text: &str) -> Vec<Value> {
        super::super::patch::parse_patch(0, text).unwrap()
    }

    fn problems(contract: Contract, text: &str) -> Vec<String> {
        check_documents(contract, &docs(text))
            .err()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn the_models_parse_and_name_their_release() {
        for (contract, release) in SUPPORTED
            .into_iter()
            .zip(["v1.11.6", "v1.12.11", "v1.13.9"])
        {
            assert_eq!(model(contract).release, release);
            assert!(model(contract).kinds().any(|k| k == "v1alpha1"));
        }
    }

    #[test]
    fn known_keys_free_maps_and_deletes_pass() {
        let patch = "machine:\n  sysctls: {vm.max_map_count: '262144', anything.goes: '1'}\n  kubelet:\n    \
                     extraArgs: {rotate-server-certificates: 'true'}\n    extraConfig: {any: {thing: [1]}}\n  \
                     files: [{path: /a, content: b, op: create, permissions: 0o644}]\n  features:\n    \
                     kubePrism: {enabled: yes, port: 7445}\ncluster:\n  network: {cni: {name: none}}\n  \
                     proxy: {disabled: true}\n  extraManifests: [$patch: delete]\n---\napiVersion: v1alpha1\n\
                     kind: VLANConfig\nname: eth0.9\nvlanID: 9\nparent: eth0\nmtu: 1500\naddresses: [{address: \
                     10.0.0.1/24}]";
        for contract in [Contract::V1_12, Contract::V1_13] {
            check_documents(contract, &docs(patch)).unwrap();
        }
        check_documents(Contract::V1_11, &docs("machine: {network: {hostname: a}}")).unwrap();
    }

    #[test]
    fn wrong_types_are_named_with_their_path_never_their_value() {
        let all = problems(
            Contract::V1_12,
            "machine:\n  kubelet:\n    extraArgs: [secret-1]\n  features:\n    kubePrism: {port: '7445', \
             enabled: 'true'}\n  install: {wipe: 3, disk: [a]}\n  time: {bootTimeout: 30}\n  \
             files: [{permissions: -1}]\n",
        );
        let joined = all.join("\n");
        for needle in [
            "machine.kubelet.extraArgs: a list where Talos 1.12 expects a mapping",
            "machine.features.kubePrism.port: a string where Talos 1.12 expects an integer (",
            "machine.features.kubePrism.enabled: a string where Talos 1.12 expects a boolean",
            "machine.install.wipe: a number where Talos 1.12 expects a boolean",
            "machine.install.disk: a list where Talos 1.12 expects a string",
            "machine.time.bootTimeout: a number where Talos 1.12 expects a duration",
            "machine.files[0].permissions: a number where Talos 1.12 expects an integer from 0 to 4294967295",
        ] {
            assert!(joined.contains(needle), "{needle} missing:\n{joined}");
        }
        assert_eq!(all.len(), 7, "{joined}");
        assert!(!joined.contains("secret-1"), "{joined}");
    }

    #[test]
    fn unknown_keys_and_kinds_are_named() {
        let all = problems(
            Contract::V1_13,
            "machine:\n  kubelet: {extraArg: {}}\n  bogus: 1\n  files: [{path: /a, mode: 1}]\nclusterr: {}\n---\n\
             kind: NopeConfig\napiVersion: v1alpha1\n---\nkind: LinkConfig\napiVersion: v1alpha1\nname: eth0\n\
             mtus: 9000",
        )
        .join("\n");
        for needle in [
            "unknown key machine.kubelet.extraArg",
            "unknown key machine.bogus",
            "unknown key machine.files[0].mode",
            "unknown key clusterr",
            "\"NopeConfig\"",
            "unknown key LinkConfig.mtus",
        ] {
            assert!(all.contains(needle), "{needle} missing: {all}");
        }
    }

    #[test]
    fn newer_keys_and_kinds_need_their_contract() {
        let flannel = "cluster: {network: {cni: {flannel: {kubeNetworkPoliciesEnabled: true}}}}";
        check_documents(Contract::V1_13, &docs(flannel)).unwrap();
        let errors = problems(Contract::V1_12, flannel);
        assert!(errors[0].contains("needs Talos 1.13"), "{errors:?}");
        let vlan = "apiVersion: v1alpha1\nkind: VLANConfig\nname: eth0.9";
        assert!(problems(Contract::V1_11, vlan)[0].contains("VLANConfig documents need Talos 1.12"));
        let uki = "machine: {install: {grubUseUKICmdline: true}}";
        assert!(problems(Contract::V1_11, uki)[0].contains("needs Talos 1.12"));
        check_documents(Contract::V1_12, &docs(uki)).unwrap();
    }

    #[test]
    fn args_take_lists_of_strings_from_1_13() {
        let list = "machine: {kubelet: {extraArgs: {feature-gates: [a, b]}}}";
        check_documents(Contract::V1_13, &docs(list)).unwrap();
        assert!(problems(Contract::V1_12, list)[0].contains("expects a string"));
        let bad = "machine: {kubelet: {extraArgs: {feature-gates: {a: b}}}}";
        assert!(problems(Contract::V1_13, bad)[0].contains("a string or a list of strings"));
    }

    #[test]
    fn go_durations() {
        for ok in ["0", "30s", "1h30m", "1.5s", "-2m", "300ms", "1µs"] {
            assert!(is_go_duration(ok), "{ok}");
        }
        for bad in ["", "30", "s", "1x", "1..5s", "+"] {
            assert!(!is_go_duration(bad), "{bad}");
        }
    }
}
