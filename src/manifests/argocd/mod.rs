//! Argo CD install and bootstrap objects: parsing the upstream multi-document `install.yaml` ([`parse`]), placing
//! it into a namespace ([`install`]) one document at a time ([`prepared`]), fetching and pinning it ([`source`],
//! with the official releases' digests in [`release_digests`]), the objects Vixens adds (repository Secret, root
//! Application, admin password, server settings: [`objects`]; `argocd-cm` keys and bootstrap Secrets:
//! [`bootstrap`]) and input checks ([`validate`]).

pub mod bootstrap;
pub mod install;
pub mod objects;
pub mod parse;
pub mod prepared;
pub mod release_digests;
pub mod source;
pub mod validate;

/// The namespace upstream manifests are written for.
pub const UPSTREAM_NAMESPACE: &str = "argocd";

pub use install::{prepare_install, InstallError};
pub use parse::{parse_manifest, ParseError};
pub use prepared::{manifest_refs, prepare_manifest, PrepareError};
pub use source::{upstream_manifest_url, SourceError};

#[cfg(test)]
pub(crate) mod fixture_tests;
