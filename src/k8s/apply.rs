//! Server-side apply (field manager [`FIELD_MANAGER`]) of typed or dynamic objects, in dependency order:
//! Namespaces, then CustomResourceDefinitions (waited until Established), then configuration and RBAC, bindings,
//! Services, workloads, other built-in kinds, and custom resources last.
//!
//! The REST path of each kind comes from API discovery (`/api/v1`, `/apis/<group>/<version>`), cached per
//! client, so custom resources work once their CRD is served. Follows the Kubernetes server-side apply docs:
//! `PATCH` with `application/apply-patch+yaml`, `fieldManager`, and `force=true` to take over conflicting fields.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::Scope;
use kube::Client;
use serde::Serialize;
use serde_json::value::RawValue;

use super::error::{Error, Result};
use super::inventory::ObjectRef;
use super::wait;

/// The field manager name Vixens applies with.
pub const FIELD_MANAGER: &str = "vixens";

/// The apply rank of a kind: lower ranks are applied first and deleted last.
/// 0 Namespace; 1 CustomResourceDefinition; 2 ServiceAccounts, Secrets, ConfigMaps, (Cluster)Roles and other
/// configuration; 3 (Cluster)RoleBindings; 4 Services; 5 workloads; 6 other built-in kinds; 7 custom resources.
pub fn apply_rank(api_version: &str, kind: &str) -> u8 {
    match kind {
        "Namespace" if api_version == "v1" => 0,
        "CustomResourceDefinition" => 1,
        "ServiceAccount" | "Secret" | "ConfigMap" | "ClusterRole" | "Role" | "PriorityClass"
        | "StorageClass" | "ResourceQuota" | "LimitRange" => 2,
        "ClusterRoleBinding" | "RoleBinding" => 3,
        "Service" => 4,
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" | "CronJob" | "Pod" => 5,
        _ if is_builtin_group(group_of(api_version)) => 6,
        _ => 7,
    }
}

/// The API group of an apiVersion (`""` for the core group `v1`).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

fn is_builtin_group(group: &str) -> bool {
    group.is_empty()
        || group.ends_with(".k8s.io")
        || matches!(group, "apps" | "batch" | "policy" | "autoscaling")
}

/// Sorts objects into apply order (stable within a rank, so manifest order is kept).
pub fn sort_for_apply(objects: &mut [DynamicObject]) {
    objects.sort_by_key(|o| {
        o.types
            .as_ref()
            .map_or(u8::MAX, |t| apply_rank(&t.api_version, &t.kind))
    });
}

/// Converts a typed k8s-openapi object into a [`DynamicObject`] (apiVersion and kind included).
pub fn to_dynamic<K: Serialize>(obj: &K) -> Result<DynamicObject> {
    let value = serde_json::to_value(obj).map_err(|e| Error::InvalidObject(e.to_string()))?;
    serde_json::from_value(value).map_err(|e| Error::InvalidObject(e.to_string()))
}

/// An object ready to send: its identity and its compact JSON body, which is what a server-side apply sends.
/// Objects held this way take about the size of their JSON text; parsed values take several times more (Argo
/// CD's install: 1.4 MB of JSON against some 20 MB of values).
#[derive(Debug, Clone)]
pub struct RawObject {
    /// Its identity.
    pub reference: ObjectRef,
    body: Box<RawValue>,
}

impl RawObject {
    /// The compact JSON of a dynamic object.
    ///
    /// Errors: [`Error::InvalidObject`] when it has no apiVersion, kind or name, or does not serialize.
    pub fn of(obj: &DynamicObject) -> Result<RawObject> {
        let reference = ObjectRef::of(obj)?;
        let body = serde_json::value::to_raw_value(obj)
            .map_err(|e| Error::InvalidObject(format!("{reference}: {e}")))?;
        Ok(RawObject { reference, body })
    }

    /// An object already in JSON form, e.g. straight from a manifest, with its identity.
    ///
    /// Errors: [`Error::InvalidObject`] when `json` is not one JSON value.
    pub fn from_json(reference: ObjectRef, json: String) -> Result<RawObject> {
        let body = RawValue::from_string(json)
            .map_err(|e| Error::InvalidObject(format!("{reference}: {e}")))?;
        Ok(RawObject { reference, body })
    }

    /// The JSON text sent.
    pub fn json(&self) -> &str {
        self.body.get()
    }

    /// Its apply rank ([`apply_rank`]).
    pub fn rank(&self) -> u8 {
        apply_rank(&self.reference.api_version, &self.reference.kind)
    }
}

/// Options of [`Applier::apply_all`].
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    /// Take over fields that another field manager owns (`force=true`).
    pub force: bool,
    /// How long to wait for applied CRDs to become Established before applying the rest.
    pub crd_timeout: Duration,
    /// How many objects of one rank are applied at once.
    pub concurrency: usize,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            force: false,
            crd_timeout: Duration::from_secs(60),
            concurrency: 8,
        }
    }
}

