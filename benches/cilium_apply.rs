//! Applying `vixens_cilium` (create: render, connect, server-side apply of every object, CRD wait, pools and
//! policy, rollout and Node waits) against the in-process Kubernetes API emulator with zero workload delays.
//! Target: <= 1 s. Each iteration is followed by an untimed delete.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use vixens::cty::Value;
use vixens::emulator::kube::{KubeCluster, KubeOptions, KubeTls};
use vixens::framework::{Context, Resource};
use vixens::resources::cilium::{schema, Cilium};

const API_IP: &str = "127.0.113.41";

fn kubeconfig(ca_cert: &str, ca_key: &str) -> String {
    let issuer = Issuer::from_ca_cert_pem(ca_cert, KeyPair::from_pem(ca_key).expect("ca key"))
        .expect("issuer");
    let key = KeyPair::generate().expect("key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "admin");
    dn.push(DnType::OrganizationName, "system:masters");
    p.distinguished_name = dn;
    let cert = p.signed_by(&key, &issuer).expect("client cert").pem();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: emu\n  cluster:\n    server: https://{API_IP}:6443\n    certificate-authority-data: {}\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: admin@emu\n  context:\n    cluster: emu\n    user: admin\ncurrent-context: admin@emu\n",
        b64(ca_cert),
        b64(&cert),
        b64(&key.serialize_pem())
    )
}

fn planned(kubeconfig: &str) -> Value {
    let pool = |name: &str, start: &str, stop: &str| {
        Value::object([
            ("name", Value::from(name)),
            ("service_selector", Value::Null),
            (
                "blocks",
                Value::List(vec![Value::object([
                    ("cidr", Value::Null),
                    ("start", start.into()),
                    ("stop", stop.into()),
                ])]),
            ),
        ])
    };
    let mut v = Value::object([
        ("kubeconfig", Value::from(kubeconfig)),
        (
            "hubble",
            Value::object([
                ("enabled", true.into()),
                ("relay", true.into()),
                ("ui", true.into()),
            ]),
        ),
        (
            "l2_announcements",
            Value::object([
                ("enabled", true.into()),
                ("interfaces", Value::Null),
                ("lease_duration", Value::Null),
                ("lease_renew_deadline", Value::Null),
                ("lease_retry_period", Value::Null),
            ]),
        ),
        (
            "load_balancer_ip_pools",
            Value::List(vec![
                pool("assigned", "192.168.208.70", "192.168.208.79"),
                pool("auto", "192.168.208.80", "192.168.208.89"),
            ]),
        ),
    ]);
    v.fill_nulls(&schema::schema().value_type());
    v
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let key = KeyPair::generate().expect("key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = p.self_signed(&key).expect("ca").pem();
    let ca_key = key.serialize_pem();
    let (_cluster, _server) = rt.block_on(async {
        let cluster = KubeCluster::new(KubeOptions {
            workload_delay: Duration::ZERO,
            ..Default::default()
        })
        .expect("cluster");
        cluster
            .ensure_node("cp-1", "127.0.113.42".parse().expect("ip"), true)
            .expect("node");
        cluster
            .ensure_node("worker-1", "127.0.113.43".parse().expect("ip"), false)
            .expect("node");
        let addr: SocketAddr = format!("{API_IP}:6443").parse().expect("addr");
        let tls = KubeTls {
            ca_cert_pem: ca_cert.clone(),
            ca_key_pem: ca_key.clone(),
            sans: vec![API_IP.into()],
        };
        let server = cluster.serve(addr, tls).await.expect("serve");
        (cluster, server)
    });
    let planned = planned(&kubeconfig(&ca_cert, &ca_key));
    let mut group = c.benchmark_group("cilium_apply");
    group.sample_size(10);
    group.bench_function("create_against_emulator_zero_delay", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let ctx = Context::for_tests().with_timeout(Duration::from_secs(60));
                let started = Instant::now();
                let state = rt.block_on(Cilium.create(&ctx, &planned)).expect("create");
                total += started.elapsed();
                rt.block_on(Cilium.delete(&ctx, &state)).expect("delete");
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
