//! One file per managed resource: the only place where Terraform (the [`crate::framework`]) meets the domain code
//! (`talos`, `k8s`, `manifests`). Register each in [`crate::provider::resources`].

pub mod argocd_bootstrap;
pub mod cilium;
pub mod k8s_outage;
pub mod k8s_resume;
pub mod talos_cluster;
#[cfg(feature = "test-resources")]
pub mod test_thing;
