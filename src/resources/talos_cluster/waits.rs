//! Waits on nodes that name the cause they saw when they end at the deadline (issue 16 item 8): a node back in
//! maintenance mode after taking its config, a node that answers at another address its config gives it, a node
//! that never answered; and the wait for the Kubernetes API at the cluster endpoint (a VIP that does not come up
//! is named with its host).

use std::future::Future;
use std::time::Duration;

use super::apply::KUBE_API_PORT;
use super::model::{Model, NodeModel};
use super::outputs::KubeAccess;
use crate::framework::{Context, Diagnostic, Diagnostics};
use crate::k8s::{ClusterCredentials, Connection};
use crate::talos::client::{split_address, ClientError};
use crate::talos::ops::Credentials;
use crate::talos::watch::{NodeWatch, Sighting};

/// How long the explanation of a timed-out wait may probe the other addresses of a node.
const MOVED_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs `fut` (a wait on `node` that records what it sees in `watch`) under the operation's deadline. A wait that
/// times out gets, after the deadline's own message, what the watch saw and, for a node that went silent, the
/// other address of its config it now answers at.
///
/// # Errors
/// The deadline's or the cancellation's diagnostic.
pub(crate) async fn on_node<T>(
    ctx: &Context,
    what: &str,
    node: &NodeModel,
    creds: Option<&Credentials>,
    watch: &NodeWatch,
    fut: impl Future<Output = T>,
) -> Result<T, Diagnostic> {
    match ctx.run(what, fut).await {
        Err(mut d) if d.summary.starts_with("Timed out") => {
            if let Some(cause) = explain(node, creds, watch).await {
                d.detail = format!("{} {cause}", d.detail);
            }
            Err(d)
        }
        other => other,
    }
}

/// What a timed-out wait on `node` saw, in a sentence or two.
pub(crate) async fn explain(
    node: &NodeModel,
    creds: Option<&Credentials>,
    watch: &NodeWatch,
) -> Option<String> {
    let cause = watch.cause();
    let silent = matches!(watch.last(), Some(Sighting::Silent(_)) | None);
    let moved = match creds {
        Some(creds) if silent => answers_elsewhere(node, creds).await,
        _ => None,
    };
    match (cause, moved) {
        (cause, Some(other)) => Some(format!(
            "{}The node answers this cluster's Talos API at {other}, an address its config gives it, not at its \
             `address` {}: its maintenance-mode address (DHCP) is not the one it runs with. Set the node's \
             `address` to {other}.",
            cause.map(|c| format!("{c} ")).unwrap_or_default(),
            node.address
        )),
        (cause, None) => cause,
    }
}

/// The first static address of `node`'s config (links and VLANs, other than its `address`) at which a node answers
/// the secure API with this cluster's credentials, probed in parallel within [`MOVED_PROBE_TIMEOUT`].
async fn answers_elsewhere(node: &NodeModel, creds: &Credentials) -> Option<String> {
    let (host, port) = split_address(&node.address).ok()?;
    let candidates: Vec<String> = node
        .spec
        .network
        .links
        .iter()
        .flat_map(|l| {
            l.addresses
                .iter()
                .chain(l.vlans.iter().flat_map(|v| v.addresses.iter()))
        })
        .filter_map(|cidr| cidr.split('/').next())
        .filter(|ip| *ip != host)
        .map(|ip| {
            if ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                format!("{ip}:{port}")
            }
        })
        .collect();
    let probes = candidates.iter().map(|address| async move {
        let client = creds.client(address).ok()?;
        let answer = tokio::time::timeout(MOVED_PROBE_TIMEOUT, client.version()).await;
        matches!(answer, Ok(Ok(_))).then(|| address.clone())
    });
    futures::future::join_all(probes)
        .await
        .into_iter()
        .flatten()
        .next()
}

/// The message of a node wait that ended with an error of its own: the error, and for a node given up
/// ([`ClientError::NoAnswer`]) what to check.
pub(crate) fn node_error(node: &NodeModel, e: &ClientError) -> String {
    match e {
        ClientError::NoAnswer { .. } => format!(
            "{e}. Check the node's `address` ({}): is the machine on, booted from the Talos image and reachable \
             from here on port 50000? The window for a node that never answers is `unreachable_timeout`.",
            node.address
        ),
        _ => e.to_string(),
    }
}

/// Waits until the Kubernetes API answers at the cluster `endpoint` when its host is not the first control
/// plane's own address (a VIP or a name): downstream resources reach the cluster there. The error names the host
/// and what it saw (connection refused, no answer, a certificate that does not fit).
///
/// # Errors
/// A diagnostic naming the endpoint, its host and the cause.
pub(crate) async fn wait_endpoint(
    ctx: &Context,
    m: &Model,
    first: &NodeModel,
    kube: &KubeAccess,
) -> Result<(), Diagnostics> {
    let endpoint = m.cluster.endpoint.trim_end_matches('/');
    let first_host = split_address(&first.address).map(|(h, _)| h).ok();
    let endpoint_host = crate::talos::config::endpoint_host(endpoint);
    if endpoint_host.is_none() || endpoint_host == first_host {
        return Ok(()); // the first control plane's own API was waited for already
    }
    let connection = Connection::Credentials(ClusterCredentials {
        host: endpoint.to_string(),
        ca_certificate: kube.ca.clone(),
        client_certificate: kube.admin.crt.clone(),
        client_key: kube.admin.key.clone(),
    });
    let vip = m
        .control_planes()
        .iter()
        .flat_map(|n| n.spec.network.links.iter())
        .flat_map(|l| l.vlans.iter())
        .find_map(|v| v.vip.clone());
    let hint = match vip {
        Some(vip) if endpoint_host.as_deref() == Some(vip.as_str()) => format!(
            " {vip} is the control planes' VIP: a control plane takes it once etcd runs, on the VLAN that carries \
             `vip`; check that this machine reaches that VLAN and that no other host holds the address."
        ),
        _ => format!(
            " The Kubernetes API answers on {} itself (port {KUBE_API_PORT}): the endpoint's host must lead to a \
             control plane.",
            first.name
        ),
    };
    let budget = ctx.remaining().unwrap_or(Duration::from_secs(600));
    let what = format!("waiting for the Kubernetes API at the endpoint {endpoint}");
    match ctx.run(&what, connection.connect(budget)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Diagnostic::error(
            "The Kubernetes API does not answer at the cluster endpoint",
            format!("{endpoint}: {e}.{hint}"),
        )
        .into()),
        Err(mut d) => {
            d.detail = format!("{}{hint}", d.detail);
            Err(d.into())
        }
    }
}
