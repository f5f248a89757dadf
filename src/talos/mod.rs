//! Talos domain code, knowing nothing of Terraform: the cluster secrets bundle and PKI ([`secrets`], [`pki`]),
//! the config contract ([`contract`]), machine-config rendering ([`config`]) and the machine API client
//! ([`client`]), and what a wait on a node has seen ([`watch`]).

pub mod client;
pub mod clientconfig;
pub mod config;
pub mod contract;
pub mod ops;
pub mod pki;
pub mod secrets;
pub mod watch;
