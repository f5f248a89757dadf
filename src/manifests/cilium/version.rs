//! Supported Cilium versions and the images the chart of each version pins.
//!
//! Source: `values.yaml` of the official Cilium Helm chart packages 1.17.0, 1.18.12, 1.19.6 and 1.20.0 (image
//! repositories, tags and digests), and each release's "Kubernetes Compatibility" page
//! (`Documentation/network/kubernetes/compatibility.rst`) for the Kubernetes versions it was e2e-tested with.

use std::fmt;

/// Version used when none is given: the newest release whose chart the renderer was compared with.
pub const DEFAULT_VERSION: &str = "1.20.0";

/// Minor lines the renderer supports (`1.<minor>.x`), oldest first.
pub const LINES: &[u32] = &[17, 18, 19, 20];

/// Minor lines kept only so that clusters installed with them can be upgraded (Cilium no longer maintains them).
pub const DEPRECATED_LINES: &[u32] = &[17];

/// Human-readable statement of support, used in docs and diagnostics.
pub const SUPPORTED: &str =
    "1.18.x, 1.19.x or 1.20.x (1.17.x deprecated, kept for upgrades from it)";

/// Versions whose rendering is compared object by object with their own official chart (see
/// `tests/cilium_chart_equality.rs`).
pub const VERIFIED: &[&str] = &["1.17.0", "1.18.12", "1.19.6", "1.20.0"];

/// The Kubernetes minors each line was e2e-tested with, `(line, first, last)` as `1.<first>` to `1.<last>`: the
/// "Kubernetes Compatibility" page of each release's documentation
/// (`Documentation/network/kubernetes/compatibility.rst`): 1.18 lists 1.30-1.33 (read at v1.18.14), 1.19 lists
/// 1.32-1.35 (read at 1.19.3). 1.17 (1.29-1.32) and 1.20 (1.33-1.36) follow the page's rule, the four newest
/// Kubernetes minors when the release branched; their pages were not re-read for this table.
pub const KUBERNETES_TESTED: &[(u32, u32, u32)] =
    &[(17, 29, 32), (18, 30, 33), (19, 32, 35), (20, 33, 36)];

