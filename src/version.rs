//! Release version numbers as the upstream projects tag them: `MAJOR.MINOR.PATCH`, optionally `v`-prefixed.
//!
//! Cilium (`v1.18.12`) and Kubernetes (`v1.34.1`) tag releases with Semantic Versions; the provider accepts only
//! final releases, so a pre-release (`-rc.1`) or build (`+abc`) suffix is refused. Parsing is the `semver` crate's.

/// Parses `1.34.1` or `v1.34.1` into `[major, minor, patch]`.
///
/// Returns `None` when the text is not a Semantic Version, carries a
/// pre-release or build suffix, or has a part above `u32::MAX`.
pub fn parse_release(text: &str) -> Option<[u32; 3]> {
    let v = semver::Version::parse(text.strip_prefix('v').unwrap_or(text)).ok()?;
    if !v.pre.is_empty() || !v.build.is_empty() {
        return None;
    }
    let part = |n: u64| u32::try_from(n).ok();
    Some([part(v.major)?, part(v.minor)?, part(v.patch)?])
}

#[cfg(test)]
mod tests {
    use super::parse_release;

    #[test]
    fn accepts_final_releases_with_or_without_v() {
        assert_eq!(parse_release("1.34.1"), Some([1, 34, 1]));
        assert_eq!(parse_release("v1.18.12"), Some([1, 18, 12]));
    }

    #[test]
    fn refuses_suffixes_partial_versions_and_overflow() {
        for bad in [
            "1.34",
            "1.34.1-rc.1",
            "1.34.1+abc",
            "v",
            "",
            "1.2.3.4",
            "4294967296.0.0",
            "01.2.3",
            " 1.2.3",
        ] {
            assert_eq!(parse_release(bad), None, "{bad:?}");
        }
        assert_eq!(parse_release("4294967295.0.0"), Some([u32::MAX, 0, 0]));
    }
}
