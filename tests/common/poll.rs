//! Polling for tests against the emulator.

use std::time::{Duration, Instant};

/// Polls `f` every 20 ms until it gives `Some`, for at most 10 s; panics naming `what` after that.
pub async fn eventually<F, Fut, R>(what: &str, f: F) -> R
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<R>>,
{
    let begin = Instant::now();
    loop {
        if let Some(r) = f().await {
            return r;
        }
        assert!(
            begin.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
