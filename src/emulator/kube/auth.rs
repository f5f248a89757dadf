//! TLS and authentication: the serving certificate minted from the cluster's k8s CA with the requested SANs, and
//! client-certificate authentication as the API server's x509 authenticator does it (the certificate must chain
//! to the CA; user = subject CN, groups = subject O values).

use std::sync::Arc;

use anyhow::{anyhow, Context};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use super::KubeTls;

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

impl User {
    /// `system:anonymous` in `system:unauthenticated`.
    pub fn anonymous() -> Self {
        User {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
        }
    }

    /// The user a verified client certificate (DER) names.
    pub fn from_cert(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let subject = cert.subject();
        let name = subject
            .iter_common_name()
            .next()?
            .as_str()
            .ok()?
            .to_string();
        let mut groups: Vec<String> = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(String::from))
            .collect();
        groups.push("system:authenticated".into());
        Some(User { name, groups })
    }
}

/// Builds the rustls server config: serving chain (leaf + CA) for `tls.sans`, client certificates optional but
/// verified against the CA when presented, ALPN h2 and http/1.1. Errors: unparsable CA certificate or key, or a
/// SAN that is neither an IP address nor a DNS name.
pub fn server_config(tls: &KubeTls) -> anyhow::Result<ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let ca_der: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut tls.ca_cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .context("parsing the k8s CA certificate PEM")?;
    let ca_first = ca_der
        .first()
        .cloned()
        .ok_or_else(|| anyhow!("the k8s CA PEM holds no certificate"))?;
    let ca_key =
        KeyPair::from_pem(&tls.ca_key_pem).map_err(|e| anyhow!("parsing the k8s CA key: {e}"))?;
    let issuer = Issuer::from_ca_cert_der(&ca_first, ca_key)
        .map_err(|e| anyhow!("reading the k8s CA certificate: {e}"))?;

    let mut params =
        CertificateParams::new(tls.sans.clone()).map_err(|e| anyhow!("bad SAN: {e}"))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "kube-apiserver");
    params.distinguished_name = dn;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(365);
    let leaf_key = KeyPair::generate().map_err(|e| anyhow!("generating the serving key: {e}"))?;
    let leaf = params
        .signed_by(&leaf_key, &issuer)
        .map_err(|e| anyhow!("signing the serving certificate: {e}"))?;

    let mut roots = RootCertStore::empty();
    for c in &ca_der {
        roots
            .add(c.clone())
            .context("adding the k8s CA to the client trust roots")?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .context("building the client certificate verifier")?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![leaf.der().clone(), ca_first], key)
        .context("installing the serving certificate")?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}
