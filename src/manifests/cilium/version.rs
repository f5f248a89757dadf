//! Supported Cilium versions and the images the chart of each version pins.
//!
//! Source: `values.yaml` of the Cilium Helm chart 1.17.0 (image repositories, tags and digests).

use std::fmt;

/// Version used when none is given.
pub const DEFAULT_VERSION: &str = "1.17.0";

/// Human-readable statement of support, used in docs and diagnostics.
pub const SUPPORTED: &str = "1.17.x (verified against the 1.17.0 chart)";

/// Versions whose rendering was checked object by object against the chart's templates.
pub const VERIFIED: &[&str] = &["1.17.0"];

/// A parsed Cilium version `MAJOR.MINOR.PATCH` (a leading `v` is accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CiliumVersion {
    /// Major (1).
    pub major: u32,
    /// Minor (17).
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

/// Why a version string is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Not of the form `1.17.0`.
    #[error("{0:?} is not a version of the form MAJOR.MINOR.PATCH (e.g. 1.17.0)")]
    Malformed(String),
    /// Well-formed but outside the supported lines.
    #[error("Cilium {0} is not supported; supported: {SUPPORTED}")]
    Unsupported(String),
}

impl CiliumVersion {
    /// Parses `1.17.0` or `v1.17.0`; rejects pre-release suffixes and anything else.
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        let t = s.strip_prefix('v').unwrap_or(s);
        let mut parts = t.split('.');
        let mut next = || -> Result<u32, VersionError> {
            let p = parts
                .next()
                .ok_or_else(|| VersionError::Malformed(s.to_string()))?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 6 {
                return Err(VersionError::Malformed(s.to_string()));
            }
            p.parse()
                .map_err(|_| VersionError::Malformed(s.to_string()))
        };
        let v = CiliumVersion {
            major: next()?,
            minor: next()?,
            patch: next()?,
        };
        if parts.next().is_some() {
            return Err(VersionError::Malformed(s.to_string()));
        }
        Ok(v)
    }

    /// Parses and checks that the renderer supports this version (the 1.17 line).
    pub fn parse_supported(s: &str) -> Result<Self, VersionError> {
        let v = Self::parse(s)?;
        if v.major == 1 && v.minor == 17 {
            Ok(v)
        } else {
            Err(VersionError::Unsupported(v.to_string()))
        }
    }

    /// True when this version was checked against its own chart (see [`VERIFIED`]).
    pub fn is_verified(&self) -> bool {
        VERIFIED.contains(&self.to_string().as_str())
    }

    /// Whether the chart runs Envoy as its own DaemonSet (`envoy.enabled` defaults to true from 1.16 on).
    pub fn uses_envoy_daemonset(&self) -> bool {
        (self.major, self.minor) >= (1, 16)
    }
}

impl fmt::Display for CiliumVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Full image references for one rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    /// Agent and its init containers (`cilium`).
    pub cilium: String,
    /// Operator (`operator-generic`).
    pub operator: String,
    /// Envoy proxy DaemonSet (`cilium-envoy`).
    pub envoy: String,
    /// Hubble relay.
    pub hubble_relay: String,
    /// Hubble UI frontend (nginx).
    pub hubble_ui: String,
    /// Hubble UI backend.
    pub hubble_ui_backend: String,
}

/// Registry prefix of every chart image.
pub const DEFAULT_REGISTRY: &str = "quay.io/cilium";

/// Digests pinned by the chart of a verified version (`image.digest`, `operator.image.genericDigest`, ...).
struct Pinned {
    version: &'static str,
    cilium: &'static str,
    operator_generic: &'static str,
    hubble_relay: &'static str,
}

const PINNED: &[Pinned] = &[Pinned {
    version: "1.17.0",
    cilium: "sha256:51f21bdd003c3975b5aaaf41bd21aee23cc08f44efaa27effc91c621bc9d8b1d",
    operator_generic: "sha256:1ce5a5a287166fc70b6a5ced3990aaa442496242d1d4930b5a3125e44cccdca8",
    hubble_relay: "sha256:022c084588caad91108ac73e04340709926ea7fe12af95f57fcb794b68472e05",
}];

