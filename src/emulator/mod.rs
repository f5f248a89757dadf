//! `vixens-emulator`: Talos nodes and a Kubernetes API on loopback, faithful enough to test the provider against
//! (issue 3). It rejects what real Talos or Kubernetes would reject.
//!
//! - [`topology`]: the YAML topology file (nodes, disks, links, timings, faults).
//! - [`talos`]: the Talos machine API per node on `<address>:50000` (maintenance and secure modes).
//! - [`kube`]: the Kubernetes API server (discovery, generic storage, server-side apply, watch, simulated
//!   controllers for workloads, Cilium LB IPAM and Argo CD Applications, faults, persistence).
//! - [`kube_bridge`]: brings the Kubernetes API up on the control planes and the cluster endpoint once etcd is
//!   bootstrapped, and registers Nodes as Talos nodes join.
//! - [`faults`] and [`control`]: fault injection, from the topology or a loopback HTTP/JSON endpoint.
//! - [`factory`]: the Image Factory stand-in (schematics API, installer pulls).
//! - [`pki`]: certificate helpers; [`testkit`]: fixtures for tests and benchmarks.

pub mod control;
pub mod factory;
pub mod faults;
pub mod kube;
pub mod kube_bridge;
pub mod pki;
pub mod run;
pub mod talos;
pub mod testkit;
pub mod topology;
