//! Nodes that do not answer (issue 15 item 7): the answer window of an apply (`unreachable_timeout`), and the
//! plan-time check of the nodes that take their first config (does it answer? in maintenance mode, or in secure
//! mode with this cluster's certificate? which Talos release will parse its config?).
//!
//! The plan-time check connects to the nodes (in parallel, [`PLAN_PROBE_TIMEOUT`] each) unless the provider
//! setting `check_nodes_at_plan` (or its default, the environment variable
//! [`crate::provider::CHECK_NODES_AT_PLAN_ENV`]) turns it off, as a CI plan without the hardware needs; off, a plan
//! uses only what the refresh recorded and connects to nothing.

use std::time::Duration;

use super::model::{model, node_entries, NodeModel};
use super::state::{self, NodeStatus};
use crate::cty::{AttributePath, Value};
use crate::framework::schema::parse_duration;
use crate::framework::{Context, Diagnostic, Diagnostics, PlannedChange};
use crate::talos::contract::{release_contract, Contract};
use crate::talos::ops::{self, Credentials};
use crate::talos::secrets::SecretsBundle;

/// The attribute holding the answer window.
pub const ATTRIBUTE: &str = "unreachable_timeout";

/// Default answer window: how long an apply waits for a node that has not answered at all.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(2 * 60);

/// How long a plan waits for a node's first answer.
pub const PLAN_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The answer window of a configuration or state value (`unreachable_timeout`, default [`DEFAULT_WINDOW`]).
pub(crate) fn window(value: &Value) -> Duration {
    value
        .get(ATTRIBUTE)
        .as_str()
        .and_then(|s| parse_duration(s).ok())
        .unwrap_or(DEFAULT_WINDOW)
}

/// Checks `unreachable_timeout` (a Go duration, more than zero).
pub(crate) fn validate(config: &Value, diags: &mut Diagnostics) {
    let Some(text) = config.get(ATTRIBUTE).as_str() else {
        return;
    };
    match parse_duration(text) {
        Ok(d) if !d.is_zero() => {}
        Ok(_) => diags.error_at(
            AttributePath::attr(ATTRIBUTE),
            "Invalid timeout",
            "unreachable_timeout must be more than zero.",
        ),
        Err(e) => diags.error_at(AttributePath::attr(ATTRIBUTE), "Invalid timeout", e),
    }
}

/// What a node said to its first contact.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Contact {
    /// Maintenance mode, with the Talos version when it told.
    Maintenance(Option<String>),
    /// Secure mode with this cluster's credentials.
    Secure,
    /// It answers TLS but refuses both a client without certificate and this cluster's (another cluster's node).
    Foreign(String),
    /// No answer (the error).
    Silent(String),
}

async fn contact(address: &str, creds: Option<&Credentials>) -> Contact {
    tracing::debug!(node = address, "plan: checking the node");
    let attempt = async {
        let maintenance = match ops::maintenance_version(address).await {
            Ok(version) => return Contact::Maintenance(version),
            Err(e) => e,
        };
        if let Some(client) = creds.and_then(|c| c.client(address).ok()) {
            if client.version().await.is_ok() {
                return Contact::Secure;
            }
        }
        if maintenance.is_unreachable() && !maintenance.is_auth_failure() {
            Contact::Silent(maintenance.to_string())
        } else {
            Contact::Foreign(maintenance.to_string())
        }
    };
    tokio::time::timeout(PLAN_PROBE_TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| {
            Contact::Silent(format!(
                "no answer within {}s",
                PLAN_PROBE_TIMEOUT.as_secs()
            ))
        })
}

