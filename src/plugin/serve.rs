//! Serving: binds `127.0.0.1:0`, prints the handshake line, and serves gRPC over HTTP/2 (TLS with ALPN `h2` under
//! AutoMTLS) with the services go-plugin expects: `grpc.health.v1.Health` (service `plugin` SERVING),
//! `plugin.GRPCController` (Shutdown ends the server), `plugin.GRPCStdio` (held open, closed on shutdown), and
//! the provider service of the negotiated protocol.

use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::{timing, tls, v5, v6};
use crate::framework::ProviderServer;
use crate::proto::plugin as goplugin;
use crate::proto::{tfplugin5, tfplugin6};

/// Largest gRPC message accepted (tonic's default is 4 MiB; states can be larger).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// How long the server may drain connections after `Shutdown` before the process ends anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// What the handshake decided.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Negotiated protocol (5 or 6).
    pub protocol: u32,
    /// Terraform's client certificate (AutoMTLS); `None` serves plaintext gRPC and leaves the certificate field of
    /// the handshake line empty.
    pub client_cert: Option<CertificateDer<'static>>,
}

struct Controller(CancellationToken);

#[tonic::async_trait]
impl goplugin::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(
        &self,
        _req: Request<goplugin::Empty>,
    ) -> Result<Response<goplugin::Empty>, Status> {
        tracing::debug!("shutdown requested by the plugin client");
        self.0.cancel();
        Ok(Response::new(goplugin::Empty {}))
    }
}

struct Stdio(CancellationToken);

type StdioStream = Pin<Box<dyn Stream<Item = Result<goplugin::StdioData, Status>> + Send>>;

#[tonic::async_trait]
impl goplugin::grpc_stdio_server::GrpcStdio for Stdio {
    type StreamStdioStream = StdioStream;

    /// Logs go to stderr directly, so the stream carries nothing; it ends when the server shuts down.
    async fn stream_stdio(&self, _req: Request<()>) -> Result<Response<StdioStream>, Status> {
        let done = self.0.clone().cancelled_owned();
        let stream = futures::stream::once(done).filter_map(|()| async { None });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// The state the handshake line announces: a bound listener and, under AutoMTLS, the server certificate and key.
///
/// Made before anything else (no async runtime, no logging, no provider schemas), so that Terraform, which
/// starts the provider several times per command, can connect as early as possible: connections wait in the
/// listen backlog until [`Listening::serve`] accepts them.
pub struct Listening {
    listener: std::net::TcpListener,
    protocol: u32,
    tls: Option<Tls>,
    /// Terraform's process id, read at start (see [`super::orphan`]); `None` on Windows.
    parent: Option<u32>,
}

struct Tls {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    client: CertificateDer<'static>,
}

impl Listening {
    /// Binds `127.0.0.1:0` and, when Terraform sent a client certificate, generates the server certificate.
    ///
    /// Errors: the bind failed, or certificate generation failed.
    pub fn bind(config: ServeConfig) -> anyhow::Result<Self> {
        let parent = super::orphan::parent_id();
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        let tls = match config.client_cert {
            Some(client) => {
                let (cert, key) = tls::server_cert()?;
                Some(Tls { cert, key, client })
            }
            None => None,
        };
        Ok(Self {
            listener,
            protocol: config.protocol,
            tls,
            parent,
        })
    }

    /// The go-plugin handshake line for this listener (see [`super::handshake::handshake_line`]).
    ///
    /// Errors: the listener's local address cannot be read.
    pub fn handshake_line(&self) -> std::io::Result<String> {
        let addr = self.listener.local_addr()?;
        let cert: Option<&[u8]> = self.tls.as_ref().map(|t| t.cert.as_ref());
        Ok(super::handshake::handshake_line(self.protocol, addr, cert))
    }

    /// Writes the handshake line on stdout and flushes it.
    ///
    /// Errors: stdout is closed.
    pub fn print_handshake_line(&self) -> std::io::Result<()> {
        let line = self.handshake_line()?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()
    }

    /// Serves `server` on this listener until `GRPCController.Shutdown` (must run inside a Tokio runtime).
    ///
    /// Errors: the TLS configuration is refused, the SIGINT handler cannot be installed, or the server fails.
    pub async fn serve(self, server: Arc<ProviderServer>) -> anyhow::Result<()> {
        let Listening {
            listener,
            protocol,
            tls: keys,
            parent,
        } = self;
        listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(listener)?;
        ignore_sigint()?;
        let shutdown = CancellationToken::new();
        if let Some(parent) = parent {
            super::orphan::shutdown_when_orphaned(parent, shutdown.clone());
        }

        let (reporter, health) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("plugin", tonic_health::ServingStatus::Serving)
            .await;
        let v6 = (protocol == 6).then(|| {
            tfplugin6::provider_server::ProviderServer::new(v6::V6(server.clone()))
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES)
        });
        let v5 = (protocol == 5).then(|| {
            tfplugin5::provider_server::ProviderServer::new(v5::V5(server.clone()))
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES)
        });
        let router = tonic::transport::Server::builder()
            .layer(timing::RpcTiming)
            .add_service(health)
            .add_service(goplugin::grpc_controller_server::GrpcControllerServer::new(
                Controller(shutdown.clone()),
            ))
            .add_service(goplugin::grpc_stdio_server::GrpcStdioServer::new(Stdio(
                shutdown.clone(),
            )))
            .add_optional_service(v6)
            .add_optional_service(v5);
        let tls_config = match keys {
            Some(t) => Some(tls::server_config(t.cert, t.key, t.client)?),
            None => None,
        };
        tracing::debug!(protocol, addr = ?listener.local_addr().ok(), "plugin serving");

        let stop = shutdown.clone().cancelled_owned();
        let serving = async {
            match tls_config {
                Some(cfg) => {
                    let incoming =
                        tls_incoming(listener, tokio_rustls::TlsAcceptor::from(Arc::new(cfg)));
                    router.serve_with_incoming_shutdown(incoming, stop).await
                }
                None => {
                    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                    router.serve_with_incoming_shutdown(incoming, stop).await
                }
            }
        };
        tokio::pin!(serving);
        tokio::select! {
            res = &mut serving => res?,
            () = async { shutdown.cancelled().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
                tracing::debug!("connections still open after shutdown: exiting anyway");
            }
        }
        Ok(())
    }
}

