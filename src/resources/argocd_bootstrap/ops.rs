//! The cluster work of `vixens_argocd_bootstrap`: loading and checking the install manifest, applying it, the
//! objects the resource keeps owning after the hand-off, drift, health and deletion. Errors come back as
//! diagnostics (with attribute paths where the user's input is at fault); nothing here logs a secret.

use std::time::Duration;

use kube::api::{DynamicObject, Patch, PatchParams};

use super::settings::{ManifestSource, Settings};
use crate::cty::AttributePath;
use crate::framework::Diagnostic;
use crate::k8s::apply::{to_dynamic, ApplyOptions, RawObject};
use crate::k8s::inventory::{self, Inventory, ObjectRef, Propagation};
use crate::k8s::{apply::Applier, connection::error_chain, wait};
use crate::manifests::argocd::bootstrap::argocd_cm;
use crate::manifests::argocd::objects::{
    admin_password_secret, repository_secret, root_application, server_params_configmap,
};
use crate::manifests::argocd::source::{
    fetch_manifest, read_manifest_file, sha256_hex, verify_sha256, SourceError,
};
use crate::manifests::argocd::{prepare_manifest, PrepareError};
use crate::resources::k8s_outage::{self, Failure};

/// Field manager of the settings keys (admin password, `server.insecure`) inside objects of the install, so that
/// re-applying the install (manager `vixens`) and the settings never remove each other's fields.
pub const SETTINGS_FIELD_MANAGER: &str = "vixens-settings";

/// The install objects, ready to apply, and the manifest's sha256.
pub struct Install {
    /// Objects in manifest order, namespace set, Namespace first, as compact JSON.
    pub objects: Vec<RawObject>,
    /// Lowercase hex sha256 of the manifest text.
    pub digest: String,
}

fn at(path: &str, summary: &str, detail: impl Into<String>) -> Diagnostic {
    Diagnostic::error(summary, detail).at(AttributePath::attr(path))
}

/// A diagnostic for a Kubernetes failure while doing `what`.
pub fn k8s_error(what: &str, e: &crate::k8s::Error) -> Diagnostic {
    Diagnostic::error(format!("Failed {what}"), error_chain(e))
}

/// Obtains the manifest (inline, read from its file or downloaded), checks it against the planned sha256,
/// parses it one document at a time and places it in the namespace. Touches no cluster, so a bad manifest or a
/// sha256 mismatch fails before anything is applied. Holds the text only until the objects are prepared.
pub async fn load_install(s: &Settings, timeout: Duration) -> Result<Install, Diagnostic> {
    let source_attr = match &s.manifest {
        ManifestSource::Inline(_) => "install_manifest",
        ManifestSource::File(_) => "install_manifest_file",
        ManifestSource::Url(_) => "install_manifest_url",
    };
    let owned;
    let bytes: &[u8] = match &s.manifest {
        ManifestSource::Inline(text) => text.as_bytes(),
        ManifestSource::File(path) => {
            owned = read_manifest_file(path).map_err(|e| {
                at(
                    source_attr,
                    "Cannot read the install manifest",
                    e.to_string(),
                )
            })?;
            &owned
        }
        ManifestSource::Url(url) => {
            owned = fetch_manifest(url, timeout).await.map_err(|e| {
                at(
                    source_attr,
                    "Cannot download the install manifest",
                    e.to_string(),
                )
            })?;
            &owned
        }
    };
    let digest = sha256_hex(bytes);
    if let Some(expected) = s.sha256.as_deref() {
        verify_sha256(bytes, expected).map_err(|e| {
            let detail = match &s.manifest {
                ManifestSource::File(path) => format!("{e} (was {path} changed after the plan?)"),
                _ => e.to_string(),
            };
            at(
                "install_manifest_sha256",
                "Install manifest sha256 mismatch",
                detail,
            )
        })?;
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        at(
            source_attr,
            "Invalid install manifest",
            SourceError::NotText.to_string(),
        )
    })?;
    let objects = prepare_manifest(text, &s.namespace).map_err(|e| match e {
        PrepareError::Install(e) => at(
            "namespace",
            "Install manifest does not fit the namespace",
            e.to_string(),
        ),
        other => at(source_attr, "Invalid install manifest", other.to_string()),
    })?;
    tracing::info!(objects = objects.len(), digest = %digest, "install manifest ready");
    Ok(Install { objects, digest })
}

