//! The `vixens_talos_cluster` schema (issue 4). Nodes are a list block `nodes { name = "obsy" ... }` keyed by
//! `name` (unique): it works over both plugin protocols (5 and 6) and, unlike a map block, can be generated with a
//! `dynamic "nodes"` block in a module (Terraform requires dynamic block labels to be known during validation,
//! when module inputs are not). Links, VLANs and routes are nested list blocks.

use crate::cty::Type;
use crate::framework::{Attribute, Block, NestedBlock, Nesting, Schema, TimeoutDefaults};
use std::time::Duration;

/// Default `timeouts` for create, update and delete.
pub const TIMEOUTS: Duration = Duration::from_secs(30 * 60);

fn strings(name: &str) -> Attribute {
    Attribute::new(name, Type::list(Type::String))
}

fn route_block() -> NestedBlock {
    NestedBlock::new(
        "route",
        Nesting::List,
        Block::new("A static route.")
            .attribute(
                Attribute::string("network")
                    .optional()
                    .description("Destination CIDR; default `0.0.0.0/0` (the default route)."),
            )
            .attribute(
                Attribute::string("gateway")
                    .required()
                    .description("Gateway IP address."),
            )
            .attribute(
                Attribute::number("metric")
                    .optional()
                    .description("Route metric."),
            ),
    )
}

fn vlan_block() -> NestedBlock {
    NestedBlock::new(
        "vlan",
        Nesting::List,
        Block::new("An 802.1Q VLAN on the link (Talos names it `<link>.<vlan_id>`).")
            .attribute(
                Attribute::number("vlan_id")
                    .required()
                    .description("VLAN id, 1 to 4094."),
            )
            .attribute(
                strings("addresses")
                    .optional()
                    .description("Static addresses in CIDR form."),
            )
            .attribute(Attribute::string("vip").optional().description(
                "Shared layer-2 virtual IP (control planes only, same on all of them).",
            ))
            .attribute(Attribute::number("mtu").optional().description("MTU."))
            .block(route_block()),
    )
}

fn link_block() -> NestedBlock {
    NestedBlock::new(
        "link",
        Nesting::List,
        Block::new("A network link (physical interface).")
            .attribute(
                Attribute::string("name")
                    .required()
                    .description("Interface name, e.g. `eth0`."),
            )
            .attribute(
                strings("addresses")
                    .optional()
                    .description("Static untagged addresses, CIDR form."),
            )
            .attribute(Attribute::number("mtu").optional().description("MTU."))
            .block(route_block())
            .block(vlan_block()),
    )
}

fn nodes_block() -> NestedBlock {
    NestedBlock::new(
        "nodes",
        Nesting::List,
        Block::new("A Talos machine, identified by its `name`.")
            .attribute(
                Attribute::string("name")
                    .required()
                    .description("Node name, unique in the cluster, an RFC 1123 host name; the default hostname."),
            )
            .attribute(Attribute::string("address").required().description(
                "Talos API address of the node: an IP address or a DNS name, without a port (the Talos API is dialled on port 50000; the address is also the node's identity in etcd and in its certificates). A DNS name is added to the node's certificate SANs (`machine.certSANs`, and the API server's on a control plane), as Talos adds its IP addresses; a node whose certificate does not hold the name dialed fails at once with the names it holds.",
            ))
            .attribute(
                Attribute::string("role")
                    .required()
                    .description("`controlplane` or `worker`."),
            )
            .attribute(
                Attribute::string("install_disk")
                    .optional()
                    .description("Install disk; default `/dev/sda`."),
            )
            .attribute(
                Attribute::string("hostname")
                    .optional()
                    .description("Hostname (RFC 1123: dot-separated labels of letters, digits and `-`); defaults to `name`. Set it here, not in `config_patches`: a patch that gives the node another hostname (`HostnameConfig`, `machine.network.hostname`) is refused at plan."),
            )
            .attribute(
                strings("nameservers")
                    .optional()
                    .description("DNS servers."),
            )
            .attribute(strings("config_patches").optional().sensitive().description(
                "Node-level strategic-merge patches (YAML), applied after the cluster-level ones. Checked at plan: each \
                 parses, its keys exist in the machine config of `talos_version`, and the patched config keeps Talos's rules. \
                 Sensitive, like the cluster-level ones.",
            ))
            .attribute(Attribute::bool("reinstall").optional().description(
                "Allows sending this node its machine config (which carries the cluster's CA keys) when the state \
                 knows it as configured but it now answers in maintenance mode: a reset or reinstalled machine, or \
                 another machine on its address. Maintenance mode has no server authentication, so without this the \
                 plan fails for that node. Set it back to `false` once the node is back.",
            ))
            .attribute(Attribute::string("cert_fingerprint").optional().description(
                "Pins the node's maintenance-mode certificate: the base64 SHA-256 of its SubjectPublicKeyInfo, as the \
                 node prints it on its console and `talosctl apply-config --insecure --cert-fingerprint` takes it. \
                 When set, the machine config goes only to a node presenting that certificate; any other fails the \
                 apply at once.",
            ))
            .block(link_block()),
    )
}

