//! Pure validation of Cilium settings, LB IPAM pools and the L2 policy.
//!
//! Every error carries the attribute path of the offending value, in the names of the `vixens_cilium` schema
//! (`load_balancer_ip_pools[1].blocks[0].start`), so the resource can turn it into a plan-time diagnostic.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use super::config::managed_keys;
use super::lb_ipam::{IpBlock, IpPool, L2Policy};
use super::values::{CiliumValues, RoutingMode};
use super::version::CiliumVersion;

/// One step of an attribute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// An attribute or block name.
    Attr(String),
    /// A list element.
    Index(usize),
    /// A map element.
    Key(String),
}

/// A validation failure at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where the bad value is.
    pub path: Vec<PathStep>,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.path.iter().enumerate() {
            match step {
                PathStep::Attr(a) if i == 0 => write!(f, "{a}")?,
                PathStep::Attr(a) => write!(f, ".{a}")?,
                PathStep::Index(n) => write!(f, "[{n}]")?,
                PathStep::Key(k) => write!(f, "[{k:?}]")?,
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// Builds paths fluently: `path("pools").idx(1).attr("name")`.
#[derive(Debug, Clone, Default)]
pub struct Path(Vec<PathStep>);

/// Starts a path at attribute `name`.
pub fn path(name: &str) -> Path {
    Path(vec![PathStep::Attr(name.to_string())])
}

impl Path {
    /// Appends an attribute.
    pub fn attr(&self, name: &str) -> Path {
        let mut p = self.0.clone();
        p.push(PathStep::Attr(name.to_string()));
        Path(p)
    }
    /// Appends a list index.
    pub fn idx(&self, i: usize) -> Path {
        let mut p = self.0.clone();
        p.push(PathStep::Index(i));
        Path(p)
    }
    /// Appends a map key.
    pub fn key(&self, k: &str) -> Path {
        let mut p = self.0.clone();
        p.push(PathStep::Key(k.to_string()));
        Path(p)
    }
    /// An error at this path.
    pub fn error(&self, message: impl Into<String>) -> FieldError {
        FieldError {
            path: self.0.clone(),
            message: message.into(),
        }
    }
}

/// The version must parse and be supported.
pub fn validate_version(version: &str) -> Vec<FieldError> {
    match CiliumVersion::parse_supported(version) {
        Ok(_) => Vec::new(),
        Err(e) => vec![path("version").error(e.to_string())],
    }
}

/// Kubernetes object names: DNS-1123 subdomain (lowercase alphanumerics, `-`, `.`, at most 253 characters).
pub fn is_dns_subdomain(name: &str) -> bool {
    let ok_label = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !name.is_empty() && name.len() <= 253 && name.split('.').all(ok_label)
}

/// Go duration syntax as Cilium parses lease tunables, e.g. `15s`, `1m30s`, `500ms`.
pub fn is_go_duration(s: &str) -> bool {
    static UNITS: &[&str] = &["ns", "us", "µs", "ms", "s", "m", "h"];
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() || number.parse::<f64>().is_err() {
            return false;
        }
        rest = &rest[digits..];
        let Some(unit) = UNITS
            .iter()
            .filter(|u| rest.starts_with(**u))
            .max_by_key(|u| u.len())
        else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

/// Each regex must compile (Go RE2 and Rust `regex` share the syntax Cilium users write).
pub fn validate_interfaces(at: &Path, regexes: &[String]) -> Vec<FieldError> {
    regexes
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match regex::Regex::new(r) {
            Ok(_) => None,
            Err(e) => Some(at.idx(i).error(format!(
                "interface pattern {r:?} is not a valid regular expression: {e}"
            ))),
        })
        .collect()
}

/// `extra_config` may not set a key the resource manages on line `minor` (every line when `None`): it would be
/// silently overridden or conflict.
pub fn validate_extra_config(
    extra: &BTreeMap<String, String>,
    minor: Option<u32>,
) -> Vec<FieldError> {
    let managed = managed_keys(minor);
    extra
        .keys()
        .filter_map(|k| {
            if managed.contains(k.as_str()) {
                Some(path("extra_config").key(k).error(format!(
                    "{k:?} is managed by vixens_cilium; set it through its own attribute instead of extra_config"
                )))
            } else if k.is_empty() {
                Some(path("extra_config").key(k).error("cilium-config keys cannot be empty"))
            } else {
                None
            }
        })
        .collect()
}

/// Checks the install settings: version, cluster id range, native routing CIDR, lease durations, interface
/// regexes, `extra_config`.
pub fn validate_values(v: &CiliumValues) -> Vec<FieldError> {
    let mut errs = validate_version(&v.version);
    if v.cluster_id > 255 {
        errs.push(path("cluster_id").error("cluster_id must be between 0 and 255"));
    }
    if !is_cluster_name(&v.cluster_name) {
        errs.push(path("cluster_name").error(
            "cluster_name must be 1 to 32 lowercase alphanumerics or '-', starting and ending with an \
             alphanumeric (the Cilium chart's rule)",
        ));
    } else if v.cluster_name == "default" && v.cluster_id != 0 {
        errs.push(path("cluster_name").error(
            "cluster_name \"default\" cannot be used with a cluster_id other than 0 (the Cilium chart refuses it): \
             name the cluster",
        ));
    }
    if v.namespace.is_empty() || !is_dns_subdomain(&v.namespace) || v.namespace.contains('.') {
        errs.push(
            path("namespace")
                .error("namespace must be a DNS label (lowercase alphanumerics and '-')"),
        );
    }
    if v.k8s_service_port == 0 {
        errs.push(path("k8s_service_port").error("k8s_service_port must be between 1 and 65535"));
    }
    if v.operator_replicas == 0 {
        errs.push(path("operator_replicas").error("operator_replicas must be at least 1"));
    }
    if let RoutingMode::Native {
        ipv4_native_routing_cidr,
    } = &v.routing
    {
        if ipv4_native_routing_cidr.parse::<ipnet::Ipv4Net>().is_err() {
            errs.push(path("ipv4_native_routing_cidr").error(format!(
                "{ipv4_native_routing_cidr:?} is not an IPv4 CIDR (e.g. 10.244.0.0/16)"
            )));
        }
    }
    let l2 = path("l2_announcements");
    for (name, value) in [
        ("lease_duration", &v.l2_announcements.lease_duration),
        (
            "lease_renew_deadline",
            &v.l2_announcements.lease_renew_deadline,
        ),
        ("lease_retry_period", &v.l2_announcements.lease_retry_period),
    ] {
        if let Some(d) = value {
            if !is_go_duration(d) {
                errs.push(
                    l2.attr(name)
                        .error(format!("{d:?} is not a duration such as 15s or 1m30s")),
                );
            }
        }
    }
    errs.extend(validate_interfaces(
        &l2.attr("interfaces"),
        &v.l2_announcements.interfaces,
    ));
    let minor = CiliumVersion::parse_supported(&v.version)
        .ok()
        .map(|ver| ver.minor);
    errs.extend(validate_extra_config(&v.extra_config, minor));
    errs
}

/// A Cilium cluster name: 1 to 32 characters matching `^([a-z0-9][-a-z0-9]*)?[a-z0-9]$` (the chart's
/// `templates/validate.yaml`, 1.17 to 1.20).
pub fn is_cluster_name(name: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = name.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => {
            bytes.len() <= 32
                && alnum(first)
                && alnum(last)
                && bytes.iter().all(|&b| alnum(b) || b == b'-')
        }
        _ => false,
    }
}

/// An inclusive address interval of one family (`v6` false for IPv4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Interval {
    v6: bool,
    first: u128,
    last: u128,
}

