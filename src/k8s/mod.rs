//! Kubernetes client helpers shared by the resources: connection from a kubeconfig or PEM fields
//! ([`connection`]), server-side apply in dependency order ([`apply`]), waits for rollouts and conditions
//! ([`wait`]) and the inventory of owned objects ([`inventory`]). Nothing here knows about Terraform.

pub mod apply;
pub mod connection;
pub mod down;
pub mod drain;
pub mod error;
pub mod health;
pub mod inventory;
pub mod kubeconfig;
pub mod names;
pub mod retry;
pub mod schedule;
pub mod wait;

pub use connection::{ClusterCredentials, Connection};
pub use error::{Error, Result};
