//! Vixens: a Terraform provider that turns bare Talos Linux machines into a GitOps-managed Kubernetes cluster,
//! and `vixens-emulator`, a loopback stand-in for Talos nodes and the Kubernetes API.
//!
//! Layers, each importing only from those below it:
//! - [`provider`], [`resources`], [`data_sources`] and [`ephemeral`]: the only place where Terraform meets the
//!   domain code.
//! - [`plugin`] (go-plugin handshake, AutoMTLS, tfplugin5/6 adapters) and [`framework`] (protocol-neutral resource
//!   trait, schema, diagnostics) over [`cty`] (Terraform values and their codecs): nothing of Talos or Kubernetes.
//! - [`talos`] (secrets, machine config, machine API client), [`k8s`] (connection, server-side apply, waits),
//!   [`manifests`] (typed Cilium and Argo CD objects): nothing of Terraform.
//! - [`version`]: release version numbers (`v1.34.1`) of Cilium and Kubernetes.
//! - [`redact`]: error messages about secret inputs reduced to their location (used by every layer);
//!   [`progress`]: what a long step last saw, recorded by the domain code and reported by the framework.
//! - [`emulator`]: Talos node API and Kubernetes API on loopback; reuses [`talos`] and [`proto`] only.

pub mod cty;
pub mod data_sources;
pub mod emulator;
pub mod ephemeral;
pub mod framework;
pub mod k8s;
pub mod logging;
pub mod manifests;
pub mod plugin;
pub mod progress;
pub mod proto;
pub mod provider;
pub mod redact;
pub mod resources;
pub mod talos;
pub mod version;
pub mod yaml;
