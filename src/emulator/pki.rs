//! Certificate helpers for the emulator: PEM decoding (including Talos's `ED25519 PRIVATE KEY` label), key/cert
//! matching, signature checks against an issuer (RFC 5280 §4.1.1.3, with the algorithms Talos and Kubernetes use:
//! Ed25519, ECDSA P-256/P-384, RSA PKCS#1 v1.5), and issuing serving/client certificates with rcgen.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use x509_parser::prelude::{FromDer, X509Certificate};

/// A PEM block: its label (e.g. `CERTIFICATE`, `EC PRIVATE KEY`) and DER content.
#[derive(Debug, Clone)]
pub struct PemBlock {
    /// Text after `-----BEGIN ` and before `-----`.
    pub label: String,
    /// Decoded body.
    pub der: Vec<u8>,
}

/// Decodes every PEM block of `text`. Errors name what is wrong (never the key material).
pub fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let label_end = after.find("-----").ok_or("unterminated PEM header")?;
        let label = after[..label_end].to_string();
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let body_end = body_start
            .find(&end_marker)
            .ok_or_else(|| format!("missing END {label}"))?;
        let body: String = body_start[..body_end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| format!("PEM block {label} is not valid base64"))?;
        out.push(PemBlock { label, der });
        rest = &body_start[body_end + end_marker.len()..];
    }
    if out.is_empty() {
        return Err("no PEM block found".to_string());
    }
    Ok(out)
}

/// Decodes a Talos config field holding base64 of PEM text (as `machine.ca.crt`).
pub fn b64_pem(field_value: &str) -> Result<String, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(field_value.trim())
        .map_err(|_| "is not valid base64".to_string())?;
    String::from_utf8(bytes).map_err(|_| "does not decode to PEM text".to_string())
}

/// Parses the first `CERTIFICATE` block of `pem`.
pub fn cert_der(pem: &str) -> Result<CertificateDer<'static>, String> {
    let block = pem_blocks(pem)?
        .into_iter()
        .find(|b| b.label == "CERTIFICATE")
        .ok_or("no CERTIFICATE block")?;
    X509Certificate::from_der(&block.der)
        .map_err(|e| format!("certificate does not parse: {e}"))?;
    Ok(CertificateDer::from(block.der))
}

/// Parses the first private key block of `pem`: PKCS#8 (`PRIVATE KEY`, Talos's `ED25519 PRIVATE KEY`), SEC1
/// (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`).
pub fn key_pair(pem: &str) -> Result<KeyPair, String> {
    for block in pem_blocks(pem)? {
        let der: PrivateKeyDer<'static> = match block.label.as_str() {
            "PRIVATE KEY" | "ED25519 PRIVATE KEY" => PrivatePkcs8KeyDer::from(block.der).into(),
            "EC PRIVATE KEY" => PrivateSec1KeyDer::from(block.der).into(),
            "RSA PRIVATE KEY" => PrivatePkcs1KeyDer::from(block.der).into(),
            _ => continue,
        };
        return KeyPair::try_from(&der).map_err(|e| format!("private key does not parse: {e}"));
    }
    Err("no private key block".to_string())
}

/// The raw subject public key (the BIT STRING content of SubjectPublicKeyInfo) of a certificate.
pub fn cert_public_key(cert: &CertificateDer<'_>) -> Result<Vec<u8>, String> {
    let (_, c) =
        X509Certificate::from_der(cert).map_err(|e| format!("certificate does not parse: {e}"))?;
    Ok(c.public_key().subject_public_key.data.to_vec())
}

/// Whether `key` is the private half of `cert`'s public key.
pub fn key_matches(key: &KeyPair, cert: &CertificateDer<'_>) -> Result<bool, String> {
    Ok(cert_public_key(cert)? == key.public_key_raw())
}

const OID_ED25519: &str = "1.3.101.112";
const OID_P256: &str = "1.2.840.10045.3.1.7";

fn verification_alg(
    sig_oid: &str,
    issuer_curve: Option<&str>,
) -> Option<&'static dyn VerificationAlgorithm> {
    let p256 = issuer_curve == Some(OID_P256);
    Some(match sig_oid {
        OID_ED25519 => &signature::ED25519,
        "1.2.840.10045.4.3.2" if p256 => &signature::ECDSA_P256_SHA256_ASN1,
        "1.2.840.10045.4.3.2" => &signature::ECDSA_P384_SHA256_ASN1,
        "1.2.840.10045.4.3.3" if p256 => &signature::ECDSA_P256_SHA384_ASN1,
        "1.2.840.10045.4.3.3" => &signature::ECDSA_P384_SHA384_ASN1,
        "1.2.840.113549.1.1.11" => &signature::RSA_PKCS1_2048_8192_SHA256,
        "1.2.840.113549.1.1.12" => &signature::RSA_PKCS1_2048_8192_SHA384,
        "1.2.840.113549.1.1.13" => &signature::RSA_PKCS1_2048_8192_SHA512,
        _ => return None,
    })
}

/// Checks that `cert` is signed by `issuer`'s key and names `issuer`'s subject as its issuer.
pub fn signed_by(cert: &CertificateDer<'_>, issuer: &CertificateDer<'_>) -> Result<(), String> {
    let (_, c) =
        X509Certificate::from_der(cert).map_err(|e| format!("certificate does not parse: {e}"))?;
    let (_, i) =
        X509Certificate::from_der(issuer).map_err(|e| format!("issuer does not parse: {e}"))?;
    if c.issuer().as_raw() != i.subject().as_raw() {
        return Err("issuer name does not match the CA subject".to_string());
    }
    let spki = i.public_key();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    let sig_oid = c.signature_algorithm.algorithm.to_id_string();
    let alg = verification_alg(&sig_oid, curve.as_deref())
        .ok_or_else(|| format!("unsupported signature algorithm {sig_oid}"))?;
    UnparsedPublicKey::new(alg, &spki.subject_public_key.data)
        .verify(c.tbs_certificate.as_ref(), &c.signature_value.data)
        .map_err(|_| "signature does not verify against the CA".to_string())
}