/// Connects to the API server, retrying while it is not up, for at most `timeout` (see
/// [`k8s_outage::connect`]).
pub async fn connect(s: &Settings, timeout: Duration) -> Result<Applier, Failure> {
    k8s_outage::connect(&s.connection, timeout, false).await
}

/// Applies the install (forcing conflicts, CRDs first and waited for). `applied` receives what was applied, also
/// on failure.
pub async fn apply_install(
    applier: &Applier,
    install: &Install,
    timeout: Duration,
    applied: &mut Vec<ObjectRef>,
) -> Result<(), Diagnostic> {
    let options = ApplyOptions {
        force: true,
        crd_timeout: timeout,
        concurrency: 8,
    };
    applier
        .apply_all_raw(&install.objects, options, applied)
        .await
        .map_err(|e| k8s_error("applying the Argo CD install", &e))
}

/// Waits for every Deployment, StatefulSet and DaemonSet of the inventory to be rolled out.
pub async fn wait_install(
    applier: &Applier,
    inventory: &Inventory,
    timeout: Duration,
) -> Result<(), Diagnostic> {
    let refs: Vec<ObjectRef> = inventory.iter().cloned().collect();
    wait::rolled_out(applier.client(), &refs, timeout)
        .await
        .map_err(|e| k8s_error("waiting for the Argo CD workloads", &e))
}

/// Deletes install objects the new manifest no longer has.
pub async fn prune(applier: &Applier, stale: &[ObjectRef]) -> Result<(), Diagnostic> {
    if stale.is_empty() {
        return Ok(());
    }
    tracing::info!(
        objects = stale.len(),
        "pruning objects the new manifest no longer has"
    );
    inventory::delete_objects(applier, stale, Propagation::Background)
        .await
        .map(|_| ())
        .map_err(|e| k8s_error("pruning old install objects", &e))
}

/// One object the resource keeps owning after the hand-off, and the field manager it is applied with.
#[derive(Debug, Clone)]
pub struct Owned {
    /// The object as sent.
    pub object: DynamicObject,
    /// Its identity.
    pub reference: ObjectRef,
    /// Field manager.
    pub manager: &'static str,
    /// A partial object inside the install (settings keys): released, never deleted, when no longer wanted.
    pub partial: bool,
}

fn owned(object: DynamicObject, manager: &'static str, partial: bool) -> Result<Owned, Diagnostic> {
    let reference =
        ObjectRef::of(&object).map_err(|e| Diagnostic::error("Invalid object", e.to_string()))?;
    Ok(Owned {
        object,
        reference,
        manager,
        partial,
    })
}

fn dynamic<K: serde::Serialize>(obj: &K) -> Result<DynamicObject, Diagnostic> {
    to_dynamic(obj).map_err(|e| Diagnostic::error("Invalid object", e.to_string()))
}

/// The objects owned after the hand-off, for settings `s` and the admin password hash and mtime in state: the
/// settings keys in `argocd-secret`, `argocd-cmd-params-cm` and `argocd-cm` (manager [`SETTINGS_FIELD_MANAGER`]),
/// the bootstrap Secrets, the repository Secret and the root Application (manager `vixens`), in that order.
pub fn owned_objects(s: &Settings, admin: Option<(&str, &str)>) -> Result<Vec<Owned>, Diagnostic> {
    let mut out = Vec::new();
    if let Some((hash, mtime)) = admin {
        out.push(owned(
            dynamic(&admin_password_secret(&s.namespace, hash, mtime))?,
            SETTINGS_FIELD_MANAGER,
            true,
        )?);
    }
    if let Some(insecure) = s.server_insecure {
        out.push(owned(
            dynamic(&server_params_configmap(&s.namespace, insecure))?,
            SETTINGS_FIELD_MANAGER,
            true,
        )?);
    }
    if !s.argocd_cm.is_empty() {
        out.push(owned(
            dynamic(&argocd_cm(&s.namespace, &s.argocd_cm))?,
            SETTINGS_FIELD_MANAGER,
            true,
        )?);
    }
    for secret in &s.bootstrap_secrets {
        out.push(owned(
            dynamic(&secret.to_secret())?,
            crate::k8s::apply::FIELD_MANAGER,
            false,
        )?);
    }
    let secret = repository_secret(
        &s.namespace,
        &s.repository.secret_name,
        &s.repository.url,
        &s.repository.credentials,
    );
    out.push(owned(
        dynamic(&secret)?,
        crate::k8s::apply::FIELD_MANAGER,
        false,
    )?);
    out.push(owned(
        root_application(&s.root),
        crate::k8s::apply::FIELD_MANAGER,
        false,
    )?);
    Ok(out)
}

