//! One file per data source: read-only lookups, the only place besides [`crate::resources`] and
//! [`crate::ephemeral`] where the [`crate::framework`] meets the domain code. Register each in
//! [`crate::provider::data_sources`].

pub mod cluster_health;
mod node;
pub mod talos_disks;
pub mod talos_links;
