//! The one retry layer of single Kubernetes API requests. Clients from [`super::Connection::connect`] do not
//! retry by themselves (kube's default retry layer is off: it retried 429/503/504 up to 15 times with backoff
//! growing to minutes, under the provider's own loops); a request that fails transiently
//! ([`Error::is_transient`]: connection refused or dropped, HTTP 429/5xx) is retried here, with exponential
//! backoff (100 ms doubling to 3 s), until `patience` has passed since its first attempt. Waits
//! ([`super::wait::poll_until`]) treat the same failures as pending states within their own deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};

use super::error::{Error, Result};

/// The shortest time one attempt is given, however little patience is left.
pub const MIN_ATTEMPT: Duration = Duration::from_millis(500);

/// Runs `request` until it succeeds, fails for good, or has failed transiently for `patience`; returns the last
/// result. Each attempt may take what is left of `patience` (at least [`MIN_ATTEMPT`]): one that hangs longer
/// ends in [`Error::NoAnswer`], itself transient. `what` names the request in logs and errors. A zero `patience`
/// means one attempt, without a time limit.
pub async fn transient<T, F, Fut>(what: &str, patience: Duration, mut request: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    if patience.is_zero() {
        return request().await;
    }
    let deadline = Instant::now() + patience;
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(3))
        .without_max_times();
    let attempt = || {
        let limit = deadline
            .saturating_duration_since(Instant::now())
            .max(MIN_ATTEMPT);
        let fut = request();
        async move {
            tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| {
                Err(Error::NoAnswer {
                    what: what.to_string(),
                    waited: limit,
                })
            })
        }
    };
    attempt
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(Error::is_transient)
        // Sleep no further than the deadline; stop once it has passed.
        .adjust(|_, delay| {
            let left = deadline.saturating_duration_since(Instant::now());
            (!left.is_zero()).then(|| delay.map_or(left, |d| d.min(left)))
        })
        .notify(|e, delay| {
            tracing::info!(request = what, error = %e, retry_in = ?delay, "Kubernetes API request failed, retrying");
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable() -> Error {
        let status = kube::core::Status {
            code: 503,
            message: "m".into(),
            reason: "ServiceUnavailable".into(),
            ..Default::default()
        };
        Error::api("get", "ConfigMap a/b", kube::Error::Api(Box::new(status)))
    }

    #[tokio::test]
    async fn transient_failures_are_retried_within_the_patience_only() {
        let mut calls = 0;
        let got = transient("get", Duration::from_secs(5), || {
            calls += 1;
            let n = calls;
            async move {
                if n < 3 {
                    Err(unavailable())
                } else {
                    Ok(n)
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(got, 3);
        let started = Instant::now();
        let e = transient("get", Duration::from_millis(400), || async {
            Err::<(), _>(unavailable())
        })
        .await
        .unwrap_err();
        assert!(e.is_transient());
        assert!(started.elapsed() < Duration::from_secs(2));
        let mut calls = 0;
        let e = transient("get", Duration::from_secs(5), || {
            calls += 1;
            async { Err::<(), _>(Error::InvalidObject("x".into())) }
        })
        .await
        .unwrap_err();
        assert!(!e.is_transient());
        assert_eq!(calls, 1, "a lasting failure is not retried");
        let mut calls = 0;
        let _ = transient("get", Duration::ZERO, || {
            calls += 1;
            async { Err::<(), _>(unavailable()) }
        })
        .await;
        assert_eq!(calls, 1, "no patience: one attempt");
        let started = Instant::now();
        let e = transient("get", Duration::from_millis(700), || {
            std::future::pending::<Result<()>>()
        })
        .await
        .unwrap_err();
        assert!(matches!(e, Error::NoAnswer { .. }), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "a hung request is bounded"
        );
    }
}
