//! Cluster operations built on the machine API client: apply a config whichever mode the node is in, wait for
//! the secure API, wait for etcd membership, probe a node's stage. Pure Talos: callers bound them with their own
//! deadlines (these loops poll until they succeed).
//!
//! Facts followed (talos docs "Getting Started", `talosctl apply-config --insecure`, `talosctl bootstrap`): a
//! fresh node takes its config in maintenance mode, installs, reboots into secure mode (mTLS with the OS CA);
//! bootstrap runs once on one control plane; every control plane then joins etcd.

use crate::talos::client::tls::SpkiFingerprint;
use crate::talos::client::{
    ApplyMode, ApplyOutcome, ClientError, EtcdMember, Security, TalosClient,
};
use crate::talos::pki::CertAndKey;
use crate::talos::secrets::SecretsBundle;
use crate::talos::watch::NodeWatch;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Per-RPC timeout.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// First delay between polls; it grows by half each time up to [`POLL_MAX`], so a wait that ends quickly costs
/// tens of milliseconds and a long one (an install) polls twenty times a second: a node that comes up is seen
/// within 50 ms (each poll is one small RPC or a refused connection).
pub const POLL_MIN: Duration = Duration::from_millis(20);
/// Longest delay between polls.
pub const POLL_MAX: Duration = Duration::from_millis(50);

/// The delays between the polls of one wait: [`POLL_MIN`], growing by half up to [`POLL_MAX`].
#[derive(Debug, Clone)]
pub struct Poll {
    next: Duration,
}

impl Default for Poll {
    fn default() -> Self {
        Poll { next: POLL_MIN }
    }
}

impl Poll {
    /// Sleeps the current delay, then lengthens the next one.
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 3 / 2).min(POLL_MAX);
    }
}

/// SHA-256 (hex) of a machine config's content: what the state records as applied, and what a refresh computes
/// from the config the node reports (COSI MachineConfig). The documents are hashed in a canonical form (mapping
/// keys sorted, no comments or layout), so the same config hashes the same however it was re-encoded; text that
/// is not YAML is hashed as is.
pub fn config_hash(config: &str) -> String {
    let mut canonical = String::with_capacity(config.len());
    match crate::yaml::documents::<serde_json::Value>(config) {
        Ok(docs) => {
            for value in docs {
                write_canonical(&value, &mut canonical);
                canonical.push('\n');
            }
        }
        Err(_) => return hex::encode(Sha256::digest(config.as_bytes())),
    }
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Appends a canonical JSON-like rendering of `value` (mapping keys sorted by their rendering).
fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value as Y;
    match value {
        Y::Null => out.push_str("null"),
        Y::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Y::Number(n) => out.push_str(&n.to_string()),
        Y::String(s) => out.push_str(&serde_json::Value::from(s.as_str()).to_string()),
        Y::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Y::Object(map) => {
            let mut entries: Vec<(String, String)> = map
                .iter()
                .map(|(k, v)| {
                    let (mut key, mut val) = (String::new(), String::new());
                    write_canonical(&Y::from(k.as_str()), &mut key);
                    write_canonical(v, &mut val);
                    (key, val)
                })
                .collect();
            entries.sort();
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push(':');
                out.push_str(v);
            }
            out.push('}');
        }
    }
}

/// Credentials for secure mode: the OS CA and an `os:admin` client certificate.
#[derive(Clone)]
pub struct Credentials {
    /// OS CA certificate PEM.
    pub os_ca_crt: String,
    /// `os:admin` client certificate.
    pub admin: CertAndKey,
}

impl Credentials {
    /// Mints a fresh admin client certificate from the bundle.
    ///
    /// # Errors
    /// When the OS CA does not parse.
    pub fn from_secrets(
        secrets: &SecretsBundle,
    ) -> Result<Self, crate::talos::secrets::SecretsError> {
        Ok(Credentials {
            os_ca_crt: secrets.os.crt.clone(),
            admin: secrets.talos_client_cert("os:admin")?,
        })
    }

    /// The secure-mode [`Security`].
    pub fn security(&self) -> Security {
        Security::Secure {
            ca_crt: self.os_ca_crt.clone(),
            client: self.admin.clone(),
        }
    }

    /// A secure client for `address`.
    ///
    /// # Errors
    /// [`ClientError`] for a bad address or TLS material.
    pub fn client(&self, address: &str) -> Result<TalosClient, ClientError> {
        TalosClient::connect(address, &self.security(), CALL_TIMEOUT)
    }
}

