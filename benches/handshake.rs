//! Provider start to handshake line: spawn the provider binary as Terraform does (magic cookie, protocols 5,6,
//! AutoMTLS with a P-521 client certificate) and time until the handshake line is read from its stdout.
//! Target: median ≤ 2 ms with the release build. Run with `cargo bench --bench handshake`; the median of its own
//! samples is also printed as a `figure:` line.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use vixens::plugin::handshake::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};

fn client_cert_pem() -> String {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).expect("P-521 key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).expect("self-signed").pem()
}

/// One start: returns the time until the handshake line arrived.
fn start_once(pem: &str) -> Duration {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_terraform-provider-vixens"))
        .env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_CLIENT_CERT", pem)
        .env("TF_LOG_PROVIDER", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn provider");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("handshake line");
    let elapsed = started.elapsed();
    assert!(line.starts_with("1|6|tcp|127.0.0.1:"), "{line}");
    let _ = child.kill();
    let _ = child.wait();
    elapsed
}

fn bench(c: &mut Criterion) {
    let pem = client_cert_pem();
    let mut samples: Vec<Duration> = (0..50).map(|_| start_once(&pem)).collect();
    samples.sort();
    println!(
        "figure: provider start to handshake line, median of 50 = {:.3} ms",
        samples[25].as_secs_f64() * 1e3
    );
    c.bench_function("start_to_handshake_line", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| start_once(&pem)).sum())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
