//! Generated protobuf bindings, one module per proto package under `proto/` (see `build.rs`).
//! tfplugin5/tfplugin6 follow hashicorp/terraform's `docs/plugin-protocol`; `plugin` is go-plugin's controller and
//! stdio services; `machine`, `common`, `storage` follow siderolabs/talos `api/`. Field numbers are upstream's.

include!(concat!(env!("OUT_DIR"), "/protos.rs"));
