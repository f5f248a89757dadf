//! Discovery endpoints: `/version`, health checks, `/api`, `/api/v1`, `/apis`, `/apis/<group>`,
//! `/apis/<group>/<version>` (legacy discovery documents, as `kubectl api-resources` reads them) and the OpenAPI
//! v3 documents of [`super::openapi`] (`/openapi/v2` answers 404).
//!
//! Aggregated discovery (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`) is not served:
//! the legacy document is returned with `Content-Type: application/json`, which client-go's discovery client
//! recognises as "not aggregated" and falls back to per-group requests; a request accepting only the
//! aggregated form gets 406.

use std::collections::BTreeMap;

use axum::body::Body;
use http::{Method, Response};
use serde_json::{json, Value};

use super::errors::ApiError;
use super::handlers::{error_response, json_response};
use super::openapi;
use super::registry::{self, ResourceType};
use super::Inner;

/// Answers a discovery request, or None when `path` is not a discovery path.
pub fn route(inner: &Inner, method: &Method, path: &str, accept: &str) -> Option<Response<Body>> {
    let path = path.trim_end_matches('/');
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let is_discovery = matches!(
        segs.as_slice(),
        ["version"]
            | ["healthz"]
            | ["livez"]
            | ["readyz"]
            | ["api"]
            | ["apis"]
            | ["api", _]
            | ["apis", _]
            | ["apis", _, _]
    ) || segs.first() == Some(&"openapi");
    if !is_discovery {
        return None;
    }
    if method != Method::GET {
        return Some(error_response(&ApiError::method_not_allowed(
            method.as_str(),
            path,
        )));
    }
    if !accept.is_empty()
        && accept.contains("apidiscovery.k8s.io")
        && !accept.split(',').any(|a| {
            let a = a.trim();
            a == "application/json"
                || a.starts_with("application/json;q")
                || a == "*/*"
                || a.starts_with("application/*")
        })
    {
        return Some(error_response(&ApiError::not_acceptable(
            "aggregated discovery is not served",
        )));
    }
    let types = inner.lock().types();
    let resp = match segs.as_slice() {
        ["version"] => json_response(200, &version(&inner.server_version())),
        ["healthz"] | ["livez"] | ["readyz"] => Response::builder()
            .status(200)
            .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Body::from("ok"))
            .unwrap_or_default(),
        ["api"] => json_response(
            200,
            &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]}),
        ),
        ["api", "v1"] => json_response(200, &resource_list("", "v1", &types)),
        ["apis"] => json_response(
            200,
            &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups(&types).values().cloned().collect::<Vec<_>>()}),
        ),
        ["apis", g] => match groups(&types).get(*g) {
            Some(grp) => {
                let mut grp = grp.clone();
                grp["kind"] = json!("APIGroup");
                grp["apiVersion"] = json!("v1");
                json_response(200, &grp)
            }
            None => error_response(&ApiError::path_not_found()),
        },
        ["apis", g, v] if types.iter().any(|t| t.group == *g && t.serves(v)) => {
            json_response(200, &resource_list(g, v, &types))
        }
        ["openapi", "v3"] => json_response(
            200,
            &openapi::index(&openapi::documents(&types, &inner.server_version())),
        ),
        ["openapi", "v3", rest @ ..] => {
            match openapi::documents(&types, &inner.server_version()).get(&rest.join("/")) {
                Some(doc) => json_response(200, doc),
                None => error_response(&ApiError::path_not_found()),
            }
        }
        _ => error_response(&ApiError::path_not_found()),
    };
    Some(resp)
}

/// The `/version` document for a `vMAJOR.MINOR.PATCH` version.
pub fn version(v: &str) -> Value {
    let mut parts = v.trim_start_matches('v').split('.');
    let major = parts.next().unwrap_or("1").to_string();
    let minor = parts.next().unwrap_or("32").to_string();
    json!({
        "major": major, "minor": minor, "gitVersion": v, "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean", "buildDate": "2025-03-11T19:52:21Z", "goVersion": "go1.23.6", "compiler": "gc",
        "platform": "linux/amd64", "emulated": "vixens-emulator",
    })
}

fn groups(types: &[ResourceType]) -> BTreeMap<String, Value> {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for t in types.iter().filter(|t| !t.group.is_empty()) {
        let e = out.entry(t.group.clone()).or_insert_with(|| {
            let gv = format!("{}/{}", t.group, t.versions[0]);
            json!({"name": t.group, "versions": [], "preferredVersion": {"groupVersion": gv, "version": t.versions[0]}})
        });
        if let Some(vs) = e["versions"].as_array_mut() {
            for v in &t.versions {
                let entry = json!({"groupVersion": format!("{}/{v}", t.group), "version": v});
                if !vs.contains(&entry) {
                    vs.push(entry);
                }
            }
        }
    }
    out
}

fn resource_list(group: &str, version: &str, types: &[ResourceType]) -> Value {
    let mut resources = vec![];
    for t in types
        .iter()
        .filter(|t| t.group == group && t.serves(version))
    {
        let mut r = json!({
            "name": t.resource, "singularName": t.singular, "namespaced": t.namespaced, "kind": t.kind,
            "verbs": registry::verbs(),
        });
        if !t.short_names.is_empty() {
            r["shortNames"] = json!(t.short_names);
        }
        if !t.categories.is_empty() {
            r["categories"] = json!(t.categories);
        }
        resources.push(r);
        if t.status_subresource {
            resources.push(json!({"name": format!("{}/status", t.resource), "singularName": "", "namespaced": t.namespaced, "kind": t.kind, "verbs": ["get", "patch", "update"]}));
        }
        if super::eviction::has_eviction(t) {
            resources.push(json!({"name": "pods/eviction", "singularName": "", "namespaced": true, "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]}));
        }
        if super::scale::has_scale(t) {
            resources.push(json!({"name": format!("{}/scale", t.resource), "singularName": "", "namespaced": t.namespaced, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
        }
        if t.resource == "namespaces" {
            resources.push(json!({"name": "namespaces/finalize", "singularName": "", "namespaced": false, "kind": "Namespace", "verbs": ["update"]}));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}