/// Applies owned objects (forcing: the resource's settings win over other managers of these fields).
pub async fn apply_owned(applier: &Applier, objects: &[&Owned]) -> Result<(), Diagnostic> {
    for o in objects {
        applier
            .apply_as(o.manager, &o.object, true)
            .await
            .map_err(|e| k8s_error(&format!("applying {}", o.reference), &e))?;
        tracing::info!(object = %o.reference, "applied");
    }
    Ok(())
}

/// Removes owned objects that are no longer wanted: partial settings objects are released (an empty apply
/// under their manager removes the keys), others are deleted; the old root Application is orphaned so that its
/// resources stay for the new one. `done` receives each object removed, also when a later one fails.
pub async fn remove_owned(
    applier: &Applier,
    objects: &[&Owned],
    done: &mut Vec<ObjectRef>,
) -> Result<(), Failure> {
    for o in objects {
        let result = if o.partial {
            let mut empty = DynamicObject::new(
                &o.reference.name,
                &kube::api::ApiResource::from_gvk(&gvk(&o.reference)),
            );
            empty.metadata.namespace = o.reference.namespace.clone();
            applier.apply_as(o.manager, &empty, true).await.map(|_| ())
        } else {
            if o.reference.kind == "Application" {
                strip_finalizers(applier, &o.reference).await?;
            }
            inventory::delete_objects(
                applier,
                std::slice::from_ref(&o.reference),
                Propagation::Background,
            )
            .await
            .map(|_| ())
        };
        result.map_err(|e| Failure::k8s(&format!("removing {}", o.reference), &e))?;
        done.push(o.reference.clone());
    }
    Ok(())
}

fn gvk(r: &ObjectRef) -> kube::api::GroupVersionKind {
    let (group, version) = r
        .api_version
        .rsplit_once('/')
        .unwrap_or(("", r.api_version.as_str()));
    kube::api::GroupVersionKind::gvk(group, version, &r.kind)
}

/// Removes every finalizer of an object (JSON merge patch `metadata.finalizers: null`), as `argocd app delete
/// --cascade=false` does for an Application. A missing object is fine.
pub async fn strip_finalizers(applier: &Applier, r: &ObjectRef) -> Result<(), Failure> {
    let api = match applier.api_for(r).await {
        Ok(api) => api,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(Failure::k8s(&format!("reading {r}"), &e)),
    };
    let patch = serde_json::json!({"metadata": {"finalizers": null}});
    applier
        .request("patch", || async {
            match api
                .patch(&r.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if crate::k8s::error::is_not_found(&e) => Ok(()),
                Err(e) => Err(crate::k8s::Error::api("patch", r.to_string(), e)),
            }
        })
        .await
        .map_err(|e| Failure::k8s(&format!("removing the finalizers of {r}"), &e))
}

/// Drift of the owned objects: `"<Kind> <ns>/<name>: missing"` or `"<Kind> <ns>/<name>: <field path>"` for each
/// field whose live value differs from what was applied. Field paths only, never values.
pub async fn drift(applier: &Applier, owned: &[Owned]) -> Result<Vec<String>, Failure> {
    let mut out = Vec::new();
    for o in owned {
        let live = inventory::read_live(applier, &o.reference)
            .await
            .map_err(|e| Failure::k8s(&format!("reading {}", o.reference), &e))?;
        let Some(live) = live else {
            out.push(format!("{}: missing", o.reference));
            continue;
        };
        let sent = serde_json::to_value(&o.object).unwrap_or_default();
        let live = serde_json::to_value(&live).unwrap_or_default();
        out.extend(
            inventory::drift(&sent, &live)
                .into_iter()
                .map(|path| format!("{}: {path}", o.reference)),
        );
    }
    Ok(out)
}

