//! Objects a bootstrap adds besides Argo CD's own (issue 20): keys of `argocd-cm` that must be in place before
//! the root Application's first sync, and the Secrets a GitOps tree cannot hold in plain text but needs from the
//! start (the one decryption key of its encrypted secrets, e.g. the Sealed Secrets controller's key).
//!
//! `argocd-cm` keys follow the Argo CD docs: `resource.customizations.health.<group>_<kind>` holds a Lua health
//! check ("Resource Health"; the one for `argoproj.io/Application` makes sync waves of an App-of-Apps wait for
//! the child Applications to be healthy, which Argo CD stopped assessing in 1.8). Argo CD reads `argocd-cm` at run
//! time, so keys set after the install take effect without a restart.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::ByteString;
use kube::api::ObjectMeta;

/// Argo CD's main settings ConfigMap.
pub const ARGOCD_CM: &str = "argocd-cm";

/// The partial `argocd-cm` carrying only `data`, to be server-side applied over the install's ConfigMap.
pub fn argocd_cm(namespace: &str, data: &BTreeMap<String, String>) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(ARGOCD_CM.to_string()),
            namespace: Some(namespace.to_string()),
            ..ObjectMeta::default()
        },
        data: Some(data.clone()),
        ..ConfigMap::default()
    }
}

/// A Secret created at bootstrap. `Debug` hides the values.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapSecret {
    /// Namespace (must exist: `kube-system`, or Argo CD's).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Secret type, e.g. `Opaque` or `kubernetes.io/tls`.
    pub r#type: String,
    /// Labels (e.g. `sealedsecrets.bitnami.com/sealed-secrets-key: active`).
    pub labels: BTreeMap<String, String>,
    /// Keys and values. Secret.
    pub data: BTreeMap<String, String>,
}

impl fmt::Debug for BootstrapSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapSecret")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("type", &self.r#type)
            .field("labels", &self.labels)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl BootstrapSecret {
    /// The Secret object; values in `data` (not `stringData`) so the live object compares with what was sent.
    pub fn to_secret(&self) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: (!self.labels.is_empty()).then(|| self.labels.clone()),
                ..ObjectMeta::default()
            },
            type_: Some(self.r#type.clone()),
            data: Some(
                self.data
                    .iter()
                    .map(|(k, v)| (k.clone(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        }
    }
}

/// Whether `key` is a valid Secret or ConfigMap data key (`[-._a-zA-Z0-9]+`, at most 253 characters, not `.` or
/// `..`: Kubernetes `IsConfigMapKey`).
pub fn is_data_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_shape_and_debug_hides_values() {
        let s = BootstrapSecret {
            namespace: "kube-system".into(),
            name: "sealed-secrets-key".into(),
            r#type: "kubernetes.io/tls".into(),
            labels: BTreeMap::from([(
                "sealedsecrets.bitnami.com/sealed-secrets-key".into(),
                "active".into(),
            )]),
            data: BTreeMap::from([("tls.key".into(), "very-secret".into())]),
        };
        let v = serde_json::to_value(s.to_secret()).unwrap();
        assert_eq!(v["type"], "kubernetes.io/tls");
        assert_eq!(v["data"]["tls.key"], "dmVyeS1zZWNyZXQ=");
        assert!(!format!("{s:?}").contains("very-secret"));
        let cm = serde_json::to_value(argocd_cm(
            "argocd",
            &BTreeMap::from([("a".into(), "b".into())]),
        ))
        .unwrap();
        assert_eq!(cm["metadata"]["name"], "argocd-cm");
        assert_eq!(cm["data"]["a"], "b");
        assert!(is_data_key("tls.crt") && !is_data_key("a/b") && !is_data_key(".."));
    }
}
