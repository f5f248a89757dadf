//! The go-plugin side of a Terraform provider: handshake ([`handshake`]), AutoMTLS ([`tls`]), the gRPC server
//! ([`serve`]) and the tfplugin5/tfplugin6 adapters ([`v5`], [`v6`]), both thin translations of
//! [`crate::framework::ProviderServer`]. Nothing here knows about Talos or Kubernetes.

mod convert;
pub mod handshake;
pub mod orphan;
pub mod serve;
pub mod tls;
pub mod v5;
pub mod v6;

pub use serve::{serve, Listening, ServeConfig};
