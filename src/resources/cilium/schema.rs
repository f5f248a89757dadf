//! The schema of `vixens_cilium`.

use std::time::Duration;

use crate::cty::Type;
use crate::framework::{Attribute, Block, NestedBlock, Nesting, Schema, TimeoutDefaults};
use crate::manifests::cilium::version::{DEFAULT_VERSION, SUPPORTED};

/// Defaults of the `timeouts` block; `read` bounds how long a read or a delete tries to reach the Kubernetes API
/// (see [`crate::resources::k8s_outage`]).
pub const TIMEOUTS: TimeoutDefaults = TimeoutDefaults {
    create: Duration::from_secs(20 * 60),
    update: Duration::from_secs(20 * 60),
    delete: Duration::from_secs(10 * 60),
    read: Some(crate::resources::k8s_outage::READ_TIMEOUT),
};

/// Default namespace of the Cilium objects.
pub const DEFAULT_NAMESPACE: &str = "kube-system";

fn description() -> String {
    format!(
        "Installs Cilium as the CNI of a Talos cluster (kube-proxy replacement, Hubble, LB IPAM with L2 \
announcements), rendering in Rust the objects the official Cilium Helm chart renders for Talos's documented values.

**Versions.** {SUPPORTED}; default `{DEFAULT_VERSION}`. Every line renders the objects of its official chart \
(compared object by object with the chart package by the chart-equality test, for Hubble relay/UI on and off, \
L2 announcements on and off, cluster name and id):

| Line | Compared with chart | Status | Kubernetes tested (Cilium docs) | Envoy | Hubble UI |
|------|---------------------|--------|---------------------------------|-------|-----------|
| 1.20 | 1.20.0 | supported (default) | 1.33 - 1.36 | v1.37.5 | v0.13.5 |
| 1.19 | 1.19.6 | supported | 1.32 - 1.35 | v1.36.9 | v0.13.5 |
| 1.18 | 1.18.12 | supported | 1.30 - 1.33 | v1.36.9 | v0.13.5 |
| 1.17 | 1.17.0 | deprecated: kept for upgrades from it | 1.29 - 1.32 | v1.31.5 | v0.13.1 |

The compared release of a line is pinned by digest (`image:tag@sha256:...`, as the chart renders). Another patch \
of a supported line (e.g. `1.19.3`) renders the same templates with the agent, operator and relay images by tag, \
and the line's Envoy and Hubble UI images, on the assumption (checked only for the compared patch) that a patch \
chart changes image tags and digests, not templates; a patch that changes a template needs its own entry. `kubernetes_version` (optional) \
is checked against the tested range: outside it, the plan warns, naming both versions.

**Upgrades** happen in place: change `version`. Cilium's upgrade guide supports only consecutive minors, so \
`1.17.x -> 1.18.x -> 1.19.x -> 1.20.x`, one apply each (update to the newest patch of a line first); a plan that \
skips a minor, or goes back to an older minor, fails at `version` with the reason. Patch changes within a line go \
either way. Each upgrade applies the new line's objects (keys a line no longer writes leave `cilium-config`, \
objects it no longer renders are deleted, new ones are created); the operator registers the new CRDs itself. \
States written before 1.18 support, without `version`, run 1.17.0: set `version = \"1.18.12\"` first.

**Rolling on configuration changes** (`roll_out_pods`, default true, as the chart's `rollOutCiliumPods` and \
`*.rollOutPods`): each workload's pod template carries a digest of the ConfigMap it reads \
(`cilium.io/cilium-configmap-checksum` on the agents and the operator, `cilium.io/cilium-envoy-configmap-checksum`, \
`cilium.io/hubble-relay-configmap-checksum`, `cilium.io/hubble-ui-nginx-configmap-checksum`). A change of \
`cilium-config` (cluster name or id, routing, lease settings, `extra_config`, Hubble on/off, a version) shows in \
the plan as a new `config_digest` and rolls the agent DaemonSet and the operator; a version change rolls every \
workload through its images. With `roll_out_pods = false` pods keep their configuration until restarted.

**Apply.** Connects (retrying while the API server is not up), server-side applies every object with field \
manager `vixens` in dependency order, waits until the operator has registered the LB IPAM and L2 policy CRDs \
(Established), applies the pools and the policy, then (with `wait`) waits, within the create or update timeout, \
for: the agent and Envoy DaemonSets; then the operator Deployment and, when enabled, the hubble-relay and hubble-ui \
Deployments; then every Node to be Ready. A Deployment that no Node can run is not waited for and the apply warns, \
naming what keeps it off each Node: hubble-relay and hubble-ui tolerate no taint, so on a cluster whose only nodes \
are control planes tainted NoSchedule (`allow_scheduling_on_control_planes = false`, no worker) they stay Pending \
until a schedulable Node joins (vixens_talos_cluster's plan warns about such a cluster). The agent, Envoy and the \
operator tolerate control-plane taints. A create that fails part-way (say the API server stays unreachable past the create timeout) leaves the resource tainted; the next apply continues that install rather than deleting and installing it again: its plan still shows a replacement (Terraform's rule for tainted objects) with a warning, and the objects already created are updated in place, keeping the Hubble certificates. A `terraform taint` by hand still reinstalls.

**State** holds the inventory of owned objects: an update deletes objects no longer wanted (a removed pool, the UI \
when `hubble.ui` turns off), a version change upgrades, a read reports drift (an edited `cilium-config`, a deleted \
DaemonSet) in `drift` so the next plan repairs it, and destroy deletes exactly the inventory.

**An unreachable Kubernetes API** (down, or gone with its cluster): reaching it is bounded by `timeouts.read` \
(default 2m). Past it, a refresh keeps the last recorded state and warns (the plan still works, without drift \
detection), and a destroy completes with a warning naming the objects it could not delete (they stay in the \
cluster if it comes back). An API found down earlier in the same run, or whose `vixens_talos_cluster` was \
destroyed earlier in the run, gets one 3-second try.

**Hand-off of LB IPAM** (`lb_ipam_hand_off = true`): the pools and the L2 announcement policy are created with \
the install, so LoadBalancer Services get addresses before Argo CD syncs anything, and from then on belong to \
GitOps (e.g. an Argo CD app that holds the same objects, such as `cilium-lb` in examples/gitops). They are \
re-applied only when `load_balancer_ip_pools` or `l2_policy` change here, a read reports no drift on them (Argo \
CD may edit them), and destroy leaves them in place.

**Hubble certificates** (CA, server, relay client) are generated once, kept in state (`hubble_tls`, sensitive) and \
renewed within 30 days of expiry, so plans stay empty.

Connection settings may be unknown at plan time (e.g. outputs of `vixens_talos_cluster`): the cluster is contacted \
only during apply and read.

**Import** is not supported. To take over an existing Cilium, create the resource: server-side apply with forced \
conflicts adopts the objects already in the cluster."
    )
}

fn kubernetes_block() -> Block {
    Block::new("API server and client credentials (e.g. from `vixens_talos_cluster`), instead of `kubeconfig`.")
        .attribute(Attribute::string("host").optional().description("API server URL, `https://host:6443`."))
        .attribute(
            Attribute::string("ca_certificate").optional().description("Cluster CA certificate, PEM or base64 of PEM."),
        )
        .attribute(
            Attribute::string("client_certificate")
                .optional()
                .description("Client certificate, PEM or base64 of PEM."),
        )
        .attribute(
            Attribute::string("client_key").optional().sensitive().description("Client private key, PEM or base64 of PEM."),
        )
}

fn hubble_block() -> Block {
    Block::new("Hubble observability.")
        .attribute(
            Attribute::bool("enabled")
                .optional()
                .description("Hubble server in every agent (default true)."),
        )
        .attribute(
            Attribute::bool("relay")
                .optional()
                .description("hubble-relay (default false)."),
        )
        .attribute(
            Attribute::bool("ui")
                .optional()
                .description("hubble-ui; needs the relay to show flows (default false)."),
        )
}

fn l2_announcements_block() -> Block {
    Block::new("L2 announcements: agents answer ARP for LoadBalancer IPs.")
        .attribute(Attribute::bool("enabled").optional().description("`enable-l2-announcements` (default false)."))
        .attribute(
            Attribute::new("interfaces", Type::list(Type::String))
                .optional()
                .description("Interface regexes used by `l2_policy` when it names none, e.g. `[\"^eth[0-9]+\"]`."),
        )
        .attribute(
            Attribute::new("subnets", Type::list(Type::String))
                .optional()
                .description("Subnets (CIDRs) of the links that announce, e.g. the services VLAN's \
                              `[\"192.168.208.0/24\"]`: when set, every LB IPAM pool block must lie inside one of \
                              them, else the plan fails at the block (a client asks ARP only for addresses of its own \
                              subnet: an address outside is announced but unreachable). Not sent to the cluster."),
        )
        .attribute(Attribute::string("lease_duration").optional().description("Lease duration, e.g. `15s`."))
        .attribute(Attribute::string("lease_renew_deadline").optional().description("Lease renew deadline, e.g. `5s`."))
        .attribute(Attribute::string("lease_retry_period").optional().description("Lease retry period, e.g. `2s`."))
}

fn pool_block() -> Block {
    let ip_block = Block::new("A CIDR, or an inclusive range `start`-`stop`.")
        .attribute(
            Attribute::string("cidr")
                .optional()
                .description("CIDR, e.g. `192.168.208.64/28`."),
        )
        .attribute(
            Attribute::string("start")
                .optional()
                .description("First address of a range."),
        )
        .attribute(
            Attribute::string("stop")
                .optional()
                .description("Last address of a range (>= start)."),
        );
    Block::new("A `CiliumLoadBalancerIPPool` (cilium.io/v2alpha1, cluster-scoped).")
        .attribute(Attribute::string("name").required().description("Pool name, unique."))
        .attribute(
            Attribute::new("service_selector", Type::map(Type::String))
                .optional()
                .description("Labels (`matchLabels`) of the Services this pool serves; all Services when unset."),
        )
        .block(NestedBlock::new("blocks", Nesting::List, ip_block).items(1, 0))
}

fn l2_policy_block() -> Block {
    Block::new("The `CiliumL2AnnouncementPolicy` (cilium.io/v2alpha1, cluster-scoped).")
        .attribute(Attribute::string("name").optional().description("Name (default `vixens`)."))
        .attribute(
            Attribute::new("interfaces", Type::list(Type::String))
                .optional()
                .description("Interface regexes; default `l2_announcements.interfaces`, else all interfaces."),
        )
        .attribute(
            Attribute::new("node_selector", Type::map(Type::String))
                .optional()
                .description("`matchLabels` of the nodes that may announce (all when unset)."),
        )
        .attribute(
            Attribute::new("service_selector", Type::map(Type::String))
                .optional()
                .description("`matchLabels` of the Services announced (all when unset)."),
        )
        .attribute(Attribute::bool("load_balancer_ips").optional().description("Announce LoadBalancer IPs (default true)."))
        .attribute(Attribute::bool("external_ips").optional().description("Announce external IPs (default false)."))
}

/// The resource schema.
pub fn schema() -> Schema {
    let block = Block::new(description())
        .attribute(Attribute::string("id").computed().description("The Cilium namespace."))
        .attribute(
            Attribute::string("kubeconfig")
                .optional()
                .sensitive()
                .description("Kubeconfig YAML (its current context is used). Or use the `kubernetes` block."),
        )
        .attribute(
            Attribute::string("version")
                .optional()
                .description(format!("Cilium version, {SUPPORTED} (default `{DEFAULT_VERSION}`).")),
        )
        .attribute(
            Attribute::string("installed_version")
                .computed()
                .description("The Cilium version this resource installed (what an upgrade starts from)."),
        )
        .attribute(
            Attribute::string("kubernetes_version").optional().description(
                "Kubernetes version of the cluster, e.g. `1.35.4` (such as `vixens_talos_cluster`'s \
                 `kubernetes_version`); only checked against the Kubernetes versions the chosen Cilium release was \
                 tested with: a plan warning when outside. Unset: no check.",
            ),
        )
        .attribute(
            Attribute::string("image_repository")
                .optional()
                .description("Registry prefix replacing `quay.io/cilium` for every image (mirrors)."),
        )
        .attribute(
            Attribute::string("namespace")
                .optional()
                .requires_replace()
                .description(format!("Namespace of the Cilium objects (default `{DEFAULT_NAMESPACE}`).")),
        )
        .attribute(Attribute::string("cluster_name").optional().description("`cluster-name` (default `default`)."))
        .attribute(Attribute::number("cluster_id").optional().description("`cluster-id`, 0-255 (default 0)."))
        .attribute(
            Attribute::bool("kube_proxy_replacement")
                .optional()
                .description("eBPF kube-proxy replacement (default true; Talos runs without kube-proxy)."),
        )
        .attribute(
            Attribute::string("k8s_service_host")
                .optional()
                .description("API server host used by the agents (default `localhost`, KubePrism)."),
        )
        .attribute(Attribute::number("k8s_service_port").optional().description("API server port (default 7445, KubePrism)."))
        .attribute(
            Attribute::string("ipam_mode").optional().description("`kubernetes` (default) or `cluster-pool`."),
        )
        .attribute(
            Attribute::string("routing_mode")
                .optional()
                .description("`tunnel` (VXLAN, default) or `native` (needs `ipv4_native_routing_cidr`)."),
        )
        .attribute(
            Attribute::string("ipv4_native_routing_cidr")
                .optional()
                .description("With `routing_mode = \"native\"`: the CIDR routed without masquerading, e.g. the pod CIDR."),
        )
        .attribute(Attribute::number("operator_replicas").optional().description("cilium-operator replicas (default 2)."))
        .attribute(
            Attribute::new("extra_config", Type::map(Type::String))
                .optional()
                .description("Extra `cilium-config` keys; keys this resource manages are refused."),
        )
        .attribute(
            Attribute::bool("lb_ipam_hand_off").optional().description(
                "Hand the LB IPAM pools and the L2 announcement policy to GitOps once created: re-applied only when \
                 `load_balancer_ip_pools` or `l2_policy` change, no drift reported on them, left in place on destroy \
                 (default false: this resource owns them and repairs their drift).",
            ),
        )
        .attribute(
            Attribute::bool("roll_out_pods").optional().description(
                "Roll the pods when their configuration changes (default true): a digest of each workload's \
                 ConfigMap is in its pod template (the chart's `rollOutCiliumPods` and `*.rollOutPods`), so a changed \
                 `cilium-config` (settings, `extra_config`, lease settings, routing, cluster name, version) rolls the \
                 agents and the operator, a changed Envoy, relay or UI config rolls that workload. `config_digest` \
                 shows the change in the plan. false: pods keep their configuration until restarted.",
            ),
        )
        .attribute(
            Attribute::string("config_digest").computed().description(
                "SHA-256 of the `cilium-config` data this resource applies; with `roll_out_pods` a change of it \
                 rolls the agents and the operator.",
            ),
        )
        .attribute(
            Attribute::bool("wait")
                .optional()
                .description("Wait for the agent and Envoy DaemonSets, the operator and (when enabled and some Node can run them) Hubble relay and UI Deployments, then for every Node to be Ready (default true)."),
        )
        .attribute(
            Attribute::string("inventory")
                .computed()
                .description("JSON list of the objects owned (apiVersion, kind, namespace, name)."),
        )
        .attribute(
            Attribute::string("hubble_tls")
                .computed()
                .sensitive()
                .description("Hubble CA, server and relay client certificates and keys (JSON), renewed before expiry."),
        )
        .attribute(
            Attribute::string("hubble_ca_certificate").computed().description("The Hubble CA certificate (PEM)."),
        )
        .attribute(
            Attribute::new("drift", Type::list(Type::String))
                .computed()
                .description("Owned objects or fields changed outside Terraform, found by the last read; the next apply repairs them."),
        )
        .block(NestedBlock::new("kubernetes", Nesting::List, kubernetes_block()).items(0, 1))
        .block(NestedBlock::new("hubble", Nesting::Single, hubble_block()))
        .block(NestedBlock::new("l2_announcements", Nesting::Single, l2_announcements_block()))
        .block(NestedBlock::new("load_balancer_ip_pools", Nesting::List, pool_block()))
        .block(NestedBlock::new("l2_policy", Nesting::Single, l2_policy_block()));
    Schema::new(block).with_timeouts(TIMEOUTS)
}
