//! The cluster work of `vixens_cilium`: the desired objects, connecting, applying in dependency order, waiting,
//! drift and deletion. Errors come back as diagnostics; nothing here logs a secret.

use std::time::Duration;

use kube::api::DynamicObject;
use serde::{Deserialize, Serialize};

use super::settings::Settings;
use crate::framework::Diagnostic;
use crate::k8s::apply::{Applier, ApplyOptions};
use crate::k8s::connection::error_chain;
use crate::k8s::inventory::{self, Inventory, ObjectRef, Propagation};
use crate::k8s::wait;
use crate::manifests::cilium::certs::{self, CertKeyPair, HubbleCerts};
use crate::manifests::cilium::lb_ipam::{L2_POLICY_CRD, POOL_CRD};
use crate::manifests::cilium::{self, RenderError};
use crate::resources::k8s_outage::{self, Failure};

/// The Hubble certificates as stored in state (`hubble_tls`, sensitive JSON).
#[derive(Serialize, Deserialize)]
struct StoredCerts {
    ca_cert: String,
    ca_key: String,
    server_cert: String,
    server_key: String,
    relay_client_cert: String,
    relay_client_key: String,
}

/// Serializes certificates for state.
pub fn certs_to_json(c: &HubbleCerts) -> String {
    serde_json::to_string(&StoredCerts {
        ca_cert: c.ca.cert_pem.clone(),
        ca_key: c.ca.key_pem.clone(),
        server_cert: c.server.cert_pem.clone(),
        server_key: c.server.key_pem.clone(),
        relay_client_cert: c.relay_client.cert_pem.clone(),
        relay_client_key: c.relay_client.key_pem.clone(),
    })
    .unwrap_or_default()
}

/// Reads certificates from state; `None` when absent or unreadable (they are then regenerated).
pub fn certs_from_json(text: Option<&str>) -> Option<HubbleCerts> {
    let s: StoredCerts = serde_json::from_str(text?).ok()?;
    Some(HubbleCerts {
        ca: CertKeyPair {
            cert_pem: s.ca_cert,
            key_pem: s.ca_key,
        },
        server: CertKeyPair {
            cert_pem: s.server_cert,
            key_pem: s.server_key,
        },
        relay_client: CertKeyPair {
            cert_pem: s.relay_client_cert,
            key_pem: s.relay_client_key,
        },
    })
}

/// Certificates to use: kept from `prior` unless they must be renewed (see [`certs::ensure`]).
pub fn ensure_certs(
    prior: Option<&str>,
    cluster_name: &str,
) -> Result<(HubbleCerts, bool), Diagnostic> {
    certs::ensure(
        certs_from_json(prior).as_ref(),
        cluster_name,
        time::OffsetDateTime::now_utc(),
    )
    .map_err(|e| Diagnostic::error("Cannot generate the Hubble certificates", e.to_string()))
}

/// Placeholder certificates: rendering only embeds them, so object identities can be computed at plan time.
fn placeholder_certs() -> HubbleCerts {
    let empty = CertKeyPair {
        cert_pem: String::new(),
        key_pem: String::new(),
    };
    HubbleCerts {
        ca: empty.clone(),
        server: empty.clone(),
        relay_client: empty,
    }
}

/// What the resource applies: the chart objects, then (once their CRDs exist) pools and the L2 policy.
pub struct Desired {
    /// Chart objects in install order.
    pub chart: Vec<DynamicObject>,
    /// `CiliumLoadBalancerIPPool`s then the `CiliumL2AnnouncementPolicy`.
    pub lb: Vec<DynamicObject>,
}

impl Desired {
    /// The inventory of everything desired.
    pub fn inventory(&self) -> Result<Inventory, Diagnostic> {
        let all: Vec<DynamicObject> = self.chart.iter().chain(&self.lb).cloned().collect();
        Inventory::of_objects(&all).map_err(|e| Diagnostic::error("Invalid object", e.to_string()))
    }
}

fn render_error(e: RenderError) -> Diagnostic {
    match e {
        RenderError::Invalid(errs) => {
            let first = errs
                .first()
                .map(super::settings::attribute_path)
                .unwrap_or_default();
            Diagnostic::error(
                "Invalid Cilium settings",
                RenderError::Invalid(errs).to_string(),
            )
            .at(first)
        }
        other => Diagnostic::error("Cannot render the Cilium objects", other.to_string()),
    }
}

