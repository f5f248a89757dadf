//! Read: refresh each node's reachability, stage, version, the hash of the machine config it runs (read back
//! from the node, so a config changed behind Terraform's back shows as drift in the next plan) and the etcd
//! members; nothing is re-minted. An unreachable node gives a warning and keeps its entry.

use super::model::model;
use super::state;
use crate::cty::Value;
use crate::framework::{Context, Diagnostic, Diagnostics};
use crate::talos::client::{ApplyMode, ClientError};
use crate::talos::ops::{self, Credentials, Stage};
use crate::talos::secrets::SecretsBundle;
use futures::future::join_all;

/// Refreshes `state` from the nodes.
pub async fn read(ctx: &Context, state: &Value) -> Result<Option<Value>, Diagnostics> {
    super::resume::remember(state);
    let m = model(state);
    let Some(secrets_yaml) = state.get("machine_secrets").as_str() else {
        return Ok(Some(state.clone()));
    };
    let secrets = SecretsBundle::from_yaml(secrets_yaml).map_err(|e| {
        Diagnostics::from(Diagnostic::error(
            "The stored machine secrets do not parse",
            e.to_string(),
        ))
    })?;
    let mut new_state = state.clone();
    // The id is the cluster id of the secrets (states written before it was named the cluster).
    new_state.set("id", secrets.cluster_id.clone());
    if m.nodes.is_empty() {
        return Ok(Some(new_state)); // just imported: nodes come with the configuration
    }
    let creds = Credentials::from_secrets(&secrets).map_err(|e| {
        Diagnostics::from(Diagnostic::error(
            "Cannot mint the Talos client certificate",
            e.to_string(),
        ))
    })?;
    let mut status = state::status(state);
    // A staged config is not in effect until the next reboot: the node keeps reporting the previous one.
    let read_config = m.apply_mode != ApplyMode::Staged;
    let probes = m.nodes.values().map(|n| {
        let creds = &creds;
        async move {
            let stage = ops::probe(&n.address, creds).await;
            let config = match (&stage, read_config) {
                (Stage::Running { .. }, true) => Some(running_config(&n.address, creds).await),
                _ => None,
            };
            (n.name.clone(), stage, config)
        }
    });
    for (name, stage, config) in join_all(probes).await {
        let entry = status.entry(name.clone()).or_default();
        // A node that took its config in an interrupted apply and does not answer yet is still booting as far as
        // anyone knows (installing, rebooting): the next apply waits for it without an answer window.
        let still_booting = entry.stage == "booting" && matches!(stage, Stage::Unreachable { .. });
        if !still_booting {
            entry.stage = stage.name().to_string();
        }
        match config {
            Some(Ok(Some(yaml))) => entry.config_hash = ops::config_hash(&yaml),
            Some(Ok(None)) => entry.config_hash.clear(),
            Some(Err(e)) => ctx.warn(Diagnostic::warning(
                format!("Cannot read the machine config of node {name:?}"),
                format!("{e}. Config drift on this node is not detected."),
            )),
            None => {}
        }
        match stage {
            Stage::Maintenance { version } => {
                // No config in effect; the hash of the one applied stays, so the plan knows the node was
                // configured (see super::trust).
                entry.reachable = true;
                entry.talos_version = version;
            }
            Stage::Running { version } => {
                entry.reachable = true;
                entry.talos_version = version;
            }
            Stage::Unreachable { reason } => {
                entry.reachable = false;
                ctx.warn(Diagnostic::warning(
                    format!("Node {name:?} is unreachable"),
                    reason,
                ));
            }
        }
    }
    let first_running = m
        .control_planes()
        .into_iter()
        .find(|n| status.get(&n.name).is_some_and(|s| s.stage == "running"));
    // A value the refresh cannot read is not reported as current: with every control plane in maintenance mode
    // there is no etcd (an empty list); unread otherwise, it is null (unknown) with a warning. The apply asks the
    // nodes before bootstrapping, not this value.
    let read_members = match first_running {
        Some(cp) => match creds.client(&cp.address) {
            Ok(client) => client.etcd_member_list().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        None => Err("no control plane answers the secure API".to_string()),
    };
    let all_cps_in_maintenance = m.control_planes().iter().all(|n| {
        status
            .get(&n.name)
            .is_some_and(|s| s.stage == "maintenance")
    });
    match read_members {
        Ok(members) => {
            let mut names: Vec<String> = members.into_iter().map(|m| m.hostname).collect();
            names.sort();
            new_state.set("etcd_members", Value::string_list(names));
        }
        Err(_) if all_cps_in_maintenance => {
            new_state.set("etcd_members", Value::string_list(Vec::<String>::new()))
        }
        Err(reason) => {
            ctx.warn(Diagnostic::warning(
                "Cannot read the etcd members",
                format!("{reason}. etcd_members is unknown until a control plane answers."),
            ));
            new_state.set("etcd_members", Value::Null);
        }
    }
    state::set_status(&mut new_state, &status);
    Ok(Some(new_state))
}

/// The machine config a running node reports (COSI MachineConfig).
async fn running_config(address: &str, creds: &Credentials) -> Result<Option<String>, ClientError> {
    creds.client(address)?.machine_config().await
}
