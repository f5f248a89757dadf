//! Upstream type information for built-in kinds: the JSON schemas PyPI `kubernetes-validate` ships per
//! Kubernetes version (`kubernetes-json-schema/v1.32.0-local/_definitions.json`, a `$defs` map generated from
//! kube-apiserver's OpenAPI: `x-kubernetes-list-type`, `-list-map-keys`, `-map-type`, patch strategies,
//! `x-kubernetes-group-version-kind`). `scripts/install-kubernetes-validate.sh` installs it and prints the file;
//! `VIXENS_K8S_SCHEMAS` names it to the emulator, which then types built-in kinds for server-side apply from it
//! (else it falls back to its field-name rules, [`super::fields::Shape::builtin`]).

use std::sync::OnceLock;

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

/// The definitions named by `VIXENS_K8S_SCHEMAS`, loaded once (None when unset or unreadable; the reason is
/// logged once).
pub fn global() -> Option<&'static Value> {
    static DOC: OnceLock<Option<Value>> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = std::env::var_os("VIXENS_K8S_SCHEMAS")?;
        match load(std::path::Path::new(&path)) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::warn!("VIXENS_K8S_SCHEMAS not used: {e:#}");
                None
            }
        }
    })
    .as_ref()
}

/// The definition of `group`/`version`/`kind` in `doc` (by its `x-kubernetes-group-version-kind`).
pub fn kind_def<'a>(doc: &'a Value, group: &str, version: &str, kind: &str) -> Option<&'a Value> {
    doc.get("$defs")?.as_object()?.values().find(|d| {
        d.get("x-kubernetes-group-version-kind")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter()
                    .any(|g| g["group"] == group && g["version"] == version && g["kind"] == kind)
            })
    })
}
