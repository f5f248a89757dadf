//! Preparing Argo CD's install objects for a target namespace.
//!
//! Upstream `install.yaml` (v3.x) carries no namespace on its namespaced objects and no Namespace object; its
//! ClusterRoleBindings name ServiceAccounts in namespace `argocd` (Argo CD docs, "Installation": the manifests
//! assume `argocd`, other namespaces need the bindings' subjects updated). [`prepare_install`] sets the namespace,
//! rewrites those subjects, prepends the Namespace, and refuses manifests that still name `argocd` in a way it
//! cannot rewrite (service DNS names such as `x.argocd.svc`).

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ApiResource, DynamicObject};
use serde_json::Value;

use super::UPSTREAM_NAMESPACE;
use crate::k8s::inventory::ObjectRef;

/// Why the install objects cannot be placed in the requested namespace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    /// A namespaced object names another namespace explicitly.
    #[error("{kind} {name} is set to namespace {found}, not {wanted}")]
    ForeignNamespace {
        /// The object's kind.
        kind: String,
        /// Its name.
        name: String,
        /// The namespace it names.
        found: String,
        /// The namespace requested.
        wanted: String,
    },
    /// An object refers to the upstream namespace in a string that cannot be rewritten safely.
    #[error("{kind} {name} refers to namespace {UPSTREAM_NAMESPACE} at {path} ({text}); install into namespace {UPSTREAM_NAMESPACE} or use a manifest rendered for {wanted}")]
    HardCodedNamespace {
        /// The object's kind.
        kind: String,
        /// Its name.
        name: String,
        /// JSON path of the string.
        path: String,
        /// The string.
        text: String,
        /// The namespace requested.
        wanted: String,
    },
}

