//! Planning `vixens_argocd_bootstrap`: the manifest source and its sha256, whether the install is re-applied, and
//! what is known before apply.
//!
//! The sha256 the install must have (`install_manifest_sha256`) is known at plan for every source: the pin, the
//! official release's (shipped with the provider), the local file's (read now, so an edited file plans as a new
//! digest) or the inline text's. The install is re-applied exactly when that digest changes; a source that gives
//! the same bytes (the same file moved, or an inline manifest turned into the official release it is) changes
//! no object. An inline or file manifest is parsed at plan only when its digest changes, at most once per process
//! ([`super::cache`]), so that the plan lists the objects that come and go.

use std::time::Duration;

use crate::cty::{AttributePath, Value};
use crate::framework::presence::is_set;
use crate::framework::{Context, Diagnostic, Diagnostics, PlannedChange};
use crate::manifests::argocd::source::{
    file_sha256, official_sha256, read_manifest_file, sha256_hex,
};

use super::schema::DEFAULT_NAMESPACE;
use super::settings::{self, SOURCE_ATTRIBUTES};
use super::{cache, ops, release_check, write_only};
use crate::resources::k8s_resume;

/// Fewest schedulable nodes the HA manifest runs on: Redis HA's three replicas (and the HAProxy in front of
/// them) must be on distinct nodes (`requiredDuringSchedulingIgnoredDuringExecution` pod anti-affinity in
/// upstream's `manifests/ha/install.yaml`).
pub const HA_MIN_NODES: usize = 3;

/// How long the plan waits for the cluster when it counts schedulable nodes for the HA manifest.
const HA_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The sha256 the install must have (lowercase), `None` while it is not known.
pub fn install_digest(v: &Value) -> Option<String> {
    v.get("install_manifest_sha256")
        .as_str()
        .map(|s| s.trim().to_ascii_lowercase())
}

/// Whether the install is re-applied from `prior` to `planned`: its sha256 changes or is not known yet.
pub fn install_changed(prior: &Value, planned: &Value) -> bool {
    match install_digest(planned) {
        Some(digest) => install_digest(prior).as_deref() != Some(digest.as_str()),
        None => true,
    }
}

fn attr(name: &str) -> AttributePath {
    AttributePath::attr(name)
}

/// The sha256 a configuration asks for: the pin, else the inline text's, the file's (read now) or the official
/// release's; `Value::Unknown` while the source or the pin is not known. Validation has already refused a URL
/// without a pin and a version without a known digest.
///
/// Errors: the file cannot be read, or does not have the pinned sha256.
fn expected_digest(config: &Value) -> Result<Value, Diagnostic> {
    let pin = config.get("install_manifest_sha256");
    let sources: Vec<&Value> = SOURCE_ATTRIBUTES.iter().map(|a| config.get(a)).collect();
    if sources.iter().any(|s| !s.is_known()) || !pin.is_known() {
        return Ok(match pin.as_str() {
            Some(pin) => Value::from(pin),
            None => Value::Unknown,
        });
    }
    if let Some(text) = config.get("install_manifest").as_str() {
        return Ok(Value::from(
            pin.as_str()
                .map_or_else(|| sha256_hex(text.as_bytes()), str::to_string),
        ));
    }
    if let Some(path) = config.get("install_manifest_file").as_str() {
        let digest = file_sha256(path).map_err(|e| {
            Diagnostic::error("Cannot read the install manifest file", e.to_string())
                .at(attr("install_manifest_file"))
        })?;
        if let Some(pin) = pin.as_str() {
            if !pin.trim().eq_ignore_ascii_case(&digest) {
                return Err(Diagnostic::error(
                    "Install manifest sha256 mismatch",
                    format!(
                        "{path} has sha256 {digest}, not the pinned {}",
                        pin.trim().to_ascii_lowercase()
                    ),
                )
                .at(attr("install_manifest_sha256")));
            }
            return Ok(Value::from(pin));
        }
        return Ok(Value::from(digest));
    }
    if let Some(pin) = pin.as_str() {
        return Ok(Value::from(pin));
    }
    let (version, ha) = (config.get("version"), config.get("ha"));
    match (version.as_str(), ha) {
        (Some(version), Value::Null) => Ok(official(version, false)),
        (Some(version), ha) if ha.is_known() => Ok(official(version, ha.as_bool() == Some(true))),
        _ => Ok(Value::Unknown),
    }
}

fn official(version: &str, ha: bool) -> Value {
    official_sha256(version, ha).map_or(Value::Unknown, Value::from)
}

/// The inventory an inline or file manifest installs, known at plan; `Value::Unknown` for a download or while
/// the source or namespace is not known.
fn planned_inventory(config: &Value, digest: &str) -> Result<Value, Diagnostic> {
    let namespace = match config.get("namespace") {
        Value::Null => DEFAULT_NAMESPACE,
        ns => match ns.as_str() {
            Some(ns) => ns,
            None => return Ok(Value::Unknown),
        },
    };
    let inventory = if let Some(text) = config.get("install_manifest").as_str() {
        cache::manifest_refs(text, namespace, "install_manifest")?
    } else if let Some(path) = config.get("install_manifest_file").as_str() {
        cache::manifest_refs_by_digest(digest, namespace, "install_manifest_file", || {
            let bytes = read_manifest_file(path).map_err(|e| {
                Diagnostic::error("Cannot read the install manifest file", e.to_string())
                    .at(attr("install_manifest_file"))
            })?;
            String::from_utf8(bytes).map_err(|_| {
                Diagnostic::error(
                    "Invalid install manifest",
                    "the install manifest is not UTF-8 text",
                )
                .at(attr("install_manifest_file"))
            })
        })?
    } else {
        return Ok(Value::Unknown);
    };
    Ok(Value::from(inventory.to_json()))
}

