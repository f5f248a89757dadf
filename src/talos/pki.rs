//! Key and certificate primitives in the encodings Talos uses (siderolabs/crypto `x509` package, as called from
//! talos `pkg/machinery/config/generate/secrets/ca.go`):
//! - Ed25519 private keys: PEM block `ED25519 PRIVATE KEY` wrapping PKCS#8 v1 DER;
//! - ECDSA P-256 private keys: PEM block `EC PRIVATE KEY` wrapping SEC1 (RFC 5915) DER;
//! - RSA private keys: PEM block `RSA PRIVATE KEY` wrapping PKCS#1 DER;
//! - CAs: KeyUsage digitalSignature+keyCertSign (critical), EKU serverAuth+clientAuth, CA:TRUE (critical);
//! - random 128-bit serial numbers.
//!
//! Certificates are built with rcgen; keys rcgen cannot export in these encodings come from aws-lc-rs. Generic
//! enough for the emulator to mint its own server certificates.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
use std::net::IpAddr;
use std::time::Duration;
use time::OffsetDateTime;

/// PEM label of an Ed25519 key as Talos writes it (PKCS#8 inside).
pub const PEM_ED25519: &str = "ED25519 PRIVATE KEY";
/// PEM label of a SEC1 EC key.
pub const PEM_EC: &str = "EC PRIVATE KEY";
/// PEM label of a PKCS#1 RSA key.
pub const PEM_RSA: &str = "RSA PRIVATE KEY";
/// PEM label of a certificate.
pub const PEM_CERT: &str = "CERTIFICATE";

/// A failure to generate, parse or sign key material. Messages never contain key bytes.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The system random source or key generation failed.
    #[error("key generation failed: {0}")]
    Generate(String),
    /// A PEM block or DER structure could not be read.
    #[error("cannot parse {what}: {reason}")]
    Parse {
        /// What was being parsed (e.g. "os CA key").
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// rcgen refused to build or sign a certificate.
    #[error("certificate signing failed: {0}")]
    Sign(String),
}

/// A PEM-encoded certificate and its PEM-encoded private key (each a full PEM text with trailing newline).
#[derive(Clone, PartialEq, Eq)]
pub struct CertAndKey {
    /// `-----BEGIN CERTIFICATE-----` PEM.
    pub crt: String,
    /// Private key PEM in one of the labels above.
    pub key: String,
}

impl std::fmt::Debug for CertAndKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertAndKey")
            .field("crt", &self.crt)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The key algorithms Talos uses for its CAs and client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Ed25519 (Talos OS CA and talosconfig client certs).
    Ed25519,
    /// ECDSA over P-256 with SHA-256 (etcd, Kubernetes and aggregator CAs).
    EcdsaP256,
}

/// What a certificate is for; selects key usages and EKUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A CA: digitalSignature+keyCertSign, EKU serverAuth+clientAuth, CA:TRUE.
    Ca,
    /// A TLS client: digitalSignature, EKU clientAuth.
    Client,
    /// A TLS server: digitalSignature+keyEncipherment, EKU serverAuth.
    Server,
}

/// The subject and lifetime of a certificate to issue.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    /// Organization (O) values, in order; Talos encodes client roles here (e.g. `os:admin`).
    pub organizations: Vec<String>,
    /// Common name (CN), when any.
    pub common_name: Option<String>,
    /// DNS names for the SAN extension.
    pub dns_names: Vec<String>,
    /// IP addresses for the SAN extension.
    pub ip_addresses: Vec<IpAddr>,
}

