//! The `cilium-operator` Deployment.
//!
//! Derived from `templates/cilium-operator/deployment.yaml` of the Cilium Helm chart 1.17.0 (generic cloud,
//! host network, Prometheus metrics on 9963, health on 9234).

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Affinity, ConfigMapVolumeSource, Container, ContainerPort, PodSpec, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::agent::one_per_node;
use super::common::*;
use super::values::CiliumValues;

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

/// The operator Deployment with `operator_replicas` replicas.
pub fn deployment(v: &CiliumValues, image: &str) -> Deployment {
    let labels_all = labels(&[
        ("io.cilium/app", "operator"),
        ("name", "cilium-operator"),
        PART_OF,
        ("app.kubernetes.io/name", "cilium-operator"),
    ]);
    let mut env = node_and_namespace_env();
    env.push(env_cilium_config("CILIUM_DEBUG", "debug"));
    env.extend(k8s_service_env(v));
    let probe =
        |t: ProbeTiming| http_probe(http_get(Some("127.0.0.1"), "/healthz", HEALTH_PORT, &[]), t);
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
        ports: Some(vec![ContainerPort {
            name: Some("prometheus".to_string()),
            container_port: METRICS_PORT,
            host_port: Some(METRICS_PORT),
            protocol: Some("TCP".to_string()),
            ..Default::default()
        }]),
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
                    tolerations: Some(tolerate_everything()),
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
