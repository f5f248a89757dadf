//! msgpack decode and encode of ~1 MB values, measured separately with `Throughput::Bytes` (criterion reports
//! MiB/s). Target (issue 2): ≥ 200 MB/s each way, release build. Run with `cargo bench --bench msgpack`.
//!
//! Two shapes:
//! - `cluster_state`: a state like `vixens_talos_cluster`'s with 400 nodes: nested objects, lists of objects,
//!   maps, numbers, bools, and a ~2 KB machine configuration per node;
//! - `small_fields`: 3900 small objects (short strings, numbers, a two-entry map, one ~180-byte string), the
//!   worst case per byte, since every value costs an allocation.
//!
//! The timed loop includes dropping the decoded value, as the provider does after each call.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vixens::cty::{msgpack, Type, Value};

fn strings(items: impl IntoIterator<Item = String>) -> Value {
    Value::List(items.into_iter().map(Value::from).collect())
}

fn num(n: i64) -> Value {
    Value::from(n)
}

fn link_type() -> Type {
    Type::object([
        ("name", Type::String),
        ("mtu", Type::Number),
        ("addresses", Type::list(Type::String)),
        (
            "routes",
            Type::list(Type::object([
                ("network", Type::String),
                ("gateway", Type::String),
                ("metric", Type::Number),
            ])),
        ),
        (
            "vlan",
            Type::list(Type::object([
                ("vlan_id", Type::Number),
                ("addresses", Type::list(Type::String)),
                ("vip", Type::String),
                ("mtu", Type::Number),
            ])),
        ),
    ])
}

fn node_type() -> Type {
    Type::object([
        ("name", Type::String),
        ("address", Type::String),
        ("role", Type::String),
        ("install_disk", Type::String),
        ("hostname", Type::String),
        ("labels", Type::map(Type::String)),
        ("link", Type::list(link_type())),
        ("reset", Type::Bool),
        ("graceful", Type::Bool),
    ])
}

fn cluster_type() -> Type {
    Type::object([
        ("id", Type::String),
        ("cluster_name", Type::String),
        ("endpoint", Type::String),
        ("talos_version", Type::String),
        ("kubernetes_version", Type::String),
        ("allow_scheduling_on_control_planes", Type::Bool),
        ("kubeprism_port", Type::Number),
        ("nodes", Type::list(node_type())),
        ("machine_configurations", Type::map(Type::String)),
        ("etcd_members", Type::list(Type::String)),
        (
            "node_status",
            Type::list(Type::object([
                ("name", Type::String),
                ("ready", Type::Bool),
                ("talos_version", Type::String),
                ("load", Type::Number),
            ])),
        ),
    ])
}

fn machine_config(i: usize) -> String {
    let mut out = format!(
        "version: v1alpha1\nmachine:\n  type: worker\n  token: abcdef.0123456789abcdef\n  \
         network:\n    hostname: node-{i:03}\n    interfaces:\n"
    );
    for vlan in [10, 20, 30] {
        out.push_str(&format!(
            "      - interface: eth0.{vlan}\n        addresses: [127.0.{vlan}.{}/24]\n        \
             routes:\n          - network: 0.0.0.0/0\n            gateway: 127.0.{vlan}.1\n",
            i % 250
        ));
    }
    while out.len() < 2000 {
        out.push_str("  kubelet:\n    extraArgs:\n      rotate-server-certificates: \"true\"\n");
    }
    out
}

