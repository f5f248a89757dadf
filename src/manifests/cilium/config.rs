//! The `cilium-config` ConfigMap: the agent's and operator's configuration keys.
//!
//! Derived from `templates/cilium-configmap.yaml` of the Cilium Helm charts 1.17.0, 1.18.12, 1.19.6 and 1.20.0
//! evaluated with each chart's default values plus the settings in [`CiliumValues`] (no `upgradeCompatibility`,
//! Kubernetes >= 1.27, `tls.secretsBackend` unset, Envoy as a DaemonSet). Keys common to every line are in the
//! `FIXED_*` tables; keys that appear, vanish or change value with a line are in [`VERSIONED`].

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ConfigMap;

use super::common::meta;
use super::values::{CiliumValues, RoutingMode};
use super::version::CiliumVersion;

/// Keys whose value the chart fixes for the defaults Vixens keeps (before the settings-dependent keys).
///
/// Go durations are written as the chart's `validateDuration` passes them through (`5m0s`).
const FIXED_HEAD: &[(&str, &str)] = &[
    ("identity-allocation-mode", "crd"),
    ("identity-heartbeat-timeout", "30m0s"),
    ("identity-gc-interval", "15m0s"),
    ("cilium-endpoint-gc-interval", "5m0s"),
    ("nodes-gc-interval", "5m0s"),
    ("debug", "false"),
    // `debug.verbose` is null in the chart values but present, so Helm writes an empty string.
    ("debug-verbose", ""),
    ("enable-policy", "default"),
    ("policy-cidr-match-mode", ""),
    ("operator-prometheus-serve-addr", ":9963"),
    ("enable-metrics", "true"),
    // Secrets for policies are read only from the `cilium-secrets` namespace and synced there (1.17 defaults).
    ("enable-policy-secrets-sync", "true"),
    ("policy-secrets-only-from-secrets-namespace", "true"),
    ("policy-secrets-namespace", "cilium-secrets"),
    ("enable-ipv4", "true"),
    ("enable-ipv6", "false"),
    ("custom-cni-conf", "false"),
    ("enable-bpf-clock-probe", "false"),
    ("monitor-aggregation", "medium"),
    ("monitor-aggregation-interval", "5s"),
    ("monitor-aggregation-flags", "all"),
    ("bpf-map-dynamic-size-ratio", "0.0025"),
    ("bpf-policy-map-max", "16384"),
    ("bpf-lb-map-max", "65536"),
    ("bpf-lb-external-clusterip", "false"),
    ("bpf-lb-source-range-all-types", "false"),
    ("bpf-lb-algorithm-annotation", "false"),
    ("bpf-lb-mode-annotation", "false"),
    ("bpf-events-drop-enabled", "true"),
    ("bpf-events-policy-verdict-enabled", "true"),
    ("bpf-events-trace-enabled", "true"),
    ("preallocate-bpf-maps", "false"),
];

/// Fixed keys after the routing section.
const FIXED_DATAPATH: &[(&str, &str)] = &[
    ("service-no-backend-response", "reject"),
    ("enable-l7-proxy", "true"),
    ("enable-ipv4-masquerade", "true"),
    ("enable-ipv4-big-tcp", "false"),
    ("enable-ipv6-big-tcp", "false"),
    ("enable-ipv6-masquerade", "true"),
    ("enable-tcx", "true"),
    ("datapath-mode", "veth"),
    ("enable-masquerade-to-route-source", "false"),
    ("enable-xt-socket-fallback", "true"),
    ("install-no-conntrack-iptables-rules", "false"),
    ("iptables-random-fully", "false"),
    ("auto-direct-node-routes", "false"),
    ("direct-routing-skip-unreachable", "false"),
];

/// Fixed service load-balancing and health keys (after `kube-proxy-replacement`).
const FIXED_SERVICES: &[(&str, &str)] = &[
    ("bpf-lb-sock", "false"),
    ("nodeport-addresses", ""),
    ("enable-health-check-nodeport", "true"),
    ("enable-health-check-loadbalancer-ip", "false"),
    ("node-port-bind-protection", "true"),
    ("enable-auto-protect-node-port-range", "true"),
    ("bpf-lb-acceleration", "disabled"),
    ("k8s-require-ipv4-pod-cidr", "false"),
    ("k8s-require-ipv6-pod-cidr", "false"),
    ("enable-k8s-networkpolicy", "true"),
    ("enable-endpoint-lockdown-on-policy-overflow", "false"),
    (
        "write-cni-conf-when-ready",
        "/host/etc/cni/net.d/05-cilium.conflist",
    ),
    ("cni-exclusive", "true"),
    ("cni-log-file", "/var/run/cilium/cilium-cni.log"),
    ("enable-endpoint-health-checking", "true"),
    ("enable-health-checking", "true"),
    ("health-check-icmp-failure-threshold", "3"),
    ("enable-well-known-identities", "false"),
    ("enable-node-selector-labels", "false"),
    ("synchronize-k8s-nodes", "true"),
    ("operator-api-serve-addr", "127.0.0.1:9234"),
];

