//! Trust on first contact. Talos maintenance mode has no server authentication (the node serves a self-signed
//! certificate; talosctl connects with `--insecure`), and the machine config carries the cluster's CA keys. A node
//! that took this cluster's config and now answers in maintenance mode is a reset or reinstalled machine, or
//! another machine on its address: the config is sent again only when the user consents for that node
//! (`reinstall = true`). `cert_fingerprint` pins the certificate the node must present
//! ([`crate::talos::client::tls::SpkiFingerprint`]).

use std::collections::BTreeMap;

use super::model::Model;
use super::state::NodeStatus;
use crate::cty::AttributePath;
use crate::framework::{Diagnostic, Diagnostics};

/// Nodes the state knows as configured (a config hash recorded) that were last seen in maintenance mode, without
/// `reinstall`: `(name, address)`.
fn unconsented<'a>(m: &'a Model, status: &BTreeMap<String, NodeStatus>) -> Vec<(&'a str, &'a str)> {
    m.nodes
        .values()
        .filter(|n| !n.reinstall)
        .filter(|n| {
            status
                .get(&n.name)
                .is_some_and(|s| s.stage == "maintenance" && !s.config_hash.is_empty())
        })
        .map(|n| (n.name.as_str(), n.address.as_str()))
        .collect()
}

fn refusal(name: &str, address: &str) -> Diagnostic {
    Diagnostic::error(
        format!("Node {name:?} was configured and now answers in maintenance mode"),
        format!(
            "The state knows node {name:?} ({address}) as running this cluster's machine config, but it now answers \
             in maintenance mode: it was reset or reinstalled, or another machine answers on its address. \
             Maintenance mode does not authenticate the node, and the machine config carries the cluster's CA \
             keys, so it is not sent without your consent. Check the machine (its console shows its certificate \
             fingerprint), then set reinstall = true on this node (and cert_fingerprint to pin that certificate), \
             or remove the node from the configuration."
        ),
    )
}

/// The refusal, at plan, for every such node, each at its `nodes` block (`index` gives a node's position).
pub(crate) fn check_plan(
    m: &Model,
    status: &BTreeMap<String, NodeStatus>,
    index: impl Fn(&str) -> Option<usize>,
) -> Result<(), Diagnostics> {
    let mut diags = Diagnostics::new();
    for (name, address) in unconsented(m, status) {
        let at = match index(name) {
            Some(i) => AttributePath::attr("nodes").join_index(i),
            None => AttributePath::attr("nodes"),
        };
        diags.push(refusal(name, address).at(at));
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(())
    }
}

/// The same refusal at apply (the state may have changed since the plan); `None` when every node may proceed.
pub(crate) fn refuse_unconsented(
    m: &Model,
    status: &BTreeMap<String, NodeStatus>,
) -> Option<Diagnostics> {
    let found = unconsented(m, status);
    if found.is_empty() {
        return None;
    }
    let mut diags = Diagnostics::new();
    for (name, address) in found {
        diags.push(refusal(name, address));
    }
    Some(diags)
}
