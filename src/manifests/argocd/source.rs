//! Where the install manifest comes from: the upstream release URL for a version and the sha256 of each official
//! release manifest ([`official_sha256`]), an HTTPS download with rustls, a local file, and the sha256 pin that
//! must match before anything is applied.
//!
//! Argo CD publishes `manifests/install.yaml` and `manifests/ha/install.yaml` in its Git repository at each release
//! tag (Argo CD docs, "Installation"; the release notes written by upstream's `.goreleaser.yaml` point there);
//! raw.githubusercontent.com serves them at
//! `https://raw.githubusercontent.com/argoproj/argo-cd/<version>/manifests[/ha]/install.yaml`.

use std::io::Read as _;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// Base of the upstream manifest URLs.
pub const UPSTREAM_BASE: &str = "https://raw.githubusercontent.com/argoproj/argo-cd";

/// Largest manifest accepted (bytes); the v3.5.1 install.yaml is 1.9 MB.
pub const MAX_MANIFEST_BYTES: usize = 32 * 1024 * 1024;

/// Why the manifest could not be obtained or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The URL is not https (or http on a loopback address).
    #[error("install manifest URL {url}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The download failed.
    #[error("cannot download the install manifest from {url}: {message}")]
    Fetch {
        /// The URL.
        url: String,
        /// The HTTP or transport error.
        message: String,
    },
    /// The manifest's sha256 is not the pinned one.
    #[error("install manifest sha256 mismatch: expected {expected}, got {actual}")]
    Sha256Mismatch {
        /// The pinned digest (lowercase hex).
        expected: String,
        /// The digest of the bytes obtained (lowercase hex).
        actual: String,
    },
    /// The manifest is not UTF-8 text.
    #[error("the install manifest is not UTF-8 text")]
    NotText,
    /// A local manifest file cannot be read.
    #[error("cannot read the install manifest file {path}: {message}")]
    File {
        /// The path as given.
        path: String,
        /// The I/O error, or why the file is refused.
        message: String,
    },
}

/// The upstream install manifest URL of a release, e.g. `v3.5.1` ->
/// `https://raw.githubusercontent.com/argoproj/argo-cd/v3.5.1/manifests/install.yaml`; `ha` picks
/// `manifests/ha/install.yaml`.
pub fn upstream_manifest_url(version: &str, ha: bool) -> String {
    let dir = if ha { "manifests/ha" } else { "manifests" };
    format!("{UPSTREAM_BASE}/{version}/{dir}/install.yaml")
}

/// The sha256 (lowercase hex) of the official `install.yaml` (or, with `ha`, `ha/install.yaml`) of an Argo CD
/// release, as committed at its tag: the releases v2.14.1 to v3.5.1 (see [`super::release_digests`] for those
/// left out). `None` for any other version, whose manifest needs an explicit pin.
pub fn official_sha256(version: &str, ha: bool) -> Option<&'static str> {
    super::release_digests::RELEASE_DIGESTS
        .iter()
        .find(|(v, _, _)| *v == version)
        .map(|(_, install, ha_install)| if ha { *ha_install } else { *install })
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// True for a sha256 written as exactly 64 hex digits (either case).
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks `bytes` against the pinned digest (case-insensitive).
///
/// Errors: [`SourceError::Sha256Mismatch`] with both digests.
pub fn verify_sha256(bytes: &[u8], expected: &str) -> Result<(), SourceError> {
    let actual = sha256_hex(bytes);
    if actual.eq_ignore_ascii_case(expected.trim()) {
        Ok(())
    } else {
        Err(SourceError::Sha256Mismatch {
            expected: expected.trim().to_ascii_lowercase(),
            actual,
        })
    }
}

/// Checks that a manifest URL may be fetched: `https://`, or `http://` to a loopback address only (a local
/// mirror or test server; the sha256 pin still applies).
pub fn check_manifest_url(url: &str) -> Result<reqwest::Url, SourceError> {
    let bad = |reason: &str| SourceError::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&format!("not a URL: {e}")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if is_loopback_host(&parsed) => {}
        "http" => {
            return Err(bad(
                "plain http is only allowed to a loopback address; use https",
            ))
        }
        other => return Err(bad(&format!("scheme {other} is not supported; use https"))),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    Ok(parsed)
}

