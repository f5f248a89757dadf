//! A [`kube::Client`] built from a raw kubeconfig or from PEM fields, with no file on disk, over rustls.
//!
//! Both inputs take `vixens_talos_cluster`'s outputs directly: `kubeconfig` (the admin kubeconfig YAML) or
//! `host` + `ca_certificate` + `client_certificate` + `client_key`. The PEM fields may also be given base64-encoded
//! (as kubeconfig `*-data` fields and the Terraform kubernetes provider carry them). [`Connection::connect`] retries
//! while the API server is not up yet ("connection refused", resets, 5xx) with exponential backoff (backon); the
//! client it returns makes one attempt per request (see [`super::retry`] for where requests are retried).

use std::error::Error as StdError;
use std::fmt;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use base64::Engine as _;
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::error::{Error, Result};

/// Client credentials for one API server, as PEM (or base64 of PEM). `Debug` never prints the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterCredentials {
    /// API server URL, `https://host:port`; a bare `host:port` gets `https://`.
    pub host: String,
    /// The cluster CA certificate (PEM, or base64 of PEM).
    pub ca_certificate: String,
    /// The client certificate (PEM, or base64 of PEM).
    pub client_certificate: String,
    /// The client private key (PEM, or base64 of PEM). Secret.
    pub client_key: String,
}

impl fmt::Debug for ClusterCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterCredentials")
            .field("host", &self.host)
            .field("client_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Where the connection settings come from. `Debug` never prints secrets.
#[derive(Clone, PartialEq, Eq)]
pub enum Connection {
    /// A kubeconfig document (YAML); its current context is used.
    Kubeconfig(String),
    /// Explicit host and PEM credentials.
    Credentials(ClusterCredentials),
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Connection::Kubeconfig(_) => f.write_str("Connection::Kubeconfig(<redacted>)"),
            Connection::Credentials(c) => {
                f.debug_tuple("Connection::Credentials").field(c).finish()
            }
        }
    }
}