fn pem_text(label: &str, der: &[u8]) -> String {
    let block = pem::Pem::new(label, der.to_vec());
    pem::encode_config(
        &block,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

fn parse_err(what: &str, reason: impl std::fmt::Display) -> PkiError {
    PkiError::Parse {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

/// Generates a private key of `kind`; returns its Talos-style PEM and the rcgen signing key.
///
/// # Errors
/// [`PkiError::Generate`] when aws-lc-rs fails.
pub fn generate_key(kind: KeyKind) -> Result<(String, KeyPair), PkiError> {
    let gen = |e: &dyn std::fmt::Display| PkiError::Generate(e.to_string());
    let pem = match kind {
        KeyKind::Ed25519 => {
            let pair = Ed25519KeyPair::generate().map_err(|e| gen(&e))?;
            let pkcs8 = pair.to_pkcs8v1().map_err(|e| gen(&e))?;
            pem_text(PEM_ED25519, pkcs8.as_ref())
        }
        KeyKind::EcdsaP256 => {
            let pair =
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).map_err(|e| gen(&e))?;
            let sec1 = pair.private_key().as_der().map_err(|e| gen(&e))?;
            pem_text(PEM_EC, sec1.as_ref())
        }
    };
    let key = parse_private_key(&pem, "generated key")?;
    Ok((pem, key))
}

/// Generates an RSA key of `bits` (2048, 3072, 4096 or 8192) and returns it as PKCS#1 `RSA PRIVATE KEY` PEM.
///
/// aws-lc-rs exports PKCS#8 only, so the PKCS#1 `RSAPrivateKey` is taken out of the PKCS#8 `privateKey` OCTET
/// STRING (RFC 5208 section 5).
///
/// # Errors
/// [`PkiError::Generate`] on an unsupported size or a generation failure.
pub fn generate_rsa_pkcs1_pem(bits: usize) -> Result<String, PkiError> {
    use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
    let size = match bits {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        8192 => KeySize::Rsa8192,
        other => return Err(PkiError::Generate(format!("unsupported RSA size {other}"))),
    };
    let key = RsaKeyPair::generate(size).map_err(|e| PkiError::Generate(e.to_string()))?;
    let pkcs8: aws_lc_rs::encoding::Pkcs8V1Der = key
        .as_der()
        .map_err(|e| PkiError::Generate(e.to_string()))?;
    let pkcs1 = pkcs8_inner_key(pkcs8.as_ref())?;
    Ok(pem_text(PEM_RSA, &pkcs1))
}

/// Threads [`generate_rsa_pkcs1_pem_raced`] runs: the CPU cores, at most 2.
pub fn rsa_racers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
}

/// aws-lc's RSA key generation (`RSA_generate_key_ex`, public exponent 65537, the same generator aws-lc-rs calls)
/// that gives up once `stop` is set: its progress callback (`BN_GENCB`, called for every prime candidate and
/// primality round) then returns 0, which aborts the generation. Returns the PKCS#1 `RSAPrivateKey` DER, or
/// `None` when stopped.
///
/// aws-lc-rs generates RSA keys but cannot stop a generation; this is the crate's only FFI, kept to these calls.
///
/// # Errors
/// [`PkiError::Generate`] on a size aws-lc refuses or an allocation failure.
fn generate_rsa_pkcs1_der_unless(
    bits: usize,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<Option<Vec<u8>>, PkiError> {
    use aws_lc_sys as sys;
    use std::os::raw::{c_int, c_void};
    use std::sync::atomic::{AtomicBool, Ordering};

    unsafe extern "C" fn keep_going(_event: c_int, _n: c_int, cb: *mut sys::BN_GENCB) -> c_int {
        // SAFETY: the callback argument is the `stop` flag, borrowed for the whole generation that calls back.
        let stop = unsafe { &*(sys::BN_GENCB_get_arg(cb) as *const AtomicBool) };
        c_int::from(!stop.load(Ordering::Relaxed))
    }

    let failed = |what: &str| PkiError::Generate(format!("RSA key generation: {what}"));
    if ![2048, 3072, 4096, 8192].contains(&bits) {
        return Err(PkiError::Generate(format!("unsupported RSA size {bits}")));
    }
    let bits = c_int::try_from(bits).map_err(|_| failed("size out of range"))?;
    // SAFETY: each object is allocated here, checked for null before use and freed once below; the pointers never
    // leave this block; the callback argument (`stop`) outlives `RSA_generate_key_ex`; the DER buffer aws-lc
    // returns is copied, wiped and freed with OPENSSL_free as its documentation asks.
    unsafe {
        let rsa = sys::RSA_new();
        let e = sys::BN_new();
        let cb = sys::BN_GENCB_new();
        let result = if rsa.is_null() || e.is_null() || cb.is_null() {
            Err(failed("out of memory"))
        } else if sys::BN_set_word(e, 65537) != 1 {
            Err(failed("cannot set the public exponent"))
        } else {
            sys::BN_GENCB_set(
                cb,
                Some(keep_going),
                stop as *const AtomicBool as *mut c_void,
            );
            if sys::RSA_generate_key_ex(rsa, bits, e, cb) != 1 {
                if stop.load(Ordering::Relaxed) {
                    Ok(None)
                } else {
                    Err(failed("aws-lc refused (unsupported size?)"))
                }
            } else {
                let mut out: *mut u8 = std::ptr::null_mut();
                let mut len: usize = 0;
                if sys::RSA_private_key_to_bytes(&mut out, &mut len, rsa) != 1 || out.is_null() {
                    Err(failed("cannot encode the key"))
                } else {
                    let der = std::slice::from_raw_parts(out, len).to_vec();
                    sys::OPENSSL_cleanse(out as *mut c_void, len);
                    sys::OPENSSL_free(out as *mut c_void);
                    Ok(Some(der))
                }
            }
        };
        if !cb.is_null() {
            sys::BN_GENCB_free(cb);
        }
        if !e.is_null() {
            sys::BN_free(e);
        }
        if !rsa.is_null() {
            sys::RSA_free(rsa);
        }
        result
    }
}

/// An RSA key of `bits` generated on `racers` threads at once, as PKCS#1 `RSA PRIVATE KEY` PEM: the first key
/// is returned and the other generations are stopped.
///
/// RSA key generation time varies widely (aws-lc's prime search draws fresh random candidates until two pass the
/// primality tests: 0.2 s to over 1 s for 4096 bits on one core), so the first of two independent attempts comes
/// much sooner on average than one attempt. The key is an ordinary RSA key of the requested size: each attempt
/// draws its own random candidates, so which attempt wins says nothing about the key.
///
/// # Errors
/// [`PkiError::Generate`] when every attempt fails (unsupported size, allocation failure).
pub async fn generate_rsa_pkcs1_pem_raced(bits: usize, racers: usize) -> Result<String, PkiError> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..racers.max(1) {
        let (tx, stop) = (tx.clone(), stop.clone());
        std::thread::spawn(move || {
            let _ = tx.send(generate_rsa_pkcs1_der_unless(bits, &stop)); // receiver gone: a key already won
        });
    }
    drop(tx);
    // Dropped (also when the caller is cancelled): the attempts still running stop at their next callback.
    struct StopOnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let _stop_others = StopOnDrop(stop);
    let mut last = PkiError::Generate("no RSA key generation ran".into());
    while let Some(result) = rx.recv().await {
        match result {
            Ok(Some(der)) => return Ok(pem_text(PEM_RSA, &der)),
            Ok(None) => {}
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The `privateKey` OCTET STRING of a PKCS#8 `PrivateKeyInfo` (third element of the outer SEQUENCE).
fn pkcs8_inner_key(der: &[u8]) -> Result<Vec<u8>, PkiError> {
    use x509_parser::der_parser::ber::BerObjectContent;
    let (_, outer) =
        x509_parser::der_parser::parse_der(der).map_err(|e| parse_err("PKCS#8 key", e))?;
    let BerObjectContent::Sequence(items) = outer.content else {
        return Err(parse_err("PKCS#8 key", "not a SEQUENCE"));
    };
    match items.get(2).map(|o| &o.content) {
        Some(BerObjectContent::OctetString(bytes)) => Ok(bytes.to_vec()),
        _ => Err(parse_err("PKCS#8 key", "no privateKey OCTET STRING")),
    }
}

/// Parses a private key PEM in any label Talos uses (`ED25519 PRIVATE KEY`, `EC PRIVATE KEY`,
/// `RSA PRIVATE KEY`, `PRIVATE KEY`) into an rcgen signing key. `what` names the key in errors.
///
/// # Errors
/// [`PkiError::Parse`] on a malformed PEM, an unknown label or a key aws-lc-rs rejects.
pub fn parse_private_key(pem_str: &str, what: &str) -> Result<KeyPair, PkiError> {
    let block = pem::parse(pem_str).map_err(|e| parse_err(what, e))?;
    let der = block.contents();
    let result = match block.tag() {
        PEM_ED25519 => KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(der),
            &rcgen::PKCS_ED25519,
        ),
        PEM_EC => KeyPair::from_der_and_sign_algo(
            &PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
            &rcgen::PKCS_ECDSA_P256_SHA256,
        ),
        PEM_RSA => KeyPair::from_der_and_sign_algo(
            &PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
            &rcgen::PKCS_RSA_SHA256,
        ),
        "PRIVATE KEY" => KeyPair::try_from(der),
        other => return Err(parse_err(what, format!("unsupported PEM label {other:?}"))),
    };
    result.map_err(|e| parse_err(what, e))
}

/// Checks that a PEM private key parses, without keeping it.
///
/// # Errors
/// As [`parse_private_key`].
pub fn check_private_key(pem_str: &str, what: &str) -> Result<(), PkiError> {
    parse_private_key(pem_str, what).map(|_| ())
}

fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|e| PkiError::Generate(e.to_string()))?;
    bytes[0] &= 0x7f; // positive INTEGER
    bytes[0] |= 0x01; // no leading zero byte: keeps the serial 16 bytes long
    Ok(SerialNumber::from_slice(&bytes))
}

fn params(
    subject: &Subject,
    usage: Usage,
    validity: Duration,
) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for org in &subject.organizations {
        dn.push(DnType::OrganizationName, org.as_str());
    }
    if let Some(cn) = &subject.common_name {
        dn.push(DnType::CommonName, cn.as_str());
    }
    params.distinguished_name = dn;
    let now = OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now + validity;
    params.serial_number = Some(random_serial()?);
    for name in &subject.dns_names {
        let dns = name
            .clone()
            .try_into()
            .map_err(|e: rcgen::Error| PkiError::Sign(e.to_string()))?;
        params.subject_alt_names.push(SanType::DnsName(dns));
    }
    params.subject_alt_names.extend(
        subject
            .ip_addresses
            .iter()
            .map(|ip| SanType::IpAddress(*ip)),
    );
    match usage {
        Usage::Ca => {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyCertSign,
            ];
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
        }
        Usage::Client => {
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            params.use_authority_key_identifier_extension = true;
        }
        Usage::Server => {
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            params.use_authority_key_identifier_extension = true;
        }
    }
    Ok(params)
}

