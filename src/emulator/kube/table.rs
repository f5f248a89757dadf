//! Server-side printing: `meta.k8s.io/v1` `Table` answers for clients that ask `Accept: ...;as=Table` (kubectl
//! get). Columns follow the API server's printers for the built-in kinds the project uses
//! (k8s.io/kubernetes/pkg/printers/internalversion) and `additionalPrinterColumns` for custom resources.

use std::time::SystemTime;

use serde_json::{json, Value};

use super::registry::ResourceType;
use super::{timefmt, KubeOptions};

/// Human age, like apimachinery's `duration.HumanDuration`.
pub fn human_age(ts: Option<&str>) -> String {
    let Some(t) = ts.and_then(timefmt::parse) else {
        return "<unknown>".into();
    };
    let s = SystemTime::now()
        .duration_since(t)
        .unwrap_or_default()
        .as_secs();
    let (m, h, d) = (s / 60, s / 3600, s / 86_400);
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        if s % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", s % 60)
        }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if d < 8 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else {
        format!("{}y", d / 365)
    }
}

fn col(name: &str, typ: &str, priority: i64) -> Value {
    json!({"name": name, "type": typ, "format": if name == "Name" { "name" } else { "" }, "description": "", "priority": priority})
}

fn s(o: &Value, p: &str) -> String {
    match o.pointer(p) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

fn n(o: &Value, p: &str) -> i64 {
    o.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(v: String) -> String {
    if v.is_empty() {
        "<none>".into()
    } else {
        v
    }
}

/// Evaluates the simple JSONPath forms CRDs use (`.status.sync.status`, `.spec.items[0].name`).
fn json_path(o: &Value, path: &str) -> Value {
    let mut cur = o;
    for part in path.trim_start_matches('.').split('.') {
        let (field, idx) = match part.split_once('[') {
            Some((f, rest)) => (f, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        cur = match cur.get(field) {
            Some(v) => v,
            None => return Value::Null,
        };
        if let Some(i) = idx {
            cur = match cur.get(i) {
                Some(v) => v,
                None => return Value::Null,
            };
        }
    }
    cur.clone()
}

fn columns_and_cells(rt: &ResourceType, version: &str, o: &Value) -> (Vec<Value>, Vec<Value>) {
    let name = s(o, "/metadata/name");
    let age = human_age(
        o.pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str),
    );
    match (rt.group.as_str(), rt.resource.as_str()) {
        ("", "nodes") => {
            let ready = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
                .is_some_and(|c| c["status"] == "True");
            let mut roles: Vec<String> = o
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.keys()
                        .filter_map(|k| {
                            k.strip_prefix("node-role.kubernetes.io/").map(String::from)
                        })
                        .collect()
                })
                .unwrap_or_default();
            roles.sort();
            let ip = o
                .pointer("/status/addresses")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|a| a["type"] == "InternalIP"))
                .map(|a| s(a, "/address"))
                .unwrap_or_default();
            let status = if ready {
                "Ready".to_string()
            } else {
                "NotReady".to_string()
            };
            let status = if o.pointer("/spec/unschedulable") == Some(&json!(true)) {
                format!("{status},SchedulingDisabled")
            } else {
                status
            };
            (
                vec![
                    col("Name", "string", 0),
                    col("Status", "string", 0),
                    col("Roles", "string", 0),
                    col("Age", "string", 0),
                    col("Version", "string", 0),
                    col("Internal-IP", "string", 1),
                    col("External-IP", "string", 1),
                    col("OS-Image", "string", 1),
                    col("Kernel-Version", "string", 1),
                    col("Container-Runtime", "string", 1),
                ],
                vec![
                    json!(name),
                    json!(status),
                    json!(or_none(roles.join(","))),
                    json!(age),
                    json!(s(o, "/status/nodeInfo/kubeletVersion")),
                    json!(or_none(ip)),
                    json!("<none>"),
                    json!(s(o, "/status/nodeInfo/osImage")),
                    json!(s(o, "/status/nodeInfo/kernelVersion")),
                    json!(s(o, "/status/nodeInfo/containerRuntimeVersion")),
                ],
            )
        }
        ("apps", "daemonsets") => {
            let sel = o
                .pointer("/spec/template/spec/nodeSelector")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            (
                vec![
                    col("Name", "string", 0),
                    col("Desired", "integer", 0),
                    col("Current", "integer", 0),
                    col("Ready", "integer", 0),
                    col("Up-to-date", "integer", 0),
                    col("Available", "integer", 0),
                    col("Node Selector", "string", 0),
                    col("Age", "string", 0),
                ],
                vec![
                    json!(name),
                    json!(n(o, "/status/desiredNumberScheduled")),
                    json!(n(o, "/status/currentNumberScheduled")),
                    json!(n(o, "/status/numberReady")),
                    json!(n(o, "/status/updatedNumberScheduled")),
                    json!(n(o, "/status/numberAvailable")),
                    json!(or_none(sel)),
                    json!(age),
                ],
            )
        }
        ("apps", "deployments") => (
            vec![
                col("Name", "string", 0),
                col("Ready", "string", 0),
                col("Up-to-date", "string", 0),
                col("Available", "string", 0),
                col("Age", "string", 0),
            ],
            vec![
                json!(name),
                json!(format!(
                    "{}/{}",
                    n(o, "/status/readyReplicas"),
                    n(o, "/spec/replicas")
                )),
                json!(n(o, "/status/updatedReplicas")),
                json!(n(o, "/status/availableReplicas")),
                json!(age),
            ],
        ),
        ("apps", "statefulsets") => (
            vec![
                col("Name", "string", 0),
                col("Ready", "string", 0),
                col("Age", "string", 0),
            ],
            vec![
                json!(name),
                json!(format!(
                    "{}/{}",
                    n(o, "/status/readyReplicas"),
                    n(o, "/spec/replicas")
                )),
                json!(age),
            ],
        ),
        ("", "services") => {
            let ports = o
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|p| {
                            let np = p
                                .get("nodePort")
                                .map(|n| format!(":{n}"))
                                .unwrap_or_default();
                            format!(
                                "{}{np}/{}",
                                p["port"],
                                p["protocol"].as_str().unwrap_or("TCP")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let ext = o
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|i| s(i, "/ip")).collect::<Vec<_>>().join(","))
                .unwrap_or_default();
            let ext = if ext.is_empty() && s(o, "/spec/type") == "LoadBalancer" {
                "<pending>".to_string()
            } else {
                or_none(ext)
            };
            (
                vec![
                    col("Name", "string", 0),
                    col("Type", "string", 0),
                    col("Cluster-IP", "string", 0),
                    col("External-IP", "string", 0),
                    col("Port(s)", "string", 0),
                    col("Age", "string", 0),
                ],
                vec![
                    json!(name),
                    json!(s(o, "/spec/type")),
                    json!(s(o, "/spec/clusterIP")),
                    json!(ext),
                    json!(or_none(ports)),
                    json!(age),
                ],
            )
        }
        ("", "namespaces") => (
            vec![
                col("Name", "string", 0),
                col("Status", "string", 0),
                col("Age", "string", 0),
            ],
            vec![json!(name), json!(s(o, "/status/phase")), json!(age)],
        ),
        ("", "secrets") => (
            vec![
                col("Name", "string", 0),
                col("Type", "string", 0),
                col("Data", "string", 0),
                col("Age", "string", 0),
            ],
            vec![
                json!(name),
                json!(s(o, "/type")),
                json!(o
                    .get("data")
                    .and_then(Value::as_object)
                    .map(|m| m.len())
                    .unwrap_or(0)),
                json!(age),
            ],
        ),
        ("", "configmaps") => (
            vec![
                col("Name", "string", 0),
                col("Data", "string", 0),
                col("Age", "string", 0),
            ],
            vec![
                json!(name),
                json!(
                    o.get("data")
                        .and_then(Value::as_object)
                        .map(|m| m.len())
                        .unwrap_or(0)
                        + o.get("binaryData")
                            .and_then(Value::as_object)
                            .map(|m| m.len())
                            .unwrap_or(0)
                ),
                json!(age),
            ],
        ),
        ("apiextensions.k8s.io", "customresourcedefinitions") => (
            vec![col("Name", "string", 0), col("Created At", "date", 0)],
            vec![json!(name), json!(s(o, "/metadata/creationTimestamp"))],
        ),
        _ => {
            let printer = rt
                .crd
                .as_ref()
                .and_then(|c| c.pointer("/spec/versions"))
                .and_then(Value::as_array)
                .and_then(|vs| vs.iter().find(|v| v["name"] == version))
                .and_then(|v| v.get("additionalPrinterColumns"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if printer.is_empty() {
                return (
                    vec![col("Name", "string", 0), col("Age", "string", 0)],
                    vec![json!(name), json!(age)],
                );
            }
            let mut cols = vec![col("Name", "string", 0)];
            let mut cells = vec![json!(name)];
            for p in printer {
                let typ = p["type"].as_str().unwrap_or("string");
                cols.push(json!({"name": p["name"], "type": typ, "format": p.get("format").cloned().unwrap_or(json!("")), "description": p.get("description").cloned().unwrap_or(json!("")), "priority": p.get("priority").cloned().unwrap_or(json!(0))}));
                let v = json_path(o, p["jsonPath"].as_str().unwrap_or_default());
                cells.push(if typ == "date" {
                    json!(human_age(v.as_str()))
                } else {
                    v
                });
            }
            (cols, cells)
        }
    }
}

/// Renders an object or a list as a Table.
pub fn to_table(rt: &ResourceType, v: &Value, _opts: &KubeOptions) -> Value {
    let version = v["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let items: Vec<Value> = match v.get("items").and_then(Value::as_array) {
        Some(items) => items.clone(),
        None => vec![v.clone()],
    };
    let mut columns = columns_and_cells(rt, &version, &json!({})).0;
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let (c, cells) = columns_and_cells(rt, &version, o);
            columns = c;
            let mut meta = o["metadata"].clone();
            if let Some(m) = meta.as_object_mut() {
                m.remove("managedFields");
            }
            json!({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}})
        })
        .collect();
    let rv = v
        .pointer("/metadata/resourceVersion")
        .cloned()
        .unwrap_or(json!(""));
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv}, "columnDefinitions": columns, "rows": rows})
}
