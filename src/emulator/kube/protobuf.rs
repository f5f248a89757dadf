//! Request bodies in the Kubernetes protobuf encoding (`Content-Type: application/vnd.kubernetes.protobuf`), which
//! client-go's typed clients (kubectl's `create namespace|secret|configmap|serviceaccount|service|deployment|job|
//! cronjob|poddisruptionbudget|priorityclass|role|clusterrole|rolebinding|clusterrolebinding`) send for built-in kinds, decoded into the JSON object
//! the store keeps. Workload pod templates are covered for the fields kubectl sets (containers with image, command,
//! args, ports, env values, resources; restart policy; tolerations...), not volumes, probes or security contexts.
//!
//! Wire format (k8s.io/apimachinery/pkg/runtime/serializer/protobuf): the 4-byte magic `k8s\0`, then a
//! `runtime.Unknown` message whose `typeMeta` carries apiVersion and kind and whose `raw` is the kind's message from
//! k8s.io/api `generated.proto`. The messages are read by descriptor (prost-reflect) from the `.proto` subsets under
//! `proto/k8s.io/`, written with the upstream field numbers and with the JSON names as field names.
//!
//! Conversion follows the Go types' JSON encoding: `metav1.Time` becomes an RFC 3339 string at second precision
//! (the zero time is left out), `bytes` map values become base64, maps get sorted keys, `FieldsV1` becomes the JSON
//! object it carries. Scalars that Go holds by value (`omitempty`) are left out when zero; those Go holds by pointer
//! and the value fields Go always writes ([`KEEP_ZERO_FIELDS`]) are kept whenever present on the wire. A kind with no message here answers 415 naming the
//! kind; a field number the subset lacks answers 415 naming the field (dropping it would be unfaithful).

use std::sync::LazyLock;

use base64::Engine;
use prost_reflect::{
    DescriptorPool, DynamicMessage, MapKey, MessageDescriptor, ReflectMessage, Value as PValue,
};
use serde_json::{Map, Value};

use super::errors::{ApiError, ApiResult};
use super::timefmt;

/// The media type of protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The prefix of every Kubernetes protobuf body.
const MAGIC: &[u8; 4] = b"k8s\0";

const META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";
const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";
const INT_OR_STRING: &str = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "k8s.io.apimachinery.pkg.api.resource.Quantity";

