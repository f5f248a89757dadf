//! TLS for the Talos machine API (apid, port 50000), per talos `cmd/talosctl/pkg/talos/helpers` and
//! `pkg/machinery/client`:
//! - maintenance mode: the node serves a self-signed certificate, so the client does not verify it (talosctl
//!   `--insecure`); handshake signatures are still checked;
//! - secure mode: mutual TLS; the server certificate must chain to the cluster's OS CA and carry the dialed
//!   host (IP or DNS name) as SAN; the client presents an OS-CA-signed certificate (role in O).
//!
//! ALPN is `h2` (grpc-go enforces it).

use crate::talos::pki::{self, CertAndKey};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer, ServerName, UnixTime,
};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// How to authenticate a connection.
#[derive(Clone)]
pub enum Security {
    /// Maintenance mode: no server verification, no client certificate.
    Maintenance,
    /// Maintenance mode with the server certificate pinned by its SPKI fingerprint (`talosctl apply-config
    /// --insecure --cert-fingerprint`): any other certificate fails the handshake.
    MaintenancePinned(SpkiFingerprint),
    /// Secure mode: server pinned to `ca_crt` (OS CA PEM), client certificate `client`.
    Secure {
        /// OS CA certificate PEM.
        ca_crt: String,
        /// Client certificate and key PEMs (e.g. the `os:admin` talosconfig certificate).
        client: CertAndKey,
    },
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Security::Maintenance => f.write_str("Maintenance"),
            Security::MaintenancePinned(pin) => write!(f, "MaintenancePinned({pin})"),
            Security::Secure { .. } => f.write_str("Secure"),
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The SHA-256 of a certificate's DER SubjectPublicKeyInfo, written base64 (standard alphabet, padded), as
/// siderolabs/crypto `x509.SPKIFingerprint` computes and `talosctl apply-config --cert-fingerprint` parses it; only
/// the leaf certificate is compared (`x509.MatchSPKIFingerprints`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpkiFingerprint(pub [u8; 32]);

/// The message of a handshake refused because the pinned fingerprint did not match ([`ClientError::Tls`] names
/// it; see `ClientError::is_fingerprint_mismatch`).
pub const FINGERPRINT_MISMATCH: &str = "server certificate fingerprint mismatch";

impl SpkiFingerprint {
    /// Parses the base64 text (32 bytes once decoded).
    ///
    /// # Errors
    /// A message when the text is not base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<SpkiFingerprint, String> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| "not base64".to_string())?;
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("{} bytes once decoded, a SHA-256 has 32", b.len()))?;
        Ok(SpkiFingerprint(array))
    }

    /// The fingerprint of a DER certificate.
    ///
    /// # Errors
    /// A message when the certificate does not parse.
    pub fn of_certificate(der: &[u8]) -> Result<SpkiFingerprint, String> {
        use sha2::{Digest, Sha256};
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|_| "the certificate does not parse".to_string())?;
        Ok(SpkiFingerprint(
            Sha256::digest(cert.tbs_certificate.subject_pki.raw).into(),
        ))
    }
}

impl std::fmt::Display for SpkiFingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use base64::Engine;
        f.write_str(&base64::engine::general_purpose::STANDARD.encode(self.0))
    }
}

/// Accepts any server certificate, or only the pinned one, and verifies handshake signatures (Talos maintenance
/// mode).
#[derive(Debug)]
struct MaintenanceVerifier(Arc<CryptoProvider>, Option<SpkiFingerprint>);

impl ServerCertVerifier for MaintenanceVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(pinned) = self.1 {
            let presented =
                SpkiFingerprint::of_certificate(end_entity).map_err(rustls::Error::General)?;
            if presented != pinned {
                return Err(rustls::Error::General(format!(
                    "{FINGERPRINT_MISMATCH}: the node presents {presented}, cert_fingerprint pins {pinned}"
                )));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn client_key(pem_text: &str) -> Result<PrivateKeyDer<'static>, String> {
    let block = pem::parse(pem_text).map_err(|e| format!("client key: {e}"))?;
    let der = block.contents().to_vec();
    match block.tag() {
        pki::PEM_ED25519 | "PRIVATE KEY" => Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der))),
        pki::PEM_EC => Ok(PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der))),
        other => Err(format!("client key: unsupported PEM label {other:?}")),
    }
}

/// Builds the rustls client configuration for `security`.
///
/// # Errors
/// A message when the CA, the client certificate or key do not parse, or rustls rejects them.
pub fn client_config(security: &Security) -> Result<ClientConfig, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let mut config = match security {
        Security::Maintenance => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(MaintenanceVerifier(provider(), None)))
            .with_no_client_auth(),
        Security::MaintenancePinned(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(MaintenanceVerifier(provider(), Some(*pin))))
            .with_no_client_auth(),
        Security::Secure { ca_crt, client } => {
            let mut roots = RootCertStore::empty();
            let ca = pki::cert_der(ca_crt).map_err(|e| format!("OS CA: {e}"))?;
            roots
                .add(CertificateDer::from(ca))
                .map_err(|e| format!("OS CA: {e}"))?;
            let chain = vec![CertificateDer::from(
                pki::cert_der(&client.crt).map_err(|e| e.to_string())?,
            )];
            builder
                .with_root_certificates(roots)
                .with_client_auth_cert(chain, client_key(&client.key)?)
                .map_err(|e| format!("client certificate: {e}"))?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The names of a server certificate that failed the name check, when `err` or an error in its chain is that
/// failure (rustls `CertificateError::NotValidForName[Context]`, also when wrapped in an `std::io::Error`, which is
/// how the TLS connector returns it): `(host checked, names the certificate holds)`.
pub fn name_mismatch(err: &(dyn std::error::Error + 'static)) -> Option<(String, Vec<String>)> {
    use rustls::CertificateError;
    let mut next = Some(err);
    while let Some(e) = next {
        let rustls_error = e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        match rustls_error {
            Some(rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                expected,
                presented,
            })) => {
                let names = presented.iter().map(|n| general_name(n)).collect();
                return Some((expected.to_str().into_owned(), names));
            }
            Some(rustls::Error::InvalidCertificate(CertificateError::NotValidForName)) => {
                return Some((String::new(), Vec::new()))
            }
            _ => {}
        }
        next = e.source();
    }
    None
}

/// A name as rustls-webpki reports it (`DnsName("cp1")`, `IpAddress(127.0.0.1)`: the `Debug` form of its
/// `GeneralName`), as the certificate holds it (`cp1`, `127.0.0.1`); any other form as is.
fn general_name(reported: &str) -> String {
    for (prefix, suffix) in [("DnsName(\"", "\")"), ("IpAddress(", ")")] {
        if let Some(inner) = reported
            .strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(suffix))
        {
            return inner.to_string();
        }
    }
    reported.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_as_the_certificate_holds_them() {
        assert_eq!(super::general_name("DnsName(\"cp1\")"), "cp1");
        assert_eq!(super::general_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(super::general_name("URI(x)"), "URI(x)");
    }
}
