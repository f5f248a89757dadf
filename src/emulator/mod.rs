//! The emulator: loopback stand-ins for Talos nodes and the Kubernetes API (issue 3).
//!
//! - [`kube`]: a Kubernetes API server emulator (discovery, generic storage, server-side apply, watch, simulated
//!   controllers for workloads, Cilium LB IPAM and Argo CD Applications, faults).

pub mod kube;