/// How long one TCP connect may take before it counts as a failed attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Connection {
    /// The kube-rs configuration for these settings.
    ///
    /// Errors: [`Error::Config`] when the kubeconfig or a PEM field does not parse or the host is not an
    /// `https://` URL. The message names the field, never its value.
    pub async fn config(&self) -> Result<kube::Config> {
        let (kubeconfig, secret) = match self {
            Connection::Kubeconfig(text) => (parse_kubeconfig(text)?, text.as_str()),
            Connection::Credentials(creds) => {
                (credentials_kubeconfig(creds)?, creds.client_key.as_str())
            }
        };
        let mut config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| {
                    let reason = crate::redact::scrub(&error_chain(&e), secret);
                    Error::Config(format!("kubeconfig is not usable: {reason}"))
                })?;
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        Ok(config)
    }

    /// Builds a client and waits until the API server answers `GET /version`, retrying transient failures
    /// (connection refused or reset, timeouts, HTTP 429/5xx) for up to `timeout` less a tenth (at most 2 s, so
    /// that this error, not the caller's deadline, reports a failure). Each attempt is bounded
    /// ([`ATTEMPT_TIMEOUT`], or what is left), so a server that accepts connections but never answers ends in a
    /// message, not in the caller's deadline.
    ///
    /// Errors: [`Error::Config`] for unusable settings; [`Error::Unreachable`] when the deadline passes or the
    /// failure is not transient (a TLS verification error is reported at once). Its message names the host, the
    /// last failure and, when the server answered with an HTTP error at some point, the last such answer (a burst
    /// of 503s often ends with the server closing the connection: "broken pipe" alone would hide the 503s).
    pub async fn connect(&self, timeout: Duration) -> Result<kube::Client> {
        install_crypto_provider();
        let config = self.config().await?;
        let host = config.cluster_url.to_string();
        // Neither client retries 429/503/504 inside one call (kube's default retry layer, up to 15 retries with
        // backoff growing to minutes): this loop retries the probe, and sees (and reports) each answer; the
        // callers retry their requests in one place, `super::retry`, within their own bound.
        let mut config = config;
        config.default_retry = false;
        let client = kube::Client::try_from(config)
            .map_err(|e| Error::Config(format!("cannot build the client: {e}")))?;
        let started = Instant::now();
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(3))
            .without_max_times();
        // Finish a little before `timeout` (a tenth, at most 2 s): callers pass the time left before their own
        // deadline, and this error (host, cause) must arrive before theirs (a bare "timed out").
        let margin = (timeout / 10).min(Duration::from_secs(2));
        let deadline = started + timeout.saturating_sub(margin);
        let answers = std::sync::Mutex::new(Answers::default());
        let probe = || async {
            let left = deadline.saturating_duration_since(Instant::now());
            let limit = left.min(ATTEMPT_TIMEOUT).max(Duration::from_millis(100));
            match tokio::time::timeout(limit, client.apiserver_version()).await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => {
                    if let kube::Error::Api(status) = &e {
                        if let Ok(mut a) = answers.lock() {
                            a.record(status.code, &crate::k8s::error::describe("get", &e));
                        }
                    }
                    Err(Attempt::Failed(e))
                }
                Err(_) => Err(Attempt::NoAnswer(limit)),
            }
        };
        let version = probe
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(Attempt::is_transient)
            // Sleep no further than the deadline; stop once it has passed.
            .adjust(|_, delay| {
                let left = deadline.saturating_duration_since(Instant::now());
                (!left.is_zero()).then(|| delay.map_or(left, |d| d.min(left)))
            })
            .notify(|err, delay| {
                // Reported at INFO every 30 s by the caller's step (crate::progress).
                crate::progress::observe(format!("{host}: {err}"));
                tracing::debug!(host = %host, error = %err, retry_in = ?delay, "Kubernetes API not up yet");
            })
            .await
            .map_err(|e| {
                if e.is_transient() {
                    super::down::mark(&host);
                }
                let mut last = e.to_string();
                let answered_last = matches!(e, Attempt::Failed(kube::Error::Api(_)));
                if let (false, Ok(a)) = (answered_last, answers.lock()) {
                    if let Some(answer) = a.summary() {
                        last = format!("{last}; before that: {answer}");
                    }
                }
                Error::Unreachable {
                    host: host.clone(),
                    waited: started.elapsed(),
                    last,
                }
            })?;
        super::down::clear(&host);
        tracing::debug!(host = %host, version = %version.git_version, "connected to the Kubernetes API");
        Ok(client)
    }

    /// [`Connection::connect`], except that an API server this process already knows to be down
    /// ([`super::down`]: a connect gave up on it, or its cluster was destroyed in this run) gets one short try of
    /// at most [`KNOWN_DOWN_TRY`] instead of `timeout`. For reads and deletes, which give up on an unreachable
    /// API with a warning: one bound per run, not one per resource.
    pub async fn connect_unless_down(&self, timeout: Duration) -> Result<kube::Client> {
        let config = self.config().await?;
        let timeout = if super::down::is_down(&config.cluster_url.to_string()) {
            tracing::info!(host = %config.cluster_url, "the Kubernetes API was found down earlier in this run: one short try");
            timeout.min(KNOWN_DOWN_TRY)
        } else {
            timeout
        };
        self.connect(timeout).await
    }
}

/// How long [`Connection::connect_unless_down`] tries an API server known to be down.
pub const KNOWN_DOWN_TRY: Duration = Duration::from_secs(3);

/// The longest one `GET /version` attempt may take (TCP connect, TLS handshake and answer) before it counts as
/// failed and is retried.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// One failed attempt to reach the API server.
#[derive(Debug)]
enum Attempt {
    /// The client returned an error.
    Failed(kube::Error),
    /// No answer within this time.
    NoAnswer(Duration),
}

