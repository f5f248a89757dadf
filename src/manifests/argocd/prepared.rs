//! An install manifest turned into the objects to apply for a namespace, one document at a time: each object is
//! read as JSON ([`super::parse::for_each_object`]), placed ([`super::install::prepare_object`], which parses only
//! the objects it changes) and kept as compact JSON ([`RawObject`]) or only as its reference. Memory holds the
//! manifest text and one document, not every object parsed (Argo CD v3.5.1: 1.9 MB of YAML, 0.6 MB of JSON,
//! some 15 MB once parsed into values).

use super::install::{
    is_namespace_object, is_namespaced, namespace_object, prepare_object, InstallError,
};
use super::parse::{for_each_object, ManifestObject, ParseError};
use super::UPSTREAM_NAMESPACE;
use crate::k8s::apply::RawObject;
use crate::k8s::inventory::ObjectRef;

/// Why a manifest cannot be installed into a namespace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    /// The manifest does not parse into Kubernetes objects.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// An object cannot be placed in the namespace.
    #[error(transparent)]
    Install(#[from] InstallError),
    /// An object has no identity or does not serialize.
    #[error("{0}")]
    Object(String),
}

impl From<crate::k8s::Error> for PrepareError {
    fn from(e: crate::k8s::Error) -> Self {
        PrepareError::Object(e.to_string())
    }
}

/// Whether placing `object` in `namespace` changes it (see [`prepare_object`]): namespaced objects get the
/// namespace, bindings their subjects' namespace, and any object naming `<service>.argocd.svc` is refused outside
/// `argocd`. Others (CRDs, ClusterRoles: the bulk of Argo CD's manifest) are sent as written, never parsed.
fn needs_placing(object: &ManifestObject, namespace: &str) -> bool {
    is_namespaced(&object.kind)
        || matches!(object.kind.as_str(), "ClusterRoleBinding" | "RoleBinding")
        || (namespace != UPSTREAM_NAMESPACE
            && object.json.contains(&format!(".{UPSTREAM_NAMESPACE}.svc")))
}

/// Walks the prepared objects of `text` for `namespace` as [`RawObject`]s, then the Namespace object when the
/// manifest has none; returns whether that Namespace object was added (it goes first in apply order).
fn walk(
    text: &str,
    namespace: &str,
    mut each: impl FnMut(RawObject) -> Result<(), PrepareError>,
) -> Result<bool, PrepareError> {
    let mut has_namespace = false;
    for_each_object(text, |object: ManifestObject| {
        let raw = if needs_placing(&object, namespace) {
            let mut dynamic = object.to_dynamic()?;
            prepare_object(&mut dynamic, namespace)?;
            RawObject::of(&dynamic)?
        } else {
            let reference = ObjectRef::new(
                &object.api_version,
                &object.kind,
                object.namespace.as_deref(),
                &object.name,
            );
            RawObject::from_json(reference, object.json)?
        };
        has_namespace |= is_namespace_object(&raw.reference, namespace);
        each(raw)
    })?;
    if !has_namespace {
        each(RawObject::of(&namespace_object(namespace))?)?;
    }
    Ok(!has_namespace)
}

/// The install objects of manifest `text` for `namespace` as compact JSON, in manifest order, the Namespace
/// object first (see [`super::prepare_install`] for the placement rules).
///
/// Errors: [`PrepareError`] for the first document that does not parse, fit the namespace or serialize.
pub fn prepare_manifest(text: &str, namespace: &str) -> Result<Vec<RawObject>, PrepareError> {
    let mut objects = Vec::new();
    let added = walk(text, namespace, |object| {
        objects.push(object);
        Ok(())
    })?;
    if added {
        objects.rotate_right(1);
    }
    Ok(objects)
}

/// The references of the objects [`prepare_manifest`] gives (the inventory the install will own), with the same
/// checks, keeping nothing else.
///
/// Errors: as [`prepare_manifest`].
pub fn manifest_refs(text: &str, namespace: &str) -> Result<Vec<ObjectRef>, PrepareError> {
    let mut refs = Vec::new();
    let added = walk(text, namespace, |object| {
        refs.push(object.reference);
        Ok(())
    })?;
    if added {
        refs.rotate_right(1);
    }
    Ok(refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n---\n\
        apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: crb}\n\
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cr}\n\
        subjects: [{kind: ServiceAccount, name: sa, namespace: argocd}]\n";

    #[test]
    fn objects_as_json_with_the_namespace_first() {
        let objects = prepare_manifest(MANIFEST, "gitops").unwrap();
        let refs: Vec<String> = objects.iter().map(|o| o.reference.to_string()).collect();
        assert_eq!(
            refs,
            manifest_refs(MANIFEST, "gitops")
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        );
        assert_eq!(
            objects[0].reference,
            ObjectRef::new("v1", "Namespace", None, "gitops")
        );
        assert_eq!(
            objects[1].reference,
            ObjectRef::new("v1", "ConfigMap", Some("gitops"), "cm")
        );
        let binding: serde_json::Value = serde_json::from_str(objects[2].json()).unwrap();
        assert_eq!(binding["subjects"][0]["namespace"], "gitops");
        assert!(!objects[1].json().contains('\n'), "compact JSON");
    }

    #[test]
    fn errors_name_the_document_or_the_object() {
        let bad = format!("{MANIFEST}---\nkind: Service\nmetadata: [\n");
        assert!(matches!(
            manifest_refs(&bad, "argocd"),
            Err(PrepareError::Parse(ParseError::Yaml { index: 3, .. }))
        ));
        let foreign = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: x}\n";
        assert!(matches!(
            prepare_manifest(foreign, "argocd"),
            Err(PrepareError::Install(InstallError::ForeignNamespace { .. }))
        ));
    }
}