/// Hubble keys written when `hubble.enabled` (mTLS on `:4244` with the `hubble-server-certs` Secret).
const HUBBLE: &[(&str, &str)] = &[
    ("enable-hubble", "true"),
    ("hubble-socket-path", "/var/run/cilium/hubble.sock"),
    ("hubble-listen-address", ":4244"),
    ("hubble-disable-tls", "false"),
    (
        "hubble-tls-cert-file",
        "/var/lib/cilium/tls/hubble/server.crt",
    ),
    (
        "hubble-tls-key-file",
        "/var/lib/cilium/tls/hubble/server.key",
    ),
    (
        "hubble-tls-client-ca-files",
        "/var/lib/cilium/tls/hubble/client-ca.crt",
    ),
];

/// Fixed keys between IPAM and the L2 section.
const FIXED_IPAM_TAIL: &[(&str, &str)] = &[
    ("ipam-cilium-node-update-rate", "15s"),
    ("default-lb-service-ipam", "lbipam"),
    ("egress-gateway-reconciliation-trigger-interval", "1s"),
    ("enable-vtep", "false"),
    ("vtep-endpoint", ""),
    ("vtep-cidr", ""),
    ("vtep-mask", ""),
    ("vtep-mac", ""),
];

/// Fixed keys after the L2 section up to the end of the ConfigMap.
const FIXED_TAIL: &[(&str, &str)] = &[
    ("procfs", "/host/proc"),
    ("bpf-root", "/sys/fs/bpf"),
    // Talos mounts cgroup v2 itself at /sys/fs/cgroup (`cgroup.hostRoot`).
    ("cgroup-root", "/sys/fs/cgroup"),
    ("enable-sctp", "false"),
    ("remove-cilium-node-taints", "true"),
    ("set-cilium-node-taints", "true"),
    ("set-cilium-is-up-condition", "true"),
    ("dnsproxy-enable-transparent-mode", "true"),
    ("dnsproxy-socket-linger-timeout", "10"),
    ("tofqdns-dns-reject-response-code", "refused"),
    ("tofqdns-enable-dns-compression", "true"),
    ("tofqdns-endpoint-max-ip-per-hostname", "1000"),
    ("tofqdns-idle-connection-grace-period", "0s"),
    ("tofqdns-max-deferred-connection-deletes", "10000"),
    ("tofqdns-proxy-response-max-delay", "100ms"),
    (
        "agent-not-ready-taint-key",
        "node.cilium.io/agent-not-ready",
    ),
    ("mesh-auth-queue-size", "1024"),
    ("mesh-auth-rotated-identities-queue-size", "1024"),
    ("mesh-auth-gc-interval", "5m0s"),
    ("proxy-xff-num-trusted-hops-ingress", "0"),
    ("proxy-xff-num-trusted-hops-egress", "0"),
    ("proxy-connect-timeout", "2"),
    ("proxy-initial-fetch-timeout", "30"),
    ("proxy-max-requests-per-connection", "0"),
    ("proxy-max-connection-duration-seconds", "0"),
    ("proxy-idle-timeout-seconds", "60"),
    ("proxy-max-concurrent-retries", "128"),
    ("http-retry-count", "3"),
    ("envoy-base-id", "0"),
    ("envoy-access-log-buffer-size", "4096"),
    ("envoy-keep-cap-netbindservice", "false"),
    ("max-connected-clusters", "255"),
    ("clustermesh-enable-endpoint-sync", "false"),
    ("clustermesh-enable-mcs-api", "false"),
    ("nat-map-stats-entries", "32"),
    ("nat-map-stats-interval", "30s"),
    ("enable-lb-ipam", "true"),
    ("enable-non-default-deny-policies", "true"),
    ("enable-source-ip-verification", "true"),
];

/// The last line a key is written for, when it is still written by the newest chart.
const LAST: u32 = u32::MAX;

