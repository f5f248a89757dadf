//! Cilium LB IPAM (docs.cilium.io "LoadBalancer IP Address Management"), run by a ready `cilium-operator`:
//! Services of type LoadBalancer (without another `loadBalancerClass`) get `status.loadBalancer.ingress[].ip`
//! from a CiliumLoadBalancerIPPool whose `serviceSelector` matches the Service's labels (plus
//! `io.kubernetes.service.namespace`/`io.kubernetes.service.name`); `blocks` are `{cidr}` or `{start, stop}`;
//! `disabled` pools allocate nothing new; `allowFirstLastIPs: "No"` reserves the first and last address of CIDRs
//! wider than /31 (`Yes` or unset allows them). The annotation `lbipam.cilium.io/ips` (comma-separated) asks for
//! specific addresses: honoured when inside a matching pool and free, otherwise the Service stays pending with
//! condition `cilium.io/IPAMRequestSatisfied=False`.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde_json::{json, Value};

use super::workloads::is_ready;
use super::{keep_transition, rt, write_status};
use crate::emulator::kube::selectors::LabelSelector;
use crate::emulator::kube::store::{GroupResource, Store};
use crate::emulator::kube::timefmt;

fn to_u128(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(v) => (true, u128::from(u32::from(v))),
        IpAddr::V6(v) => (false, u128::from(v)),
    }
}

fn from_u128(v4: bool, n: u128) -> IpAddr {
    if v4 {
        IpAddr::from(std::net::Ipv4Addr::from(n as u32))
    } else {
        IpAddr::from(std::net::Ipv6Addr::from(n))
    }
}

/// Inclusive address ranges of a pool.
fn ranges(pool: &Value) -> Vec<(bool, u128, u128)> {
    let allow_first_last = pool
        .pointer("/spec/allowFirstLastIPs")
        .and_then(Value::as_str)
        != Some("No");
    let mut out = vec![];
    for b in pool
        .pointer("/spec/blocks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        if let Some(cidr) = b.get("cidr").and_then(Value::as_str) {
            if let Ok(net) = cidr.parse::<ipnet::IpNet>() {
                let (v4, lo) = to_u128(net.network());
                let (_, hi) = to_u128(net.broadcast());
                let max = if v4 { 32 } else { 128 };
                if !allow_first_last && net.prefix_len() < max - 1 {
                    out.push((v4, lo + 1, hi - 1));
                } else {
                    out.push((v4, lo, hi));
                }
            }
        } else if let Some(start) = b
            .get("start")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<IpAddr>().ok())
        {
            let stop = b
                .get("stop")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<IpAddr>().ok())
                .unwrap_or(start);
            let ((v4, lo), (v4b, hi)) = (to_u128(start), to_u128(stop));
            if v4 == v4b && lo <= hi {
                out.push((v4, lo, hi));
            }
        }
    }
    out
}

fn pool_selects(pool: &Value, svc: &Value) -> bool {
    let mut labels = svc
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    if !labels.is_object() {
        labels = json!({});
    }
    labels["io.kubernetes.service.namespace"] = svc
        .pointer("/metadata/namespace")
        .cloned()
        .unwrap_or(json!(""));
    labels["io.kubernetes.service.name"] =
        svc.pointer("/metadata/name").cloned().unwrap_or(json!(""));
    match LabelSelector::from_object(pool.pointer("/spec/serviceSelector")) {
        None => true,
        Some(s) => s.matches(Some(&labels)),
    }
}

