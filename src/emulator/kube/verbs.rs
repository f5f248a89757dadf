//! The verbs on objects: get, list, create, update, patch (incl. server-side apply), delete and
//! deletecollection, with the API server's checks and answers (k8s.io/apiserver/pkg/endpoints/handlers and
//! pkg/registry/generic/registry).

use serde_json::{json, Value};

use super::admission;
use super::apply::{self, Scope};
use super::errors::{qualified, success_status, ApiError, ApiResult};
use super::fields::Shape;
use super::handlers::{new_uid, Query, Target};
use super::patch::{apply_patch, PatchType};
use super::protobuf;
use super::registry::ResourceType;
use super::schema;
use super::selectors::{FieldSelector, LabelSelector};
use super::store::{GroupResource, Store};
use super::{timefmt, Inner};

/// Request context the verbs need.
pub struct Ctx {
    pub user_agent: String,
    pub content_type: String,
    pub query: Query,
}

impl Ctx {
    /// The field manager of an Update: `fieldManager`, else the User-Agent's program name (upstream
    /// `prefixFromUserAgent`).
    pub fn manager(&self) -> String {
        match self.query.get("fieldManager") {
            Some(m) if !m.is_empty() => m.clone(),
            _ => {
                let p = self.user_agent.split('/').next().unwrap_or_default();
                if p.is_empty() {
                    "unknown".into()
                } else {
                    p.chars().take(128).collect()
                }
            }
        }
    }

    pub fn dry_run(&self) -> bool {
        self.query.get("dryRun").is_some_and(|v| v == "All")
    }

    /// Write options of this request.
    pub fn write_opts(&self) -> WriteOpts {
        WriteOpts {
            dry_run: self.dry_run(),
            strict: self
                .query
                .get("fieldValidation")
                .is_some_and(|v| v == "Strict"),
        }
    }
}

/// Options of a write: `dry_run` (`dryRun=All`: nothing stored) and `strict` (`fieldValidation=Strict`:
/// undeclared fields of custom resources are refused instead of pruned).
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOpts {
    pub dry_run: bool,
    pub strict: bool,
}

impl From<bool> for WriteOpts {
    fn from(dry_run: bool) -> Self {
        WriteOpts {
            dry_run,
            strict: false,
        }
    }
}

/// The `openAPIV3Schema` of a CRD version.
pub fn crd_schema<'a>(crd: &'a Value, version: &str) -> Option<&'a Value> {
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v["name"] == version)?
        .pointer("/schema/openAPIV3Schema")
}

/// How an object's managedFields are maintained by [`commit`].
pub enum Managed<'a> {
    /// An Update operation by this manager.
    Update(&'a str),
    /// Already computed (server-side apply).
    Done,
}

/// GroupResource of a type.
pub fn gr(rt: &ResourceType) -> GroupResource {
    GroupResource::new(&rt.group, &rt.resource)
}

/// A built-in kind's upstream definition ([`super::k8s_schemas`]), else the field-name rules.
fn builtin_shape(rt: &ResourceType, version: &str) -> Shape<'static> {
    super::k8s_schemas::global()
        .and_then(|doc| {
            super::k8s_schemas::kind_def(doc, &rt.group, version, &rt.kind)
                .map(|def| Shape::typed(def, doc.get("$defs")))
        })
        .unwrap_or_else(Shape::builtin)
}

/// The shape of a type at `version`, for server-side apply, managedFields and strategic merge patches: a built-in
/// kind's upstream definition ([`super::k8s_schemas`]: list types and keys, map types, patch strategies and merge
/// keys), else the field-name rules; a CRD's schema (strategic merge patches of custom resources are refused
/// before they get here).
pub fn shape_of<'a>(rt: &'a ResourceType, version: &str) -> Shape<'a> {
    match &rt.crd {
        None => builtin_shape(rt, version),
        Some(crd) => Shape::schema(
            crd.pointer("/spec/versions")
                .and_then(Value::as_array)
                .and_then(|vs| vs.iter().find(|v| v["name"] == version))
                .and_then(|v| v.pointer("/schema/openAPIV3Schema")),
        ),
    }
}

/// The object as served at `version` (custom resources are served in every version without conversion).
pub fn output(rt: &ResourceType, version: &str, mut obj: Value) -> Value {
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), json!(rt.api_version(version)));
        m.insert("kind".into(), json!(rt.kind));
    }
    obj
}

fn ns_of(t: &Target) -> String {
    t.namespace.clone().unwrap_or_default()
}