/// Fields kept when zero: those whose Go type is a pointer (`*bool`, `*int64`, `*string`: present on the wire means
/// set), and the few value fields whose JSON tag has no `omitempty` (k8s.io/api and apimachinery types.go).
const KEEP_ZERO_FIELDS: &[&str] = &[
    "k8s.io.api.scheduling.v1.PriorityClass.value",
    "k8s.io.api.scheduling.v1.PriorityClass.preemptionPolicy",
    "k8s.io.api.core.v1.ServicePort.port",
    "k8s.io.api.core.v1.ContainerPort.containerPort",
    "k8s.io.api.policy.v1.PodDisruptionBudgetSpec.unhealthyPodEvictionPolicy",
    "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta.deletionGracePeriodSeconds",
    "k8s.io.apimachinery.pkg.apis.meta.v1.OwnerReference.controller",
    "k8s.io.apimachinery.pkg.apis.meta.v1.OwnerReference.blockOwnerDeletion",
    "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions.gracePeriodSeconds",
    "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions.orphanDependents",
    "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions.propagationPolicy",
    "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions.ignoreStoreReadErrorWithClusterBreakingPotential",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Preconditions.uid",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Preconditions.resourceVersion",
    "k8s.io.api.core.v1.Secret.immutable",
    "k8s.io.api.core.v1.ConfigMap.immutable",
    "k8s.io.api.core.v1.ServiceAccount.automountServiceAccountToken",
    "k8s.io.api.core.v1.ServiceSpec.ipFamilyPolicy",
    "k8s.io.api.core.v1.ServiceSpec.allocateLoadBalancerNodePorts",
    "k8s.io.api.core.v1.ServiceSpec.loadBalancerClass",
    "k8s.io.api.core.v1.ServiceSpec.internalTrafficPolicy",
    "k8s.io.api.core.v1.ServiceSpec.trafficDistribution",
    "k8s.io.api.core.v1.PodSpec.terminationGracePeriodSeconds",
    "k8s.io.api.core.v1.PodSpec.activeDeadlineSeconds",
    "k8s.io.api.core.v1.PodSpec.automountServiceAccountToken",
    "k8s.io.api.core.v1.PodSpec.shareProcessNamespace",
    "k8s.io.api.core.v1.PodSpec.priority",
    "k8s.io.api.core.v1.PodSpec.runtimeClassName",
    "k8s.io.api.core.v1.PodSpec.enableServiceLinks",
    "k8s.io.api.core.v1.PodSpec.preemptionPolicy",
    "k8s.io.api.core.v1.Container.restartPolicy",
    "k8s.io.api.core.v1.Toleration.tolerationSeconds",
    "k8s.io.api.apps.v1.DeploymentSpec.replicas",
    "k8s.io.api.apps.v1.DeploymentSpec.revisionHistoryLimit",
    "k8s.io.api.apps.v1.DeploymentSpec.progressDeadlineSeconds",
    "k8s.io.api.apps.v1.DeploymentStatus.terminatingReplicas",
    "k8s.io.api.batch.v1.JobSpec.parallelism",
    "k8s.io.api.batch.v1.JobSpec.completions",
    "k8s.io.api.batch.v1.JobSpec.activeDeadlineSeconds",
    "k8s.io.api.batch.v1.JobSpec.manualSelector",
    "k8s.io.api.batch.v1.JobSpec.backoffLimit",
    "k8s.io.api.batch.v1.JobSpec.ttlSecondsAfterFinished",
    "k8s.io.api.batch.v1.JobSpec.completionMode",
    "k8s.io.api.batch.v1.JobSpec.suspend",
    "k8s.io.api.batch.v1.JobSpec.backoffLimitPerIndex",
    "k8s.io.api.batch.v1.JobSpec.maxFailedIndexes",
    "k8s.io.api.batch.v1.JobSpec.podReplacementPolicy",
    "k8s.io.api.batch.v1.JobSpec.managedBy",
    "k8s.io.api.batch.v1.JobStatus.ready",
    "k8s.io.api.batch.v1.JobStatus.terminating",
    "k8s.io.api.batch.v1.CronJobSpec.timeZone",
    "k8s.io.api.batch.v1.CronJobSpec.startingDeadlineSeconds",
    "k8s.io.api.batch.v1.CronJobSpec.suspend",
    "k8s.io.api.batch.v1.CronJobSpec.successfulJobsHistoryLimit",
    "k8s.io.api.batch.v1.CronJobSpec.failedJobsHistoryLimit",
];

/// The descriptors of every `.proto` under `proto/` (written by build.rs).
static POOL: LazyLock<Result<DescriptorPool, String>> = LazyLock::new(|| {
    DescriptorPool::decode(&include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"))[..])
        .map_err(|e| e.to_string())
});

/// Whether a `Content-Type` header names the protobuf encoding (parameters ignored).
pub fn is_protobuf(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(MEDIA_TYPE))
}

/// The protobuf package of an apiVersion's kinds: `v1` → `k8s.io.api.core.v1`, `rbac.authorization.k8s.io/v1` →
/// `k8s.io.api.rbac.v1`, `meta.k8s.io/v1` → the meta/v1 package (k8s.io/api's directory layout).
fn package_of(api_version: &str) -> String {
    match api_version.split_once('/') {
        None => format!("k8s.io.api.core.{api_version}"),
        Some(("meta.k8s.io", v)) => format!("k8s.io.apimachinery.pkg.apis.meta.{v}"),
        Some((group, v)) => {
            let short = group.split('.').next().unwrap_or(group);
            format!("k8s.io.api.{short}.{v}")
        }
    }
}