/// Applies objects with one client and a cached discovery of their kinds. Each request it makes (discovery,
/// apply, and the reads and deletes of [`super::inventory`]) is retried on transient failures for its
/// [`Applier::patience`] ([`super::retry`]).
pub struct Applier {
    client: Client,
    field_manager: String,
    kinds: Mutex<HashMap<(String, String), (ApiResource, bool)>>,
    patience: Duration,
}

impl Applier {
    /// An applier using field manager [`FIELD_MANAGER`]; its requests are tried once (no patience).
    pub fn new(client: Client) -> Self {
        Applier {
            client,
            field_manager: FIELD_MANAGER.to_string(),
            kinds: Mutex::new(HashMap::new()),
            patience: Duration::ZERO,
        }
    }

    /// The same, retrying each request that fails transiently for up to `patience` (see [`super::retry`]).
    pub fn with_patience(mut self, patience: Duration) -> Self {
        self.patience = patience;
        self
    }

    /// How long one request is retried while it fails transiently.
    pub fn patience(&self) -> Duration {
        self.patience
    }

    /// Runs one request through the retry layer ([`super::retry::transient`]) with this applier's patience.
    pub async fn request<T, F, Fut>(&self, what: &str, request: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        super::retry::transient(what, self.patience, request).await
    }

