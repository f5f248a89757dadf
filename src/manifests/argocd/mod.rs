//! Argo CD install and bootstrap objects: parsing the upstream multi-document `install.yaml` ([`parse`]), placing
//! it into a namespace ([`install`]), fetching and pinning it ([`source`]), the objects Vixens adds (repository
//! Secret, root Application, admin password, server settings: [`objects`]; `argocd-cm` keys and bootstrap Secrets:
//! [`bootstrap`]) and input checks ([`validate`]).

pub mod bootstrap;
pub mod install;
pub mod objects;
pub mod parse;
pub mod source;
pub mod validate;

/// The namespace upstream manifests are written for.
pub const UPSTREAM_NAMESPACE: &str = "argocd";

pub use install::{prepare_install, InstallError};
pub use parse::{parse_manifest, ParseError};
pub use source::{upstream_manifest_url, SourceError};

#[cfg(test)]
pub(crate) mod fixture_tests;