/// Where a node is in its life, as seen from the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Answers the secure API with our credentials.
    Running {
        /// Talos version tag.
        version: String,
    },
    /// Answers only without client authentication (maintenance mode).
    Maintenance {
        /// Talos version tag.
        version: String,
    },
    /// Does not answer.
    Unreachable {
        /// The last error.
        reason: String,
    },
}

impl Stage {
    /// `running`, `maintenance` or `unreachable`.
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Running { .. } => "running",
            Stage::Maintenance { .. } => "maintenance",
            Stage::Unreachable { .. } => "unreachable",
        }
    }
}

/// Probes a node: secure API first, then maintenance mode ([`maintenance_version`]).
pub async fn probe(address: &str, creds: &Credentials) -> Stage {
    let secure = match creds.client(address) {
        Ok(c) => c.version().await,
        Err(e) => Err(e),
    };
    match secure {
        Ok(v) => Stage::Running { version: v.tag },
        Err(secure_err) => match maintenance_version(address).await {
            Ok(version) => Stage::Maintenance {
                version: version.unwrap_or_default(),
            },
            Err(_) => Stage::Unreachable {
                reason: secure_err.to_string(),
            },
        },
    }
}

/// Whether `address` answers in maintenance mode (a TLS session without a client certificate, and an answer
/// from the node itself), and the Talos version it runs when it tells.
///
/// The version comes from the `Versions.runtime.talos.dev` resource, readable without a client certificate on
/// every supported version; then from the `Version` RPC, which Talos 1.13 answers in maintenance mode but 1.11
/// and 1.12 refuse with Unimplemented "API is not implemented in maintenance mode" to clients not on SideroLink
/// (internal/app/maintenance/server.go@v1.12.11). Such a refusal still proves maintenance mode: `Ok(None)`.
///
/// # Errors
/// The last [`ClientError`] when the node does not answer in maintenance mode (unreachable, or it requires a
/// client certificate: secure mode).
pub async fn maintenance_version(address: &str) -> Result<Option<String>, ClientError> {
    let client = TalosClient::connect(address, &Security::Maintenance, CALL_TIMEOUT)?;
    let mut answered = false;
    match client.version_resource().await {
        Ok(Some(v)) => return Ok(Some(v)),
        Ok(None) => answered = true,
        Err(e) if e.is_node_answer() => answered = true,
        Err(e) if e.is_unreachable() => return Err(e),
        Err(_) => {}
    }
    match client.version().await {
        Ok(v) if !v.tag.is_empty() => Ok(Some(v.tag)),
        Ok(_) => Ok(None),
        Err(e) if answered || e.is_node_answer() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Applies `config` to a node in whichever mode it is: maintenance mode first (a fresh node), then secure mode
/// (a node that already runs with this cluster's CA). With `pin`, the maintenance-mode node must present the
/// certificate of that SPKI fingerprint, else nothing is sent and [`ClientError::Tls`] says so. Any answer of a maintenance-mode node other than success is
/// returned at once: a config it cannot parse (Talos up to 1.12: gRPC `Unknown` "failed to parse config: ...",
/// internal/app/maintenance/server.go@v1.12.11; 1.13: `InvalidArgument`), one it refuses (`InvalidArgument`
/// "configuration validation failed: ..."), or a mode it does not support (`Unimplemented`). Only a node that does
/// not answer without a client certificate, or presents another certificate than the pinned one, is tried in secure
/// mode (which sends only to a node whose certificate the cluster's Talos CA issued).
///
/// # Errors
/// The secure-mode error when both attempts fail, [`ClientError::Tls`] for a pin mismatch on a node that is not
/// this cluster's, or the maintenance-mode node's answer.
pub async fn apply_config(
    address: &str,
    config: &str,
    mode: ApplyMode,
    creds: &Credentials,
    pin: Option<SpkiFingerprint>,
) -> Result<ApplyOutcome, ClientError> {
    let security = pin.map_or(Security::Maintenance, Security::MaintenancePinned);
    let maintenance = TalosClient::connect(address, &security, CALL_TIMEOUT)?;
    let first = match maintenance
        .apply_configuration(config.as_bytes(), ApplyMode::Auto)
        .await
    {
        Ok(outcome) => return Ok(outcome),
        Err(e) if e.is_node_answer() => return Err(e),
        Err(e) => e,
    };
    let secure = creds
        .client(address)?
        .apply_configuration(config.as_bytes(), mode)
        .await;
    match secure {
        // A certificate other than the pinned one: nothing goes unless the node proves, in secure mode, that it
        // runs this cluster (its certificate is issued by the cluster's Talos CA), as a pinned node does once it
        // took its config and rebooted. Otherwise the mismatch stops the apply.
        Err(e) if first.is_fingerprint_mismatch() && !e.is_node_answer() => Err(ClientError::Tls {
            addr: address.to_string(),
            reason: first.to_string(),
        }),
        // The maintenance-mode node took the request and dropped the connection before its reply (it applies the
        // config and reboots to install): that node answered, and is now down. Its error, not "refused", is what
        // the caller must see, or a reboot would look like a node that never answered.
        Err(e) if e.is_unreachable() && first.is_connection_lost() => Err(first),
        other => other,
    }
}

/// [`apply_config`], retried while the node is unreachable (e.g. still powering on) or the connection broke before
/// the answer came (the node may have taken the config and closed its maintenance API to install: the retry then
/// reaches it in secure mode, where the same config is a no-op); bound it with a deadline. [`apply_config_watched`]
/// without an answer window.
///
/// # Errors
/// A rejection or any error other than "unreachable" or "connection lost".
pub async fn apply_config_when_up(
    address: &str,
    config: &str,
    mode: ApplyMode,
    creds: &Credentials,
    pin: Option<SpkiFingerprint>,
) -> Result<ApplyOutcome, ClientError> {
    let watch = NodeWatch::new("applying the machine config", address, None);
    apply_config_watched(address, config, mode, creds, pin, &watch).await
}

/// [`apply_config_when_up`] recording what it sees in `watch`, and giving up once `watch`'s answer window has
/// passed without any answer from the node.
///
/// # Errors
/// As [`apply_config_when_up`], and [`ClientError::NoAnswer`].
pub async fn apply_config_watched(
    address: &str,
    config: &str,
    mode: ApplyMode,
    creds: &Credentials,
    pin: Option<SpkiFingerprint>,
    watch: &NodeWatch,
) -> Result<ApplyOutcome, ClientError> {
    let mut poll = Poll::default();
    loop {
        match apply_config(address, config, mode, creds, pin).await {
            Err(e) if e.is_unreachable() || e.is_connection_lost() => {
                watch.saw_error(&e);
                if let Some(given_up) = watch.given_up() {
                    return Err(given_up);
                }
                poll.wait().await;
            }
            other => {
                watch.saw_answer();
                return other;
            }
        }
    }
}

/// `ApplyConfiguration` of a changed config to a node in secure mode. When the connection breaks before the answer
/// (a node that reboots to apply may go down before its reply is out), waits for the node's API and reads back the
/// config it runs (COSI MachineConfig): the same config means it was applied (with a reboot); otherwise the apply
/// is sent again. Bound it with a deadline; `watch` records what the wait sees and gives up on a node that does
/// not answer within its window.
///
/// # Errors
/// A rejection, [`ClientError::NoAnswer`], or any error other than "unreachable" or "connection lost".
pub async fn apply_changed_config(
    address: &str,
    config: &str,
    mode: ApplyMode,
    creds: &Credentials,
    watch: &NodeWatch,
) -> Result<ApplyOutcome, ClientError> {
    let client = creds.client(address)?;
    let mut poll = Poll::default();
    loop {
        match client.apply_configuration(config.as_bytes(), mode).await {
            Err(e) if e.is_unreachable() || e.is_connection_lost() => {
                watch.saw_error(&e);
                wait_secure_watched(address, creds, watch).await?;
                let running = client.machine_config().await;
                if let Ok(Some(yaml)) = running {
                    if config_hash(&yaml) == config_hash(config) {
                        return Ok(ApplyOutcome {
                            mode: "REBOOT".into(),
                            details: "the connection broke during the apply; the node came back running this \
                                      config"
                                .into(),
                            warnings: Vec::new(),
                        });
                    }
                }
                poll.wait().await;
            }
            other => return other,
        }
    }
}

/// Polls until the node answers the secure API with version `tag` (after an upgrade).
///
/// # Errors
/// A bad address; otherwise bound it with a deadline.
pub async fn wait_version(
    address: &str,
    creds: &Credentials,
    tag: &str,
) -> Result<(), ClientError> {
    let client = creds.client(address)?;
    let mut poll = Poll::default();
    loop {
        match client.version().await {
            Ok(v) if v.tag == tag => return Ok(()),
            Err(e) if e.is_certificate_name() => return Err(e),
            Ok(v) => crate::progress::observe(format!("node {address} runs {}", v.tag)),
            Err(e) => crate::progress::observe(format!("node {address}: {e}")),
        }
        poll.wait().await;
    }
}

/// The version tag of an installer image reference (`repo:tag`), when it has one.
pub fn image_tag(image: &str) -> Option<&str> {
    let (repo, tag) = image.rsplit_once(':')?;
    (!tag.contains('/') && !repo.is_empty()).then_some(tag)
}

/// Polls until the node answers the secure API; returns its version tag. [`wait_secure_watched`] without an answer
/// window.
///
/// # Errors
/// A bad address, or at once [`ClientError::CertificateName`]; otherwise bound it with a deadline.
pub async fn wait_secure(address: &str, creds: &Credentials) -> Result<String, ClientError> {
    let watch = NodeWatch::new("waiting for the Talos API in secure mode", address, None);
    wait_secure_watched(address, creds, &watch).await
}

/// [`wait_secure`] recording what it sees in `watch`: each failure, and the node answering in maintenance mode
/// instead (asked when something answers but not the secure API with this cluster's credentials); gives up once
/// `watch`'s answer window has passed without any answer.
///
/// # Errors
/// A bad address, [`ClientError::NoAnswer`]; otherwise bound it with a deadline.
pub async fn wait_secure_watched(
    address: &str,
    creds: &Credentials,
    watch: &NodeWatch,
) -> Result<String, ClientError> {
    let client = creds.client(address)?;
    let mut poll = Poll::default();
    loop {
        match client.version().await {
            Err(e) if e.is_certificate_name() => return Err(e),
            Ok(v) => {
                watch.saw_answer();
                return Ok(v.tag);
            }
            Err(e) => {
                // Recorded once known which it is (a deadline may cut the maintenance probe short: the previous
                // sighting then stands).
                let maintenance = if !e.is_unreachable() || e.is_auth_failure() {
                    maintenance_version(address).await.ok()
                } else {
                    None
                };
                match maintenance {
                    Some(version) => watch.saw_maintenance(version),
                    None => watch.saw_error(&e),
                }
                if let Some(given_up) = watch.given_up() {
                    return Err(given_up);
                }
            }
        }
        poll.wait().await;
    }
}

/// Polls `address` (a control plane) until every hostname in `expected` is a voting etcd member and none in
/// `gone` is a member any more; returns the members. A [`ClientError::CertificateName`] ends it at once. Other members may remain: during a scale-down the nodes
/// about to be removed are still members until they leave (Talos `EtcdLeaveCluster` on reset).
///
/// # Errors
/// A bad address; otherwise bound it with a deadline.
pub async fn wait_etcd_members(
    address: &str,
    creds: &Credentials,
    expected: &[String],
    gone: &[String],
) -> Result<Vec<EtcdMember>, ClientError> {
    let client = creds.client(address)?;
    let mut poll = Poll::default();
    loop {
        match client.etcd_member_list().await {
            Err(e) if e.is_certificate_name() => return Err(e),
            Err(e) => crate::progress::observe(format!("node {address}: {e}")),
            Ok(members) => {
                let voting: Vec<&str> = members
                    .iter()
                    .filter(|m| !m.is_learner)
                    .map(|m| m.hostname.as_str())
                    .collect();
                crate::progress::observe(format!(
                    "etcd members {voting:?} (learners not counted), expected {expected:?}"
                ));
                let left = !members.iter().any(|m| gone.contains(&m.hostname));
                if left && expected.iter().all(|h| voting.contains(&h.as_str())) {
                    return Ok(members);
                }
            }
        }
        poll.wait().await;
    }
}

/// Polls until a node stops answering the secure API with our credentials (it rebooted into maintenance mode
/// or went down), e.g. after a reset.
pub async fn wait_gone(address: &str, creds: &Credentials) {
    let Ok(client) = creds.client(address) else {
        return;
    };
    let mut poll = Poll::default();
    while client.version().await.is_ok() {
        poll.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_hex() {
        assert_eq!(config_hash("a"), config_hash("a"));
        assert_ne!(config_hash("a"), config_hash("b"));
        assert_eq!(config_hash("a").len(), 64);
    }

    #[test]
    fn hash_ignores_layout_comments_and_key_order_but_not_content() {
        let a = "version: v1alpha1\nmachine:\n  type: controlplane\n  token: abc\n---\nkind: HostnameConfig\nhostname: cp1\n";
        let b = "# applied\nversion: v1alpha1\nmachine: {token: abc, type: controlplane}\n---\nhostname: cp1\nkind: HostnameConfig\n";
        assert_eq!(config_hash(a), config_hash(b));
        assert_ne!(config_hash(a), config_hash(&a.replace("cp1", "cp2")));
        assert_ne!(config_hash("a: '1'"), config_hash("a: 1"));
    }

    #[tokio::test]
    async fn probe_unreachable() {
        let secrets = crate::talos::config::tests::secrets();
        let creds = Credentials::from_secrets(secrets).unwrap();
        let stage = probe("127.0.111.251:1", &creds).await;
        assert_eq!(stage.name(), "unreachable");
    }
}
