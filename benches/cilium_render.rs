//! Rendering every Cilium object (chart objects + LB IPAM pools + L2 policy) and serializing them to JSON, as
//! the resource does before each server-side apply, for each verified version. Target: <= 5 ms per version.

use criterion::{criterion_group, criterion_main, Criterion};
use vixens::manifests::cilium::version::VERIFIED;
use vixens::manifests::cilium::{self, certs, CiliumValues, IpBlock, IpPool, L2Policy};

fn bench(c: &mut Criterion) {
    let mut values = CiliumValues::default();
    values.l2_announcements.enabled = true;
    values.hubble.relay = true;
    values.hubble.ui = true;
    let hubble = certs::generate("default", time::OffsetDateTime::now_utc()).expect("certs");
    let pools = vec![
        IpPool {
            name: "assigned".into(),
            blocks: vec![IpBlock::Range {
                start: "192.168.208.70".into(),
                stop: "192.168.208.79".into(),
            }],
            service_selector: None,
        },
        IpPool {
            name: "auto".into(),
            blocks: vec![IpBlock::Range {
                start: "192.168.208.80".into(),
                stop: "192.168.208.89".into(),
            }],
            service_selector: None,
        },
    ];
    let policy = L2Policy {
        name: "default".into(),
        load_balancer_ips: true,
        ..Default::default()
    };
    for version in VERIFIED {
        values.version = version.to_string();
        c.bench_function(&format!("cilium_render_all_objects/{version}"), |b| {
            b.iter(|| {
                let objs = cilium::render(&values, Some(&hubble)).expect("render");
                let json: Vec<serde_json::Value> = objs
                    .iter()
                    .map(|o| o.object.to_value().expect("json"))
                    .collect();
                let lb = cilium::render_lb_ipam(&values, &pools, Some(&policy));
                std::hint::black_box((json, lb))
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
