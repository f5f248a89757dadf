//! The emulator's topology file (YAML): which Talos nodes exist, their disks and links, the timings of their
//! lifecycle and the faults to inject from the start. Shape (every address in 127.0.0.0/8, never anything else):
//!
//! ```yaml
//! nodes:
//!   - name: cp1
//!     address: 127.0.111.11
//!     disks: [{path: /dev/sda, size: 10GiB}]   # size: bytes or a KiB/MiB/GiB/TiB suffix
//!     links: [eth0]
//! image_factory: 127.0.111.170:8080          # optional: the Image Factory stand-in (emulator::factory)
//! timings: {install_delay: 300ms, reboot_delay: 200ms, workload_delay: 500ms, job_delay: 2s, upgrade_delay: 300ms}
//! faults:
//!   nodes: {cp1: {down: false, slow: 0ms, fail_next: {Bootstrap: unavailable}, reboot_never_returns: false,
//!          install_fails: false}}
//!   kube: {errors: 0, timeouts: 0}   # next N requests answer 503 / hang
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::faults::{KubeFaults, NodeFaults};

/// Why a topology file was refused.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// The file could not be read.
    #[error("reading topology {path}: {source}")]
    Read {
        /// the path given on the command line.
        path: String,
        /// the I/O error.
        source: std::io::Error,
    },
    /// The YAML does not match the shape above.
    #[error("parsing topology: {0}")]
    Parse(#[from] crate::yaml::Error),
    /// A value is outside what the emulator accepts (message names the field).
    #[error("invalid topology: {0}")]
    Invalid(String),
}

/// The whole topology file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Talos nodes, at least one.
    pub nodes: Vec<NodeSpec>,
    /// Lifecycle delays.
    #[serde(default)]
    pub timings: Timings,
    /// Faults active from the start.
    #[serde(default)]
    pub faults: Faults,
    /// Talos version the nodes report before any upgrade (e.g. `v1.12.0`).
    #[serde(default = "default_talos_version")]
    pub talos_version: String,
    /// Loopback address of the Image Factory stand-in (HTTP); its `host:port` is also the registry of its
    /// installer images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_factory: Option<std::net::SocketAddr>,
}

fn default_talos_version() -> String {
    "v1.12.0".to_string()
}

/// One emulated Talos machine.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Node name; also the hostname it reports until a config sets one.
    pub name: String,
    /// Loopback address its Talos API (port 50000) and, on control planes, its Kubernetes API (6443) bind to.
    pub address: Ipv4Addr,
    /// Block devices the node has; an install disk must be one of them.
    #[serde(default = "default_disks")]
    pub disks: Vec<DiskSpec>,
    /// Network link names (e.g. `eth0`).
    #[serde(default = "default_links")]
    pub links: Vec<String>,
    /// Talos version this node boots in maintenance mode (its ISO), e.g. `v1.11.6`; the topology's
    /// `talos_version` when absent. Nodes of one topology may run different versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talos_version: Option<String>,
}

fn default_disks() -> Vec<DiskSpec> {
    vec![DiskSpec {
        path: "/dev/sda".to_string(),
        size: ByteSize(10 << 30),
    }]
}

fn default_links() -> Vec<String> {
    vec!["eth0".to_string()]
}

/// A disk: device path and size.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DiskSpec {
    /// Device path, e.g. `/dev/sda` or `/dev/nvme0n1`.
    pub path: String,
    /// Size in bytes (YAML: an integer or a string with a KiB/MiB/GiB/TiB, KB/MB/GB/TB suffix).
    pub size: ByteSize,
}

/// A byte count parsed from an integer or a suffixed string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "u64")]
pub struct ByteSize(pub u64);

impl From<ByteSize> for u64 {
    fn from(b: ByteSize) -> u64 {
        b.0
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => parse_size(&s)
                .map(ByteSize)
                .map_err(serde::de::Error::custom),
        }
    }
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("bad size {s:?}"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => return Err(format!("unknown size unit {other:?} in {s:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} overflows"))
}

