//! Checks of the rendered objects against what the Cilium 1.17.0 chart's templates produce for the same values.
//!
//! Expectations were derived by reading the templates (`cilium-configmap.yaml`, `cilium-agent/daemonset.yaml`,
//! `cilium-envoy/*`, `cilium-operator/*`, `hubble*/*`, `_helpers.tpl`) with the chart's `values.yaml` defaults and
//! Talos's documented values; they are restated here as facts rather than produced by the renderer.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec, Secret, Service};
use time::OffsetDateTime;

use super::*;

/// Talos values on the 1.17 line: these tests restate facts read in the 1.17.0 chart (the other lines are
/// compared with their charts by `tests/cilium_chart_equality.rs`).
fn talos_values() -> CiliumValues {
    let mut v = CiliumValues {
        version: "1.17.0".into(),
        ..Default::default()
    };
    v.l2_announcements.enabled = true;
    v.hubble.relay = true;
    v.hubble.ui = true;
    v
}

fn certs() -> HubbleCerts {
    certs::generate("default", OffsetDateTime::now_utc()).unwrap()
}

fn objects(v: &CiliumValues) -> Vec<RenderedObject> {
    render(v, Some(&certs())).unwrap()
}

fn find<'a>(objs: &'a [RenderedObject], kind: &str, name: &str) -> &'a ChartObject {
    objs.iter()
        .map(|o| &o.object)
        .find(|o| o.kind() == kind && o.name() == name)
        .unwrap_or_else(|| panic!("{kind} {name} not rendered"))
}

fn ds<'a>(objs: &'a [RenderedObject], name: &str) -> &'a DaemonSet {
    match find(objs, "DaemonSet", name) {
        ChartObject::DaemonSet(d) => d,
        _ => unreachable!(),
    }
}
fn deploy<'a>(objs: &'a [RenderedObject], name: &str) -> &'a Deployment {
    match find(objs, "Deployment", name) {
        ChartObject::Deployment(d) => d,
        _ => unreachable!(),
    }
}
fn cm<'a>(objs: &'a [RenderedObject], name: &str) -> &'a BTreeMap<String, String> {
    match find(objs, "ConfigMap", name) {
        ChartObject::ConfigMap(ConfigMap { data: Some(d), .. }) => d,
        _ => panic!("ConfigMap {name} has no data"),
    }
}
fn svc<'a>(objs: &'a [RenderedObject], name: &str) -> &'a Service {
    match find(objs, "Service", name) {
        ChartObject::Service(s) => s,
        _ => unreachable!(),
    }
}
fn pod(spec: &Option<PodSpec>) -> &PodSpec {
    spec.as_ref().expect("pod spec")
}
fn env(c: &Container) -> BTreeMap<String, Option<String>> {
    c.env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect()
}
fn caps(c: &Container) -> Vec<String> {
    c.security_context
        .as_ref()
        .and_then(|s| s.capabilities.as_ref())
        .and_then(|c| c.add.clone())
        .unwrap_or_default()
}

