//! Registering a schematic with a Talos Image Factory, so that the factory serves its installer image.
//!
//! The factory serves images only for schematics it stores (siderolabs/image-factory
//! `internal/frontend/http/registry.go@v1.5.0` looks the schematic up before any manifest or blob), and it stores
//! one when it is posted: `POST /schematics` with the YAML body answers `201 Created` and
//! `{"id": ..., "schematic": ...}` (`configuration.go@v1.5.0`, `handleSchematicCreate`; idempotent, the same body
//! gives the same ID). [`register`] posts the canonical body of a [`Schematic`] and checks that the factory's ID is
//! the one computed offline, which the plan already used in the installer image name.

use std::net::IpAddr;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use super::schematic::Schematic;

/// Why a schematic could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactoryError {
    /// The factory URL is not `https://host[:port]` (or `http://` to a loopback address).
    #[error("image factory {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// The request failed (connection, TLS, timeout) or the factory answered an error status.
    #[error("registering the schematic with the image factory at {url}: {message}")]
    Request {
        /// The factory URL.
        url: String,
        /// The cause.
        message: String,
    },
    /// The factory stored the schematic under another ID than the one computed offline.
    #[error(
        "the image factory at {url} answered schematic ID {theirs} for the schematic Vixens computed as {ours}; \
         its installer image would not be the one planned (a factory with a different schematic format?)"
    )]
    IdMismatch {
        /// The factory URL.
        url: String,
        /// The ID computed offline.
        ours: String,
        /// The ID the factory answered.
        theirs: String,
    },
}

/// Checks a factory URL: `https://`, or `http://` to a loopback address (a local factory or test stand-in).
///
/// # Errors
/// [`FactoryError::BadUrl`].
pub fn check_url(url: &str) -> Result<reqwest::Url, FactoryError> {
    let bad = |reason: &str| FactoryError::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&format!("not a URL: {e}")))?;
    let loopback = || {
        let host = parsed.host_str().unwrap_or("");
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    };
    match parsed.scheme() {
        "https" => {}
        "http" if loopback() => {}
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
    if parsed.path() != "/" || parsed.query().is_some() || parsed.fragment().is_some() {
        // Its host[:port] is also the registry of the installer images: nothing may follow it.
        return Err(bad(
            "only scheme, host and port (the factory's registry is the host)",
        ));
    }
    Ok(parsed)
}

/// Posts `schematic` to the factory at `url` and checks the ID it answers. Connection failures and 5xx answers are
/// retried a few times (within `timeout` each).
///
/// # Errors
/// [`FactoryError`]: a bad URL, a request that keeps failing or a 4xx answer, or an ID mismatch.
pub async fn register(
    url: &str,
    schematic: &Schematic,
    timeout: Duration,
) -> Result<(), FactoryError> {
    let base = check_url(url)?;
    let endpoint = format!("{}/schematics", base.as_str().trim_end_matches('/'));
    let fail = |message: String| FactoryError::Request {
        url: url.to_string(),
        message,
    };
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .https_only(base.scheme() == "https")
        .timeout(timeout)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let body = schematic.canonical_yaml();
    let attempt = || async {
        let response = client
            .post(&endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/yaml")
            .body(body.clone())
            .send()
            .await
            .map_err(|e| (true, crate::k8s::connection::error_chain(&e)))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let snippet: String = text.chars().take(200).collect();
            return Err((
                status.is_server_error(),
                format!("HTTP {status}: {snippet}"),
            ));
        }
        let answer: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| (false, format!("the answer is not JSON: {e}")))?;
        answer
            .get("id")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .ok_or((false, "the answer has no \"id\"".to_string()))
    };
    let theirs = attempt
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(500))
                .with_max_times(3),
        )
        .when(|(transient, _)| *transient)
        .await
        .map_err(|(_, message)| fail(message))?;
    let ours = schematic.id();
    if theirs != ours {
        return Err(FactoryError::IdMismatch {
            url: url.to_string(),
            ours,
            theirs,
        });
    }
    tracing::info!(factory = %url, schematic = %ours, "schematic registered with the image factory");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factory_urls() {
        for ok in [
            "https://factory.talos.dev",
            "https://factory.example.com:8443/",
            "http://127.0.0.1:8080",
            "http://localhost:8080",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "factory.talos.dev",
            "http://factory.talos.dev",
            "ftp://127.0.0.1",
            "https://factory.talos.dev/?x=1",
            "https://example.com/factory",
        ] {
            assert!(
                matches!(check_url(bad), Err(FactoryError::BadUrl { .. })),
                "{bad}"
            );
        }
    }
}