/// Renders every desired object; `certs` may be `None` only to compute identities (see [`desired_inventory`]).
pub fn desired(s: &Settings, certs: Option<&HubbleCerts>) -> Result<Desired, Diagnostic> {
    let placeholder = placeholder_certs();
    let certs = certs.or(Some(&placeholder));
    let chart = cilium::render(&s.values, certs)
        .map_err(render_error)?
        .iter()
        .map(|o| o.object.to_dynamic())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Diagnostic::error("Cannot serialize a Cilium object", e.to_string()))?;
    let lb = cilium::render_lb_ipam(&s.values, &s.pools, s.policy.as_ref());
    Ok(Desired { chart, lb })
}

/// The SHA-256 of the `cilium-config` data the settings render (see [`cilium::rollout`]); the certificates do not
/// enter it.
pub fn config_digest(s: &Settings) -> Result<String, Diagnostic> {
    let placeholder = placeholder_certs();
    let objects = cilium::render(&s.values, Some(&placeholder)).map_err(render_error)?;
    Ok(cilium::rollout::cilium_config_digest(&objects).unwrap_or_default())
}

/// The inventory the settings lead to (certificates do not change object identities).
pub fn desired_inventory(s: &Settings) -> Result<Inventory, Diagnostic> {
    desired(s, None)?.inventory()
}

/// A diagnostic for a Kubernetes failure while doing `what`.
pub fn k8s_error(what: &str, e: &crate::k8s::Error) -> Diagnostic {
    Diagnostic::error(format!("Failed {what}"), error_chain(e))
}

/// Connects to the API server, retrying while it is not up, for at most `timeout` (see
/// [`k8s_outage::connect`]).
pub async fn connect(s: &Settings, timeout: Duration) -> Result<Applier, Failure> {
    k8s_outage::connect(&s.connection, timeout, false).await
}

/// Applies the chart objects (forcing conflicts, dependency order), waits until the operator has registered the
/// CRDs the LB objects need, then applies pools and the policy. `applied` receives what was applied, also on
/// failure.
pub async fn apply(
    applier: &Applier,
    d: &Desired,
    timeout: Duration,
    applied: &mut Vec<ObjectRef>,
) -> Result<(), Diagnostic> {
    let options = ApplyOptions {
        force: true,
        crd_timeout: timeout,
        concurrency: 8,
    };
    applier
        .apply_all(&d.chart, options, applied)
        .await
        .map_err(|e| k8s_error("applying the Cilium objects", &e))?;
    if d.lb.is_empty() {
        return Ok(());
    }
    let mut crds: Vec<String> = Vec::new();
    for o in &d.lb {
        let crd = match o.types.as_ref().map(|t| t.kind.as_str()) {
            Some("CiliumLoadBalancerIPPool") => POOL_CRD,
            _ => L2_POLICY_CRD,
        };
        if !crds.iter().any(|c| c == crd) {
            crds.push(crd.to_string());
        }
    }
    tracing::info!(crds = ?crds, "waiting for cilium-operator to register the LB IPAM CRDs");
    wait::crds_established(applier.client(), &crds, timeout)
        .await
        .map_err(|e| {
            k8s_error(
                "waiting for the LB IPAM CRDs (is cilium-operator running?)",
                &e,
            )
        })?;
    for o in &d.lb {
        applier
            .apply(o, true)
            .await
            .map_err(|e| k8s_error("applying LB IPAM objects", &e))?;
        applied.push(
            ObjectRef::of(o).map_err(|e| Diagnostic::error("Invalid object", e.to_string()))?,
        );
    }
    Ok(())
}

