//! HTTP routing of API requests: URL parsing (`/api/v1/namespaces/<ns>/<resource>/<name>/<subresource>`,
//! `/apis/<group>/<version>/...`), query parameters, content negotiation, and dispatch to the verbs.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use http::{header, Method, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;

use super::auth::User;
use super::errors::{ApiError, ApiResult};
use super::patch::PatchType;
use super::registry::ResourceType;
use super::{discovery, eviction, scale, table, verbs, watch, Inner};

/// Largest request body accepted (the API server's limit is 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// A parsed resource request.
#[derive(Debug, Clone)]
pub struct Target {
    pub rt: ResourceType,
    pub version: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Query parameters (percent-decoded; last value wins).
pub type Query = HashMap<String, String>;

/// A JSON answer.
pub fn json_response(code: u16, v: &Value) -> Response<Body> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .header("Audit-Id", uuid_like())
        .body(Body::from(body))
        .unwrap_or_default()
}

/// An error answer.
pub fn error_response(e: &ApiError) -> Response<Body> {
    json_response(e.code, &e.to_status())
}

fn uuid_like() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A random RFC 4122 version-4 UUID string (object uids).
pub fn new_uid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a query string.
pub fn parse_query(q: Option<&str>) -> Query {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Handles one request from an authenticated (or anonymous) user.
pub async fn handle(
    inner: Arc<Inner>,
    user: Option<User>,
    req: http::Request<hyper::body::Incoming>,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parse_query(parts.uri.query());
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();

    let public = matches!(
        path.as_str(),
        "/version" | "/healthz" | "/livez" | "/readyz" | "/version/"
    );
    let user = match user {
        Some(u) => u,
        None if public => User::anonymous(),
        None => {
            return error_response(&ApiError::forbidden(format!(
                "forbidden: User \"system:anonymous\" cannot {} path \"{path}\"",
                parts.method.as_str().to_lowercase()
            )))
        }
    };
    let _ = &user;

    if let Some(resp) = discovery::route(&inner, &parts.method, &path, &accept) {
        return resp;
    }

    let target = {
        let st = inner.lock();
        parse_target(&st, &path)
    };
    let target = match target {
        Ok(t) => t,
        Err(e) => return error_response(&e),
    };

    if accept_is_protobuf_only(&accept) {
        return error_response(&ApiError::not_acceptable("only application/json is served"));
    }

    let body = match read_body(body).await {
        Ok(b) => b,
        Err(e) => return error_response(&e),
    };
    let ctx = verbs::Ctx {
        user_agent,
        content_type,
        query,
    };
    let wants_table = accept.contains("as=Table");

    let result = match (&parts.method, target.name.is_some()) {
        (&Method::GET, false) if is_true(ctx.query.get("watch")) => {
            return match watch::watch(inner.clone(), &target, &ctx.query) {
                Ok(b) => Response::builder()
                    .status(200)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(b)
                    .unwrap_or_default(),
                Err(e) => error_response(&e),
            };
        }
        (&Method::GET, false) => verbs::list(&inner, &target, &ctx).map(|v| {
            if wants_table {
                (200, table::to_table(&target.rt, &v, &inner.opts))
            } else {
                (200, v)
            }
        }),
        (&Method::GET, true) if target.subresource.as_deref() == Some("scale") => {
            scale::get(&inner, &target).map(|v| (200, v))
        }
        (&Method::PUT, true) if target.subresource.as_deref() == Some("scale") => {
            scale::write(&inner, &target, &ctx, None, &body)
        }
        (&Method::PATCH, true) if target.subresource.as_deref() == Some("scale") => {
            match PatchType::from_content_type(&ctx.content_type) {
                Some(kind) => scale::write(&inner, &target, &ctx, Some(kind), &body),
                None => Err(ApiError::unsupported_media_type(&ctx.content_type)),
            }
        }
        (&Method::POST, true) if target.subresource.as_deref() == Some("eviction") => {
            eviction::create(&inner, &target, &body)
        }
        (m, _) if target.subresource.as_deref() == Some("eviction") => {
            Err(ApiError::method_not_allowed(m.as_str(), "pods/eviction"))
        }
        (m, _) if target.subresource.as_deref() == Some("scale") => Err(
            ApiError::method_not_allowed(m.as_str(), &format!("{}/scale", target.rt.resource)),
        ),
        (&Method::GET, true) => verbs::get(&inner, &target).map(|v| {
            if wants_table {
                (200, table::to_table(&target.rt, &v, &inner.opts))
            } else {
                (200, v)
            }
        }),
        (&Method::POST, false) => verbs::create(&inner, &target, &ctx, &body),
        (&Method::PUT, true) => verbs::update(&inner, &target, &ctx, &body),
        (&Method::PATCH, true) => verbs::patch(&inner, &target, &ctx, &body),
        (&Method::DELETE, true) => verbs::delete(&inner, &target, &ctx, &body),
        (&Method::DELETE, false) => verbs::delete_collection(&inner, &target, &ctx, &body),
        (m, _) => Err(ApiError::method_not_allowed(
            m.as_str(),
            &target.rt.resource,
        )),
    };
    match result {
        Ok((code, v)) => json_response(code, &v),
        Err(e) => error_response(&e),
    }
}

fn is_true(v: Option<&String>) -> bool {
    v.is_some_and(|v| v == "true" || v == "1")
}

fn accept_is_protobuf_only(accept: &str) -> bool {
    !accept.is_empty()
        && accept
            .split(',')
            .all(|a| a.trim().starts_with("application/vnd.kubernetes.protobuf"))
}

async fn read_body(body: hyper::body::Incoming) -> ApiResult<Vec<u8>> {
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes().to_vec()),
        Err(_) => Err(ApiError::too_large()),
    }
}

/// Parses a resource URL against the served types. Errors: 404 for unknown groups, versions, resources or
/// shapes (a namespaced name without a namespace, a cluster-scoped type under a namespace).
pub fn parse_target(st: &super::store::Store, path: &str) -> ApiResult<Target> {
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return Err(ApiError::path_not_found()),
    };
    let (namespace, rest) = if rest[0] == "namespaces"
        && rest.len() >= 3
        && !(rest.len() == 3 && matches!(rest[2], "status" | "finalize"))
    {
        (Some(rest[1].to_string()), &rest[2..])
    } else {
        (None, rest)
    };
    if rest.len() > 3 || rest.iter().any(|s| s.is_empty()) {
        return Err(ApiError::path_not_found());
    }
    let rt = st
        .resolve(group, version, rest[0])
        .ok_or_else(ApiError::path_not_found)?;
    let name = rest.get(1).map(|s| s.to_string());
    let subresource = rest.get(2).map(|s| s.to_string());
    if !rt.namespaced && namespace.is_some() {
        return Err(ApiError::path_not_found());
    }
    if rt.namespaced && namespace.is_none() && name.is_some() {
        return Err(ApiError::path_not_found());
    }
    match subresource.as_deref() {
        None => {}
        Some("status") if rt.status_subresource => {}
        Some("finalize") if rt.resource == "namespaces" => {}
        Some("scale") if scale::has_scale(&rt) => {}
        Some("eviction") if eviction::has_eviction(&rt) => {}
        Some(_) => return Err(ApiError::path_not_found()),
    }
    Ok(Target {
        rt,
        version: version.to_string(),
        namespace,
        name,
        subresource,
    })
}
