//! `vixens_argocd_bootstrap`: Argo CD installed from its release manifest and handed to Git through a root
//! App-of-Apps (issue 6). See [`schema`] for the attributes and the hand-off pattern.
//!
//! Lifecycle:
//! - **create**: load and verify the manifest (no cluster contact yet), connect, server-side apply the install
//!   (forced; CRDs first), wait for the workloads, apply the settings keys (`argocd-cm` ones included), the
//!   bootstrap Secrets, the repository Secret and the root Application, wait for Synced/Healthy.
//! - **plan** ([`plan`]): the sha256 the install must have is known for every source (pin, shipped official
//!   digest, file read at plan, inline text); the install is re-applied exactly when it changes.
//! - **update**: re-apply the install and prune only when its sha256 changes; otherwise apply only the owned
//!   objects whose desired content changed or that drifted.
//! - **read**: drift of the owned objects into `drift`, install health into `install_health`; a deleted namespace
//!   means the resource is gone. An API that cannot be reached within `timeouts.read` keeps the prior state, with
//!   a warning ([`k8s_outage`]).
//! - **delete**: root Application (cascade or orphan), then, unless `keep_on_destroy`, the repository Secret and
//!   the install objects (namespace last). With `keep_on_destroy` only the root Application goes. An API that
//!   cannot be reached within `timeouts.read` ends the delete with a warning naming the objects left.
//! - **a failed create** is continued by the next apply, not deleted and installed again
//!   ([`crate::resources::k8s_resume`]): the replacement converges from the objects it left.

pub mod bootstrap_inputs;
mod cache;
pub mod ops;
pub mod plan;
mod release_check;
pub mod schema;
pub mod settings;
mod upgrade;
pub mod write_only;

use std::time::Duration;

use async_trait::async_trait;

use crate::cty::{AttributePath, Value};
use crate::framework::{
    ApplyError, Context, Diagnostic, Diagnostics, PlannedChange, RawState, Resource, Schema,
};
use crate::k8s::inventory::{Inventory, ObjectRef};
use crate::manifests::argocd::objects::{hash_admin_password, now_rfc3339};
use crate::resources::k8s_outage::{self, Failure};
use crate::resources::k8s_resume;
use plan::install_changed;
use settings::Settings;

/// The resource.
#[derive(Debug, Default)]
pub struct ArgocdBootstrap;

/// What identifies the install: kept from the prior state when a re-install fails, so the next plan tries again.
const INSTALL_INPUTS: [&str; 6] = [
    "version",
    "ha",
    "install_manifest_url",
    "install_manifest_file",
    "install_manifest",
    "install_manifest_sha256",
];

/// The Terraform type name.
const TYPE_NAME: &str = "vixens_argocd_bootstrap";

fn remaining(ctx: &Context) -> Duration {
    ctx.remaining().unwrap_or(Duration::from_secs(600))
}

/// The admin password hash and mtime for `planned`: kept from `prior` when the password did not change. `wo` is
/// the write-only `admin_password_wo` of the apply's configuration, which counts as changed only when
/// [`write_only::admin_changed`] says so.
fn admin_hash(
    prior: &Value,
    planned: &Value,
    wo: Option<String>,
) -> Result<Option<(String, String)>, Diagnostic> {
    let (password, same) = match (planned.get("admin_password").as_str(), wo.as_deref()) {
        (Some(stored), _) => (stored, prior.get("admin_password").as_str() == Some(stored)),
        (None, Some(wo)) => (wo, !write_only::admin_changed(prior, planned)),
        (None, None) => return Ok(None),
    };
    let kept = same
        .then(|| {
            Some((
                prior.get("admin_password_hash").as_str()?,
                prior.get("admin_password_mtime").as_str()?,
            ))
        })
        .flatten();
    if let Some((hash, mtime)) = kept {
        return Ok(Some((hash.to_string(), mtime.to_string())));
    }
    let hash = hash_admin_password(password).map_err(|e| {
        Diagnostic::error("Cannot hash the admin password", e.to_string())
            .at(AttributePath::attr("admin_password"))
    })?;
    Ok(Some((hash, now_rfc3339())))
}

