//! The `cilium` agent DaemonSet.
//!
//! Derived from `templates/cilium-agent/daemonset.yaml` of the Cilium Helm charts 1.17.0 to 1.20.0 with Talos's
//! values: `securityContext.privileged=false`, `cgroup.autoMount.enabled=false`, `cgroup.hostRoot=/sys/fs/cgroup`,
//! capabilities without `SYS_MODULE`, `k8sServiceHost/Port`, Kubernetes >= 1.30 (AppArmor as a pod field). What a
//! line changed is gated with `ver.since(minor)` where it applies.

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
};
use k8s_openapi::api::core::v1::{
    AppArmorProfile, Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, ExecAction, KeyToPath, Lifecycle, LifecycleHandler, PodSecurityContext, PodSpec,
    PodTemplateSpec, ProjectedVolumeSource, ResourceFieldSelector, ResourceRequirements,
    SecretProjection, SecurityContext, Volume, VolumeMount, VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::common::*;
use super::values::CiliumValues;
use super::version::CiliumVersion;

/// Capabilities of the agent container on Talos (the chart's list without `SYS_MODULE`: Talos forbids loading
/// kernel modules). Source: Talos "Deploying Cilium CNI".
pub const AGENT_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "KILL",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "SYS_ADMIN",
    "SYS_RESOURCE",
    "DAC_OVERRIDE",
    "FOWNER",
    "SETGID",
    "SETUID",
];
/// Capabilities of the `clean-cilium-state` init container on Talos (no `SYS_MODULE`).
pub const CLEAN_STATE_CAPABILITIES: &[&str] = &["NET_ADMIN", "SYS_ADMIN", "SYS_RESOURCE"];
/// Capabilities of `apply-sysctl-overwrites` (chart default `applySysctlOverwrites`).
pub const SYSCTL_CAPABILITIES: &[&str] = &["SYS_ADMIN", "SYS_CHROOT", "SYS_PTRACE"];

/// Init containers in the order the chart renders them with `cgroup.autoMount` off (no `mount-cgroup`).
pub const INIT_CONTAINER_ORDER: &[&str] = &[
    "config",
    "apply-sysctl-overwrites",
    "mount-bpf-fs",
    "clean-cilium-state",
    "install-cni-binaries",
];

/// Agent health port (`healthPort`).
pub const HEALTH_PORT: i32 = 9879;
/// Where Talos mounts the cgroup v2 hierarchy (`cgroup.hostRoot`).
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The agent's postStart hook: removes iptables rules left by the AWS VPC CNI, a no-op elsewhere
/// (the chart's `files/agent/poststart-eni.bash`, same behaviour).
const POST_START: &str = r#"set -o errexit
set -o pipefail
set -o nounset

# Drop SNAT/CONNMARK chains installed by the AWS VPC CNI (aws-node), if any; safe to repeat.
if [[ "$(iptables-save | grep -E -c 'AWS-SNAT-CHAIN|AWS-CONNMARK-CHAIN')" != "0" ]];
then
    echo 'Deleting iptables rules created by the AWS CNI VPC plugin'
    iptables-save | grep -E -v 'AWS-SNAT-CHAIN|AWS-CONNMARK-CHAIN' | iptables-restore
fi
echo 'Done!'
"#;

/// apply-sysctl-overwrites: run cilium-sysctlfix in the host's mount namespace.
const SYSCTLFIX: &str = "cp /usr/bin/cilium-sysctlfix /hostbin/cilium-sysctlfix;\n\
nsenter --mount=/hostproc/1/ns/mnt \"${BIN_PATH}/cilium-sysctlfix\";\n\
rm /hostbin/cilium-sysctlfix\n";