/// `Healthy` when every install workload is rolled out, else `Degraded: ` and what is not.
pub async fn install_health(applier: &Applier, inventory: &Inventory) -> Result<String, Failure> {
    let mut problems = Vec::new();
    for r in inventory.iter() {
        let Some(check) = wait::rollout_check(&r.kind) else {
            continue;
        };
        let live = inventory::read_live(applier, r)
            .await
            .map_err(|e| Failure::k8s(&format!("reading {r}"), &e))?;
        match live {
            None => problems.push(format!("{r} missing")),
            Some(obj) => {
                if let wait::Check::Pending(state) =
                    check(&serde_json::to_value(&obj).unwrap_or_default())
                {
                    problems.push(format!("{r} {state}"));
                }
            }
        }
    }
    Ok(if problems.is_empty() {
        "Healthy".to_string()
    } else {
        format!("Degraded: {}", problems.join("; "))
    })
}

/// True when the install namespace exists.
pub async fn namespace_exists(applier: &Applier, namespace: &str) -> Result<bool, Failure> {
    let r = ObjectRef::new("v1", "Namespace", None, namespace);
    inventory::read_live(applier, &r)
        .await
        .map(|o| o.is_some_and(|ns| ns.metadata.deletion_timestamp.is_none()))
        .map_err(|e| Failure::k8s(&format!("reading {r}"), &e))
}

/// The root Application of settings `s`.
pub fn root_ref(s: &Settings) -> ObjectRef {
    ObjectRef::new(
        "argoproj.io/v1alpha1",
        "Application",
        Some(&s.namespace),
        &s.root.name,
    )
}

/// Deletes the root Application (cascading through its finalizer, or orphaning its resources after removing the
/// finalizers) and waits until it is gone; then pushes it onto `done`.
pub async fn delete_root_application(
    applier: &Applier,
    s: &Settings,
    timeout: Duration,
    done: &mut Vec<ObjectRef>,
) -> Result<(), Failure> {
    let r = root_ref(s);
    if !s.root.cascade {
        strip_finalizers(applier, &r).await?;
    }
    inventory::delete_objects(applier, std::slice::from_ref(&r), Propagation::Background)
        .await
        .map_err(|e| Failure::k8s(&format!("deleting {r}"), &e))?;
    wait::gone(applier, &r, timeout)
        .await
        .map_err(|e| Failure::k8s(&format!("waiting for {r} to be deleted"), &e))?;
    done.push(r);
    Ok(())
}

/// Deletes the install objects (reverse dependency order) and waits until the namespace is gone; `done`
/// receives each object that no longer exists, also when a later one fails.
pub async fn delete_install(
    applier: &Applier,
    s: &Settings,
    inventory: &Inventory,
    timeout: Duration,
    done: &mut Vec<ObjectRef>,
) -> Result<(), Failure> {
    let refs: Vec<ObjectRef> = inventory.iter().cloned().collect();
    let ns = ObjectRef::new("v1", "Namespace", None, &s.namespace);
    let mut deleted = Vec::new();
    let mut progress = Vec::new();
    let result = inventory::delete_objects_into(
        applier,
        &refs,
        Propagation::Background,
        &mut progress,
        &mut deleted,
    )
    .await;
    // The namespace counts as gone only once it is.
    done.extend(progress.into_iter().filter(|r| *r != ns));
    result.map_err(|e| Failure::k8s("deleting the Argo CD install", &e))?;
    if inventory.contains(&ns) {
        wait::gone(applier, &ns, timeout).await.map_err(|e| {
            Failure::k8s(
                &format!("waiting for namespace {} to be deleted", s.namespace),
                &e,
            )
        })?;
        done.push(ns);
    }
    Ok(())
}
