//! Upstream type information for built-in kinds: the JSON schemas PyPI `kubernetes-validate` ships per
//! Kubernetes version (`kubernetes-json-schema/v1.32.0-local/_definitions.json`, a `$defs` map generated from
//! kube-apiserver's OpenAPI: `x-kubernetes-list-type`, `-list-map-keys`, `-map-type`, patch strategies,
//! `x-kubernetes-group-version-kind`). `scripts/install-kubernetes-validate.sh` installs it and prints the file;
//! `VIXENS_K8S_SCHEMAS` names it to the emulator (unset: where that script installs it in the source tree the
//! emulator was built from, [`INSTALLED`]), which then types built-in kinds from it for server-side apply,
//! managedFields, strategic merge patches and the OpenAPI it serves. Without it, the emulator warns once and falls
//! back to field-name rules (`Shape::builtin`), which know only the lists and maps the provider's objects use.

use std::ffi::OsString;
use std::sync::Mutex;

use anyhow::Context;
use serde_json::{json, Value};

/// Reads a `_definitions.json` and returns it with the defaults its generator leaves out restored:
/// `protocol: TCP` of ContainerPort and ServicePort (k8s.io/api core/v1 types.go@v1.32.0 `+default="TCP"`,
/// which structured-merge-diff uses for keys left out of `ports` items).
pub fn load(path: &std::path::Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut doc: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    for def in [
        "io.k8s.api.core.v1.ContainerPort",
        "io.k8s.api.core.v1.ServicePort",
    ] {
        if let Some(p) = doc.pointer_mut(&format!("/$defs/{def}/properties/protocol")) {
            if let Some(m) = p.as_object_mut() {
                m.entry("default").or_insert(json!("TCP"));
            }
        }
    }
    Ok(doc)
}

/// The definitions named by `VIXENS_K8S_SCHEMAS`, else those installed in the source tree (looked up at each
/// call; each file is loaded once and kept for the life of the process). None when absent or unreadable (the
/// reason is logged).
pub fn global() -> Option<&'static Value> {
    loaded().map(|l| &l.0)
}

type Loaded = (Value, serde_json::Map<String, Value>);

/// Where `scripts/install-kubernetes-validate.sh` puts the v1.32 definitions, in this source tree.
pub const INSTALLED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/.cache/kubernetes-validate/kubernetes_validate/kubernetes-json-schema/v1.32.0-local/_definitions.json"
);

/// `VIXENS_K8S_SCHEMAS`, else [`INSTALLED`] when it exists; None (warned once) when neither.
fn schemas_path() -> Option<OsString> {
    if let Some(p) = std::env::var_os("VIXENS_K8S_SCHEMAS") {
        return Some(p);
    }
    if std::path::Path::new(INSTALLED).is_file() {
        return Some(INSTALLED.into());
    }
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            "upstream Kubernetes schemas not found (set VIXENS_K8S_SCHEMAS or run \
             scripts/install-kubernetes-validate.sh): built-in kinds are typed by field-name rules"
        )
    });
    None
}

fn loaded() -> Option<&'static Loaded> {
    static CACHE: Mutex<Vec<(OsString, Option<&'static Loaded>)>> = Mutex::new(Vec::new());
    let path = schemas_path()?;
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, l)) = cache.iter().find(|(p, _)| *p == path) {
        return *l;
    }
    let l = match load(std::path::Path::new(&path)) {
        Ok(doc) => {
            let comps = doc
                .get("$defs")
                .and_then(Value::as_object)
                .map(|d| d.iter().map(|(k, v)| (k.clone(), to_openapi(v))).collect())
                .unwrap_or_default();
            Some(&*Box::leak(Box::new((doc, comps))))
        }
        Err(e) => {
            tracing::warn!("VIXENS_K8S_SCHEMAS not used: {e:#}");
            None
        }
    };
    cache.push((path, l));
    l
}

/// The definition of `group`/`version`/`kind` in `doc` (by its `x-kubernetes-group-version-kind`).
pub fn kind_def<'a>(doc: &'a Value, group: &str, version: &str, kind: &str) -> Option<&'a Value> {
    kind_def_name(doc, group, version, kind).and_then(|n| doc.get("$defs")?.get(n))
}

/// The name (`$defs` key) of the definition of `group`/`version`/`kind` in `doc`.
pub fn kind_def_name<'a>(
    doc: &'a Value,
    group: &str,
    version: &str,
    kind: &str,
) -> Option<&'a str> {
    doc.get("$defs")?
        .as_object()?
        .iter()
        .find(|(_, d)| {
            d.get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
                .is_some_and(|a| {
                    a.iter().any(|g| {
                        g["group"] == group && g["version"] == version && g["kind"] == kind
                    })
                })
        })
        .map(|(k, _)| k.as_str())
}

/// The definitions as OpenAPI v3 component schemas, as kube-apiserver publishes them under
/// `/openapi/v3/<group-version>` (`$ref`s to `#/components/schemas/<name>`, one `type` per node).
pub fn components() -> Option<&'static serde_json::Map<String, Value>> {
    loaded().map(|l| &l.1)
}

fn to_openapi(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, c)| {
                    let c = match (k.as_str(), c) {
                        ("$ref", Value::String(r)) => {
                            Value::String(r.replace("#/$defs/", "#/components/schemas/"))
                        }
                        ("type", Value::Array(ts)) => ts
                            .iter()
                            .find(|t| t.as_str() != Some("null"))
                            .cloned()
                            .unwrap_or(Value::Null),
                        _ => to_openapi(c),
                    };
                    (k.clone(), c)
                })
                .filter(|(_, c)| !c.is_null())
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(to_openapi).collect()),
        _ => v.clone(),
    }
}

/// `name` and every component schema it refers to, transitively, into `out`.
pub fn closure(
    comps: &serde_json::Map<String, Value>,
    name: &str,
    out: &mut serde_json::Map<String, Value>,
) {
    if out.contains_key(name) {
        return;
    }
    let Some(def) = comps.get(name) else { return };
    out.insert(name.to_string(), def.clone());
    let mut refs = vec![];
    collect_refs(def, &mut refs);
    for r in refs {
        closure(comps, &r, out);
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                match (k.as_str(), c) {
                    ("$ref", Value::String(r)) => {
                        if let Some(n) = r.strip_prefix("#/components/schemas/") {
                            out.push(n.to_string());
                        }
                    }
                    _ => collect_refs(c, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| collect_refs(c, out)),
        _ => {}
    }
}