fn pool() -> ApiResult<&'static DescriptorPool> {
    POOL.as_ref()
        .map_err(|e| ApiError::internal(format!("protobuf descriptors unreadable: {e}")))
}

/// Decodes a protobuf body into the JSON object of its kind, `apiVersion` and `kind` set from the envelope.
/// Errors: 400 when the body is not a well-formed Kubernetes protobuf message; 415 when its kind, a field of it, or
/// its content encoding is not decoded by the emulator.
pub fn decode(body: &[u8]) -> ApiResult<Value> {
    let raw = body.strip_prefix(MAGIC).ok_or_else(|| {
        ApiError::bad_request(
            "provided object is not a protobuf message: the body lacks the \"k8s\\x00\" prefix",
        )
    })?;
    let pool = pool()?;
    let envelope_desc = pool
        .get_message_by_name(UNKNOWN)
        .ok_or_else(|| ApiError::internal("runtime.Unknown descriptor missing"))?;
    let envelope = DynamicMessage::decode(envelope_desc, raw)
        .map_err(|e| ApiError::bad_request(format!("error decoding protobuf envelope: {e}")))?;
    reject_unknown(&envelope, "runtime.Unknown")?;
    let text = |path: &str| {
        get_path(&envelope, path)
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    };
    let (api_version, kind) = (text("typeMeta.apiVersion"), text("typeMeta.kind"));
    if kind.is_empty() || api_version.is_empty() {
        return Err(ApiError::bad_request(
            "Object 'Kind' or 'apiVersion' is missing in the protobuf envelope",
        ));
    }
    let encoding = text("contentEncoding");
    if !encoding.is_empty() {
        return Err(ApiError::unsupported_media_type_msg(format!(
            "protobuf contentEncoding {encoding:?} is not supported by the emulator"
        )));
    }
    let inner_type = text("contentType");
    if !inner_type.is_empty() && !is_protobuf(&inner_type) {
        return Err(ApiError::unsupported_media_type_msg(format!(
            "protobuf envelope contentType {inner_type:?} is not supported by the emulator"
        )));
    }
    let desc = message_for(pool, &api_version, &kind)?;
    let payload = get_path(&envelope, "raw")
        .and_then(|v| v.as_bytes().cloned())
        .unwrap_or_default();
    let msg = DynamicMessage::decode(desc, payload).map_err(|e| {
        ApiError::bad_request(format!(
            "error decoding {api_version} {kind} from protobuf: {e}"
        ))
    })?;
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String(api_version));
    obj.insert("kind".into(), Value::String(kind.clone()));
    if let Value::Object(fields) = message_to_json(&msg, &kind)? {
        obj.extend(fields);
    }
    Ok(Value::Object(obj))
}

/// The message of a kind. Errors: 415 naming the kind when the emulator has no descriptor for it.
fn message_for(
    pool: &DescriptorPool,
    api_version: &str,
    kind: &str,
) -> ApiResult<MessageDescriptor> {
    // DeleteOptions is registered in every group version (metav1.AddToGroupVersion); its message is meta/v1's.
    let name = if kind == "DeleteOptions" {
        format!("{META}.{kind}")
    } else {
        format!("{}.{kind}", package_of(api_version))
    };
    let top_level = pool
        .get_message_by_name(&name)
        .filter(|d| d.get_field_by_name("metadata").is_some() || d.package_name() == META);
    top_level.ok_or_else(|| {
        ApiError::unsupported_media_type_msg(format!(
            "the emulator cannot decode {api_version} {kind} from {MEDIA_TYPE} (it decodes v1 Namespace, Secret, \
             ConfigMap, ServiceAccount, Service, apps/v1 Deployment, batch/v1 Job, CronJob, policy/v1 \
             PodDisruptionBudget, scheduling.k8s.io/v1 PriorityClass, rbac.authorization.k8s.io/v1 Role, ClusterRole, RoleBinding, ClusterRoleBinding and meta.k8s.io/v1 \
             DeleteOptions); send it as application/json"
        ))
    })
}

