//! Errors of the machine API client.

use std::time::Duration;

/// A machine API call that failed, naming the call and the node address.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The address is not `host`, `host:port` or `[v6]:port`.
    #[error("invalid Talos API address {0:?}")]
    InvalidAddress(String),
    /// The TLS configuration could not be built (bad CA or client certificate).
    #[error("TLS configuration for {addr}: {reason}")]
    Tls {
        /// Node address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The node's certificate chains to the cluster's OS CA but does not name the host dialed (the TLS name check,
    /// which talosctl makes too): the address resolves to another machine, or the node's certificate predates this
    /// name. Not retried: it does not change while the node runs the same config.
    #[error(
        "the node at {addr} presents a certificate that is not valid for {host:?}: it names {}. Talos names its \
         certificate with the node's IP addresses, its hostname and machine.certSANs: the name resolves to another \
         machine, or the node took its config before {host:?} was its address (then add {host:?} to cert_sans, \
         apply with the previous address, and change the address after)",
        if names.is_empty() { "nothing".to_string() } else { names.join(", ") }
    )]
    CertificateName {
        /// Node address as given.
        addr: String,
        /// The host name checked.
        host: String,
        /// The DNS names and IP addresses the certificate holds.
        names: Vec<String>,
    },
    /// The call did not finish in time.
    #[error("{call} on {addr} timed out after {after:?}")]
    Timeout {
        /// RPC name.
        call: &'static str,
        /// Node address.
        addr: String,
        /// The timeout.
        after: Duration,
    },
    /// The node answered with a gRPC status (or the connection failed: `Unavailable`).
    #[error("{call} on {addr}: {code:?}: {message}")]
    Status {
        /// RPC name.
        call: &'static str,
        /// Node address.
        addr: String,
        /// gRPC code.
        code: tonic::Code,
        /// Status message.
        message: String,
    },
    /// A reply carried a per-node error in `metadata.error`.
    #[error("{call} on {addr}: node reported: {message}")]
    Node {
        /// RPC name.
        call: &'static str,
        /// Node address.
        addr: String,
        /// The node's message.
        message: String,
    },
    /// The node did not answer at all within the window a wait gives a node that never answered (see
    /// [`crate::talos::watch`]): a typo'd address, a machine that is off, another cluster's node.
    #[error("the node at {addr} did not answer within {}s: {cause}", waited.as_secs())]
    NoAnswer {
        /// Node address.
        addr: String,
        /// The window.
        waited: Duration,
        /// The last error seen.
        cause: String,
    },
    /// A reply could not be understood (e.g. no `kubeconfig` in the archive).
    #[error("{call} on {addr}: unexpected reply: {reason}")]
    Reply {
        /// RPC name.
        call: &'static str,
        /// Node address.
        addr: String,
        /// Why.
        reason: String,
    },
}

impl ClientError {
    /// The gRPC code, when the node answered with one.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            ClientError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True when the node's certificate does not name the host dialed ([`ClientError::CertificateName`]).
    pub fn is_certificate_name(&self) -> bool {
        matches!(self, ClientError::CertificateName { .. })
    }

    /// True when the node could not be reached or did not answer in time: worth retrying later.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Timeout { .. })
            || matches!(
                self.code(),
                Some(tonic::Code::Unavailable | tonic::Code::DeadlineExceeded)
            )
    }

    /// True when the connection broke before an answer came (`Unknown` or `Cancelled` carrying a transport or HTTP/2
    /// error, e.g.
    /// a TLS stream closed without close_notify or reset while the node restarts its API): worth retrying like
    /// [`ClientError::is_unreachable`].
    pub fn is_connection_lost(&self) -> bool {
        match self {
            ClientError::Status { code, message, .. } => {
                matches!(code, tonic::Code::Unknown | tonic::Code::Cancelled)
                    && [
                        "transport error",
                        "h2 protocol error",
                        "close_notify",
                        "connection reset",
                        "connection closed",
                    ]
                    .iter()
                    .any(|m| message.contains(m))
            }
            _ => false,
        }
    }

    /// True when the node itself answered with a gRPC status (a refusal, a rejected config, an unimplemented
    /// call), as opposed to a connection that failed, broke, timed out or was refused at the TLS handshake.
    pub fn is_node_answer(&self) -> bool {
        match self {
            ClientError::Status { code, message, .. } => {
                !self.is_unreachable()
                    && !self.is_connection_lost()
                    && !(matches!(code, tonic::Code::Unknown)
                        && (message.contains("certificate")
                            || message.contains("tls")
                            || message.contains("TLS")
                            || message.contains("handshake")))
            }
            ClientError::Node { .. } => true,
            _ => false,
        }
    }

    /// True when the handshake failed because the server certificate is not the pinned one
    /// ([`super::tls::FINGERPRINT_MISMATCH`]).
    pub fn is_fingerprint_mismatch(&self) -> bool {
        match self {
            ClientError::Status { message, .. }
            | ClientError::Tls {
                reason: message, ..
            } => message.contains(super::tls::FINGERPRINT_MISMATCH),
            _ => false,
        }
    }

    /// True when a node refused a machine config it could not parse or validate: Talos up to 1.12 in maintenance
    /// mode answers `Unknown` "failed to parse config: ..." (internal/app/maintenance/server.go@v1.12.11), apid
    /// answers `InvalidArgument` (internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go@v1.13.9).
    pub fn is_config_rejected(&self) -> bool {
        match self {
            ClientError::Status { code, message, .. } => {
                *code == tonic::Code::InvalidArgument
                    || (*code == tonic::Code::Unknown
                        && message.starts_with("failed to parse config"))
            }
            _ => false,
        }
    }

    /// True when the node answered that the call is not available in its current state (maintenance mode,
    /// still booting): `Unimplemented` or `FailedPrecondition`.
    pub fn is_not_ready(&self) -> bool {
        matches!(
            self.code(),
            Some(tonic::Code::Unimplemented | tonic::Code::FailedPrecondition)
        )
    }

    /// True when the TLS handshake failed in a way that means "wrong mode" (a node in maintenance mode answers a
    /// secure client with an unknown certificate, and vice versa).
    pub fn is_auth_failure(&self) -> bool {
        match self {
            ClientError::Status { code, message, .. } => {
                matches!(
                    code,
                    tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
                ) || (matches!(code, tonic::Code::Unavailable | tonic::Code::Unknown)
                    && (message.contains("certificate")
                        || message.contains("tls")
                        || message.contains("TLS")))
            }
            _ => false,
        }
    }
}