/// Serves `server` until `GRPCController.Shutdown`, printing the handshake line on stdout once listening: the
/// three steps of [`Listening`] in one call.
pub async fn serve(server: Arc<ProviderServer>, config: ServeConfig) -> anyhow::Result<()> {
    let listening = Listening::bind(config)?;
    listening.print_handshake_line()?;
    listening.serve(server).await
}

/// TLS connections from `listener`; failed handshakes are logged and dropped, never fatal.
fn tls_incoming(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
) -> impl Stream<Item = Result<tokio_rustls::server::TlsStream<TcpStream>, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            };
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                match acceptor.accept(tcp).await {
                    Ok(tls) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    // A peer that closes before any TLS byte (a port probe, a client that gave up) is
                    // not a failure worth a warning; a handshake that went wrong (bad certificate) is.
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        tracing::debug!(%peer, error = %e, "connection closed before the TLS handshake")
                    }
                    Err(e) => tracing::warn!(%peer, error = %e, "TLS handshake failed"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// Terraform sends SIGINT to the whole process group on Ctrl-C and then calls Stop: installing a handler
/// replaces the default action (exit), so the provider keeps running and finishes or cancels cleanly.
#[cfg(unix)]
fn ignore_sigint() -> std::io::Result<()> {
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    tokio::spawn(async move {
        while sigint.recv().await.is_some() {
            tracing::debug!("SIGINT ignored: waiting for Terraform's Stop");
        }
    });
    Ok(())
}

/// On Windows, Ctrl-C reaches every process of the console as `CTRL_C_EVENT` (go-plugin's servers catch it the same
/// way): handled and ignored, for the same reason as on Unix.
#[cfg(windows)]
fn ignore_sigint() -> std::io::Result<()> {
    let mut ctrl_c = tokio::signal::windows::ctrl_c()?;
    tokio::spawn(async move {
        while ctrl_c.recv().await.is_some() {
            tracing::debug!("Ctrl-C ignored: waiting for Terraform's Stop");
        }
    });
    Ok(())
}