fn decode(ctx: &Ctx, body: &[u8]) -> ApiResult<Value> {
    let v: Value = if protobuf::is_protobuf(&ctx.content_type) {
        protobuf::decode(body)?
    } else if ctx.content_type.contains("yaml") {
        crate::yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding body: {e}")))?
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    Ok(v)
}

/// Checks `apiVersion`/`kind` of a body against the URL. Errors: 400 as the API server words them.
fn check_type(t: &Target, obj: &Value) -> ApiResult<()> {
    let want_av = t.rt.api_version(&t.version);
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let av = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{}'",
            truncate(&obj.to_string())
        )));
    }
    if av.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'apiVersion' is missing in '{}'",
            truncate(&obj.to_string())
        )));
    }
    if av != want_av {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({want_av})"
        )));
    }
    if kind != t.rt.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            t.rt.kind
        )));
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Puts the URL namespace into `obj`, or rejects a mismatch (400); clears it for cluster-scoped types.
fn check_namespace(t: &Target, obj: &mut Value) -> ApiResult<()> {
    let body_ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    if t.rt.namespaced {
        let url_ns = ns_of(t);
        if url_ns.is_empty() {
            return Err(ApiError::path_not_found());
        }
        if !body_ns.is_empty() && body_ns != url_ns {
            return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
        }
        obj["metadata"]["namespace"] = json!(url_ns);
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    Ok(())
}

fn check_name(t: &Target, obj: &Value) -> ApiResult<()> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let url = t.name.as_deref().unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::bad_request("name is required in the body"));
    }
    if name != url {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({url})"
        )));
    }
    Ok(())
}

/// GET one object.
pub fn get(inner: &Inner, t: &Target) -> ApiResult<Value> {
    let st = inner.lock();
    let name = t.name.as_deref().unwrap_or_default();
    let obj = st
        .get(&gr(&t.rt), &ns_of(t), name)
        .ok_or_else(|| ApiError::not_found(&t.rt.group, &t.rt.resource, name))?;
    Ok(output(&t.rt, &t.version, obj.clone()))
}

fn selectors(t: &Target, q: &Query) -> ApiResult<(Option<LabelSelector>, Option<FieldSelector>)> {
    let l = q
        .get("labelSelector")
        .filter(|s| !s.is_empty())
        .map(|s| LabelSelector::parse(s))
        .transpose()?;
    let f = q
        .get("fieldSelector")
        .filter(|s| !s.is_empty())
        .map(|s| FieldSelector::parse(s, &t.rt.resource))
        .transpose()?;
    Ok((l, f))
}

/// Whether an object passes the request's selectors.
pub fn selected(obj: &Value, l: &Option<LabelSelector>, f: &Option<FieldSelector>) -> bool {
    l.as_ref().is_none_or(|l| l.matches_object(obj)) && f.as_ref().is_none_or(|f| f.matches(obj))
}

/// LIST (all of a namespace, or every namespace when the URL has none).
pub fn list(inner: &Inner, t: &Target, ctx: &Ctx) -> ApiResult<Value> {
    let (l, f) = selectors(t, &ctx.query)?;
    let st = inner.lock();
    let items: Vec<Value> = st
        .list(&gr(&t.rt), t.namespace.as_deref())
        .into_iter()
        .filter(|o| selected(o, &l, &f))
        .map(|o| output(&t.rt, &t.version, o.clone()))
        .collect();
    Ok(json!({
        "apiVersion": t.rt.api_version(&t.version),
        "kind": format!("{}List", t.rt.kind),
        "metadata": {"resourceVersion": st.revision().to_string()},
        "items": items,
    }))
}