impl Attempt {
    fn is_transient(&self) -> bool {
        match self {
            Attempt::Failed(e) => is_transient(e),
            Attempt::NoAnswer(_) => true,
        }
    }
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attempt::Failed(e @ kube::Error::Api(_)) => {
                f.write_str(&crate::k8s::error::describe("get", e))
            }
            Attempt::Failed(e) => f.write_str(&describe_transport(e)),
            Attempt::NoAnswer(d) => write!(
                f,
                "no answer within {d:?} (the TCP connection, TLS handshake or HTTP response hung)"
            ),
        }
    }
}

/// HTTP error answers seen while connecting: how many, and the last one.
#[derive(Default)]
struct Answers {
    count: usize,
    last: Option<(u16, String)>,
}

impl Answers {
    fn record(&mut self, code: u16, text: &str) {
        self.count += 1;
        self.last = Some((code, text.to_string()));
    }

    fn summary(&self) -> Option<String> {
        let (code, text) = self.last.as_ref()?;
        Some(format!(
            "{} HTTP error answer(s), the last HTTP {code}: {text}",
            self.count
        ))
    }
}

/// A transport error on one line, with the usual cause spelled out.
fn describe_transport(e: &kube::Error) -> String {
    let chain = error_chain(e);
    let lower = chain.to_ascii_lowercase();
    let hint = if lower.contains("connection refused") {
        " (nothing listens on that address and port yet)"
    } else if lower.contains("broken pipe") || lower.contains("connection reset") {
        " (the server closed the connection)"
    } else if lower.contains("certificate") || lower.contains("invalidcertificate") {
        " (the server's certificate does not match the CA or the host)"
    } else {
        ""
    };
    format!("{chain}{hint}")
}

/// Checks, without contacting anything, what a connection needs to be usable: the kubeconfig parses, its current
/// context names a cluster and a user, the server is an `https://` URL and the inline `*-data` certificates and
/// key decode as PEM; or, for explicit credentials, the host and each PEM field. For plan-time validation.
///
/// Errors: [`Error::Config`] naming the field (and line/column for YAML), never quoting the input.
pub fn check(connection: &Connection) -> Result<()> {
    match connection {
        Connection::Kubeconfig(text) => check_kubeconfig(text),
        Connection::Credentials(creds) => {
            normalize_host(&creds.host)?;
            pem_blocks("ca_certificate", &creds.ca_certificate, "CERTIFICATE")?;
            pem_blocks(
                "client_certificate",
                &creds.client_certificate,
                "CERTIFICATE",
            )?;
            pem_blocks("client_key", &creds.client_key, "PRIVATE KEY")?;
            Ok(())
        }
    }
}

/// A kubeconfig document parsed by kube, after a syntax check whose errors give only line and column (kube's
/// parser quotes the lines around an error, `client-key-data` included).
fn parse_kubeconfig(text: &str) -> Result<Kubeconfig> {
    if let Err(e) = crate::yaml::from_str::<serde_json::Value>(text) {
        return Err(Error::Config(format!(
            "kubeconfig is not valid YAML: {}",
            crate::redact::yaml_error(&e, text)
        )));
    }
    Kubeconfig::from_yaml(text).map_err(|e| {
        let reason = crate::redact::scrub(&error_chain(&e), text);
        Error::Config(format!("kubeconfig does not parse: {reason}"))
    })
}

