//! Hubble objects: the peer Service, TLS Secrets, hubble-relay (config, Service, Deployment) and hubble-ui
//! (nginx config, Service, Deployment).
//!
//! Derived from `templates/hubble/peer-service.yaml`, `templates/hubble/tls-helm/*.yaml`,
//! `templates/cilium-ca-secret.yaml`, `templates/hubble-relay/*.yaml`, `templates/hubble-ui/*.yaml` and
//! `templates/_extensions.tpl` of the Cilium Helm charts 1.17.0 to 1.20.0 (TLS on, relay server TLS off, UI base
//! URL `/`); what a line changed is gated with `ver.since(minor)`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort,
    EmptyDirVolumeSource, GRPCAction, KeyToPath, PodAffinity, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, Secret, SecurityContext, Service, ServicePort, ServiceSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::ByteString;

use super::agent::{pod_affinity_term, projected, secret_projection};
use super::certs::{CertKeyPair, HubbleCerts};
use super::common::*;
use super::values::CiliumValues;
use super::version::CiliumVersion;

/// Hubble server port in each agent (`hubble.peerService.targetPort`).
pub const PEER_TARGET_PORT: i32 = 4244;
/// Relay gRPC listen port (`hubble.relay.listenPort`).
pub const RELAY_PORT: i32 = 4245;
/// Relay health (gRPC) port used by its probes.
pub const RELAY_HEALTH_PORT: i32 = 4222;