/// The version the provider installed when `version` was not set, before 1.18-1.20 were supported: what a
/// state written then runs.
pub const LEGACY_DEFAULT_VERSION: &str = "1.17.0";

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
    /// Parses `1.17.0` or `v1.17.0` as a Semantic Version (`semver` crate: no leading zeros, no missing part);
    /// rejects pre-release and build suffixes (Cilium's release charts are plain `MAJOR.MINOR.PATCH`).
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        let [major, minor, patch] = crate::version::parse_release(s)
            .ok_or_else(|| VersionError::Malformed(s.to_string()))?;
        Ok(CiliumVersion {
            major,
            minor,
            patch,
        })
    }

    /// Parses and checks that the renderer supports this version (a line of [`LINES`]).
    pub fn parse_supported(s: &str) -> Result<Self, VersionError> {
        let v = Self::parse(s)?;
        if v.major == 1 && LINES.contains(&v.minor) {
            Ok(v)
        } else {
            Err(VersionError::Unsupported(v.to_string()))
        }
    }

    /// Whether this version is on minor line `1.<minor>` or a later one: the gate of every version-dependent
    /// branch of the renderer (`v.since(19)`).
    pub fn since(&self, minor: u32) -> bool {
        (self.major, self.minor) >= (1, minor)
    }

    /// Whether the line is deprecated (see [`DEPRECATED_LINES`]).
    pub fn is_deprecated(&self) -> bool {
        self.major == 1 && DEPRECATED_LINES.contains(&self.minor)
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

/// Whether a Kubernetes version `1.<k8s_minor>` is in the range line `ver` was e2e-tested with; `Err` carries the
/// range `(first, last)` when it is not. Lines without a known range pass.
pub fn check_kubernetes(ver: CiliumVersion, k8s_minor: u32) -> Result<(), (u32, u32)> {
    match KUBERNETES_TESTED
        .iter()
        .find(|(line, _, _)| *line == ver.minor)
    {
        Some((_, first, last)) if !(first..=last).contains(&&k8s_minor) => Err((*first, *last)),
        _ => Ok(()),
    }
}

/// Whether an installed `from` may be changed in place to `to`. Cilium's upgrade guide: "The only tested rollback
/// and upgrade path is between consecutive minor releases"; Vixens upgrades one minor at a time and never goes
/// back to an older minor in place (a patch downgrade within a line is allowed). `Err` is the reason, for a
/// person.
pub fn check_transition(from: CiliumVersion, to: CiliumVersion) -> Result<(), String> {
    let (f, t) = ((from.major, from.minor), (to.major, to.minor));
    if t < f {
        return Err(format!(
            "Cilium {from} is installed: changing it in place to the older minor {to} is not supported (a \
             downgrade across minors needs Cilium's rollback procedure with the previous release's configuration, \
             which this resource does not perform). Keep {}.{}.x, or destroy and recreate the resource.",
            from.major, from.minor
        ));
    }
    if to.major == from.major && to.minor > from.minor + 1 {
        return Err(format!(
            "Cilium {from} is installed: upgrade one minor release at a time, as Cilium's upgrade guide requires \
             (the only tested path is between consecutive minors). Set version to 1.{}.x first, apply, then {to}.",
            from.minor + 1
        ));
    }
    Ok(())
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

/// The images the chart of one verified release pins (`image.digest`, `operator.image.genericDigest`,
/// `hubble.relay.image.digest`, `envoy.image`, `hubble.ui.{frontend,backend}.image`).
struct Release {
    version: &'static str,
    cilium: &'static str,
    operator_generic: &'static str,
    hubble_relay: &'static str,
    /// `cilium-envoy` tag and digest.
    envoy: (&'static str, &'static str),
    /// Hubble UI tag, frontend digest, backend digest.
    hubble_ui: (&'static str, &'static str, &'static str),
}

const ENVOY_1_36_9: (&str, &str) = (
    "v1.36.9-1782267392-edeb3f2af56c37c407efa1f63f0b32f595399bbc",
    "sha256:767101fb8a5e38f055778cb43b7aa8eed80450b37f8121effac3d9de9e06dc99",
);
const HUBBLE_UI_0_13_5: (&str, &str, &str) = (
    "v0.13.5",
    "sha256:f7d514fc54d784ed6df9d58cf0e97648b143f92b766dd1780ed3fc845bd4c516",
    "sha256:fac0c300ae119274edca11fd89b1ad23c788792d8bc4ea2ba631c709e8d3c688",
);

/// One verified release per line, oldest first.
const RELEASES: &[Release] = &[
    Release {
        version: "1.17.0",
        cilium: "sha256:51f21bdd003c3975b5aaaf41bd21aee23cc08f44efaa27effc91c621bc9d8b1d",
        operator_generic: "sha256:1ce5a5a287166fc70b6a5ced3990aaa442496242d1d4930b5a3125e44cccdca8",
        hubble_relay: "sha256:022c084588caad91108ac73e04340709926ea7fe12af95f57fcb794b68472e05",
        envoy: (
            "v1.31.5-1737535524-fe8efeb16a7d233bffd05af9ea53599340d3f18e",
            "sha256:57a3aa6355a3223da360395e3a109802867ff635cb852aa0afe03ec7bf04e545",
        ),
        hubble_ui: (
            "v0.13.1",
            "sha256:e2e9313eb7caf64b0061d9da0efbdad59c6c461f6ca1752768942bfeda0796c6",
            "sha256:0e0eed917653441fded4e7cdb096b7be6a3bddded5a2dd10812a27b1fc6ed95b",
        ),
    },
    Release {
        version: "1.18.12",
        cilium: "sha256:94149589d9b77fe3a78f900121b36fab51b1ede0c4190924e2328facc37de210",
        operator_generic: "sha256:86899c73438812b2761ac6fa435ea4e65f68e70d1ae54ac806fec8805d1ce011",
        hubble_relay: "sha256:308b186791faf8a8a9322ce64d2e12f66fa82a3f4659e7a79b31829b6195df61",
        envoy: ENVOY_1_36_9,
        hubble_ui: HUBBLE_UI_0_13_5,
    },
    Release {
        version: "1.19.6",
        cilium: "sha256:0df5b2750b64c49843aba1d649e9eaf61467cb0645ad3171db6f6962c095ac92",
        operator_generic: "sha256:0db4ca4e06969d8904ee036617795d0e9c3228cf7b8d902ba74fc2bb98d2d665",
        hubble_relay: "sha256:6782a49e3f28eba015701c4410a5ec7fa096fe9a562f879b4372dbecd827ea44",
        envoy: ENVOY_1_36_9,
        hubble_ui: HUBBLE_UI_0_13_5,
    },
    Release {
        version: "1.20.0",
        cilium: "sha256:383968cd5e8873f7976fa76aa6196045643558f4cc9518a207b9335cb24a0e93",
        operator_generic: "sha256:80744a8cc7c91c2f9e6347629406844eb35d79b30a732c6d41c15b17232a74f3",
        hubble_relay: "sha256:2ca16981c7eb98df0ba9c9d18896bb9ca628b5cbd40dc9801339f4741f91ee94",
        envoy: (
            "v1.37.5-1782911245-7cffc778c923f68a77954a53b1a98d6b5353f004",
            "sha256:583057dd4f7d54cd41efff3c413aa0b148ac201f522e2c3336851fa89c78b039",
        ),
        hubble_ui: HUBBLE_UI_0_13_5,
    },
];

/// The verified release of `version`'s line (every supported line has one).
fn line_release(version: &CiliumVersion) -> &'static Release {
    let prefix = format!("{}.{}.", version.major, version.minor);
    RELEASES
        .iter()
        .find(|r| r.version.starts_with(&prefix))
        .unwrap_or(&RELEASES[RELEASES.len() - 1])
}

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
    /// `useDigest: true`); other patches of a line are referenced by tag only, with the Envoy and Hubble UI images
    /// of the line's verified release (a patch chart changes only image tags and digests; see the docs).
    pub fn for_version(version: &CiliumVersion, registry: Option<&str>) -> Images {
        let registry = registry
            .map(|r| r.trim_end_matches('/'))
            .unwrap_or(DEFAULT_REGISTRY);
        let tag = format!("v{version}");
        let line = line_release(version);
        let pinned = RELEASES.iter().find(|p| p.version == version.to_string());
        Images {
            cilium: image(registry, "cilium", &tag, pinned.map(|p| p.cilium)),
            operator: image(
                registry,
                "operator-generic",
                &tag,
                pinned.map(|p| p.operator_generic),
            ),
            envoy: image(registry, "cilium-envoy", line.envoy.0, Some(line.envoy.1)),
            hubble_relay: image(
                registry,
                "hubble-relay",
                &tag,
                pinned.map(|p| p.hubble_relay),
            ),
            hubble_ui: image(
                registry,
                "hubble-ui",
                line.hubble_ui.0,
                Some(line.hubble_ui.1),
            ),
            hubble_ui_backend: image(
                registry,
                "hubble-ui-backend",
                line.hubble_ui.0,
                Some(line.hubble_ui.2),
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
        for unsupported in ["1.16.5", "1.21.0", "2.18.0"] {
            assert!(matches!(
                CiliumVersion::parse_supported(unsupported),
                Err(VersionError::Unsupported(_))
            ));
        }
        for v in VERIFIED {
            let v = CiliumVersion::parse_supported(v).unwrap();
            assert!(v.is_verified());
            assert_eq!(v.is_deprecated(), v.minor == 17);
        }
        assert!(CiliumVersion::parse_supported(DEFAULT_VERSION)
            .unwrap()
            .is_verified());
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
    fn transitions_go_one_minor_up_or_stay_on_the_line() {
        let v = |s: &str| CiliumVersion::parse(s).unwrap();
        assert!(check_transition(v("1.17.0"), v("1.18.12")).is_ok());
        assert!(check_transition(v("1.18.11"), v("1.18.12")).is_ok());
        assert!(check_transition(v("1.18.12"), v("1.18.11")).is_ok());
        assert!(check_transition(v("1.20.0"), v("1.20.0")).is_ok());
        let down = check_transition(v("1.20.0"), v("1.19.6")).unwrap_err();
        assert!(down.contains("older minor 1.19.6"), "{down}");
        let skip = check_transition(v("1.17.0"), v("1.19.6")).unwrap_err();
        assert!(skip.contains("Set version to 1.18.x first"), "{skip}");
        assert!(check_kubernetes(v("1.20.0"), 35).is_ok());
        assert_eq!(check_kubernetes(v("1.18.12"), 36), Err((30, 33)));
        assert_eq!(check_kubernetes(v("1.17.0"), 28), Err((29, 32)));
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
        // A patch of another line takes that line's Envoy and Hubble UI.
        let p = Images::for_version(&CiliumVersion::parse("1.19.3").unwrap(), None);
        assert_eq!(p.cilium, "quay.io/cilium/cilium:v1.19.3");
        assert!(p.envoy.contains(":v1.36.9-"), "{}", p.envoy);
        assert!(p.hubble_ui.contains(":v0.13.5@"), "{}", p.hubble_ui);
    }
}