/// A field of a message by dotted path (messages only).
fn get_path<'a>(msg: &'a DynamicMessage, path: &str) -> Option<&'a PValue> {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let value = msg
        .fields()
        .find(|(f, _)| f.name() == head)
        .map(|(_, v)| v)?;
    match (rest, value) {
        (None, v) => Some(v),
        (Some(rest), PValue::Message(m)) => get_path(m, rest),
        _ => None,
    }
}

fn reject_unknown(msg: &DynamicMessage, path: &str) -> ApiResult<()> {
    match msg.unknown_fields().next() {
        Some(f) => Err(ApiError::unsupported_media_type_msg(format!(
            "field number {} of {} (at {path}) is not decoded by the emulator from {MEDIA_TYPE}; send the \
             object as application/json",
            f.number(),
            msg.descriptor().full_name()
        ))),
        None => Ok(()),
    }
}

/// A message as its Go type's JSON object (see the module doc).
fn message_to_json(msg: &DynamicMessage, path: &str) -> ApiResult<Value> {
    reject_unknown(msg, path)?;
    let mut out = Map::new();
    for (field, value) in msg.fields() {
        let name = field.name();
        let here = format!("{path}.{name}");
        let keep_zero = KEEP_ZERO_FIELDS.contains(&field.full_name());
        if let Some(v) = field_to_json(value, keep_zero, &here)? {
            out.insert(name.to_string(), v);
        }
    }
    Ok(Value::Object(out))
}

/// One field's value; `None` when Go's JSON would leave it out.
fn field_to_json(value: &PValue, keep_zero: bool, path: &str) -> ApiResult<Option<Value>> {
    Ok(match value {
        PValue::List(items) if items.is_empty() => None,
        PValue::List(items) => Some(Value::Array(
            items
                .iter()
                .map(|v| element_to_json(v, path))
                .collect::<ApiResult<_>>()?,
        )),
        PValue::Map(entries) if entries.is_empty() => None,
        PValue::Map(entries) => {
            let mut sorted: Vec<_> = entries.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            let mut out = Map::new();
            for (k, v) in sorted {
                let key = match k {
                    MapKey::String(s) => s.clone(),
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "unexpected map key {other:?} at {path}"
                        )))
                    }
                };
                out.insert(key, element_to_json(v, path)?);
            }
            Some(Value::Object(out))
        }
        PValue::Message(m) if is_meta(m, "Time") => time_to_json(m, path)?,
        scalar if !keep_zero && is_zero(scalar) => None,
        other => Some(element_to_json(other, path)?),
    })
}

/// A value inside a list or map, or a present scalar: always rendered (`""` stays `""`, e.g. the core API group
/// in a PolicyRule's apiGroups).
fn element_to_json(value: &PValue, path: &str) -> ApiResult<Value> {
    Ok(match value {
        PValue::Bool(b) => Value::Bool(*b),
        PValue::I32(n) => Value::from(*n),
        PValue::I64(n) => Value::from(*n),
        PValue::U32(n) => Value::from(*n),
        PValue::U64(n) => Value::from(*n),
        PValue::F32(n) => Value::from(f64::from(*n)),
        PValue::F64(n) => Value::from(*n),
        PValue::String(s) => Value::String(s.clone()),
        PValue::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        PValue::Message(m) if is_meta(m, "FieldsV1") => fields_v1_to_json(m, path)?,
        PValue::Message(m) if is_meta(m, "Time") => time_to_json(m, path)?.unwrap_or(Value::Null),
        PValue::Message(m) if m.descriptor().full_name() == INT_OR_STRING => {
            int_or_string_to_json(m, path)?
        }
        PValue::Message(m) if m.descriptor().full_name() == QUANTITY => {
            reject_unknown(m, path)?;
            get_path(m, "string")
                .and_then(PValue::as_str)
                .map(|q| Value::String(q.to_string()))
                .unwrap_or(Value::Null)
        }
        PValue::Message(m) => message_to_json(m, path)?,
        PValue::EnumNumber(_) | PValue::List(_) | PValue::Map(_) => {
            return Err(ApiError::bad_request(format!(
                "unexpected protobuf value at {path}"
            )))
        }
    })
}

