//! Reading the `Kubeconfig` stream: the concatenated `common.Data.bytes` form one gzip'd tar holding a file
//! `kubeconfig` (talos `internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go`, `Kubeconfig`). The
//! server never closes the tar writer, so the archive has no end-of-archive blocks; the gzip stream may also end
//! early. Both are tolerated: whatever decompresses is scanned (tar crate) for the `kubeconfig` entry.

use flate2::read::GzDecoder;
use std::io::Read;

/// Extracts the `kubeconfig` file from a (possibly unterminated) `.tar.gz`.
///
/// # Errors
/// A message when there is no complete `kubeconfig` entry.
pub fn kubeconfig_from_tar_gz(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut tar_bytes = Vec::new();
    let mut decoder = GzDecoder::new(bytes);
    if let Err(e) = decoder.read_to_end(&mut tar_bytes) {
        if tar_bytes.is_empty() {
            return Err(format!("not gzip data: {e}"));
        }
    }
    find_entry(&tar_bytes, "kubeconfig")
}

/// Returns the first regular file of the tar whose path (without a leading `./`) is `name`. The tar crate
/// stops at end of input when the end-of-archive blocks are missing.
fn find_entry(tar_bytes: &[u8], name: &str) -> Result<Vec<u8>, String> {
    let mut archive = tar::Archive::new(tar_bytes);
    let entries = archive
        .entries()
        .map_err(|e| format!("not a tar archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("bad tar entry: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("bad tar path: {e}"))?
            .to_string_lossy()
            .into_owned();
        if path.trim_start_matches("./") == name && entry.header().entry_type().is_file() {
            let mut data = Vec::new();
            entry
                .read_to_end(&mut data)
                .map_err(|e| format!("tar entry {name} is truncated: {e}"))?;
            if data.len() as u64 != entry.size() {
                return Err(format!("tar entry {name} is truncated"));
            }
            return Ok(data);
        }
    }
    Err(format!("no {name} entry in the archive"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn archive(with_end: bool) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let data = b"apiVersion: v1\nkind: Config\n";
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        header.set_cksum();
        builder
            .append_data(&mut header, "kubeconfig", &data[..])
            .unwrap();
        let tar = if with_end {
            builder.into_inner().unwrap()
        } else {
            builder.get_ref().clone()
        };
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn reads_archives_with_and_without_end_blocks() {
        for with_end in [true, false] {
            let got = kubeconfig_from_tar_gz(&archive(with_end)).unwrap();
            assert_eq!(got, b"apiVersion: v1\nkind: Config\n");
        }
    }

    #[test]
    fn truncated_gzip_still_yields_the_entry_or_a_clear_error() {
        let full = archive(false);
        assert!(kubeconfig_from_tar_gz(&full[..full.len() - 4]).is_ok());
        assert!(kubeconfig_from_tar_gz(b"not gzip").is_err());
        assert!(kubeconfig_from_tar_gz(&full[..12]).is_err());
    }
}
