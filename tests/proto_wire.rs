//! The project's Talos and COSI protos stay wire-equal to upstream, and the emulator's replies use only what they
//! declare:
//! - every field and enum value the project declares in `common`, `machine`, `storage`,
//!   `talos.resource.definitions.*`, `talos.resource.config` (upstream's package `resource.config`: the package is
//!   not on the wire) and `cosi.resource` matches `tests/data/talos-wire.tsv` (number, name, type, label), the rows `scripts/proto-wire.sh` extracted from siderolabs/talos v1.13.9 `api/` and
//!   cosi-project/specification `proto/` (the upstream sources are not reachable in CI);
//! - replies of an emulated node, taken as raw bytes off the wire, decode with descriptors built from the project's
//!   protos without unknown fields or unknown enum numbers, COSI `proto_spec` bytes included.

mod common;

use common::poll::eventually;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use prost::bytes::{Buf, BufMut};
use prost::Message;
use prost_reflect::{
    Cardinality, DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor,
    ReflectMessage, Value,
};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint, Uri};
use vixens::emulator::run::{Emulator, Options};
use vixens::emulator::testkit::{machine_config, TestSecrets};
use vixens::emulator::topology::Topology;
use vixens::proto::cosi::resource::{GetRequest, ListRequest};
use vixens::talos::client::{tls, ApplyMode, Security, TalosClient};
use vixens::talos::pki::CertAndKey;

const PACKAGES: &[&str] = &[
    "common",
    "machine",
    "storage",
    "talos.resource.definitions",
    "talos.resource.config",
    "cosi.resource",
];

fn pool() -> DescriptorPool {
    DescriptorPool::decode(vixens::proto::DESCRIPTOR_SET).unwrap()
}

fn compared(full_name: &str) -> bool {
    PACKAGES
        .iter()
        .any(|p| full_name.starts_with(&format!("{p}.")))
}

fn kind_name(kind: &Kind) -> String {
    match kind {
        Kind::Double => "double".into(),
        Kind::Float => "float".into(),
        Kind::Int32 => "int32".into(),
        Kind::Int64 => "int64".into(),
        Kind::Uint32 => "uint32".into(),
        Kind::Uint64 => "uint64".into(),
        Kind::Sint32 => "sint32".into(),
        Kind::Sint64 => "sint64".into(),
        Kind::Fixed32 => "fixed32".into(),
        Kind::Fixed64 => "fixed64".into(),
        Kind::Sfixed32 => "sfixed32".into(),
        Kind::Sfixed64 => "sfixed64".into(),
        Kind::Bool => "bool".into(),
        Kind::String => "string".into(),
        Kind::Bytes => "bytes".into(),
        Kind::Message(m) => m.full_name().into(),
        Kind::Enum(e) => e.full_name().into(),
    }
}

fn label(f: &FieldDescriptor) -> &'static str {
    if f.cardinality() == Cardinality::Repeated {
        "repeated"
    } else if f.field_descriptor_proto().proto3_optional() {
        "optional"
    } else {
        "singular"
    }
}

/// `(owner, name) -> (number, type, label)` from the table.
fn table() -> BTreeMap<(String, String), (u32, String, String)> {
    let text = include_str!("data/talos-wire.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            assert_eq!(c.len(), 5, "{l}");
            (
                (c[0].to_string(), c[1].to_string()),
                (c[2].parse().unwrap(), c[3].to_string(), c[4].to_string()),
            )
        })
        .collect()
}