fn set_admin(state: &mut Value, admin: &Option<(String, String)>) {
    match admin {
        Some((hash, mtime)) => {
            state.set("admin_password_hash", hash.as_str());
            state.set("admin_password_mtime", mtime.as_str());
        }
        None => {
            state.set("admin_password_hash", Value::Null);
            state.set("admin_password_mtime", Value::Null);
        }
    }
}

fn admin_ref(admin: &Option<(String, String)>) -> Option<(&str, &str)> {
    admin.as_ref().map(|(h, m)| (h.as_str(), m.as_str()))
}

/// Applies the write-only repository credentials of the apply's configuration, if it has any.
async fn apply_credentials(
    ctx: &Context,
    applier: &crate::k8s::apply::Applier,
    s: &Settings,
    state: &Value,
) -> Result<(), ApplyError> {
    let Some(credentials) = write_only::credentials(ctx.config()) else {
        return Ok(());
    };
    let object = write_only::credentials_object(s, &credentials).map_err(|d| fail(d, state))?;
    ctx.run(
        "applying the repository credentials",
        ops::apply_owned(applier, &[&object]),
    )
    .await
    .and_then(|r| r)
    .map_err(|d| fail(d, state))
}

fn inventory_of(state: &Value) -> Result<Inventory, Diagnostic> {
    Inventory::from_json(state.get("inventory").as_str().unwrap_or(""))
        .map_err(|e| Diagnostic::error("Invalid inventory in state", e.to_string()))
}

fn fail(d: impl Into<Diagnostics>, state: &Value) -> ApplyError {
    ApplyError::new(d).with_state(state.clone())
}

impl ArgocdBootstrap {
    /// Applies the install and records what exists in `state` as it goes. Returns the new inventory.
    async fn install(
        &self,
        ctx: &Context,
        applier: &crate::k8s::apply::Applier,
        install: &ops::Install,
        state: &mut Value,
        previous: &Inventory,
    ) -> Result<Inventory, ApplyError> {
        let mut applied = Vec::new();
        let result = ctx
            .run(
                "applying the Argo CD install",
                ops::apply_install(applier, install, remaining(ctx), &mut applied),
            )
            .await
            .and_then(|r| r);
        let mut inventory = previous.clone();
        inventory.extend(applied);
        state.set("inventory", inventory.to_json());
        if let Err(d) = result {
            return Err(fail(d, state));
        }
        let wanted = Inventory::new(install.objects.iter().map(|o| o.reference.clone()));
        let stale = previous.stale(&wanted);
        ctx.run("pruning old install objects", ops::prune(applier, &stale))
            .await
            .and_then(|r| r)
            .map_err(|d| fail(d, state))?;
        state.set("inventory", wanted.to_json());
        state.set("manifest_sha256", install.digest.as_str());
        ctx.run(
            "waiting for the Argo CD workloads",
            ops::wait_install(applier, &wanted, remaining(ctx)),
        )
        .await
        .and_then(|r| r)
        .map_err(|d| fail(d, state))?;
        state.set("install_health", "Healthy");
        Ok(wanted)
    }

    /// The cluster work of a create once connected: the install (pruning what `previous`, the inventory of an
    /// incomplete install it continues, owned and no longer wants), the root Application and repository, the
    /// wait. Records what exists in `state` as it goes.
    #[allow(clippy::too_many_arguments)]
    async fn finish_create(
        &self,
        ctx: &Context,
        applier: &crate::k8s::apply::Applier,
        s: &Settings,
        install: &ops::Install,
        state: &mut Value,
        previous: &Inventory,
        admin: &Option<(String, String)>,
    ) -> Result<(), ApplyError> {
        self.install(ctx, applier, install, state, previous).await?;
        let owned = ops::owned_objects(s, admin_ref(admin)).map_err(|d| fail(d, state))?;
        let all: Vec<&ops::Owned> = owned.iter().collect();
        ctx.run(
            "applying the root Application and repository",
            ops::apply_owned(applier, &all),
        )
        .await
        .and_then(|r| r)
        .map_err(|d| fail(d, state))?;
        apply_credentials(ctx, applier, s, state).await?;
        self.wait_root(ctx, applier, s, state).await
    }

