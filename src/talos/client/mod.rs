//! The Talos machine API client (gRPC over TLS to apid, port 50000), one node at a time.
//!
//! Always dials the node itself (a node in maintenance mode cannot proxy, and the VIP exists only after
//! bootstrap), never sets the `node`/`nodes` routing metadata, and bounds every call with a timeout. RPCs and
//! messages follow talos `api/machine/machine.proto` and `api/storage/storage.proto`.

pub mod archive;
mod cosi;
pub mod error;
pub mod extensions;
pub mod hardware;
pub mod tls;

pub use cosi::{machine_config_body, MachineStage};
pub use error::ClientError;
pub use tls::Security;

use crate::proto::machine::machine_service_client::MachineServiceClient;
use crate::proto::machine::{self as pb, apply_configuration_request::Mode};
use crate::proto::storage::storage_service_client::StorageServiceClient;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint, Uri};

/// The Talos API port (`constants.ApidPort`).
pub const APID_PORT: u16 = 50000;

/// Mode of `ApplyConfiguration` (`ApplyConfigurationRequest.Mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// Apply without reboot when possible, else reboot.
    Auto,
    /// Apply without reboot; fails if a reboot is needed.
    NoReboot,
    /// Reboot to apply.
    Reboot,
    /// Stage for the next reboot.
    Staged,
    /// Apply, roll back after a timeout unless confirmed.
    Try,
}

impl ApplyMode {
    fn to_proto(self) -> Mode {
        match self {
            ApplyMode::Auto => Mode::Auto,
            ApplyMode::NoReboot => Mode::NoReboot,
            ApplyMode::Reboot => Mode::Reboot,
            ApplyMode::Staged => Mode::Staged,
            ApplyMode::Try => Mode::Try,
        }
    }

    /// Parses `auto`, `no_reboot`, `reboot`, `staged`, `try` (case-insensitive, `-` accepted for `_`).
    pub fn parse(text: &str) -> Option<ApplyMode> {
        match text.to_ascii_lowercase().replace('-', "_").as_str() {
            "auto" => Some(ApplyMode::Auto),
            "no_reboot" => Some(ApplyMode::NoReboot),
            "reboot" => Some(ApplyMode::Reboot),
            "staged" => Some(ApplyMode::Staged),
            "try" => Some(ApplyMode::Try),
            _ => None,
        }
    }
}

/// What `ApplyConfiguration` reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// The mode the node chose (e.g. `REBOOT` when AUTO needed a reboot).
    pub mode: String,
    /// Human-readable details.
    pub details: String,
    /// Validation warnings.
    pub warnings: Vec<String>,
}

/// A node's version and platform (`VersionResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeVersion {
    /// Talos tag, e.g. `v1.13.2`.
    pub tag: String,
    /// Platform name (e.g. `metal`).
    pub platform: String,
    /// Platform mode (e.g. `metal`, `container`).
    pub platform_mode: String,
}

/// An etcd member (`EtcdMember`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdMember {
    /// Member id.
    pub id: u64,
    /// Member hostname.
    pub hostname: String,
    /// Peer URLs.
    pub peer_urls: Vec<String>,
    /// Whether it is a learner.
    pub is_learner: bool,
}

/// A service's state (`ServiceInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    /// Service id, e.g. `etcd`, `kubelet`, `apid`.
    pub id: String,
    /// State, e.g. `Running`.
    pub state: String,
    /// Health: `Some(true)` healthy, `Some(false)` unhealthy, `None` unknown.
    pub healthy: Option<bool>,
}

/// A disk (`storage.Disk`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskInfo {
    /// Device path, e.g. `/dev/sda`.
    pub device_name: String,
    /// Size in bytes.
    pub size: u64,
    /// Model.
    pub model: String,
    /// Whether Talos is installed on it.
    pub system_disk: bool,
}