/// The 34 objects the 1.17.0 chart renders for Talos values + hubble relay/ui + L2 announcements.
#[test]
fn renders_exactly_the_chart_object_set() {
    let objs = objects(&talos_values());
    let got: BTreeSet<(String, Option<String>, String)> = objs
        .iter()
        .map(|o| {
            (
                o.object.kind().to_string(),
                o.object.namespace().map(str::to_string),
                o.object.name().to_string(),
            )
        })
        .collect();
    let ks = Some("kube-system".to_string());
    let sec = Some("cilium-secrets".to_string());
    let mut want: BTreeSet<(String, Option<String>, String)> = BTreeSet::new();
    let mut w =
        |k: &str, ns: &Option<String>, n: &str| want.insert((k.into(), ns.clone(), n.into()));
    w("Namespace", &None, "cilium-secrets");
    for n in [
        "cilium",
        "cilium-envoy",
        "cilium-operator",
        "hubble-relay",
        "hubble-ui",
    ] {
        w("ServiceAccount", &ks, n);
    }
    for n in [
        "cilium-ca",
        "hubble-server-certs",
        "hubble-relay-client-certs",
    ] {
        w("Secret", &ks, n);
    }
    for n in [
        "cilium-config",
        "cilium-envoy-config",
        "hubble-relay-config",
        "hubble-ui-nginx",
    ] {
        w("ConfigMap", &ks, n);
    }
    for n in ["cilium", "cilium-operator", "hubble-ui"] {
        w("ClusterRole", &None, n);
        w("ClusterRoleBinding", &None, n);
    }
    w("Role", &ks, "cilium-config-agent");
    w("RoleBinding", &ks, "cilium-config-agent");
    for n in [
        "cilium-tlsinterception-secrets",
        "cilium-operator-tlsinterception-secrets",
    ] {
        w("Role", &sec, n);
        w("RoleBinding", &sec, n);
    }
    for n in ["cilium-envoy", "hubble-peer", "hubble-relay", "hubble-ui"] {
        w("Service", &ks, n);
    }
    w("DaemonSet", &ks, "cilium");
    w("DaemonSet", &ks, "cilium-envoy");
    for n in ["cilium-operator", "hubble-relay", "hubble-ui"] {
        w("Deployment", &ks, n);
    }
    assert_eq!(objs.len(), 34);
    assert_eq!(got, want);
    // Helm install order: ranks never decrease.
    assert!(objs
        .windows(2)
        .all(|p| p[0].object.install_rank() <= p[1].object.install_rank()));
    assert_eq!(objs[0].object.kind(), "Namespace");
}

#[test]
fn cilium_config_has_the_talos_settings() {
    let objs = objects(&talos_values());
    let d = cm(&objs, "cilium-config");
    let expect = [
        ("kube-proxy-replacement", "true"),
        ("kube-proxy-replacement-healthz-bind-address", ""),
        ("enable-l2-announcements", "true"),
        ("enable-hubble", "true"),
        ("hubble-listen-address", ":4244"),
        ("hubble-disable-tls", "false"),
        (
            "hubble-tls-client-ca-files",
            "/var/lib/cilium/tls/hubble/client-ca.crt",
        ),
        ("ipam", "kubernetes"),
        ("cluster-name", "default"),
        ("cluster-id", "0"),
        ("routing-mode", "tunnel"),
        ("tunnel-protocol", "vxlan"),
        ("cgroup-root", "/sys/fs/cgroup"),
        ("bpf-root", "/sys/fs/bpf"),
        ("enable-lb-ipam", "true"),
        ("default-lb-service-ipam", "lbipam"),
        ("external-envoy-proxy", "true"),
        ("cni-exclusive", "true"),
        (
            "write-cni-conf-when-ready",
            "/host/etc/cni/net.d/05-cilium.conflist",
        ),
        ("procfs", "/host/proc"),
        ("operator-api-serve-addr", "127.0.0.1:9234"),
        ("identity-allocation-mode", "crd"),
        ("enable-policy", "default"),
        ("bpf-map-dynamic-size-ratio", "0.0025"),
        ("policy-secrets-namespace", "cilium-secrets"),
        ("enable-ipv4", "true"),
        ("enable-ipv6", "false"),
        ("dnsproxy-enable-transparent-mode", "true"),
        ("set-cilium-node-taints", "true"),
        (
            "agent-not-ready-taint-key",
            "node.cilium.io/agent-not-ready",
        ),
        ("unmanaged-pod-watcher-interval", "15"),
        ("debug-verbose", ""),
        ("ipam-cilium-node-update-rate", "15s"),
    ];
    for (k, v) in expect {
        assert_eq!(d.get(k).map(String::as_str), Some(v), "cilium-config[{k}]");
    }
    // Written by the chart only for kube-proxy replacement "partial"/"false", or never with these values.
    for absent in [
        "enable-external-ips",
        "enable-host-port",
        "enable-node-port",
        "ipv4-native-routing-cidr",
        "k8s-service-host",
        "k8s-service-port",
        "proxy-prometheus-port",
        "hubble-metrics-server",
        "cluster-pool-ipv4-cidr",
        "l2-announcements-lease-duration",
        "enable-bgp-control-plane",
    ] {
        assert!(
            !d.contains_key(absent),
            "cilium-config must not have {absent}"
        );
    }
    assert_eq!(
        d.len(),
        143,
        "key count of the chart's cilium-config for these values"
    );
    assert!(d
        .keys()
        .all(|k| config::managed_keys(Some(17)).contains(k.as_str())));
}

