//! The Vixens provider: its configuration schema and its resources, registered.
//!
//! To add a resource: write `src/resources/<name>.rs` (declared in `src/resources/mod.rs`) and add one line to
//! [`resources`]; likewise data sources in `src/data_sources/` ([`data_sources`]) and ephemeral resources in
//! `src/ephemeral/` ([`ephemeral_resources`]).

use std::sync::Arc;

use crate::cty::Value;
use crate::framework::{
    Attribute, Block, DataSource, EphemeralResource, ProviderServer, Resource, Schema,
};

/// The provider's Registry address (`source = "vixens/vixens"` in `required_providers`).
pub const REGISTRY_ADDRESS: &str = "registry.terraform.io/vixens/vixens";

/// The environment variable that gives `check_nodes_at_plan` its default (`false`, `0`, `no` or `off` turn the
/// checks off).
pub const CHECK_NODES_AT_PLAN_ENV: &str = "VIXENS_CHECK_NODES_AT_PLAN";

/// The provider configuration schema (`provider "vixens" {}`): every resource carries its own connection details;
/// `check_nodes_at_plan` says whether plans may connect to Talos nodes; `talosconfig` and `kubeconfig` are the
/// defaults of the data sources that read a running cluster.
pub fn provider_schema() -> Schema {
    Schema::new(
        Block::new(
            "The Vixens provider turns bare Talos Linux machines into a GitOps-managed Kubernetes cluster.",
        )
        .attribute(Attribute::bool("check_nodes_at_plan").optional().description(
            "Whether a plan checks the Talos nodes that take their first machine config (it connects to each, \
             in parallel, for 3 s at most: a node that does not answer, or runs another cluster, or runs a Talos \
             release too old for `talos_version`, fails the plan at its attribute). Default: the environment \
             variable `VIXENS_CHECK_NODES_AT_PLAN` (`false` turns the checks off), else `true`. Turn it off to plan \
             without the hardware (CI): the plan then connects to nothing that the state does not know, and the \
             apply finds such problems instead.",
        ))
        .attribute(Attribute::string("talosconfig").optional().sensitive().description(
            "talosctl config used by the data sources that read a running cluster (`vixens_cluster_health`) when \
             they have none of their own. With Terraform >= 1.10, take it from an ephemeral \
             `vixens_talos_client_config` (in a provider block with an `alias`): it is then never stored.",
        ))
        .attribute(Attribute::string("kubeconfig").optional().sensitive().description(
            "Admin kubeconfig used by the data sources that read a running cluster (`vixens_cluster_health`) when \
             they have none of their own; like `talosconfig`, best taken from an ephemeral \
             `vixens_talos_client_config`.",
        )),
    )
}

/// `check_nodes_at_plan` of a provider configuration value: the setting, else [`CHECK_NODES_AT_PLAN_ENV`], else
/// `true`.
pub fn check_nodes_at_plan(config: &Value) -> bool {
    if let Some(set) = config.get("check_nodes_at_plan").as_bool() {
        return set;
    }
    match std::env::var(CHECK_NODES_AT_PLAN_ENV) {
        Ok(v) => !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "false" | "0" | "no" | "off"
        ),
        Err(_) => true,
    }
}

/// Every resource type of the provider, one line per resource, in the order an environment applies them (the
/// cluster, then its CNI, then Argo CD; docs/index.md lists them in this order).
pub fn resources() -> Vec<Arc<dyn Resource>> {
    vec![
        Arc::new(crate::resources::talos_cluster::TalosCluster),
        Arc::new(crate::resources::cilium::Cilium),
        Arc::new(crate::resources::argocd_bootstrap::ArgocdBootstrap),
        #[cfg(feature = "test-resources")]
        Arc::new(crate::resources::test_thing::TestThing),
    ]
}

/// Every data source of the provider, one line each (docs/index.md lists them in this order).
pub fn data_sources() -> Vec<Arc<dyn DataSource>> {
    vec![
        Arc::new(crate::data_sources::talos_disks::TalosDisks),
        Arc::new(crate::data_sources::talos_links::TalosLinks),
        Arc::new(crate::data_sources::cluster_health::ClusterHealthSource),
    ]
}

/// Every ephemeral resource type of the provider, one line each.
pub fn ephemeral_resources() -> Vec<Arc<dyn EphemeralResource>> {
    vec![Arc::new(
        crate::ephemeral::talos_client_config::TalosClientConfig,
    )]
}

/// The provider server with every resource, data source and ephemeral resource registered.
pub fn server() -> ProviderServer {
    ProviderServer::new(provider_schema(), resources())
        .with_data_sources(data_sources())
        .with_ephemeral_resources(ephemeral_resources())
}

#[cfg(test)]
mod tests {
    #[test]
    fn test_resource_only_with_its_feature() {
        let names: Vec<_> = super::resources().iter().map(|r| r.type_name()).collect();
        assert_eq!(
            names.contains(&"vixens_test_thing"),
            cfg!(feature = "test-resources")
        );
    }

    /// Terraform 1.0 and 0.15 panic on an update of a single nested block holding a sensitive value (see
    /// `resources::argocd_bootstrap::settings::kubernetes_path`): a block with a sensitive attribute, or one whose
    /// values are credentials, is a list of at most one.
    #[test]
    fn blocks_with_sensitive_attributes_are_lists() {
        use crate::framework::{Block, Nesting};
        fn walk(resource: &str, block: &Block, found: &mut Vec<String>) {
            for nested in &block.blocks {
                let sensitive = nested.block.attributes.iter().any(|a| a.sensitive);
                if sensitive && matches!(nested.nesting, Nesting::Single | Nesting::Group) {
                    found.push(format!("{resource}.{}", nested.type_name));
                }
                walk(resource, &nested.block, found);
            }
        }
        let mut found = Vec::new();
        for r in super::resources() {
            walk(r.type_name(), &r.schema().block, &mut found);
        }
        assert!(
            found.is_empty(),
            "single blocks with sensitive attributes: {found:?}"
        );
    }
}
