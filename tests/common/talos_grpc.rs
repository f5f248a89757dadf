//! Raw gRPC channels to emulated Talos nodes, for tests that call APIs the provider's client does not (COSI
//! `State`, `MachineService` methods): TLS as the provider's client configures it, on port 50000, with a 5 s
//! per-request timeout.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};
use vixens::emulator::testkit::TestSecrets;
use vixens::talos::client::{tls, Security};
use vixens::talos::pki::CertAndKey;

/// Per-request timeout of [`channel`].
pub const T: Duration = Duration::from_secs(5);

/// A lazy channel to `addr:50000` secured by `security` (TLS server name = `addr`).
pub fn channel(addr: &str, security: &Security) -> Channel {
    let cfg = Arc::new(tls::client_config(security).unwrap());
    let host = addr.to_string();
    Endpoint::from_shared(format!("http://{addr}:50000"))
        .unwrap()
        .timeout(T)
        .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
            let (cfg, host) = (cfg.clone(), host.clone());
            async move {
                let tcp = tokio::net::TcpStream::connect((host.as_str(), 50000)).await?;
                let name =
                    rustls::pki_types::ServerName::try_from(host).map_err(std::io::Error::other)?;
                let tls = tokio_rustls::TlsConnector::from(cfg)
                    .connect(name, tcp)
                    .await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
}

/// mTLS with a client certificate of `role` (e.g. `os:admin`) issued by the cluster's OS CA in `s`.
pub fn secure(s: &TestSecrets, role: &str) -> Security {
    let issued = s.os.client(role);
    Security::Secure {
        ca_crt: s.os.cert_pem.clone(),
        client: CertAndKey {
            crt: issued.cert_pem,
            key: issued.key_pem,
        },
    }
}