#[test]
fn cilium_config_follows_settings() {
    let mut v = talos_values();
    v.kube_proxy_replacement = false;
    v.routing = RoutingMode::Native {
        ipv4_native_routing_cidr: "10.244.0.0/16".into(),
    };
    v.ipam_mode = IpamMode::ClusterPool;
    v.cluster_name = "lab".into();
    v.cluster_id = 7;
    v.l2_announcements.lease_duration = Some("20s".into());
    v.l2_announcements.lease_renew_deadline = Some("6s".into());
    v.l2_announcements.lease_retry_period = Some("1s".into());
    v.extra_config
        .insert("enable-bgp-control-plane".into(), "false".into());
    let objs = objects(&v);
    let d = cm(&objs, "cilium-config");
    for (k, val) in [
        ("kube-proxy-replacement", "false"),
        ("enable-node-port", "false"),
        ("routing-mode", "native"),
        ("tunnel-protocol", "vxlan"),
        ("ipv4-native-routing-cidr", "10.244.0.0/16"),
        ("ipam", "cluster-pool"),
        ("cluster-name", "lab"),
        ("cluster-id", "7"),
        ("l2-announcements-lease-duration", "20s"),
        ("l2-announcements-renew-deadline", "6s"),
        ("l2-announcements-retry-period", "1s"),
        ("enable-bgp-control-plane", "false"),
    ] {
        assert_eq!(
            d.get(k).map(String::as_str),
            Some(val),
            "cilium-config[{k}]"
        );
    }
    v.hubble.enabled = false;
    v.l2_announcements.enabled = false;
    let objs = render(&v, None).unwrap();
    let d = cm(&objs, "cilium-config");
    assert!(!d.keys().any(|k| k.starts_with("hubble-")
        || k == "enable-hubble"
        || k.starts_with("l2-announcements")));
    assert!(!d.contains_key("enable-l2-announcements"));
}