/// Generates a self-signed CA of `kind`, valid from now for `validity`.
///
/// # Errors
/// [`PkiError::Generate`] or [`PkiError::Sign`].
pub fn self_signed_ca(
    subject: &Subject,
    kind: KeyKind,
    validity: Duration,
) -> Result<CertAndKey, PkiError> {
    let (key_pem, key) = generate_key(kind)?;
    let cert = params(subject, Usage::Ca, validity)?
        .self_signed(&key)
        .map_err(|e| PkiError::Sign(e.to_string()))?;
    Ok(CertAndKey {
        crt: pem_text(PEM_CERT, cert.der()),
        key: key_pem,
    })
}

/// Issues a leaf certificate for a fresh key of `kind`, signed by `ca`, valid from now for `validity`.
///
/// # Errors
/// [`PkiError::Parse`] when the CA does not parse, [`PkiError::Generate`] or [`PkiError::Sign`].
pub fn issue(
    ca: &CertAndKey,
    subject: &Subject,
    usage: Usage,
    kind: KeyKind,
    validity: Duration,
) -> Result<CertAndKey, PkiError> {
    let ca_key = parse_private_key(&ca.key, "CA key")?;
    let issuer =
        Issuer::from_ca_cert_pem(&ca.crt, ca_key).map_err(|e| parse_err("CA certificate", e))?;
    let (key_pem, key) = generate_key(kind)?;
    let cert = params(subject, usage, validity)?
        .signed_by(&key, &issuer)
        .map_err(|e| PkiError::Sign(e.to_string()))?;
    Ok(CertAndKey {
        crt: pem_text(PEM_CERT, cert.der()),
        key: key_pem,
    })
}