/// Plans the resource (after validation): computed defaults, the sha256, and what the install will be.
///
/// Errors: a file source that cannot be read or does not match its pin; an inline or file manifest that does
/// not parse or fit the namespace.
pub async fn modify(ctx: &Context, change: &mut PlannedChange) -> Result<(), Diagnostics> {
    let PlannedChange {
        prior,
        config,
        planned,
        ..
    } = change;
    if config.get("ha").is_null() {
        planned.set("ha", false);
    }
    // The default manifest URL follows version and ha; null for a file or inline manifest.
    if config.get("install_manifest_url").is_null() {
        let others = [
            config.get("install_manifest"),
            config.get("install_manifest_file"),
        ];
        let url = if others.iter().any(|v| is_set(v).is_none()) {
            Value::Unknown
        } else if others.iter().any(|v| is_set(v) == Some(true)) {
            Value::Null
        } else if config.get("version").is_known() && config.get("ha").is_known() {
            settings::manifest_url(config).map_or(Value::Null, Value::from)
        } else {
            Value::Unknown
        };
        planned.set("install_manifest_url", url);
    }
    let digest = expected_digest(config)?;
    let version_or_source_changed = prior.is_null()
        || prior.get("version") != config.get("version")
        || prior.get("install_manifest_sha256") != &digest;
    release_check::check_version_matches_manifest(config, version_or_source_changed)?;
    if let Some(warning) = release_check::downgrade_warning(prior, config) {
        ctx.warn(warning);
    }
    if config.get("install_manifest_sha256").is_null() {
        planned.set("install_manifest_sha256", digest.clone());
    }
    planned.set("drift", Value::List(Vec::new()));
    if config.get("admin_password").is_null() && !write_only::has_admin_password(config) {
        planned.set("admin_password_hash", Value::Null);
        planned.set("admin_password_mtime", Value::Null);
    }
    if prior.is_null() {
        if k8s_resume::plan_resume(ctx, super::TYPE_NAME, config).is_some() {
            ctx.warn(Diagnostic::warning(
                "Continuing an incomplete Argo CD install",
                "A previous apply failed before this install finished. Terraform plans to replace it, but its \
                 objects are kept and updated in place, not deleted and installed again.",
            ));
        }
        let id = match config.get("namespace") {
            Value::Null => Value::from(DEFAULT_NAMESPACE),
            ns => ns.clone(),
        };
        planned.set("id", id);
    } else {
        let stored_changed = !config.get("admin_password").is_null()
            && prior.get("admin_password") != planned.get("admin_password");
        let wo_changed =
            write_only::has_admin_password(config) && write_only::admin_changed(prior, planned);
        if stored_changed || wo_changed {
            planned.set("admin_password_hash", Value::Unknown);
            planned.set("admin_password_mtime", Value::Unknown);
        }
    }
    if !prior.is_null() && !install_changed(prior, planned) {
        return Ok(());
    }
    planned.set("install_health", Value::Unknown);
    let Some(digest) = digest.as_str().map(|d| d.trim().to_ascii_lowercase()) else {
        planned.set("manifest_sha256", Value::Unknown);
        planned.set("inventory", Value::Unknown);
        return Ok(());
    };
    planned.set("manifest_sha256", digest.as_str());
    // The objects that come and go show in the plan, and a manifest that does not parse fails it.
    planned.set("inventory", planned_inventory(config, &digest)?);
    if planned.get("ha").as_bool() == Some(true) {
        warn_small_cluster_for_ha(ctx, config).await;
    }
    Ok(())
}

/// Warns (at `ha`) when the cluster has fewer than [`HA_MIN_NODES`] schedulable nodes. Counts them when the
/// connection settings are known and the cluster answers within a few seconds; otherwise apply checks again.
pub async fn warn_small_cluster_for_ha(ctx: &Context, v: &Value) {
    let Ok(connection) = settings::connection(v) else {
        return;
    };
    let Ok(client) = connection.connect(HA_CHECK_TIMEOUT).await else {
        tracing::debug!("cluster not reachable: schedulable nodes counted at apply");
        return;
    };
    match crate::k8s::wait::schedulable_nodes(&client).await {
        Ok(n) if n < HA_MIN_NODES => ctx.warn(ha_warning(n)),
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "cannot count schedulable nodes"),
    }
}

/// The warning for an HA install on `nodes` schedulable nodes.
pub fn ha_warning(nodes: usize) -> Diagnostic {
    Diagnostic::warning(
        "Too few nodes for Argo CD's HA manifest",
        format!(
            "The high-availability manifest needs at least {HA_MIN_NODES} schedulable nodes (Redis HA places its \
             replicas on distinct nodes); the cluster has {nodes}, so some of its pods will stay Pending and the \
             install will not become healthy. Add nodes (or allow scheduling on control planes), or set ha = false."
        ),
    )
    .at(attr("ha"))
}

/// The connection and count of [`warn_small_cluster_for_ha`] at apply, with an applier already connected.
pub async fn check_ha_at_apply(ctx: &Context, applier: &crate::k8s::apply::Applier) {
    match crate::k8s::wait::schedulable_nodes(applier.client()).await {
        Ok(n) if n < HA_MIN_NODES => ctx.warn(ha_warning(n)),
        Ok(_) => {}
        Err(e) => ctx.warn(
            Diagnostic::warning(
                "Cannot count the cluster's nodes",
                format!(
                    "The HA manifest needs at least {HA_MIN_NODES} schedulable nodes; counting them failed: {}",
                    ops::k8s_error("listing Nodes", &e).detail
                ),
            )
            .at(attr("ha")),
        ),
    }
}
