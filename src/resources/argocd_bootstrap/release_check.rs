//! Plan-time checks of `version` against what a file or inline manifest really deploys, and of downgrades.
//!
//! Argo CD's release manifests run every component from one image, `quay.io/argoproj/argocd:<tag>` with the
//! release's tag (manifests/install.yaml and manifests/ha/install.yaml at each tag); a mirror keeps the
//! repository's last path segment `argocd`. So the tag of the `argocd` image a manifest names is the release it
//! installs, and a `version` that says otherwise would leave the state describing a release that is not running.

use crate::cty::{AttributePath, Value};
use crate::framework::Diagnostic;
use crate::manifests::argocd::source::read_manifest_file;

/// The tags of the `…/argocd:<tag>` images that `image:` lines of a manifest name (deduplicated, in order).
/// A digest reference (`@sha256:…`) without a tag names no release.
pub fn argocd_image_tags(manifest: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for line in manifest.lines() {
        let line = line.trim_start().trim_start_matches("- ").trim_start();
        let Some(reference) = line.strip_prefix("image:") else {
            continue;
        };
        let reference = reference.trim().trim_matches(['"', '\'']);
        let reference = reference.split('@').next().unwrap_or(reference);
        let Some((repository, tag)) = reference.rsplit_once(':') else {
            continue;
        };
        // A colon inside the repository is a registry port (`registry:5000/argocd`), not a tag.
        if tag.contains('/') || repository.rsplit('/').next() != Some("argocd") {
            continue;
        }
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_string());
        }
    }
    tags
}

/// The manifest text of a file or inline source, when the config has one (a file that cannot be read is
/// reported elsewhere: `None`).
fn local_manifest(config: &Value) -> Option<String> {
    if let Some(text) = config.get("install_manifest").as_str() {
        return Some(text.to_string());
    }
    let path = config.get("install_manifest_file").as_str()?;
    String::from_utf8(read_manifest_file(path).ok()?).ok()
}

/// Refuses a `version` that differs from the release a file or inline manifest deploys. Runs only when
/// `version` or the manifest changed (`changed`), so an unchanged plan reads no file.
///
/// Errors: at `version`, naming the image found.
pub fn check_version_matches_manifest(config: &Value, changed: bool) -> Result<(), Diagnostic> {
    let Some(version) = config.get("version").as_str() else {
        return Ok(());
    };
    if !changed {
        return Ok(());
    }
    let Some(text) = local_manifest(config) else {
        return Ok(());
    };
    let tags = argocd_image_tags(&text);
    let wanted = version.trim();
    if tags.is_empty() || tags.iter().any(|t| t == wanted) {
        return Ok(());
    }
    let source = if config.get("install_manifest").is_null() {
        "install_manifest_file"
    } else {
        "install_manifest"
    };
    Err(Diagnostic::error(
        "The install manifest is another Argo CD release",
        format!(
            "`{source}` deploys the argocd image tagged {}, but `version` is {wanted:?}. Set `version` to the \
             release the manifest installs (the state records it as the running release).",
            tags.join(", ")
        ),
    )
    .at(AttributePath::attr("version")))
}

/// A warning when `version` goes down from the prior one (both `vMAJOR.MINOR.PATCH`): Argo CD's upgrade guide
/// (docs/operator-manual/upgrading) covers upgrades only, and an older release's manifest is applied over the
/// newer one's CRDs and settings as they are.
pub fn downgrade_warning(prior: &Value, planned: &Value) -> Option<Diagnostic> {
    let parse = |v: &Value| {
        v.get("version")
            .as_str()
            .and_then(crate::version::parse_release)
    };
    let (from, to) = (parse(prior)?, parse(planned)?);
    (to < from).then(|| {
        Diagnostic::warning(
            "Argo CD downgrade",
            format!(
                "`version` goes from v{}.{}.{} down to v{}.{}.{}. Argo CD documents upgrades only: the older \
                 release's manifest is applied over the newer one's CRDs and settings, which it may not read. \
                 Restore a backup of the older install instead if you can.",
                from[0], from[1], from[2], to[0], to[1], to[2]
            ),
        )
        .at(AttributePath::attr("version"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_argocd_image_tags_of_a_manifest() {
        let manifest = "spec:\n  containers:\n  - image: quay.io/argoproj/argocd:v3.5.1\n    name: a\n  - name: b\n    \
                        image: \"quay.io/argoproj/argocd:v3.5.1\"\n  - image: redis:7.2.4-alpine\n  - image: \
                        registry.local:5000/mirror/argocd:v3.4.0@sha256:abc\n  - image: ghcr.io/dexidp/dex:v2.41.1\n  \
                        - image: registry.local:5000/argocd\n";
        assert_eq!(argocd_image_tags(manifest), ["v3.5.1", "v3.4.0"]);
        assert!(argocd_image_tags("image: argocd-extension:v1\n").is_empty());
    }

    #[test]
    fn the_shipped_fixture_deploys_its_release() {
        let Some(text) = crate::manifests::argocd::fixture_tests::fixture() else {
            return;
        };
        assert_eq!(argocd_image_tags(&text), ["v3.5.1"]);
    }

    #[test]
    fn a_version_other_than_the_manifests_is_refused_at_version() {
        let mut config = Value::object([
            ("version", Value::from("v9.9.9")),
            (
                "install_manifest",
                Value::from("containers:\n- image: quay.io/argoproj/argocd:v3.5.1\n"),
            ),
        ]);
        let e = check_version_matches_manifest(&config, true).unwrap_err();
        assert!(e.to_string().contains("v3.5.1"), "{e}");
        assert!(check_version_matches_manifest(&config, false).is_ok());
        config.set("version", "v3.5.1");
        assert!(check_version_matches_manifest(&config, true).is_ok());
    }

    #[test]
    fn warns_on_downgrades_only() {
        let v = |s: &str| Value::object([("version", Value::from(s))]);
        assert!(downgrade_warning(&v("v3.5.1"), &v("v2.14.1")).is_some());
        assert!(downgrade_warning(&v("v3.5.1"), &v("v3.5.0")).is_some());
        assert!(downgrade_warning(&v("v3.4.0"), &v("v3.5.1")).is_none());
        assert!(downgrade_warning(&v("v3.5.1"), &v("v3.5.1")).is_none());
    }
}