fn to_u128(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

fn block_interval(b: &IpBlock, at: &Path) -> Result<Interval, FieldError> {
    match b {
        IpBlock::Cidr(c) => {
            let net: ipnet::IpNet = c.parse().map_err(|_| {
                at.attr("cidr")
                    .error(format!("{c:?} is not a CIDR such as 192.168.208.64/28"))
            })?;
            let (v6, first) = to_u128(net.network());
            let (_, last) = to_u128(net.broadcast());
            Ok(Interval { v6, first, last })
        }
        IpBlock::Range { start, stop } => {
            let s: IpAddr = start.parse().map_err(|_| {
                at.attr("start")
                    .error(format!("{start:?} is not an IP address"))
            })?;
            let e: IpAddr = stop.parse().map_err(|_| {
                at.attr("stop")
                    .error(format!("{stop:?} is not an IP address"))
            })?;
            let (v6s, first) = to_u128(s);
            let (v6e, last) = to_u128(e);
            if v6s != v6e {
                return Err(at
                    .attr("stop")
                    .error("start and stop must be of the same address family"));
            }
            if first > last {
                return Err(at
                    .attr("stop")
                    .error(format!("stop {stop} is before start {start}")));
            }
            Ok(Interval {
                v6: v6s,
                first,
                last,
            })
        }
    }
}

/// Pools: valid unique names, at least one block, blocks are CIDRs or ordered ranges, and no two blocks (in the
/// same pool or in different pools) share an address. `at` is the list attribute (`load_balancer_ip_pools`).
pub fn validate_pools(at: &Path, pools: &[IpPool]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut intervals: Vec<(usize, usize, Interval)> = Vec::new();
    for (i, pool) in pools.iter().enumerate() {
        let p = at.idx(i);
        if !is_dns_subdomain(&pool.name) {
            errs.push(
                p.attr("name")
                    .error(format!("{:?} is not a valid object name", pool.name)),
            );
        }
        if let Some(first) = seen.insert(pool.name.as_str(), i) {
            errs.push(p.attr("name").error(format!(
                "pool name {:?} is already used by pool {first}",
                pool.name
            )));
        }
        if pool.blocks.is_empty() {
            errs.push(p.attr("blocks").error("a pool needs at least one block"));
        }
        for (j, b) in pool.blocks.iter().enumerate() {
            let bp = p.attr("blocks").idx(j);
            match block_interval(b, &bp) {
                Ok(iv) => {
                    for (oi, oj, other) in &intervals {
                        if other.v6 == iv.v6 && other.first <= iv.last && iv.first <= other.last {
                            let whose = if *oi == i {
                                "this pool".to_string()
                            } else {
                                format!("pool {oi}")
                            };
                            errs.push(bp.error(format!(
                                "overlaps block {oj} of {whose} ({:?})",
                                pools[*oi].name
                            )));
                        }
                    }
                    intervals.push((i, j, iv));
                }
                Err(e) => errs.push(e),
            }
        }
    }
    errs
}

/// The L2 policy: a valid name and interface regexes that compile. `at` is the block (`l2_policy`).
pub fn validate_l2_policy(at: &Path, policy: &L2Policy) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if !is_dns_subdomain(&policy.name) {
        errs.push(
            at.attr("name")
                .error(format!("{:?} is not a valid object name", policy.name)),
        );
    }
    errs.extend(validate_interfaces(
        &at.attr("interfaces"),
        &policy.interfaces,
    ));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(a: &str, b: &str) -> IpBlock {
        IpBlock::Range {
            start: a.into(),
            stop: b.into(),
        }
    }

    fn pool(name: &str, blocks: Vec<IpBlock>) -> IpPool {
        IpPool {
            name: name.into(),
            blocks,
            service_selector: None,
        }
    }

    fn paths(errs: &[FieldError]) -> Vec<String> {
        errs.iter()
            .map(|e| {
                e.to_string()
                    .split(':')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn dev_env_pools_are_valid() {
        let pools = vec![
            pool("assigned", vec![range("192.168.208.70", "192.168.208.79")]),
            pool("auto", vec![range("192.168.208.80", "192.168.208.89")]),
        ];
        assert_eq!(
            validate_pools(&path("load_balancer_ip_pools"), &pools),
            vec![]
        );
    }

    #[test]
    fn bad_blocks_overlaps_and_duplicate_names_have_paths() {
        let pools = vec![
            pool("a", vec![range("192.168.208.79", "192.168.208.70")]),
            pool(
                "b",
                vec![
                    IpBlock::Cidr("192.168.208.64/28".into()),
                    IpBlock::Cidr("nope".into()),
                ],
            ),
            pool(
                "c",
                vec![
                    range("192.168.208.70", "192.168.208.72"),
                    range("10.0.0.1", "fe80::1"),
                ],
            ),
            pool("b", vec![IpBlock::Cidr("10.1.0.0/24".into())]),
            pool("Bad_Name", vec![]),
        ];
        let errs = validate_pools(&path("load_balancer_ip_pools"), &pools);
        let p = paths(&errs);
        assert!(
            p.contains(&"load_balancer_ip_pools[0].blocks[0].stop".to_string()),
            "{p:?}"
        );
        assert!(
            p.contains(&"load_balancer_ip_pools[1].blocks[1].cidr".to_string()),
            "{p:?}"
        );
        // .70-.72 lies in 192.168.208.64/28 (.64-.79).
        assert!(
            p.contains(&"load_balancer_ip_pools[2].blocks[0]".to_string()),
            "{p:?}"
        );
        assert!(
            p.contains(&"load_balancer_ip_pools[2].blocks[1].stop".to_string()),
            "{p:?}"
        );
        assert!(
            p.contains(&"load_balancer_ip_pools[3].name".to_string()),
            "{p:?}"
        );
        assert!(
            p.contains(&"load_balancer_ip_pools[4].name".to_string()),
            "{p:?}"
        );
        assert!(
            p.contains(&"load_balancer_ip_pools[4].blocks".to_string()),
            "{p:?}"
        );
        assert_eq!(errs.len(), 7, "{errs:?}");
    }

    #[test]
    fn adjacent_ranges_do_not_overlap_but_shared_edges_do() {
        let ok = vec![
            pool("a", vec![range("10.0.0.1", "10.0.0.9")]),
            pool("b", vec![range("10.0.0.10", "10.0.0.20")]),
        ];
        assert!(validate_pools(&path("p"), &ok).is_empty());
        let bad = vec![
            pool("a", vec![range("10.0.0.1", "10.0.0.10")]),
            pool("b", vec![range("10.0.0.10", "10.0.0.20")]),
        ];
        assert_eq!(
            paths(&validate_pools(&path("p"), &bad)),
            vec!["p[1].blocks[0]"]
        );
    }

    #[test]
    fn values_checks() {
        let mut v = CiliumValues::default();
        assert_eq!(validate_values(&v), vec![]);
        v.version = "1.16.0".into();
        v.cluster_id = 300;
        v.routing = RoutingMode::Native {
            ipv4_native_routing_cidr: "10.244.0.0".into(),
        };
        v.l2_announcements.lease_duration = Some("15 seconds".into());
        v.l2_announcements.lease_retry_period = Some("1m30s".into());
        v.l2_announcements.interfaces = vec!["^eth[0-9]+".into(), "(".into()];
        v.extra_config
            .insert("kube-proxy-replacement".into(), "false".into());
        v.extra_config
            .insert("enable-bgp-control-plane".into(), "true".into());
        let p = paths(&validate_values(&v));
        assert_eq!(
            p,
            vec![
                "version",
                "cluster_id",
                // "default" with a non-zero id, refused by the chart.
                "cluster_name",
                "ipv4_native_routing_cidr",
                "l2_announcements.lease_duration",
                "l2_announcements.interfaces[1]",
                "extra_config[\"kube-proxy-replacement\"]",
            ]
        );
    }

    #[test]
    fn cluster_names_follow_the_chart() {
        for ok in ["default", "lab", "vixens-dev", "a", "0", &"a".repeat(32)] {
            assert!(is_cluster_name(ok), "{ok}");
        }
        for bad in ["", "dev.lab", "-a", "a-", "Lab", "a_b", &"a".repeat(33)] {
            assert!(!is_cluster_name(bad), "{bad}");
        }
    }

    #[test]
    fn durations_and_names() {
        for ok in ["15s", "1m30s", "500ms", "1.5h", "2us", "3µs"] {
            assert!(is_go_duration(ok), "{ok}");
        }
        for bad in ["", "15", "s", "15 s", "1x", "-1s"] {
            assert!(!is_go_duration(bad), "{bad}");
        }
        assert!(is_dns_subdomain("assigned.pool-1"));
        assert!(!is_dns_subdomain("-a") && !is_dns_subdomain("A") && !is_dns_subdomain("a..b"));
        let pol = L2Policy {
            name: "l2".into(),
            interfaces: vec!["[".into()],
            ..Default::default()
        };
        assert_eq!(
            paths(&validate_l2_policy(&path("l2_policy"), &pol)),
            vec!["l2_policy.interfaces[0]"]
        );
    }
}