/// mount-bpf-fs: mount bpffs unless already mounted (Talos mounts it).
const MOUNT_BPF: &str = "mount | grep \"/sys/fs/bpf type bpf\" || mount -t bpf bpf /sys/fs/bpf";

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The agent's health probe; from 1.19 it names the `health` container port, and from 1.18 the liveness probe
/// tells the agent not to require Kubernetes connectivity (`require-k8s-connectivity: false`).
fn health_probe(
    ver: CiliumVersion,
    liveness: bool,
    timing: ProbeTiming,
) -> k8s_openapi::api::core::v1::Probe {
    let mut headers = vec![("brief", "true")];
    if liveness && ver.since(18) {
        headers.push(("require-k8s-connectivity", "false"));
    }
    let mut get = http_get(Some("127.0.0.1"), "/healthz", HEALTH_PORT, &headers);
    if ver.since(19) {
        get.port = IntOrString::String("health".to_string());
    }
    http_probe(get, timing)
}

/// Container ports of the agent from 1.19: `health` and, with Hubble, `peer-service` (both on the host).
fn agent_ports(v: &CiliumValues, ver: CiliumVersion) -> Option<Vec<ContainerPort>> {
    if !ver.since(19) {
        return None;
    }
    let host = |name: &str, port: i32| ContainerPort {
        name: Some(name.to_string()),
        container_port: port,
        host_port: Some(port),
        protocol: Some("TCP".to_string()),
        ..Default::default()
    };
    let mut ports = vec![host("health", HEALTH_PORT)];
    if v.hubble.enabled {
        ports.push(host("peer-service", super::hubble::PEER_TARGET_PORT));
    }
    Some(ports)
}