#[test]
fn agent_daemonset_matches_the_chart() {
    let objs = objects(&talos_values());
    let d = ds(&objs, "cilium");
    let labels = d.metadata.labels.clone().unwrap();
    assert_eq!(labels.get("k8s-app").map(String::as_str), Some("cilium"));
    assert_eq!(
        labels.get("app.kubernetes.io/name").map(String::as_str),
        Some("cilium-agent")
    );
    assert_eq!(
        labels.get("app.kubernetes.io/part-of").map(String::as_str),
        Some("cilium")
    );
    let sel = d.spec.selector.match_labels.clone().unwrap();
    assert_eq!(sel, [("k8s-app".to_string(), "cilium".to_string())].into());
    let strategy = d.spec.update_strategy.as_ref().unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    let p = pod(&d.spec.template.spec);
    assert_eq!(p.host_network, Some(true));
    assert_eq!(
        p.priority_class_name.as_deref(),
        Some("system-node-critical")
    );
    assert_eq!(p.service_account_name.as_deref(), Some("cilium"));
    assert_eq!(p.termination_grace_period_seconds, Some(1));
    assert_eq!(
        p.security_context
            .as_ref()
            .unwrap()
            .app_armor_profile
            .as_ref()
            .unwrap()
            .type_,
        "Unconfined"
    );
    let inits: Vec<&str> = p
        .init_containers
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        inits,
        [
            "config",
            "apply-sysctl-overwrites",
            "mount-bpf-fs",
            "clean-cilium-state",
            "install-cni-binaries"
        ]
    );

    let agent = &p.containers[0];
    assert_eq!(agent.name, "cilium-agent");
    assert_eq!(
        agent.command.as_deref(),
        Some(&["cilium-agent".to_string()][..])
    );
    assert_eq!(
        agent.args.as_deref(),
        Some(&["--config-dir=/tmp/cilium/config-map".to_string()][..])
    );
    assert!(agent
        .image
        .as_deref()
        .unwrap()
        .starts_with("quay.io/cilium/cilium:v1.17.0@sha256:"));
    let e = env(agent);
    assert_eq!(e["KUBERNETES_SERVICE_HOST"].as_deref(), Some("localhost"));
    assert_eq!(e["KUBERNETES_SERVICE_PORT"].as_deref(), Some("7445"));
    assert_eq!(
        e["CILIUM_CLUSTERMESH_CONFIG"].as_deref(),
        Some("/var/lib/cilium/clustermesh/")
    );
    assert!(
        e.contains_key("K8S_NODE_NAME")
            && e.contains_key("CILIUM_K8S_NAMESPACE")
            && e.contains_key("GOMEMLIMIT")
    );
    let agent_caps = caps(agent);
    assert_eq!(
        agent_caps,
        [
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
            "SETUID"
        ]
    );
    assert!(!agent_caps.iter().any(|c| c == "SYS_MODULE"));
    let drop = agent
        .security_context
        .as_ref()
        .unwrap()
        .capabilities
        .as_ref()
        .unwrap()
        .drop
        .clone()
        .unwrap();
    assert_eq!(drop, ["ALL"]);
    assert_eq!(agent.security_context.as_ref().unwrap().privileged, None);
    let probe = agent
        .startup_probe
        .as_ref()
        .unwrap()
        .http_get
        .as_ref()
        .unwrap();
    assert_eq!(
        (probe.host.as_deref(), probe.path.as_deref()),
        (Some("127.0.0.1"), Some("/healthz"))
    );
    assert_eq!(
        probe.port,
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(9879)
    );
    assert_eq!(
        agent.startup_probe.as_ref().unwrap().failure_threshold,
        Some(105)
    );
    assert!(
        agent.ports.is_none(),
        "no ports without prometheus or hubble metrics"
    );
    let lifecycle = agent.lifecycle.as_ref().unwrap();
    assert_eq!(
        lifecycle
            .pre_stop
            .as_ref()
            .unwrap()
            .exec
            .as_ref()
            .unwrap()
            .command
            .as_deref()
            .unwrap(),
        ["/cni-uninstall.sh"]
    );
    let mounts: Vec<(&str, &str)> = agent
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| (m.name.as_str(), m.mount_path.as_str()))
        .collect();
    for want in [
        ("envoy-sockets", "/var/run/cilium/envoy/sockets"),
        ("bpf-maps", "/sys/fs/bpf"),
        ("cilium-cgroup", "/sys/fs/cgroup"),
        ("cilium-run", "/var/run/cilium"),
        ("etc-cni-netd", "/host/etc/cni/net.d"),
        ("hubble-tls", "/var/lib/cilium/tls/hubble"),
        ("xtables-lock", "/run/xtables.lock"),
        ("tmp", "/tmp"),
    ] {
        assert!(mounts.contains(&want), "agent mount {want:?}");
    }

    let init = |n: &str| {
        p.init_containers
            .iter()
            .flatten()
            .find(|c| c.name == n)
            .unwrap()
    };
    for n in ["config", "clean-cilium-state"] {
        let e = env(init(n));
        assert_eq!(
            e["KUBERNETES_SERVICE_HOST"].as_deref(),
            Some("localhost"),
            "{n}"
        );
        assert_eq!(e["KUBERNETES_SERVICE_PORT"].as_deref(), Some("7445"), "{n}");
    }
    assert_eq!(
        init("config").command.as_deref().unwrap(),
        ["cilium-dbg", "build-config"]
    );
    assert_eq!(
        caps(init("clean-cilium-state")),
        ["NET_ADMIN", "SYS_ADMIN", "SYS_RESOURCE"]
    );
    assert_eq!(
        caps(init("apply-sysctl-overwrites")),
        ["SYS_ADMIN", "SYS_CHROOT", "SYS_PTRACE"]
    );
    assert_eq!(
        init("mount-bpf-fs")
            .security_context
            .as_ref()
            .unwrap()
            .privileged,
        Some(true)
    );
    assert_eq!(
        init("install-cni-binaries").command.as_deref().unwrap(),
        ["/install-plugin.sh"]
    );
    assert!(caps(init("install-cni-binaries")).is_empty());
    let clean_env: Vec<&str> = init("clean-cilium-state")
        .env
        .iter()
        .flatten()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        clean_env,
        [
            "CILIUM_ALL_STATE",
            "CILIUM_BPF_STATE",
            "WRITE_CNI_CONF_WHEN_READY",
            "KUBERNETES_SERVICE_HOST",
            "KUBERNETES_SERVICE_PORT"
        ]
    );

    let vols: BTreeMap<&str, Option<&str>> = p
        .volumes
        .iter()
        .flatten()
        .map(|v| {
            (
                v.name.as_str(),
                v.host_path.as_ref().map(|h| h.path.as_str()),
            )
        })
        .collect();
    assert_eq!(vols["cilium-cgroup"], Some("/sys/fs/cgroup"));
    assert_eq!(vols["hostproc"], Some("/proc"));
    assert_eq!(vols["cni-path"], Some("/opt/cni/bin"));
    assert_eq!(vols["etc-cni-netd"], Some("/etc/cni/net.d"));
    assert!(vols.contains_key("clustermesh-secrets") && vols.contains_key("hubble-tls"));
    assert_eq!(vols.len(), 15);
}

