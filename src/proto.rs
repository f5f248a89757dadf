//! Generated protobuf bindings, one module per proto package under `proto/` (see `build.rs`).
//! tfplugin5/tfplugin6 follow hashicorp/terraform's `docs/plugin-protocol`; `plugin` is go-plugin's controller and
//! stdio services; `machine`, `common`, `storage` follow siderolabs/talos `api/`. Field numbers are upstream's.

include!(concat!(env!("OUT_DIR"), "/protos.rs"));

/// The encoded `FileDescriptorSet` of every `.proto` under `proto/` (written by build.rs), for decoding by
/// descriptor at run time (e.g. with prost-reflect).
pub const DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));