/// Whether `m` is the meta/v1 message `name`.
fn is_meta(m: &DynamicMessage, name: &str) -> bool {
    let d = m.descriptor();
    d.package_name() == META && d.name() == name
}

fn is_zero(v: &PValue) -> bool {
    match v {
        PValue::Bool(b) => !b,
        PValue::I32(n) => *n == 0,
        PValue::I64(n) => *n == 0,
        PValue::U32(n) => *n == 0,
        PValue::U64(n) => *n == 0,
        PValue::F32(n) => *n == 0.0,
        PValue::F64(n) => *n == 0.0,
        PValue::String(s) => s.is_empty(),
        PValue::Bytes(b) => b.is_empty(),
        _ => false,
    }
}

/// `metav1.Time` (seconds, nanos): RFC 3339 at second precision; `None` for the zero time (Go's `null`).
fn time_to_json(m: &DynamicMessage, path: &str) -> ApiResult<Option<Value>> {
    reject_unknown(m, path)?;
    let seconds = get_path(m, "seconds").and_then(PValue::as_i64).unwrap_or(0);
    let nanos = get_path(m, "nanos").and_then(PValue::as_i32).unwrap_or(0);
    if seconds == 0 && nanos == 0 {
        return Ok(None);
    }
    let secs = u64::try_from(seconds).map_err(|_| {
        ApiError::bad_request(format!("time before 1970 at {path} is not supported"))
    })?;
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    Ok(Some(Value::String(timefmt::rfc3339(t))))
}

/// `intstr.IntOrString`: type 0 is `intVal` as a JSON number, type 1 `strVal` as a string.
fn int_or_string_to_json(m: &DynamicMessage, path: &str) -> ApiResult<Value> {
    reject_unknown(m, path)?;
    match get_path(m, "type").and_then(PValue::as_i64).unwrap_or(0) {
        0 => Ok(Value::from(
            get_path(m, "intVal").and_then(PValue::as_i32).unwrap_or(0),
        )),
        1 => Ok(Value::String(
            get_path(m, "strVal")
                .and_then(PValue::as_str)
                .unwrap_or_default()
                .to_string(),
        )),
        t => Err(ApiError::bad_request(format!(
            "invalid IntOrString type {t} at {path}"
        ))),
    }
}