#[test]
fn envoy_operator_and_hubble_match_the_chart() {
    let objs = objects(&talos_values());
    // Envoy.
    let e = ds(&objs, "cilium-envoy");
    let p = pod(&e.spec.template.spec);
    let c = &p.containers[0];
    assert_eq!(
        env(c)["KUBERNETES_SERVICE_HOST"].as_deref(),
        Some("localhost")
    );
    assert_eq!(env(c)["KUBERNETES_SERVICE_PORT"].as_deref(), Some("7445"));
    assert_eq!(
        c.command.as_deref().unwrap(),
        ["/usr/bin/cilium-envoy-starter"]
    );
    assert_eq!(
        c.args.as_deref().unwrap()[1],
        "-c /var/run/cilium/envoy/bootstrap-config.json"
    );
    assert_eq!(c.ports.as_ref().unwrap()[0].host_port, Some(9964));
    assert_eq!(caps(c), ["NET_ADMIN", "SYS_ADMIN"]);
    assert_eq!(p.service_account_name.as_deref(), Some("cilium-envoy"));
    let boot = &cm(&objs, "cilium-envoy-config")["bootstrap-config.json"];
    assert!(boot.ends_with('\n'));
    let j: serde_json::Value = serde_json::from_str(boot).unwrap();
    assert_eq!(
        j["admin"]["address"]["pipe"]["path"],
        "/var/run/cilium/envoy/sockets/admin.sock"
    );
    let clusters: Vec<&str> = j["staticResources"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        clusters,
        [
            "ingress-cluster",
            "egress-cluster-tls",
            "egress-cluster",
            "ingress-cluster-tls",
            "xds-grpc-cilium",
            "/envoy-admin"
        ]
    );
    assert_eq!(
        j["staticResources"]["listeners"][0]["address"]["socketAddress"]["portValue"],
        9964
    );
    assert_eq!(
        j["staticResources"]["clusters"][0]["cleanupInterval"],
        "2.500s"
    );
    // Keys sorted as Go's encoding/json writes maps (Helm toJson).
    let top: Vec<&String> = j.as_object().unwrap().keys().collect();
    let mut sorted = top.clone();
    sorted.sort();
    assert_eq!(top, sorted);
    let es = svc(&objs, "cilium-envoy");
    assert_eq!(
        es.spec.as_ref().unwrap().cluster_ip.as_deref(),
        Some("None")
    );

    // Operator.
    let o = deploy(&objs, "cilium-operator");
    assert_eq!(o.spec.replicas, Some(2));
    let p = pod(&o.spec.template.spec);
    assert_eq!(p.host_network, Some(true));
    assert_eq!(
        p.priority_class_name.as_deref(),
        Some("system-cluster-critical")
    );
    let c = &p.containers[0];
    assert_eq!(c.command.as_deref().unwrap(), ["cilium-operator-generic"]);
    assert_eq!(
        c.args.as_deref().unwrap(),
        [
            "--config-dir=/tmp/cilium/config-map",
            "--debug=$(CILIUM_DEBUG)"
        ]
    );
    let names: Vec<&str> = c.env.iter().flatten().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "K8S_NODE_NAME",
            "CILIUM_K8S_NAMESPACE",
            "CILIUM_DEBUG",
            "KUBERNETES_SERVICE_HOST",
            "KUBERNETES_SERVICE_PORT"
        ]
    );
    assert!(c
        .image
        .as_deref()
        .unwrap()
        .starts_with("quay.io/cilium/operator-generic:v1.17.0@sha256:"));
    let mut one = talos_values();
    one.operator_replicas = 1;
    let objs1 = objects(&one);
    let ru = deploy(&objs1, "cilium-operator")
        .spec
        .strategy
        .clone()
        .unwrap()
        .rolling_update
        .unwrap();
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    assert_eq!(ru.max_unavailable, Some(IntOrString::String("100%".into())));
    assert_eq!(ru.max_surge, Some(IntOrString::String("25%".into())));

    // Hubble peer, relay, UI.
    let peer = svc(&objs, "hubble-peer").spec.clone().unwrap();
    assert_eq!(peer.ports.as_ref().unwrap()[0].port, 443);
    assert_eq!(
        peer.ports.as_ref().unwrap()[0].target_port,
        Some(IntOrString::Int(4244))
    );
    assert_eq!(peer.internal_traffic_policy.as_deref(), Some("Local"));
    let relay_cfg: serde_json::Value =
        crate::yaml::from_str(&cm(&objs, "hubble-relay-config")["config.yaml"]).unwrap();
    assert_eq!(
        relay_cfg["peer-service"].as_str(),
        Some("hubble-peer.kube-system.svc.cluster.local.:443")
    );
    assert_eq!(relay_cfg["listen-address"].as_str(), Some(":4245"));
    assert_eq!(relay_cfg["disable-server-tls"].as_bool(), Some(true));
    assert_eq!(
        relay_cfg["tls-hubble-client-cert-file"].as_str(),
        Some("/var/lib/hubble-relay/tls/client.crt")
    );
    assert!(relay_cfg["retry-timeout"].is_null());
    let relay = deploy(&objs, "hubble-relay");
    let rp = pod(&relay.spec.template.spec);
    assert_eq!(rp.automount_service_account_token, Some(false));
    assert_eq!(
        rp.containers[0].ports.as_ref().unwrap()[0].container_port,
        4245
    );
    assert!(rp.containers[0]
        .image
        .as_deref()
        .unwrap()
        .starts_with("quay.io/cilium/hubble-relay:v1.17.0@sha256:"));
    assert_eq!(
        svc(&objs, "hubble-relay")
            .spec
            .as_ref()
            .unwrap()
            .ports
            .as_ref()
            .unwrap()[0]
            .port,
        80
    );
    let ui = deploy(&objs, "hubble-ui");
    let up = pod(&ui.spec.template.spec);
    let names: Vec<&str> = up.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["frontend", "backend"]);
    assert_eq!(
        env(&up.containers[1])["FLOWS_API_ADDR"].as_deref(),
        Some("hubble-relay:80")
    );
    assert!(
        cm(&objs, "hubble-ui-nginx")["nginx.conf"].contains("proxy_pass http://127.0.0.1:8090;")
    );
    assert_eq!(
        svc(&objs, "hubble-ui")
            .spec
            .as_ref()
            .unwrap()
            .ports
            .as_ref()
            .unwrap()[0]
            .port,
        80
    );
}

