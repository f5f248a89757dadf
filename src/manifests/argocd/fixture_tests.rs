//! Tests over the real Argo CD v3.5.1 install.yaml from `<repo>/../shared/fixtures` (skipped when absent).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::source::{official_sha256, sha256_hex, verify_sha256};
use super::{manifest_refs, parse_manifest, prepare_install, prepare_manifest, ParseError};
use crate::k8s::inventory::ObjectRef;

/// The fixture text, or `None` (with a printed reason) when the shared fixtures are absent.
pub(crate) fn fixture() -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/argocd/v3.5.1/install.yaml");
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            println!(
                "SKIPPED: Argo CD fixture {} not readable ({e})",
                path.display()
            );
            None
        }
    }
}

fn kind(o: &kube::api::DynamicObject) -> &str {
    o.types.as_ref().map_or("", |t| t.kind.as_str())
}

#[test]
fn parses_all_59_objects_of_the_real_manifest() {
    let Some(text) = fixture() else { return };
    let started = std::time::Instant::now();
    let objects = parse_manifest(&text).unwrap();
    println!(
        "parsed {} bytes into {} objects in {:?}",
        text.len(),
        objects.len(),
        started.elapsed()
    );
    assert_eq!(objects.len(), 59);
    let mut counts = BTreeMap::new();
    for o in &objects {
        *counts.entry(kind(o)).or_insert(0) += 1;
    }
    assert_eq!(counts["CustomResourceDefinition"], 3);
    assert_eq!(counts["Deployment"], 6);
    assert_eq!(counts["StatefulSet"], 1);
    assert_eq!(counts["ClusterRoleBinding"], 3);
    assert!(objects.iter().all(|o| o.metadata.namespace.is_none()));
    let appset = objects
        .iter()
        .find(|o| o.metadata.name.as_deref() == Some("applicationsets.argoproj.io"))
        .unwrap();
    let size = serde_json::to_vec(appset).unwrap().len();
    assert!(
        size > 250_000,
        "the ApplicationSet CRD is the big one: {size} bytes"
    );
}

#[test]
fn places_the_real_manifest_into_argocd_and_another_namespace() {
    let Some(text) = fixture() else { return };
    for ns in ["argocd", "gitops"] {
        let objects = prepare_install(parse_manifest(&text).unwrap(), ns).unwrap();
        assert_eq!(objects.len(), 60, "the Namespace is added");
        assert_eq!(kind(&objects[0]), "Namespace");
        for o in &objects {
            let cluster_scoped = matches!(
                kind(o),
                "Namespace" | "CustomResourceDefinition" | "ClusterRole" | "ClusterRoleBinding"
            );
            assert_eq!(
                o.metadata.namespace.is_none(),
                cluster_scoped,
                "{:?}",
                o.metadata.name
            );
            if !cluster_scoped {
                assert_eq!(o.metadata.namespace.as_deref(), Some(ns));
            }
        }
        let bindings: Vec<_> = objects
            .iter()
            .filter(|o| kind(o) == "ClusterRoleBinding")
            .collect();
        assert_eq!(bindings.len(), 3);
        for b in bindings {
            for s in b.data["subjects"].as_array().unwrap() {
                assert_eq!(s["namespace"], ns, "{:?}", b.metadata.name);
            }
        }
    }
}

#[test]
fn a_broken_document_of_the_real_manifest_is_named() {
    let Some(text) = fixture() else { return };
    // Break the first Deployment's spec with an unclosed flow sequence.
    let at = text.find("kind: Deployment").unwrap();
    let broken = format!(
        "{}{}",
        &text[..at],
        text[at..].replacen("spec:", "spec: [", 1)
    );
    let err = parse_manifest(&broken).unwrap_err();
    let ParseError::Yaml { index, kind, .. } = &err else {
        panic!("expected a YAML error, got {err}");
    };
    assert_eq!(kind, "Deployment");
    let docs_before = text[..at].matches("\n---\n").count();
    assert_eq!(*index, docs_before + 1, "{err}");
}

#[test]
fn the_real_manifest_verifies_against_its_digest_only() {
    let Some(text) = fixture() else { return };
    let digest = sha256_hex(text.as_bytes());
    assert!(verify_sha256(text.as_bytes(), &digest).is_ok());
    let mut tampered = text.into_bytes();
    tampered[100] ^= 1;
    let err = verify_sha256(&tampered, &digest).unwrap_err().to_string();
    assert!(
        err.contains(&digest) && err.contains(&sha256_hex(&tampered)),
        "{err}"
    );
}

#[test]
fn the_fixture_is_the_official_v3_5_1_manifest() {
    let Some(text) = fixture() else { return };
    assert_eq!(
        official_sha256("v3.5.1", false),
        Some(sha256_hex(text.as_bytes()).as_str())
    );
}

/// The streaming path (YAML to JSON event by event, values built only for the objects placed) gives, object by
/// object, what parsing every document into values (`crate::yaml::from_str`) and placing them gives.
#[test]
fn streamed_objects_equal_the_parsed_ones() {
    let Some(text) = fixture() else { return };
    for ns in ["argocd", "gitops"] {
        let parsed = prepare_install(parse_manifest(&text).unwrap(), ns).unwrap();
        let streamed = prepare_manifest(&text, ns).unwrap();
        assert_eq!(streamed.len(), parsed.len());
        for (s, p) in streamed.iter().zip(&parsed) {
            assert_eq!(s.reference, ObjectRef::of(p).unwrap());
            let s: serde_json::Value = serde_json::from_str(s.json()).unwrap();
            assert_eq!(s, serde_json::to_value(p).unwrap(), "{:?}", p.metadata.name);
        }
        let refs = manifest_refs(&text, ns).unwrap();
        assert_eq!(refs.len(), streamed.len());
    }
    // The JSON written event by event is what the values of each document, parsed as a tree, are.
    let mut by_values = Vec::new();
    for doc in super::parse::split_documents(&text) {
        let value: serde_json::Value = crate::yaml::from_str(doc.text).unwrap();
        if !value.is_null() {
            by_values.push(value);
        }
    }
    let mut streamed = Vec::new();
    super::parse::for_each_object(&text, |o| {
        streamed.push(serde_json::from_str::<serde_json::Value>(&o.json).unwrap());
        Ok::<(), ParseError>(())
    })
    .unwrap();
    assert_eq!(streamed.len(), 59);
    assert!(streamed == by_values, "JSON differs from the parsed values");
}
