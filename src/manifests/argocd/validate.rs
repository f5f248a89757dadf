//! Checks of user input for the Argo CD bootstrap, as plain functions returning a message; the resource attaches
//! attribute paths. Rules come from Git (`git check-ref-format`), Argo CD (repository URL forms it accepts) and
//! Kubernetes (DNS-1123 names).

/// A repository URL: `https://`, `ssh://` or `git://` with a host, or the scp-like SSH form `user@host:path`.
pub fn repo_url(url: &str) -> Result<(), String> {
    if url.trim() != url || url.is_empty() {
        return Err("must not be empty or have surrounding spaces".into());
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        if !matches!(scheme, "https" | "ssh" | "git") {
            return Err(format!(
                "scheme {scheme} is not allowed; use https, ssh or git"
            ));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            // Credentials in the URL would show in clear in plans, the state and the root Application.
            // (The message never repeats the URL.)
            if scheme != "ssh" || userinfo.contains(':') {
                return Err(
                    "must not carry credentials (user:password@ or token@): give them in `username` and \
                     `password` (or `ssh_private_key`), which are sensitive"
                        .into(),
                );
            }
        }
        let host = authority.rsplit('@').next().unwrap_or("");
        if host.is_empty() {
            return Err("has no host".into());
        }
        return Ok(());
    }
    if is_scp_like(url) {
        return Ok(());
    }
    Err("must be an https://, ssh:// or git:// URL, or user@host:path".into())
}

/// True for the scp-like SSH form `user@host:path` (what `git clone git@github.com:o/r.git` takes).
pub fn is_scp_like(url: &str) -> bool {
    let Some((user_host, path)) = url.split_once(':') else {
        return false;
    };
    let Some((user, host)) = user_host.split_once('@') else {
        return false;
    };
    !user.is_empty()
        && !host.is_empty()
        && !host.contains('/')
        && !path.is_empty()
        && !url.contains("://")
}

/// True for URLs that use SSH (`ssh://` or scp-like).
pub fn is_ssh_url(url: &str) -> bool {
    url.starts_with("ssh://") || is_scp_like(url)
}

/// A Git revision: a branch, tag, `HEAD` or a commit, following `git check-ref-format` rules.
pub fn revision(rev: &str) -> Result<(), String> {
    if rev.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(c) = rev
        .chars()
        .find(|c| c.is_ascii_control() || " ~^:?*[\\".contains(*c))
    {
        return Err(format!("must not contain {c:?}"));
    }
    if rev.contains("..") || rev.contains("@{") || rev.contains("//") {
        return Err("must not contain '..', '@{' or '//'".into());
    }
    if rev == "@"
        || rev.starts_with('/')
        || rev.ends_with('/')
        || rev.ends_with('.')
        || rev.ends_with(".lock")
    {
        return Err("is not a valid Git ref name".into());
    }
    if rev.split('/').any(|part| part.starts_with('.')) {
        return Err("a component must not start with '.'".into());
    }
    Ok(())
}

/// A path in the repository: relative, without `..` components or backslashes.
pub fn app_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("must not be empty (use \".\" for the repository root)".into());
    }
    if path.starts_with('/') {
        return Err("must be relative to the repository root".into());
    }
    if path.contains('\\') {
        return Err("must use '/' as separator".into());
    }
    if path.split('/').any(|c| c == "..") {
        return Err("must not contain '..'".into());
    }
    Ok(())
}

/// An Argo CD release version: `v` then semver, e.g. `v3.5.1` or `v3.6.0-rc1`.
pub fn version(v: &str) -> Result<(), String> {
    let bad = || format!("{v:?} is not a release version like v3.5.1");
    let rest = v.strip_prefix('v').ok_or_else(bad)?;
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    if pre.is_some_and(|p| {
        p.is_empty()
            || !p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    }) {
        return Err(bad());
    }
    Ok(())
}

/// The first Argo CD release whose install layout the bootstrap handles (see `install.rs`: upstream
/// `install.yaml` from v2.14 on, tested against v3.5.1) as `(major, minor)`; the default install manifest URL is
/// derived from `version`, so only releases from this one up to (not including) [`LAST_MAJOR`] + 1 are accepted
/// there.
pub const FIRST_SUPPORTED: (u64, u64) = (2, 14);
/// The last Argo CD major release the bootstrap handles.
pub const LAST_MAJOR: u64 = 3;

/// A release [`version`] from v2.14.0 up to (not including) v4.0.0, e.g. `v3.5.1`; a message naming the
/// supported range otherwise.
pub fn supported_version(v: &str) -> Result<(), String> {
    version(v)?;
    let mut parts = v
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().ok());
    let (major, minor) = (parts.next().flatten(), parts.next().flatten());
    match (major, minor) {
        (Some(major), Some(minor)) if (major, minor) >= FIRST_SUPPORTED && major <= LAST_MAJOR => Ok(()),
        _ => Err(format!(
            "{v:?} is not supported: the default install manifest is derived from `version` and only Argo CD \
             v{}.{}.0 up to (not including) v{}.0.0 is supported; set `install_manifest_url`, \
             `install_manifest_file` or `install_manifest` to install another release yourself",
            FIRST_SUPPORTED.0,
            FIRST_SUPPORTED.1,
            LAST_MAJOR + 1
        )),
    }
}