/// Lifecycle delays. YAML durations: an integer of milliseconds or a string like `250ms`, `1s`, `1.5s`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Timings {
    /// Time from an accepted config in maintenance mode to the reboot (the install). Default 200 ms.
    #[serde(default = "ms200", with = "duration")]
    pub install_delay: Duration,
    /// Time a reboot keeps the node's listeners closed. Default 200 ms.
    #[serde(default = "ms200", with = "duration")]
    pub reboot_delay: Duration,
    /// Time for a workload (DaemonSet, Deployment...) to become ready in the Kubernetes API. Default 500 ms.
    #[serde(default = "ms500", with = "duration")]
    pub workload_delay: Duration,
    /// Time a Kubernetes Job runs before it completes (Helm hooks and anything waiting on a Job see it finish
    /// then). Default: `workload_delay`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_duration"
    )]
    pub job_delay: Option<Duration>,
    /// Time an Upgrade takes before the node reboots into the new version. Default 300 ms.
    #[serde(default = "ms300", with = "duration")]
    pub upgrade_delay: Duration,
    /// Time a Node whose kubelet stopped (its machine was reset) keeps its last status before it turns `Unknown`
    /// (kube-controller-manager `--node-monitor-grace-period`). Default 40 s, Kubernetes's.
    #[serde(default = "s40", with = "duration")]
    pub node_monitor_grace_period: Duration,
}

fn ms200() -> Duration {
    Duration::from_millis(200)
}
fn ms300() -> Duration {
    Duration::from_millis(300)
}
fn ms500() -> Duration {
    Duration::from_millis(500)
}
fn s40() -> Duration {
    Duration::from_secs(40)
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            install_delay: ms200(),
            reboot_delay: ms200(),
            workload_delay: ms500(),
            job_delay: None,
            upgrade_delay: ms300(),
            node_monitor_grace_period: s40(),
        }
    }
}

/// Serde helpers for durations written as milliseconds or `<n>ms` / `<n>s` strings.
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Parses `250ms`, `1s`, `1.5s`, `2m` or a bare number of milliseconds.
    pub fn parse(s: &str) -> Result<Duration, String> {
        let s = s.trim();
        let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
            (n, 0.001)
        } else if let Some(n) = s.strip_suffix('s') {
            (n, 1.0)
        } else if let Some(n) = s.strip_suffix('m') {
            (n, 60.0)
        } else {
            (s, 0.001)
        };
        let v: f64 = num
            .trim()
            .parse()
            .map_err(|_| format!("bad duration {s:?}"))?;
        if !(0.0..=86_400.0).contains(&(v * mult)) {
            return Err(format!("duration {s:?} out of range"));
        }
        Ok(Duration::from_secs_f64(v * mult))
    }

    /// Serializes as `<n>ms`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", d.as_millis()))
    }

    /// Deserializes from an integer (ms) or a string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Duration::from_millis(n)),
            Raw::S(s) => parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

/// Serde helpers for an optional duration (see [`duration`]).
mod optional_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::duration::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::duration")] Duration);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

/// Faults active from the start; the same shapes are accepted by the control endpoint.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Per node name.
    #[serde(default)]
    pub nodes: BTreeMap<String, NodeFaults>,
    /// Kubernetes API faults.
    #[serde(default)]
    pub kube: KubeFaults,
}