fn check_kubeconfig(text: &str) -> Result<()> {
    let k = parse_kubeconfig(text)?;
    let bad = |m: String| Error::Config(format!("kubeconfig: {m}"));
    let current = k
        .current_context
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("current-context is not set".into()))?;
    let context = k
        .contexts
        .iter()
        .find(|c| c.name == current)
        .and_then(|c| c.context.as_ref())
        .ok_or_else(|| bad(format!("current-context {current:?} is not in contexts")))?;
    let cluster_name = context.cluster.as_str();
    let cluster = k
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| {
            bad(format!(
                "cluster {cluster_name:?} of the current context is not in clusters"
            ))
        })?;
    let server = cluster
        .server
        .as_deref()
        .ok_or_else(|| bad(format!("cluster {cluster_name:?} has no server")))?;
    normalize_host(server).map_err(|e| bad(format!("cluster {cluster_name:?}: server: {e}")))?;
    if let Some(ca) = &cluster.certificate_authority_data {
        pem_blocks("certificate-authority-data", ca, "CERTIFICATE")
            .map_err(|e| bad(e.to_string()))?;
    }
    if let Some(user) = context.user.as_deref() {
        let auth = k
            .auth_infos
            .iter()
            .find(|a| a.name == user)
            .and_then(|a| a.auth_info.as_ref())
            .ok_or_else(|| {
                bad(format!(
                    "user {user:?} of the current context is not in users"
                ))
            })?;
        if let Some(cert) = &auth.client_certificate_data {
            pem_blocks("client-certificate-data", cert, "CERTIFICATE")
                .map_err(|e| bad(e.to_string()))?;
        }
        if let Some(key) = &auth.client_key_data {
            use secrecy::ExposeSecret as _;
            pem_blocks("client-key-data", key.expose_secret(), "PRIVATE KEY")
                .map_err(|e| bad(e.to_string()))?;
        }
    }
    Ok(())
}

/// Checks that `value` (PEM or base64 of PEM) holds PEM blocks that decode, all with a tag ending in `tag`
/// (`CERTIFICATE`, `PRIVATE KEY`). Errors name the field and the block number only.
pub fn pem_blocks(field: &str, value: &str, tag: &str) -> Result<()> {
    let text = pem_field(field, value)?;
    let blocks = pem::parse_many(text.as_bytes()).map_err(|_| {
        Error::Config(format!(
            "{field}: a PEM block does not decode (bad base64 or framing)"
        ))
    })?;
    if blocks.is_empty() {
        return Err(Error::Config(format!("{field} holds no PEM block")));
    }
    if let Some((i, b)) = blocks
        .iter()
        .enumerate()
        .find(|(_, b)| !b.tag().ends_with(tag))
    {
        return Err(Error::Config(format!(
            "{field}: PEM block {} is a {:?}, expected a {tag}",
            i + 1,
            b.tag()
        )));
    }
    Ok(())
}

/// Installs the aws-lc-rs rustls provider as the process default (kube builds its TLS config from it). Idempotent.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A kubeconfig with one cluster, one user and one context from explicit credentials.
fn credentials_kubeconfig(creds: &ClusterCredentials) -> Result<Kubeconfig> {
    let server = normalize_host(&creds.host)?;
    let ca = pem_field("ca_certificate", &creds.ca_certificate)?;
    let cert = pem_field("client_certificate", &creds.client_certificate)?;
    let key = pem_field("client_key", &creds.client_key)?;
    Ok(super::kubeconfig::ClientCertificateKubeconfig {
        cluster: "vixens",
        user: "vixens",
        server: &server,
        namespace: None,
        ca_pem: &ca,
        certificate_pem: &cert,
        key_pem: &key,
    }
    .build())
}

/// `https://host:port` from `host`, which may lack the scheme. Only `https` is accepted.
pub fn normalize_host(host: &str) -> Result<String> {
    let host = host.trim();
    if host.is_empty() {
        return Err(Error::Config("host is empty".into()));
    }
    let url = match host.split_once("://") {
        Some(("https", _)) => host.to_string(),
        Some((scheme, _)) => {
            return Err(Error::Config(format!("host must use https, not {scheme}")))
        }
        None => format!("https://{host}"),
    };
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Error::Config(format!("host is not a valid URL: {e}")))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(Error::Config("host has no host name".into()));
    }
    // http::Uri drops a port it cannot read; the URL standard (`url` crate) refuses it.
    match url::Url::parse(&url) {
        Err(url::ParseError::InvalidPort) => {
            return Err(Error::Config(
                "host port is not a TCP port (1 to 65535)".into(),
            ))
        }
        Ok(parsed) if parsed.port() == Some(0) => {
            return Err(Error::Config(
                "host port 0 is not a TCP port (1 to 65535)".into(),
            ))
        }
        _ => {}
    }
    Ok(url)
}

