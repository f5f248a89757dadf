//! The Talos version contract: which machine-config shape a Talos minor version expects.
//!
//! Mirrors the predicates of talos `pkg/machinery/config/contract.go` (tag v1.13.9) that matter for the
//! contracts Vixens supports (1.11, 1.12, 1.13), and the Kubernetes version ranges of
//! `pkg/machinery/compatibility/talos1NN/talos1NN.go`.

use std::fmt;

/// A Talos config contract `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Contract {
    /// Major version (1).
    pub major: u32,
    /// Minor version (11, 12 or 13).
    pub minor: u32,
}

/// The contracts Vixens renders, oldest first.
pub const SUPPORTED: [Contract; 3] = [Contract::V1_11, Contract::V1_12, Contract::V1_13];

/// A version string that is not a supported contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// The text is not `[v]MAJOR.MINOR[.PATCH[-pre]]`.
    #[error("{0:?} is not a Talos version (expected e.g. \"1.13\" or \"v1.13.2\")")]
    Malformed(String),
    /// A well-formed version outside [`SUPPORTED`].
    #[error("Talos {0} is not supported (supported: 1.11, 1.12, 1.13)")]
    Unsupported(String),
}

impl Contract {
    /// Talos 1.11: network in `machine.network`.
    pub const V1_11: Contract = Contract {
        major: 1,
        minor: 11,
    };
    /// Talos 1.12: multi-document network config.
    pub const V1_12: Contract = Contract {
        major: 1,
        minor: 12,
    };
    /// Talos 1.13: the default.
    pub const V1_13: Contract = Contract {
        major: 1,
        minor: 13,
    };
    /// The default contract for new clusters.
    pub const DEFAULT: Contract = Contract::V1_13;

    /// Parses `1.13`, `v1.13` or `v1.13.2` (patch and pre-release ignored, like talos'
    /// `ParseContractFromVersion`) and checks it is supported.
    ///
    /// # Errors
    /// [`ContractError`] when malformed or unsupported.
    pub fn parse(text: &str) -> Result<Contract, ContractError> {
        let trimmed = text.trim();
        let body = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let mut parts = body.splitn(3, '.');
        let major = parts.next().and_then(|p| p.parse::<u32>().ok());
        let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
        let patch_ok = parts.next().is_none_or(|p| {
            let num = p.split(['-', '+']).next().unwrap_or("");
            !num.is_empty() && num.chars().all(|c| c.is_ascii_digit())
        });
        let (Some(major), Some(minor), true) = (major, minor, patch_ok) else {
            return Err(ContractError::Malformed(text.to_string()));
        };
        let contract = Contract { major, minor };
        if SUPPORTED.contains(&contract) {
            Ok(contract)
        } else {
            Err(ContractError::Unsupported(contract.to_string()))
        }
    }

    /// Multi-document network config (LinkConfig, VLANConfig, Layer2VIPConfig, HostnameConfig): after 1.11
    /// (`MultidocNetworkConfigSupported`).
    pub fn multidoc_network(self) -> bool {
        self > Contract::V1_11
    }

    /// `machine.features.rbac`/`apidCheckExtKeyUsage` and `apiServer.disablePodSecurityPolicy` are hidden after
    /// 1.11 (`HideRBACAndKeyUsage`, `HideDisablePSP`).
    pub fn hide_legacy_flags(self) -> bool {
        self > Contract::V1_11
    }

    /// The endpoint host is added to the API server certSANs up to 1.11 (`PopulateClusterSANsFromEndpoint`).
    pub fn endpoint_in_cert_sans(self) -> bool {
        self <= Contract::V1_11
    }

    /// `machine.install.grubUseUKICmdline: true` after 1.11 (`GrubUseUKICmdlineDefault`).
    pub fn grub_uki_cmdline(self) -> bool {
        self > Contract::V1_11
    }

    /// An empty `machine.network` is still emitted up to 1.12 (`KubeSpanMultidocConfig` is false); the 1.13
    /// schema has no `machine.network` at all.
    pub fn legacy_machine_network(self) -> bool {
        self <= Contract::V1_12
    }

