//! Validates built objects against the upstream schema of their kind (issue 20, "Checks"):
//! - built-in kinds against the JSON schemas PyPI `kubernetes-validate` derives from Kubernetes' OpenAPI, in their
//!   strict form (unknown fields refused, as `kubectl --validate=strict` and server-side field validation do), for
//!   the Kubernetes version the environments run ([`KUBERNETES`]; the directory next to `VIXENS_K8S_SCHEMAS`);
//! - custom resources against the `openAPIV3Schema` of their CRD in a pinned release available offline: Argo CD's
//!   `Application` and `AppProject` from `../shared/fixtures/argocd/v3.5.1/install.yaml`. The CRD schema is read
//!   as the API server reads a structural schema: `nullable` admits null, `x-kubernetes-int-or-string` a number or
//!   a string, and fields not declared where the schema does not preserve unknown fields are refused (strict field
//!   validation).
//!
//! Kinds whose schema is not available offline are returned as unchecked with the reason ([`UNCHECKED`]).

use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The Kubernetes minor the environments run: Talos 1.13's default (`talos_version = "1.13"`, no
/// `kubernetes_version`: 1.36.3).
pub const KUBERNETES: &str = "v1.36.0";

/// Custom resource kinds of the tree whose CRDs are not available offline, and why.
pub const UNCHECKED: &[(&str, &str)] = &[
    (
        "cilium.io/CiliumLoadBalancerIPPool",
        "cilium-operator registers Cilium's CRDs from its binary; the chart packages in ../shared/fixtures/cilium \
         carry none",
    ),
    (
        "cilium.io/CiliumL2AnnouncementPolicy",
        "cilium-operator registers Cilium's CRDs from its binary; the chart packages in ../shared/fixtures/cilium \
         carry none",
    ),
    (
        "cert-manager.io/ClusterIssuer",
        "the cert-manager chart (charts.jetstack.io) is not in ../shared/fixtures",
    ),
    (
        "cert-manager.io/Certificate",
        "the cert-manager chart (charts.jetstack.io) is not in ../shared/fixtures",
    ),
    (
        "traefik.io/Middleware",
        "the Traefik chart (traefik.github.io/charts) is not in ../shared/fixtures",
    ),
    (
        "monitoring.coreos.com/ServiceMonitor",
        "the kube-prometheus-stack chart is not in ../shared/fixtures",
    ),
    (
        "monitoring.coreos.com/PrometheusRule",
        "the kube-prometheus-stack chart is not in ../shared/fixtures",
    ),
    (
        "bitnami.com/SealedSecret",
        "the sealed-secrets chart is not in ../shared/fixtures",
    ),
];

/// A compiled schema per kind, loaded once.
pub struct Schemas {
    k8s: Value,
    k8s_keys: HashMap<(String, String, String), String>,
    crds: HashMap<(String, String, String), Value>,
    compiled: HashMap<String, jsonschema::Validator>,
}

/// What validating one object found.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Valid against the upstream schema named.
    Valid(String),
    /// Invalid: the schema and each error (instance path: message).
    Invalid(String, Vec<String>),
    /// No schema offline for `group/Kind`.
    Unchecked(String),
}

/// The strict definitions of [`KUBERNETES`], next to `VIXENS_K8S_SCHEMAS` (…/kubernetes-json-schema/<any
/// version>-local/_definitions.json). `None` when the variable is unset.
pub fn definitions_path() -> Option<PathBuf> {
    let given = PathBuf::from(std::env::var_os("VIXENS_K8S_SCHEMAS")?);
    let root = given.parent()?.parent()?;
    Some(
        root.join(format!("{KUBERNETES}-local-strict"))
            .join("_definitions.json"),
    )
}

fn group_version(api_version: &str) -> (String, String) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.to_string()),
    }
}

