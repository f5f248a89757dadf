//! The Talos machine API of emulated nodes on `<address>:50000`: machine config validation ([`config`]), node
//! lifecycle and etcd membership ([`cluster`], [`node`], [`etcd`]), TLS listeners ([`tls`]), the gRPC front with
//! apid's auth and routing ([`api`]) and each RPC's behaviour ([`ops`]).

pub mod api;
pub mod cluster;
pub mod config;
mod config_decode;
pub mod cosi;
pub mod cosi_access;
pub mod cosi_disks;
pub mod cosi_extensions;
pub mod cosi_links;
pub mod cosi_list;
pub mod etcd;
pub mod kubeconfig;
pub mod node;
pub mod ops;
pub mod persist;
pub mod resource_types;
pub mod services;
pub mod tls;
pub mod version;

pub use cluster::{Cluster, KubeHooks, KubeNode};
