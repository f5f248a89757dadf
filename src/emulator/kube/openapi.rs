//! OpenAPI v3 discovery, reduced to what clients read from it: `/openapi/v3` lists one document per served
//! group-version (`serverRelativeURL` with a content hash), and each document has, per resource, the item path
//! with its PATCH operation (`x-kubernetes-group-version-kind`, query parameters `dryRun`, `fieldManager`,
//! `fieldValidation`, `force`). kubectl 1.32 reads these to learn that the server validates fields itself
//! (k8s.io/cli-runtime `QueryParamVerifierV3`), so `kubectl apply` sends `fieldValidation=Strict` instead of
//! downloading schemas. Component schemas of built-in kinds are published when the upstream definitions are
//! loaded ([`super::k8s_schemas`], `VIXENS_K8S_SCHEMAS`), so `kubectl explain` works; `/openapi/v2` answers 404.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sha2::Digest;

use super::k8s_schemas;
use super::registry::ResourceType;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The per-group-version documents, keyed by `api/v1` / `apis/<group>/<version>`.
pub fn documents(types: &[ResourceType], k8s_version: &str) -> BTreeMap<String, Value> {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for t in types {
        for v in &t.versions {
            let key = gv_path(&t.group, v);
            let doc = out.entry(key.clone()).or_insert_with(|| {
                json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": k8s_version}, "paths": {}, "components": {"schemas": {}}})
            });
            let item = if t.namespaced {
                format!("/{key}/namespaces/{{namespace}}/{}/{{name}}", t.resource)
            } else {
                format!("/{key}/{}/{{name}}", t.resource)
            };
            let q = |name: &str, typ: &str| json!({"name": name, "in": "query", "schema": {"type": typ, "uniqueItems": true}});
            doc["paths"][item] = json!({
                "parameters": [
                    {"name": "name", "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}},
                ],
                "patch": {
                    "operationId": format!("patch{}", t.kind),
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": {"group": t.group, "version": v, "kind": t.kind},
                    "parameters": [q("dryRun", "string"), q("fieldManager", "string"), q("fieldValidation", "string"), q("force", "boolean")],
                    "responses": {"200": {"description": "OK"}, "201": {"description": "Created"}},
                },
            });
            // Component schemas of built-in kinds from the upstream definitions, so that `kubectl explain`
            // works (k8s.io/kubectl/pkg/explain/v2 finds the kind by x-kubernetes-group-version-kind).
            if t.crd.is_none() {
                if let (Some(defs), Some(comps)) =
                    (k8s_schemas::global(), k8s_schemas::components())
                {
                    if let Some(name) = k8s_schemas::kind_def_name(defs, &t.group, v, &t.kind) {
                        if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
                            k8s_schemas::closure(comps, name, schemas);
                        }
                    }
                }
            }
        }
    }
    out
}

/// The `/openapi/v3` index.
pub fn index(docs: &BTreeMap<String, Value>) -> Value {
    let paths: serde_json::Map<String, Value> = docs
        .iter()
        .map(|(k, d)| {
            (
                k.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{k}?hash={}", hash(d))}),
            )
        })
        .collect();
    json!({"paths": paths})
}

/// Upper-case hex SHA-512-like content hash (SHA-256 here) of a document.
pub fn hash(doc: &Value) -> String {
    hex::encode_upper(sha2::Sha256::digest(doc.to_string().as_bytes()))
}
