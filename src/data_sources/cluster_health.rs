//! `vixens_cluster_health`: the health of a running cluster for checks and postconditions: its etcd members (from
//! the Talos API, as `talosctl etcd members`), its Nodes and their `Ready` condition, and the API server's version
//! (from the Kubernetes API, as `kubectl get nodes` and `kubectl version`). Credentials come from its own
//! attributes or from the provider block's, which an ephemeral `vixens_talos_client_config` can fill without
//! storing them.

use std::time::Duration;

use async_trait::async_trait;

use crate::cty::{AttributePath, Type, Value};
use crate::framework::{Attribute, Block, Context, DataSource, Diagnostic, Diagnostics, Schema};
use crate::k8s::health::{cluster_health, ClusterHealth};
use crate::k8s::Connection;
use crate::talos::client::{EtcdMember, Security, TalosClient};
use crate::talos::clientconfig::{parse_talosconfig, TalosContext};

/// The data source.
#[derive(Debug, Default)]
pub struct ClusterHealthSource;

/// Bound of each Talos API call and of reaching the Kubernetes API.
const TIMEOUT: Duration = Duration::from_secs(15);

fn node_type() -> Type {
    Type::object([
        ("name", Type::String),
        ("ready", Type::Bool),
        ("kubelet_version", Type::String),
        ("control_plane", Type::Bool),
    ])
}

/// The schema.
pub fn schema() -> Schema {
    Schema::new(
        Block::new(
            "The health of a running cluster, for `check` blocks and postconditions: etcd members (Talos API, as \
             `talosctl etcd members`), Nodes and their `Ready` condition and the API server version (Kubernetes \
             API). It reads with `talosconfig` and `kubeconfig`, its own or else the provider block's: with \
             Terraform >= 1.10, fill the provider block from an ephemeral `vixens_talos_client_config` and no \
             credential is stored. A cluster that does not answer fails the read (in a `check` block: a warning).",
        )
        .attribute(Attribute::string("talosconfig").optional().sensitive().description(
            "talosctl config (default: the provider's `talosconfig`).",
        ))
        .attribute(Attribute::string("kubeconfig").optional().sensitive().description(
            "Admin kubeconfig (default: the provider's `kubeconfig`).",
        ))
        .attribute(Attribute::new("endpoints", Type::list(Type::String)).optional().description(
            "Talos API addresses asked for the etcd members, in order until one answers (default: the talosconfig's \
             `endpoints`).",
        ))
        .attribute(Attribute::new("etcd_members", Type::list(Type::String)).computed().description(
            "etcd member hostnames, sorted.",
        ))
        .attribute(Attribute::new("etcd_learners", Type::list(Type::String)).computed().description(
            "Members that are still learners (not voting yet), sorted.",
        ))
        .attribute(Attribute::new("nodes", Type::list(node_type())).computed().description(
            "Nodes sorted by `name`: `name`, `ready` (`Ready` condition `True`), `kubelet_version`, `control_plane` \
             (role label `node-role.kubernetes.io/control-plane`).",
        ))
        .attribute(Attribute::number("ready_nodes").computed().description("How many Nodes are Ready."))
        .attribute(Attribute::string("kubernetes_version").computed().description(
            "The API server's version (`gitVersion`), e.g. `v1.34.1`.",
        ))
        .attribute(Attribute::bool("healthy").computed().description(
            "Every Node Ready, at least one, and etcd has one voting member per control-plane Node and no learner.",
        )),
    )
}

/// Own attribute `name`, else the provider's.
fn setting<'a>(ctx: &'a Context, config: &'a Value, name: &str) -> Option<&'a str> {
    config
        .get(name)
        .as_str()
        .or_else(|| ctx.provider_config().get(name).as_str())
}

fn missing(name: &str) -> Diagnostic {
    Diagnostic::error(
        format!("No {name}"),
        format!("Set `{name}` here or in the provider block (e.g. from an ephemeral vixens_talos_client_config)."),
    )
    .at(AttributePath::attr(name))
}

/// The etcd members from the first of `endpoints` that answers.
async fn etcd_members(
    talos: &TalosContext,
    endpoints: &[String],
) -> Result<Vec<EtcdMember>, Diagnostic> {
    let security = Security::Secure {
        ca_crt: talos.ca_crt.clone(),
        client: talos.client.clone(),
    };
    let mut failures = Vec::new();
    for address in endpoints {
        let result = match TalosClient::connect(address, &security, TIMEOUT) {
            Ok(client) => client.etcd_member_list().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(members) => return Ok(members),
            Err(e) => failures.push(e.to_string()),
        }
    }
    Err(Diagnostic::error(
        "Cannot read the etcd members",
        if failures.is_empty() {
            "No Talos endpoint to ask: set `endpoints` or give a talosconfig with endpoints."
                .to_string()
        } else {
            failures.join("; ")
        },
    ))
}

