use super::*;
use crate::emulator::testkit::{machine_config, TestSecrets};
use crate::emulator::topology::{ByteSize, DiskSpec};

fn node() -> NodeSpec {
    NodeSpec {
        name: "cp1".into(),
        address: "127.0.111.11".parse().unwrap(),
        disks: vec![DiskSpec {
            path: "/dev/sda".into(),
            size: ByteSize(10 << 30),
        }],
        links: vec!["eth0".into()],
        talos_version: None,
    }
}

fn v112() -> TalosVersion {
    TalosVersion::parse("v1.12.11").unwrap()
}

fn errors_of(cfg: &str) -> String {
    validate(cfg.as_bytes(), &node(), &v112())
        .unwrap_err()
        .to_string()
}

#[test]
fn valid_configs_pass_and_yield_facts() {
    let s = TestSecrets::generate();
    let docs = "apiVersion: v1alpha1\nkind: LinkConfig\nname: eth0\naddresses: [{address: 192.168.1.10/24}]\n\
                routes: [{gateway: 192.168.1.1}]\n---\napiVersion: v1alpha1\nkind: VLANConfig\nname: eth0.111\n\
                vlanID: 111\nparent: eth0\n---\napiVersion: v1alpha1\nkind: Layer2VIPConfig\nname: 127.0.111.10\n\
                link: eth0\n---\napiVersion: v1alpha1\nkind: HostnameConfig\nhostname: cp1\n";
    let c = validate(
        machine_config(&s, true, "https://127.0.111.10:6443", docs).as_bytes(),
        &node(),
        &v112(),
    )
    .unwrap();
    assert_eq!(c.machine_type, MachineType::ControlPlane);
    assert_eq!(c.endpoint_host, "127.0.111.10");
    assert_eq!(c.endpoint_port, 6443);
    assert_eq!(c.hostname.as_deref(), Some("cp1"));
    assert_eq!(c.vips, vec!["127.0.111.10".parse::<IpAddr>().unwrap()]);
    assert_eq!(c.install_disk, "/dev/sda");
    let w = validate(
        machine_config(&s, false, "https://localhost:6443", "").as_bytes(),
        &node(),
        &v112(),
    )
    .unwrap();
    assert_eq!(w.machine_type, MachineType::Worker);
    assert!(w.os_ca.key_pem.is_none());
}

#[test]
fn each_mistake_names_its_field() {
    let s = TestSecrets::generate();
    let good = machine_config(&s, true, "https://127.0.111.10:6443", "");
    let cases: &[(&str, &str, &str)] = &[
        ("version: v1alpha1", "version: v1alpha2", ".version"),
        ("type: controlplane", "type: master", ".machine.type"),
        (
            "token: abcdef.0123456789abcdef",
            "token: ABCDEF.0123456789abcdef",
            ".machine.token",
        ),
        (
            "token: 012345.0123456789abcdef",
            "token: short.x",
            ".cluster.token",
        ),
        (
            "endpoint: https://127.0.111.10:6443",
            "endpoint: http://127.0.111.10:6443",
            ".cluster.controlPlane.endpoint",
        ),
        ("disk: /dev/sda", "disk: /dev/sdz", ".machine.install.disk"),
        (
            "cni: {name: none}",
            "cni: {name: calico}",
            ".cluster.network.cni.name",
        ),
        (
            "podSubnets: [10.244.0.0/16]",
            "podSubnets: [10.244.0.0/33]",
            ".cluster.network.podSubnets",
        ),
        (
            "debug: false",
            "debug: false\nbogus: 1",
            "unknown keys found during decoding:\nbogus: 1",
        ),
    ];
    for (from, to, want) in cases {
        assert!(good.contains(from), "fixture lacks {from}");
        let msg = errors_of(&good.replacen(from, to, 1));
        assert!(msg.contains(want), "{from} -> {to}: {msg}");
    }
    assert!(errors_of("machine: [").contains("decode error"));
}

#[test]
fn certs_must_parse_and_match() {
    let s = TestSecrets::generate();
    let other = TestSecrets::generate();
    let good = machine_config(&s, true, "https://127.0.111.10:6443", "");
    let b = |p: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, p);
    // A key from another CA does not match the certificate.
    let swapped = good.replacen(&b(&s.os.key_pem), &b(&other.os.key_pem), 1);
    assert!(
        errors_of(&swapped).contains(".machine.ca.key: key does not match"),
        "{}",
        errors_of(&swapped)
    );
    let bad_crt = good.replacen(&b(&s.etcd.cert_pem), "bm90IGEgY2VydA==", 1);
    assert!(errors_of(&bad_crt).contains(".cluster.etcd.ca.crt"));
    // Workers must not carry CA keys.
    let worker = machine_config(&s, false, "https://127.0.111.10:6443", "").replacen(
        "key: \"\"",
        &format!("key: {}", b(&s.os.key_pem)),
        1,
    );
    assert!(errors_of(&worker).contains(".machine.ca.key: key is not allowed"));
}

