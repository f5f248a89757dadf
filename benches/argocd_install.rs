//! Parsing Argo CD's 1.9 MB v3.5.1 install.yaml, and parsing plus server-side applying it (60 objects, CRDs
//! waited until Established) against a fresh in-process Kubernetes API emulator on loopback (127.0.163.1).
//! Target (issue 6): parse + apply ≤ 2 s. Skipped with a message when the shared fixture is absent.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
};
use vixens::emulator::kube::{KubeCluster, KubeOptions, KubeTls};
use vixens::k8s::apply::{Applier, ApplyOptions};
use vixens::k8s::{ClusterCredentials, Connection};
use vixens::manifests::argocd::{parse_manifest, prepare_install};

fn fixture() -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/argocd/v3.5.1/install.yaml");
    std::fs::read_to_string(&path)
        .map_err(|e| println!("SKIPPED: {} not readable ({e})", path.display()))
        .ok()
}

struct Pki {
    ca_pem: String,
    ca_key: String,
    cert: String,
    key: String,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "kubernetes");
    p.distinguished_name = dn;
    let ca_pem = p.self_signed(&ca_key).unwrap().pem();
    let issuer =
        Issuer::from_ca_cert_pem(&ca_pem, KeyPair::from_pem(&ca_key.serialize_pem()).unwrap())
            .unwrap();
    let key = KeyPair::generate().unwrap();
    let mut c = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "admin");
    dn.push(DnType::OrganizationName, "system:masters");
    c.distinguished_name = dn;
    let cert = c.signed_by(&key, &issuer).unwrap().pem();
    Pki {
        ca_pem,
        ca_key: ca_key.serialize_pem(),
        cert,
        key: key.serialize_pem(),
    }
}

static PORT: AtomicU16 = AtomicU16::new(21000);

/// Parses and applies the manifest into a fresh emulated cluster; returns the time of parse + apply only.
async fn parse_and_apply(text: &str, pki: &Pki) -> Duration {
    let ip = "127.0.163.1";
    let port = PORT.fetch_add(1, Ordering::SeqCst);
    let cluster = KubeCluster::new(KubeOptions::default()).unwrap();
    let tls = KubeTls {
        ca_cert_pem: pki.ca_pem.clone(),
        ca_key_pem: pki.ca_key.clone(),
        sans: vec![ip.into()],
    };
    let server = cluster
        .serve(format!("{ip}:{port}").parse().unwrap(), tls)
        .await
        .unwrap();
    let connection = Connection::Credentials(ClusterCredentials {
        host: format!("https://{ip}:{port}"),
        ca_certificate: pki.ca_pem.clone(),
        client_certificate: pki.cert.clone(),
        client_key: pki.key.clone(),
    });
    let applier = Applier::new(connection.connect(Duration::from_secs(10)).await.unwrap());
    let started = Instant::now();
    let objects = prepare_install(parse_manifest(text).unwrap(), "argocd").unwrap();
    let mut applied = Vec::new();
    let options = ApplyOptions {
        force: true,
        ..ApplyOptions::default()
    };
    applier
        .apply_all(&objects, options, &mut applied)
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(applied.len(), 60);
    server.shutdown().await;
    took
}

fn benches(c: &mut Criterion) {
    let Some(text) = fixture() else { return };
    c.bench_function(
        "argocd install.yaml parse + place (1.9 MB, 59 objects)",
        |b| b.iter(|| prepare_install(parse_manifest(&text).unwrap(), "argocd").unwrap()),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pki = pki();
    c.bench_function(
        "argocd install.yaml parse + server-side apply into a fresh emulator",
        |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += parse_and_apply(&text, &pki).await;
                    }
                    total
                })
            })
        },
    );
}

criterion_group! {
    name = argocd;
    config = Criterion::default().sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(10));
    targets = benches
}
criterion_main!(argocd);