    /// Waits for the root app when asked to.
    async fn wait_root(
        &self,
        ctx: &Context,
        applier: &crate::k8s::apply::Applier,
        s: &Settings,
        state: &Value,
    ) -> Result<(), ApplyError> {
        if !s.wait_for_sync {
            return Ok(());
        }
        let wait = crate::k8s::wait::application_ready(
            applier.client(),
            &s.namespace,
            &s.root.name,
            remaining(ctx),
        );
        ctx.run(
            "waiting for the root Application to be Synced and Healthy",
            wait,
        )
        .await
        .and_then(|r| r.map_err(|e| ops::k8s_error("waiting for the root Application", &e)))
        .map_err(|d| fail(d, state))
    }
}

#[async_trait]
impl Resource for ArgocdBootstrap {
    fn type_name(&self) -> &'static str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        settings::validate(config, diags);
        write_only::validate(config, diags);
    }

    async fn modify_plan(
        &self,
        ctx: &Context,
        change: &mut PlannedChange,
    ) -> Result<(), Diagnostics> {
        // Terraform 0.15 validates only at `terraform validate`, when module variables are still unknown; 1.0
        // validates again at plan with them known. Checking here gives both the same errors (an inline manifest
        // is parsed once: see `cache`).
        let mut invalid = Diagnostics::new();
        settings::validate(&change.config, &mut invalid);
        write_only::validate(&change.config, &mut invalid);
        if invalid.has_errors() {
            return Err(invalid);
        }
        plan::modify(ctx, change).await
    }

    async fn create(&self, ctx: &Context, planned: &Value) -> Result<Value, ApplyError> {
        let s = Settings::from_value(planned)?;
        let install = ctx
            .run(
                "loading the install manifest",
                ops::load_install(&s, remaining(ctx)),
            )
            .await??;
        let applier = ctx
            .run(
                "connecting to the Kubernetes API",
                ops::connect(&s, remaining(ctx)),
            )
            .await??;
        if s.ha {
            plan::check_ha_at_apply(ctx, &applier).await;
        }
        let mut state = planned.clone();
        state.set("id", s.namespace.as_str());
        state.set("manifest_sha256", install.digest.as_str());
        state.set("inventory", "[]");
        state.set("install_health", "Unknown");
        state.set("drift", Value::List(Vec::new()));
        let admin = admin_hash(
            &Value::Null,
            planned,
            write_only::admin_password(ctx.config()),
        )?;
        set_admin(&mut state, &admin);
        let previous = match k8s_resume::resumed(ctx, TYPE_NAME, planned) {
            Some(r) => {
                tracing::info!("continuing the Argo CD install a failed apply left");
                inventory_of(&r)?
            }
            None => Inventory::default(),
        };
        match self
            .finish_create(ctx, &applier, &s, &install, &mut state, &previous, &admin)
            .await
        {
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
        let s = Settings::from_value(state)?;
        let admin = match (
            state.get("admin_password_hash").as_str(),
            state.get("admin_password_mtime").as_str(),
        ) {
            (Some(h), Some(m)) => Some((h, m)),
            _ => None,
        };
        let owned = ops::owned_objects(&s, admin)?;
        let inventory = inventory_of(state)?;
        let bound = k8s_outage::reach_bound(ctx, state, &schema::TIMEOUTS);
        let read = k8s_outage::read_within(ctx, "reading the Argo CD objects", bound, async {
            let applier = k8s_outage::connect(&s.connection, bound, true).await?;
            if !ops::namespace_exists(&applier, &s.namespace).await? {
                return Ok(None);
            }
            let drift = ops::drift(&applier, &owned).await?;
            let health = ops::install_health(&applier, &inventory).await?;
            Ok(Some((drift, health)))
        })
        .await;
        let (drift, health) = match read {
            Ok(Some(found)) => found,
            Ok(None) => {
                tracing::info!(namespace = %s.namespace, "Argo CD namespace is gone");
                return Ok(None);
            }
            Err(Failure::Unreachable(reason)) => {
                tracing::warn!(reason = %reason, "Kubernetes API unreachable: keeping the prior state");
                ctx.warn(k8s_outage::kept_state(TYPE_NAME, &reason));
                return Ok(Some(state.clone()));
            }
            Err(Failure::Failed(d)) => return Err(d.into()),
        };
        if !drift.is_empty() {
            tracing::info!(changes = drift.len(), "owned Argo CD objects drifted");
        }
        let mut new = state.clone();
        new.set("drift", Value::string_list(drift));
        new.set("install_health", health);
        Ok(Some(new))
    }

    async fn update(
        &self,
        ctx: &Context,
        prior: &Value,
        planned: &Value,
    ) -> Result<Value, ApplyError> {
        let s = Settings::from_value(planned)?;
        let old = Settings::from_value(prior)?;
        let reinstall = install_changed(prior, planned);
        // Load and verify before touching the cluster.
        let install = if reinstall {
            Some(
                ctx.run(
                    "loading the install manifest",
                    ops::load_install(&s, remaining(ctx)),
                )
                .await??,
            )
        } else {
            None
        };
        let applier = ctx
            .run(
                "connecting to the Kubernetes API",
                ops::connect(&s, remaining(ctx)),
            )
            .await??;
        let mut state = planned.clone();
        state.set("drift", Value::List(Vec::new()));
        let old_admin = match (
            prior.get("admin_password_hash").as_str(),
            prior.get("admin_password_mtime").as_str(),
        ) {
            (Some(h), Some(m)) => Some((h.to_string(), m.to_string())),
            _ => None,
        };
        let admin = admin_hash(prior, planned, write_only::admin_password(ctx.config()))?;
        set_admin(&mut state, &admin);
        for a in ["inventory", "manifest_sha256", "install_health"] {
            if !state.get(a).is_known() {
                state.set(a, prior.get(a).clone());
            }
        }
        if let Some(install) = &install {
            tracing::info!(from = %old.version, to = %s.version, "re-applying the Argo CD install");
            if s.ha {
                plan::check_ha_at_apply(ctx, &applier).await;
            }
            let previous = inventory_of(prior).map_err(|d| fail(d, prior))?;
            if let Err(e) = self
                .install(ctx, &applier, install, &mut state, &previous)
                .await
            {
                // Not installed as planned: the state keeps the objects applied so far (inventory) but the prior
                // install inputs and digest, so the next plan tries the install again.
                let mut kept = e.state.clone().unwrap_or_else(|| state.clone());
                for a in INSTALL_INPUTS
                    .iter()
                    .chain(&["manifest_sha256", "install_health"])
                {
                    kept.set(*a, prior.get(a).clone());
                }
                return Err(e.with_state(kept));
            }
        }
        let wanted = ops::owned_objects(&s, admin_ref(&admin)).map_err(|d| fail(d, &state))?;
        let before =
            ops::owned_objects(&old, admin_ref(&old_admin)).map_err(|d| fail(d, &state))?;
        let drifted = |r: &ObjectRef| {
            let prefix = format!("{r}:");
            prior
                .get("drift")
                .as_list()
                .unwrap_or_default()
                .iter()
                .any(|d| d.as_str().is_some_and(|d| d.starts_with(&prefix)))
        };
        let changed: Vec<&ops::Owned> = wanted
            .iter()
            .filter(|w| {
                let same = before.iter().any(|b| {
                    b.reference == w.reference
                        && serde_json::to_value(&b.object).ok()
                            == serde_json::to_value(&w.object).ok()
                });
                !same || drifted(&w.reference)
            })
            .collect();
        let gone: Vec<&ops::Owned> = before
            .iter()
            .filter(|b| !wanted.iter().any(|w| w.reference == b.reference))
            .collect();
        ctx.run(
            "removing objects no longer wanted",
            ops::remove_owned(&applier, &gone, &mut Vec::new()),
        )
        .await
        .and_then(|r| r.map_err(Diagnostic::from))
        .map_err(|d| fail(d, &state))?;
        ctx.run(
            "applying the root Application and repository",
            ops::apply_owned(&applier, &changed),
        )
        .await
        .and_then(|r| r)
        .map_err(|d| fail(d, &state))?;
        // Re-applying the repository Secret (manager `vixens`) may have dropped credential keys it owned before a
        // switch to write-only ones: the write-only credentials follow it.
        let secret_applied = changed
            .iter()
            .any(|o| o.reference.kind == "Secret" && o.reference.name == s.repository.secret_name);
        if secret_applied || write_only::credentials_version_changed(prior, planned) {
            apply_credentials(ctx, &applier, &s, &state).await?;
        }
        let root_changed = changed.iter().any(|o| o.reference.kind == "Application");
        if root_changed || reinstall {
            self.wait_root(ctx, &applier, &s, &state).await?;
        }
        Ok(state)
    }

    /// Version 0 stored `repository` as a single object (version 1: a list of one); version 1 kept an inline
    /// manifest's text even when it is the official release (see [`upgrade`]).
    async fn upgrade_state(&self, from_version: i64, raw: &RawState) -> Result<Value, Diagnostics> {
        let v1 = match from_version {
            0 => raw.single_blocks_as_lists(&["repository"])?,
            1 => raw.clone(),
            _ => {
                return Err(Diagnostic::error(
                    "Unsupported state version",
                    format!(
                        "vixens_argocd_bootstrap has no upgrade from schema version {from_version}."
                    ),
                )
                .into())
            }
        };
        let upgraded = upgrade::from_v1(&v1)?;
        Ok(upgraded.decode(&self.schema().value_type())?)
    }

    async fn delete(&self, ctx: &Context, state: &Value) -> Result<(), ApplyError> {
        if k8s_resume::delete_resumes(ctx, TYPE_NAME, state) {
            tracing::info!("replacing an incomplete install: its objects stay for the create that continues it");
            return Ok(());
        }
        let s = Settings::from_value(state)?;
        let owned = ops::owned_objects(&s, None)?;
        let secrets: Vec<&ops::Owned> = owned
            .iter()
            .filter(|o| o.reference.kind == "Secret")
            .collect();
        let inventory = inventory_of(state)?;
        // Everything this delete means to remove, in order, for the warning when the API cannot be reached.
        let mut targets = vec![ops::root_ref(&s)];
        if !s.keep_on_destroy {
            targets.extend(secrets.iter().map(|o| o.reference.clone()));
            targets.extend(inventory.iter().cloned());
        }
        let bound = k8s_outage::reach_bound(ctx, state, &schema::TIMEOUTS);
        let mut done = Vec::new();
        let result = self
            .delete_steps(ctx, &s, bound, &secrets, &inventory, &mut done)
            .await;
        match result {
            Ok(()) => Ok(()),
            Err(Failure::Unreachable(reason)) => {
                let left: Vec<ObjectRef> =
                    targets.into_iter().filter(|r| !done.contains(r)).collect();
                tracing::warn!(reason = %reason, left = left.len(), "Kubernetes API unreachable: objects left");
                ctx.warn(k8s_outage::not_deleted(TYPE_NAME, &reason, &left));
                Ok(())
            }
            Err(Failure::Failed(d)) => Err(d.into()),
        }
    }
}

impl ArgocdBootstrap {
    /// The steps of delete: the root Application, then (unless `keep_on_destroy`) the repository Secret and the
    /// install. `done` receives what no longer exists as it goes.
    async fn delete_steps(
        &self,
        ctx: &Context,
        s: &Settings,
        bound: Duration,
        secrets: &[&ops::Owned],
        inventory: &Inventory,
        done: &mut Vec<ObjectRef>,
    ) -> Result<(), Failure> {
        let applier = ctx
            .run(
                "connecting to the Kubernetes API",
                k8s_outage::connect(&s.connection, bound, true),
            )
            .await??;
        ctx.run(
            "deleting the root Application",
            ops::delete_root_application(&applier, s, remaining(ctx), done),
        )
        .await??;
        if s.keep_on_destroy {
            tracing::info!(
                namespace = %s.namespace,
                "keep_on_destroy: the install, its namespace, the repository Secret and the settings stay"
            );
            return Ok(());
        }
        ctx.run(
            "deleting the repository Secret",
            ops::remove_owned(&applier, secrets, done),
        )
        .await??;
        ctx.run(
            "deleting the Argo CD install",
            ops::delete_install(&applier, s, inventory, remaining(ctx), done),
        )
        .await??;
        Ok(())
    }
}
