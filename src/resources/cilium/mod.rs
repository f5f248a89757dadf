//! `vixens_cilium`: Cilium as the CNI of a Talos cluster, with Hubble and LB IPAM / L2 announcements (issue 5).
//! See [`schema`] for the attributes.
//!
//! Lifecycle:
//! - **plan**: validation with attribute paths; the inventory is computed from the settings when they are known;
//!   Hubble certificates are kept, or planned unknown when they must be (re)generated. No cluster contact.
//! - **create / update**: render, connect (retrying), server-side apply in dependency order, wait for the LB
//!   IPAM CRDs, apply pools and policy, delete objects no longer wanted, wait for the agents, then for the
//!   Deployments some Node can run (a warning names the others, e.g. hubble-relay on tainted control planes),
//!   then for every Node Ready ([`ops::wait_ready`]).
//! - **read**: drift of every owned object into `drift` (the next plan repairs it); gone when nothing owned is left.
//!   An empty inventory (a create that never reached the API server) is read without contacting the cluster. An
//!   API that cannot be reached within `timeouts.read` keeps the prior state, with a warning ([`k8s_outage`]).
//! - **delete**: exactly the inventory; with nothing owned, the cluster is not contacted. An API that cannot be
//!   reached within `timeouts.read` ends the delete with a warning naming the objects left.
//! - **plan** also refuses a version change Cilium does not support in place (an older minor, or skipping a
//!   minor) and warns when `kubernetes_version` is outside the chosen release's tested range.
//! - **a failed create** is continued by the next apply, not deleted and installed again
//!   ([`crate::resources::k8s_resume`]): the replacement Terraform plans for the tainted object keeps its objects
//!   and Hubble certificates and converges from its inventory.
//!
//! With `lb_ipam_hand_off`, the pools and the L2 policy are applied on create and then only when their settings
//! change; read reports no drift on them and delete leaves them (GitOps owns them).

pub mod ops;
pub mod pool_subnets;
pub mod schema;
pub mod settings;

use std::time::Duration;

use async_trait::async_trait;

use crate::cty::Value;
use crate::framework::{
    ApplyError, Context, Diagnostic, Diagnostics, PlannedChange, Resource, Schema,
};
use crate::k8s::inventory::Inventory;
use crate::manifests::cilium::version::{
    check_transition, CiliumVersion, DEFAULT_VERSION, LEGACY_DEFAULT_VERSION,
};
use crate::resources::k8s_outage::{self, Failure};
use crate::resources::k8s_resume;
use settings::Settings;

/// The resource.
#[derive(Debug, Default)]
pub struct Cilium;

/// The Terraform type name.
const TYPE_NAME: &str = "vixens_cilium";

/// Attributes that decide which objects exist.
const INVENTORY_INPUTS: [&str; 5] = [
    "namespace",
    "version",
    "hubble",
    "load_balancer_ip_pools",
    "l2_policy",
];

/// Attributes that decide the `cilium-config` data (and so `config_digest`).
const CONFIG_INPUTS: [&str; 13] = [
    "version",
    "namespace",
    "cluster_name",
    "cluster_id",
    "kube_proxy_replacement",
    "k8s_service_host",
    "k8s_service_port",
    "ipam_mode",
    "routing_mode",
    "ipv4_native_routing_cidr",
    "hubble",
    "l2_announcements",
    "extra_config",
];

/// Attributes that define the LB IPAM objects (pools and the L2 announcement policy).
const LB_IPAM_INPUTS: [&str; 2] = ["load_balancer_ip_pools", "l2_policy"];

/// Whether `r` is an LB IPAM object: a `CiliumLoadBalancerIPPool` or the `CiliumL2AnnouncementPolicy`.
fn is_lb_ipam(r: &crate::k8s::inventory::ObjectRef) -> bool {
    r.kind == "CiliumLoadBalancerIPPool" || r.kind == "CiliumL2AnnouncementPolicy"
}