/// Keys that exist or change value on some lines only: `(first line, last line, key, value)`, lines being the
/// minor version (`17` is 1.17.x). A line's chart writes the key with this value; a key absent from a line's
/// chart has no entry covering that line.
pub const VERSIONED: &[(u32, u32, &str, &str)] = &[
    // 1.17 only: removed from the 1.18 chart (the experimental LB became the only LB, device and L2 neighbour
    // discovery reworked, terminating endpoints always on, local redirect policies moved to their own flags).
    (17, 17, "enable-experimental-lb", "false"),
    (17, 17, "arping-refresh-period", "30s"),
    (17, 17, "enable-k8s-terminating-endpoint", "true"),
    (17, 17, "enable-local-redirect-policy", "false"),
    (17, 17, "enable-runtime-device-detection", "true"),
    // `ipam.multiPoolPreAllocation` is an empty string in the 1.17 values; the API server stores "".
    (17, 17, "ipam-multi-pool-pre-allocation", ""),
    (17, 17, "enable-l2-neigh-discovery", "true"),
    (18, LAST, "enable-l2-neigh-discovery", "false"),
    (17, 18, "enable-internal-traffic-policy", "true"),
    (17, 18, "enable-svc-source-range-check", "true"),
    (17, 18, "mesh-auth-enabled", "true"),
    (19, LAST, "mesh-auth-enabled", "false"),
    (17, 18, "unmanaged-pod-watcher-interval", "15"),
    (19, LAST, "unmanaged-pod-watcher-interval", "15s"),
    // Added by 1.18.
    (18, LAST, "bpf-distributed-lru", "false"),
    (18, LAST, "bpf-policy-stats-map-max", "65536"),
    (18, LAST, "enable-drift-checker", "true"),
    (18, LAST, "enable-dynamic-config", "true"),
    (18, LAST, "http-stream-idle-timeout", "300"),
    (18, LAST, "identity-management-mode", "agent"),
    (18, LAST, "metrics-sampling-interval", "5m"),
    (18, 18, "policy-default-local-cluster", "false"),
    (19, LAST, "policy-default-local-cluster", "true"),
    (18, LAST, "tofqdns-preallocate-identities", "true"),
    (18, LAST, "tunnel-source-port-range", "0-0"),
    // Added by 1.19.
    (19, LAST, "clustermesh-cache-ttl", "0s"),
    (19, LAST, "clustermesh-mcs-api-install-crds", "true"),
    (19, LAST, "enable-host-firewall", "false"),
    (19, LAST, "enable-no-service-endpoints-routable", "true"),
    (19, LAST, "enable-service-topology", "false"),
    (19, LAST, "packetization-layer-pmtud-mode", "blackhole"),
    (19, LAST, "policy-deny-response", "none"),
    (19, LAST, "proxy-cluster-max-connections", "1024"),
    (19, LAST, "proxy-cluster-max-requests", "1024"),
    (19, LAST, "proxy-max-active-downstream-connections", "50000"),
    (19, LAST, "proxy-use-original-source-address", "true"),
    // Added by 1.20.
    (20, LAST, "clustermesh-default-global-namespace", "true"),
    (
        20,
        LAST,
        "datapath-plugins-state-dir",
        "/var/run/cilium/plugins",
    ),
    (20, LAST, "devices", ""),
    (20, LAST, "enable-datapath-plugins", "false"),
    (20, LAST, "enable-dynamic-source-lookup-nodeport", "false"),
    (20, LAST, "envoy-access-log-enabled", "true"),
    (20, LAST, "envoy-node-locality-enabled", "false"),
    (20, LAST, "envoy-xds-mode", "ads"),
    (20, LAST, "proxy-cluster-max-pending-requests", "1024"),
];

/// Hubble keys that depend on the line: `(first line, last line, key, value)`, as [`VERSIONED`].
const HUBBLE_VERSIONED: &[(u32, u32, &str, &str)] = &[
    (17, 17, "hubble-export-file-max-size-mb", "10"),
    (17, 17, "hubble-export-file-max-backups", "5"),
    (
        18,
        LAST,
        "hubble-network-policy-correlation-enabled",
        "true",
    ),
];

/// The entries of a versioned table that apply to line `minor`.
fn on_line(
    table: &'static [(u32, u32, &'static str, &'static str)],
    minor: u32,
) -> impl Iterator<Item = (&'static str, &'static str)> {
    table
        .iter()
        .filter(move |(first, last, _, _)| (*first..=*last).contains(&minor))
        .map(|(_, _, k, v)| (*k, *v))
}

/// Keys the renderer writes only for some settings.
const CONDITIONAL: &[&str] = &[
    "cluster-name",
    "cluster-id",
    "routing-mode",
    "tunnel-protocol",
    "ipv4-native-routing-cidr",
    "kube-proxy-replacement",
    "kube-proxy-replacement-healthz-bind-address",
    "enable-node-port",
    "enable-host-port",
    "enable-external-ips",
    "ipam",
    "enable-l2-announcements",
    "l2-announcements-lease-duration",
    "l2-announcements-renew-deadline",
    "l2-announcements-retry-period",
    "external-envoy-proxy",
    "proxy-prometheus-port",
    "enable-hubble",
];