/// Writes `new` (replacing `old`): system metadata, status rules, admission, generation, managedFields, finalizer
/// completion, no-op detection. Returns the stored (or, on dry run, the would-be) object.
#[allow(clippy::too_many_arguments)]
pub fn commit(
    st: &mut Store,
    rt: &ResourceType,
    version: &str,
    old: Option<&Value>,
    mut new: Value,
    scope: Scope,
    managed: Managed,
    opts: impl Into<WriteOpts>,
) -> ApiResult<Value> {
    let WriteOpts { dry_run, strict } = opts.into();
    new["apiVersion"] = json!(rt.api_version(version));
    new["kind"] = json!(rt.kind);
    let now = timefmt::now();
    match old {
        Some(o) => {
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "name",
                "namespace",
            ] {
                match o["metadata"].get(k) {
                    Some(v) => new["metadata"][k] = v.clone(),
                    None => {
                        if let Some(m) = new["metadata"].as_object_mut() {
                            m.remove(k);
                        }
                    }
                }
            }
            match scope {
                Scope::Main {
                    status_ignored: true,
                } => match o.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                },
                Scope::Status => {
                    let status = new.get("status").cloned();
                    let mut keep = o.clone();
                    match status {
                        Some(s) => keep["status"] = s,
                        None => {
                            if let Some(m) = keep.as_object_mut() {
                                m.remove("status");
                            }
                        }
                    }
                    keep["metadata"]["managedFields"] = new["metadata"]["managedFields"].clone();
                    if keep["metadata"]["managedFields"].is_null() {
                        if let Some(m) = keep["metadata"].as_object_mut() {
                            m.remove("managedFields");
                        }
                    }
                    new = keep;
                }
                _ => {}
            }
        }
        None => {
            new["metadata"]["uid"] = json!(new_uid());
            new["metadata"]["creationTimestamp"] = json!(now);
            if let Some(m) = new["metadata"].as_object_mut() {
                for k in [
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "resourceVersion",
                    "generation",
                ] {
                    m.remove(k);
                }
            }
            if rt.status_subresource
                && !matches!(
                    rt.resource.as_str(),
                    "namespaces" | "nodes" | "customresourcedefinitions" | "services"
                )
            {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
            if tracks_generation(rt) {
                new["metadata"]["generation"] = json!(1);
            }
        }
    }
    if let Some(schema) = rt.crd.as_ref().and_then(|c| crd_schema(c, version)) {
        let name = new
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let (errors, pruned) = schema::validate(&mut new, schema);
        if strict && !pruned.is_empty() {
            let list: Vec<String> = pruned
                .iter()
                .map(|p| format!("unknown field \"{p}\""))
                .collect();
            return Err(ApiError::bad_request(format!(
                "{} in version \"{version}\" cannot be handled as a {}: strict decoding error: {}",
                rt.kind,
                rt.kind,
                list.join(", ")
            )));
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(&rt.kind, &rt.group, &name, &errors));
        }
    }
    admission::admit(st, rt, old, &mut new)?;
    if let Some(o) = old {
        if tracks_generation(rt) && spec_of(o) != spec_of(&new) {
            let g = o
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            new["metadata"]["generation"] = json!(g + 1);
        }
    }
    if let Managed::Update(m) = managed {
        apply::record_update(
            old,
            &mut new,
            m,
            scope,
            &rt.api_version(version),
            &shape_of(rt, version),
        );
    }
    let g = gr(rt);
    let (ns, name) = super::store::ns_name(&new);
    if new.pointer("/metadata/deletionTimestamp").is_some() && finalizers(&new).is_empty() {
        if dry_run {
            return Ok(new);
        }
        return st
            .remove(&g, &ns, &name)
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.resource, &name));
    }
    if let Some(o) = old {
        if same_ignoring_times(o, &new) {
            return Ok(o.clone());
        }
    }
    if dry_run {
        return Ok(new);
    }
    Ok(st.put(&g, new))
}

fn tracks_generation(rt: &ResourceType) -> bool {
    rt.is_custom()
        || matches!(
            rt.group.as_str(),
            "apps" | "batch" | "policy" | "networking.k8s.io" | "apiextensions.k8s.io"
        )
}

fn spec_of(o: &Value) -> Value {
    let mut v = o.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    v
}

/// `metadata.finalizers`.
pub fn finalizers(o: &Value) -> Vec<String> {
    o.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn same_ignoring_times(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v["metadata"].as_object_mut() {
            m.remove("resourceVersion");
            if let Some(Value::Array(mf)) = m.get_mut("managedFields") {
                for e in mf.iter_mut() {
                    if let Some(e) = e.as_object_mut() {
                        e.remove("time");
                    }
                }
            }
        }
        v
    };
    strip(a) == strip(b)
}