/// Whether an update must apply the LB IPAM objects: always when this resource owns them, else (handed off to
/// GitOps) only when their settings changed.
fn must_apply_lb_ipam(s: &Settings, prior: &Value, planned: &Value) -> bool {
    !s.lb_hand_off
        || LB_IPAM_INPUTS
            .iter()
            .any(|a| prior.get(a) != planned.get(a))
}

fn remaining(ctx: &Context) -> Duration {
    ctx.remaining().unwrap_or(Duration::from_secs(600))
}

fn fail(d: impl Into<Diagnostics>, state: &Value) -> ApplyError {
    ApplyError::new(d).with_state(state.clone())
}

fn inventory_of(state: &Value) -> Result<Inventory, Diagnostic> {
    Inventory::from_json(state.get("inventory").as_str().unwrap_or(""))
        .map_err(|e| Diagnostic::error("Invalid inventory in state", e.to_string()))
}

fn hubble_enabled(v: &Value) -> bool {
    v.get("hubble").get("enabled").as_bool().unwrap_or(true)
}

/// The version a state runs: `installed_version`, else (states written before it existed) `version`, else the
/// default of those provider versions, [`LEGACY_DEFAULT_VERSION`].
fn installed_version(prior: &Value) -> String {
    prior
        .get("installed_version")
        .as_str()
        .or(prior.get("version").as_str())
        .unwrap_or(LEGACY_DEFAULT_VERSION)
        .to_string()
}

/// Refuses, at plan, a version change Cilium does not support in place: an older minor, or more than one minor
/// up (see [`check_transition`]). The error is at `version`.
fn check_version_change(prior: &Value, config: &Value) -> Result<(), Diagnostics> {
    let version = config.get("version");
    if prior.is_null() || !version.is_known() {
        return Ok(());
    }
    let to = version.as_str().unwrap_or(DEFAULT_VERSION);
    let from = installed_version(prior);
    let (Ok(from), Ok(to)) = (CiliumVersion::parse(&from), CiliumVersion::parse(to)) else {
        return Ok(());
    };
    check_transition(from, to).map_err(|reason| {
        let mut d = Diagnostics::new();
        d.error_at(
            crate::cty::AttributePath::attr("version"),
            "Unsupported Cilium version change",
            reason,
        );
        d
    })
}

/// Certificates for `planned`: those planned (kept from state), else renewed or generated. `None` when Hubble is
/// off.
fn certs_for(
    prior: &Value,
    planned: &Value,
    s: &Settings,
) -> Result<Option<cilium_certs::HubbleCerts>, Diagnostic> {
    if !s.values.hubble.enabled {
        return Ok(None);
    }
    if let Some(c) = ops::certs_from_json(planned.get("hubble_tls").as_str()) {
        return Ok(Some(c));
    }
    ops::ensure_certs(prior.get("hubble_tls").as_str(), &s.values.cluster_name)
        .map(|(c, _)| Some(c))
}

use crate::manifests::cilium::certs as cilium_certs;

fn set_certs(state: &mut Value, certs: &Option<cilium_certs::HubbleCerts>) {
    match certs {
        Some(c) => {
            state.set("hubble_tls", ops::certs_to_json(c));
            state.set("hubble_ca_certificate", c.ca.cert_pem.as_str());
        }
        None => {
            state.set("hubble_tls", Value::Null);
            state.set("hubble_ca_certificate", Value::Null);
        }
    }
}

