//! The `cilium-config` ConfigMap: the agent's and operator's configuration keys.
//!
//! Derived from `templates/cilium-configmap.yaml` of the Cilium Helm chart 1.17.0 evaluated with the chart's
//! default values plus the settings in [`CiliumValues`] (no `upgradeCompatibility`, Kubernetes >= 1.27,
//! `tls.secretsBackend` unset, Envoy as a DaemonSet).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ConfigMap;

use super::common::meta;
use super::values::{CiliumValues, RoutingMode};

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
    ("enable-local-redirect-policy", "false"),
    ("enable-runtime-device-detection", "true"),
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
    ("enable-svc-source-range-check", "true"),
    ("enable-l2-neigh-discovery", "true"),
    ("arping-refresh-period", "30s"),
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
    ("hubble-export-file-max-size-mb", "10"),
    ("hubble-export-file-max-backups", "5"),
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
    // `ipam.multiPoolPreAllocation` is an empty string in the values; the API server stores "".
    ("ipam-multi-pool-pre-allocation", ""),
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
    ("enable-k8s-terminating-endpoint", "true"),
    ("enable-sctp", "false"),
    ("remove-cilium-node-taints", "true"),
    ("set-cilium-node-taints", "true"),
    ("set-cilium-is-up-condition", "true"),
    ("unmanaged-pod-watcher-interval", "15"),
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
    ("mesh-auth-enabled", "true"),
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
    ("enable-internal-traffic-policy", "true"),
    ("enable-lb-ipam", "true"),
    ("enable-non-default-deny-policies", "true"),
    ("enable-source-ip-verification", "true"),
];

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
];

/// Every `cilium-config` key the renderer may write: `extra_config` must not touch any of them.
pub fn managed_keys() -> BTreeSet<&'static str> {
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
    .collect()
}

/// Renders the `data` of `cilium-config` for `values`; `envoy_daemonset` is whether the version runs Envoy as its
/// own DaemonSet (`external-envoy-proxy`).
///
/// `extra_config` entries are added last, as the chart appends `extraConfig`; callers validate them first.
pub fn config_data(v: &CiliumValues, envoy_daemonset: bool) -> BTreeMap<String, String> {
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
        for (k, val) in HUBBLE {
            put(k, val);
        }
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
pub fn config_map(v: &CiliumValues, envoy_daemonset: bool) -> ConfigMap {
    ConfigMap {
        metadata: meta("cilium-config", Some(&v.namespace), Default::default()),
        data: Some(config_data(v, envoy_daemonset)),
        ..Default::default()
    }
}