/// POST: create.
pub fn create(inner: &Inner, t: &Target, ctx: &Ctx, body: &[u8]) -> ApiResult<(u16, Value)> {
    if t.subresource.is_some() {
        return Err(ApiError::method_not_allowed("create", &t.rt.resource));
    }
    let mut obj = decode(ctx, body)?;
    check_type(t, &obj)?;
    check_namespace(t, &mut obj)?;
    let mut st = inner.lock();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let name = if name.is_empty() {
        match obj
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
        {
            Some(p) if !p.is_empty() => {
                let n = format!("{p}{}", random_suffix());
                obj["metadata"]["name"] = json!(n);
                n
            }
            _ => {
                return Err(ApiError::invalid(
                    &t.rt.kind,
                    &t.rt.group,
                    "",
                    &[(
                        "metadata.name".into(),
                        "FieldValueRequired".into(),
                        "Required value: name or generateName is required".into(),
                    )],
                ))
            }
        }
    } else {
        name
    };
    if st.get(&gr(&t.rt), &ns_of(t), &name).is_some() {
        return Err(ApiError::already_exists(&t.rt.group, &t.rt.resource, &name));
    }
    let stored = commit(
        &mut st,
        &t.rt,
        &t.version,
        None,
        obj,
        Scope::Main {
            status_ignored: t.rt.status_subresource,
        },
        Managed::Update(&ctx.manager()),
        ctx.write_opts(),
    )?;
    let rv = st.revision();
    drop(st);
    inner.notify(rv);
    Ok((201, output(&t.rt, &t.version, stored)))
}

fn random_suffix() -> String {
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect()
}

fn scope_of(t: &Target) -> Scope {
    if t.subresource.as_deref() == Some("status") {
        Scope::Status
    } else {
        Scope::Main {
            status_ignored: t.rt.status_subresource,
        }
    }
}

fn check_rv(t: &Target, old: &Value, new: &Value, required: bool) -> ApiResult<()> {
    let name = t.name.as_deref().unwrap_or_default();
    match new
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        Some(rv)
            if !rv.is_empty()
                && Some(rv)
                    != old
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str) =>
        {
            return Err(ApiError::conflict(
                &t.rt.group,
                &t.rt.resource,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        Some(rv) if !rv.is_empty() => {}
        _ if required => {
            return Err(ApiError::invalid(
                &t.rt.kind,
                &t.rt.group,
                name,
                &[(
                    "metadata.resourceVersion".into(),
                    "FieldValueInvalid".into(),
                    "Invalid value: 0x0: must be specified for an update".into(),
                )],
            ))
        }
        _ => {}
    }
    Ok(())
}

/// PUT: update (optimistic concurrency on resourceVersion).
pub fn update(inner: &Inner, t: &Target, ctx: &Ctx, body: &[u8]) -> ApiResult<(u16, Value)> {
    let mut obj = decode(ctx, body)?;
    check_type(t, &obj)?;
    check_namespace(t, &mut obj)?;
    check_name(t, &obj)?;
    let name = t.name.clone().unwrap_or_default();
    let mut st = inner.lock();
    let old = st
        .get(&gr(&t.rt), &ns_of(t), &name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&t.rt.group, &t.rt.resource, &name))?;
    check_rv(t, &old, &obj, t.rt.is_custom())?;
    if t.subresource.as_deref() == Some("finalize") {
        let mut o = old.clone();
        o["spec"]["finalizers"] = obj
            .pointer("/spec/finalizers")
            .cloned()
            .unwrap_or(json!([]));
        obj = o;
    }
    let stored = commit(
        &mut st,
        &t.rt,
        &t.version,
        Some(&old),
        obj,
        scope_of(t),
        Managed::Update(&ctx.manager()),
        ctx.write_opts(),
    )?;
    let rv = st.revision();
    drop(st);
    inner.notify(rv);
    Ok((200, output(&t.rt, &t.version, stored)))
}