impl Cilium {
    /// Renders, applies (the LB IPAM objects only when `apply_lb`), prunes what `previous` owned and is no longer
    /// wanted, and waits. Records what exists in `state` as it goes.
    async fn converge(
        &self,
        ctx: &Context,
        s: &Settings,
        certs: &Option<cilium_certs::HubbleCerts>,
        state: &mut Value,
        previous: &Inventory,
        apply_lb: bool,
    ) -> Result<(), ApplyError> {
        let mut desired = ops::desired(s, certs.as_ref()).map_err(|d| fail(d, state))?;
        let wanted = desired.inventory().map_err(|d| fail(d, state))?;
        if !apply_lb {
            tracing::info!(
                "LB IPAM objects are handed off to GitOps and unchanged: not re-applied"
            );
            desired.lb.clear();
        }
        let applier = ctx
            .run(
                "connecting to the Kubernetes API",
                ops::connect(s, remaining(ctx)),
            )
            .await
            .and_then(|r| r.map_err(Diagnostic::from))
            .map_err(|d| fail(d, state))?;
        let mut applied = Vec::new();
        let result = ctx
            .run(
                "applying the Cilium objects",
                ops::apply(&applier, &desired, remaining(ctx), &mut applied),
            )
            .await
            .and_then(|r| r);
        let mut owned = previous.clone();
        owned.extend(applied);
        state.set("inventory", owned.to_json());
        result.map_err(|d| fail(d, state))?;
        let stale = previous.stale(&wanted);
        ctx.run(
            "deleting objects no longer wanted",
            ops::prune(&applier, &stale),
        )
        .await
        .and_then(|r| r)
        .map_err(|d| fail(d, state))?;
        state.set("inventory", wanted.to_json());
        if s.wait {
            let warnings = ctx
                .run(
                    "waiting for Cilium and every Node to be Ready",
                    ops::wait_ready(&applier, &wanted, remaining(ctx)),
                )
                .await
                .and_then(|r| r)
                .map_err(|d| fail(d, state))?;
            for w in warnings {
                ctx.warn(w);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for Cilium {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        settings::validate(config, diags);
    }

    async fn modify_plan(
        &self,
        ctx: &Context,
        change: &mut PlannedChange,
    ) -> Result<(), Diagnostics> {
        // Terraform 0.15 validates only at `terraform validate`, when module variables are still unknown; 1.0
        // validates again at plan with them known. Checking here gives both the same errors.
        let mut invalid = Diagnostics::new();
        settings::validate(&change.config, &mut invalid);
        if invalid.has_errors() {
            return Err(invalid);
        }
        let config = change.config.clone();
        // A create replacing an install a failed create left continues it: its certificates are kept like a
        // prior's.
        let resumed = if change.prior.is_null() {
            k8s_resume::plan_resume(ctx, TYPE_NAME, &config)
        } else {
            None
        };
        if resumed.is_some() {
            ctx.warn(Diagnostic::warning(
                "Continuing an incomplete Cilium install",
                "A previous apply failed before this install finished. Terraform plans to replace it, but its \
                 objects are kept and updated in place, not deleted and installed again.",
            ));
        }
        let prior = resumed.unwrap_or_else(|| change.prior.clone());
        check_version_change(&change.prior, &config)?;
        let planned = &mut change.planned;
        let version = config.get("version");
        planned.set(
            "installed_version",
            if version.is_known() {
                Value::from(version.as_str().unwrap_or(DEFAULT_VERSION))
            } else {
                Value::Unknown
            },
        );
        planned.set("drift", Value::List(Vec::new()));
        let namespace = config.get("namespace");
        planned.set(
            "id",
            if namespace.is_known() {
                Value::from(namespace.as_str().unwrap_or(schema::DEFAULT_NAMESPACE))
            } else {
                Value::Unknown
            },
        );
        // The inventory follows from the settings alone.
        let inputs_known = INVENTORY_INPUTS
            .iter()
            .all(|a| config.get(a).is_wholly_known());
        let inventory = if inputs_known {
            let s = Settings {
                connection: crate::k8s::Connection::Kubeconfig(String::new()),
                values: settings::values(&config),
                pools: settings::pools(&config),
                policy: settings::policy(&config),
                wait: true,
                lb_hand_off: false,
            };
            ops::desired_inventory(&s)
                .map(|i| Value::from(i.to_json()))
                .unwrap_or(Value::Unknown)
        } else {
            Value::Unknown
        };
        planned.set("inventory", inventory);
        // The digest that rolls the agents and the operator: known when every setting it depends on is.
        let digest = if CONFIG_INPUTS
            .iter()
            .all(|a| config.get(a).is_wholly_known())
        {
            let s = Settings {
                connection: crate::k8s::Connection::Kubeconfig(String::new()),
                values: settings::values(&config),
                pools: Vec::new(),
                policy: None,
                wait: true,
                lb_hand_off: false,
            };
            ops::config_digest(&s)
                .map(Value::from)
                .unwrap_or(Value::Unknown)
        } else {
            Value::Unknown
        };
        planned.set("config_digest", digest);
        // Hubble certificates: kept while valid for the cluster name, else generated at apply.
        let hubble = config.get("hubble").get("enabled");
        if hubble.is_known() && !hubble_enabled(&config) {
            planned.set("hubble_tls", Value::Null);
            planned.set("hubble_ca_certificate", Value::Null);
        } else {
            let cluster = config.get("cluster_name");
            let keep = hubble.is_known()
                && cluster.is_known()
                && prior.get("hubble_tls").as_str().is_some()
                && ops::ensure_certs(
                    prior.get("hubble_tls").as_str(),
                    cluster.as_str().unwrap_or("default"),
                )
                .map(|(_, changed)| !changed)
                .unwrap_or(false);
            if keep {
                planned.set("hubble_tls", prior.get("hubble_tls").clone());
                planned.set(
                    "hubble_ca_certificate",
                    prior.get("hubble_ca_certificate").clone(),
                );
            } else {
                planned.set("hubble_tls", Value::Unknown);
                planned.set("hubble_ca_certificate", Value::Unknown);
            }
        }
        Ok(())
    }

    async fn create(&self, ctx: &Context, planned: &Value) -> Result<Value, ApplyError> {
        let s = Settings::from_value(planned)?;
        let resumed = k8s_resume::resumed(ctx, TYPE_NAME, planned);
        let previous = match &resumed {
            Some(r) => inventory_of(r)?,
            None => Inventory::default(),
        };
        let certs = certs_for(resumed.as_ref().unwrap_or(&Value::Null), planned, &s)?;
        let mut state = planned.clone();
        state.set("id", s.values.namespace.as_str());
        state.set("inventory", "[]");
        state.set("drift", Value::List(Vec::new()));
        state.set("config_digest", ops::config_digest(&s)?);
        state.set("installed_version", s.values.version.as_str());
        set_certs(&mut state, &certs);
        if resumed.is_some() {
            tracing::info!(version = %s.values.version, objects = previous.len(), "continuing the Cilium install a failed apply left");
        } else {
            tracing::info!(version = %s.values.version, namespace = %s.values.namespace, "installing Cilium");
        }
        let result = self
            .converge(ctx, &s, &certs, &mut state, &previous, true)
            .await;
        match result {
            Ok(()) => k8s_resume::complete(ctx),
            Err(e) => {
                k8s_resume::incomplete(ctx);
                return Err(e);
            }
        }
        Ok(state)
    }

    async fn read(&self, ctx: &Context, state: &Value) -> Result<Option<Value>, Diagnostics> {
        k8s_resume::remember_if_incomplete(ctx, TYPE_NAME, state);
        if inventory_of(state)?.is_empty() {
            // A create that never reached the API server (e.g. the cluster was not up) owns nothing: nothing to
            // read, and the cluster may not even exist, so it is not contacted.
            tracing::info!("no Cilium object owned: not contacting the cluster");
            return Ok(Some(state.clone()));
        }
        let s = Settings::from_value(state)?;
        let certs = if s.values.hubble.enabled {
            ops::certs_from_json(state.get("hubble_tls").as_str())
        } else {
            None
        };
        let mut desired = ops::desired(&s, certs.as_ref())?;
        if s.lb_hand_off {
            // GitOps owns them now: their changes are not drift.
            desired.lb.clear();
        }
        let bound = k8s_outage::reach_bound(ctx, state, &schema::TIMEOUTS);
        let read = k8s_outage::read_within(ctx, "reading the Cilium objects", bound, async {
            let applier = k8s_outage::connect(&s.connection, bound, true).await?;
            ops::drift(&applier, &desired).await
        })
        .await;
        let (drift, present) = match read {
            Ok(found) => found,
            Err(Failure::Unreachable(reason)) => {
                tracing::warn!(reason = %reason, "Kubernetes API unreachable: keeping the prior state");
                ctx.warn(k8s_outage::kept_state(TYPE_NAME, &reason));
                return Ok(Some(state.clone()));
            }
            Err(Failure::Failed(d)) => return Err(d.into()),
        };
        if present == 0 {
            tracing::info!(namespace = %s.values.namespace, "no Cilium object owned is left");
            return Ok(None);
        }
        if !drift.is_empty() {
            tracing::info!(changes = drift.len(), "owned Cilium objects drifted");
        }
        let mut new = state.clone();
        new.set("drift", Value::string_list(drift));
        Ok(Some(new))
    }

    async fn update(
        &self,
        ctx: &Context,
        prior: &Value,
        planned: &Value,
    ) -> Result<Value, ApplyError> {
        let s = Settings::from_value(planned)?;
        let certs = certs_for(prior, planned, &s)?;
        let previous = inventory_of(prior).map_err(|d| fail(d, prior))?;
        let mut state = planned.clone();
        state.set("drift", Value::List(Vec::new()));
        state.set("id", s.values.namespace.as_str());
        set_certs(&mut state, &certs);
        state.set(
            "config_digest",
            ops::config_digest(&s).map_err(|d| fail(d, prior))?,
        );
        state.set("installed_version", s.values.version.as_str());
        if !state.get("inventory").is_known() {
            state.set("inventory", prior.get("inventory").clone());
        }
        tracing::info!(version = %s.values.version, "updating Cilium");
        let apply_lb = must_apply_lb_ipam(&s, prior, planned);
        self.converge(ctx, &s, &certs, &mut state, &previous, apply_lb)
            .await?;
        Ok(state)
    }

    async fn delete(&self, ctx: &Context, state: &Value) -> Result<(), ApplyError> {
        if k8s_resume::delete_resumes(ctx, TYPE_NAME, state) {
            tracing::info!("replacing an incomplete install: its objects stay for the create that continues it");
            return Ok(());
        }
        let s = Settings::from_value(state)?;
        let mut owned = inventory_of(state)?;
        if s.lb_hand_off {
            // Left to GitOps, which owns them.
            owned = Inventory::new(owned.iter().filter(|r| !is_lb_ipam(r)).cloned());
        }
        if owned.is_empty() {
            tracing::info!(
                "no Cilium object owned: nothing to delete, the cluster is not contacted"
            );
            return Ok(());
        }
        let bound = k8s_outage::reach_bound(ctx, state, &schema::TIMEOUTS);
        let mut done = Vec::new();
        let deleted = ctx
            .run("deleting the Cilium objects", async {
                let applier = k8s_outage::connect(&s.connection, bound, true).await?;
                ops::delete_all(&applier, &owned, &mut done).await
            })
            .await?;
        match deleted {
            Ok(()) => Ok(()),
            Err(Failure::Unreachable(reason)) => {
                let left: Vec<_> = owned
                    .iter()
                    .filter(|r| !done.contains(r))
                    .cloned()
                    .collect();
                tracing::warn!(reason = %reason, left = left.len(), "Kubernetes API unreachable: objects left");
                ctx.warn(k8s_outage::not_deleted(TYPE_NAME, &reason, &left));
                Ok(())
            }
            Err(Failure::Failed(d)) => Err(d.into()),
        }
    }
}

#[cfg(test)]
mod tests;