/// The DER of the first certificate in a PEM text.
///
/// # Errors
/// [`PkiError::Parse`] when there is no `CERTIFICATE` block.
pub fn cert_der(pem_str: &str) -> Result<Vec<u8>, PkiError> {
    let block = pem::parse(pem_str).map_err(|e| parse_err("certificate", e))?;
    if block.tag() != PEM_CERT {
        return Err(parse_err(
            "certificate",
            format!("unexpected PEM label {:?}", block.tag()),
        ));
    }
    Ok(block.into_contents())
}

/// The `notAfter` of a PEM certificate, as a Unix timestamp in seconds.
///
/// # Errors
/// [`PkiError::Parse`] when the certificate does not parse.
pub fn cert_not_after(pem_str: &str) -> Result<i64, PkiError> {
    let der = cert_der(pem_str)?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(&der).map_err(|e| parse_err("certificate", e))?;
    Ok(cert.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(org: &str) -> Subject {
        Subject {
            organizations: vec![org.into()],
            ..Default::default()
        }
    }

    #[test]
    fn ca_and_client_chain_verify_with_expected_extensions() {
        let ca = self_signed_ca(
            &subject("talos"),
            KeyKind::Ed25519,
            Duration::from_secs(3600),
        )
        .unwrap();
        assert!(ca.key.starts_with("-----BEGIN ED25519 PRIVATE KEY-----\n"));
        let der = cert_der(&ca.crt).unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert!(parsed.is_ca());
        assert_eq!(parsed.subject().to_string(), "O=talos");
        let client = issue(
            &ca,
            &subject("os:admin"),
            Usage::Client,
            KeyKind::Ed25519,
            Duration::from_secs(60),
        )
        .unwrap();
        let cder = cert_der(&client.crt).unwrap();
        let (_, leaf) = x509_parser::parse_x509_certificate(&cder).unwrap();
        assert_eq!(leaf.issuer().to_string(), "O=talos");
        assert!(leaf.verify_signature(Some(parsed.public_key())).is_ok());
        let eku = leaf.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
    }

    #[test]
    fn ecdsa_key_is_sec1_and_reparses() {
        let (pem, _) = generate_key(KeyKind::EcdsaP256).unwrap();
        assert!(pem.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        parse_private_key(&pem, "t").unwrap();
    }

    #[test]
    fn rsa_key_is_pkcs1_and_reparses() {
        let pem = generate_rsa_pkcs1_pem(2048).unwrap();
        assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        parse_private_key(&pem, "t").unwrap();
    }

    #[tokio::test]
    async fn raced_rsa_key_is_pkcs1_of_the_asked_size_and_errors_are_returned() {
        let pem = generate_rsa_pkcs1_pem_raced(2048, 2).await.unwrap();
        assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        parse_private_key(&pem, "t").unwrap();
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        let (_, key) = x509_parser::der_parser::parse_der(&block.contents).unwrap();
        let modulus = key.as_sequence().unwrap()[1].as_slice().unwrap();
        let bits = modulus.len() * 8 - modulus[0].leading_zeros() as usize;
        assert_eq!(bits, 2048, "RSAPrivateKey.modulus");
        assert!(generate_rsa_pkcs1_pem_raced(1000, 2).await.is_err());
    }

    #[test]
    fn a_stopped_rsa_generation_gives_up_at_once() {
        let started = std::time::Instant::now();
        let stopped = std::sync::atomic::AtomicBool::new(true);
        assert!(generate_rsa_pkcs1_der_unless(8192, &stopped)
            .unwrap()
            .is_none());
        // An unstopped 8192-bit key takes tens of seconds (minutes in a debug build under load); a bound far
        // above scheduling noise still proves the generation gave up at once.
        let elapsed = started.elapsed();
        assert!(elapsed < std::time::Duration::from_secs(5), "{elapsed:?}");
    }

    #[test]
    fn bad_pem_is_an_error_not_a_panic() {
        assert!(parse_private_key("garbage", "t").is_err());
        assert!(parse_private_key("-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n", "t").is_err());
        assert!(cert_not_after("nope").is_err());
    }
}