/// Waits for the CNI (the agent and Envoy DaemonSets), then for each Deployment (the operator, Hubble relay and
/// UI) that some Node can run ([`crate::k8s::schedule`]), then for every Node to be Ready, all within `timeout`.
/// A Deployment no Node can run (e.g. hubble-relay on a cluster of tainted control planes) is not waited for: it
/// comes back as a warning naming what keeps it off each Node.
pub async fn wait_ready(
    applier: &Applier,
    inventory: &Inventory,
    timeout: Duration,
) -> Result<Vec<Diagnostic>, Diagnostic> {
    let started = std::time::Instant::now();
    let left = || timeout.saturating_sub(started.elapsed());
    let (daemons, others): (Vec<ObjectRef>, Vec<ObjectRef>) = inventory
        .iter()
        .cloned()
        .partition(|r| r.kind == "DaemonSet");
    wait::rolled_out(applier.client(), &daemons, timeout)
        .await
        .map_err(|e| k8s_error("waiting for the Cilium agents", &e))?;
    let mut runnable = Vec::new();
    let mut warnings = Vec::new();
    for r in others {
        if wait::rollout_check(&r.kind).is_none() {
            continue;
        }
        let reading = |e: crate::k8s::Error| k8s_error(&format!("reading {r}"), &e);
        let spec = inventory::read_live(applier, &r)
            .await
            .map_err(reading)?
            .and_then(|o| serde_json::from_value(o.data["spec"]["template"]["spec"].clone()).ok());
        let Some(spec) = spec else {
            runnable.push(r);
            continue;
        };
        let nowhere = applier
            .request("list Nodes", || {
                crate::k8s::schedule::nowhere(applier.client(), &spec)
            })
            .await
            .map_err(|e| k8s_error("listing Nodes", &e))?;
        match nowhere {
            None => runnable.push(r),
            Some(why) => {
                tracing::warn!(workload = %r, reason = %why, "no Node can run it: not waited for");
                warnings.push(unschedulable_warning(&r, &why));
            }
        }
    }
    wait::rolled_out(applier.client(), &runnable, left())
        .await
        .map_err(|e| k8s_error("waiting for the Cilium rollouts", &e))?;
    wait::nodes_ready(applier.client(), 1, left())
        .await
        .map_err(|e| k8s_error("waiting for every Node to be Ready", &e))?;
    Ok(warnings)
}

/// The warning for a Deployment no Node can run.
fn unschedulable_warning(r: &ObjectRef, why: &str) -> Diagnostic {
    Diagnostic::warning(
        format!("{} cannot be scheduled: not waited for", r.name),
        format!(
            "No Node of the cluster can run the pods of {r} ({why}), so it stays Pending and the apply does not wait \
             for it. It starts by itself once a Node that can run it joins: add a worker, or set \
             `allow_scheduling_on_control_planes = true` on vixens_talos_cluster. Cilium itself (agent, Envoy, \
             operator) does not need it."
        ),
    )
}

/// Deletes owned objects no longer desired.
pub async fn prune(applier: &Applier, stale: &[ObjectRef]) -> Result<(), Diagnostic> {
    if stale.is_empty() {
        return Ok(());
    }
    tracing::info!(objects = stale.len(), "deleting objects no longer wanted");
    inventory::delete_objects(applier, stale, Propagation::Background)
        .await
        .map(|_| ())
        .map_err(|e| k8s_error("deleting objects no longer wanted", &e))
}

/// Deletes every owned object (workloads and custom resources first, the namespace last); `done` receives each
/// one that no longer exists, also when a later one fails.
pub async fn delete_all(
    applier: &Applier,
    owned: &Inventory,
    done: &mut Vec<ObjectRef>,
) -> Result<(), Failure> {
    let refs: Vec<ObjectRef> = owned.iter().cloned().collect();
    inventory::delete_objects_into(
        applier,
        &refs,
        Propagation::Background,
        done,
        &mut Vec::new(),
    )
    .await
    .map_err(|e| Failure::k8s("deleting the Cilium objects", &e))
}

/// Drift of every desired object: `"<object>: missing"` or `"<object>: <json path>"`. Secret values never appear,
/// only paths. Returns also how many desired objects still exist.
pub async fn drift(applier: &Applier, d: &Desired) -> Result<(Vec<String>, usize), Failure> {
    let mut out = Vec::new();
    let mut present = 0;
    for o in d.chart.iter().chain(&d.lb) {
        let r = ObjectRef::of(o).map_err(|e| Diagnostic::error("Invalid object", e.to_string()))?;
        let live = inventory::read_live(applier, &r)
            .await
            .map_err(|e| Failure::k8s("reading owned objects", &e))?;
        match live {
            None => out.push(format!("{r}: missing")),
            Some(live) => {
                present += 1;
                let sent = serde_json::to_value(o).unwrap_or_default();
                let live = serde_json::to_value(&live).unwrap_or_default();
                out.extend(
                    inventory::drift(&sent, &live)
                        .into_iter()
                        .map(|p| format!("{r}: {p}")),
                );
            }
        }
    }
    Ok((out, present))
}
