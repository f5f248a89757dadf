//! API servers this process knows to be down: found unreachable by [`super::Connection::connect`], or whose
//! cluster this process has just destroyed (its nodes reset). A provider process lives for one Terraform command,
//! so this is "in this run": [`super::Connection::connect_unless_down`] then makes one short attempt instead of
//! retrying for its whole bound, and a run spends the bound once per unreachable API, not once per resource.
//! A successful connect forgets the host.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

fn hosts() -> &'static Mutex<HashSet<String>> {
    static DOWN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    DOWN.get_or_init(|| Mutex::new(HashSet::new()))
}

/// The key of an API server URL: as `http::Uri` prints it (`https://host:port/`), so that a kubeconfig's
/// `server` and kube's `cluster_url` compare equal.
fn key(url: &str) -> String {
    url.trim()
        .parse::<http::Uri>()
        .map_or_else(|_| url.trim().to_string(), |u| u.to_string())
}

/// Records that the API server at `url` (e.g. `https://10.0.0.10:6443`) is down.
pub fn mark(url: &str) {
    if let Ok(mut h) = hosts().lock() {
        h.insert(key(url));
    }
}

/// Forgets `url` (it answered).
pub fn clear(url: &str) {
    if let Ok(mut h) = hosts().lock() {
        h.remove(&key(url));
    }
}

/// Whether `url` is known to be down.
pub fn is_down(url: &str) -> bool {
    hosts().lock().is_ok_and(|h| h.contains(&key(url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_compare_as_printed_by_http() {
        mark("https://127.0.250.1:6443");
        assert!(is_down("https://127.0.250.1:6443/"));
        assert!(!is_down("https://127.0.250.2:6443/"));
        clear("https://127.0.250.1:6443/");
        assert!(!is_down("https://127.0.250.1:6443"));
    }
}
