//! Talos domain code, knowing nothing of Terraform: the cluster secrets bundle and PKI ([`secrets`], [`pki`]),
//! the config contract ([`contract`]), machine-config rendering ([`config`]) and the machine API client
//! ([`client`]), what a wait on a node has seen ([`watch`]), and Image Factory schematics ([`schematic`],
//! registered by [`factory`]).

pub mod client;
pub mod clientconfig;
pub mod config;
pub mod contract;
pub mod factory;
pub mod ops;
pub mod pki;
pub mod schematic;
pub mod secrets;
pub mod watch;