/// `metav1.FieldsV1`: its `Raw` bytes are the JSON of the field set.
fn fields_v1_to_json(m: &DynamicMessage, path: &str) -> ApiResult<Value> {
    reject_unknown(m, path)?;
    let raw = get_path(m, "Raw")
        .and_then(PValue::as_bytes)
        .cloned()
        .unwrap_or_default();
    if raw.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(&raw)
        .map_err(|e| ApiError::bad_request(format!("invalid FieldsV1 JSON at {path}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::k8s::io::api::core::v1 as core;
    use crate::proto::k8s::io::apimachinery::pkg::apis::meta::v1 as meta;
    use crate::proto::k8s::io::apimachinery::pkg::runtime;
    use prost::Message;
    use serde_json::json;

    /// A body as client-go's protobuf serializer writes it.
    fn body(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let unknown = runtime::Unknown {
            type_meta: Some(runtime::TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        let mut out = MAGIC.to_vec();
        out.extend(unknown.encode_to_vec());
        out
    }

    /// ObjectMeta as gogo-protobuf marshals it: value fields always written (empty strings, zero Time).
    fn meta(name: &str, namespace: &str) -> meta::ObjectMeta {
        meta::ObjectMeta {
            name: Some(name.into()),
            generate_name: Some(String::new()),
            namespace: Some(namespace.into()),
            self_link: Some(String::new()),
            uid: Some(String::new()),
            resource_version: Some(String::new()),
            generation: Some(0),
            creation_timestamp: Some(meta::Time {
                seconds: Some(0),
                nanos: Some(0),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn secret_with_full_metadata_becomes_its_json() {
        let mut m = meta("", "team-a");
        m.generate_name = Some("creds-".into());
        m.labels = [("app".to_string(), "web".to_string())].into();
        m.annotations = [
            ("b".to_string(), "2".to_string()),
            ("a".to_string(), "1".to_string()),
        ]
        .into();
        m.finalizers = vec!["example.com/keep".into()];
        m.owner_references = vec![meta::OwnerReference {
            api_version: Some("apps/v1".into()),
            kind: Some("Deployment".into()),
            name: Some("web".into()),
            uid: Some("u-1".into()),
            controller: Some(false),
            block_owner_deletion: None,
        }];
        m.deletion_grace_period_seconds = Some(0);
        let secret = core::Secret {
            metadata: Some(m),
            immutable: None,
            data: [("a".to_string(), b"b\xff".to_vec())].into(),
            string_data: Default::default(),
            r#type: Some("Opaque".into()),
        };
        let got = decode(&body("v1", "Secret", secret.encode_to_vec())).unwrap();
        assert_eq!(
            got,
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "generateName": "creds-",
                    "namespace": "team-a",
                    "deletionGracePeriodSeconds": 0,
                    "labels": {"app": "web"},
                    "annotations": {"a": "1", "b": "2"},
                    "ownerReferences": [{
                        "kind": "Deployment", "name": "web", "uid": "u-1", "apiVersion": "apps/v1",
                        "controller": false
                    }],
                    "finalizers": ["example.com/keep"]
                },
                "data": {"a": "Yv8="},
                "type": "Opaque"
            })
        );
    }

    #[test]
    fn configmap_binary_data_timestamps_and_pointer_bools() {
        let mut m = meta("cm", "default");
        m.creation_timestamp = Some(meta::Time {
            seconds: Some(1_700_000_000),
            nanos: Some(5),
        });
        let cm = core::ConfigMap {
            metadata: Some(m),
            data: [("k".to_string(), String::new())].into(),
            binary_data: [("bin".to_string(), vec![0, 1, 2])].into(),
            immutable: Some(false),
        };
        let got = decode(&body("v1", "ConfigMap", cm.encode_to_vec())).unwrap();
        assert_eq!(got["metadata"]["creationTimestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(got["data"], json!({"k": ""}));
        assert_eq!(got["binaryData"], json!({"bin": "AAEC"}));
        assert_eq!(got["immutable"], json!(false));
    }

    #[test]
    fn rbac_keeps_the_core_group_as_an_empty_string() {
        use crate::proto::k8s::io::api::rbac::v1 as rbac;
        let role = rbac::Role {
            metadata: Some(meta("r", "default")),
            rules: vec![rbac::PolicyRule {
                verbs: vec!["get".into()],
                api_groups: vec![String::new()],
                resources: vec!["pods".into()],
                ..Default::default()
            }],
        };
        let got = decode(&body(
            "rbac.authorization.k8s.io/v1",
            "Role",
            role.encode_to_vec(),
        ))
        .unwrap();
        assert_eq!(
            got["rules"],
            json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}])
        );
        assert_eq!(got["apiVersion"], "rbac.authorization.k8s.io/v1");
    }

    #[test]
    fn quantities_and_int_or_strings() {
        use crate::proto::k8s::io::apimachinery::pkg::api::resource::Quantity;
        use crate::proto::k8s::io::apimachinery::pkg::util::intstr::IntOrString;
        let q = |s: &str| Quantity {
            string: Some(s.into()),
        };
        let pod = core::PodTemplateSpec {
            metadata: Some(meta("", "")),
            spec: Some(core::PodSpec {
                containers: vec![core::Container {
                    name: Some("app".into()),
                    resources: Some(core::ResourceRequirements {
                        limits: [("cpu".to_string(), q("500m"))].into(),
                        requests: [("memory".to_string(), q("64Mi"))].into(),
                    }),
                    ..Default::default()
                }],
                termination_grace_period_seconds: Some(0),
                ..Default::default()
            }),
        };
        let svc = core::Service {
            metadata: Some(meta("s", "default")),
            spec: Some(core::ServiceSpec {
                ports: vec![core::ServicePort {
                    port: Some(80),
                    target_port: Some(IntOrString {
                        r#type: Some(0),
                        int_val: Some(0),
                        str_val: Some(String::new()),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: None,
        };
        let got = decode(&body("v1", "Service", svc.encode_to_vec())).unwrap();
        assert_eq!(got["spec"]["ports"], json!([{"port": 80, "targetPort": 0}]));
        let dep = crate::proto::k8s::io::api::apps::v1::Deployment {
            metadata: Some(meta("d", "default")),
            spec: Some(crate::proto::k8s::io::api::apps::v1::DeploymentSpec {
                template: Some(pod),
                ..Default::default()
            }),
            status: None,
        };
        let got = decode(&body("apps/v1", "Deployment", dep.encode_to_vec())).unwrap();
        let spec = &got["spec"]["template"]["spec"];
        assert_eq!(
            spec["containers"][0]["resources"],
            json!({"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi"}})
        );
        assert_eq!(spec["terminationGracePeriodSeconds"], 0);
    }

    #[test]
    fn delete_options_from_any_group_version() {
        let opts = meta::DeleteOptions {
            propagation_policy: Some("Foreground".into()),
            preconditions: Some(meta::Preconditions {
                uid: Some("u-1".into()),
                resource_version: None,
            }),
            ..Default::default()
        };
        let got = decode(&body("v1", "DeleteOptions", opts.encode_to_vec())).unwrap();
        assert_eq!(got["propagationPolicy"], "Foreground");
        assert_eq!(got["preconditions"], json!({"uid": "u-1"}));
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused_not_dropped() {
        let mut raw = core::Namespace {
            metadata: Some(meta("ns", "")),
            ..Default::default()
        }
        .encode_to_vec();
        // Field 99, wire type 2 (length-delimited), one byte.
        raw.extend([0x9a, 0x06, 0x01, b'x']);
        let e = decode(&body("v1", "Namespace", raw)).unwrap_err();
        assert_eq!(e.code, 415);
        assert!(
            e.message
                .contains("field number 99 of k8s.io.api.core.v1.Namespace"),
            "{}",
            e.message
        );
        // An unknown field inside ObjectMeta (number 16 is not used upstream either).
        let mut m = meta::ObjectMeta::default().encode_to_vec();
        m.extend([0x82, 0x01, 0x00]);
        let mut raw = vec![0x0a, m.len() as u8];
        raw.extend(m);
        let e = decode(&body("v1", "ConfigMap", raw)).unwrap_err();
        assert!(
            e.message.contains("ObjectMeta (at ConfigMap.metadata)"),
            "{}",
            e.message
        );

        let e = decode(&body("networking.k8s.io/v1", "Ingress", vec![])).unwrap_err();
        assert_eq!(e.code, 415);
        assert!(
            e.message.contains("networking.k8s.io/v1 Ingress"),
            "{}",
            e.message
        );
        let e = decode(&body("v1", "ObjectReference", vec![])).unwrap_err();
        assert_eq!(e.code, 415, "{}", e.message);
    }

    #[test]
    fn malformed_bodies_are_bad_requests() {
        assert_eq!(decode(b"{\"kind\":\"Namespace\"}").unwrap_err().code, 400);
        let mut truncated = body("v1", "Namespace", vec![0x0a, 0x05, 0x0a]);
        assert_eq!(decode(&truncated).unwrap_err().code, 400);
        truncated.truncate(6);
        assert_eq!(decode(&truncated).unwrap_err().code, 400);
        assert_eq!(decode(&body("", "", vec![])).unwrap_err().code, 400);
        assert!(is_protobuf("application/vnd.kubernetes.protobuf"));
        assert!(is_protobuf(
            "Application/vnd.kubernetes.protobuf; charset=x"
        ));
        assert!(!is_protobuf("application/json"));
    }
}
