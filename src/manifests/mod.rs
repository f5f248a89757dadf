//! Typed and parsed Kubernetes objects for the resources. Nothing here knows about Terraform or talks to a
//! cluster.
//!
//! - [`argocd`]: install manifest, repository Secret, root Application.
//! - [`cilium`]: the objects the Cilium Helm chart renders for a Talos cluster, plus LB IPAM pools and the L2
//!   announcement policy.

pub mod argocd;
pub mod cilium;
