//! The `cilium-envoy` DaemonSet, its bootstrap ConfigMap and its metrics Service.
//!
//! Derived from `templates/cilium-envoy/*.yaml` and `files/cilium-envoy/configmap/bootstrap-config.yaml` of the
//! Cilium Helm charts 1.17.0 to 1.20.0 (`envoy.enabled` defaults to a DaemonSet from 1.16 on; IPv4 only; metrics
//! on 9964); what a line changed is gated with `ver.since(minor)`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
};
use k8s_openapi::api::core::v1::{
    Affinity, AppArmorProfile, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort,
    KeyToPath, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodAffinity,
    PodSecurityContext, PodSpec, PodTemplateSpec, Service, ServicePort, ServiceSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{json, Value};

use super::agent::{one_per_node, pod_affinity_term};
use super::common::*;
use super::values::CiliumValues;
use super::version::CiliumVersion;

/// Envoy health port (`envoy.healthPort`).
pub const HEALTH_PORT: i32 = 9878;
/// Envoy Prometheus port (`envoy.prometheus.port`).
pub const METRICS_PORT: i32 = 9964;
/// Connect timeout in seconds (`envoy.connectTimeoutSeconds`).
const CONNECT_TIMEOUT_S: u32 = 2;

fn internal_address_config() -> Value {
    json!({"cidrRanges": [
        {"addressPrefix": "10.0.0.0", "prefixLen": 8},
        {"addressPrefix": "172.16.0.0", "prefixLen": 12},
        {"addressPrefix": "192.168.0.0", "prefixLen": 16},
        {"addressPrefix": "127.0.0.1", "prefixLen": 32},
    ]})
}

/// An HTTP connection manager listener routing `prefix` to the admin socket cluster with `rewrite`; its stream
/// idle timeout is `0s` up to 1.17 and `300s` (`envoy.streamIdleTimeoutDurationSeconds`) from 1.18.
#[allow(clippy::too_many_arguments)]
fn listener(
    ver: CiliumVersion,
    name: &str,
    address: &str,
    port: i32,
    vhosts_key: &str,
    route: &str,
    prefix: &str,
    rewrite: &str,
) -> Value {
    json!({
        "name": name,
        "address": {"socketAddress": {"address": address, "portValue": port}},
        "filterChains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typedConfig": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "statPrefix": name,
                "routeConfig": {vhosts_key: [{
                    "name": route,
                    "domains": ["*"],
                    "routes": [{"name": route, "match": {"prefix": prefix},
                                "route": {"cluster": "/envoy-admin", "prefixRewrite": rewrite}}],
                }]},
                "httpFilters": [{"name": "envoy.filters.http.router", "typedConfig": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
                "internalAddressConfig": internal_address_config(),
                "streamIdleTimeout": if ver.since(18) { "300s" } else { "0s" },
            },
        }]}],
    })
}

/// Circuit breaker thresholds: retries only up to 1.18; from 1.19 also connections and requests
/// (`envoy.cluster.maxConnections`/`maxRequests`, 1024).
fn circuit_breakers(ver: CiliumVersion) -> Value {
    if ver.since(19) {
        json!({"thresholds": [{"maxConnections": 1024, "maxRequests": 1024, "maxRetries": 128}]})
    } else {
        json!({"thresholds": [{"maxRetries": 128}]})
    }
}

/// An ORIGINAL_DST cluster; `tls` adds the upstream HTTP options and Cilium's TLS wrapper transport socket.
fn original_dst_cluster(ver: CiliumVersion, name: &str, tls: bool) -> Value {
    let mut http_opts = json!({
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "commonHttpProtocolOptions": {"idleTimeout": "60s", "maxConnectionDuration": "0s", "maxRequestsPerConnection": 0},
        "useDownstreamProtocolConfig": {},
    });
    if tls {
        http_opts["upstreamHttpProtocolOptions"] = json!({});
    }
    let mut c = json!({
        "name": name,
        "type": "ORIGINAL_DST",
        "connectTimeout": format!("{CONNECT_TIMEOUT_S}s"),
        "circuitBreakers": circuit_breakers(ver),
        "lbPolicy": "CLUSTER_PROVIDED",
        "typedExtensionProtocolOptions": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": http_opts},
        "cleanupInterval": format!("{CONNECT_TIMEOUT_S}.500s"),
    });
    if tls {
        c["transportSocket"] = json!({"name": "cilium.tls_wrapper", "typedConfig": {
            "@type": "type.googleapis.com/cilium.UpstreamTlsWrapperContext"}});
    }
    c
}

