//! `?watch=true`: a stream of JSON lines `{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": ...}` with
//! the API server's resourceVersion semantics: unset or `0` starts with synthetic ADDED events for what exists,
//! `N` replays the changes after N (410 Gone as an ERROR event when N is older than the kept history),
//! `sendInitialEvents=true` ends the initial ADDED events with a BOOKMARK annotated
//! `k8s.io/initial-events-end: "true"`, `allowWatchBookmarks=true` adds periodic BOOKMARKs, `timeoutSeconds` ends
//! the stream. Selectors filter on the object's current labels (an object leaving a selector is not reported as
//! DELETED, a simplification).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::body::Bytes;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use super::errors::{ApiError, ApiResult};
use super::handlers::{Query, Target};
use super::selectors::{FieldSelector, LabelSelector};
use super::store::Event;
use super::verbs::{gr, output, selected};
use super::Inner;

/// Interval between BOOKMARK events when the client allows them.
pub const BOOKMARK_EVERY: Duration = Duration::from_secs(5);

fn line(typ: &str, obj: &Value) -> Bytes {
    let mut b = serde_json::to_vec(&json!({"type": typ, "object": obj})).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

fn bookmark(t: &Target, rv: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"apiVersion": t.rt.api_version(&t.version), "kind": t.rt.kind, "metadata": meta})
}

/// Starts a watch; the body streams until the client goes, the timeout passes, or the watcher falls too far
/// behind (then the stream ends and the client re-watches). Errors: bad selectors or resourceVersion (400).
pub fn watch(inner: Arc<Inner>, t: &Target, q: &Query) -> ApiResult<Body> {
    let l = q
        .get("labelSelector")
        .filter(|s| !s.is_empty())
        .map(|s| LabelSelector::parse(s))
        .transpose()?;
    let mut f = q
        .get("fieldSelector")
        .filter(|s| !s.is_empty())
        .map(|s| FieldSelector::parse(s, &t.rt.resource))
        .transpose()?;
    if let Some(name) = &t.name {
        f = Some(FieldSelector::parse(
            &format!("metadata.name={name}"),
            &t.rt.resource,
        )?);
    }
    let rv_param = q.get("resourceVersion").cloned().unwrap_or_default();
    let rv: Option<u64> = match rv_param.as_str() {
        "" | "0" => None,
        s => Some(
            s.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))?,
        ),
    };
    let send_initial = q.get("sendInitialEvents").is_some_and(|v| v == "true");
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|v| v == "true");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs);
    let g = gr(&t.rt);
    let ns = t.namespace.clone();
    let matches = move |ev_gr: &super::store::GroupResource, obj: &Value| -> bool {
        *ev_gr == g
            && ns.as_ref().is_none_or(|n| {
                obj.pointer("/metadata/namespace").and_then(Value::as_str) == Some(n)
            })
            && selected(obj, &l, &f)
    };

    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    let mut initial: Vec<Bytes> = vec![];
    let (sub, start_rv) = {
        let st = inner.lock();
        let sub = st.subscribe();
        let now = st.revision();
        match rv {
            Some(n) if !send_initial => {
                if n < st.oldest_resumable() {
                    let e = ApiError::gone(n, st.oldest_resumable());
                    initial.push(line("ERROR", &e.to_status()));
                    let _ = tx.try_send(Ok(initial.remove(0)));
                    return Ok(Body::from_stream(
                        tokio_stream::wrappers::ReceiverStream::new(rx),
                    ));
                }
                for ev in st.events_after(n) {
                    if matches(&ev.gr, &ev.object) {
                        initial.push(line(
                            ev.kind.as_str(),
                            &output(&t.rt, &t.version, ev.object.clone()),
                        ));
                    }
                }
            }
            _ => {
                for o in st.list(&gr(&t.rt), None) {
                    if matches(&gr(&t.rt), o) {
                        initial.push(line("ADDED", &output(&t.rt, &t.version, o.clone())));
                    }
                }
                if send_initial {
                    initial.push(line("BOOKMARK", &bookmark(t, now, true)));
                }
            }
        }
        (sub, now)
    };
    let target = t.clone();
    tokio::spawn(async move {
        let deadline = timeout.map(|d| tokio::time::Instant::now() + d);
        for b in initial {
            if tx.send(Ok(b)).await.is_err() {
                return;
            }
        }
        pump(sub, tx, &target, start_rv, matches, bookmarks, deadline).await;
    });
    Ok(Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(rx),
    ))
}

async fn pump(
    mut sub: broadcast::Receiver<Arc<Event>>,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    t: &Target,
    start_rv: u64,
    matches: impl Fn(&super::store::GroupResource, &Value) -> bool,
    bookmarks: bool,
    deadline: Option<tokio::time::Instant>,
) {
    let mut last_rv = start_rv;
    let mut tick = tokio::time::interval(BOOKMARK_EVERY);
    tick.tick().await;
    loop {
        let sleep_until =
            deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86_400));
        tokio::select! {
            ev = sub.recv() => match ev {
                Ok(ev) => {
                    if ev.rv <= start_rv { continue; }
                    last_rv = ev.rv;
                    if matches(&ev.gr, &ev.object) && tx.send(Ok(line(ev.kind.as_str(), &output(&t.rt, &t.version, ev.object.clone())))).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tick.tick(), if bookmarks => {
                if tx.send(Ok(line("BOOKMARK", &bookmark(t, last_rv, false)))).await.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep_until(sleep_until) => return,
            _ = tx.closed() => return,
        }
    }
}
