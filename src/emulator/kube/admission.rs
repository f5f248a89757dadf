//! Validation and defaulting done by the API server on every write (the "strategy" of each built-in kind in
//! k8s.io/kubernetes/pkg/registry and apiextensions-apiserver), limited to what the project's objects exercise:
//! object names, namespace existence and termination, Namespace/Secret/Service/workload/CRD rules and defaults.

use std::collections::BTreeSet;

use base64::Engine;
use serde_json::{json, Value};

use super::apply::Scope;
use super::errors::{ApiError, ApiResult};
use super::registry::ResourceType;
use super::store::{GroupResource, Store};
use super::verbs::{self, Managed};
use super::{timefmt, Inner};

type FieldErrors = Vec<(String, String, String)>;

fn err(field: &str, typ: &str, msg: String) -> (String, String, String) {
    (field.to_string(), typ.to_string(), msg)
}

fn invalid(rt: &ResourceType, obj: &Value, errors: FieldErrors) -> ApiResult<()> {
    if errors.is_empty() {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Err(ApiError::invalid(&rt.kind, &rt.group, name, &errors))
}

/// RFC 1123 DNS subdomain (`metadata.name` of most kinds).
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(|l| is_dns_label_loose(l, 253))
}

fn is_dns_label_loose(l: &str, max: usize) -> bool {
    !l.is_empty()
        && l.len() <= max
        && l.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !l.starts_with('-')
        && !l.ends_with('-')
}

/// RFC 1123 DNS label (Namespace and Service names).
pub fn is_dns_label(s: &str) -> bool {
    is_dns_label_loose(s, 63)
}