/// The PEM text of a field given as PEM or as base64 of PEM. Errors name the field only.
pub fn pem_field(field: &str, value: &str) -> Result<String> {
    let value = value.trim();
    let pem = if value.starts_with("-----BEGIN") {
        value.to_string()
    } else {
        let compact: String = value.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| Error::Config(format!("{field} is neither PEM nor base64 of PEM")))?;
        String::from_utf8(bytes)
            .map_err(|_| Error::Config(format!("{field} is neither PEM nor base64 of PEM")))?
    };
    if !pem.trim_start().starts_with("-----BEGIN") || !pem.contains("-----END") {
        return Err(Error::Config(format!("{field} is not PEM")));
    }
    Ok(pem)
}

/// True for failures that go away once the API server is up: refused, reset or timed-out connections, and
/// HTTP 429/500/502/503/504 answers.
pub fn is_transient(err: &kube::Error) -> bool {
    if let kube::Error::Api(status) = err {
        return matches!(status.code, 429 | 500 | 502 | 503 | 504);
    }
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionRefused
                    | ConnectionReset
                    | ConnectionAborted
                    | TimedOut
                    | UnexpectedEof
                    | NotConnected
                    | BrokenPipe
            ) {
                return true;
            }
        }
        let text = e.to_string().to_ascii_lowercase();
        if text.contains("connection refused")
            || text.contains("tcp connect error")
            || text.contains("connection reset")
            || text.contains("timed out")
            || text.contains("connection closed before message completed")
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// An error and its sources on one line.
pub fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_gets_https_and_rejects_other_schemes() {
        assert_eq!(
            normalize_host("127.0.0.1:6443").unwrap(),
            "https://127.0.0.1:6443"
        );
        assert_eq!(
            normalize_host(" https://a.example:6443 ").unwrap(),
            "https://a.example:6443"
        );
        assert!(normalize_host("http://127.0.0.1:6443").is_err());
        assert!(normalize_host("127.0.0.1:70000").is_err());
        assert!(normalize_host("https://[::1]:0").is_err());
        assert!(normalize_host("https://[::1]:6443").is_ok());
        assert!(normalize_host("").is_err());
    }

    #[test]
    fn pem_fields_accept_pem_and_base64_and_hide_values() {
        let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_field("ca", pem).unwrap().trim(), pem.trim());
        let b64 = base64::engine::general_purpose::STANDARD.encode(pem);
        assert_eq!(pem_field("ca", &b64).unwrap(), pem);
        let err = pem_field("client_key", "s3cret-value")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("client_key") && !err.contains("s3cret"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn kubeconfig_errors_never_quote_the_text() {
        let secret = "S0VZU0VDUkVUU0VDUkVUU0VDUkVU";
        for text in [
            format!("users:\n- name: u\n  user:\n    token: x\n   client-key-data: {secret}\n"),
            format!("users:\n- name: u\n  user:\n    client-key-data: [{secret}]\n"),
            format!("users:\n- name: u\n  user: {secret}\n"),
        ] {
            let conn = Connection::Kubeconfig(text);
            let Err(e) = conn.config().await else {
                panic!("a malformed kubeconfig was accepted")
            };
            let shown = e.to_string();
            assert!(!shown.contains(secret) && shown.contains("line"), "{shown}");
            let shown = check(&conn).unwrap_err().to_string();
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn debug_never_prints_secrets() {
        let c = Connection::Credentials(ClusterCredentials {
            host: "https://127.0.0.1:6443".into(),
            ca_certificate: "ca".into(),
            client_certificate: "cert".into(),
            client_key: "topsecretkey".into(),
        });
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("topsecretkey") && shown.contains("127.0.0.1"),
            "{shown}"
        );
        let k = Connection::Kubeconfig("token: topsecret".into());
        assert!(!format!("{k:?}").contains("topsecret"));
    }

    #[tokio::test]
    async fn credentials_build_a_config_for_the_host() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let conn = Connection::Credentials(ClusterCredentials {
            host: "127.0.0.1:6443".into(),
            ca_certificate: cert.pem(),
            client_certificate: cert.pem(),
            client_key: key.serialize_pem(),
        });
        let config = conn.config().await.unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://127.0.0.1:6443/");
        assert_eq!(config.root_cert.map(|c| c.len()), Some(1));
    }

    fn self_signed() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[tokio::test]
    async fn a_server_that_never_answers_is_named_with_the_cause_before_the_deadline() {
        // Accepts TCP connections and never speaks TLS.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let (cert, key) = self_signed();
        let conn = Connection::Credentials(ClusterCredentials {
            host: format!("127.0.0.1:{port}"),
            ca_certificate: cert.clone(),
            client_certificate: cert,
            client_key: key,
        });
        let started = Instant::now();
        let result = tokio::time::timeout(
            Duration::from_secs(5),
            conn.connect(Duration::from_millis(1500)),
        )
        .await;
        let Err(err) = result.expect("connect returns by its own deadline") else {
            panic!("connected to a server that never answers")
        };
        let err = err.to_string();
        assert!(started.elapsed() < Duration::from_secs(4), "{err}");
        assert!(
            err.contains(&format!("127.0.0.1:{port}")) && err.contains("no answer within"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_burst_of_503_reads_as_503() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        install_crypto_provider();
        let (cert, key) = self_signed();
        let certs = vec![rustls::pki_types::CertificateDer::from(
            pem::parse(&cert).unwrap().into_contents(),
        )];
        let key_der =
            rustls::pki_types::PrivateKeyDer::try_from(pem::parse(&key).unwrap().into_contents())
                .unwrap();
        let tls = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key_der)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(tls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            // Answers 503 once per connection, then closes it without reading more (as an overloaded
            // apiserver's proxy does): later requests on the kept-alive connection see a closed socket.
            while let Ok((s, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let mut tls = match acceptor.accept(s).await {
                        Ok(t) => t,
                        Err(e) => {
                            eprintln!("test server: TLS accept failed: {e}");
                            return;
                        }
                    };
                    let mut buf = [0u8; 4096];
                    let _ = tls.read(&mut buf).await;
                    let body = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"the server is currently unable to handle the request","reason":"ServiceUnavailable","code":503}"#;
                    let answer = format!(
                        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.flush().await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        let conn = Connection::Credentials(ClusterCredentials {
            host: format!("127.0.0.1:{port}"),
            ca_certificate: cert.clone(),
            client_certificate: cert,
            client_key: key,
        });
        let Err(err) = conn.connect(Duration::from_millis(1500)).await else {
            panic!("connected to a server answering 503")
        };
        let err = err.to_string();
        eprintln!("{err}");
        assert!(
            err.contains("HTTP 503") && err.contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
        assert!(
            !err.to_ascii_lowercase().contains("broken pipe") || err.contains("HTTP 503"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn connect_gives_up_on_a_closed_port_after_the_deadline() {
        // Bind then drop a listener to get a loopback port that refuses connections.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let conn = Connection::Credentials(ClusterCredentials {
            host: format!("127.0.0.1:{port}"),
            ca_certificate: cert.pem(),
            client_certificate: cert.pem(),
            client_key: key.serialize_pem(),
        });
        let started = Instant::now();
        let Err(err) = conn.connect(Duration::from_millis(700)).await else {
            panic!("connected to a closed port");
        };
        assert!(matches!(err, Error::Unreachable { .. }), "{err}");
        assert!(
            started.elapsed() >= Duration::from_millis(500),
            "retried until the deadline: {err}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
