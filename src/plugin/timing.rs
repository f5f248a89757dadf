//! Timing of every provider RPC: a `tower` layer around the gRPC server that logs, at INFO, one `rpc done` line
//! per tfplugin5/tfplugin6 call with the method name (`rpc`, e.g. `PlanResourceChange`), `elapsed_ms` (from
//! the request to the response, message decoding and the handler included) and `peak_rss_kib` (the process's
//! peak resident set so far, `VmHWM`). `scripts/rehearse.sh` sums these
//! lines to tell the provider's share of a run. go-plugin's own services (health, controller, stdio) are not
//! logged. Nothing of the request is logged but its method name.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

/// The layer: wraps a service in [`Timed`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcTiming;

impl<S> tower::Layer<S> for RpcTiming {
    type Service = Timed<S>;

    fn layer(&self, inner: S) -> Timed<S> {
        Timed(inner)
    }
}

/// A service that logs how long each provider RPC took.
#[derive(Debug, Clone)]
pub struct Timed<S>(S);

/// The method of a provider RPC path (`/tfplugin6.Provider/ReadResource` -> `ReadResource`), `None` for other
/// services.
pub fn provider_method(path: &str) -> Option<&str> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    matches!(service, "tfplugin5.Provider" | "tfplugin6.Provider").then_some(method)
}

impl<S, B> tower::Service<http::Request<B>> for Timed<S>
where
    S: tower::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = provider_method(request.uri().path()).map(str::to_string);
        let started = Instant::now();
        let response = self.0.call(request);
        Box::pin(async move {
            let result = response.await;
            if let Some(rpc) = method {
                let elapsed_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
                // The process's peak so far: which RPC raised it shows in the sequence of these lines.
                let peak_rss_kib = crate::logging::peak_rss_kib().unwrap_or(0);
                tracing::info!(rpc = %rpc, elapsed_ms, peak_rss_kib, "rpc done");
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::provider_method;

    #[test]
    fn names_provider_methods_only() {
        assert_eq!(
            provider_method("/tfplugin6.Provider/UpgradeResourceState"),
            Some("UpgradeResourceState")
        );
        assert_eq!(
            provider_method("/tfplugin5.Provider/PrepareProviderConfig"),
            Some("PrepareProviderConfig")
        );
        assert_eq!(provider_method("/plugin.GRPCController/Shutdown"), None);
        assert_eq!(provider_method("/grpc.health.v1.Health/Check"), None);
        assert_eq!(provider_method("nonsense"), None);
    }
}