#[test]
fn tls_secrets_carry_the_given_certificates() {
    let c = certs();
    let objs = render(&talos_values(), Some(&c)).unwrap();
    let secret = |n: &str| match find(&objs, "Secret", n) {
        ChartObject::Secret(s) => s.clone(),
        _ => unreachable!(),
    };
    let data =
        |s: &Secret, k: &str| String::from_utf8(s.data.as_ref().unwrap()[k].0.clone()).unwrap();
    let ca = secret("cilium-ca");
    assert_eq!(ca.type_, None);
    assert_eq!(data(&ca, "ca.crt"), c.ca.cert_pem);
    assert_eq!(data(&ca, "ca.key"), c.ca.key_pem);
    let server = secret("hubble-server-certs");
    assert_eq!(server.type_.as_deref(), Some("kubernetes.io/tls"));
    assert_eq!(data(&server, "tls.crt"), c.server.cert_pem);
    assert_eq!(data(&server, "ca.crt"), c.ca.cert_pem);
    let relay = secret("hubble-relay-client-certs");
    assert_eq!(data(&relay, "tls.key"), c.relay_client.key_pem);
    assert!(matches!(
        render(&talos_values(), None),
        Err(RenderError::MissingCerts)
    ));
}

type PodView<'a> = (
    &'a str,
    &'a BTreeMap<String, String>,
    &'a BTreeMap<String, String>,
    &'a PodSpec,
);