impl Topology {
    /// Reads and validates a topology file.
    pub fn load(path: &str) -> Result<Topology, TopologyError> {
        let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Read {
            path: path.to_string(),
            source,
        })?;
        Topology::parse(&text)
    }

    /// Parses and validates topology YAML: names unique and non-empty, addresses unique and in 127.0.0.0/8,
    /// disk paths under /dev/, faults naming known nodes.
    pub fn parse(text: &str) -> Result<Topology, TopologyError> {
        let topo: Topology = crate::yaml::from_str(text)?;
        topo.validate()?;
        Ok(topo)
    }

    /// The Talos version node `spec` boots with: its own, else the topology's.
    pub fn version_of<'a>(&'a self, spec: &'a NodeSpec) -> &'a str {
        spec.talos_version.as_deref().unwrap_or(&self.talos_version)
    }

    fn validate(&self) -> Result<(), TopologyError> {
        let bad = |m: String| Err(TopologyError::Invalid(m));
        if self.nodes.is_empty() {
            return bad("nodes: at least one node is required".into());
        }
        let mut names = BTreeSet::new();
        let mut addrs = BTreeSet::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let valid_name = !n.name.is_empty()
                && n.name.len() <= 63
                && n.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid_name {
                return bad(format!("nodes[{i}].name {:?} must be a DNS label", n.name));
            }
            if !names.insert(n.name.clone()) {
                return bad(format!("nodes[{i}].name {:?} is duplicated", n.name));
            }
            if !n.address.is_loopback() {
                return bad(format!(
                    "nodes[{i}].address {} is not in 127.0.0.0/8 (the emulator binds loopback only)",
                    n.address
                ));
            }
            if !addrs.insert(n.address) {
                return bad(format!("nodes[{i}].address {} is duplicated", n.address));
            }
            let version = self.version_of(n);
            if crate::emulator::talos::version::TalosVersion::parse(version).is_none() {
                return bad(format!(
                    "nodes[{i}]: Talos version {version:?} is not a release tag such as v1.12.11"
                ));
            }
            for (j, d) in n.disks.iter().enumerate() {
                if !d.path.starts_with("/dev/") || d.size.0 == 0 {
                    return bad(format!(
                        "nodes[{i}].disks[{j}]: path must be under /dev/ and size positive"
                    ));
                }
            }
        }
        if let Some(addr) = self.image_factory.filter(|a| !a.ip().is_loopback()) {
            return bad(format!(
                "image_factory {addr} is not loopback (the emulator binds loopback only)"
            ));
        }
        for name in self.faults.nodes.keys() {
            if !names.contains(name) {
                return bad(format!("faults.nodes.{name}: no such node"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_defaults() {
        let t = Topology::parse(
            "nodes:\n- name: cp1\n  address: 127.0.111.11\n  disks: [{path: /dev/sda, size: 10GiB}]\ntimings: {install_delay: 50ms, reboot_delay: 1s}\n",
        )
        .unwrap();
        assert_eq!(t.nodes[0].disks[0].size.0, 10 << 30);
        assert_eq!(t.timings.install_delay, Duration::from_millis(50));
        assert_eq!(t.timings.reboot_delay, Duration::from_secs(1));
        assert_eq!(t.timings.workload_delay, Duration::from_millis(500));
        assert_eq!(t.timings.job_delay, None);
        let j = Topology::parse(
            "nodes:\n- name: cp1\n  address: 127.0.111.11\ntimings: {job_delay: 1.5s}\n",
        )
        .unwrap();
        assert_eq!(j.timings.job_delay, Some(Duration::from_millis(1500)));
        assert_eq!(t.nodes[0].links, vec!["eth0".to_string()]);
    }

    #[test]
    fn rejects_non_loopback_and_duplicates() {
        let e = Topology::parse("nodes:\n- {name: a, address: 192.168.1.10}\n").unwrap_err();
        assert!(e.to_string().contains("127.0.0.0/8"), "{e}");
        let e = Topology::parse(
            "nodes:\n- {name: a, address: 127.0.0.2}\n- {name: a, address: 127.0.0.3}\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("duplicated"), "{e}");
        let e = Topology::parse(
            "nodes:\n- {name: a, address: 127.0.0.2}\nfaults: {nodes: {b: {down: true}}}\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("no such node"), "{e}");
    }
}

#[cfg(test)]
mod example_tests {
    #[test]
    fn shipped_example_parses() {
        let text = include_str!("../../examples/emulator/topology.yaml");
        let t = super::Topology::parse(text).unwrap();
        assert_eq!(t.nodes.len(), 7);
    }
}
