//! msgpack decode + encode of a ~1 MB object (a state-like value: a list of objects with strings, numbers, bools
//! and maps). Target: ≥ 200 MB/s for decode followed by encode. Run with `cargo bench --bench msgpack`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vixens::cty::{msgpack, Type, Value};

fn item_type() -> Type {
    Type::object([
        ("name", Type::String),
        ("address", Type::String),
        ("port", Type::Number),
        ("ratio", Type::Number),
        ("enabled", Type::Bool),
        ("labels", Type::map(Type::String)),
        ("config", Type::String),
    ])
}

/// A ~1 MB value of `object({id=string, items=list(item)})`.
fn big_value() -> (Type, Value) {
    let ty = Type::object([("id", Type::String), ("items", Type::list(item_type()))]);
    let items = (0..3900)
        .map(|i| {
            Value::object([
                ("name", Value::from(format!("node-{i:05}"))),
                (
                    "address",
                    Value::from(format!("127.0.{}.{}", i / 250, i % 250)),
                ),
                ("port", Value::from(50000 + i as i64)),
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
    (
        ty,
        Value::object([
            ("id", Value::from("cluster")),
            ("items", Value::List(items)),
        ]),
    )
}

fn bench(c: &mut Criterion) {
    let (ty, value) = big_value();
    let bytes = msgpack::encode(&value, &ty).unwrap();
    assert!(bytes.len() > 1_000_000, "{} bytes", bytes.len());
    let mut group = c.benchmark_group("msgpack_1mb");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("decode_then_encode", |b| {
        b.iter(|| {
            let v = msgpack::decode(std::hint::black_box(&bytes), &ty).unwrap();
            msgpack::encode(&v, &ty).unwrap()
        })
    });
    group.bench_function("decode", |b| {
        b.iter(|| msgpack::decode(std::hint::black_box(&bytes), &ty).unwrap())
    });
    group.bench_function("encode", |b| {
        b.iter(|| msgpack::encode(std::hint::black_box(&value), &ty).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
