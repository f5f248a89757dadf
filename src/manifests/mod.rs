//! Typed Kubernetes objects rendered by Vixens (nothing here knows about Terraform).
//!
//! - [`cilium`]: the objects the Cilium Helm chart renders for a Talos cluster, plus LB IPAM pools and the L2
//!   announcement policy.

pub mod cilium;
