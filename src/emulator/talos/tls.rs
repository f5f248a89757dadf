//! Talos API listeners: TLS on `<address>:50000` in maintenance mode (self-signed certificate, no client
//! certificate) or secure mode (server certificate from the OS CA, client certificates required and verified
//! against the OS CA and `machine.acceptedCAs`). Each accepted connection carries [`ConnInfo`] into the gRPC
//! handlers, which take the caller's roles from the client certificate's Organization.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tonic::transport::server::Connected;

use crate::emulator::pki::Issued;

/// Talos API port.
pub const TALOS_PORT: u16 = 50000;

/// Which API a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Maintenance mode.
    Maintenance,
    /// Secure mode (mTLS).
    Secure,
}

/// What a handler knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// Mode of the listener that accepted it.
    pub mode: Mode,
    /// Client certificate chain (secure mode only; verified during the handshake).
    pub peer_certs: Option<Arc<Vec<CertificateDer<'static>>>>,
}

/// A TLS connection plus its [`ConnInfo`].
pub struct NodeConn {
    inner: TlsStream<TcpStream>,
    info: ConnInfo,
    closed: Arc<AtomicBool>,
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "node went down")
}

impl Connected for NodeConn {
    type ConnectInfo = ConnInfo;
    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

impl AsyncRead for NodeConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.closed.load(Ordering::Relaxed) {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for NodeConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.closed.load(Ordering::Relaxed) {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn key_der(pem: &str) -> Result<PrivateKeyDer<'static>, String> {
    let block = crate::emulator::pki::pem_blocks(pem)?
        .into_iter()
        .find(|b| b.label == "PRIVATE KEY")
        .ok_or("no PKCS#8 key")?;
    Ok(PrivateKeyDer::Pkcs8(block.der.into()))
}

/// A server config for `serving` with ALPN h2; `client_roots` set means client certificates are required and must
/// chain to one of them.
pub fn server_config(
    serving: &Issued,
    client_roots: Option<&[CertificateDer<'static>]>,
) -> Result<ServerConfig, String> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match client_roots {
        None => builder.with_no_client_auth(),
        Some(roots) => {
            let mut store = RootCertStore::empty();
            for r in roots {
                store
                    .add(r.clone())
                    .map_err(|e| format!("client CA: {e}"))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider())
                .build()
                .map_err(|e| e.to_string())?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut cfg = builder
        .with_single_cert(vec![serving.cert_der.clone()], key_der(&serving.key_pem)?)
        .map_err(|e| e.to_string())?;
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    Ok(cfg)
}

/// A bound listener serving `router` until dropped. Dropping it is an orderly stop, gRPC `GracefulStop` with a
/// bound: the socket closes at once (new connections are refused), open connections are told to go away (HTTP/2
/// GOAWAY: no new calls) while the calls in flight finish, and whatever is left after the bound breaks (its next
/// read or write fails). [`Listener::cut`] is the machine losing power: everything breaks at once.
#[derive(Debug)]
pub struct Listener {
    /// Mode served.
    pub mode: Mode,
    /// Identity of the TLS material (changes when it must be re-issued).
    pub tls_id: String,
    tls: Arc<RwLock<Arc<ServerConfig>>>,
    accept: JoinHandle<()>,
    shutdown: Option<oneshot::Sender<()>>,
    closed: Arc<AtomicBool>,
    grace: Duration,
}

impl Listener {
    /// Binds `addr` and serves `router` with `tls`. Binding happens before this returns. `grace` bounds an
    /// orderly stop (see [`crate::emulator::talos::version::TalosVersion::api_stop_grace`]).
    pub fn bind(
        addr: SocketAddr,
        mode: Mode,
        tls_id: String,
        tls: ServerConfig,
        router: tonic::service::Routes,
        grace: Duration,
    ) -> io::Result<Listener> {
        let std_listener = std::net::TcpListener::bind(addr)
            .map_err(|e| io::Error::new(e.kind(), format!("Talos API {addr}: {e}")))?;
        std_listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let tls = Arc::new(RwLock::new(Arc::new(tls)));
        let (tx, rx) = mpsc::channel::<io::Result<NodeConn>>(16);
        let tls_for_accept = tls.clone();
        let closed = Arc::new(AtomicBool::new(false));
        let closed_for_accept = closed.clone();
        let accept = tokio::spawn(async move {
            loop {
                let tcp = match listener.accept().await {
                    Ok((tcp, _)) => tcp,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let cfg = tls_for_accept
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                let tx = tx.clone();
                let closed = closed_for_accept.clone();
                tokio::spawn(async move {
                    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    else {
                        return;
                    };
                    let peer_certs = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .map(|c| Arc::new(c.to_vec()));
                    let info = ConnInfo { mode, peer_certs };
                    let _ = tx
                        .send(Ok(NodeConn {
                            inner: stream,
                            info,
                            closed,
                        }))
                        .await;
                });
            }
        });
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let incoming = tokio_stream::wrappers::ReceiverStream::new(rx);
        tokio::spawn(async move {
            let server = tonic::transport::Server::builder()
                .add_routes(router)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = shutdown_rx.await;
                });
            if let Err(e) = server.await {
                tracing::warn!(error = %e, "talos api server stopped");
            }
        });
        Ok(Listener {
            mode,
            tls_id,
            tls,
            accept,
            shutdown: Some(shutdown),
            closed,
            grace,
        })
    }

    /// Replaces the TLS material for new connections (e.g. after a config changed certSANs without a reboot).
    pub fn swap_tls(&mut self, tls_id: String, tls: ServerConfig) {
        *self.tls.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(tls);
        self.tls_id = tls_id;
    }
}

impl Listener {
    /// Stops at once, as a machine that loses power or its network: the socket closes and open connections,
    /// calls in flight included, break at their next read or write.
    pub fn cut(self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    /// Stops accepting and waits until the listening socket is closed, so that the address can be bound again at
    /// once (dropping only aborts the accept task, which closes the socket a moment later).
    pub async fn close(mut self) {
        self.closed.store(true, Ordering::Relaxed);
        self.accept.abort();
        let _ = (&mut self.accept).await;
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.accept.abort();
        if let Some(tx) = self.shutdown.take() {
            // tonic's graceful shutdown: GOAWAY on every connection, calls in flight finish.
            let _ = tx.send(());
        }
        let closed = self.closed.clone();
        if closed.load(Ordering::Relaxed) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let grace = self.grace;
                runtime.spawn(async move {
                    tokio::time::sleep(grace).await;
                    closed.store(true, Ordering::Relaxed);
                });
            }
            Err(_) => closed.store(true, Ordering::Relaxed),
        }
    }
}
