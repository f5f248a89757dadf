//! The HTTPS listener: TLS accept (client certificate → [`User`]), HTTP/1.1 or HTTP/2 by ALPN, fault injection
//! before dispatch.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::auth::{self, User};
use super::errors::ApiError;
use super::handlers::{self, error_response};
use super::{Inner, KubeFault, KubeTls};

/// A running listener. Dropping it leaves the listener running; call [`ServerHandle::shutdown`] to stop it.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and closes open connections.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Error a request fails with under a timeout fault: hyper then closes the connection (HTTP/1) or resets the
/// stream (HTTP/2) without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

pub(crate) async fn serve(
    inner: Arc<Inner>,
    addr: SocketAddr,
    tls: KubeTls,
) -> anyhow::Result<ServerHandle> {
    let cfg = auth::server_config(&tls)?;
    let acceptor = TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let addr = listener.local_addr()?;
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(accept_loop(inner, listener, acceptor, stop_rx));
    Ok(ServerHandle { addr, stop, task })
}

async fn accept_loop(
    inner: Arc<Inner>,
    listener: TcpListener,
    acceptor: TlsAcceptor,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            acc = listener.accept() => {
                let Ok((tcp, _peer)) = acc else { continue };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let inner = inner.clone();
                let mut stop = stop.clone();
                conns.spawn(async move {
                    tokio::select! {
                        _ = stop.changed() => {}
                        _ = connection(inner, acceptor, tcp) => {}
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
}

async fn connection(inner: Arc<Inner>, acceptor: TlsAcceptor, tcp: tokio::net::TcpStream) {
    let Ok(Ok(stream)) =
        tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp)).await
    else {
        return;
    };
    let user = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| User::from_cert(c));
    let svc = service_fn(move |req| {
        let inner = inner.clone();
        let user = user.clone();
        async move {
            match inner.take_fault() {
                Some(KubeFault::Errors5xx { .. }) => {
                    return Ok(error_response(&ApiError::unavailable()))
                }
                Some(KubeFault::Timeouts { .. }) => {
                    tokio::time::sleep(inner.opts.timeout_hang).await;
                    return Err(Dropped);
                }
                None => {}
            }
            Ok::<_, Dropped>(handlers::handle(inner, user, req).await)
        }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
}

#[allow(dead_code)]
fn _infallible(_: Infallible) {}