/// Checks the nodes that take their first config in this plan: each must answer (in maintenance mode, or already
/// with this cluster's certificate), and a node in maintenance mode must run a Talos release that parses the
/// config contract (a node parses its first config with the release it booted: a Talos 1.11 node does not register
/// the 1.12 network documents, pkg/machinery/config/internal/registry/registry.go@v1.11.6). A node the state knows
/// in maintenance mode is judged from the refresh; the others are asked, unless `check_nodes_at_plan` is off.
///
/// A create checks every node except those a resumed failed create configured (they run this cluster); an update
/// the nodes that are new, or in maintenance mode, or never took a config.
///
/// # Errors
/// One diagnostic per node that does not answer (at its `address`) or runs too old a release (at
/// `talos_version`).
pub(crate) async fn check_new_nodes(
    ctx: &Context,
    change: &PlannedChange,
) -> Result<(), Diagnostics> {
    if !change.planned.get("nodes").is_wholly_known()
        || !change.planned.get("talos_version").is_known()
    {
        return Ok(());
    }
    let probe = crate::provider::check_nodes_at_plan(ctx.provider_config());
    let new = model(&change.planned);
    let contract = new.cluster.contract;
    let (status, creds) = if change.is_create() {
        let resumed = super::resume::find(&change.planned);
        (super::resume::status_of(resumed.as_ref()), None)
    } else {
        let creds = change
            .prior
            .get("machine_secrets")
            .as_str()
            .and_then(|y| SecretsBundle::from_yaml(y).ok())
            .and_then(|s| Credentials::from_secrets(&s).ok());
        (state::status(&change.prior), creds)
    };
    let entries = node_entries(change.planned.get("nodes"));
    let index = |name: &str| entries.as_ref().and_then(|e| e.get(name)).map(|(i, _)| *i);
    let checks = new.nodes.values().filter_map(|n| {
        let known = status.get(&n.name);
        let first_config = if change.is_create() {
            known.is_none_or(|s| s.config_hash.is_empty())
        } else {
            known.is_none_or(|s| s.stage == "maintenance" || s.config_hash.is_empty())
        };
        if !first_config {
            return None;
        }
        let recorded = recorded_contact(known);
        let creds = creds.as_ref();
        Some(async move {
            let asked = recorded.is_none() && probe;
            let seen = match recorded {
                Some(c) => Some(c),
                None if probe => Some(contact(&n.address, creds).await),
                None => None,
            };
            let disks = match seen {
                Some(Contact::Maintenance(_)) if asked => maintenance_disks(&n.address).await,
                _ => None,
            };
            (n, seen, disks)
        })
    });
    let mut diags = Diagnostics::new();
    for (node, seen, disks) in futures::future::join_all(checks).await {
        if let (Some(disks), Some(i)) = (disks, index(&node.name)) {
            if let Some(d) = missing_install_disk(node, &disks, i) {
                diags.push(d);
            }
        }
        match seen {
            Some(Contact::Silent(cause)) => diags.push(silent(node, &cause, index(&node.name))),
            Some(Contact::Foreign(cause)) => diags.push(foreign(node, &cause, index(&node.name))),
            Some(Contact::Maintenance(Some(version))) => {
                if let Some(d) = too_old(node, &version, contract) {
                    diags.push(d);
                }
            }
            Some(Contact::Maintenance(None) | Contact::Secure) | None => {}
        }
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(())
    }
}

/// What the refresh recorded of a node the state knows in maintenance mode (`None`: ask the node).
/// The device paths of the disks a node in maintenance mode reports (COSI `Disks.block.talos.dev`, readable
/// without credentials in maintenance mode); `None` when it does not tell within the plan's probe time.
async fn maintenance_disks(address: &str) -> Option<Vec<String>> {
    let attempt = async {
        let client = crate::talos::client::TalosClient::connect(
            address,
            &crate::talos::client::Security::Maintenance,
            PLAN_PROBE_TIMEOUT,
        )
        .ok()?;
        let disks = client.disks_resources().await.ok()?;
        Some(disks.into_iter().map(|d| d.dev_path).collect::<Vec<_>>())
    };
    tokio::time::timeout(PLAN_PROBE_TIMEOUT, attempt)
        .await
        .ok()
        .flatten()
        .filter(|d| !d.is_empty())
}

/// An error at `install_disk` when it names a device (`/dev/<name>`) the node does not have. Stable names
/// (`/dev/disk/by-id/...`) are symlinks the Disk resources do not list: not judged here.
fn missing_install_disk(node: &NodeModel, disks: &[String], index: usize) -> Option<Diagnostic> {
    let wanted = node.spec.install_disk.as_str();
    if !wanted.starts_with("/dev/")
        || wanted.starts_with("/dev/disk/")
        || disks.iter().any(|d| d == wanted)
    {
        return None;
    }
    Some(
        Diagnostic::error(
            "Install disk not found",
            format!(
                "Node {:?} has no disk {wanted} (its disks: {}). Set install_disk to one of them (the \
                 vixens_talos_disks data source lists them with size and model).",
                node.name,
                disks.join(", ")
            ),
        )
        .at(super::validate::node_path(index).join_attr("install_disk")),
    )
}

