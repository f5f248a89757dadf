//! Hubble TLS material: the Cilium CA, the Hubble server certificate and the relay client certificate.
//!
//! The chart (`hubble.tls.auto.method=helm`) generates these anew on every render (`genCA "Cilium CA" 1095`,
//! `genSignedCert "*.<cluster>.hubble-grpc.cilium.io" 365`, `genSignedCert "*.hubble-relay.cilium.io" 365`).
//! Vixens generates them once with rcgen (ECDSA P-256), keeps them as an input of the renderer (the resource stores
//! them in Terraform state) and renews them before they expire, so that plans are stable.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// Validity of the CA (`tls.ca.certValidityDuration`, days).
pub const CA_VALIDITY_DAYS: i64 = 1095;
/// Validity of leaf certificates (`hubble.tls.auto.certValidityDuration`, days).
pub const LEAF_VALIDITY_DAYS: i64 = 365;
/// Renew a certificate when it expires within this many days.
pub const RENEW_BEFORE_DAYS: i64 = 30;
/// Common name of the CA.
pub const CA_COMMON_NAME: &str = "Cilium CA";
/// Common name (and DNS SAN) of the relay client certificate.
pub const RELAY_CLIENT_NAME: &str = "*.hubble-relay.cilium.io";

/// One certificate and its private key, both PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct CertKeyPair {
    /// Certificate, PEM (`-----BEGIN CERTIFICATE-----`).
    pub cert_pem: String,
    /// Private key, PKCS#8 PEM. Secret: never log it.
    pub key_pem: String,
}

impl std::fmt::Debug for CertKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertKeyPair")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// The certificates the chart would generate, as renderer input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubbleCerts {
    /// `cilium-ca` (`ca.crt`, `ca.key`).
    pub ca: CertKeyPair,
    /// `hubble-server-certs` (signed by the CA, CN `*.<cluster>.hubble-grpc.cilium.io`).
    pub server: CertKeyPair,
    /// `hubble-relay-client-certs` (signed by the CA, CN `*.hubble-relay.cilium.io`).
    pub relay_client: CertKeyPair,
}

/// Failure to generate or read certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen refused the parameters or the key.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// A PEM could not be parsed as an X.509 certificate.
    #[error("{0} is not a valid PEM certificate")]
    Parse(&'static str),
}

/// `*.<cluster name with dots as dashes>.hubble-grpc.cilium.io`, the name agents present to the relay.
pub fn server_name(cluster_name: &str) -> String {
    format!("*.{}.hubble-grpc.cilium.io", cluster_name.replace('.', "-"))
}

fn params(
    cn: &str,
    dns: &[String],
    now: OffsetDateTime,
    days: i64,
) -> Result<CertificateParams, CertError> {
    let mut p = CertificateParams::new(dns.to_vec())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.not_before = now - Duration::minutes(5);
    p.not_after = now + Duration::days(days);
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    Ok(p)
}

fn generate_ca(now: OffsetDateTime) -> Result<CertKeyPair, CertError> {
    let mut p = params(CA_COMMON_NAME, &[], now, CA_VALIDITY_DAYS)?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages.push(KeyUsagePurpose::KeyCertSign);
    let key = KeyPair::generate()?;
    let cert = p.self_signed(&key)?;
    Ok(CertKeyPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn generate_leaf(
    ca: &CertKeyPair,
    cn: &str,
    now: OffsetDateTime,
) -> Result<CertKeyPair, CertError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key)?;
    let p = params(cn, &[cn.to_string()], now, LEAF_VALIDITY_DAYS)?;
    let key = KeyPair::generate()?;
    let cert = p.signed_by(&key, &issuer)?;
    Ok(CertKeyPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Facts read back from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject common name.
    pub common_name: Option<String>,
    /// Raw DER of the subject name.
    pub subject: Vec<u8>,
    /// Raw DER of the issuer name.
    pub issuer: Vec<u8>,
    /// Expiry (`notAfter`) as a UNIX timestamp, seconds.
    pub not_after: i64,
}

/// Parses a PEM certificate; `what` names it in the error.
pub fn inspect(pem: &str, what: &'static str) -> Result<CertInfo, CertError> {
    let (_, parsed) =
        x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|_| CertError::Parse(what))?;
    let cert = parsed.parse_x509().map_err(|_| CertError::Parse(what))?;
    let info = CertInfo {
        common_name: cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string),
        subject: cert.subject().as_raw().to_vec(),
        issuer: cert.issuer().as_raw().to_vec(),
        not_after: cert.validity().not_after.timestamp(),
    };
    Ok(info)
}

fn fresh(info: &CertInfo, now: OffsetDateTime) -> bool {
    info.not_after - now.unix_timestamp() > Duration::days(RENEW_BEFORE_DAYS).whole_seconds()
}

/// A leaf is kept when it parses, has the expected CN, was issued by `ca` and is not about to expire.
fn leaf_ok(leaf: &CertKeyPair, cn: &str, ca: &CertInfo, now: OffsetDateTime) -> bool {
    match inspect(&leaf.cert_pem, "leaf certificate") {
        Ok(info) => {
            info.common_name.as_deref() == Some(cn)
                && info.issuer == ca.subject
                && fresh(&info, now)
        }
        Err(_) => false,
    }
}

