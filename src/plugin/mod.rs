//! The go-plugin side of a Terraform provider: handshake ([`handshake`]), AutoMTLS ([`tls`]), the gRPC server
//! ([`serve`], each RPC timed by [`timing`]) and the tfplugin5/tfplugin6 adapters ([`v5`], [`v6`]), both thin
//! translations of [`crate::framework::ProviderServer`]. Nothing here knows about Talos or Kubernetes.

mod convert;
pub mod handshake;
pub mod orphan;
pub mod serve;
pub mod timing;
pub mod tls;
pub mod v5;
pub mod v6;

pub use serve::{serve, Listening, ServeConfig};

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    /// proto/tfplugin5.proto and tfplugin6.proto are upstream's files byte for byte (hashicorp/terraform
    /// `docs/plugin-protocol` at the tag recorded by scripts/tfplugin-protos.sh), of the minors the adapters'
    /// docs name.
    #[test]
    fn protocol_files_are_upstream() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let table = std::fs::read_to_string(root.join("tests/data/tfplugin-protos.tsv")).unwrap();
        let rows: Vec<Vec<&str>> = table
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split('\t').collect())
            .collect();
        assert_eq!(rows.len(), 2, "{table}");
        for (row, minor) in rows.iter().zip(["5.10", "6.10"]) {
            let text = std::fs::read(root.join("proto").join(row[0])).unwrap();
            assert_eq!(
                hex::encode(Sha256::digest(&text)),
                row[2],
                "proto/{} differs from hashicorp/terraform {}: rerun scripts/tfplugin-protos.sh",
                row[0],
                row[1]
            );
            let header = format!("protocol version {minor}\n");
            assert!(
                String::from_utf8_lossy(&text).contains(&header),
                "{} is not {minor}",
                row[0]
            );
        }
    }
}