/// PATCH: JSON, merge, strategic, or server-side apply.
pub fn patch(inner: &Inner, t: &Target, ctx: &Ctx, body: &[u8]) -> ApiResult<(u16, Value)> {
    let kind = PatchType::from_content_type(&ctx.content_type)
        .ok_or_else(|| ApiError::unsupported_media_type(&ctx.content_type))?;
    if kind == PatchType::Strategic && t.rt.is_custom() {
        return Err(ApiError::unsupported_media_type(&ctx.content_type));
    }
    let force = ctx.query.get("force").map(|f| f == "true");
    if kind != PatchType::Apply && force.is_some() {
        return Err(ApiError::invalid(
            "PatchOptions",
            "meta.k8s.io",
            "",
            &[(
                "force".into(),
                "FieldValueForbidden".into(),
                "Forbidden: may not be specified for non-apply patch".into(),
            )],
        ));
    }
    let name = t.name.clone().unwrap_or_default();
    let scope = scope_of(t);
    let shape = shape_of(&t.rt, &t.version);
    let mut st = inner.lock();
    let old = st.get(&gr(&t.rt), &ns_of(t), &name).cloned();
    let (code, stored) = if kind == PatchType::Apply {
        let manager = ctx
            .query
            .get("fieldManager")
            .filter(|m| !m.is_empty())
            .ok_or_else(|| {
                ApiError::invalid(
                    "PatchOptions",
                    "meta.k8s.io",
                    "",
                    &[(
                        "fieldManager".into(),
                        "FieldValueRequired".into(),
                        "Required value: is required for apply patch".into(),
                    )],
                )
            })?;
        let mut cfg: Value = crate::yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
        if !cfg.is_object() {
            return Err(ApiError::bad_request(
                "the applied configuration must be an object",
            ));
        }
        check_type(t, &cfg)?;
        check_namespace(t, &mut cfg)?;
        check_name(t, &cfg)?;
        if old.is_none() && scope == Scope::Status {
            return Err(ApiError::not_found(&t.rt.group, &t.rt.resource, &name));
        }
        if let Some(o) = &old {
            check_rv(t, o, &cfg, false)?;
        }
        let mut result = apply::apply(
            old.as_ref(),
            &cfg,
            manager,
            force == Some(true),
            scope,
            &t.rt.api_version(&t.version),
            &shape,
        )?;
        result["metadata"]["name"] = json!(name);
        if t.rt.namespaced {
            result["metadata"]["namespace"] = json!(ns_of(t));
        }
        let code = if old.is_some() { 200 } else { 201 };
        (
            code,
            commit(
                &mut st,
                &t.rt,
                &t.version,
                old.as_ref(),
                result,
                scope,
                Managed::Done,
                ctx.write_opts(),
            )?,
        )
    } else {
        let old = old.ok_or_else(|| ApiError::not_found(&t.rt.group, &t.rt.resource, &name))?;
        let mut doc = output(&t.rt, &t.version, old.clone());
        apply_patch(&mut doc, kind, body, &shape_of(&t.rt, &t.version))?;
        if !doc.is_object() {
            return Err(ApiError::bad_request("the patch produced a non-object"));
        }
        check_rv(t, &old, &doc, false)?;
        check_type(t, &doc)?;
        (
            200,
            commit(
                &mut st,
                &t.rt,
                &t.version,
                Some(&old),
                doc,
                scope,
                Managed::Update(&ctx.manager()),
                ctx.write_opts(),
            )?,
        )
    };
    let rv = st.revision();
    drop(st);
    inner.notify(rv);
    Ok((code, output(&t.rt, &t.version, stored)))
}

/// DeleteOptions from the body and query.
struct DeleteOpts {
    policy: String,
    uid: Option<String>,
    rv: Option<String>,
}

fn delete_opts(ctx: &Ctx, body: &[u8]) -> ApiResult<DeleteOpts> {
    let b: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else if protobuf::is_protobuf(&ctx.content_type) {
        let b = protobuf::decode(body)?;
        if b["kind"] != "DeleteOptions" {
            return Err(ApiError::bad_request(format!(
                "expected DeleteOptions in the DELETE body, got {}",
                b["kind"]
            )));
        }
        b
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?
    };
    let mut policy = b
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .map(String::from);
    if let Some(p) = ctx.query.get("propagationPolicy") {
        policy = Some(p.clone());
    }
    if b.get("orphanDependents") == Some(&json!(true)) {
        policy = Some("Orphan".into());
    }
    let policy = policy.unwrap_or_else(|| "Background".into());
    if !matches!(policy.as_str(), "Background" | "Foreground" | "Orphan") {
        return Err(ApiError::invalid("DeleteOptions", "meta.k8s.io", "", &[(
            "propagationPolicy".into(),
            "FieldValueNotSupported".into(),
            format!("Unsupported value: \"{policy}\": supported values: \"Foreground\", \"Background\", \"Orphan\""),
        )]));
    }
    let s = |p: &str| b.pointer(p).and_then(Value::as_str).map(String::from);
    Ok(DeleteOpts {
        policy,
        uid: s("/preconditions/uid"),
        rv: s("/preconditions/resourceVersion"),
    })
}

/// DELETE one object: finalizers and propagation policy (`foregroundDeletion`/`orphan` finalizers handled by the
/// garbage collector), namespaces go Terminating and are emptied by the namespace controller.
pub fn delete(inner: &Inner, t: &Target, ctx: &Ctx, body: &[u8]) -> ApiResult<(u16, Value)> {
    let opts = delete_opts(ctx, body)?;
    let name = t.name.clone().unwrap_or_default();
    let mut st = inner.lock();
    let out = delete_one(
        &mut st,
        &t.rt,
        &t.version,
        &ns_of(t),
        &name,
        &opts,
        ctx.dry_run(),
    )?;
    let rv = st.revision();
    drop(st);
    inner.notify(rv);
    Ok(out)
}