fn is_loopback_host(url: &reqwest::Url) -> bool {
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Downloads a manifest over HTTPS (rustls, system roots) or loopback HTTP, following at most 5 redirects, within
/// `timeout`, refusing bodies over [`MAX_MANIFEST_BYTES`].
pub async fn fetch_manifest(url: &str, timeout: Duration) -> Result<Vec<u8>, SourceError> {
    let parsed = check_manifest_url(url)?;
    let fail = |message: String| SourceError::Fetch {
        url: url.to_string(),
        message,
    };
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .https_only(parsed.scheme() == "https")
        .redirect(reqwest::redirect::Policy::limited(5))
        .timeout(timeout)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    tracing::info!(url = %url, "downloading install manifest");
    let response = client
        .get(parsed)
        .send()
        .await
        .map_err(|e| fail(crate::k8s::connection::error_chain(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!("HTTP {status}")));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_MANIFEST_BYTES as u64)
    {
        return Err(fail(format!("larger than {MAX_MANIFEST_BYTES} bytes")));
    }
    // Read chunk by chunk into one buffer (not `bytes()`, which holds the chunks and then a copy).
    let mut body = Vec::with_capacity(
        response
            .content_length()
            .map_or(0, |n| n as usize)
            .min(MAX_MANIFEST_BYTES),
    );
    let mut response = response;
    while let Some(chunk) = response.chunk().await.map_err(|e| fail(e.to_string()))? {
        if body.len() + chunk.len() > MAX_MANIFEST_BYTES {
            return Err(fail(format!("larger than {MAX_MANIFEST_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads a local manifest file, refusing files over [`MAX_MANIFEST_BYTES`].
///
/// Errors: [`SourceError::File`] naming the path and the I/O error.
pub fn read_manifest_file(path: &str) -> Result<Vec<u8>, SourceError> {
    let fail = |message: String| SourceError::File {
        path: path.to_string(),
        message,
    };
    let file = std::fs::File::open(Path::new(path)).map_err(|e| fail(e.to_string()))?;
    let size = file.metadata().map_err(|e| fail(e.to_string()))?.len();
    if size > MAX_MANIFEST_BYTES as u64 {
        return Err(fail(format!("larger than {MAX_MANIFEST_BYTES} bytes")));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_MANIFEST_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(fail(format!("larger than {MAX_MANIFEST_BYTES} bytes")));
    }
    Ok(bytes)
}

/// The sha256 (lowercase hex) of a local manifest file, read in 64 KiB blocks (not held in memory).
///
/// Errors: [`SourceError::File`] naming the path and the I/O error.
pub fn file_sha256(path: &str) -> Result<String, SourceError> {
    let fail = |e: std::io::Error| SourceError::File {
        path: path.to_string(),
        message: e.to_string(),
    };
    let mut file = std::fs::File::open(Path::new(path)).map_err(fail)?;
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut block).map_err(fail)?;
        if n == 0 {
            break;
        }
        hasher.update(&block[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Verifies the pin (when given) and returns the manifest text.
///
/// Errors: [`SourceError::Sha256Mismatch`]; [`SourceError::NotText`].
pub fn verified_text(bytes: Vec<u8>, sha256: Option<&str>) -> Result<String, SourceError> {
    if let Some(expected) = sha256 {
        verify_sha256(&bytes, expected)?;
    }
    String::from_utf8(bytes).map_err(|_| SourceError::NotText)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls() {
        assert_eq!(
            upstream_manifest_url("v3.5.1", false),
            "https://raw.githubusercontent.com/argoproj/argo-cd/v3.5.1/manifests/install.yaml"
        );
        assert_eq!(
            upstream_manifest_url("v3.5.1", true),
            "https://raw.githubusercontent.com/argoproj/argo-cd/v3.5.1/manifests/ha/install.yaml"
        );
    }

    #[test]
    fn official_digests_cover_2_14_to_3_5_and_skip_release_slips() {
        let table = super::super::release_digests::RELEASE_DIGESTS;
        assert_eq!(
            official_sha256("v3.5.1", false),
            Some("795a3a972224da6a7f9d32c3e946445f062b60fb46028476715affeb688236e3")
        );
        assert_eq!(
            official_sha256("v3.5.1", true),
            Some("1d7b6baa0769ff8a5757c61e2c677ae0939a15e86e149f64df6b12435db5c4b2")
        );
        assert!(official_sha256("v2.14.1", false).is_some());
        for unknown in [
            "v2.14.0",
            "v3.0.10",
            "v3.5.0-rc1",
            "v3.6.0",
            "v2.13.5",
            "3.5.1",
        ] {
            assert_eq!(official_sha256(unknown, false), None, "{unknown}");
        }
        let mut seen = std::collections::BTreeSet::new();
        for (version, install, ha) in table {
            assert!(seen.insert(*version), "{version} twice");
            assert!(is_sha256_hex(install) && is_sha256_hex(ha), "{version}");
            assert_eq!(install.to_ascii_lowercase(), *install);
            assert_ne!(install, ha, "{version}");
        }
    }

    #[test]
    fn local_files_are_read_and_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("install.yaml");
        std::fs::write(&path, b"kind: X\n").unwrap();
        let path = path.to_str().unwrap();
        assert_eq!(read_manifest_file(path).unwrap(), b"kind: X\n");
        assert_eq!(file_sha256(path).unwrap(), sha256_hex(b"kind: X\n"));
        let missing = dir.path().join("nope.yaml");
        let err = file_sha256(missing.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope.yaml"), "{err}");
    }

    #[test]
    fn sha256_pins() {
        let digest = sha256_hex(b"abc");
        assert_eq!(
            digest,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_sha256_hex(&digest) && is_sha256_hex(&digest.to_uppercase()));
        assert!(!is_sha256_hex("abc") && !is_sha256_hex(&"g".repeat(64)));
        assert!(verify_sha256(b"abc", &digest.to_uppercase()).is_ok());
        let err = verify_sha256(b"abd", &digest).unwrap_err().to_string();
        assert!(
            err.contains(&digest) && err.contains(&sha256_hex(b"abd")),
            "{err}"
        );
    }

    #[test]
    fn urls_must_be_https_or_loopback_http() {
        assert!(check_manifest_url("https://example.com/install.yaml").is_ok());
        assert!(check_manifest_url("http://127.0.0.1:8080/install.yaml").is_ok());
        assert!(check_manifest_url("http://localhost/install.yaml").is_ok());
        assert!(check_manifest_url("http://192.168.1.2/install.yaml").is_err());
        assert!(check_manifest_url("ftp://example.com/x").is_err());
        assert!(check_manifest_url("not a url").is_err());
    }

    /// Serves `body` once per connection on a loopback port with a minimal HTTP/1.1 answer.
    async fn serve(status: &'static str, body: Vec<u8>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let body = body.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    let head = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(&body).await;
                });
            }
        });
        format!("http://{addr}/install.yaml")
    }

    #[tokio::test]
    async fn fetches_from_a_loopback_server_and_verifies() {
        let url = serve("200 OK", b"kind: X\n".to_vec()).await;
        let bytes = fetch_manifest(&url, Duration::from_secs(5)).await.unwrap();
        assert_eq!(bytes, b"kind: X\n");
        let pin = sha256_hex(b"kind: X\n");
        assert_eq!(
            verified_text(bytes.clone(), Some(&pin)).unwrap(),
            "kind: X\n"
        );
        assert!(matches!(
            verified_text(bytes, Some(&"0".repeat(64))),
            Err(SourceError::Sha256Mismatch { .. })
        ));
        let missing = serve("404 Not Found", Vec::new()).await;
        let err = fetch_manifest(&missing, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("HTTP 404"), "{err}");
    }
}