/// Built-in cluster-scoped kinds (Kubernetes API reference). Any other kind, including every Argo CD custom
/// resource, is treated as namespaced; the server-side apply step checks this against API discovery.
const CLUSTER_SCOPED_KINDS: &[&str] = &[
    "APIService",
    "CSIDriver",
    "CSINode",
    "CertificateSigningRequest",
    "ClusterRole",
    "ClusterRoleBinding",
    "ComponentStatus",
    "CustomResourceDefinition",
    "FlowSchema",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "RuntimeClass",
    "StorageClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

/// True for kinds that live in a namespace (see [`CLUSTER_SCOPED_KINDS`] for the rule).
pub fn is_namespaced(kind: &str) -> bool {
    !CLUSTER_SCOPED_KINDS.contains(&kind)
}

fn kind_of(obj: &DynamicObject) -> &str {
    obj.types.as_ref().map_or("", |t| t.kind.as_str())
}

/// The Namespace object for the install, labelled as part of Argo CD.
pub fn namespace_object(namespace: &str) -> DynamicObject {
    let mut ns = DynamicObject::new(namespace, &ApiResource::erase::<Namespace>(&()));
    ns.metadata.labels = Some(
        [(
            "app.kubernetes.io/part-of".to_string(),
            "argocd".to_string(),
        )]
        .into(),
    );
    ns
}

/// Places the install objects into `namespace`: sets it on namespaced objects that have none, rewrites
/// ServiceAccount subjects of (Cluster)RoleBindings from `argocd` to `namespace`, and prepends the Namespace
/// object (unless the manifest has it).
///
/// Errors: [`InstallError::ForeignNamespace`] for an object set to another namespace;
/// [`InstallError::HardCodedNamespace`] when `namespace` is not `argocd` and an object names
/// `<service>.argocd.svc`.
pub fn prepare_install(
    mut objects: Vec<DynamicObject>,
    namespace: &str,
) -> Result<Vec<DynamicObject>, InstallError> {
    for obj in &mut objects {
        prepare_object(obj, namespace)?;
    }
    let has_namespace = objects
        .iter()
        .any(|o| kind_of(o) == "Namespace" && o.metadata.name.as_deref() == Some(namespace));
    if !has_namespace {
        objects.insert(0, namespace_object(namespace));
    }
    Ok(objects)
}

/// Places one install object into `namespace`, as [`prepare_install`] does for each (without the Namespace
/// object, which the caller adds when no object [`is_namespace_object`]).
///
/// Errors: as [`prepare_install`].
pub fn prepare_object(obj: &mut DynamicObject, namespace: &str) -> Result<(), InstallError> {
    let kind = kind_of(obj).to_string();
    let name = obj.metadata.name.clone().unwrap_or_default();
    if is_namespaced(&kind) {
        match obj.metadata.namespace.as_deref() {
            None | Some("") => obj.metadata.namespace = Some(namespace.to_string()),
            Some(ns) if ns == namespace || ns == UPSTREAM_NAMESPACE => {
                obj.metadata.namespace = Some(namespace.to_string())
            }
            Some(ns) => {
                return Err(InstallError::ForeignNamespace {
                    kind,
                    name,
                    found: ns.to_string(),
                    wanted: namespace.to_string(),
                })
            }
        }
    }
    if kind == "ClusterRoleBinding" || kind == "RoleBinding" {
        rewrite_subjects(obj, namespace);
    }
    if namespace != UPSTREAM_NAMESPACE {
        if let Some((path, text)) = find_service_dns(&obj.data, "") {
            return Err(InstallError::HardCodedNamespace {
                kind,
                name,
                path,
                text,
                wanted: namespace.to_string(),
            });
        }
    }
    Ok(())
}

/// True when `r` is the Namespace object named `namespace`.
pub fn is_namespace_object(r: &ObjectRef, namespace: &str) -> bool {
    r.api_version == "v1" && r.kind == "Namespace" && r.name == namespace
}

/// Sets `namespace` on ServiceAccount subjects that name the upstream namespace.
fn rewrite_subjects(obj: &mut DynamicObject, namespace: &str) {
    let Some(subjects) = obj.data.get_mut("subjects").and_then(Value::as_array_mut) else {
        return;
    };
    for subject in subjects {
        let is_sa = subject.get("kind").and_then(Value::as_str) == Some("ServiceAccount");
        let upstream = subject.get("namespace").and_then(Value::as_str) == Some(UPSTREAM_NAMESPACE);
        if is_sa && upstream {
            subject["namespace"] = Value::String(namespace.to_string());
        }
    }
}

/// The first string naming a service in the upstream namespace (`.argocd.svc`), with its JSON path.
fn find_service_dns(value: &Value, path: &str) -> Option<(String, String)> {
    match value {
        Value::String(s) if s.contains(&format!(".{UPSTREAM_NAMESPACE}.svc")) => {
            Some((path.to_string(), s.clone()))
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_service_dns(v, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let child = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            find_service_dns(v, &child)
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> DynamicObject {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn namespaced_objects_get_the_namespace_and_bindings_are_rewritten() {
        let objects = vec![
            obj(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}})),
            obj(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "cr"}}),
            ),
            obj(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "crb"},
                "roleRef": {"kind": "ClusterRole", "name": "cr"},
                "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "argocd"},
                             {"kind": "ServiceAccount", "name": "other", "namespace": "kube-system"},
                             {"kind": "Group", "name": "g"}]}),
            ),
        ];
        let out = prepare_install(objects, "gitops").unwrap();
        assert_eq!(kind_of(&out[0]), "Namespace");
        assert_eq!(out[0].metadata.name.as_deref(), Some("gitops"));
        assert_eq!(out[1].metadata.namespace.as_deref(), Some("gitops"));
        assert_eq!(out[2].metadata.namespace, None);
        assert_eq!(out[3].metadata.namespace, None);
        let subjects = &out[3].data["subjects"];
        assert_eq!(subjects[0]["namespace"], "gitops");
        assert_eq!(subjects[1]["namespace"], "kube-system");
        assert!(subjects[2].get("namespace").is_none());
    }

    #[test]
    fn refuses_foreign_namespaces_and_hard_coded_service_names() {
        let foreign = vec![obj(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "x"}}),
        )];
        assert!(matches!(
            prepare_install(foreign, "argocd"),
            Err(InstallError::ForeignNamespace { .. })
        ));
        let dns = || {
            vec![obj(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "haproxy"},
                "data": {"cfg": "server r0 argocd-redis-ha-announce-0.argocd.svc.cluster.local:6379"}}),
            )]
        };
        let err = prepare_install(dns(), "gitops").unwrap_err();
        assert!(
            err.to_string()
                .contains("ConfigMap haproxy refers to namespace argocd at data.cfg"),
            "{err}"
        );
        assert!(prepare_install(dns(), "argocd").is_ok());
    }
}