fn current_ips(svc: &Value) -> Vec<String> {
    svc.pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|i| i.get("ip").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub fn reconcile(st: &mut Store) {
    let operator_ready = st
        .get(
            &GroupResource::new("apps", "deployments"),
            "kube-system",
            "cilium-operator",
        )
        .is_some_and(is_ready);
    if !operator_ready {
        return;
    }
    let Some(svc_rt) = rt(st, "", "services") else {
        return;
    };
    let pools: Vec<Value> = st
        .list(
            &GroupResource::new("cilium.io", "ciliumloadbalancerippools"),
            None,
        )
        .into_iter()
        .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
        .cloned()
        .collect();
    let services: Vec<Value> = st
        .list(&GroupResource::new("", "services"), None)
        .into_iter()
        .cloned()
        .collect();
    let mut used: BTreeSet<String> = services.iter().flat_map(current_ips).collect();
    for svc in services {
        if svc.pointer("/spec/type").and_then(Value::as_str) != Some("LoadBalancer") {
            continue;
        }
        if svc
            .pointer("/spec/loadBalancerClass")
            .and_then(Value::as_str)
            .is_some_and(|c| c != "io.cilium/l2-announcer" && c != "io.cilium/bgp-control-plane")
        {
            continue;
        }
        let mine = current_ips(&svc);
        let requested: Vec<String> = svc
            .pointer("/metadata/annotations/lbipam.cilium.io~1ips")
            .or_else(|| svc.pointer("/metadata/annotations/io.cilium~1lb-ipam-ips"))
            .and_then(Value::as_str)
            .map(|s| {
                s.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .or_else(|| {
                svc.pointer("/spec/loadBalancerIP")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(|s| vec![s.to_string()])
            })
            .unwrap_or_default();
        let matching: Vec<&Value> = pools.iter().filter(|p| pool_selects(p, &svc)).collect();
        let in_pool = |ip: &str, allow_disabled: bool| -> bool {
            ip.parse::<IpAddr>().is_ok_and(|a| {
                let (v4, n) = to_u128(a);
                matching.iter().any(|p| {
                    (allow_disabled || p.pointer("/spec/disabled") != Some(&json!(true)))
                        && ranges(p)
                            .iter()
                            .any(|(pv4, lo, hi)| *pv4 == v4 && *lo <= n && n <= *hi)
                })
            })
        };
        let (ips, reason, message): (Vec<String>, &str, String) = if !requested.is_empty() {
            let ok = requested.iter().all(|ip| {
                (mine.contains(ip) || !used.contains(ip)) && in_pool(ip, mine.contains(ip))
            });
            if ok {
                (requested.clone(), "satisfied", String::new())
            } else {
                let bad = requested.iter().find(|ip| !in_pool(ip, false)).cloned();
                match bad {
                    Some(ip) => (
                        vec![],
                        "no_pool",
                        format!("The requested IP '{ip}' is not available in any pool"),
                    ),
                    None => (
                        vec![],
                        "already_allocated",
                        "The IP has already been allocated to another service".to_string(),
                    ),
                }
            }
        } else if !mine.is_empty() && mine.iter().all(|ip| in_pool(ip, true)) {
            (mine.clone(), "satisfied", String::new())
        } else {
            let mut found = None;
            let mut names: Vec<&&Value> = matching
                .iter()
                .filter(|p| p.pointer("/spec/disabled") != Some(&json!(true)))
                .collect();
            names.sort_by_key(|p| {
                p.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            });
            'outer: for p in names {
                for (v4, lo, hi) in ranges(p) {
                    let mut n = lo;
                    while n <= hi {
                        let ip = from_u128(v4, n).to_string();
                        if !used.contains(&ip) {
                            found = Some(ip);
                            break 'outer;
                        }
                        n += 1;
                    }
                }
            }
            match found {
                Some(ip) => (vec![ip], "satisfied", String::new()),
                None if matching.is_empty() => (
                    vec![],
                    "no_pool",
                    "There are no enabled CiliumLoadBalancerIPPools that match this service"
                        .to_string(),
                ),
                None => (
                    vec![],
                    "out_of_ips",
                    "No more IPs available in the pools".to_string(),
                ),
            }
        };
        for ip in &ips {
            used.insert(ip.clone());
        }
        let now = timefmt::now();
        let cond = keep_transition(
            &svc,
            json!({
                "type": "cilium.io/IPAMRequestSatisfied", "status": if ips.is_empty() { "False" } else { "True" },
                "reason": reason, "message": message, "lastTransitionTime": now,
            }),
        );
        let mut status = svc.get("status").cloned().unwrap_or(json!({}));
        status["loadBalancer"] = if ips.is_empty() {
            json!({})
        } else {
            json!({"ingress": ips.iter().map(|ip| json!({"ip": ip, "ipMode": "VIP"})).collect::<Vec<_>>()})
        };
        let mut conds: Vec<Value> = status
            .get("conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        conds.retain(|c| c["type"] != "cilium.io/IPAMRequestSatisfied");
        conds.push(cond);
        status["conditions"] = json!(conds);
        write_status(st, &svc_rt, &svc, status, "cilium-operator-generic");
    }
}
