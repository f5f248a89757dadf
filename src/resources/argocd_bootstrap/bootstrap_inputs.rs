//! `argocd_cm` and `bootstrap_secrets` of `vixens_argocd_bootstrap` (issue 20): what a GitOps tree needs before
//! the root Application's first sync. Reading them from a value, plan-time checks at their attributes, and their
//! schema attributes. Both become objects the resource owns after the hand-off ([`super::ops::owned_objects`]):
//! the `argocd-cm` keys under the settings field manager (released, not deleted, when removed), the Secrets
//! under `vixens` (deleted when removed, and on destroy unless `keep_on_destroy`). Drift reports field paths only.

use std::collections::{BTreeMap, BTreeSet};

use crate::cty::{AttributePath, Type, Value};
use crate::framework::{Attribute, Diagnostics};
use crate::manifests::argocd::bootstrap::{is_data_key, BootstrapSecret};
use crate::manifests::argocd::validate::dns_label;

/// The element type of `bootstrap_secrets`.
fn secret_type() -> Type {
    Type::object([
        ("namespace", Type::String),
        ("name", Type::String),
        ("type", Type::String),
        ("labels", Type::map(Type::String)),
        ("data", Type::map(Type::String)),
    ])
}

/// The two schema attributes.
pub fn attributes() -> [Attribute; 2] {
    [
        Attribute::new("argocd_cm", Type::map(Type::String)).optional().description(
            "Keys set in `argocd-cm` at install, before the root Application syncs (field manager \
             `vixens-settings`; removing a key releases it). E.g. \
             `resource.customizations.health.argoproj.io_Application`, the health check that makes sync waves of \
             an App-of-Apps wait for each child Application (Argo CD docs, \"Resource Health\").",
        ),
        Attribute::new("bootstrap_secrets", Type::list(secret_type()))
            .optional()
            .sensitive()
            .description(
                "Secrets created at bootstrap, before the root Application syncs: the one key a GitOps tree \
                 cannot keep in Git (e.g. the Sealed Secrets controller's key, `kube-system`, type \
                 `kubernetes.io/tls`, label `sealedsecrets.bitnami.com/sealed-secrets-key = active`), so that a \
                 rebuilt cluster decrypts the same Git. Each: `namespace` (must exist), `name`, `type`, `labels`, \
                 `data` (plain values). Sensitive: the values are in the state; plans and logs never show them.",
            ),
    ]
}

/// `argocd_cm` of a known value.
pub fn argocd_cm(v: &Value) -> BTreeMap<String, String> {
    v.get("argocd_cm")
        .as_map()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn strings(v: &Value) -> BTreeMap<String, String> {
    v.as_map()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// `bootstrap_secrets` of a known value.
pub fn bootstrap_secrets(v: &Value) -> Vec<BootstrapSecret> {
    v.get("bootstrap_secrets")
        .as_list()
        .unwrap_or(&[])
        .iter()
        .map(|s| BootstrapSecret {
            namespace: s.get("namespace").as_str().unwrap_or_default().to_string(),
            name: s.get("name").as_str().unwrap_or_default().to_string(),
            r#type: s.get("type").as_str().unwrap_or("Opaque").to_string(),
            labels: strings(s.get("labels")),
            data: strings(s.get("data")),
        })
        .collect()
}

/// Plan-time checks: `argocd_cm` keys are ConfigMap keys; each bootstrap Secret has a DNS-1123 namespace and
/// name, a type, valid data keys, and no two share namespace and name. Messages name keys and names, never values.
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    if let Some(map) = config.get("argocd_cm").as_map() {
        for key in map.keys().filter(|k| !is_data_key(k)) {
            diags.error_at(
                AttributePath::attr("argocd_cm"),
                "Invalid argocd-cm key",
                format!("{key:?} is not a ConfigMap key (letters, digits, '-', '_', '.')."),
            );
        }
    }
    let Some(list) = config.get("bootstrap_secrets").as_list() else {
        return;
    };
    let mut seen = BTreeSet::new();
    for (i, s) in list.iter().enumerate() {
        let path = |name: &str| {
            AttributePath::attr("bootstrap_secrets")
                .join_index(i)
                .join_attr(name)
        };
        for field in ["namespace", "name"] {
            if let Some(Err(e)) = s.get(field).as_str().map(dns_label) {
                diags.error_at(path(field), "Invalid bootstrap Secret", e);
            }
        }
        if s.get("type").as_str() == Some("") {
            diags.error_at(
                path("type"),
                "Invalid bootstrap Secret",
                "The type is empty (use Opaque, kubernetes.io/tls, ...).",
            );
        }
        if let Some(data) = s.get("data").as_map() {
            for key in data.keys().filter(|k| !is_data_key(k)) {
                diags.error_at(
                    path("data"),
                    "Invalid bootstrap Secret",
                    format!("{key:?} is not a Secret key (letters, digits, '-', '_', '.')."),
                );
            }
        }
        if let (Some(ns), Some(name)) = (s.get("namespace").as_str(), s.get("name").as_str()) {
            if !seen.insert((ns.to_string(), name.to_string())) {
                diags.error_at(
                    path("name"),
                    "Duplicate bootstrap Secret",
                    format!("Secret {ns}/{name} is listed twice."),
                );
            }
        }
    }
}
