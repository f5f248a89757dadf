//! The inventory of an inline or local-file install manifest, worked out once per manifest and namespace in a
//! provider process: Terraform validates a configuration and plans it in the same process (and Terraform 1.0
//! validates again at plan, as `modify_plan` does for 0.15), and parsing Argo CD's 1.9 MB manifest is the most
//! expensive step of a plan. Entries are keyed by the manifest's sha256 and hold only the result (object
//! references or the diagnostic), never the text or parsed objects.

use std::sync::Mutex;

use crate::cty::AttributePath;
use crate::framework::Diagnostic;
use crate::k8s::inventory::Inventory;
use crate::manifests::argocd::source::sha256_hex;
use crate::manifests::argocd::{manifest_refs as refs_of, PrepareError};

/// How many manifests are remembered (one configuration has one; a few cover re-plans with edits).
const ENTRIES: usize = 4;

/// (sha256, namespace, source attribute) -> the inventory or why there is none.
type Entry = (
    (String, String, &'static str),
    Result<Inventory, Diagnostic>,
);

static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// The inventory the manifest `text` (given through attribute `source_attr`) installs into `namespace`, known at
/// plan time (no cluster, no download). Errors point at `source_attr` (the manifest does not parse) or
/// `namespace` (an object does not fit it).
pub fn manifest_refs(
    text: &str,
    namespace: &str,
    source_attr: &'static str,
) -> Result<Inventory, Diagnostic> {
    let key = (
        sha256_hex(text.as_bytes()),
        namespace.to_string(),
        source_attr,
    );
    if let Some(hit) = lookup(&key) {
        return hit;
    }
    let result = compute(text, namespace, source_attr);
    remember(key, result.clone());
    result
}

/// [`manifest_refs`] of a manifest known by its sha256, read by `load` only when not remembered.
pub fn manifest_refs_by_digest(
    digest: &str,
    namespace: &str,
    source_attr: &'static str,
    load: impl FnOnce() -> Result<String, Diagnostic>,
) -> Result<Inventory, Diagnostic> {
    let key = (
        digest.to_ascii_lowercase(),
        namespace.to_string(),
        source_attr,
    );
    if let Some(hit) = lookup(&key) {
        return hit;
    }
    let result = load().and_then(|text| compute(&text, namespace, source_attr));
    remember(key, result.clone());
    result
}

fn lookup(key: &(String, String, &'static str)) -> Option<Result<Inventory, Diagnostic>> {
    let cache = CACHE.lock().ok()?;
    cache.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

fn remember(key: (String, String, &'static str), result: Result<Inventory, Diagnostic>) {
    if let Ok(mut cache) = CACHE.lock() {
        cache.retain(|(k, _)| *k != key);
        if cache.len() >= ENTRIES {
            let _ = cache.remove(0);
        }
        cache.push((key, result));
    }
}

fn compute(text: &str, namespace: &str, source_attr: &str) -> Result<Inventory, Diagnostic> {
    let refs = refs_of(text, namespace).map_err(|e| match e {
        PrepareError::Install(e) => {
            Diagnostic::error("Install manifest does not fit the namespace", e.to_string())
                .at(AttributePath::attr("namespace"))
        }
        other => Diagnostic::error("Invalid install manifest", other.to_string())
            .at(AttributePath::attr(source_attr)),
    })?;
    tracing::debug!(
        objects = refs.len(),
        "install manifest inventory worked out"
    );
    Ok(Inventory::new(refs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_by_digest_and_namespace() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cached-a}\n";
        let first = manifest_refs(text, "argocd", "install_manifest").unwrap();
        assert_eq!(first.len(), 2, "the ConfigMap and the Namespace");
        let digest = sha256_hex(text.as_bytes());
        let again = manifest_refs_by_digest(&digest, "argocd", "install_manifest", || {
            panic!("remembered: not read again")
        });
        assert_eq!(again.unwrap().to_json(), first.to_json());
        let other_ns = manifest_refs_by_digest(&digest, "gitops", "install_manifest", || {
            Ok(text.to_string())
        })
        .unwrap();
        assert!(other_ns.to_json().contains("gitops"));
        let bad = manifest_refs("kind: [\n", "argocd", "install_manifest_file").unwrap_err();
        assert_eq!(
            bad.attribute,
            Some(AttributePath::attr("install_manifest_file"))
        );
    }
}
