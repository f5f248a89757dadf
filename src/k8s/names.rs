//! Syntax of names the API server or the kubelet refuses late: label keys and values (a bad selector fails the
//! apply of the object that holds it) and image references (a bad one leaves pods in `InvalidImageName`).
//!
//! Label rules: kubernetes/apimachinery `pkg/util/validation/validation.go` (`IsQualifiedName`,
//! `IsValidLabelValue`): a key is an optional DNS-subdomain prefix (at most 253 characters) and `/`, then a name
//! of at most 63 characters, alphanumeric at both ends with `-`, `_`, `.` inside; a value is empty or such a name.
//! Image rules: distribution/reference `regexp.go` (the grammar the container runtimes parse): an optional
//! registry host (`host[:port]`, recognised by a `.` or `:` or being `localhost`) and `/`-separated lowercase path
//! components of alphanumerics joined by `.`, `_`, `__` or runs of `-`.

/// Checks a label key. Errors say what is wrong, quoting the key (keys are not secret).
pub fn label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() || p.len() > 253 || !p.split('.').all(dns_label) {
            return Err(format!(
                "label key {key:?}: the prefix before '/' must be a DNS subdomain (lowercase alphanumerics, '-' and '.')"
            ));
        }
    }
    if !qualified_name(name) {
        return Err(format!(
            "label key {key:?}: the name must be 1 to 63 characters, alphanumeric at both ends, with '-', '_' or '.' inside"
        ));
    }
    Ok(())
}

/// Checks a label value (empty, or a name as in [`label_key`]).
pub fn label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || qualified_name(value) {
        Ok(())
    } else {
        Err(format!(
            "label value {value:?} must be empty or 1 to 63 characters, alphanumeric at both ends, with '-', '_' or '.' inside"
        ))
    }
}

fn qualified_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn dns_label(l: &str) -> bool {
    let b = l.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Checks an image repository prefix such as `quay.io/cilium` or `registry.local:5000/mirror/cilium` (no tag or
/// digest: the image name and tag are appended to it).
pub fn image_repository(repo: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("image repository {repo:?}: {why}"));
    if repo.is_empty() || repo.len() > 255 {
        return bad("must be 1 to 255 characters");
    }
    if repo.contains('@') || repo.ends_with('/') {
        return bad("must be a registry and path without tag, digest or trailing '/'");
    }
    let mut parts = repo.split('/');
    let first = parts.next().unwrap_or("");
    let has_host =
        repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let path: Vec<&str> = if has_host {
        let (host, port) = match first.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (first, None),
        };
        let host_ok = !host.is_empty()
            && host.split('.').all(|l| {
                !l.is_empty()
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !host_ok {
            return bad("the registry host is not a valid host name");
        }
        if port.is_some_and(|p| p.parse::<u16>().map_or(true, |n| n == 0)) {
            return bad("the registry port is not a TCP port (1 to 65535)");
        }
        parts.collect()
    } else {
        repo.split('/').collect()
    };
    if path.is_empty() || !path.iter().all(|c| path_component(c)) {
        return bad(
            "path components must be lowercase alphanumerics separated by '.', '_', '__' or '-' (e.g. quay.io/cilium)",
        );
    }
    Ok(())
}

fn path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let ch = b[i];
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            i += 1;
            continue;
        }
        // Separators: '.', '_', '__', or one or more '-'.
        match ch {
            b'.' => i += 1,
            b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
        if !b
            .get(i)
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys_and_values() {
        for ok in ["app", "app.kubernetes.io/name", "a_b.c-d", "x/y"] {
            assert!(label_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a b",
            "Exa mple/x",
            "a/b/c",
            "/x",
            "x/",
            &"a".repeat(64),
        ] {
            assert!(label_key(bad).is_err(), "{bad}");
        }
        assert!(label_value("").is_ok() && label_value("v1.2").is_ok());
        assert!(label_value("bad value").is_err() && label_value("-x").is_err());
    }

    #[test]
    fn image_repositories() {
        for ok in [
            "quay.io/cilium",
            "registry.local:5000/mirror/cilium",
            "localhost/cilium",
            "cilium",
            "docker.io/library",
            "ghcr.io/a__b/c-d--e",
        ] {
            assert!(image_repository(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Quay.io/Cilium",
            "quay.io/cilium/",
            "quay.io/cilium:v1",
            "quay.io//x",
            "reg:70000/x",
            "quay.io/ci lium",
            "quay.io/-x",
            "https://quay.io/cilium",
        ] {
            assert!(image_repository(bad).is_err(), "{bad}");
        }
    }
}