#[test]
fn network_documents_follow_talos_rules() {
    let s = TestSecrets::generate();
    let with = |docs: &str| errors_of(&machine_config(&s, true, "https://127.0.111.10:6443", docs));
    let legacy_host = machine_config(
        &s,
        true,
        "https://127.0.111.10:6443",
        "apiVersion: v1alpha1\nkind: HostnameConfig\nhostname: a\n",
    )
    .replacen(
        "  certSANs: []\n",
        "  certSANs: []\n  network:\n    hostname: b\n",
        1,
    );
    assert!(errors_of(&legacy_host).contains("static hostname is already set"));
    assert!(with(
        "apiVersion: v1alpha1\nkind: VLANConfig\nname: eth0.5000\nvlanID: 5000\nparent: eth0\n"
    )
    .contains("vlanID"));
    assert!(
        with("apiVersion: v1alpha1\nkind: VLANConfig\nname: eth0.5\nvlanID: 5\n")
            .contains("parent must be specified")
    );
    assert!(
        with("apiVersion: v1alpha1\nkind: Layer2VIPConfig\nname: notanip\nlink: eth0\n")
            .contains("valid IP address")
    );
    assert!(with(
        "apiVersion: v1alpha1\nkind: LinkConfig\nname: eth0\naddresses: [{address: 10.0.0.1}]\n"
    )
    .contains("valid IP prefix"));
    assert!(with("apiVersion: v1alpha1\nkind: NoSuchConfig\nname: x\n")
        .contains("\"NoSuchConfig\" \"v1alpha1\": not registered"));
    let worker_vip = machine_config(
        &s,
        false,
        "https://127.0.111.10:6443",
        "apiVersion: v1alpha1\nkind: Layer2VIPConfig\nname: 127.0.0.9\nlink: eth0\n",
    );
    assert!(errors_of(&worker_vip).contains("not allowed on non-controlplane"));
}

#[test]
fn legacy_interfaces_are_validated() {
    let s = TestSecrets::generate();
    let net = "  network:\n    hostname: cp1\n    interfaces:\n      - interface: eth0\n        addresses: [192.168.1.10/24]\n        \
               vlans:\n          - vlanId: 111\n            addresses: [10.111.0.10/24]\n            vip: {ip: 10.111.0.5}\n";
    let cfg = machine_config(&s, true, "https://127.0.111.10:6443", "").replacen(
        "  certSANs: []\n",
        &format!("  certSANs: []\n{net}"),
        1,
    );
    let c = validate(cfg.as_bytes(), &node(), &v112()).unwrap();
    assert_eq!(c.hostname.as_deref(), Some("cp1"));
    assert_eq!(c.vips.len(), 1);
    let bad = cfg.replacen("vlanId: 111", "vlanId: 0", 1);
    assert!(errors_of(&bad).contains(".machine.network.interfaces[0].vlans[0].vlanId"));
}

#[test]
fn immediate_changes_are_told_apart() {
    let s = TestSecrets::generate();
    let a = validate(
        machine_config(&s, true, "https://127.0.111.10:6443", "").as_bytes(),
        &node(),
        &v112(),
    )
    .unwrap();
    let b = validate(
        machine_config(&s, true, "https://127.0.111.20:6443", "").as_bytes(),
        &node(),
        &v112(),
    )
    .unwrap();
    assert!(can_apply_immediate(&a, &b).is_ok());
    let c_raw = machine_config(&s, true, "https://127.0.111.10:6443", "").replacen(
        "    wipe: false\n",
        "    wipe: false\n  env: {A: b}\n",
        1,
    );
    let c = validate(c_raw.as_bytes(), &node(), &v112()).unwrap();
    assert!(can_apply_immediate(&a, &c).is_err());
}

/// Decode errors come before validation and stop at the first one, as Talos's decoder does
/// (configloader/internal/decoder/decoder.go@v1.12.11); each release registers its own kinds (registry.go).
#[test]
fn decoding_fails_first_and_per_release() {
    let s = TestSecrets::generate();
    let link =
        "apiVersion: v1alpha1\nkind: LinkConfig\nname: eth0\naddresses: [{address: 10.0.0.1/24}]\n";
    let cfg = machine_config(&s, true, "https://127.0.111.10:6443", link);
    let v111 = TalosVersion::parse("v1.11.6").unwrap();
    match validate(cfg.as_bytes(), &node(), &v111) {
        Err(Rejection::Parse(m)) => assert_eq!(m, "\"LinkConfig\" \"v1alpha1\": not registered"),
        other => panic!("1.11 must not decode LinkConfig: {other:?}"),
    }
    assert!(validate(cfg.as_bytes(), &node(), &v112()).is_ok());
    let v113 = TalosVersion::parse("v1.13.9").unwrap();
    assert!(validate(cfg.as_bytes(), &node(), &v113).is_ok());
    let vrf = machine_config(
        &s,
        true,
        "https://127.0.111.10:6443",
        "apiVersion: v1alpha1\nkind: VRFConfig\nname: vrf-x\n",
    );
    assert!(matches!(
        validate(vrf.as_bytes(), &node(), &v112()),
        Err(Rejection::Parse(_))
    ));
    // A duplicate document, and a wrongly typed value, are decode errors too.
    let twice = format!("{cfg}---\n{link}");
    match validate(twice.as_bytes(), &node(), &v112()) {
        Err(Rejection::Parse(m)) => {
            assert_eq!(
                m,
                "duplicate document v1alpha1/LinkConfig/eth0 is not allowed"
            )
        }
        other => panic!("{other:?}"),
    }
    let typed = cfg.replacen("wipe: false", "wipe: \"no\"", 1);
    assert!(typed != cfg, "fixture lacks wipe: false");
    match validate(typed.as_bytes(), &node(), &v112()) {
        Err(Rejection::Parse(m)) => {
            assert!(m.contains("cannot unmarshal !!str `no` into bool"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}
