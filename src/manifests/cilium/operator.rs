//! The `cilium-operator` Deployment.
//!
//! Derived from `templates/cilium-operator/deployment.yaml` of the Cilium Helm charts 1.17.0 to 1.20.0 (generic
//! cloud, host network, Prometheus metrics on 9963, health on 9234); what a line changed is gated with
//! `ver.since(minor)`.

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMapVolumeSource, Container, ContainerPort, PodSecurityContext,
    PodSpec, PodTemplateSpec, SecurityContext, Toleration, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::agent::one_per_node;
use super::common::*;
use super::values::CiliumValues;
use super::version::CiliumVersion;

/// Operator metrics port (`operator.prometheus.port`).
pub const METRICS_PORT: i32 = 9963;
/// Operator health port (fixed in the chart).
pub const HEALTH_PORT: i32 = 9234;

/// Rolling update strategy: with one replica the chart allows 100% unavailable so the single pod can move
/// (host network ports would otherwise block the surge pod); else 25% surge / 50% unavailable.
fn strategy(replicas: u32) -> DeploymentStrategy {
    let max_unavailable = if replicas == 1 { "100%" } else { "50%" };
    DeploymentStrategy {
        type_: Some("RollingUpdate".to_string()),
        rolling_update: Some(RollingUpdateDeployment {
            max_surge: Some(IntOrString::String("25%".to_string())),
            max_unavailable: Some(IntOrString::String(max_unavailable.to_string())),
        }),
    }
}

/// Tolerations: every taint up to 1.17; from 1.18 the control-plane, not-ready, uninitialized and Cilium
/// agent-not-ready taints only (`operator.tolerations`).
fn tolerations(ver: CiliumVersion) -> Vec<Toleration> {
    if !ver.since(18) {
        return tolerate_everything();
    }
    [
        "node-role.kubernetes.io/control-plane",
        "node-role.kubernetes.io/master",
        "node.kubernetes.io/not-ready",
        "node.cloudprovider.kubernetes.io/uninitialized",
        "node.cilium.io/agent-not-ready",
    ]
    .iter()
    .map(|key| Toleration {
        key: Some(key.to_string()),
        operator: Some("Exists".to_string()),
        ..Default::default()
    })
    .collect()
}

/// The operator Deployment with `operator_replicas` replicas.
pub fn deployment(v: &CiliumValues, ver: CiliumVersion, image: &str) -> Deployment {
    let labels_all = labels(&[
        ("io.cilium/app", "operator"),
        ("name", "cilium-operator"),
        PART_OF,
        ("app.kubernetes.io/name", "cilium-operator"),
    ]);
    let mut env = node_and_namespace_env();
    env.push(env_cilium_config("CILIUM_DEBUG", "debug"));
    env.extend(k8s_service_env(v));
    let probe = |t: ProbeTiming| {
        let mut get = http_get(Some("127.0.0.1"), "/healthz", HEALTH_PORT, &[]);
        if ver.since(19) {
            get.port = IntOrString::String("health".to_string());
        }
        http_probe(get, t)
    };
    let mut ports = Vec::new();
    if ver.since(19) {
        // The health port is declared (and named) from 1.19; the chart leaves its protocol to the default.
        ports.push(ContainerPort {
            name: Some("health".to_string()),
            container_port: HEALTH_PORT,
            host_port: Some(HEALTH_PORT),
            protocol: Some("TCP".to_string()),
            ..Default::default()
        });
    }
    ports.push(ContainerPort {
        name: Some("prometheus".to_string()),
        container_port: METRICS_PORT,
        host_port: Some(METRICS_PORT),
        protocol: Some("TCP".to_string()),
        ..Default::default()
    });
    let container = Container {
        name: "cilium-operator".to_string(),
        image: Some(image.to_string()),
        image_pull_policy: Some("IfNotPresent".to_string()),
        command: Some(vec!["cilium-operator-generic".to_string()]),
        args: Some(vec![
            "--config-dir=/tmp/cilium/config-map".to_string(),
            "--debug=$(CILIUM_DEBUG)".to_string(),
        ]),
        env: Some(env),
        ports: Some(ports),
        // From 1.18 the operator runs without privilege escalation and drops every capability.
        security_context: ver.since(18).then(|| SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_string()]),
                add: None,
            }),
            ..Default::default()
        }),
        liveness_probe: Some(probe(ProbeTiming {
            initial_delay_seconds: Some(60),
            period_seconds: Some(10),
            timeout_seconds: Some(3),
            ..Default::default()
        })),
        readiness_probe: Some(probe(ProbeTiming {
            initial_delay_seconds: Some(0),
            period_seconds: Some(5),
            timeout_seconds: Some(3),
            failure_threshold: Some(5),
            ..Default::default()
        })),
        volume_mounts: Some(vec![mount(
            "cilium-config-path",
            "/tmp/cilium/config-map",
            Some(true),
            None,
        )]),
        termination_message_policy: Some("FallbackToLogsOnError".to_string()),
        ..Default::default()
    };
    Deployment {
        metadata: meta("cilium-operator", Some(&v.namespace), labels_all.clone()),
        spec: DeploymentSpec {
            replicas: Some(i32::try_from(v.operator_replicas).unwrap_or(i32::MAX)),
            selector: LabelSelector {
                match_labels: Some(labels(&[
                    ("io.cilium/app", "operator"),
                    ("name", "cilium-operator"),
                ])),
                ..Default::default()
            },
            strategy: Some(strategy(v.operator_replicas)),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    annotations: Some(labels(&[
                        ("prometheus.io/port", &METRICS_PORT.to_string()),
                        ("prometheus.io/scrape", "true"),
                    ])),
                    labels: Some(labels_all),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    security_context: ver.since(18).then(|| PodSecurityContext {
                        seccomp_profile: Some(runtime_default_seccomp()),
                        ..Default::default()
                    }),
                    host_users: ver.since(20).then_some(true),
                    containers: vec![container],
                    host_network: Some(true),
                    restart_policy: Some("Always".to_string()),
                    priority_class_name: Some("system-cluster-critical".to_string()),
                    service_account_name: Some("cilium-operator".to_string()),
                    automount_service_account_token: Some(true),
                    affinity: Some(Affinity {
                        pod_anti_affinity: Some(one_per_node("io.cilium/app", "operator")),
                        ..Default::default()
                    }),
                    node_selector: Some(linux_nodes()),
                    tolerations: Some(tolerations(ver)),
                    volumes: Some(vec![Volume {
                        name: "cilium-config-path".to_string(),
                        config_map: Some(ConfigMapVolumeSource {
                            name: "cilium-config".to_string(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    }
}
