//! Typed and parsed Kubernetes objects for the resources: [`argocd`] (install manifest, repository Secret, root
//! Application). Nothing here knows about Terraform or talks to a cluster.

pub mod argocd;