/// A `vixens_talos_cluster`-like state with 400 nodes (~1 MB on the wire).
fn cluster_state() -> Value {
    let n = 400;
    let nodes = (0..n).map(|i| {
        let vlans = [10i64, 20, 30].map(|vlan| {
            Value::object([
                ("vlan_id", num(vlan)),
                (
                    "addresses",
                    strings([format!("127.0.{vlan}.{}/24", i % 250)]),
                ),
                ("vip", Value::Null),
                ("mtu", num(1500)),
            ])
        });
        let link = Value::object([
            ("name", Value::from("eth0")),
            ("mtu", num(9000)),
            (
                "addresses",
                strings([format!("127.1.{}.{}/24", i / 250, i % 250)]),
            ),
            (
                "routes",
                Value::List(vec![Value::object([
                    ("network", Value::from("0.0.0.0/0")),
                    ("gateway", Value::from("127.1.0.1")),
                    ("metric", num(1024)),
                ])]),
            ),
            ("vlan", Value::List(vlans.to_vec())),
        ]);
        Value::object([
            ("name", Value::from(format!("node-{i:03}"))),
            (
                "address",
                Value::from(format!("127.1.{}.{}", i / 250, i % 250)),
            ),
            (
                "role",
                Value::from(if i < 3 { "controlplane" } else { "worker" }),
            ),
            ("install_disk", Value::from("/dev/sda")),
            ("hostname", Value::from(format!("node-{i:03}.lab"))),
            (
                "labels",
                Value::map([
                    (
                        "topology.kubernetes.io/zone",
                        Value::from(format!("zone-{}", i % 3)),
                    ),
                    ("node.kubernetes.io/instance-type", Value::from("metal")),
                ]),
            ),
            ("link", Value::List(vec![link])),
            ("reset", Value::from(false)),
            ("graceful", Value::from(true)),
        ])
    });
    let configs = (0..n).map(|i| (format!("node-{i:03}"), Value::from(machine_config(i))));
    let status = (0..n).map(|i| {
        Value::object([
            ("name", Value::from(format!("node-{i:03}"))),
            ("ready", Value::from(true)),
            ("talos_version", Value::from("v1.11.5")),
            ("load", Value::number_from_str("0.125").unwrap()),
        ])
    });
    Value::object([
        ("id", Value::from("lab")),
        ("cluster_name", Value::from("lab")),
        ("endpoint", Value::from("https://127.1.0.100:6443")),
        ("talos_version", Value::from("v1.11.5")),
        ("kubernetes_version", Value::from("1.34.1")),
        ("allow_scheduling_on_control_planes", Value::from(false)),
        ("kubeprism_port", num(7445)),
        ("nodes", Value::List(nodes.collect())),
        ("machine_configurations", Value::map(configs)),
        (
            "etcd_members",
            strings((0..3).map(|i| format!("node-{i:03}"))),
        ),
        ("node_status", Value::List(status.collect())),
    ])
}

/// 3900 small objects (~270 bytes each).
fn small_fields() -> (Type, Value) {
    let item = Type::object([
        ("name", Type::String),
        ("address", Type::String),
        ("port", Type::Number),
        ("ratio", Type::Number),
        ("enabled", Type::Bool),
        ("labels", Type::map(Type::String)),
        ("config", Type::String),
    ]);
    let ty = Type::object([("id", Type::String), ("items", Type::list(item))]);
    let items = (0..3900)
        .map(|i| {
            Value::object([
                ("name", Value::from(format!("node-{i:05}"))),
                (
                    "address",
                    Value::from(format!("127.0.{}.{}", i / 250, i % 250)),
                ),
                ("port", num(50000 + i)),
                ("ratio", Value::number_from_str("0.125").unwrap()),
                ("enabled", Value::from(i % 2 == 0)),
                (
                    "labels",
                    Value::map([("role", Value::from("worker")), ("zone", Value::from("a"))]),
                ),
                (
                    "config",
                    Value::from("machine:\n  type: worker\n".repeat(7)),
                ),
            ])
        })
        .collect();
    let value = Value::object([
        ("id", Value::from("cluster")),
        ("items", Value::List(items)),
    ]);
    (ty, value)
}

fn bench(c: &mut Criterion) {
    let inputs = [("cluster_state", cluster_type(), cluster_state()), {
        let (ty, v) = small_fields();
        ("small_fields", ty, v)
    }];
    let mut group = c.benchmark_group("msgpack_1mb");
    for (name, ty, value) in &inputs {
        let bytes = msgpack::encode(value, ty).unwrap();
        assert!(
            (900_000..1_300_000).contains(&bytes.len()),
            "{name}: {} bytes",
            bytes.len()
        );
        assert_eq!(&msgpack::decode(&bytes, ty).unwrap(), value);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::new("decode", name), &bytes, |b, bytes| {
            b.iter(|| msgpack::decode(std::hint::black_box(bytes), ty).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("encode", name), value, |b, value| {
            b.iter(|| msgpack::encode(std::hint::black_box(value), ty).unwrap())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