fn pipe_cluster(name: &str, socket: &str, http2: bool) -> Value {
    let mut c = json!({
        "name": name,
        "type": "STATIC",
        "connectTimeout": format!("{CONNECT_TIMEOUT_S}s"),
        "loadAssignment": {"clusterName": name, "endpoints": [{"lbEndpoints": [
            {"endpoint": {"address": {"pipe": {"path": socket}}}}]}]},
    });
    if http2 {
        c["typedExtensionProtocolOptions"] = json!({"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicitHttpConfig": {"http2ProtocolOptions": {}}}});
    }
    c
}

fn xds_api_source() -> Value {
    json!({"apiType": "GRPC", "transportApiVersion": "V3",
        "grpcServices": [{"envoyGrpc": {"clusterName": "xds-grpc-cilium"}}], "setNodeOnFirstMessageOnly": true})
}

/// LDS/CDS: each its own gRPC stream up to 1.19; from 1.20 one aggregated (ADS) stream (`envoy.xdsMode: ads`).
fn dynamic_resources(ver: CiliumVersion) -> Value {
    if ver.since(20) {
        let over_ads = json!({"initialFetchTimeout": "30s", "ads": {}, "resourceApiVersion": "V3"});
        json!({"adsConfig": xds_api_source(), "ldsConfig": over_ads.clone(), "cdsConfig": over_ads})
    } else {
        let own = json!({"initialFetchTimeout": "30s", "apiConfigSource": xds_api_source(),
            "resourceApiVersion": "V3"});
        json!({"ldsConfig": own.clone(), "cdsConfig": own})
    }
}

/// The Envoy bootstrap configuration (as a JSON value) the chart of `ver`'s line renders for its defaults.
pub fn bootstrap_config(ver: CiliumVersion) -> Value {
    let mut xds = pipe_cluster(
        "xds-grpc-cilium",
        "/var/run/cilium/envoy/sockets/xds.sock",
        true,
    );
    if ver.since(20) {
        xds["circuitBreakers"] = circuit_breakers(ver);
    }
    let mut admin_pipe = json!({"path": "/var/run/cilium/envoy/sockets/admin.sock"});
    if ver.since(18) {
        // The admin socket is created with mode 0660 from 1.18.
        admin_pipe["mode"] = json!(0o660);
    }
    json!({
        "node": {"id": "host~127.0.0.1~no-id~localdomain", "cluster": "ingress-cluster"},
        "staticResources": {
            "listeners": [
                listener(ver, "envoy-prometheus-metrics-listener", "0.0.0.0", METRICS_PORT, "virtualHosts",
                         "prometheus_metrics_route", "/metrics", "/stats/prometheus"),
                listener(ver, "envoy-health-listener", "127.0.0.1", HEALTH_PORT, "virtual_hosts",
                         "health", "/healthz", "/ready"),
            ],
            "clusters": [
                original_dst_cluster(ver, "ingress-cluster", false),
                original_dst_cluster(ver, "egress-cluster-tls", true),
                original_dst_cluster(ver, "egress-cluster", false),
                original_dst_cluster(ver, "ingress-cluster-tls", true),
                xds,
                pipe_cluster("/envoy-admin", "/var/run/cilium/envoy/sockets/admin.sock", false),
            ],
        },
        "dynamicResources": dynamic_resources(ver),
        "bootstrapExtensions": [{"name": "envoy.bootstrap.internal_listener", "typedConfig": {
            "@type": "type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener"}}],
        "overloadManager": {"resourceMonitors": [{
            "name": "envoy.resource_monitors.global_downstream_max_connections",
            "typedConfig": {
                "@type": "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
                "max_active_downstream_connections": "50000"}}]},
        "applicationLogConfig": {"logFormat": {"textFormat": "[%Y-%m-%d %T.%e][%t][%l][%n] [%g:%#] %v"}},
        "admin": {"address": {"pipe": admin_pipe}},
    })
}