/// Deletes one object as a plain DELETE without options does (background propagation, finalizers honoured).
pub(crate) fn delete_object(
    st: &mut Store,
    rt: &ResourceType,
    version: &str,
    ns: &str,
    name: &str,
) -> ApiResult<(u16, Value)> {
    let opts = DeleteOpts {
        policy: "Background".into(),
        uid: None,
        rv: None,
    };
    delete_one(st, rt, version, ns, name, &opts, false)
}

fn delete_one(
    st: &mut Store,
    rt: &ResourceType,
    version: &str,
    ns: &str,
    name: &str,
    opts: &DeleteOpts,
    dry_run: bool,
) -> ApiResult<(u16, Value)> {
    let g = gr(rt);
    let old = st
        .get(&g, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.resource, name))?;
    let uid = old
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if opts.uid.as_ref().is_some_and(|u| *u != uid) {
        return Err(ApiError::conflict(
            &rt.group,
            &rt.resource,
            name,
            &format!(
                "Precondition failed: UID in precondition: {}, UID in object meta: {uid}",
                opts.uid.clone().unwrap_or_default()
            ),
        ));
    }
    if let Some(rv) = &opts.rv {
        if Some(rv.as_str())
            != old
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
        {
            return Err(ApiError::conflict(&rt.group, &rt.resource, name, "the object has been modified; please apply your changes to the latest version and try again"));
        }
    }
    let mut obj = old.clone();
    if rt.resource == "namespaces" {
        if obj.pointer("/metadata/deletionTimestamp").is_none() {
            obj["metadata"]["deletionTimestamp"] = json!(timefmt::now());
            obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            obj["status"]["phase"] = json!("Terminating");
            if !dry_run {
                obj = st.put(&g, obj);
            }
        }
        return Ok((200, output(rt, version, obj)));
    }
    let mut fins = finalizers(&obj);
    let extra = match opts.policy.as_str() {
        "Foreground" => Some("foregroundDeletion"),
        "Orphan" => Some("orphan"),
        _ => None,
    };
    if let Some(f) = extra {
        if !fins.iter().any(|x| x == f) {
            fins.push(f.to_string());
        }
    }
    if fins.is_empty() {
        if dry_run {
            return Ok((200, output(rt, version, obj)));
        }
        let removed = st.remove(&g, ns, name).unwrap_or(obj);
        return Ok(if rt.is_custom() {
            (200, output(rt, version, removed))
        } else {
            (200, success_status(&rt.group, &rt.resource, name, &uid))
        });
    }
    obj["metadata"]["finalizers"] = json!(fins);
    if obj.pointer("/metadata/deletionTimestamp").is_none() {
        obj["metadata"]["deletionTimestamp"] = json!(timefmt::now());
        obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    }
    if obj != old && !dry_run {
        obj = st.put(&g, obj);
    }
    Ok((200, output(rt, version, obj)))
}

/// DELETE on a collection (labelSelector/fieldSelector). Answers the list of what was deleted.
pub fn delete_collection(
    inner: &Inner,
    t: &Target,
    ctx: &Ctx,
    body: &[u8],
) -> ApiResult<(u16, Value)> {
    let opts = delete_opts(ctx, body)?;
    let (l, f) = selectors(t, &ctx.query)?;
    let mut st = inner.lock();
    let names: Vec<(String, String)> = st
        .list(&gr(&t.rt), t.namespace.as_deref())
        .into_iter()
        .filter(|o| selected(o, &l, &f))
        .map(super::store::ns_name)
        .collect();
    let mut items = vec![];
    for (ns, name) in names {
        if let Ok((_, v)) = delete_one(&mut st, &t.rt, &t.version, &ns, &name, &opts, ctx.dry_run())
        {
            if v["kind"] != "Status" {
                items.push(v);
            }
        }
    }
    let rv = st.revision();
    drop(st);
    inner.notify(rv);
    Ok((
        200,
        json!({"apiVersion": t.rt.api_version(&t.version), "kind": format!("{}List", t.rt.kind), "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
    ))
}

/// `<resource>.<group>` for messages.
pub fn qualified_name(rt: &ResourceType) -> String {
    qualified(&rt.group, &rt.resource)
}