/// Generates a complete set for `cluster_name` at time `now`.
pub fn generate(cluster_name: &str, now: OffsetDateTime) -> Result<HubbleCerts, CertError> {
    let ca = generate_ca(now)?;
    let server = generate_leaf(&ca, &server_name(cluster_name), now)?;
    let relay_client = generate_leaf(&ca, RELAY_CLIENT_NAME, now)?;
    Ok(HubbleCerts {
        ca,
        server,
        relay_client,
    })
}

/// Returns `existing` unchanged when every certificate is valid for `cluster_name` and outside the renewal window
/// ([`RENEW_BEFORE_DAYS`]); otherwise renews what must be: a CA near expiry (or unreadable) renews everything, a
/// leaf near expiry or with a stale name (the cluster was renamed) is re-signed by the kept CA.
///
/// The boolean is true when anything changed.
pub fn ensure(
    existing: Option<&HubbleCerts>,
    cluster_name: &str,
    now: OffsetDateTime,
) -> Result<(HubbleCerts, bool), CertError> {
    let Some(old) = existing else {
        return Ok((generate(cluster_name, now)?, true));
    };
    let ca_info = match inspect(&old.ca.cert_pem, "CA certificate") {
        Ok(info) if fresh(&info, now) && KeyPair::from_pem(&old.ca.key_pem).is_ok() => info,
        _ => return Ok((generate(cluster_name, now)?, true)),
    };
    let mut certs = old.clone();
    let mut changed = false;
    let server_cn = server_name(cluster_name);
    if !leaf_ok(&old.server, &server_cn, &ca_info, now) {
        certs.server = generate_leaf(&old.ca, &server_cn, now)?;
        changed = true;
    }
    if !leaf_ok(&old.relay_client, RELAY_CLIENT_NAME, &ca_info, now) {
        certs.relay_client = generate_leaf(&old.ca, RELAY_CLIENT_NAME, now)?;
        changed = true;
    }
    Ok((certs, changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_set_matches_the_chart_names_and_lifetimes() {
        let now = OffsetDateTime::now_utc();
        let c = generate("dev.lab", now).unwrap();
        let ca = inspect(&c.ca.cert_pem, "ca").unwrap();
        let server = inspect(&c.server.cert_pem, "server").unwrap();
        let relay = inspect(&c.relay_client.cert_pem, "relay").unwrap();
        assert_eq!(ca.common_name.as_deref(), Some("Cilium CA"));
        assert_eq!(
            server.common_name.as_deref(),
            Some("*.dev-lab.hubble-grpc.cilium.io")
        );
        assert_eq!(
            relay.common_name.as_deref(),
            Some("*.hubble-relay.cilium.io")
        );
        assert_eq!(server.issuer, ca.subject);
        assert_eq!(relay.issuer, ca.subject);
        let days = |i: &CertInfo| (i.not_after - now.unix_timestamp()) / 86_400;
        assert!((CA_VALIDITY_DAYS - 1..=CA_VALIDITY_DAYS).contains(&days(&ca)));
        assert!((LEAF_VALIDITY_DAYS - 1..=LEAF_VALIDITY_DAYS).contains(&days(&server)));
        assert!(!format!("{:?}", c.ca).contains("PRIVATE KEY"));
    }

    #[test]
    fn ensure_keeps_fresh_certs_and_renews_near_expiry() {
        let now = OffsetDateTime::now_utc();
        let c = generate("default", now).unwrap();
        let (same, changed) = ensure(Some(&c), "default", now + Duration::days(100)).unwrap();
        assert!(!changed);
        assert_eq!(same, c);
        // 340 days later the leaves are inside the 30-day window but the CA is not: leaves re-signed by the same CA.
        let later = now + Duration::days(340);
        let (renewed, changed) = ensure(Some(&c), "default", later).unwrap();
        assert!(changed);
        assert_eq!(renewed.ca, c.ca);
        assert_ne!(renewed.server, c.server);
        assert_ne!(renewed.relay_client, c.relay_client);
        // A renamed cluster re-signs only the server certificate.
        let (renamed, changed) = ensure(Some(&c), "other", now).unwrap();
        assert!(changed);
        assert_eq!(renamed.relay_client, c.relay_client);
        assert_eq!(
            inspect(&renamed.server.cert_pem, "s")
                .unwrap()
                .common_name
                .as_deref(),
            Some("*.other.hubble-grpc.cilium.io")
        );
        // Near CA expiry everything is replaced; garbage is replaced too.
        let (all_new, _) = ensure(Some(&c), "default", now + Duration::days(1080)).unwrap();
        assert_ne!(all_new.ca, c.ca);
        let mut broken = c.clone();
        broken.ca.cert_pem = "garbage".into();
        assert_ne!(ensure(Some(&broken), "default", now).unwrap().0.ca, c.ca);
    }
}