/// The Application-level sync options Argo CD documents (user guide, "Sync Options"), with the values each
/// accepts.
const SYNC_OPTIONS: &[(&str, &[&str])] = &[
    ("Prune", &["true", "false", "confirm"]),
    ("Delete", &["true", "false", "confirm"]),
    ("Validate", &["true", "false"]),
    ("SkipDryRunOnMissingResource", &["true", "false"]),
    ("ApplyOutOfSyncOnly", &["true", "false"]),
    (
        "PrunePropagationPolicy",
        &["foreground", "background", "orphan"],
    ),
    ("PruneLast", &["true", "false"]),
    ("Replace", &["true", "false"]),
    ("Force", &["true", "false"]),
    ("ServerSideApply", &["true", "false"]),
    ("ClientSideApplyMigration", &["true", "false"]),
    ("FailOnSharedResource", &["true", "false"]),
    ("RespectIgnoreDifferences", &["true", "false"]),
    ("CreateNamespace", &["true", "false"]),
];

/// One `spec.syncPolicy.syncOptions` item: `Key=value` with a key and value Argo CD documents, e.g.
/// `ServerSideApply=true` or `PrunePropagationPolicy=foreground`. Argo CD ignores unknown options silently, so
/// a typo would never take effect.
pub fn sync_option(option: &str) -> Result<(), String> {
    let Some((key, value)) = option.split_once('=') else {
        return Err(format!(
            "{option:?} is not of the form Key=value (e.g. ServerSideApply=true)"
        ));
    };
    let Some((_, allowed)) = SYNC_OPTIONS.iter().find(|(k, _)| *k == key) else {
        let known: Vec<&str> = SYNC_OPTIONS.iter().map(|(k, _)| *k).collect();
        return Err(format!(
            "{option:?}: {key:?} is not an Argo CD sync option; known options: {}",
            known.join(", ")
        ));
    };
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(format!("{option:?}: {key} accepts {}", allowed.join(", ")))
    }
}

/// A Kubernetes object name usable as namespace or Application name (DNS-1123 label: lowercase alphanumerics and
/// '-', starting and ending alphanumeric, at most 63 characters).
pub fn dns_label(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a DNS-1123 label (lowercase letters, digits and '-', at most 63)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_options_follow_the_argo_cd_docs() {
        for ok in [
            "ServerSideApply=true",
            "CreateNamespace=true",
            "PrunePropagationPolicy=orphan",
            "Prune=confirm",
            "ClientSideApplyMigration=false",
        ] {
            assert!(sync_option(ok).is_ok(), "{ok}");
        }
        let e = sync_option("Bogus=1").unwrap_err();
        assert!(e.contains("\"Bogus\" is not an Argo CD sync option"), "{e}");
        assert!(e.contains("ServerSideApply"), "{e}");
        let e = sync_option("PrunePropagationPolicy=later").unwrap_err();
        assert!(e.contains("foreground, background, orphan"), "{e}");
        assert!(sync_option("ServerSideApply").is_err());
        assert!(sync_option("serversideapply=true").is_err());
    }

    #[test]
    fn only_the_supported_major_is_accepted() {
        assert!(supported_version("v3.5.1").is_ok());
        assert!(supported_version("v3.6.0-rc1").is_ok());
        assert!(supported_version("v2.14.2").is_ok());
        for bad in ["v1.0.0", "v2.13.9", "v4.0.0"] {
            let e = supported_version(bad).unwrap_err();
            assert!(e.contains("v2.14.0") && e.contains("v4.0.0"), "{e}");
        }
        assert!(supported_version("3.5.1")
            .unwrap_err()
            .contains("release version"));
    }

    #[test]
    fn repo_urls() {
        for ok in [
            "https://github.com/o/vixens.git",
            "ssh://git@github.com/o/r.git",
            "git://git.example/r",
            "git@github.com:o/r.git",
        ] {
            assert!(repo_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://github.com/o/r",
            "file:///tmp/r",
            "https://",
            "github.com/o/r",
            " https://x/y",
            "",
        ] {
            assert!(repo_url(bad).is_err(), "{bad}");
        }
        for with_credentials in [
            "https://u:tok3n@github.com/o/r",
            "https://tok3n@github.com/o/r",
            "git://tok3n@h/r",
            "ssh://git:tok3n@h/r",
        ] {
            let e = repo_url(with_credentials).unwrap_err();
            assert!(e.contains("username") && !e.contains("tok3n"), "{e}");
        }
        assert!(
            is_ssh_url("git@github.com:o/r.git")
                && is_ssh_url("ssh://h/r")
                && !is_ssh_url("https://h/r")
        );
    }

    #[test]
    fn revisions() {
        for ok in ["dev", "main", "release/1.2", "v3.5.1", "HEAD", "0123abcd"] {
            assert!(revision(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a..b", "a b", "x~1", "a:b", "/a", "a/", "a.lock", ".hidden", "a/.b", "@", "a@{1}",
            "a//b",
        ] {
            assert!(revision(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_versions_names() {
        assert!(app_path("argocd/overlays/dev").is_ok() && app_path(".").is_ok());
        for bad in ["", "/abs", "a/../b", "..", "a\\b"] {
            assert!(app_path(bad).is_err(), "{bad}");
        }
        assert!(version("v3.5.1").is_ok() && version("v3.6.0-rc1").is_ok());
        for bad in ["3.5.1", "v3.5", "v3.5.x", "v3.5.1-", "latest"] {
            assert!(version(bad).is_err(), "{bad}");
        }
        assert!(dns_label("argocd").is_ok());
        for bad in ["", "Argo", "-a", "a-", &"a".repeat(64), "a.b"] {
            assert!(dns_label(bad).is_err(), "{bad}");
        }
    }
}
