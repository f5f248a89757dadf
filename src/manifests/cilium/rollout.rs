//! Rolling the pods when their configuration changes.
//!
//! The chart's `rollOutCiliumPods`, `operator.rollOutPods`, `envoy.rollOutPods`, `hubble.relay.rollOutPods` and
//! `hubble.ui.rollOutPods` put a checksum of the ConfigMap each workload reads into its pod template
//! (`templates/cilium-agent/daemonset.yaml` and siblings, 1.17.0 to 1.20.0): a changed ConfigMap changes the
//! template, so Kubernetes replaces the pods. Vixens does the same, with its own digest (SHA-256 of the
//! ConfigMap's `data` as JSON with sorted keys) under the chart's annotation keys.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use sha2::{Digest, Sha256};

use super::{ChartObject, RenderedObject};

/// Which workload reads which ConfigMap, and the pod-template annotation that carries its digest.
const ROLLED: &[(&str, &str, &str, &str)] = &[
    // (kind, workload, ConfigMap, annotation)
    (
        "DaemonSet",
        "cilium",
        "cilium-config",
        "cilium.io/cilium-configmap-checksum",
    ),
    (
        "Deployment",
        "cilium-operator",
        "cilium-config",
        "cilium.io/cilium-configmap-checksum",
    ),
    (
        "DaemonSet",
        "cilium-envoy",
        "cilium-envoy-config",
        "cilium.io/cilium-envoy-configmap-checksum",
    ),
    (
        "Deployment",
        "hubble-relay",
        "hubble-relay-config",
        "cilium.io/hubble-relay-configmap-checksum",
    ),
    (
        "Deployment",
        "hubble-ui",
        "hubble-ui-nginx",
        "cilium.io/hubble-ui-nginx-configmap-checksum",
    ),
];

/// SHA-256 (64 lowercase hex digits) of a ConfigMap's `data` serialized as JSON with sorted keys.
pub fn digest(data: &BTreeMap<String, String>) -> String {
    let json = serde_json::to_vec(data).unwrap_or_default();
    hex::encode(Sha256::digest(json))
}

fn config_map<'a>(objects: &'a [RenderedObject], name: &str) -> Option<&'a ConfigMap> {
    objects.iter().find_map(|o| match &o.object {
        ChartObject::ConfigMap(c) if c.metadata.name.as_deref() == Some(name) => Some(c),
        _ => None,
    })
}

/// The digest of `cilium-config` among `objects` (what rolls the agents and the operator), if rendered.
pub fn cilium_config_digest(objects: &[RenderedObject]) -> Option<String> {
    config_map(objects, "cilium-config").map(|c| digest(&c.data.clone().unwrap_or_default()))
}

fn template_of<'a>(object: &'a mut ChartObject, kind: &str) -> Option<&'a mut PodTemplateSpec> {
    match (object, kind) {
        (ChartObject::DaemonSet(d), "DaemonSet") => Some(&mut d.spec.template),
        (ChartObject::Deployment(d), "Deployment") => Some(&mut d.spec.template),
        _ => None,
    }
}

/// Annotates the pod template of every workload of [`ROLLED`] present in `objects` with the digest of the
/// ConfigMap it reads.
pub fn annotate(objects: &mut [RenderedObject]) {
    let digests: Vec<(usize, &'static str, String)> = ROLLED
        .iter()
        .filter_map(|(kind, workload, cm, annotation)| {
            let data = config_map(objects, cm)?.data.clone().unwrap_or_default();
            let index = objects
                .iter()
                .position(|o| o.object.kind() == *kind && o.object.name() == *workload)?;
            Some((index, *annotation, digest(&data)))
        })
        .collect();
    for (index, annotation, value) in digests {
        let kind = objects[index].object.kind();
        if let Some(t) = template_of(&mut objects[index].object, kind) {
            t.metadata
                .get_or_insert_with(Default::default)
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(annotation.to_string(), value);
        }
    }
}