fn check_name(rt: &ResourceType, name: &str) -> Option<(String, String, String)> {
    let (ok, what) = match rt.resource.as_str() {
        "namespaces" | "services" => (is_dns_label(name), "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"),
        "roles" | "rolebindings" | "clusterroles" | "clusterrolebindings" => (
            !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('%'),
            "may not contain '/' or '%' and may not be '.' or '..'",
        ),
        _ => (is_dns_subdomain(name), "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
    };
    (!ok).then(|| {
        err(
            "metadata.name",
            "FieldValueInvalid",
            format!("Invalid value: \"{name}\": {what}"),
        )
    })
}

/// Validates and defaults `new` (replacing `old` when Some) in place.
pub fn admit(st: &Store, rt: &ResourceType, old: Option<&Value>, new: &mut Value) -> ApiResult<()> {
    let name = new
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if old.is_none() {
        if let Some(e) = check_name(rt, &name) {
            return invalid(rt, new, vec![e]);
        }
        if rt.namespaced {
            let ns = new
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            match st.get(&GroupResource::new("", "namespaces"), "", &ns) {
                None => return Err(ApiError::not_found("", "namespaces", &ns)),
                Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => {
                    return Err(ApiError::forbidden(format!(
                        "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                        verbs::qualified_name(rt)
                    )))
                }
                _ => {}
            }
        }
    }
    check_labels(rt, new)?;
    match (rt.group.as_str(), rt.resource.as_str()) {
        ("", "namespaces") => namespace(new, old),
        ("", "secrets") => secret(rt, new, old)?,
        ("", "services") => service(st, rt, new, old)?,
        ("apps", "deployments" | "daemonsets" | "statefulsets") => workload(rt, new, old)?,
        ("batch", "cronjobs") => cronjob(new),
        ("apiextensions.k8s.io", "customresourcedefinitions") => crd(rt, new, old)?,
        _ => {}
    }
    Ok(())
}

fn check_labels(rt: &ResourceType, obj: &Value) -> ApiResult<()> {
    let mut errors = vec![];
    if let Some(l) = obj.pointer("/metadata/labels") {
        match l.as_object() {
            Some(m) => {
                for (k, v) in m {
                    let ok_value = v.as_str().is_some_and(|s| {
                        s.len() <= 63
                            && s.bytes().all(|b| {
                                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
                            })
                            && (s.is_empty()
                                || (s.as_bytes()[0].is_ascii_alphanumeric()
                                    && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()))
                    });
                    if !ok_value {
                        errors.push(err("metadata.labels", "FieldValueInvalid", format!("Invalid value: {v}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")));
                    }
                    let (prefix, nm) = k
                        .rsplit_once('/')
                        .map(|(p, n)| (Some(p), n))
                        .unwrap_or((None, k));
                    let ok_key = !nm.is_empty()
                        && nm.len() <= 63
                        && nm
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                        && prefix.is_none_or(is_dns_subdomain);
                    if !ok_key {
                        errors.push(err("metadata.labels", "FieldValueInvalid", format!("Invalid value: \"{k}\": name part must consist of alphanumeric characters, '-', '_' or '.'")));
                    }
                }
            }
            None if l.is_null() => {}
            None => errors.push(err(
                "metadata.labels",
                "FieldValueInvalid",
                "Invalid value: must be a map of strings".into(),
            )),
        }
    }
    invalid(rt, obj, errors)
}

fn namespace(new: &mut Value, old: Option<&Value>) {
    let name = new.pointer("/metadata/name").cloned().unwrap_or(json!(""));
    new["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
    if new.pointer("/spec/finalizers").is_none() {
        new["spec"]["finalizers"] = json!(["kubernetes"]);
    }
    if old.is_none() {
        new["status"] = json!({"phase": "Active"});
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Decodes standard padded base64 as Go's `base64.StdEncoding` does (encoding/base64/base64.go@go1.23): `\r` and
/// `\n` anywhere are skipped. On error, the offset in `s` Go reports (`CorruptInputError`): the offending byte,
/// or the start of an incomplete final quantum.
pub fn decode_go_base64(s: &str) -> Result<Vec<u8>, usize> {
    let (kept, index): (Vec<u8>, Vec<usize>) = s
        .bytes()
        .enumerate()
        .filter(|(_, b)| *b != b'\r' && *b != b'\n')
        .map(|(i, b)| (b, i))
        .unzip();
    let orig = |i: usize| index.get(i).copied().unwrap_or(s.len());
    use base64::DecodeError as E;
    // Go's StdEncoding (not Strict) accepts non-zero trailing bits.
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    engine.decode(&kept).map_err(|e| match e {
        E::InvalidByte(i, _) | E::InvalidLastSymbol(i, _) => orig(i),
        // An incomplete final quantum: Go reports len(s) minus the characters read of it.
        _ if kept.len() % 4 != 0 => s.len() - kept.len() % 4,
        E::InvalidLength(n) => orig(n),
        E::InvalidPadding => orig(kept.iter().position(|b| *b == b'=').unwrap_or(0)),
    })
}

fn secret(rt: &ResourceType, new: &mut Value, old: Option<&Value>) -> ApiResult<()> {
    let mut errors = vec![];
    if let Some(sd) = new.get("stringData").and_then(Value::as_object).cloned() {
        for (k, v) in sd {
            let s = v.as_str().unwrap_or_default();
            new["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(s));
        }
    }
    if let Some(m) = new.as_object_mut() {
        m.remove("stringData");
    }
    // Secret data is map[string][]byte: the JSON decoder reads each value with Go's encoding/base64, which skips
    // \r and \n (wrapped values, as kustomize writes them, are accepted and stored re-encoded on one line) and
    // refuses anything else with "illegal base64 data at input byte N", answered 400 as "<Kind> in version
    // \"<v>\" cannot be handled as a <Kind>: ..." (k8s.io/apiserver/pkg/endpoints/handlers/rest.go@v0.32.0
    // transformDecodeError).
    if let Some(d) = new.get_mut("data").and_then(Value::as_object_mut) {
        for v in d.values_mut() {
            let Some(s) = v.as_str() else {
                return Err(ApiError::bad_request(format!(
                    "{} in version \"v1\" cannot be handled as a {}: json: cannot unmarshal {} into Go struct field {}.data of type []uint8",
                    rt.kind, rt.kind, json_type(v), rt.kind
                )));
            };
            match decode_go_base64(s) {
                Ok(bytes) => *v = json!(base64::engine::general_purpose::STANDARD.encode(bytes)),
                Err(at) => {
                    return Err(ApiError::bad_request(format!(
                        "{} in version \"v1\" cannot be handled as a {}: illegal base64 data at input byte {at}",
                        rt.kind, rt.kind
                    )))
                }
            }
        }
    }
    if new.get("type").is_none_or(Value::is_null) {
        new["type"] = json!("Opaque");
    }
    if let Some(o) = old {
        if o.get("immutable") == Some(&json!(true))
            && (o.get("data") != new.get("data") || o.get("immutable") != new.get("immutable"))
        {
            errors.push(err(
                "data",
                "FieldValueForbidden",
                "Forbidden: field is immutable when `immutable` is set".into(),
            ));
        }
        if o.get("type") != new.get("type") {
            errors.push(err(
                "type",
                "FieldValueInvalid",
                format!("Invalid value: {}: field is immutable", new["type"]),
            ));
        }
    }
    invalid(rt, new, errors)
}

fn service(st: &Store, rt: &ResourceType, new: &mut Value, old: Option<&Value>) -> ApiResult<()> {
    let spec = &mut new["spec"];
    if !spec.is_object() {
        *spec = json!({});
    }
    let typ = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if !matches!(
        typ.as_str(),
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName"
    ) {
        let e = err("spec.type", "FieldValueNotSupported", format!("Unsupported value: \"{typ}\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""));
        return invalid(rt, new, vec![e]);
    }
    spec["type"] = json!(typ);
    if typ == "ExternalName" {
        return Ok(());
    }
    if spec.get("sessionAffinity").is_none() {
        spec["sessionAffinity"] = json!("None");
    }
    let old_ip = old.and_then(|o| o.pointer("/spec/clusterIP")).cloned();
    let asked = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let ip = match (&old_ip, asked.as_str()) {
        (Some(o), "") => o.as_str().unwrap_or_default().to_string(),
        (Some(o), a) if o.as_str() != Some(a) => {
            let e = err(
                "spec.clusterIPs[0]",
                "FieldValueInvalid",
                format!("Invalid value: []string{{\"{a}\"}}: may not change once set"),
            );
            return invalid(rt, new, vec![e]);
        }
        (_, "") => allocate_cluster_ip(st),
        (_, a) => a.to_string(),
    };
    let spec = &mut new["spec"];
    spec["clusterIP"] = json!(ip);
    spec["clusterIPs"] = json!([ip]);
    if ip != "None" {
        spec["ipFamilies"] = json!(["IPv4"]);
        if spec.get("ipFamilyPolicy").is_none() {
            spec["ipFamilyPolicy"] = json!("SingleStack");
        }
    }
    if spec.get("internalTrafficPolicy").is_none() {
        spec["internalTrafficPolicy"] = json!("Cluster");
    }
    let external = typ == "NodePort" || typ == "LoadBalancer";
    if external && spec.get("externalTrafficPolicy").is_none() {
        spec["externalTrafficPolicy"] = json!("Cluster");
    }
    if typ == "LoadBalancer" && spec.get("allocateLoadBalancerNodePorts").is_none() {
        spec["allocateLoadBalancerNodePorts"] = json!(true);
    }
    let used = used_node_ports(st);
    let old_ports = old
        .and_then(|o| o.pointer("/spec/ports"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut next = 30000u64;
    if let Some(ports) = new["spec"]["ports"].as_array_mut() {
        for p in ports.iter_mut() {
            if p.get("protocol").is_none() {
                p["protocol"] = json!("TCP");
            }
            if p.get("targetPort").is_none() {
                p["targetPort"] = p.get("port").cloned().unwrap_or(json!(0));
            }
            if external && p.get("nodePort").is_none() {
                let reuse = old_ports
                    .iter()
                    .find(|o| o.get("port") == p.get("port"))
                    .and_then(|o| o.get("nodePort"))
                    .cloned();
                let np = reuse.unwrap_or_else(|| {
                    while used.contains(&next) {
                        next += 1;
                    }
                    next += 1;
                    json!(next - 1)
                });
                p["nodePort"] = np;
            }
        }
    }
    if old.is_none() {
        new["status"] = json!({"loadBalancer": {}});
    }
    Ok(())
}

fn allocate_cluster_ip(st: &Store) -> String {
    let used: BTreeSet<String> = st
        .list(&GroupResource::new("", "services"), None)
        .iter()
        .filter_map(|s| {
            s.pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .collect();
    // Service CIDR 10.96.0.0/12; .1 is the `kubernetes` Service.
    (1u32..(1 << 20))
        .map(|n| std::net::Ipv4Addr::from(0x0a60_0000u32 + n).to_string())
        .find(|ip| !used.contains(ip))
        .unwrap_or_else(|| "None".into())
}

fn used_node_ports(st: &Store) -> BTreeSet<u64> {
    st.list(&GroupResource::new("", "services"), None)
        .iter()
        .flat_map(|s| {
            s.pointer("/spec/ports")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
        .collect()
}

fn workload(rt: &ResourceType, new: &mut Value, old: Option<&Value>) -> ApiResult<()> {
    let mut errors = vec![];
    let sel = new.pointer("/spec/selector").cloned();
    match super::selectors::LabelSelector::from_object(sel.as_ref()) {
        None => errors.push(err(
            "spec.selector",
            "FieldValueRequired",
            "Required value".into(),
        )),
        Some(s) => {
            if sel
                .as_ref()
                .is_some_and(|s| s.as_object().is_some_and(|m| m.is_empty()))
            {
                errors.push(err("spec.selector", "FieldValueInvalid", "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment".into()));
            } else if !s.matches(new.pointer("/spec/template/metadata/labels")) {
                errors.push(err(
                    "spec.template.metadata.labels",
                    "FieldValueInvalid",
                    format!(
                        "Invalid value: {}: `selector` does not match template `labels`",
                        new.pointer("/spec/template/metadata/labels")
                            .cloned()
                            .unwrap_or(json!({}))
                    ),
                ));
            }
        }
    }
    if new
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        errors.push(err(
            "spec.template.spec.containers",
            "FieldValueRequired",
            "Required value".into(),
        ));
    }
    if let Some(o) = old {
        if o.pointer("/spec/selector") != new.pointer("/spec/selector") {
            errors.push(err(
                "spec.selector",
                "FieldValueInvalid",
                format!(
                    "Invalid value: {}: field is immutable",
                    new.pointer("/spec/selector")
                        .cloned()
                        .unwrap_or(Value::Null)
                ),
            ));
        }
    }
    invalid(rt, new, errors)?;
    let spec = &mut new["spec"];
    match rt.resource.as_str() {
        "deployments" => {
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "progressDeadlineSeconds", json!(600));
            default(
                spec,
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
        }
        "statefulsets" => {
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "podManagementPolicy", json!("OrderedReady"));
            default(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
        }
        _ => {
            default(spec, "revisionHistoryLimit", json!(10));
            default(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
            );
        }
    }
    Ok(())
}

/// CronJob defaults (k8s.io/kubernetes pkg/apis/batch/v1/defaults.go@v1.32.0 `SetDefaults_CronJob`).
fn cronjob(new: &mut Value) {
    let spec = &mut new["spec"];
    default(spec, "concurrencyPolicy", json!("Allow"));
    default(spec, "suspend", json!(false));
    default(spec, "successfulJobsHistoryLimit", json!(3));
    default(spec, "failedJobsHistoryLimit", json!(1));
}

fn default(obj: &mut Value, key: &str, v: Value) {
    if obj.get(key).is_none_or(Value::is_null) {
        obj[key] = v;
    }
}

fn crd(rt: &ResourceType, new: &mut Value, old: Option<&Value>) -> ApiResult<()> {
    let mut errors = vec![];
    let s = |p: &str| {
        new.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (name, group, plural, kind, scope) = (
        s("/metadata/name"),
        s("/spec/group"),
        s("/spec/names/plural"),
        s("/spec/names/kind"),
        s("/spec/scope"),
    );
    if group.is_empty() {
        errors.push(err(
            "spec.group",
            "FieldValueRequired",
            "Required value".into(),
        ));
    } else if !group.contains('.') {
        errors.push(err(
            "spec.group",
            "FieldValueInvalid",
            format!("Invalid value: \"{group}\": should be a domain with at least one dot"),
        ));
    }
    if plural.is_empty() {
        errors.push(err(
            "spec.names.plural",
            "FieldValueRequired",
            "Required value".into(),
        ));
    }
    if kind.is_empty() {
        errors.push(err(
            "spec.names.kind",
            "FieldValueRequired",
            "Required value".into(),
        ));
    }
    if name != format!("{plural}.{group}") {
        errors.push(err(
            "metadata.name",
            "FieldValueInvalid",
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    if !matches!(scope.as_str(), "Namespaced" | "Cluster") {
        errors.push(err(
            "spec.scope",
            "FieldValueNotSupported",
            format!(
                "Unsupported value: \"{scope}\": supported values: \"Cluster\", \"Namespaced\""
            ),
        ));
    }
    let versions = new
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        errors.push(err(
            "spec.versions",
            "FieldValueInvalid",
            "Invalid value: null: must have exactly one version marked as storage version".into(),
        ));
    } else if versions.iter().filter(|v| v["storage"] == true).count() != 1 {
        errors.push(err(
            "spec.versions",
            "FieldValueInvalid",
            format!(
                "Invalid value: {}: must have exactly one version marked as storage version",
                json!(versions)
            ),
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        if v.pointer("/schema/openAPIV3Schema").is_none() {
            errors.push(err(
                &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                "FieldValueRequired",
                "Required value: schemas are required".into(),
            ));
        }
    }
    if let Some(o) = old {
        if o.pointer("/spec/scope") != new.pointer("/spec/scope") {
            errors.push(err(
                "spec.scope",
                "FieldValueInvalid",
                format!("Invalid value: \"{scope}\": field is immutable"),
            ));
        }
    }
    invalid(rt, new, errors)?;
    if new.pointer("/spec/names/singular").is_none() {
        new["spec"]["names"]["singular"] = json!(kind.to_lowercase());
    }
    if new.pointer("/spec/names/listKind").is_none() {
        new["spec"]["names"]["listKind"] = json!(format!("{kind}List"));
    }
    let storage = versions
        .iter()
        .find(|v| v["storage"] == true)
        .and_then(|v| v["name"].as_str())
        .unwrap_or_default()
        .to_string();
    let mut stored: Vec<Value> = old
        .and_then(|o| o.pointer("/status/storedVersions"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !stored.contains(&json!(storage)) {
        stored.push(json!(storage));
    }
    let now = timefmt::now();
    let since = |t: &str| {
        old.and_then(|o| o.pointer("/status/conditions"))
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c["type"] == t))
            .and_then(|c| c.get("lastTransitionTime"))
            .cloned()
            .unwrap_or(json!(now))
    };
    new["status"] = json!({
        "acceptedNames": new["spec"]["names"].clone(),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": since("NamesAccepted")},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": since("Established")},
        ],
        "storedVersions": stored,
    });
    if old.is_none() {
        let mut fins = verbs::finalizers(new);
        if !fins
            .iter()
            .any(|f| f == "customresourcecleanup.apiextensions.k8s.io")
        {
            fins.push("customresourcecleanup.apiextensions.k8s.io".into());
        }
        new["metadata"]["finalizers"] = json!(fins);
    }
    Ok(())
}

/// Creates what a fresh API server has: namespaces default, kube-system, kube-public, kube-node-lease and the
/// `kubernetes` Service (10.96.0.1:443). Existing objects (a loaded state) are left alone.
pub fn bootstrap(inner: &Inner) {
    let mut st = inner.lock();
    let types = st.types();
    let ns_rt = types.iter().find(|t| t.resource == "namespaces");
    let svc_rt = types.iter().find(|t| t.resource == "services");
    if let Some(rt) = ns_rt {
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            if st
                .get(&GroupResource::new("", "namespaces"), "", ns)
                .is_none()
            {
                let obj = json!({"metadata": {"name": ns}});
                let _ = verbs::commit(
                    &mut st,
                    rt,
                    "v1",
                    None,
                    obj,
                    Scope::Main {
                        status_ignored: true,
                    },
                    Managed::Update("kube-apiserver"),
                    false,
                );
            }
        }
    }
    if let Some(rt) = svc_rt {
        if st
            .get(&GroupResource::new("", "services"), "default", "kubernetes")
            .is_none()
        {
            let obj = json!({"metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}});
            let _ = verbs::commit(
                &mut st,
                rt,
                "v1",
                None,
                obj,
                Scope::Main {
                    status_ignored: true,
                },
                Managed::Update("kube-apiserver"),
                false,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    /// Go encoding/base64 (StdEncoding): newlines skipped, trailing bits ignored, CorruptInputError offsets.
    #[test]
    fn secret_data_decodes_as_go_base64() {
        use super::decode_go_base64 as d;
        assert_eq!(d("aGVs\nbG8=\r\n"), Ok(b"hello".to_vec()));
        assert_eq!(d("YR=="), Ok(b"a".to_vec()));
        assert_eq!(d("a!b="), Err(1));
        assert_eq!(d("aGVsbG8"), Err(4));
    }
}