/// Envoy image of the 1.17 chart (`envoy.image`): tag and digest.
const ENVOY_1_17: (&str, &str) = (
    "v1.31.5-1737535524-fe8efeb16a7d233bffd05af9ea53599340d3f18e",
    "sha256:57a3aa6355a3223da360395e3a109802867ff635cb852aa0afe03ec7bf04e545",
);
/// Hubble UI images of the 1.17 chart (`hubble.ui.frontend.image`, `hubble.ui.backend.image`).
const HUBBLE_UI_1_17: (&str, &str, &str) = (
    "v0.13.1",
    "sha256:e2e9313eb7caf64b0061d9da0efbdad59c6c461f6ca1752768942bfeda0796c6",
    "sha256:0e0eed917653441fded4e7cdb096b7be6a3bddded5a2dd10812a27b1fc6ed95b",
);

fn image(registry: &str, name: &str, tag: &str, digest: Option<&str>) -> String {
    match digest {
        Some(d) => format!("{registry}/{name}:{tag}@{d}"),
        None => format!("{registry}/{name}:{tag}"),
    }
}

impl Images {
    /// Images for `version`, under `registry` (default [`DEFAULT_REGISTRY`]).
    ///
    /// Verified versions carry the chart's digests (`repo:tag@sha256:...`, as the chart renders with
    /// `useDigest: true`); other 1.17 patches are referenced by tag only, with the 1.17 Envoy and Hubble UI images.
    pub fn for_version(version: &CiliumVersion, registry: Option<&str>) -> Images {
        let registry = registry
            .map(|r| r.trim_end_matches('/'))
            .unwrap_or(DEFAULT_REGISTRY);
        let tag = format!("v{version}");
        let pinned = PINNED.iter().find(|p| p.version == version.to_string());
        Images {
            cilium: image(registry, "cilium", &tag, pinned.map(|p| p.cilium)),
            operator: image(
                registry,
                "operator-generic",
                &tag,
                pinned.map(|p| p.operator_generic),
            ),
            envoy: image(registry, "cilium-envoy", ENVOY_1_17.0, Some(ENVOY_1_17.1)),
            hubble_relay: image(
                registry,
                "hubble-relay",
                &tag,
                pinned.map(|p| p.hubble_relay),
            ),
            hubble_ui: image(
                registry,
                "hubble-ui",
                HUBBLE_UI_1_17.0,
                Some(HUBBLE_UI_1_17.1),
            ),
            hubble_ui_backend: image(
                registry,
                "hubble-ui-backend",
                HUBBLE_UI_1_17.0,
                Some(HUBBLE_UI_1_17.2),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_support() {
        assert_eq!(
            CiliumVersion::parse("v1.17.3").unwrap(),
            CiliumVersion {
                major: 1,
                minor: 17,
                patch: 3
            }
        );
        assert!(CiliumVersion::parse_supported("1.17.0")
            .unwrap()
            .is_verified());
        assert!(!CiliumVersion::parse_supported("1.17.4")
            .unwrap()
            .is_verified());
        assert!(matches!(
            CiliumVersion::parse_supported("1.16.5"),
            Err(VersionError::Unsupported(_))
        ));
        for bad in [
            "1.17",
            "1.17.0-rc1",
            "latest",
            "",
            "1..0",
            "1.17.0.1",
            "+1.17.0",
        ] {
            assert!(
                matches!(CiliumVersion::parse(bad), Err(VersionError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn images_follow_the_chart() {
        let v = CiliumVersion::parse("1.17.0").unwrap();
        let i = Images::for_version(&v, None);
        assert_eq!(
            i.cilium,
            "quay.io/cilium/cilium:v1.17.0@sha256:51f21bdd003c3975b5aaaf41bd21aee23cc08f44efaa27effc91c621bc9d8b1d"
        );
        assert!(i
            .operator
            .starts_with("quay.io/cilium/operator-generic:v1.17.0@sha256:"));
        let m = Images::for_version(
            &CiliumVersion::parse("1.17.2").unwrap(),
            Some("mirror.lan/cilium/"),
        );
        assert_eq!(m.cilium, "mirror.lan/cilium/cilium:v1.17.2");
        assert!(m
            .envoy
            .starts_with("mirror.lan/cilium/cilium-envoy:v1.31.5-"));
    }
}