/// Cross-references inside the rendered set: selectors match templates, mounts have volumes, service accounts,
/// roles and ConfigMaps referenced exist.
#[test]
fn rendered_objects_are_consistent() {
    let objs = objects(&talos_values());
    let names = |kind: &str| -> BTreeSet<String> {
        objs.iter()
            .filter(|o| o.object.kind() == kind)
            .map(|o| o.object.name().to_string())
            .collect()
    };
    let sas = names("ServiceAccount");
    let cms = names("ConfigMap");
    let mut pods: Vec<PodView> = Vec::new();
    for o in &objs {
        match &o.object {
            ChartObject::DaemonSet(d) => pods.push((
                o.object.name(),
                d.spec.selector.match_labels.as_ref().unwrap(),
                d.spec
                    .template
                    .metadata
                    .as_ref()
                    .unwrap()
                    .labels
                    .as_ref()
                    .unwrap(),
                pod(&d.spec.template.spec),
            )),
            ChartObject::Deployment(d) => pods.push((
                o.object.name(),
                d.spec.selector.match_labels.as_ref().unwrap(),
                d.spec
                    .template
                    .metadata
                    .as_ref()
                    .unwrap()
                    .labels
                    .as_ref()
                    .unwrap(),
                pod(&d.spec.template.spec),
            )),
            _ => {}
        }
    }
    assert_eq!(pods.len(), 5);
    for (name, selector, tlabels, spec) in &pods {
        assert!(
            selector.iter().all(|(k, v)| tlabels.get(k) == Some(v)),
            "{name}: selector matches template"
        );
        assert!(
            sas.contains(spec.service_account_name.as_deref().unwrap()),
            "{name}: service account exists"
        );
        let vols: BTreeSet<&str> = spec
            .volumes
            .iter()
            .flatten()
            .map(|v| v.name.as_str())
            .collect();
        for c in spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
        {
            for m in c.volume_mounts.iter().flatten() {
                assert!(
                    vols.contains(m.name.as_str()),
                    "{name}/{}: volume {} exists",
                    c.name,
                    m.name
                );
            }
        }
        for v in spec.volumes.iter().flatten() {
            if let Some(c) = &v.config_map {
                assert!(
                    cms.contains(&c.name),
                    "{name}: ConfigMap {} rendered",
                    c.name
                );
            }
        }
    }
    for o in &objs {
        if let ChartObject::Service(s) = &o.object {
            let sel = s.spec.as_ref().unwrap().selector.as_ref().unwrap();
            assert!(
                pods.iter()
                    .any(|(_, _, l, _)| sel.iter().all(|(k, v)| l.get(k) == Some(v))),
                "Service {} selects a rendered workload",
                o.object.name()
            );
        }
        let (role_ref, subjects) = match &o.object {
            ChartObject::ClusterRoleBinding(b) => (&b.role_ref, &b.subjects),
            ChartObject::RoleBinding(b) => (&b.role_ref, &b.subjects),
            _ => continue,
        };
        assert!(
            names(&role_ref.kind).contains(&role_ref.name),
            "{} refers to a rendered role",
            o.object.name()
        );
        for s in subjects.iter().flatten() {
            assert!(sas.contains(&s.name));
            assert_eq!(s.namespace.as_deref(), Some("kube-system"));
        }
    }
    // L2 announcements grant the agent Leases; without them the rule is gone.
    let leases = |objs: &[RenderedObject]| match find(objs, "ClusterRole", "cilium") {
        ChartObject::ClusterRole(r) => r
            .rules
            .iter()
            .flatten()
            .any(|r| r.resources.iter().flatten().any(|x| x == "leases")),
        _ => unreachable!(),
    };
    assert!(leases(&objs));
    let mut no_l2 = talos_values();
    no_l2.l2_announcements.enabled = false;
    assert!(!leases(&objects(&no_l2)));
}

