//! State upgrade from schema version 1 to 2 (the manifest's text leaves the state).
//!
//! Version 1 kept an inline manifest's text in `install_manifest` (2 MB for Argo CD v3.5.1), had `ha` null when
//! unset and `install_manifest_sha256` null without a pin. Version 2:
//! - `ha` is false when it was null (the attribute is computed, default false);
//! - `install_manifest_sha256` holds the sha256 the install must have: when it was null, the digest applied
//!   (`manifest_sha256`), so the digest at the next plan compares with what is installed;
//! - an inline manifest whose sha256 is the official release manifest of `version` (and `ha`) becomes that
//!   release: `install_manifest` null, `install_manifest_url` the official URL. A configuration that gives
//!   `version` alone then plans no change, and the next apply writes the state without the text. Any other inline
//!   manifest stays as it is (its configuration still gives the text, which stays in state).

use serde_json::Value as Json;

use crate::cty;
use crate::framework::RawState;
use crate::manifests::argocd::source::{official_sha256, sha256_hex, upstream_manifest_url};

/// A version 1 state in version 2's form (still JSON: the caller decodes it with the schema).
///
/// Errors: the state is not a JSON object.
pub fn from_v1(raw: &RawState) -> Result<RawState, cty::Error> {
    let mut json = raw.to_json()?;
    let Some(state) = json.as_object_mut() else {
        return Err(cty::Error::new("invalid state JSON: not an object"));
    };
    let ha = state.get("ha").and_then(Json::as_bool).unwrap_or(false);
    state.insert("ha".into(), Json::Bool(ha));
    let pin_missing = state
        .get("install_manifest_sha256")
        .is_none_or(Json::is_null);
    if pin_missing {
        let applied = state.get("manifest_sha256").cloned().unwrap_or(Json::Null);
        state.insert("install_manifest_sha256".into(), applied);
    }
    let version = state
        .get("version")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_string();
    let official = official_sha256(&version, ha);
    let is_official = state
        .get("install_manifest")
        .and_then(Json::as_str)
        .is_some_and(|text| official == Some(sha256_hex(text.as_bytes()).as_str()));
    if is_official {
        let url = upstream_manifest_url(&version, ha);
        state.insert("install_manifest".into(), Json::Null);
        state.insert("install_manifest_url".into(), Json::String(url));
        tracing::info!(
            version = %version,
            "state upgrade: the inline manifest is the official release; the state keeps its URL and sha256"
        );
    }
    let json = serde_json::to_vec(&json)
        .map_err(|e| cty::Error::new(format!("cannot encode the state JSON: {e}")))?;
    Ok(RawState { json })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upgrade(v1: Json) -> Json {
        let raw = RawState {
            json: serde_json::to_vec(&v1).unwrap(),
        };
        from_v1(&raw).unwrap().to_json().unwrap()
    }

    #[test]
    fn a_url_state_gets_its_applied_digest_as_the_expected_one() {
        let v2 = upgrade(json!({
            "version": "v3.5.1", "ha": null, "install_manifest": null,
            "install_manifest_url": "https://mirror.example/install.yaml",
            "install_manifest_sha256": null, "manifest_sha256": "ab".repeat(32),
        }));
        assert_eq!(v2["ha"], false);
        assert_eq!(v2["install_manifest_sha256"], "ab".repeat(32));
        assert_eq!(
            v2["install_manifest_url"],
            "https://mirror.example/install.yaml"
        );
    }

    #[test]
    fn the_official_inline_manifest_becomes_the_release() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/argocd/v3.5.1/install.yaml"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            println!("SKIPPED: {path} not readable");
            return;
        };
        let digest = sha256_hex(text.as_bytes());
        let v2 = upgrade(json!({
            "version": "v3.5.1", "ha": null, "install_manifest": text,
            "install_manifest_url": null, "install_manifest_sha256": null, "manifest_sha256": digest,
        }));
        assert_eq!(v2["install_manifest"], Json::Null);
        assert_eq!(
            v2["install_manifest_url"],
            "https://raw.githubusercontent.com/argoproj/argo-cd/v3.5.1/manifests/install.yaml"
        );
        assert_eq!(v2["install_manifest_sha256"], digest);
        assert_eq!(v2["ha"], false);
        // The same text labelled as another version is not that release's manifest: kept.
        let other = upgrade(
            json!({"version": "v3.5.0", "install_manifest": text, "manifest_sha256": digest}),
        );
        assert!(other["install_manifest"].is_string());
    }

    #[test]
    fn only_an_official_inline_manifest_leaves_the_state() {
        // Not the official v3.5.1 manifest: kept.
        let custom = upgrade(json!({
            "version": "v3.5.1", "install_manifest": "kind: X\n",
            "install_manifest_url": null, "manifest_sha256": sha256_hex(b"kind: X\n"),
        }));
        assert_eq!(custom["install_manifest"], "kind: X\n");
        assert_eq!(custom["install_manifest_url"], Json::Null);
        assert_eq!(custom["install_manifest_sha256"], sha256_hex(b"kind: X\n"));
        let pinned = "ab".repeat(32);
        let kept =
            upgrade(json!({"install_manifest_sha256": pinned, "manifest_sha256": "cd".repeat(32)}));
        assert_eq!(kept["install_manifest_sha256"], pinned);
    }
}
