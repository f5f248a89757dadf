//! LB IPAM pools that L2 announcements cannot serve: with `l2_announcements.subnets` (the subnets of the links that
//! announce), every pool block must lie inside one of them. A client on the segment asks ARP only for addresses of
//! its own subnet; a LoadBalancer address outside every subnet is announced but never reached (it needs a route,
//! which L2 announcements do not give). Cilium itself accepts such a pool: the check is the provider's.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::cty::{AttributePath, Value};
use crate::framework::Diagnostics;

/// Checks every pool block against `l2_announcements.subnets` (when set, with L2 announcements on). Values not yet
/// known, or not addresses (reported by the other checks), are skipped.
pub fn validate(config: &Value, diags: &mut Diagnostics) {
    let l2 = config.get("l2_announcements");
    if l2.get("enabled").as_bool() != Some(true) {
        return;
    }
    let Some(list) = l2.get("subnets").as_list() else {
        return;
    };
    let subnets: Vec<IpNet> = list
        .iter()
        .filter_map(|s| s.as_str()?.parse().ok())
        .collect();
    for (i, s) in list.iter().enumerate() {
        if let Some(text) = s.as_str() {
            if text.parse::<IpNet>().is_err() {
                diags.error_at(
                    AttributePath::attr("l2_announcements")
                        .join_attr("subnets")
                        .join_index(i),
                    "Invalid subnet",
                    format!("{text:?} is not a CIDR, e.g. 192.168.208.0/24."),
                );
            }
        }
    }
    if subnets.is_empty() || !list.iter().all(Value::is_known) {
        return;
    }
    let shown: Vec<String> = subnets.iter().map(ToString::to_string).collect();
    let pools = config
        .get("load_balancer_ip_pools")
        .as_list()
        .unwrap_or_default();
    for (i, pool) in pools.iter().enumerate() {
        let blocks = pool.get("blocks").as_list().unwrap_or_default();
        for (j, block) in blocks.iter().enumerate() {
            let at = AttributePath::attr("load_balancer_ip_pools")
                .join_index(i)
                .join_attr("blocks")
                .join_index(j);
            let (first, last, attr) = match block.get("cidr").as_str() {
                Some(cidr) => match cidr.parse::<IpNet>() {
                    Ok(net) => (net.network(), net.broadcast(), "cidr"),
                    Err(_) => continue,
                },
                None => match (address(block.get("start")), address(block.get("stop"))) {
                    (Some(start), Some(stop)) => (start, stop, "start"),
                    _ => continue,
                },
            };
            if !subnets
                .iter()
                .any(|s| s.contains(&first) && s.contains(&last))
            {
                diags.error_at(
                    at.join_attr(attr),
                    "Pool outside the announced subnets",
                    format!(
                        "{first} - {last} is outside every subnet of l2_announcements.subnets ({}): L2 \
                         announcements answer ARP on those links, and a client asks ARP only for addresses of its \
                         own subnet, so these LoadBalancer addresses would be unreachable. Take the pool from a \
                         subnet of the announcing links.",
                        shown.join(", ")
                    ),
                );
            }
        }
    }
}

fn address(v: &Value) -> Option<IpAddr> {
    v.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(subnets: &[&str], block: Value) -> Value {
        Value::object([
            (
                "l2_announcements",
                Value::object([
                    ("enabled", Value::from(true)),
                    ("subnets", Value::string_list(subnets.iter().copied())),
                ]),
            ),
            (
                "load_balancer_ip_pools",
                Value::List(vec![Value::object([
                    ("name", Value::from("p")),
                    ("blocks", Value::List(vec![block])),
                ])]),
            ),
        ])
    }

    fn range(start: &str, stop: &str) -> Value {
        Value::object([("start", Value::from(start)), ("stop", Value::from(stop))])
    }

    #[test]
    fn pools_must_lie_inside_an_announced_subnet() {
        let inside = config(
            &["192.168.208.0/24"],
            range("192.168.208.70", "192.168.208.79"),
        );
        let mut diags = Diagnostics::new();
        validate(&inside, &mut diags);
        assert!(!diags.has_errors(), "{diags:?}");

        let outside = config(&["192.168.208.0/24"], range("10.0.0.1", "10.0.0.9"));
        let mut diags = Diagnostics::new();
        validate(&outside, &mut diags);
        assert!(diags.has_errors());
        assert_eq!(
            diags.0[0].attribute.as_ref().unwrap().to_string(),
            "load_balancer_ip_pools[0].blocks[0].start"
        );
        let straddling = config(
            &["192.168.208.0/24"],
            Value::object([("cidr", Value::from("192.168.208.0/23"))]),
        );
        let mut diags = Diagnostics::new();
        validate(&straddling, &mut diags);
        assert!(diags.has_errors());
        let mut unset = outside.clone();
        unset.set(
            "l2_announcements",
            Value::object([("enabled", Value::from(true))]),
        );
        let mut diags = Diagnostics::new();
        validate(&unset, &mut diags);
        assert!(!diags.has_errors());
    }
}