#[test]
fn toggling_hubble_ui_changes_only_ui_objects() {
    let c = certs();
    let with = render(&talos_values(), Some(&c)).unwrap();
    let mut v = talos_values();
    v.hubble.ui = false;
    let without = render(&v, Some(&c)).unwrap();
    let removed: Vec<&RenderedObject> = with.iter().filter(|o| !without.contains(o)).collect();
    assert_eq!(removed.len(), 6);
    assert!(removed.iter().all(|o| o.component == Component::HubbleUi));
    assert!(
        without.iter().all(|o| with.contains(o)),
        "nothing else changes"
    );
    // Hubble off: no Hubble objects at all and no certificates needed.
    v.hubble.enabled = false;
    let bare = render(&v, None).unwrap();
    assert_eq!(bare.len(), 20);
    assert!(bare.iter().all(|o| !matches!(
        o.component,
        Component::Hubble | Component::HubbleRelay | Component::HubbleUi
    )));
    let agent = ds(&bare, "cilium");
    assert!(!pod(&agent.spec.template.spec)
        .volumes
        .iter()
        .flatten()
        .any(|v| v.name == "hubble-tls"));
}

#[test]
fn rendering_is_deterministic_and_serializes() {
    let c = certs();
    let a = render(&talos_values(), Some(&c)).unwrap();
    let b = render(&talos_values(), Some(&c)).unwrap();
    assert_eq!(a, b);
    for o in &a {
        let v = o.object.to_value().unwrap();
        assert_eq!(v["apiVersion"], o.object.api_version());
        assert_eq!(v["kind"], o.object.kind());
        let d = o.object.to_dynamic().unwrap();
        assert_eq!(d.metadata.name.as_deref(), Some(o.object.name()));
    }
}

#[test]
fn settings_reach_the_objects() {
    let mut v = talos_values();
    v.namespace = "cilium".into();
    v.k8s_service_host = "10.5.0.2".into();
    v.k8s_service_port = 6443;
    v.image_repository = Some("registry.lan/cilium".into());
    v.operator_replicas = 3;
    let objs = objects(&v);
    assert!(objs.iter().all(|o| o
        .object
        .namespace()
        .is_none_or(|n| n == "cilium" || n == "cilium-secrets")));
    let agent = ds(&objs, "cilium");
    let c = &pod(&agent.spec.template.spec).containers[0];
    assert_eq!(
        env(c)["KUBERNETES_SERVICE_HOST"].as_deref(),
        Some("10.5.0.2")
    );
    assert_eq!(env(c)["KUBERNETES_SERVICE_PORT"].as_deref(), Some("6443"));
    assert!(c
        .image
        .as_deref()
        .unwrap()
        .starts_with("registry.lan/cilium/cilium:v1.17.0@"));
    assert_eq!(deploy(&objs, "cilium-operator").spec.replicas, Some(3));
    let relay_cfg = &cm(&objs, "hubble-relay-config")["config.yaml"];
    assert!(relay_cfg.contains("hubble-peer.cilium.svc.cluster.local.:443"));
    // Invalid settings are refused with paths.
    v.cluster_id = 999;
    match render(&v, Some(&certs())) {
        Err(RenderError::Invalid(e)) => {
            assert_eq!(e[0].to_string().split(':').next(), Some("cluster_id"))
        }
        other => panic!("expected invalid settings, got {other:?}"),
    }
}

#[test]
fn lb_ipam_objects_and_policy_defaults() {
    let mut v = talos_values();
    v.l2_announcements.interfaces = vec!["^eth1$".into()];
    let pools = vec![
        IpPool {
            name: "assigned".into(),
            blocks: vec![IpBlock::Range {
                start: "192.168.208.70".into(),
                stop: "192.168.208.79".into(),
            }],
            service_selector: None,
        },
        IpPool {
            name: "auto".into(),
            blocks: vec![IpBlock::Range {
                start: "192.168.208.80".into(),
                stop: "192.168.208.89".into(),
            }],
            service_selector: None,
        },
    ];
    let policy = L2Policy {
        name: "default".into(),
        load_balancer_ips: true,
        ..Default::default()
    };
    let objs = render_lb_ipam(&v, &pools, Some(&policy));
    assert_eq!(objs.len(), 3);
    let pol = serde_json::to_value(&objs[2]).unwrap();
    assert_eq!(pol["spec"]["interfaces"], serde_json::json!(["^eth1$"]));
    assert_eq!(
        serde_json::to_value(&objs[0]).unwrap()["spec"]["blocks"][0]["start"],
        "192.168.208.70"
    );
}