/// A CRD `openAPIV3Schema` as the API server applies it with strict field validation (see the module doc).
fn structural(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: serde_json::Map<String, Value> = map
                .iter()
                .filter(|(k, _)| !k.starts_with("x-kubernetes-") && k.as_str() != "nullable")
                .map(|(k, v)| {
                    let v = match k.as_str() {
                        "properties" | "patternProperties" => Value::Object(
                            v.as_object()
                                .map(|props| {
                                    props
                                        .iter()
                                        .map(|(p, s)| (p.clone(), structural(s)))
                                        .collect()
                                })
                                .unwrap_or_default(),
                        ),
                        "items" | "additionalProperties" | "not" => structural(v),
                        "allOf" | "anyOf" | "oneOf" => Value::Array(
                            v.as_array()
                                .map(|a| a.iter().map(structural).collect())
                                .unwrap_or_default(),
                        ),
                        _ => v.clone(),
                    };
                    (k.clone(), v)
                })
                .collect();
            let preserve = map.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
            if map.get("x-kubernetes-int-or-string") == Some(&json!(true)) {
                out.remove("type");
                out.insert("type".into(), json!(["integer", "string"]));
            }
            if map.get("nullable") == Some(&json!(true)) {
                if let Some(Value::String(t)) = out.get("type").cloned() {
                    out.insert("type".into(), json!([t, "null"]));
                }
            }
            if map.contains_key("properties")
                && !map.contains_key("additionalProperties")
                && !preserve
            {
                out.insert("additionalProperties".into(), json!(false));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

impl Schemas {
    /// Loads the Kubernetes definitions at `definitions` and the CRDs of the Argo CD `install` manifest (when
    /// present).
    pub fn load(definitions: &Path, argocd_install: Option<&Path>) -> Result<Schemas, String> {
        let text = std::fs::read_to_string(definitions)
            .map_err(|e| format!("{}: {e}", definitions.display()))?;
        let k8s: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let mut k8s_keys = HashMap::new();
        for (key, def) in k8s["$defs"].as_object().ok_or("no $defs")? {
            for gvk in def["x-kubernetes-group-version-kind"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let field = |f: &str| gvk[f].as_str().unwrap_or("").to_string();
                k8s_keys.insert(
                    (field("group"), field("version"), field("kind")),
                    key.clone(),
                );
            }
        }
        let mut crds = HashMap::new();
        if let Some(path) = argocd_install.filter(|p| p.exists()) {
            let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
            for doc in vixens::yaml::documents::<serde_json::Value>(&text).unwrap_or_default() {
                if doc["kind"] != "CustomResourceDefinition" {
                    continue;
                }
                let group = doc["spec"]["group"].as_str().unwrap_or("").to_string();
                let kind = doc["spec"]["names"]["kind"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                for v in doc["spec"]["versions"].as_array().into_iter().flatten() {
                    let version = v["name"].as_str().unwrap_or("").to_string();
                    crds.insert(
                        (group.clone(), version, kind.clone()),
                        structural(&v["schema"]["openAPIV3Schema"]),
                    );
                }
            }
        }
        Ok(Schemas {
            k8s,
            k8s_keys,
            crds,
            compiled: HashMap::new(),
        })
    }

    /// Validates one object.
    pub fn validate(&mut self, doc: &Value) -> Outcome {
        let (group, version) = group_version(doc["apiVersion"].as_str().unwrap_or(""));
        let kind = doc["kind"].as_str().unwrap_or("").to_string();
        let key = (group.clone(), version.clone(), kind.clone());
        let (name, schema) = if let Some(def) = self.k8s_keys.get(&key) {
            let mut root = self.k8s.clone();
            root["$ref"] = json!(format!("#/$defs/{def}"));
            (format!("Kubernetes {KUBERNETES} {def}"), root)
        } else if let Some(schema) = self.crds.get(&key) {
            (
                format!("CRD {group}/{version} {kind} (Argo CD v3.5.1)"),
                schema.clone(),
            )
        } else {
            return Outcome::Unchecked(format!("{group}/{kind}"));
        };
        if !self.compiled.contains_key(&name) {
            match jsonschema::draft202012::new(&schema) {
                Ok(v) => {
                    self.compiled.insert(name.clone(), v);
                }
                Err(e) => return Outcome::Invalid(name, vec![format!("schema: {e}")]),
            }
        }
        let validator = &self.compiled[&name];
        let errors: Vec<String> = validator
            .iter_errors(doc)
            .map(|e| format!("{}: {e}", e.instance_path))
            .collect();
        if errors.is_empty() {
            Outcome::Valid(name)
        } else {
            Outcome::Invalid(name, errors)
        }
    }
}

/// Validates `docs`; returns the violations and the unchecked kinds (with their count).
pub fn validate_all(
    schemas: &mut Schemas,
    docs: &[serde_json::Value],
) -> (Vec<String>, BTreeMap<String, usize>) {
    let mut violations = Vec::new();
    let mut unchecked = BTreeMap::new();
    for d in docs {
        let json = serde_json::to_value(d).unwrap_or(Value::Null);
        let what = format!(
            "{} {}/{}",
            json["kind"].as_str().unwrap_or("?"),
            json["metadata"]["namespace"].as_str().unwrap_or(""),
            json["metadata"]["name"].as_str().unwrap_or("?")
        );
        match schemas.validate(&json) {
            Outcome::Valid(_) => {}
            Outcome::Invalid(schema, errors) => {
                violations.push(format!("{what} against {schema}: {}", errors.join("; ")))
            }
            Outcome::Unchecked(kind) => *unchecked.entry(kind).or_default() += 1,
        }
    }
    (violations, unchecked)
}
