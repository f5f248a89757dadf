//! One file per ephemeral resource (Terraform >= 1.10): values opened for one Terraform run and never written to
//! the plan or the state, such as credentials handed to another provider's configuration. Like
//! [`crate::resources`], the only place where the [`crate::framework`] meets the domain code. Register each in
//! [`crate::provider::ephemeral_resources`].

pub mod talos_client_config;