/// Checks that a CA certificate is a CA (basicConstraints cA), is within its validity period and is self-signed
/// (the roots Talos generates are).
pub fn check_ca(cert: &CertificateDer<'_>) -> Result<(), String> {
    let (_, c) =
        X509Certificate::from_der(cert).map_err(|e| format!("certificate does not parse: {e}"))?;
    if !c.is_ca() {
        return Err("certificate is not a CA (basicConstraints cA is not set)".to_string());
    }
    if !c.validity().is_valid() {
        return Err("certificate is expired or not yet valid".to_string());
    }
    signed_by(cert, cert).map_err(|e| format!("CA is not self-signed: {e}"))
}

/// Organizations (O) of a certificate's subject, e.g. `os:admin`.
pub fn organizations(cert: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, c)) = X509Certificate::from_der(cert) else {
        return Vec::new();
    };
    c.subject()
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect()
}

/// A freshly issued certificate and its key, PEM-encoded.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Certificate PEM.
    pub cert_pem: String,
    /// Certificate DER.
    pub cert_der: CertificateDer<'static>,
    /// PKCS#8 private key PEM (ECDSA P-256).
    pub key_pem: String,
}

/// What to put in an issued certificate.
#[derive(Debug, Clone, Default)]
pub struct Leaf {
    /// Subject CN.
    pub common_name: String,
    /// Subject O values.
    pub organizations: Vec<String>,
    /// DNS names or IP addresses.
    pub sans: Vec<String>,
    /// serverAuth EKU.
    pub server: bool,
    /// clientAuth EKU.
    pub client: bool,
}

fn leaf_params(leaf: &Leaf) -> Result<CertificateParams, String> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for o in &leaf.organizations {
        dn.push(DnType::OrganizationName, o.as_str());
    }
    dn.push(DnType::CommonName, leaf.common_name.as_str());
    params.distinguished_name = dn;
    for san in &leaf.sans {
        let entry = match san.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                san.clone()
                    .try_into()
                    .map_err(|e| format!("SAN {san:?}: {e}"))?,
            ),
        };
        if !params.subject_alt_names.contains(&entry) {
            params.subject_alt_names.push(entry);
        }
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    if leaf.server {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    if leaf.client {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    params.is_ca = IsCa::ExplicitNoCa;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(365);
    Ok(params)
}

/// Issues `leaf` signed by the CA (`ca_cert_pem`, `ca_key`); the leaf key is a new ECDSA P-256 key.
pub fn issue(leaf: &Leaf, ca_cert_pem: &str, ca_key: &KeyPair) -> Result<Issued, String> {
    let params = leaf_params(leaf)?;
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, ca_key).map_err(|e| format!("CA: {e}"))?;
    let cert = params.signed_by(&key, &issuer).map_err(|e| e.to_string())?;
    Ok(Issued {
        cert_pem: cert.pem(),
        cert_der: cert.der().clone(),
        key_pem: key.serialize_pem(),
    })
}

/// Issues a self-signed certificate for `leaf` (maintenance mode's serving certificate).
pub fn self_signed(leaf: &Leaf) -> Result<Issued, String> {
    let params = leaf_params(leaf)?;
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    Ok(Issued {
        cert_pem: cert.pem(),
        cert_der: cert.der().clone(),
        key_pem: key.serialize_pem(),
    })
}

/// Creates a self-signed CA (tests and tooling): ECDSA P-256 or, with `ed25519`, an Ed25519 key as Talos's OS CA.
pub fn new_ca(organization: &str, ed25519: bool) -> Result<(String, KeyPair), String> {
    let key = if ed25519 {
        KeyPair::generate_for(&rcgen::PKCS_ED25519)
    } else {
        KeyPair::generate()
    }
    .map_err(|e| e.to_string())?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, organization);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(3650);
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    Ok((cert.pem(), key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_and_verify_chain() {
        for ed in [true, false] {
            let (ca_pem, ca_key) = new_ca("talos", ed).unwrap();
            let ca = cert_der(&ca_pem).unwrap();
            check_ca(&ca).unwrap();
            assert!(key_matches(&ca_key, &ca).unwrap());
            let leaf = Leaf {
                common_name: "admin".into(),
                organizations: vec!["os:admin".into()],
                sans: vec!["127.0.111.1".into(), "localhost".into()],
                client: true,
                server: true,
            };
            let issued = issue(&leaf, &ca_pem, &ca_key).unwrap();
            signed_by(&issued.cert_der, &ca).unwrap();
            assert_eq!(
                organizations(&issued.cert_der),
                vec!["os:admin".to_string()]
            );
            let (other_pem, _) = new_ca("other", ed).unwrap();
            assert!(signed_by(&issued.cert_der, &cert_der(&other_pem).unwrap()).is_err());
            assert!(check_ca(&issued.cert_der).is_err());
        }
    }

    #[test]
    fn talos_key_labels_parse() {
        let (_, ca_key) = new_ca("talos", true).unwrap();
        let pem = ca_key
            .serialize_pem()
            .replace("PRIVATE KEY", "ED25519 PRIVATE KEY");
        assert!(key_pair(&pem).is_ok());
        assert!(
            key_pair("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
                .is_err()
        );
    }
}
