//! A snapshot of a cluster's health as `kubectl get nodes` and `kubectl version` show it: every Node with its
//! `Ready` condition, kubelet version and role, and the API server's version.

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use kube::Client;

use super::wait::node_ready;
use super::{Error, Result};

/// The control-plane role label Kubernetes sets (`node-role.kubernetes.io/control-plane`, kubeadm and Talos).
pub const CONTROL_PLANE_LABEL: &str = "node-role.kubernetes.io/control-plane";

/// One Node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeHealth {
    /// Node name.
    pub name: String,
    /// Its `Ready` condition is `True`.
    pub ready: bool,
    /// `status.nodeInfo.kubeletVersion`, e.g. `v1.34.1`.
    pub kubelet_version: String,
    /// Carries the control-plane role label.
    pub control_plane: bool,
}

/// The cluster as seen from its API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterHealth {
    /// The API server's `gitVersion` (`/version`), e.g. `v1.34.1`.
    pub version: String,
    /// Every Node, sorted by name.
    pub nodes: Vec<NodeHealth>,
}

/// Reads the API server version and lists the Nodes.
///
/// # Errors
/// [`Error::Api`] when a call fails.
pub async fn cluster_health(client: &Client) -> Result<ClusterHealth> {
    let version = client
        .apiserver_version()
        .await
        .map_err(|e| Error::api("get", "/version", e))?
        .git_version;
    let api: Api<Node> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::api("list", "Nodes", e))?;
    let mut nodes: Vec<NodeHealth> = list
        .items
        .iter()
        .map(|n| NodeHealth {
            name: n.metadata.name.clone().unwrap_or_default(),
            ready: node_ready(&serde_json::to_value(n).unwrap_or_default()),
            kubelet_version: n
                .status
                .as_ref()
                .and_then(|s| s.node_info.as_ref())
                .map(|i| i.kubelet_version.clone())
                .unwrap_or_default(),
            control_plane: n
                .metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(CONTROL_PLANE_LABEL)),
        })
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ClusterHealth { version, nodes })
}