fn agent_container(v: &CiliumValues, ver: CiliumVersion, image: &str, envoy_ds: bool) -> Container {
    let mut env = node_and_namespace_env();
    env.push(env_value(
        "CILIUM_CLUSTERMESH_CONFIG",
        "/var/lib/cilium/clustermesh/",
    ));
    env.push(EnvVar {
        name: "GOMEMLIMIT".to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            resource_field_ref: Some(ResourceFieldSelector {
                resource: "limits.memory".to_string(),
                divisor: Some(Quantity("1".to_string())),
                container_name: None,
            }),
            ..Default::default()
        }),
    });
    env.extend(k8s_service_env(v));
    if ver.since(18) {
        // Client-go backoff of the agent's Kubernetes client (`k8sClientExponentialBackoff`, on from 1.18).
        env.push(env_value("KUBE_CLIENT_BACKOFF_BASE", "1"));
        env.push(env_value("KUBE_CLIENT_BACKOFF_DURATION", "120"));
    }

    let mut mounts: Vec<VolumeMount> = Vec::new();
    if envoy_ds {
        mounts.push(mount(
            "envoy-sockets",
            "/var/run/cilium/envoy/sockets",
            Some(false),
            None,
        ));
    }
    mounts.extend([
        mount("host-proc-sys-net", "/host/proc/sys/net", None, None),
        mount("host-proc-sys-kernel", "/host/proc/sys/kernel", None, None),
        mount("bpf-maps", "/sys/fs/bpf", None, Some("HostToContainer")),
        mount("cilium-cgroup", CGROUP_ROOT, None, None),
        mount("cilium-run", "/var/run/cilium", None, None),
        mount(
            "cilium-netns",
            "/var/run/cilium/netns",
            None,
            Some("HostToContainer"),
        ),
        mount("etc-cni-netd", "/host/etc/cni/net.d", None, None),
        mount(
            "clustermesh-secrets",
            "/var/lib/cilium/clustermesh",
            Some(true),
            None,
        ),
        mount("lib-modules", "/lib/modules", Some(true), None),
        mount("xtables-lock", "/run/xtables.lock", None, None),
    ]);
    if v.hubble.enabled {
        mounts.push(mount(
            "hubble-tls",
            "/var/lib/cilium/tls/hubble",
            Some(true),
            None,
        ));
    }
    mounts.push(mount("tmp", "/tmp", None, None));

    Container {
        name: "cilium-agent".to_string(),
        image: Some(image.to_string()),
        image_pull_policy: Some("IfNotPresent".to_string()),
        command: Some(strings(&["cilium-agent"])),
        args: Some(strings(&["--config-dir=/tmp/cilium/config-map"])),
        ports: agent_ports(v, ver),
        startup_probe: Some(health_probe(
            ver,
            false,
            ProbeTiming {
                // `startupProbe.failureThreshold`: 105 up to 1.17, 300 from 1.18.
                failure_threshold: Some(if ver.since(18) { 300 } else { 105 }),
                period_seconds: Some(2),
                success_threshold: Some(1),
                initial_delay_seconds: Some(5),
                timeout_seconds: None,
            },
        )),
        liveness_probe: Some(health_probe(
            ver,
            true,
            ProbeTiming {
                failure_threshold: Some(10),
                period_seconds: Some(30),
                success_threshold: Some(1),
                initial_delay_seconds: None,
                timeout_seconds: Some(5),
            },
        )),
        readiness_probe: Some(health_probe(
            ver,
            false,
            ProbeTiming {
                failure_threshold: Some(3),
                period_seconds: Some(30),
                success_threshold: Some(1),
                initial_delay_seconds: None,
                timeout_seconds: Some(5),
            },
        )),
        env: Some(env),
        lifecycle: Some(Lifecycle {
            post_start: Some(LifecycleHandler {
                exec: Some(ExecAction {
                    command: Some(strings(&["bash", "-c", POST_START])),
                }),
                ..Default::default()
            }),
            pre_stop: Some(LifecycleHandler {
                exec: Some(ExecAction {
                    command: Some(strings(&["/cni-uninstall.sh"])),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        security_context: Some(capabilities_context(AGENT_CAPABILITIES)),
        termination_message_policy: Some("FallbackToLogsOnError".to_string()),
        volume_mounts: Some(mounts),
        ..Default::default()
    }
}

fn init_containers(v: &CiliumValues, ver: CiliumVersion, image: &str) -> Vec<Container> {
    let base = |name: &str| Container {
        name: name.to_string(),
        image: Some(image.to_string()),
        image_pull_policy: Some("IfNotPresent".to_string()),
        termination_message_policy: Some("FallbackToLogsOnError".to_string()),
        ..Default::default()
    };

    let mut config_env = node_and_namespace_env();
    config_env.extend(k8s_service_env(v));
    let config = Container {
        command: Some(strings(&["cilium-dbg", "build-config"])),
        env: Some(config_env),
        // From 1.19 `build-config` runs with NET_ADMIN only (no SELinux options).
        security_context: ver.since(19).then(|| SecurityContext {
            capabilities: Some(Capabilities {
                add: Some(strings(&["NET_ADMIN"])),
                drop: Some(strings(&["ALL"])),
            }),
            ..Default::default()
        }),
        volume_mounts: Some(vec![mount("tmp", "/tmp", None, None)]),
        ..base("config")
    };

    let sysctl = Container {
        env: Some(vec![env_value("BIN_PATH", "/opt/cni/bin")]),
        // The shell is `bash` from 1.19.
        command: Some(strings(&[
            if ver.since(19) { "bash" } else { "sh" },
            "-ec",
            SYSCTLFIX,
        ])),
        volume_mounts: Some(vec![
            mount("hostproc", "/hostproc", None, None),
            mount("cni-path", "/hostbin", None, None),
        ]),
        security_context: Some(capabilities_context(SYSCTL_CAPABILITIES)),
        ..base("apply-sysctl-overwrites")
    };

    let bpf = Container {
        args: Some(strings(&[MOUNT_BPF])),
        command: Some(strings(&["/bin/bash", "-c", "--"])),
        security_context: Some(privileged()),
        volume_mounts: Some(vec![mount(
            "bpf-maps",
            "/sys/fs/bpf",
            None,
            Some("Bidirectional"),
        )]),
        ..base("mount-bpf-fs")
    };

    let mut clean_env = vec![
        env_cilium_config("CILIUM_ALL_STATE", "clean-cilium-state"),
        env_cilium_config("CILIUM_BPF_STATE", "clean-cilium-bpf-state"),
        env_cilium_config("WRITE_CNI_CONF_WHEN_READY", "write-cni-conf-when-ready"),
    ];
    clean_env.extend(k8s_service_env(v));
    let clean = Container {
        command: Some(strings(&["/init-container.sh"])),
        env: Some(clean_env),
        security_context: Some(capabilities_context(CLEAN_STATE_CAPABILITIES)),
        volume_mounts: Some(vec![
            mount("bpf-maps", "/sys/fs/bpf", None, None),
            mount("cilium-cgroup", CGROUP_ROOT, None, Some("HostToContainer")),
            mount("cilium-run", "/var/run/cilium", None, None),
        ]),
        ..base("clean-cilium-state")
    };

    let mut cni_ctx = capabilities_context(&[]);
    if let Some(caps) = cni_ctx.capabilities.as_mut() {
        caps.add = None;
    }
    let quantities = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, q)| (k.to_string(), Quantity(q.to_string())))
            .collect()
    };
    let cni = Container {
        command: Some(strings(&["/install-plugin.sh"])),
        resources: Some(ResourceRequirements {
            requests: Some(quantities(&[("cpu", "100m"), ("memory", "10Mi")])),
            // Limits from 1.19 (`cni.resources.limits`).
            limits: ver
                .since(19)
                .then(|| quantities(&[("cpu", "1"), ("memory", "1Gi")])),
            ..Default::default()
        }),
        security_context: Some(cni_ctx),
        volume_mounts: Some(vec![mount("cni-path", "/host/opt/cni/bin", None, None)]),
        ..base("install-cni-binaries")
    };
    vec![config, sysctl, bpf, clean, cni]
}

/// A projected Secret source with `key -> path` items.
pub(crate) fn secret_projection(
    name: &str,
    optional: Option<bool>,
    items: &[(&str, &str)],
) -> VolumeProjection {
    VolumeProjection {
        secret: Some(SecretProjection {
            name: name.to_string(),
            optional,
            items: Some(
                items
                    .iter()
                    .map(|(k, p)| KeyToPath {
                        key: k.to_string(),
                        path: p.to_string(),
                        ..Default::default()
                    })
                    .collect(),
            ),
        }),
        ..Default::default()
    }
}

/// A projected volume with mode 0400 (256).
pub(crate) fn projected(name: &str, sources: Vec<VolumeProjection>) -> Volume {
    Volume {
        name: name.to_string(),
        projected: Some(ProjectedVolumeSource {
            default_mode: Some(0o400),
            sources: Some(sources),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn volumes(v: &CiliumValues, envoy_ds: bool) -> Vec<Volume> {
    let mut vols = vec![
        Volume {
            name: "tmp".to_string(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        },
        host_path("cilium-run", "/var/run/cilium", Some("DirectoryOrCreate")),
        host_path("cilium-netns", "/var/run/netns", Some("DirectoryOrCreate")),
        host_path("bpf-maps", "/sys/fs/bpf", Some("DirectoryOrCreate")),
        host_path("hostproc", "/proc", Some("Directory")),
        host_path("cilium-cgroup", CGROUP_ROOT, Some("DirectoryOrCreate")),
        host_path("cni-path", "/opt/cni/bin", Some("DirectoryOrCreate")),
        host_path("etc-cni-netd", "/etc/cni/net.d", Some("DirectoryOrCreate")),
        host_path("lib-modules", "/lib/modules", None),
        host_path("xtables-lock", "/run/xtables.lock", Some("FileOrCreate")),
    ];
    if envoy_ds {
        vols.push(host_path(
            "envoy-sockets",
            "/var/run/cilium/envoy/sockets",
            Some("DirectoryOrCreate"),
        ));
    }
    let cilium_clustermesh = VolumeProjection {
        secret: Some(SecretProjection {
            name: "cilium-clustermesh".to_string(),
            optional: Some(true),
            items: None,
        }),
        ..Default::default()
    };
    vols.push(projected(
        "clustermesh-secrets",
        vec![
            cilium_clustermesh,
            secret_projection(
                "clustermesh-apiserver-remote-cert",
                Some(true),
                &[
                    ("tls.key", "common-etcd-client.key"),
                    ("tls.crt", "common-etcd-client.crt"),
                    ("ca.crt", "common-etcd-client-ca.crt"),
                ],
            ),
            secret_projection(
                "clustermesh-apiserver-local-cert",
                Some(true),
                &[
                    ("tls.key", "local-etcd-client.key"),
                    ("tls.crt", "local-etcd-client.crt"),
                    ("ca.crt", "local-etcd-client-ca.crt"),
                ],
            ),
        ],
    ));
    vols.push(host_path(
        "host-proc-sys-net",
        "/proc/sys/net",
        Some("Directory"),
    ));
    vols.push(host_path(
        "host-proc-sys-kernel",
        "/proc/sys/kernel",
        Some("Directory"),
    ));
    if v.hubble.enabled {
        vols.push(projected(
            "hubble-tls",
            vec![secret_projection(
                "hubble-server-certs",
                Some(true),
                &[
                    ("tls.crt", "server.crt"),
                    ("tls.key", "server.key"),
                    ("ca.crt", "client-ca.crt"),
                ],
            )],
        ));
    }
    vols
}

/// Pod anti-affinity on `kubernetes.io/hostname` against pods with `key=value`.
pub(crate) fn one_per_node(key: &str, value: &str) -> k8s_openapi::api::core::v1::PodAntiAffinity {
    k8s_openapi::api::core::v1::PodAntiAffinity {
        required_during_scheduling_ignored_during_execution: Some(vec![pod_affinity_term(
            key, value,
        )]),
        ..Default::default()
    }
}

/// A required affinity term on `kubernetes.io/hostname` matching `key=value`.
pub(crate) fn pod_affinity_term(
    key: &str,
    value: &str,
) -> k8s_openapi::api::core::v1::PodAffinityTerm {
    k8s_openapi::api::core::v1::PodAffinityTerm {
        topology_key: "kubernetes.io/hostname".to_string(),
        label_selector: Some(LabelSelector {
            match_labels: Some(labels(&[(key, value)])),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The agent DaemonSet (`cilium`): host network, system-node-critical, one pod per node.
pub fn daemon_set(v: &CiliumValues, ver: CiliumVersion, image: &str, envoy_ds: bool) -> DaemonSet {
    let pod_labels = labels(&[
        ("k8s-app", "cilium"),
        ("app.kubernetes.io/name", "cilium-agent"),
        PART_OF,
    ]);
    DaemonSet {
        metadata: meta(
            "cilium",
            Some(&v.namespace),
            labels(&[
                ("k8s-app", "cilium"),
                PART_OF,
                ("app.kubernetes.io/name", "cilium-agent"),
            ]),
        ),
        spec: DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(labels(&[("k8s-app", "cilium")])),
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
                    // From 1.18 `kubectl logs/exec` default to the agent container.
                    annotations: ver.since(18).then(|| {
                        labels(&[("kubectl.kubernetes.io/default-container", "cilium-agent")])
                    }),
                    labels: Some(pod_labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    security_context: Some(PodSecurityContext {
                        app_armor_profile: Some(AppArmorProfile {
                            type_: "Unconfined".to_string(),
                            localhost_profile: None,
                        }),
                        seccomp_profile: ver.since(18).then(unconfined_seccomp),
                        ..Default::default()
                    }),
                    host_users: ver.since(20).then_some(true),
                    containers: vec![agent_container(v, ver, image, envoy_ds)],
                    init_containers: Some(init_containers(v, ver, image)),
                    restart_policy: Some("Always".to_string()),
                    priority_class_name: Some("system-node-critical".to_string()),
                    service_account_name: Some("cilium".to_string()),
                    automount_service_account_token: Some(true),
                    termination_grace_period_seconds: Some(1),
                    host_network: Some(true),
                    affinity: Some(k8s_openapi::api::core::v1::Affinity {
                        pod_anti_affinity: Some(one_per_node("k8s-app", "cilium")),
                        ..Default::default()
                    }),
                    node_selector: Some(linux_nodes()),
                    tolerations: Some(tolerate_everything()),
                    volumes: Some(volumes(v, envoy_ds)),
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    }
}
