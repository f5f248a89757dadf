//! The first plan after `terraform import` (the state holds only the id and the secrets): the configuration is
//! rendered with the imported secrets, so the plan shows the machine configs the nodes should run, and each node
//! is probed to say what the apply will do to it. The apply adopts a node that runs this cluster as it is
//! ([`super::apply`]); only nodes in maintenance mode take their config.

use super::model::model;
use crate::cty::{AttributePath, Value};
use crate::framework::{Context, Diagnostic, Diagnostics, PlannedChange};
use crate::talos::ops::{self, Credentials, Stage};
use crate::talos::secrets::SecretsBundle;
use futures::future::join_all;

/// Computed attributes the adopting apply reads from the nodes or mints (client certificates).
const FROM_APPLY: [&str; 5] = [
    "node_status",
    "etcd_members",
    "talosconfig",
    "kubeconfig",
    "kubernetes",
];

/// Plans the adoption of an imported cluster: `id` and `machine_secrets` stay, `machine_configurations` is
/// rendered now when the configuration is wholly known, and a warning lists the nodes the apply will not simply
/// adopt (in maintenance mode, running another config, or unreachable).
///
/// # Errors
/// When the imported secrets do not parse or a machine config cannot be rendered.
pub async fn plan(ctx: &Context, change: &mut PlannedChange) -> Result<(), Diagnostics> {
    for name in FROM_APPLY {
        change.set_unknown(&AttributePath::attr(name));
    }
    change.set_unknown(&AttributePath::attr("machine_configurations"));
    let nodes_known = change.planned.get("nodes").is_wholly_known();
    let inputs_known = super::plan::inputs(&change.planned).is_wholly_known();
    let Some(secrets_yaml) = change.prior.get("machine_secrets").as_str() else {
        return Ok(());
    };
    let secrets = SecretsBundle::from_yaml(secrets_yaml).map_err(|e| {
        Diagnostics::from(Diagnostic::error(
            "The imported machine secrets do not parse",
            e.to_string(),
        ))
    })?;
    if !(nodes_known && inputs_known) {
        return Ok(()); // rendered by the apply, once every value is known
    }
    let m = model(&change.planned);
    let configs = super::apply::render_all(&m, &secrets)?;
    change.planned.set(
        "machine_configurations",
        Value::map(
            configs
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.clone()))),
        ),
    );
    let Ok(creds) = Credentials::from_secrets(&secrets) else {
        return Ok(());
    };
    let probes = m.nodes.values().map(|n| {
        let creds = &creds;
        let rendered = configs.get(&n.name).map(|c| ops::config_hash(c));
        async move {
            let note = match ops::probe(&n.address, creds).await {
                Stage::Running { .. } => match creds.client(&n.address) {
                    Ok(client) => match client.machine_config().await {
                        Ok(Some(yaml)) if Some(ops::config_hash(&yaml)) == rendered => None,
                        Ok(_) => Some(
                            "runs this cluster with a machine config other than the one this configuration \
                             renders: it is adopted as it runs, and the next plan shows the difference as drift"
                                .to_string(),
                        ),
                        Err(e) => Some(format!(
                            "runs this cluster; its machine config cannot be read ({e}): it is adopted as it runs"
                        )),
                    },
                    Err(e) => Some(format!("bad address: {e}")),
                },
                Stage::Maintenance { .. } => Some(
                    "is in maintenance mode: the apply applies its machine config and it joins".to_string(),
                ),
                Stage::Unreachable { reason } => Some(format!(
                    "does not answer with the imported secrets ({reason}): the apply waits for it, then applies \
                     its machine config in maintenance mode"
                )),
            };
            note.map(|note| format!("- {:?} ({}) {note}", n.name, n.address))
        }
    });
    let notes: Vec<String> = join_all(probes).await.into_iter().flatten().collect();
    if !notes.is_empty() {
        ctx.warn(Diagnostic::warning(
            "Not every node runs the imported cluster as configured",
            format!(
                "The apply adopts the nodes that run this cluster with the rendered machine config and leaves \
                 them as they are. The others:\n{}",
                notes.join("\n")
            ),
        ));
    }
    Ok(())
}