/// Every `cilium-config` key the renderer may write on line `minor` (every line when `None`): `extra_config` must
/// not touch any of them.
pub fn managed_keys(minor: Option<u32>) -> BTreeSet<&'static str> {
    let versioned = [VERSIONED, HUBBLE_VERSIONED]
        .into_iter()
        .flat_map(move |t| {
            t.iter()
                .filter(move |(first, last, _, _)| {
                    minor.is_none_or(|m| (*first..=*last).contains(&m))
                })
                .map(|(_, _, k, _)| *k)
        });
    [
        FIXED_HEAD,
        FIXED_DATAPATH,
        FIXED_SERVICES,
        HUBBLE,
        FIXED_IPAM_TAIL,
        FIXED_TAIL,
    ]
    .iter()
    .flat_map(|t| t.iter().map(|(k, _)| *k))
    .chain(CONDITIONAL.iter().copied())
    .chain(versioned)
    .collect()
}

/// Renders the `data` of `cilium-config` for `values` on the line of `ver`; `envoy_daemonset` is whether the
/// version runs Envoy as its own DaemonSet (`external-envoy-proxy`).
///
/// `extra_config` entries are added last, as the chart appends `extraConfig`; callers validate them first.
pub fn config_data(
    v: &CiliumValues,
    ver: CiliumVersion,
    envoy_daemonset: bool,
) -> BTreeMap<String, String> {
    let mut d: BTreeMap<String, String> = BTreeMap::new();
    let mut put = |k: &str, val: &str| {
        d.insert(k.to_string(), val.to_string());
    };
    for (k, val) in FIXED_HEAD {
        put(k, val);
    }
    put("cluster-name", &v.cluster_name);
    put("cluster-id", &v.cluster_id.to_string());
    match &v.routing {
        RoutingMode::TunnelVxlan => put("routing-mode", "tunnel"),
        RoutingMode::Native { .. } => put("routing-mode", "native"),
    }
    // The chart writes the tunnel protocol in both modes (`tunnelProtocol | default "vxlan"`).
    put("tunnel-protocol", "vxlan");
    for (k, val) in FIXED_DATAPATH {
        put(k, val);
    }
    if let RoutingMode::Native {
        ipv4_native_routing_cidr,
    } = &v.routing
    {
        put("ipv4-native-routing-cidr", ipv4_native_routing_cidr);
    }
    let kpr = if v.kube_proxy_replacement {
        "true"
    } else {
        "false"
    };
    put("kube-proxy-replacement", kpr);
    put("kube-proxy-replacement-healthz-bind-address", "");
    if !v.kube_proxy_replacement {
        // `nodePort.enabled` (false) is written only when kube-proxy replacement is off.
        put("enable-node-port", "false");
    }
    for (k, val) in FIXED_SERVICES {
        put(k, val);
    }
    if v.hubble.enabled {
        for (k, val) in HUBBLE
            .iter()
            .copied()
            .chain(on_line(HUBBLE_VERSIONED, ver.minor))
        {
            put(k, val);
        }
    } else if ver.since(18) {
        put("enable-hubble", "false");
    }
    for (k, val) in on_line(VERSIONED, ver.minor) {
        put(k, val);
    }
    put("ipam", v.ipam_mode.as_str());
    for (k, val) in FIXED_IPAM_TAIL {
        put(k, val);
    }
    let l2 = &v.l2_announcements;
    if l2.enabled {
        put("enable-l2-announcements", "true");
        for (key, value) in [
            ("l2-announcements-lease-duration", &l2.lease_duration),
            ("l2-announcements-renew-deadline", &l2.lease_renew_deadline),
            ("l2-announcements-retry-period", &l2.lease_retry_period),
        ] {
            if let Some(value) = value.as_deref().filter(|s| !s.is_empty()) {
                put(key, value);
            }
        }
    }
    for (k, val) in FIXED_TAIL {
        put(k, val);
    }
    put(
        "external-envoy-proxy",
        if envoy_daemonset { "true" } else { "false" },
    );
    if !envoy_daemonset {
        // Envoy embedded in the agent exposes its metrics through the agent (`envoy.prometheus.port`).
        put("proxy-prometheus-port", "9964");
    }
    for (k, val) in &v.extra_config {
        put(k, val);
    }
    d
}

/// The `cilium-config` ConfigMap in the Cilium namespace (no labels: `commonLabels` is empty by default).
pub fn config_map(v: &CiliumValues, ver: CiliumVersion, envoy_daemonset: bool) -> ConfigMap {
    ConfigMap {
        metadata: meta("cilium-config", Some(&v.namespace), Default::default()),
        data: Some(config_data(v, ver, envoy_daemonset)),
        ..Default::default()
    }
}