/// `hubble-peer`: a node-local Service in front of every agent's Hubble server (443 -> 4244).
pub fn peer_service(v: &CiliumValues) -> Service {
    Service {
        metadata: meta(
            "hubble-peer",
            Some(&v.namespace),
            labels(&[
                ("k8s-app", "cilium"),
                PART_OF,
                ("app.kubernetes.io/name", "hubble-peer"),
            ]),
        ),
        spec: Some(ServiceSpec {
            selector: Some(labels(&[("k8s-app", "cilium")])),
            ports: Some(vec![ServicePort {
                name: Some("peer-service".to_string()),
                port: 443,
                protocol: Some("TCP".to_string()),
                target_port: Some(IntOrString::Int(PEER_TARGET_PORT)),
                ..Default::default()
            }]),
            internal_traffic_policy: Some("Local".to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn bytes(s: &str) -> ByteString {
    ByteString(s.as_bytes().to_vec())
}

/// `cilium-ca`: the CA certificate and key (no type, so `Opaque`).
pub fn ca_secret(v: &CiliumValues, certs: &HubbleCerts) -> Secret {
    Secret {
        metadata: meta("cilium-ca", Some(&v.namespace), Default::default()),
        data: Some(
            [
                ("ca.crt".to_string(), bytes(&certs.ca.cert_pem)),
                ("ca.key".to_string(), bytes(&certs.ca.key_pem)),
            ]
            .into_iter()
            .collect(),
        ),
        ..Default::default()
    }
}

/// A `kubernetes.io/tls` Secret with `ca.crt`, `tls.crt`, `tls.key`.
pub fn tls_secret(v: &CiliumValues, name: &str, ca: &CertKeyPair, leaf: &CertKeyPair) -> Secret {
    Secret {
        metadata: meta(name, Some(&v.namespace), Default::default()),
        type_: Some("kubernetes.io/tls".to_string()),
        data: Some(
            [
                ("ca.crt".to_string(), bytes(&ca.cert_pem)),
                ("tls.crt".to_string(), bytes(&leaf.cert_pem)),
                ("tls.key".to_string(), bytes(&leaf.key_pem)),
            ]
            .into_iter()
            .collect(),
        ),
        ..Default::default()
    }
}

/// The relay's `config.yaml`, line for line as the chart renders it (null values render empty).
pub fn relay_config_yaml(v: &CiliumValues) -> String {
    let lines = [
        format!("cluster-name: {}", v.cluster_name),
        format!(
            "peer-service: \"hubble-peer.{}.svc.cluster.local.:443\"",
            v.namespace
        ),
        format!("listen-address: :{RELAY_PORT}"),
        "gops: true".to_string(),
        "gops-port: \"9893\"".to_string(),
        "retry-timeout: ".to_string(),
        "sort-buffer-len-max: ".to_string(),
        "sort-buffer-drain-timeout: ".to_string(),
        "tls-hubble-client-cert-file: /var/lib/hubble-relay/tls/client.crt".to_string(),
        "tls-hubble-client-key-file: /var/lib/hubble-relay/tls/client.key".to_string(),
        "tls-hubble-server-ca-files: /var/lib/hubble-relay/tls/hubble-server-ca.crt".to_string(),
        String::new(),
        "disable-server-tls: true".to_string(),
    ];
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// `hubble-relay-config`.
pub fn relay_config_map(v: &CiliumValues) -> ConfigMap {
    ConfigMap {
        metadata: meta(
            "hubble-relay-config",
            Some(&v.namespace),
            Default::default(),
        ),
        data: Some(
            [("config.yaml".to_string(), relay_config_yaml(v))]
                .into_iter()
                .collect(),
        ),
        ..Default::default()
    }
}

fn relay_labels() -> BTreeMap<String, String> {
    labels(&[
        ("k8s-app", "hubble-relay"),
        ("app.kubernetes.io/name", "hubble-relay"),
        PART_OF,
    ])
}

/// `hubble-relay` Service (ClusterIP, port 80 -> `grpc`, plaintext as relay server TLS is off).
pub fn relay_service(v: &CiliumValues) -> Service {
    Service {
        metadata: meta("hubble-relay", Some(&v.namespace), relay_labels()),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            selector: Some(labels(&[("k8s-app", "hubble-relay")])),
            ports: Some(vec![ServicePort {
                protocol: Some("TCP".to_string()),
                port: 80,
                target_port: Some(IntOrString::String("grpc".to_string())),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn grpc_probe(
    timeout: i32,
    initial: Option<i32>,
    period: Option<i32>,
    failure: Option<i32>,
) -> Probe {
    Probe {
        grpc: Some(GRPCAction {
            port: RELAY_HEALTH_PORT,
            ..Default::default()
        }),
        timeout_seconds: Some(timeout),
        initial_delay_seconds: initial,
        period_seconds: period,
        failure_threshold: failure,
        ..Default::default()
    }
}

fn one_unavailable() -> DeploymentStrategy {
    DeploymentStrategy {
        type_: Some("RollingUpdate".to_string()),
        rolling_update: Some(RollingUpdateDeployment {
            max_unavailable: Some(IntOrString::Int(1)),
            max_surge: None,
        }),
    }
}

/// `hubble-relay` Deployment: one replica next to an agent, non-root (65532), mTLS client to the agents.
pub fn relay_deployment(v: &CiliumValues, ver: CiliumVersion, image: &str) -> Deployment {
    let mut mounts = Vec::new();
    let mut volumes = Vec::new();
    if ver.since(20) {
        // From 1.20 the root filesystem is read-only and /tmp an emptyDir.
        mounts.push(mount("tmp-volume", "/tmp", None, None));
        volumes.push(Volume {
            name: "tmp-volume".to_string(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        });
    }
    mounts.extend([
        mount("config", "/etc/hubble-relay", Some(true), None),
        mount("tls", "/var/lib/hubble-relay/tls", Some(true), None),
    ]);
    let container = Container {
        name: "hubble-relay".to_string(),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: ver.since(18).then_some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_string()]),
                add: None,
            }),
            read_only_root_filesystem: ver.since(20).then_some(true),
            run_as_group: Some(65532),
            run_as_non_root: Some(true),
            run_as_user: Some(65532),
            seccomp_profile: ver.since(18).then(runtime_default_seccomp),
            ..Default::default()
        }),
        image: Some(image.to_string()),
        image_pull_policy: Some("IfNotPresent".to_string()),
        command: Some(vec!["hubble-relay".to_string()]),
        args: Some(vec!["serve".to_string()]),
        ports: Some(vec![ContainerPort {
            name: Some("grpc".to_string()),
            container_port: RELAY_PORT,
            protocol: Some("TCP".to_string()),
            ..Default::default()
        }]),
        readiness_probe: Some(grpc_probe(3, None, None, None)),
        liveness_probe: Some(grpc_probe(10, Some(10), Some(10), Some(12))),
        startup_probe: Some(Probe {
            timeout_seconds: None,
            ..grpc_probe(0, Some(10), Some(3), Some(20))
        }),
        volume_mounts: Some(mounts),
        termination_message_policy: Some("FallbackToLogsOnError".to_string()),
        ..Default::default()
    };
    volumes.extend([
        Volume {
            name: "config".to_string(),
            config_map: Some(ConfigMapVolumeSource {
                name: "hubble-relay-config".to_string(),
                items: Some(vec![KeyToPath {
                    key: "config.yaml".to_string(),
                    path: "config.yaml".to_string(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        },
        projected(
            "tls",
            vec![secret_projection(
                "hubble-relay-client-certs",
                None,
                &[
                    ("tls.crt", "client.crt"),
                    ("tls.key", "client.key"),
                    ("ca.crt", "hubble-server-ca.crt"),
                ],
            )],
        ),
    ]);
    Deployment {
        metadata: meta("hubble-relay", Some(&v.namespace), relay_labels()),
        spec: DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(labels(&[("k8s-app", "hubble-relay")])),
                ..Default::default()
            },
            strategy: Some(one_unavailable()),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(relay_labels()),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    security_context: Some(PodSecurityContext {
                        fs_group: Some(65532),
                        seccomp_profile: ver.since(18).then(runtime_default_seccomp),
                        ..Default::default()
                    }),
                    containers: vec![container],
                    restart_policy: Some("Always".to_string()),
                    service_account_name: Some("hubble-relay".to_string()),
                    automount_service_account_token: Some(false),
                    termination_grace_period_seconds: Some(1),
                    affinity: Some(Affinity {
                        pod_affinity: Some(PodAffinity {
                            required_during_scheduling_ignored_during_execution: Some(vec![
                                pod_affinity_term("k8s-app", "cilium"),
                            ]),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    node_selector: Some(linux_nodes()),
                    volumes: Some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

/// nginx site of the UI frontend for base URL `/` with IPv6 listening on (the chart's `hubble-ui.nginx.conf`):
/// static files from `/app`, `/api` proxied to the backend on 127.0.0.1:8090, `/healthz` answering `ok`.
pub fn ui_nginx_conf(ver: CiliumVersion) -> String {
    let head = [
        "server {",
        "    listen       8081;",
        "    listen       [::]:8081;",
        "    server_name  localhost;",
        "    root /app;",
        "    index index.html;",
        "    client_max_body_size 1G;",
        "",
        "    location / {",
        "        proxy_set_header Host $host;",
        "        proxy_set_header X-Real-IP $remote_addr;",
        "",
        "        location /api {",
        "            proxy_http_version 1.1;",
        "            proxy_pass_request_headers on;",
        "            proxy_pass http://127.0.0.1:8090;",
        "        }",
        "        location / {",
    ];
    // From 1.18 kubelet probes are not logged.
    let quiet_probes = [r#"            if ($http_user_agent ~* "kube-probe") { access_log off; }"#];
    let tail = [
        "            try_files $uri $uri/ /index.html /index.html;",
        "        }",
        "",
        "        location /healthz {",
        "            access_log off;",
        "            add_header Content-Type text/plain;",
        "            return 200 'ok';",
        "        }",
        "    }",
        "}",
    ];
    let probes: &[&str] = if ver.since(18) { &quiet_probes } else { &[] };
    head.iter()
        .chain(probes)
        .chain(tail.iter())
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

/// `hubble-ui-nginx`.
pub fn ui_config_map(v: &CiliumValues, ver: CiliumVersion) -> ConfigMap {
    ConfigMap {
        metadata: meta("hubble-ui-nginx", Some(&v.namespace), Default::default()),
        data: Some(
            [("nginx.conf".to_string(), ui_nginx_conf(ver))]
                .into_iter()
                .collect(),
        ),
        ..Default::default()
    }
}

fn ui_labels() -> BTreeMap<String, String> {
    labels(&[
        ("k8s-app", "hubble-ui"),
        ("app.kubernetes.io/name", "hubble-ui"),
        PART_OF,
    ])
}

/// `hubble-ui` Service (ClusterIP, `http` 80 -> 8081).
pub fn ui_service(v: &CiliumValues) -> Service {
    Service {
        metadata: meta("hubble-ui", Some(&v.namespace), ui_labels()),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            selector: Some(labels(&[("k8s-app", "hubble-ui")])),
            ports: Some(vec![ServicePort {
                name: Some("http".to_string()),
                port: 80,
                // The chart leaves the protocol to the API server's default; written out so that server-side
                // apply merges on the full list-map key (port, protocol).
                protocol: Some("TCP".to_string()),
                target_port: Some(IntOrString::Int(8081)),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `hubble-ui` Deployment: nginx frontend (8081) and backend (8090) talking to `hubble-relay:80`.
pub fn ui_deployment(
    v: &CiliumValues,
    ver: CiliumVersion,
    frontend_image: &str,
    backend_image: &str,
) -> Deployment {
    let http = |path: &str| {
        let mut get = http_get(None, path, 8081, &[]);
        if ver.since(19) {
            get.port = IntOrString::String("http".to_string());
        }
        Probe {
            http_get: Some(get),
            ..Default::default()
        }
    };
    // From 1.18 no privilege escalation, from 1.20 no capabilities either.
    let container_context = || {
        ver.since(18).then(|| SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: ver.since(20).then(|| Capabilities {
                drop: Some(vec!["ALL".to_string()]),
                add: None,
            }),
            ..Default::default()
        })
    };
    let frontend = Container {
        name: "frontend".to_string(),
        image: Some(frontend_image.to_string()),
        image_pull_policy: Some("IfNotPresent".to_string()),
        ports: Some(vec![ContainerPort {
            name: Some("http".to_string()),
            container_port: 8081,
            protocol: Some("TCP".to_string()),
            ..Default::default()
        }]),
        liveness_probe: Some(http("/healthz")),
        readiness_probe: Some(http("/")),
        security_context: container_context(),
        volume_mounts: Some(vec![
            k8s_openapi::api::core::v1::VolumeMount {
                sub_path: Some("nginx.conf".to_string()),
                ..mount(
                    "hubble-ui-nginx-conf",
                    "/etc/nginx/conf.d/default.conf",
                    None,
                    None,
                )
            },
            mount("tmp-dir", "/tmp", None, None),
        ]),
        termination_message_policy: Some("FallbackToLogsOnError".to_string()),
        ..Default::default()
    };
    let backend = Container {
        name: "backend".to_string(),
        image: Some(backend_image.to_string()),
        image_pull_policy: Some("IfNotPresent".to_string()),
        env: Some(vec![
            env_value("EVENTS_SERVER_PORT", "8090"),
            env_value("FLOWS_API_ADDR", "hubble-relay:80"),
        ]),
        ports: Some(vec![ContainerPort {
            name: Some("grpc".to_string()),
            container_port: 8090,
            protocol: Some("TCP".to_string()),
            ..Default::default()
        }]),
        security_context: container_context(),
        termination_message_policy: Some("FallbackToLogsOnError".to_string()),
        ..Default::default()
    };
    // The probe helper writes scheme HTTP; the chart's UI probes leave host and scheme unset.
    let strip = |mut c: Container| {
        for p in [c.liveness_probe.as_mut(), c.readiness_probe.as_mut()]
            .into_iter()
            .flatten()
        {
            if let Some(g) = p.http_get.as_mut() {
                g.scheme = None;
            }
        }
        c
    };
    Deployment {
        metadata: meta("hubble-ui", Some(&v.namespace), ui_labels()),
        spec: DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(labels(&[("k8s-app", "hubble-ui")])),
                ..Default::default()
            },
            strategy: Some(one_unavailable()),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(ui_labels()),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    security_context: Some(PodSecurityContext {
                        fs_group: Some(1001),
                        run_as_group: Some(1001),
                        run_as_user: Some(1001),
                        run_as_non_root: ver.since(20).then_some(true),
                        seccomp_profile: ver.since(20).then(runtime_default_seccomp),
                        ..Default::default()
                    }),
                    service_account_name: Some("hubble-ui".to_string()),
                    automount_service_account_token: Some(true),
                    containers: vec![strip(frontend), backend],
                    node_selector: Some(linux_nodes()),
                    volumes: Some(vec![
                        Volume {
                            name: "hubble-ui-nginx-conf".to_string(),
                            config_map: Some(ConfigMapVolumeSource {
                                default_mode: Some(420),
                                name: "hubble-ui-nginx".to_string(),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                        Volume {
                            name: "tmp-dir".to_string(),
                            empty_dir: Some(EmptyDirVolumeSource {
                                // `hubble.ui.tmpVolume.sizeLimit` from 1.20.
                                size_limit: ver.since(20).then(|| Quantity("256Mi".to_string())),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                    ]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    }
}