    /// The default Kubernetes version of this contract (`constants.DefaultKubernetesVersion` at tags v1.11.6,
    /// v1.12.11, v1.13.9).
    pub fn default_kubernetes_version(self) -> &'static str {
        match self.minor {
            11 => "1.34.1",
            12 => "1.35.4",
            _ => "1.36.3",
        }
    }

    /// The installer image a node of this contract installs when `install_image` is not set: the Talos release
    /// the project pins per minor (the tags the contract's facts were read from: v1.11.6, v1.12.11, v1.13.9), so a
    /// rendered config is reproducible (never `:latest`). Changing the contract of a cluster without an explicit
    /// image therefore rolls an upgrade to that release.
    pub fn default_install_image(self) -> &'static str {
        match self.minor {
            11 => "ghcr.io/siderolabs/installer:v1.11.6",
            12 => "ghcr.io/siderolabs/installer:v1.12.11",
            _ => "ghcr.io/siderolabs/installer:v1.13.9",
        }
    }

    /// The supported Kubernetes minor range `(min, max)` (talos `compatibility/talos1NN`): 1.11 supports
    /// 1.29-1.34, 1.12 supports 1.30-1.35, 1.13 supports 1.31-1.36.
    pub fn kubernetes_minor_range(self) -> (u32, u32) {
        match self.minor {
            11 => (29, 34),
            12 => (30, 35),
            _ => (31, 36),
        }
    }

    /// The schema directory name under `talos-schemas/` (e.g. `v1.13`).
    pub fn schema_dir(self) -> String {
        format!("v{self}")
    }
}

/// The `major.minor` of a Talos release tag (`v1.12.11`, `1.11.6`, `v1.13.0-beta.1`), supported or not; `None` when
/// the text is not such a tag.
pub fn release_contract(tag: &str) -> Option<Contract> {
    let body = tag.trim().strip_prefix('v').unwrap_or(tag.trim());
    let mut parts = body.splitn(3, '.');
    let major = parts.next()?.parse::<u32>().ok()?;
    let minor = parts.next()?.parse::<u32>().ok()?;
    let patch = parts.next()?;
    let digits = patch.split(['-', '+']).next().unwrap_or("");
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some(Contract { major, minor })
}

impl fmt::Display for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A Kubernetes version `MAJOR.MINOR.PATCH` (a leading `v` accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KubernetesVersion {
    /// Major (1).
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

impl KubernetesVersion {
    /// Parses `1.34.1` or `v1.34.1` as a Semantic Version (`semver` crate), without pre-release or build suffix
    /// (the release tags kubelet and kube-apiserver images carry).
    ///
    /// # Errors
    /// A message when it is not `MAJOR.MINOR.PATCH`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let [major, minor, patch] =
            crate::version::parse_release(text.trim()).ok_or_else(|| {
                format!("{text:?} is not a Kubernetes version (expected e.g. \"1.34.1\")")
            })?;
        Ok(Self {
            major,
            minor,
            patch,
        })
    }

    /// Checks this version is within the contract's supported range.
    ///
    /// # Errors
    /// A message naming the supported range.
    pub fn check_supported_by(self, contract: Contract) -> Result<(), String> {
        let (min, max) = contract.kubernetes_minor_range();
        if self.major == 1 && (min..=max).contains(&self.minor) {
            Ok(())
        } else {
            Err(format!("Kubernetes {self} is not supported by Talos {contract} (supported: 1.{min} to 1.{max})"))
        }
    }
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(Contract::parse("1.13").unwrap(), Contract::V1_13);
        assert_eq!(Contract::parse("v1.12.11").unwrap(), Contract::V1_12);
        assert_eq!(Contract::parse("v1.11.0-beta.1").unwrap(), Contract::V1_11);
        assert!(matches!(
            Contract::parse("1.10"),
            Err(ContractError::Unsupported(_))
        ));
        assert!(matches!(
            Contract::parse("latest"),
            Err(ContractError::Malformed(_))
        ));
        assert!(matches!(
            Contract::parse("1.13.x"),
            Err(ContractError::Malformed(_))
        ));
    }

    #[test]
    fn kubernetes_ranges() {
        let v = KubernetesVersion::parse("v1.34.1").unwrap();
        assert!(v.check_supported_by(Contract::V1_11).is_ok());
        assert!(v.check_supported_by(Contract::V1_13).is_ok());
        assert!(KubernetesVersion::parse("1.28.0")
            .unwrap()
            .check_supported_by(Contract::V1_11)
            .is_err());
        assert!(KubernetesVersion::parse("1.34").is_err());
    }
}