    /// The same, applying under another field manager name.
    pub fn with_field_manager(mut self, manager: &str) -> Self {
        self.field_manager = manager.to_string();
        self
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The REST resource of a kind and whether it is namespaced, from discovery (cached).
    ///
    /// Errors: [`Error::Api`] with action `discover`; [`Error::is_not_found`] is true when the kind is not served.
    pub async fn resolve(&self, api_version: &str, kind: &str) -> Result<(ApiResource, bool)> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(hit) = self.kinds.lock().ok().and_then(|k| k.get(&key).cloned()) {
            return Ok(hit);
        }
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, caps) = self
            .request("discover", || async {
                kube::discovery::pinned_kind(&self.client, &gvk)
                    .await
                    .map_err(|e| Error::api("discover", format!("{api_version} {kind}"), e))
            })
            .await?;
        let found = (ar, caps.scope == Scope::Namespaced);
        if let Ok(mut kinds) = self.kinds.lock() {
            kinds.insert(key, found.clone());
        }
        Ok(found)
    }

    /// The dynamic API for an object reference (namespaced or cluster-wide, as discovery says).
    pub async fn api_for(&self, r: &ObjectRef) -> Result<Api<DynamicObject>> {
        let (ar, namespaced) = self.resolve(&r.api_version, &r.kind).await?;
        match (namespaced, r.namespace.as_deref()) {
            (true, Some(ns)) => Ok(Api::namespaced_with(self.client.clone(), ns, &ar)),
            (true, None) => Err(Error::InvalidObject(format!(
                "{r} is namespaced but has no namespace"
            ))),
            (false, None) => Ok(Api::all_with(self.client.clone(), &ar)),
            (false, Some(_)) => Err(Error::InvalidObject(format!(
                "{r} is cluster-scoped but has a namespace"
            ))),
        }
    }

    /// Server-side applies one object and returns the live result.
    pub async fn apply(&self, obj: &DynamicObject, force: bool) -> Result<DynamicObject> {
        self.apply_as(&self.field_manager, obj, force).await
    }

    /// Server-side applies one object under another field manager (e.g. a second manager that owns a few keys
    /// of an object whose other fields this applier's manager owns).
    pub async fn apply_as(
        &self,
        field_manager: &str,
        obj: &DynamicObject,
        force: bool,
    ) -> Result<DynamicObject> {
        let r = ObjectRef::of(obj)?;
        let api = self.api_for(&r).await?;
        let mut params = PatchParams::apply(field_manager);
        if force {
            params = params.force();
        }
        let live = self
            .request("apply", || async {
                api.patch(&r.name, &params, &Patch::Apply(obj))
                    .await
                    .map_err(|e| Error::api("apply", r.to_string(), e))
            })
            .await?;
        tracing::debug!(object = %r, field_manager, "applied");
        Ok(live)
    }

    /// Server-side applies a typed k8s-openapi object.
    pub async fn apply_typed<K: Serialize>(&self, obj: &K, force: bool) -> Result<DynamicObject> {
        self.apply(&to_dynamic(obj)?, force).await
    }

    /// Applies `objects` in dependency order (see [`apply_rank`]); objects of one rank go concurrently. After
    /// the CRDs, waits until each is Established. Every object applied successfully is pushed onto `applied`,
    /// also when a later one fails, so the caller can record what exists.
    pub async fn apply_all(
        &self,
        objects: &[DynamicObject],
        options: ApplyOptions,
        applied: &mut Vec<ObjectRef>,
    ) -> Result<()> {
        let raw = objects
            .iter()
            .map(RawObject::of)
            .collect::<Result<Vec<_>>>()?;
        self.apply_all_raw(&raw, options, applied).await
    }

    /// [`Applier::apply_all`] for objects already in their JSON form. The answers are read but not kept (a CRD
    /// comes back with its schema and managed fields: megabytes once parsed).
    pub async fn apply_all_raw(
        &self,
        objects: &[RawObject],
        options: ApplyOptions,
        applied: &mut Vec<ObjectRef>,
    ) -> Result<()> {
        let mut ordered: Vec<&RawObject> = objects.iter().collect();
        ordered.sort_by_key(|o| o.rank());
        let mut start = 0;
        while start < ordered.len() {
            let rank = ordered[start].rank();
            let end = ordered[start..]
                .iter()
                .position(|o| o.rank() != rank)
                .map_or(ordered.len(), |p| start + p);
            let batch = &ordered[start..end];
            // Futures are built up front (not in a stream closure) so the returned future stays `Send`.
            let futures: Vec<_> = batch
                .iter()
                .map(|o| self.apply_raw(&self.field_manager, o, options.force))
                .collect();
            let results: Vec<Result<()>> = stream::iter(futures)
                .buffered(options.concurrency.max(1))
                .collect()
                .await;
            let mut first_error = None;
            for (result, o) in results.into_iter().zip(batch) {
                match result {
                    Ok(()) => applied.push(o.reference.clone()),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = first_error {
                return Err(e);
            }
            if rank == 1 {
                let names: Vec<String> = batch.iter().map(|o| o.reference.name.clone()).collect();
                wait::crds_established(&self.client, &names, options.crd_timeout).await?;
            }
            start = end;
        }
        tracing::info!(objects = objects.len(), "applied all objects");
        Ok(())
    }

    /// Server-side applies one object in its JSON form under `field_manager`, without parsing the answer.
    pub async fn apply_raw(&self, field_manager: &str, o: &RawObject, force: bool) -> Result<()> {
        let r = &o.reference;
        let api = self.api_for(r).await?;
        let mut params = PatchParams::apply(field_manager);
        if force {
            params = params.force();
        }
        let request = kube::core::Request::new(api.resource_url())
            .patch(&r.name, &params, &Patch::Apply(&*o.body))
            .map_err(|e| Error::InvalidObject(format!("{r}: {e}")))?;
        self.client
            .request::<serde::de::IgnoredAny>(request)
            .await
            .map_err(|e| Error::api("apply", r.to_string(), e))?;
        tracing::debug!(object = %r, field_manager, "applied");
        Ok(())
    }

    /// Applies objects one after the other in the given order, stopping at the first error. Returns the
    /// references applied.
    pub async fn apply_each(
        &self,
        objects: &[DynamicObject],
        force: bool,
    ) -> Result<Vec<ObjectRef>> {
        let mut applied = Vec::with_capacity(objects.len());
        for o in objects {
            applied.push(self.apply_for_ref(o, force).await?);
        }
        Ok(applied)
    }

    async fn apply_for_ref(&self, obj: &DynamicObject, force: bool) -> Result<ObjectRef> {
        self.apply(obj, force).await?;
        ObjectRef::of(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(api_version: &str, kind: &str, name: &str) -> DynamicObject {
        serde_json::from_value(
            json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}}),
        )
        .unwrap()
    }

    #[test]
    fn namespaces_then_crds_then_config_then_workloads_then_custom_resources() {
        let mut objects = vec![
            obj("argoproj.io/v1alpha1", "Application", "root"),
            obj("apps/v1", "Deployment", "d"),
            obj("networking.k8s.io/v1", "NetworkPolicy", "np"),
            obj("v1", "Service", "svc"),
            obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "crb"),
            obj("v1", "ConfigMap", "cm"),
            obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "crd"),
            obj("v1", "Namespace", "ns"),
        ];
        sort_for_apply(&mut objects);
        let kinds: Vec<&str> = objects
            .iter()
            .map(|o| o.types.as_ref().unwrap().kind.as_str())
            .collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "CustomResourceDefinition",
                "ConfigMap",
                "ClusterRoleBinding",
                "Service",
                "Deployment",
                "NetworkPolicy",
                "Application"
            ]
        );
        assert_eq!(group_of("apps/v1"), "apps");
        assert_eq!(group_of("v1"), "");
    }

    #[test]
    fn typed_objects_convert_with_their_type_meta() {
        let ns = k8s_openapi::api::core::v1::Namespace {
            metadata: kube::api::ObjectMeta {
                name: Some("argocd".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let d = to_dynamic(&ns).unwrap();
        assert_eq!(
            ObjectRef::of(&d).unwrap(),
            ObjectRef::new("v1", "Namespace", None, "argocd")
        );
    }
}