fn on_destroy_block() -> NestedBlock {
    NestedBlock::new(
        "on_destroy",
        Nesting::Single,
        Block::new("What destroy does to the nodes.")
            .attribute(
                Attribute::bool("reset")
                    .optional()
                    .description("Reset the nodes (wipe STATE and EPHEMERAL); default `true`."),
            )
            .attribute(Attribute::bool("graceful").optional().description(
                "Leave etcd before resetting (the last control plane is always reset non-gracefully); default \
                 `true`.",
            )),
    )
}

fn kubernetes_type() -> Type {
    Type::object([
        ("host", Type::String),
        ("ca_certificate", Type::String),
        ("client_certificate", Type::String),
        ("client_key", Type::String),
    ])
}

fn node_status_type() -> Type {
    Type::map(Type::object([
        ("talos_version", Type::String),
        ("stage", Type::String),
        ("reachable", Type::Bool),
        ("config_hash", Type::String),
    ]))
}

/// The resource schema.
pub fn schema() -> Schema {
    let block = Block::new(
        "Bare Talos machines to a bootstrapped Kubernetes cluster: secrets, machine configs per node, apply in \
         maintenance mode, etcd bootstrap, kubeconfig. Scales from 1 to 3 control planes in place.\n\n\
         **A failed first apply resumes.** When the create fails after the cluster secrets exist (a node down, \
         bootstrap refused, a timeout), the state returned with the error keeps the secrets and what each node \
         took; Terraform marks that object tainted and the next plan replaces it. The replacement plans the *same* \
         secrets (the plan warns \"Resuming the failed create of this cluster\"), its destroy half leaves the nodes \
         as they are, and the create continues from where the failed one stopped: nodes that took their config are \
         not re-applied, bootstrap is not repeated. This relies on the refresh of the tainted object, so do not \
         plan that apply with `-refresh=false` (without the refresh the replacement gets new secrets and the \
         destroy half resets the configured nodes first). `terraform destroy` of a failed create resets the nodes \
         that took a config and leaves the others (still in maintenance mode) alone. `create_before_destroy` is \
         not supported (both objects would be the same machines).\n\n\
         **Drift.** A refresh reads back from each node its Talos version, reachability, the etcd members and the \
         machine config it runs (COSI resource `MachineConfigs.config.talos.dev`, needs the `os:admin` role); \
         a node whose config differs from the one applied (hash in `node_status`) shows as a change in the plan, \
         and the apply puts the config back. With `apply_mode = \"staged\"` the config read back is not compared \
         (a staged config is not in effect before the next reboot). A node found in maintenance mode (reset or \
         reinstalled behind Terraform's back) shows as `stage = \"maintenance\"` with its Talos version on every \
         supported release: the provider reads the non-sensitive COSI resources `Versions.runtime.talos.dev` and \
         `MachineStatuses.runtime.talos.dev`, because Talos 1.11 and 1.12 refuse the `Version` call in maintenance \
         mode.\n\n\
         **Talos releases and contracts.** A node parses its first machine config with the Talos release it booted \
         (its ISO), and a release does not know the documents of a newer contract (Talos 1.11 has no `LinkConfig`, \
         `VLANConfig`, `Layer2VIPConfig` or `HostnameConfig`). A node that refuses its config fails the apply at \
         once with the node's release and the `talos_version` that fits it; when the cluster already exists, a new \
         maintenance-mode node older than `talos_version` is refused at plan, and an `install_image` older than \
         `talos_version` is always refused at plan. Raising `talos_version` (or `install_image`) upgrades the OS \
         node by node first, then applies the config of the new contract.\n\n\
         **Nodes that do not answer.** A plan checks the nodes that take their first config: each must answer the \
         Talos API (in maintenance mode, or already with this cluster's certificate), else the plan fails at the \
         node's `address` naming it and the cause (the provider setting `check_nodes_at_plan = false`, or \
         `VIXENS_CHECK_NODES_AT_PLAN=false`, turns the check off for plans without the hardware: such a plan \
         connects to nothing the state does not know). During an apply, a node that has not answered at all within \
         `unreachable_timeout` (default 2 minutes) fails with its address and the cause, while a node that answered \
         and then went down to install or reboot is waited for up to the `timeouts`. A wait that ends at its \
         timeout says what it saw last: a node back in maintenance mode after taking its config (its install did \
         not boot), a node that answers at another address of its config (its maintenance-mode address was a DHCP \
         one), a node that stopped answering, or the cluster endpoint's host (a VIP that did not come up). An apply \
         interrupted (Ctrl-C) while nodes install leaves them `booting` in `node_status`; the next apply waits for \
         them, so its outputs say what the nodes are.",
    )
    .attribute(Attribute::string("id").computed().description(
        "The Talos cluster id (`cluster.id` of `machine_secrets`): set at create, and at import from the secrets file.",
    ))
    .attribute(Attribute::string("cluster_name").required().requires_replace().description("Cluster name."))
    .attribute(
        Attribute::string("endpoint")
            .required()
            .description("Kubernetes API endpoint `https://host:port`; host is the VIP, a control-plane address or a DNS name."),
    )
    .attribute(Attribute::string("talos_version").optional().description(
        "Config contract: `1.11`, `1.12` or `1.13` (default `1.13`).",
    ))
    .attribute(Attribute::string("kubernetes_version").optional().description(
        "Kubernetes version, e.g. `1.34.1`; default the contract's default.",
    ))
    .attribute(Attribute::string("install_image").optional().description(
        "Talos installer image; changing it rolls an upgrade, one node at a time. Default: the installer of the pinned release of `talos_version` (1.11: `ghcr.io/siderolabs/installer:v1.11.6`, 1.12: `v1.12.11`, 1.13: `v1.13.9`), so changing `talos_version` without it rolls an upgrade to that release.",
    ))
    .attribute(Attribute::new("system_extensions", Type::set(Type::String)).optional().description(
        "Official Talos system extensions to install, e.g. `[\"siderolabs/iscsi-tools\", \"siderolabs/util-linux-tools\"]` \
         (Synology CSI and Longhorn need iSCSI, which Talos has only with `iscsi-tools`). With this or \
         `extra_kernel_args`, the nodes install the Image Factory installer of that schematic for the release of \
         `talos_version` (`<factory host>/metal-installer/<schematic ID>:v1.13.9`); the schematic ID is computed at \
         plan exactly as the factory computes it, and the apply registers the schematic with the factory before a \
         node installs or upgrades. Changing the set rolls an upgrade, one node at a time. Conflicts with \
         `install_image`.",
    ))
    .attribute(strings("extra_kernel_args").optional().description(
        "Extra kernel arguments baked into the schematic's boot assets (same rules as `system_extensions`), e.g. \
         `console=ttyS0,115200`; a leading `-` removes a default argument.",
    ))
    .attribute(Attribute::string("image_factory").optional().description(
        "Image Factory that serves the schematic's installer (`https://host[:port]`; its host is the image \
         registry). Default `https://factory.talos.dev`.",
    ))
    .attribute(strings("cert_sans").optional().description("Extra certificate SANs."))
    .attribute(strings("pod_subnets").optional().description("Pod CIDRs (default `10.244.0.0/16`); must not overlap the service CIDRs or a node network."))
    .attribute(strings("service_subnets").optional().description("Service CIDRs (default `10.96.0.0/12`); must not overlap the pod CIDRs or a node network."))
    .attribute(Attribute::bool("allow_scheduling_on_control_planes").optional().description("Let workloads run on control planes (default `false`: Talos taints them `node-role.kubernetes.io/control-plane:NoSchedule`). Set it when there is no worker; the plan warns otherwise. Changing it needs no reboot: Talos updates the taint."))
    .attribute(Attribute::number("kubeprism_port").optional().description("KubePrism port (default 7445; 0 disables)."))
    .attribute(Attribute::string("cni").optional().description("CNI: `none` (default; Cilium installs it), `flannel` (Talos's built-in), or `custom` (URLs given through `config_patches`)."))
    .attribute(Attribute::bool("proxy_disabled").optional().description("Disable kube-proxy (default `true`)."))
    .attribute(strings("config_patches").optional().sensitive().description("Cluster-level strategic-merge patches (YAML). Checked at plan: each parses, its keys exist in the machine config of `talos_version`, and the patched configs keep Talos's rules. Sensitive (patches may carry tokens or registry credentials): plans show `(sensitive)`, and errors name the patch and line, never its text."))
    .attribute(Attribute::string("apply_mode").optional().description(
        "How config changes are applied: `auto` (default), `no_reboot`, `reboot`, `staged`.",
    ))
    .attribute(Attribute::string("unreachable_timeout").optional().description(
        "How long an apply waits for a node that has not answered the Talos API at all since the wait on it began \
         (connection refused, no reply, or a TLS handshake refused in both maintenance and secure mode, as \
         another cluster's node does) before failing with the node's address and the cause, e.g. `\"5m\"` \
         (default `\"2m\"`). A node that answered once and went down since (installing, rebooting) is waited for \
         up to the `timeouts`, and so is a node the state records as booting (it took its config in an \
         interrupted apply). Changing it changes nothing on the nodes.",
    ))
    .attribute(Attribute::string("machine_secrets").computed().sensitive().description(
        "Cluster secrets in talosctl's secrets.yaml format.",
    ))
    .attribute(
        Attribute::new("machine_configurations", Type::map(Type::String))
            .computed()
            .sensitive()
            .description("Rendered machine config per node."),
    )
    .attribute(Attribute::string("talosconfig").computed().sensitive().description(
        "talosctl config with the control-plane addresses as endpoints and no default nodes (as `talosctl gen config` writes it): name the target nodes with `talosctl -n`. Its `os:admin` client certificate (365 days) is renewed by the first apply within 30 days of its expiry; that plan shows `talosconfig` as known after apply.",
    ))
    .attribute(Attribute::string("kubeconfig").computed().sensitive().description("Admin kubeconfig. Its client certificate (365 days) is renewed by the first apply within 30 days of its expiry; that plan shows `kubeconfig` and `kubernetes.client_certificate`/`client_key` as known after apply, so resources using them update in the same run."))
    .attribute(Attribute::new("kubernetes", kubernetes_type()).computed().sensitive().description(
        "Kubernetes API host and PEM credentials.",
    ))
    .attribute(Attribute::new("etcd_members", Type::list(Type::String)).computed().description(
        "etcd member hostnames, sorted.",
    ))
    .attribute(Attribute::new("node_status", node_status_type()).computed().description(
        "Per node: Talos version, stage (`running`, `maintenance`, `booting`, `unreachable`), reachability and \
         the hash of the applied config.",
    ))
    .block(nodes_block())
    .block(on_destroy_block());
    Schema::new(block).with_timeouts(TimeoutDefaults::all(TIMEOUTS))
}
