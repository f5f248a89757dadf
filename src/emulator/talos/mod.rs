//! The Talos machine API of emulated nodes: machine config validation ([`config`]), node lifecycle and etcd
//! membership, and the gRPC services per node.

pub mod config;