#[test]
fn project_protos_match_the_upstream_table() {
    let pool = pool();
    let rows = table();
    let mut seen = 0;
    let mut problems = Vec::new();
    for m in pool.all_messages().filter(|m| compared(m.full_name())) {
        for f in m.fields() {
            seen += 1;
            let mine = (f.number(), kind_name(&f.kind()), label(&f).to_string());
            match rows.get(&(m.full_name().to_string(), f.name().to_string())) {
                Some(theirs) if *theirs == mine => {}
                other => problems.push(format!(
                    "{}.{}: project {mine:?}, upstream {other:?}",
                    m.full_name(),
                    f.name()
                )),
            }
        }
    }
    for e in pool.all_enums().filter(|e| compared(e.full_name())) {
        for v in e.values() {
            seen += 1;
            let mine = (v.number() as u32, "enum".to_string(), "-".to_string());
            match rows.get(&(e.full_name().to_string(), v.name().to_string())) {
                Some(theirs) if *theirs == mine => {}
                other => problems.push(format!(
                    "{}.{}: project {mine:?}, upstream {other:?}",
                    e.full_name(),
                    v.name()
                )),
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // No stale row: the table holds exactly what the project declares.
    assert_eq!(
        seen,
        rows.len(),
        "rows for declarations the project dropped"
    );
}

/// A gRPC codec passing messages through as bytes.
#[derive(Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

fn channel(addr: &str, security: &Security) -> Channel {
    let cfg = Arc::new(tls::client_config(security).unwrap());
    let host = addr.to_string();
    Endpoint::from_shared(format!("http://{addr}:50000"))
        .unwrap()
        .timeout(Duration::from_secs(5))
        .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
            let (cfg, host) = (cfg.clone(), host.clone());
            async move {
                let tcp = tokio::net::TcpStream::connect((host.as_str(), 50000)).await?;
                let name =
                    rustls::pki_types::ServerName::try_from(host).map_err(std::io::Error::other)?;
                let tls = tokio_rustls::TlsConnector::from(cfg)
                    .connect(name, tcp)
                    .await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
}

/// The reply messages of `path` (unary or server-streaming) as raw bytes.
async fn call(ch: &Channel, path: &'static str, body: Vec<u8>, streaming: bool) -> Vec<Vec<u8>> {
    let mut grpc = tonic::client::Grpc::new(ch.clone());
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(path);
    if streaming {
        let mut s = grpc
            .server_streaming(tonic::Request::new(body), path, Raw)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_inner();
        let mut out = Vec::new();
        while let Some(m) = s.message().await.unwrap() {
            out.push(m);
        }
        out
    } else {
        vec![grpc
            .unary(tonic::Request::new(body), path, Raw)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_inner()]
    }
}

/// Unknown fields and enum numbers in `msg` and below, as paths; COSI specs are decoded by resource type.
fn unknowns(pool: &DescriptorPool, msg: &DynamicMessage, path: &str, out: &mut Vec<String>) {
    for u in msg.unknown_fields() {
        out.push(format!("{path}: unknown field #{}", u.number()));
    }
    for (f, v) in msg.fields() {
        let here = format!("{path}.{}", f.name());
        value(pool, &f, v, &here, out);
    }
    if msg.descriptor().full_name() == "cosi.resource.Resource" {
        spec(pool, msg, path, out);
    }
}

fn value(pool: &DescriptorPool, f: &FieldDescriptor, v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Message(m) => unknowns(pool, m, path, out),
        Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                value(pool, f, item, &format!("{path}[{i}]"), out);
            }
        }
        Value::EnumNumber(n) => {
            if let Kind::Enum(e) = f.kind() {
                if e.get_value(*n).is_none() {
                    out.push(format!("{path}: unknown {} number {n}", e.full_name()));
                }
            }
        }
        _ => {}
    }
}

/// The spec message of each resource type the emulator serves.
fn spec_message(pool: &DescriptorPool, ty: &str) -> Option<MessageDescriptor> {
    let name = match ty {
        "MachineStatuses.runtime.talos.dev" => {
            "talos.resource.definitions.runtime.MachineStatusSpec"
        }
        "Versions.runtime.talos.dev" => "talos.resource.definitions.runtime.VersionSpec",
        "Disks.block.talos.dev" => "talos.resource.definitions.block.DiskSpec",
        "LinkStatuses.net.talos.dev" => "talos.resource.definitions.network.LinkStatusSpec",
        // api/resource/config/config.proto@v1.13.9 (package `resource.config` there).
        "MachineConfigs.config.talos.dev" => "talos.resource.config.MachineConfigSpec",
        _ => return None,
    };
    pool.get_message_by_name(name)
}

fn spec(pool: &DescriptorPool, resource: &DynamicMessage, path: &str, out: &mut Vec<String>) {
    let ty = resource
        .get_field_by_name("metadata")
        .and_then(|m| {
            m.as_message()?
                .get_field_by_name("type")?
                .as_str()
                .map(String::from)
        })
        .unwrap_or_default();
    let bytes = resource
        .get_field_by_name("spec")
        .and_then(|s| {
            s.as_message()?
                .get_field_by_name("proto_spec")?
                .as_bytes()
                .cloned()
        })
        .unwrap_or_default();
    if bytes.is_empty() {
        return;
    }
    let Some(desc) = spec_message(pool, &ty) else {
        out.push(format!("{path}: no spec message in proto/ for {ty}"));
        return;
    };
    match DynamicMessage::decode(desc, bytes) {
        Ok(m) => unknowns(pool, &m, &format!("{path}.spec.proto_spec<{ty}>"), out),
        Err(e) => out.push(format!("{path}: {ty} spec does not decode: {e}")),
    }
}

fn check(pool: &DescriptorPool, reply_type: &str, replies: &[Vec<u8>], out: &mut Vec<String>) {
    let desc = pool.get_message_by_name(reply_type).unwrap();
    assert!(!replies.is_empty(), "{reply_type}: no reply");
    for (i, bytes) in replies.iter().enumerate() {
        let msg = DynamicMessage::decode(desc.clone(), &bytes[..]).unwrap();
        unknowns(pool, &msg, &format!("{reply_type}[{i}]"), out);
    }
}

#[tokio::test]
async fn emulator_replies_decode_without_unknown_fields() {
    let addr = "127.0.198.1";
    let topology = Topology::parse(&format!(
        "nodes:\n- {{name: cp1, address: {addr}}}\ntalos_version: v1.13.9\n\
         timings: {{install_delay: 20ms, reboot_delay: 20ms, workload_delay: 20ms}}\n"
    ))
    .unwrap();
    let emu = Emulator::start(Options {
        topology,
        state_dir: None,
        control: None,
    })
    .await
    .unwrap();
    let pool = pool();
    let mut problems = Vec::new();
    let get = |ns: &str, ty: &str, id: &str| {
        GetRequest {
            namespace: ns.into(),
            r#type: ty.into(),
            id: id.into(),
            options: None,
        }
        .encode_to_vec()
    };
    let list = |ns: &str, ty: &str| {
        ListRequest {
            namespace: ns.into(),
            r#type: ty.into(),
            options: None,
        }
        .encode_to_vec()
    };

    // Maintenance mode.
    let m = channel(addr, &Security::Maintenance);
    let replies = call(&m, "/machine.MachineService/Version", vec![], false).await;
    check(&pool, "machine.VersionResponse", &replies, &mut problems);
    let replies = call(&m, "/storage.StorageService/Disks", vec![], false).await;
    check(&pool, "storage.DisksResponse", &replies, &mut problems);
    let replies = call(
        &m,
        "/cosi.resource.State/Get",
        get("runtime", "Versions.runtime.talos.dev", "version"),
        false,
    )
    .await;
    check(&pool, "cosi.resource.GetResponse", &replies, &mut problems);

    // Secure mode, after install and bootstrap.
    let s = TestSecrets::generate();
    let cfg = machine_config(&s, true, &format!("https://{addr}:6443"), "");
    TalosClient::connect(addr, &Security::Maintenance, Duration::from_secs(5))
        .unwrap()
        .apply_configuration(cfg.as_bytes(), ApplyMode::Auto)
        .await
        .unwrap();
    let issued = s.os.client("os:admin");
    let security = Security::Secure {
        ca_crt: s.os.cert_pem.clone(),
        client: CertAndKey {
            crt: issued.cert_pem,
            key: issued.key_pem,
        },
    };
    let admin = TalosClient::connect(addr, &security, Duration::from_secs(5)).unwrap();
    eventually("installed", || async { admin.version().await.ok() }).await;
    admin.bootstrap_once().await.unwrap();
    let a = channel(addr, &security);
    for (path, reply, streaming) in [
        (
            "/machine.MachineService/Version",
            "machine.VersionResponse",
            false,
        ),
        (
            "/machine.MachineService/ServiceList",
            "machine.ServiceListResponse",
            false,
        ),
        (
            "/machine.MachineService/EtcdMemberList",
            "machine.EtcdMemberListResponse",
            false,
        ),
        ("/machine.MachineService/Kubeconfig", "common.Data", true),
        (
            "/storage.StorageService/Disks",
            "storage.DisksResponse",
            false,
        ),
    ] {
        let replies = call(&a, path, vec![], streaming).await;
        check(&pool, reply, &replies, &mut problems);
    }
    for (ns, ty, id) in [
        ("runtime", "MachineStatuses.runtime.talos.dev", "machine"),
        ("runtime", "Versions.runtime.talos.dev", "version"),
        ("runtime", "Disks.block.talos.dev", "sda"),
        ("network", "LinkStatuses.net.talos.dev", "eth0"),
        ("config", "MachineConfigs.config.talos.dev", "v1alpha1"),
    ] {
        let replies = call(&a, "/cosi.resource.State/Get", get(ns, ty, id), false).await;
        check(&pool, "cosi.resource.GetResponse", &replies, &mut problems);
        let replies = call(&a, "/cosi.resource.State/List", list(ns, ty), true).await;
        check(&pool, "cosi.resource.ListResponse", &replies, &mut problems);
    }
    assert!(problems.is_empty(), "{problems:#?}");
    emu.stop().await;
}
