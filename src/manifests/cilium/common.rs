//! Small builders shared by the Cilium object renderers (labels, metadata, env vars, volumes, probes).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapKeySelector, EnvVar, EnvVarSource, HTTPGetAction, HTTPHeader,
    HostPathVolumeSource, ObjectFieldSelector, Probe, SELinuxOptions, SecurityContext, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::values::CiliumValues;

/// `app.kubernetes.io/part-of: cilium`, carried by every chart object that has labels.
pub const PART_OF: (&str, &str) = ("app.kubernetes.io/part-of", "cilium");

/// Builds a label map from pairs.
pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Object metadata with a name, an optional namespace and labels (none when `labels` is empty).
pub fn meta(name: &str, namespace: Option<&str>, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        labels: if labels.is_empty() {
            None
        } else {
            Some(labels)
        },
        ..Default::default()
    }
}

/// Env var with a literal value.
pub fn env_value(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.to_string()),
        value_from: None,
    }
}

/// Env var from a pod field (`fieldRef` with `apiVersion: v1`).
pub fn env_field(name: &str, field_path: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: Some("v1".to_string()),
                field_path: field_path.to_string(),
            }),
            ..Default::default()
        }),
    }
}

/// Env var from an optional key of the `cilium-config` ConfigMap.
pub fn env_cilium_config(name: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            config_map_key_ref: Some(ConfigMapKeySelector {
                name: "cilium-config".to_string(),
                key: key.to_string(),
                optional: Some(true),
            }),
            ..Default::default()
        }),
    }
}

/// `K8S_NODE_NAME` and `CILIUM_K8S_NAMESPACE` from the downward API, first in every Cilium container's env.
pub fn node_and_namespace_env() -> Vec<EnvVar> {
    vec![
        env_field("K8S_NODE_NAME", "spec.nodeName"),
        env_field("CILIUM_K8S_NAMESPACE", "metadata.namespace"),
    ]
}

/// `KUBERNETES_SERVICE_HOST`/`PORT` (the chart's `k8sServiceHost`/`k8sServicePort`): the API server address used
/// before the `kubernetes` Service works (KubePrism `localhost:7445` on Talos). Empty when the host is empty,
/// as the chart only writes them when `k8sServiceHost` is set.
pub fn k8s_service_env(v: &CiliumValues) -> Vec<EnvVar> {
    if v.k8s_service_host.is_empty() {
        return Vec::new();
    }
    vec![
        env_value("KUBERNETES_SERVICE_HOST", &v.k8s_service_host),
        env_value("KUBERNETES_SERVICE_PORT", &v.k8s_service_port.to_string()),
    ]
}

/// A `hostPath` volume; `kind` is the hostPath type (`DirectoryOrCreate`, ...) or `None`.
pub fn host_path(name: &str, path: &str, kind: Option<&str>) -> Volume {
    Volume {
        name: name.to_string(),
        host_path: Some(HostPathVolumeSource {
            path: path.to_string(),
            type_: kind.map(str::to_string),
        }),
        ..Default::default()
    }
}

/// A volume mount; `read_only` and `propagation` are left unset when `None`.
pub fn mount(
    name: &str,
    path: &str,
    read_only: Option<bool>,
    propagation: Option<&str>,
) -> VolumeMount {
    VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        read_only,
        mount_propagation: propagation.map(str::to_string),
        ..Default::default()
    }
}

/// The unprivileged security context of Cilium containers: SELinux `spc_t`/`s0`, `add` capabilities, drop ALL.
pub fn capabilities_context(add: &[&str]) -> SecurityContext {
    SecurityContext {
        se_linux_options: Some(SELinuxOptions {
            level: Some("s0".to_string()),
            type_: Some("spc_t".to_string()),
            ..Default::default()
        }),
        capabilities: Some(Capabilities {
            add: Some(add.iter().map(|c| c.to_string()).collect()),
            drop: Some(vec!["ALL".to_string()]),
        }),
        ..Default::default()
    }
}

/// A `SecurityContext` with `privileged: true`.
pub fn privileged() -> SecurityContext {
    SecurityContext {
        privileged: Some(true),
        ..Default::default()
    }
}

/// An HTTP GET probe action on `host:port/path`, scheme HTTP, with optional headers.
pub fn http_get(
    host: Option<&str>,
    path: &str,
    port: i32,
    headers: &[(&str, &str)],
) -> HTTPGetAction {
    HTTPGetAction {
        host: host.map(str::to_string),
        path: Some(path.to_string()),
        port: IntOrString::Int(port),
        scheme: Some("HTTP".to_string()),
        http_headers: if headers.is_empty() {
            None
        } else {
            Some(
                headers
                    .iter()
                    .map(|(n, v)| HTTPHeader {
                        name: n.to_string(),
                        value: v.to_string(),
                    })
                    .collect(),
            )
        },
        ..Default::default()
    }
}

/// A probe with the given HTTP action and timing.
pub fn http_probe(action: HTTPGetAction, timing: ProbeTiming) -> Probe {
    Probe {
        http_get: Some(action),
        failure_threshold: timing.failure_threshold,
        period_seconds: timing.period_seconds,
        success_threshold: timing.success_threshold,
        initial_delay_seconds: timing.initial_delay_seconds,
        timeout_seconds: timing.timeout_seconds,
        ..Default::default()
    }
}

/// Probe timing fields (seconds / counts), each unset when `None`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProbeTiming {
    /// `failureThreshold`.
    pub failure_threshold: Option<i32>,
    /// `periodSeconds`.
    pub period_seconds: Option<i32>,
    /// `successThreshold`.
    pub success_threshold: Option<i32>,
    /// `initialDelaySeconds`.
    pub initial_delay_seconds: Option<i32>,
    /// `timeoutSeconds`.
    pub timeout_seconds: Option<i32>,
}

/// `{"operator": "Exists"}`: tolerate every taint (agent, envoy, operator).
pub fn tolerate_everything() -> Vec<k8s_openapi::api::core::v1::Toleration> {
    vec![k8s_openapi::api::core::v1::Toleration {
        operator: Some("Exists".to_string()),
        ..Default::default()
    }]
}

/// `kubernetes.io/os: linux` node selector.
pub fn linux_nodes() -> BTreeMap<String, String> {
    labels(&[("kubernetes.io/os", "linux")])
}

/// `seccompProfile: {type: Unconfined}` (agent pods from 1.18).
pub fn unconfined_seccomp() -> k8s_openapi::api::core::v1::SeccompProfile {
    k8s_openapi::api::core::v1::SeccompProfile {
        type_: "Unconfined".to_string(),
        localhost_profile: None,
    }
}

/// `seccompProfile: {type: RuntimeDefault}` (operator and Hubble pods from 1.18).
pub fn runtime_default_seccomp() -> k8s_openapi::api::core::v1::SeccompProfile {
    k8s_openapi::api::core::v1::SeccompProfile {
        type_: "RuntimeDefault".to_string(),
        localhost_profile: None,
    }
}