/// Outcome of `Bootstrap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootstrapOutcome {
    /// etcd was bootstrapped by this call.
    Bootstrapped,
    /// The node answered AlreadyExists ("etcd data directory is not empty"): it was done before.
    AlreadyBootstrapped,
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port` into `(host, port)`, port defaulting to 50000.
///
/// # Errors
/// [`ClientError::InvalidAddress`].
pub fn split_address(addr: &str) -> Result<(String, u16), ClientError> {
    let invalid = || ClientError::InvalidAddress(addr.to_string());
    let addr = addr.trim();
    if addr.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((addr.to_string(), APID_PORT));
    }
    // An authority as the URL standard reads it (`url` crate): brackets around IPv6, a port up to 65535; nothing
    // else (no user, path, query or fragment, no empty port).
    let url = url::Url::parse(&format!("tcp://{addr}")).map_err(|_| invalid())?;
    let extra = !url.username().is_empty()
        || url.password().is_some()
        || !url.path().is_empty()
        || url.query().is_some()
        || url.fragment().is_some()
        || addr.ends_with(':');
    let host = match url.host() {
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Domain(name)) if !name.is_empty() && !extra => name.to_string(),
        _ => return Err(invalid()),
    };
    if extra {
        return Err(invalid());
    }
    Ok((host, url.port().unwrap_or(APID_PORT)))
}

/// A connection to one node's machine API.
#[derive(Clone)]
pub struct TalosClient {
    addr: String,
    channel: Channel,
    timeout: Duration,
}

impl std::fmt::Debug for TalosClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TalosClient")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TalosClient {
    /// Prepares a connection to `addr` (`host[:port]`, default port 50000). Connects lazily: an unreachable node
    /// shows up as `Unavailable` (or a timeout) on the first call. `timeout` bounds connect and each call.
    ///
    /// # Errors
    /// [`ClientError::InvalidAddress`] or [`ClientError::Tls`].
    pub fn connect(
        addr: &str,
        security: &Security,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let (host, port) = split_address(addr)?;
        let tls_err = |reason: String| ClientError::Tls {
            addr: addr.to_string(),
            reason,
        };
        let config = Arc::new(tls::client_config(security).map_err(tls_err)?);
        let server_name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|_| ClientError::InvalidAddress(addr.to_string()))?;
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let endpoint = Endpoint::from_shared(format!("http://{authority}"))
            .map_err(|_| ClientError::InvalidAddress(addr.to_string()))?
            .connect_timeout(timeout)
            .timeout(timeout);
        let connector = tower::service_fn(move |_: Uri| {
            let config = config.clone();
            let server_name = server_name.clone();
            let target = (host.clone(), port);
            async move {
                let tcp = tokio::net::TcpStream::connect(target).await?;
                tcp.set_nodelay(true)?;
                let tls = tokio_rustls::TlsConnector::from(config)
                    .connect(server_name, tcp)
                    .await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        });
        let channel = endpoint.connect_with_connector_lazy(connector);
        Ok(TalosClient {
            addr: addr.to_string(),
            channel,
            timeout,
        })
    }

    /// The address this client dials.
    pub fn address(&self) -> &str {
        &self.addr
    }

    fn machine(&self) -> MachineServiceClient<Channel> {
        MachineServiceClient::new(self.channel.clone()).max_decoding_message_size(64 * 1024 * 1024)
    }

    async fn call<T, F>(&self, call: &'static str, fut: F) -> Result<T, ClientError>
    where
        F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => Err(ClientError::Timeout {
                call,
                addr: self.addr.clone(),
                after: self.timeout,
            }),
            Ok(Err(status)) if tls::name_mismatch(&status).is_some() => {
                let (host, names) = tls::name_mismatch(&status).unwrap_or_default();
                let host = if host.is_empty() {
                    split_address(&self.addr)
                        .map(|(h, _)| h)
                        .unwrap_or_default()
                } else {
                    host
                };
                Err(ClientError::CertificateName {
                    addr: self.addr.clone(),
                    host,
                    names,
                })
            }
            Ok(Err(status)) => Err(ClientError::Status {
                call,
                addr: self.addr.clone(),
                code: status.code(),
                message: status_message(&status),
            }),
            Ok(Ok(response)) => Ok(response.into_inner()),
        }
    }

    fn node_error(
        &self,
        call: &'static str,
        metadata: Option<&crate::proto::common::Metadata>,
    ) -> Result<(), ClientError> {
        match metadata {
            Some(m) if !m.error.is_empty() => Err(ClientError::Node {
                call,
                addr: self.addr.clone(),
                message: m.error.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// `ApplyConfiguration`: sends a rendered machine config (multi-document YAML).
    ///
    /// # Errors
    /// [`ClientError`]; `InvalidArgument` when the node rejects the config.
    pub async fn apply_configuration(
        &self,
        config: &[u8],
        mode: ApplyMode,
    ) -> Result<ApplyOutcome, ClientError> {
        const CALL: &str = "ApplyConfiguration";
        let request = pb::ApplyConfigurationRequest {
            data: config.to_vec(),
            mode: mode.to_proto() as i32,
            dry_run: false,
            try_mode_timeout: None,
        };
        let reply = self
            .call(CALL, self.machine().apply_configuration(request))
            .await?;
        let first = reply.messages.into_iter().next();
        self.node_error(CALL, first.as_ref().and_then(|m| m.metadata.as_ref()))?;
        let message = first.unwrap_or_default();
        let mode = Mode::try_from(message.mode)
            .map(|m| m.as_str_name().to_string())
            .unwrap_or_default();
        Ok(ApplyOutcome {
            mode,
            details: message.mode_details,
            warnings: message.warnings,
        })
    }

    /// `Version`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn version(&self) -> Result<NodeVersion, ClientError> {
        const CALL: &str = "Version";
        let reply = self.call(CALL, self.machine().version(())).await?;
        let first = reply
            .messages
            .into_iter()
            .next()
            .ok_or_else(|| self.empty(CALL))?;
        self.node_error(CALL, first.metadata.as_ref())?;
        let version = first.version.unwrap_or_default();
        let platform = first.platform.unwrap_or_default();
        Ok(NodeVersion {
            tag: version.tag,
            platform: platform.name,
            platform_mode: platform.mode,
        })
    }

    /// `StorageService.Disks`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn disks(&self) -> Result<Vec<DiskInfo>, ClientError> {
        const CALL: &str = "Disks";
        let mut client = StorageServiceClient::new(self.channel.clone());
        let reply = self.call(CALL, client.disks(())).await?;
        let mut out = Vec::new();
        for message in reply.messages {
            self.node_error(CALL, message.metadata.as_ref())?;
            out.extend(message.disks.into_iter().map(|d| DiskInfo {
                device_name: d.device_name,
                size: d.size,
                model: d.model,
                system_disk: d.system_disk,
            }));
        }
        Ok(out)
    }

    /// One `Bootstrap` attempt. AlreadyExists ("etcd data directory is not empty") counts as success.
    ///
    /// # Errors
    /// [`ClientError`]; `Unimplemented`/`FailedPrecondition` mean "not ready yet" (see
    /// [`ClientError::is_not_ready`]).
    pub async fn bootstrap_once(&self) -> Result<BootstrapOutcome, ClientError> {
        const CALL: &str = "Bootstrap";
        let request = pb::BootstrapRequest {
            recover_etcd: false,
            recover_skip_hash_check: false,
        };
        match self.call(CALL, self.machine().bootstrap(request)).await {
            Ok(reply) => {
                self.node_error(
                    CALL,
                    reply.messages.first().and_then(|m| m.metadata.as_ref()),
                )?;
                Ok(BootstrapOutcome::Bootstrapped)
            }
            Err(e) if e.code() == Some(tonic::Code::AlreadyExists) => {
                Ok(BootstrapOutcome::AlreadyBootstrapped)
            }
            Err(e) => Err(e),
        }
    }

    /// `Bootstrap` with retries: while the node answers Unimplemented or FailedPrecondition (still booting,
    /// time not in sync) or is unreachable, retry with exponential backoff (200 ms doubling to 5 s) until
    /// `deadline` has passed.
    ///
    /// # Errors
    /// The last [`ClientError`] when the deadline passes or on any other error.
    pub async fn bootstrap(&self, deadline: Duration) -> Result<BootstrapOutcome, ClientError> {
        use backon::{ExponentialBuilder, Retryable};
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(5))
            .with_total_delay(Some(deadline))
            .without_max_times();
        (|| self.bootstrap_once())
            .retry(backoff)
            .when(|e: &ClientError| e.is_not_ready() || e.is_unreachable())
            .await
    }

    /// `EtcdMemberList` (cluster view, not local).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn etcd_member_list(&self) -> Result<Vec<EtcdMember>, ClientError> {
        const CALL: &str = "EtcdMemberList";
        let reply = self
            .call(
                CALL,
                self.machine()
                    .etcd_member_list(pb::EtcdMemberListRequest { query_local: false }),
            )
            .await?;
        let mut out = Vec::new();
        for message in reply.messages {
            self.node_error(CALL, message.metadata.as_ref())?;
            out.extend(message.members.into_iter().map(|m| EtcdMember {
                id: m.id,
                hostname: m.hostname,
                peer_urls: m.peer_urls,
                is_learner: m.is_learner,
            }));
        }
        Ok(out)
    }

    /// `EtcdLeaveCluster`: this node leaves etcd.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn etcd_leave_cluster(&self) -> Result<(), ClientError> {
        const CALL: &str = "EtcdLeaveCluster";
        let reply = self
            .call(
                CALL,
                self.machine()
                    .etcd_leave_cluster(pb::EtcdLeaveClusterRequest {}),
            )
            .await?;
        self.node_error(
            CALL,
            reply.messages.first().and_then(|m| m.metadata.as_ref()),
        )
    }

    /// `EtcdRemoveMemberByID`: removes another member (e.g. a node that is gone).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn etcd_remove_member(&self, member_id: u64) -> Result<(), ClientError> {
        const CALL: &str = "EtcdRemoveMemberByID";
        let request = pb::EtcdRemoveMemberByIdRequest { member_id };
        let reply = self
            .call(CALL, self.machine().etcd_remove_member_by_id(request))
            .await?;
        self.node_error(
            CALL,
            reply.messages.first().and_then(|m| m.metadata.as_ref()),
        )
    }

    /// `ServiceList`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn service_list(&self) -> Result<Vec<ServiceState>, ClientError> {
        const CALL: &str = "ServiceList";
        let reply = self.call(CALL, self.machine().service_list(())).await?;
        let mut out = Vec::new();
        for message in reply.messages {
            self.node_error(CALL, message.metadata.as_ref())?;
            out.extend(message.services.into_iter().map(|s| {
                let health = s.health.unwrap_or_default();
                ServiceState {
                    id: s.id,
                    state: s.state,
                    healthy: if health.unknown {
                        None
                    } else {
                        Some(health.healthy)
                    },
                }
            }));
        }
        Ok(out)
    }

    /// `Kubeconfig`: the admin kubeconfig (YAML bytes) from the streamed gzip'd tar, read leniently.
    ///
    /// # Errors
    /// [`ClientError`]; [`ClientError::Reply`] when the archive holds no kubeconfig.
    pub async fn kubeconfig(&self) -> Result<Vec<u8>, ClientError> {
        const CALL: &str = "Kubeconfig";
        let addr = self.addr.clone();
        let collect = async {
            let mut stream = self.machine().kubeconfig(()).await?.into_inner();
            let mut bytes = Vec::new();
            while let Some(chunk) = stream.message().await? {
                if let Some(m) = chunk.metadata.as_ref().filter(|m| !m.error.is_empty()) {
                    return Err(tonic::Status::internal(m.error.clone()));
                }
                bytes.extend_from_slice(&chunk.bytes);
            }
            Ok(tonic::Response::new(bytes))
        };
        let bytes = self.call(CALL, collect).await?;
        archive::kubeconfig_from_tar_gz(&bytes).map_err(|reason| ClientError::Reply {
            call: CALL,
            addr,
            reason,
        })
    }

    /// `Reset`: wipes only the STATE and EPHEMERAL partitions, then reboots. `graceful` leaves etcd first
    /// (must be false for the last control plane).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn reset(&self, graceful: bool) -> Result<(), ClientError> {
        const CALL: &str = "Reset";
        let wipe = |label: &str| pb::ResetPartitionSpec {
            label: label.to_string(),
            wipe: true,
        };
        let request = pb::ResetRequest {
            graceful,
            reboot: true,
            system_partitions_to_wipe: vec![wipe("STATE"), wipe("EPHEMERAL")],
            user_disks_to_wipe: Vec::new(),
            mode: pb::reset_request::WipeMode::SystemDisk as i32,
        };
        let reply = self.call(CALL, self.machine().reset(request)).await?;
        self.node_error(
            CALL,
            reply.messages.first().and_then(|m| m.metadata.as_ref()),
        )
    }

    /// `Reboot` (default mode).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn reboot(&self) -> Result<(), ClientError> {
        const CALL: &str = "Reboot";
        let reply = self
            .call(CALL, self.machine().reboot(pb::RebootRequest { mode: 0 }))
            .await?;
        self.node_error(
            CALL,
            reply.messages.first().and_then(|m| m.metadata.as_ref()),
        )
    }

    /// `Upgrade` to installer `image`, preserving data.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn upgrade(&self, image: &str) -> Result<(), ClientError> {
        const CALL: &str = "Upgrade";
        let request = pb::UpgradeRequest {
            image: image.to_string(),
            preserve: true,
            stage: false,
            force: false,
            reboot_mode: 0,
        };
        let reply = self.call(CALL, self.machine().upgrade(request)).await?;
        self.node_error(
            CALL,
            reply.messages.first().and_then(|m| m.metadata.as_ref()),
        )
    }

    fn empty(&self, call: &'static str) -> ClientError {
        ClientError::Reply {
            call,
            addr: self.addr.clone(),
            reason: "no messages".into(),
        }
    }
}

/// The status message, with the transport source when tonic wraps one (TLS and connect failures).
fn status_message(status: &tonic::Status) -> String {
    let mut message = status.message().to_string();
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        message.push_str(": ");
        message.push_str(&err.to_string());
        source = err.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            split_address("127.0.111.162").unwrap(),
            ("127.0.111.162".into(), 50000)
        );
        assert_eq!(
            split_address("127.0.111.162:50001").unwrap(),
            ("127.0.111.162".into(), 50001)
        );
        assert_eq!(split_address("[::1]:5").unwrap(), ("::1".into(), 5));
        assert_eq!(split_address("::1").unwrap(), ("::1".into(), 50000));
        assert_eq!(
            split_address("node1.lan").unwrap(),
            ("node1.lan".into(), 50000)
        );
        assert!(split_address("").is_err());
        assert!(split_address("host:x").is_err());
        for bad in [
            "host:70000",
            "host:",
            "a/b",
            "user@host",
            "host?x",
            "[::1",
            "h st",
        ] {
            assert!(split_address(bad).is_err(), "{bad}");
        }
        assert!(split_address(":5").is_err());
    }

    #[test]
    fn apply_modes() {
        assert_eq!(ApplyMode::parse("no-reboot"), Some(ApplyMode::NoReboot));
        assert_eq!(ApplyMode::parse("AUTO"), Some(ApplyMode::Auto));
        assert_eq!(ApplyMode::parse("x"), None);
    }

    #[tokio::test]
    async fn unreachable_node_is_a_typed_error_within_the_timeout() {
        // Nothing listens on this loopback port.
        let client = TalosClient::connect(
            "127.0.111.250:1",
            &Security::Maintenance,
            Duration::from_millis(500),
        )
        .unwrap();
        let err = client.version().await.unwrap_err();
        assert!(err.is_unreachable(), "{err}");
    }
}