fn recorded_contact(known: Option<&NodeStatus>) -> Option<Contact> {
    let s = known.filter(|s| s.stage == "maintenance")?;
    Some(Contact::Maintenance(
        (!s.talos_version.is_empty()).then(|| s.talos_version.clone()),
    ))
}

fn address_path(index: Option<usize>) -> AttributePath {
    match index {
        Some(i) => AttributePath::attr("nodes")
            .join_index(i)
            .join_attr("address"),
        None => AttributePath::attr("nodes"),
    }
}

const PLAN_WITHOUT_NODES: &str = "To plan without reaching the nodes (a CI plan without the hardware), set \
     `check_nodes_at_plan = false` in the `provider \"vixens\"` block or VIXENS_CHECK_NODES_AT_PLAN=false.";

fn silent(node: &NodeModel, cause: &str, index: Option<usize>) -> Diagnostic {
    Diagnostic::error(
        format!("Node {:?} does not answer", node.name),
        format!(
            "Node {:?} at {} does not answer the Talos API: {cause}. Check its `address` and that the machine is \
             on and booted from a Talos image (maintenance mode listens on port 50000); the apply would wait for \
             it. {PLAN_WITHOUT_NODES}",
            node.name, node.address
        ),
    )
    .at(address_path(index))
}

fn foreign(node: &NodeModel, cause: &str, index: Option<usize>) -> Diagnostic {
    Diagnostic::error(
        format!("Node {:?} is not in maintenance mode", node.name),
        format!(
            "Node {:?} at {} answers, but neither in maintenance mode nor with this cluster's certificate: it runs \
             another cluster's config (secure mode) and cannot take this one ({cause}). Check its `address`, or \
             reset the machine to maintenance mode (`talosctl reset` with that cluster's talosconfig, or boot it \
             from the Talos ISO with a wiped disk). {PLAN_WITHOUT_NODES}",
            node.name, node.address
        ),
    )
    .at(address_path(index))
}

fn too_old(node: &NodeModel, version: &str, contract: Contract) -> Option<Diagnostic> {
    let release = release_contract(version).filter(|c| *c < contract)?;
    let name = &node.name;
    Some(
        Diagnostic::error(
            format!("Node {name:?} runs a Talos older than the config contract"),
            format!(
                "Node {name:?} is in maintenance mode on Talos {version}, which parses its first machine config \
                 itself, but talos_version renders the Talos {contract} contract, whose documents Talos {release} \
                 does not know. Set talos_version = \"{release}\", or boot the node from a Talos {contract} (or \
                 later) image."
            ),
        )
        .at(AttributePath::attr("talos_version")),
    )
}

/// Node statuses by name, for tests.
#[cfg(test)]
pub(crate) fn statuses(
    pairs: &[(&str, &str, &str)],
) -> std::collections::BTreeMap<String, NodeStatus> {
    pairs
        .iter()
        .map(|(name, stage, hash)| {
            (
                name.to_string(),
                NodeStatus {
                    stage: stage.to_string(),
                    config_hash: hash.to_string(),
                    ..NodeStatus::default()
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_defaults_and_validates() {
        assert_eq!(window(&Value::Null), DEFAULT_WINDOW);
        let v = Value::object([(ATTRIBUTE, Value::from("90s"))]);
        assert_eq!(window(&v), Duration::from_secs(90));
        for bad in ["soon", "0s"] {
            let mut diags = Diagnostics::new();
            validate(&Value::object([(ATTRIBUTE, Value::from(bad))]), &mut diags);
            assert!(diags.has_errors(), "{bad}");
        }
    }

    #[test]
    fn only_maintenance_entries_are_judged_from_the_state() {
        let s = statuses(&[("a", "maintenance", ""), ("b", "running", "h")]);
        assert_eq!(
            recorded_contact(s.get("a")),
            Some(Contact::Maintenance(None))
        );
        assert_eq!(recorded_contact(s.get("b")), None);
        assert_eq!(recorded_contact(None), None);
    }

    #[tokio::test]
    async fn a_closed_port_is_silent_quickly() {
        let port = std::net::TcpListener::bind("127.0.231.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = std::time::Instant::now();
        match contact(&format!("127.0.231.1:{port}"), None).await {
            Contact::Silent(cause) => assert!(cause.contains("refused"), "{cause}"),
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < PLAN_PROBE_TIMEOUT);
    }
}