/// Sorts object keys recursively, as Helm's `toJson` (Go maps marshal with sorted keys).
pub(crate) fn sort_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<String, Value> =
                m.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// `cilium-envoy-config`: key `bootstrap-config.json`, compact JSON with sorted keys and a trailing newline.
pub fn config_map(v: &CiliumValues, ver: CiliumVersion) -> ConfigMap {
    let json = sort_keys(bootstrap_config(ver)).to_string();
    ConfigMap {
        metadata: meta(
            "cilium-envoy-config",
            Some(&v.namespace),
            Default::default(),
        ),
        data: Some(
            [("bootstrap-config.json".to_string(), format!("{json}\n"))]
                .into_iter()
                .collect(),
        ),
        ..Default::default()
    }
}

fn labels_envoy() -> BTreeMap<String, String> {
    labels(&[
        ("k8s-app", "cilium-envoy"),
        PART_OF,
        ("app.kubernetes.io/name", "cilium-envoy"),
        ("name", "cilium-envoy"),
    ])
}

/// The Envoy DaemonSet (`cilium-envoy`), scheduled next to each agent.
pub fn daemon_set(v: &CiliumValues, ver: CiliumVersion, image: &str) -> DaemonSet {
    let probe =
        |t: ProbeTiming| http_probe(http_get(Some("127.0.0.1"), "/healthz", HEALTH_PORT, &[]), t);
    let mut env = node_and_namespace_env();
    env.extend(k8s_service_env(v));
    let container = Container {
        name: "cilium-envoy".to_string(),
        image: Some(image.to_string()),
        image_pull_policy: Some("IfNotPresent".to_string()),
        command: Some(vec!["/usr/bin/cilium-envoy-starter".to_string()]),
        args: Some(
            [
                "--",
                "-c /var/run/cilium/envoy/bootstrap-config.json",
                "--base-id 0",
                "--log-level info",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        ),
        startup_probe: Some(probe(ProbeTiming {
            failure_threshold: Some(105),
            period_seconds: Some(2),
            success_threshold: Some(1),
            initial_delay_seconds: Some(5),
            // From 1.20 the probes state every timing (`envoy.startupProbe.timeoutSeconds`, initial delays 0).
            timeout_seconds: ver.since(20).then_some(5),
        })),
        liveness_probe: Some(probe(ProbeTiming {
            failure_threshold: Some(10),
            period_seconds: Some(30),
            success_threshold: Some(1),
            initial_delay_seconds: ver.since(20).then_some(0),
            timeout_seconds: Some(5),
        })),
        readiness_probe: Some(probe(ProbeTiming {
            failure_threshold: Some(3),
            period_seconds: Some(30),
            success_threshold: Some(1),
            initial_delay_seconds: ver.since(20).then_some(0),
            timeout_seconds: Some(5),
        })),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some("envoy-metrics".to_string()),
            container_port: METRICS_PORT,
            host_port: Some(METRICS_PORT),
            protocol: Some("TCP".to_string()),
            ..Default::default()
        }]),
        security_context: Some(capabilities_context(&["NET_ADMIN", "SYS_ADMIN"])),
        termination_message_policy: Some("FallbackToLogsOnError".to_string()),
        volume_mounts: Some(vec![
            mount(
                "envoy-sockets",
                "/var/run/cilium/envoy/sockets",
                Some(false),
                None,
            ),
            mount(
                "envoy-artifacts",
                "/var/run/cilium/envoy/artifacts",
                Some(true),
                None,
            ),
            mount("envoy-config", "/var/run/cilium/envoy/", Some(true), None),
            mount("bpf-maps", "/sys/fs/bpf", None, Some("HostToContainer")),
        ]),
        ..Default::default()
    };
    let affinity = Affinity {
        pod_anti_affinity: Some(one_per_node("k8s-app", "cilium-envoy")),
        pod_affinity: Some(PodAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![pod_affinity_term(
                "k8s-app", "cilium",
            )]),
            ..Default::default()
        }),
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: Some(vec![NodeSelectorRequirement {
                        key: "cilium.io/no-schedule".to_string(),
                        operator: "NotIn".to_string(),
                        values: Some(vec!["true".to_string()]),
                    }]),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        }),
    };
    let volumes = vec![
        host_path(
            "envoy-sockets",
            "/var/run/cilium/envoy/sockets",
            Some("DirectoryOrCreate"),
        ),
        host_path(
            "envoy-artifacts",
            "/var/run/cilium/envoy/artifacts",
            Some("DirectoryOrCreate"),
        ),
        Volume {
            name: "envoy-config".to_string(),
            config_map: Some(ConfigMapVolumeSource {
                name: "cilium-envoy-config".to_string(),
                default_mode: Some(0o400),
                items: Some(vec![KeyToPath {
                    key: "bootstrap-config.json".to_string(),
                    path: "bootstrap-config.json".to_string(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        },
        host_path("bpf-maps", "/sys/fs/bpf", Some("DirectoryOrCreate")),
    ];
    DaemonSet {
        metadata: meta("cilium-envoy", Some(&v.namespace), labels_envoy()),
        spec: DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(labels(&[("k8s-app", "cilium-envoy")])),
                ..Default::default()
            },
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".to_string()),
                rolling_update: Some(RollingUpdateDaemonSet {
                    max_unavailable: Some(IntOrString::Int(2)),
                    ..Default::default()
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels_envoy()),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    security_context: Some(PodSecurityContext {
                        app_armor_profile: Some(AppArmorProfile {
                            type_: "Unconfined".to_string(),
                            localhost_profile: None,
                        }),
                        ..Default::default()
                    }),
                    host_users: ver.since(20).then_some(true),
                    containers: vec![container],
                    restart_policy: Some("Always".to_string()),
                    priority_class_name: Some("system-node-critical".to_string()),
                    service_account_name: Some("cilium-envoy".to_string()),
                    automount_service_account_token: Some(true),
                    termination_grace_period_seconds: Some(1),
                    host_network: Some(true),
                    affinity: Some(affinity),
                    node_selector: Some(linux_nodes()),
                    tolerations: Some(tolerate_everything()),
                    volumes: Some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Headless metrics Service `cilium-envoy` (port 9964, scraped through annotations).
pub fn service(v: &CiliumValues, ver: CiliumVersion) -> Service {
    let mut metadata = meta(
        "cilium-envoy",
        Some(&v.namespace),
        labels(&[
            ("k8s-app", "cilium-envoy"),
            ("app.kubernetes.io/name", "cilium-envoy"),
            PART_OF,
            ("io.cilium/app", "proxy"),
        ]),
    );
    metadata.annotations = Some(labels(&[
        ("prometheus.io/scrape", "true"),
        ("prometheus.io/port", &METRICS_PORT.to_string()),
    ]));
    Service {
        metadata,
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_string()),
            type_: Some("ClusterIP".to_string()),
            selector: Some(labels(&[("k8s-app", "cilium-envoy")])),
            ports: Some(vec![ServicePort {
                name: Some("envoy-metrics".to_string()),
                port: METRICS_PORT,
                protocol: Some("TCP".to_string()),
                // The named port up to 1.18, the number from 1.19.
                target_port: Some(if ver.since(19) {
                    IntOrString::Int(METRICS_PORT)
                } else {
                    IntOrString::String("envoy-metrics".to_string())
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}