fn result(config: &Value, members: &[EtcdMember], health: &ClusterHealth) -> Value {
    let mut voting: Vec<String> = members
        .iter()
        .filter(|m| !m.is_learner)
        .map(|m| m.hostname.clone())
        .collect();
    let mut learners: Vec<String> = members
        .iter()
        .filter(|m| m.is_learner)
        .map(|m| m.hostname.clone())
        .collect();
    voting.extend(learners.iter().cloned());
    voting.sort();
    learners.sort();
    let ready = health.nodes.iter().filter(|n| n.ready).count();
    let control_planes = health.nodes.iter().filter(|n| n.control_plane).count();
    let healthy = !health.nodes.is_empty()
        && ready == health.nodes.len()
        && learners.is_empty()
        && members.len() == control_planes;
    let nodes = health
        .nodes
        .iter()
        .map(|n| {
            Value::object([
                ("name", Value::from(n.name.as_str())),
                ("ready", Value::from(n.ready)),
                ("kubelet_version", Value::from(n.kubelet_version.as_str())),
                ("control_plane", Value::from(n.control_plane)),
            ])
        })
        .collect();
    let mut out = config.clone();
    out.set("etcd_members", Value::string_list(voting));
    out.set("etcd_learners", Value::string_list(learners));
    out.set("nodes", Value::List(nodes));
    out.set(
        "ready_nodes",
        Value::from(i64::try_from(ready).unwrap_or(i64::MAX)),
    );
    out.set("kubernetes_version", health.version.as_str());
    out.set("healthy", healthy);
    out
}

#[async_trait]
impl DataSource for ClusterHealthSource {
    fn type_name(&self) -> &'static str {
        "vixens_cluster_health"
    }

    fn schema(&self) -> Schema {
        schema()
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        if let Some(text) = config.get("talosconfig").as_str() {
            if let Err(e) = parse_talosconfig(text) {
                diags.error_at(AttributePath::attr("talosconfig"), "Invalid talosconfig", e);
            }
        }
    }

    async fn read(&self, ctx: &Context, config: &Value) -> Result<Value, Diagnostics> {
        let talosconfig =
            setting(ctx, config, "talosconfig").ok_or_else(|| missing("talosconfig"))?;
        let kubeconfig = setting(ctx, config, "kubeconfig").ok_or_else(|| missing("kubeconfig"))?;
        let talos = parse_talosconfig(talosconfig).map_err(|e| {
            Diagnostic::error("Invalid talosconfig", e).at(AttributePath::attr("talosconfig"))
        })?;
        let endpoints: Vec<String> = match config.get("endpoints").as_list() {
            Some(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            None => talos.endpoints.clone(),
        };
        let members = ctx
            .run("reading the etcd members", etcd_members(&talos, &endpoints))
            .await??;
        let kube = async {
            let client = Connection::Kubeconfig(kubeconfig.to_string())
                .connect(TIMEOUT)
                .await?;
            cluster_health(&client).await
        };
        let health = ctx
            .run("reading the Nodes", kube)
            .await?
            .map_err(|e| Diagnostic::error("Cannot read the cluster's Nodes", e.to_string()))?;
        let out = result(config, &members, &health);
        tracing::info!(
            etcd_members = members.len(),
            nodes = health.nodes.len(),
            ready = out.get("ready_nodes").as_i64().unwrap_or(0),
            healthy = out.get("healthy").as_bool().unwrap_or(false),
            "read cluster health"
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::health::NodeHealth;

    fn node(name: &str, ready: bool, cp: bool) -> NodeHealth {
        NodeHealth {
            name: name.into(),
            ready,
            kubelet_version: "v1.34.1".into(),
            control_plane: cp,
        }
    }

    fn member(name: &str, learner: bool) -> EtcdMember {
        EtcdMember {
            id: 1,
            hostname: name.into(),
            peer_urls: Vec::new(),
            is_learner: learner,
        }
    }

    #[test]
    fn healthy_needs_every_node_ready_and_one_voting_member_per_control_plane() {
        let health = ClusterHealth {
            version: "v1.34.1".into(),
            nodes: vec![node("cp1", true, true), node("w1", true, false)],
        };
        let v = result(&Value::Null, &[member("cp1", false)], &health);
        assert_eq!(v.get("healthy").as_bool(), Some(true));
        assert_eq!(v.get("ready_nodes").as_i64(), Some(2));
        let v = result(&Value::Null, &[member("cp1", true)], &health);
        assert_eq!(v.get("healthy").as_bool(), Some(false));
        assert_eq!(v.get("etcd_learners"), &Value::string_list(["cp1"]));
        let sick = ClusterHealth {
            nodes: vec![node("cp1", false, true)],
            ..health
        };
        let v = result(&Value::Null, &[member("cp1", false)], &sick);
        assert_eq!(v.get("healthy").as_bool(), Some(false));
    }
}
