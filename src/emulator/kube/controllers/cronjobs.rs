//! CronJobs create Jobs on their schedule, as kube-controller-manager's CronJob controller does
//! (pkg/controller/cronjob/cronjob_controllerv2.go@v1.32.0 `syncCronJob` and `cleanupFinishedJobs`, utils.go
//! `mostRecentScheduleTime` and `getJobFromTemplate2`):
//! - the Jobs of a CronJob are those of its namespace whose controller reference names it; a finished one leaves
//!   `status.active`, a Complete one moves `lastSuccessfulTime`, and active references to Jobs gone are dropped;
//! - a CronJob being deleted, suspended, or with an unknown `timeZone` or an unparseable schedule starts nothing;
//! - the most recent schedule time not yet run (since `lastScheduleTime`, else `creationTimestamp`, bounded by
//!   `startingDeadlineSeconds`) starts Job `<name>-<scheduled unix time in minutes>` from `jobTemplate`, owned by
//!   the CronJob, annotated `batch.kubernetes.io/cronjob-scheduled-timestamp`; `concurrencyPolicy` Forbid skips
//!   it while a Job is active, Replace deletes the active ones first;
//! - finished Jobs beyond `successfulJobsHistoryLimit` / `failedJobsHistoryLimit` are deleted, oldest first;
//! - the loop wakes up at the next schedule time (plus upstream's 100 ms).
//!
//! Schedules follow robfig/cron's standard syntax (five fields or a descriptor such as `@hourly`) in UTC or
//! `spec.timeZone`; `@every` is not understood (such a CronJob starts nothing).

use std::time::{Duration, SystemTime};

use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde_json::{json, Value};

use super::{delete, rt, write, write_status, Clock};
use crate::emulator::kube::store::{GroupResource, Store};
use crate::emulator::kube::timefmt;

/// Upstream `batchv1.CronJobScheduledTimestampAnnotation` (feature CronJobsScheduledAnnotation, on by default).
const SCHEDULED_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// Upstream `nextScheduleDelta`: the padding added to every requeue.
const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);

fn str_at<'a>(o: &'a Value, p: &str) -> &'a str {
    o.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

fn time_at(o: &Value, p: &str) -> Option<SystemTime> {
    timefmt::parse(str_at(o, p))
}

fn condition(job: &Value, kind: &str) -> bool {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == kind && c["status"] == "True")
}

fn finished(job: &Value) -> bool {
    condition(job, "Complete") || condition(job, "Failed")
}

/// Whether `job`'s controller reference names CronJob `name` (upstream `getJobsToBeReconciled` looks at the name).
fn controlled_by(job: &Value, name: &str) -> bool {
    job.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|r| r["controller"] == true && r["kind"] == "CronJob" && r["name"] == name)
}

/// The schedule in the CronJob's time zone; None when unparseable or the zone is unknown.
fn schedule(cj: &Value) -> Option<(Cron, TimeZone)> {
    let tz = match cj.pointer("/spec/timeZone").and_then(Value::as_str) {
        Some(name) => TimeZone::get(name).ok()?,
        None => TimeZone::UTC,
    };
    let cron = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(str_at(cj, "/spec/schedule"))
        .ok()?;
    Some((cron, tz))
}

/// The first schedule time strictly after `t`.
fn next(cron: &Cron, tz: &TimeZone, t: SystemTime) -> Option<SystemTime> {
    let z = Zoned::new(Timestamp::try_from(t).ok()?, tz.clone());
    let n = cron.find_next_occurrence(&z, false).ok()?;
    Some(SystemTime::from(n.timestamp()))
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Upstream `mostRecentScheduleTime`: (earliest time considered, most recent schedule time not after `now`).
fn most_recent(
    cj: &Value,
    now: SystemTime,
    cron: &Cron,
    tz: &TimeZone,
    with_deadline: bool,
) -> (SystemTime, Option<SystemTime>) {
    let mut earliest = time_at(cj, "/status/lastScheduleTime")
        .or_else(|| time_at(cj, "/metadata/creationTimestamp"))
        .unwrap_or(now);
    if let Some(d) = cj
        .pointer("/spec/startingDeadlineSeconds")
        .and_then(Value::as_u64)
        .filter(|_| with_deadline)
    {
        let deadline = now
            .checked_sub(Duration::from_secs(d))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        earliest = earliest.max(deadline);
    }
    let Some(t1) = next(cron, tz, earliest) else {
        return (earliest, None);
    };
    if now < t1 {
        return (earliest, None);
    }
    let Some(t2) = next(cron, tz, t1) else {
        return (earliest, Some(t1));
    };
    if now < t2 {
        return (earliest, Some(t1));
    }
    // Skip ahead by whole intervals instead of walking every missed time (upstream's approximation).
    let interval = secs(t2.duration_since(t1).unwrap_or_default()).max(1);
    let missed = secs(now.duration_since(t1).unwrap_or_default()) / interval + 1;
    let skip = u64::try_from((missed - 2).max(0) * interval).unwrap_or(0);
    let mut t = t1 + Duration::from_secs(skip);
    let mut recent = None;
    while let Some(n) = next(cron, tz, t).filter(|n| *n <= now) {
        recent = Some(n);
        t = n;
    }
    (earliest, recent)
}

/// Upstream `nextScheduleTimeDuration`: when to look at the CronJob again.
fn requeue(clock: &mut Clock, cj: &Value, now: SystemTime, cron: &Cron, tz: &TimeZone) {
    let (earliest, recent) = most_recent(cj, now, cron, tz, false);
    if let Some(n) = next(cron, tz, recent.unwrap_or(earliest)) {
        let wait = n.duration_since(now).unwrap_or_default() + NEXT_SCHEDULE_DELTA;
        clock.wake_in(wait);
    }
}

fn job_ref(job: &Value) -> Value {
    json!({
        "kind": "Job",
        "namespace": str_at(job, "/metadata/namespace"),
        "name": str_at(job, "/metadata/name"),
        "uid": str_at(job, "/metadata/uid"),
        "apiVersion": "batch/v1",
        "resourceVersion": str_at(job, "/metadata/resourceVersion"),
    })
}

/// Upstream `getJobFromTemplate2`.
fn job_from_template(cj: &Value, scheduled: SystemTime, tz: &TimeZone) -> Value {
    let name = str_at(cj, "/metadata/name");
    let minutes = scheduled
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        / 60;
    let template = cj.pointer("/spec/jobTemplate").cloned().unwrap_or_default();
    let mut annotations = template
        .pointer("/metadata/annotations")
        .cloned()
        .unwrap_or(json!({}));
    let stamp = Timestamp::try_from(scheduled)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
                .replace("+00:00", "Z")
        })
        .unwrap_or_default();
    annotations[SCHEDULED_ANNOTATION] = json!(stamp);
    let mut meta = json!({
        "name": format!("{name}-{minutes}"),
        "namespace": str_at(cj, "/metadata/namespace"),
        "annotations": annotations,
        "ownerReferences": [{
            "apiVersion": "batch/v1", "kind": "CronJob", "name": name, "uid": str_at(cj, "/metadata/uid"),
            "controller": true, "blockOwnerDeletion": true,
        }],
    });
    if let Some(l) = template.pointer("/metadata/labels") {
        meta["labels"] = l.clone();
    }
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
        "spec": template.get("spec").cloned().unwrap_or(json!({}))})
}

pub fn reconcile(st: &mut Store, clock: &mut Clock) {
    let (Some(cj_rt), Some(job_rt)) = (rt(st, "batch", "cronjobs"), rt(st, "batch", "jobs")) else {
        return;
    };
    let jobs_gr = GroupResource::new("batch", "jobs");
    let cronjobs: Vec<Value> = st
        .list(&GroupResource::new("batch", "cronjobs"), None)
        .into_iter()
        .cloned()
        .collect();
    for cj in cronjobs {
        let ns = str_at(&cj, "/metadata/namespace").to_string();
        let name = str_at(&cj, "/metadata/name").to_string();
        let children: Vec<Value> = st
            .list(&jobs_gr, Some(&ns))
            .into_iter()
            .filter(|j| controlled_by(j, &name))
            .cloned()
            .collect();
        let mut status = cj.get("status").cloned().unwrap_or(json!({}));
        sync(
            st,
            clock,
            &cj,
            &children,
            &mut status,
            &job_rt,
            &jobs_gr,
            SystemTime::now(),
        );
        cleanup_finished(st, &cj, &children, &mut status, &jobs_gr);
        write_status(st, &cj_rt, &cj, status, "kube-controller-manager");
    }
}

fn active(status: &Value) -> Vec<Value> {
    status
        .get("active")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn set_active(status: &mut Value, list: Vec<Value>) {
    if let Some(m) = status.as_object_mut() {
        if list.is_empty() {
            m.remove("active");
        } else {
            m.insert("active".into(), Value::Array(list));
        }
    }
}

/// Upstream `syncCronJob`: updates `status` and creates (or replaces) the Job due.
#[allow(clippy::too_many_arguments)]
fn sync(
    st: &mut Store,
    clock: &mut Clock,
    cj: &Value,
    children: &[Value],
    status: &mut Value,
    job_rt: &crate::emulator::kube::registry::ResourceType,
    jobs_gr: &GroupResource,
    now: SystemTime,
) {
    let ns = str_at(cj, "/metadata/namespace").to_string();
    let uid_of = |j: &Value| str_at(j, "/metadata/uid").to_string();
    for j in children.iter().filter(|j| finished(j)) {
        let mut list = active(status);
        list.retain(|r| r["uid"] != uid_of(j).as_str());
        set_active(status, list);
        if condition(j, "Complete") {
            let done = time_at(j, "/status/completionTime");
            let last = time_at(status, "/lastSuccessfulTime");
            if done.is_some() && (last.is_none() || done > last) {
                status["lastSuccessfulTime"] = j["status"]["completionTime"].clone();
            }
        }
    }
    // Active references to Jobs that no longer exist are dropped.
    let mut list = active(status);
    list.retain(|r| {
        children.iter().any(|j| r["uid"] == uid_of(j).as_str())
            || st
                .get(jobs_gr, &ns, r["name"].as_str().unwrap_or_default())
                .is_some()
    });
    set_active(status, list);
    if cj.pointer("/metadata/deletionTimestamp").is_some()
        || cj.pointer("/spec/suspend") == Some(&json!(true))
    {
        return;
    }
    let Some((cron, tz)) = schedule(cj) else {
        tracing::debug!(cronjob = %str_at(cj, "/metadata/name"), "unparseable schedule or unknown time zone");
        return;
    };
    let mut seen = cj.clone();
    seen["status"] = status.clone();
    let (_, scheduled) = most_recent(&seen, now, &cron, &tz, true);
    let Some(scheduled) = scheduled else {
        requeue(clock, &seen, now, &cron, &tz);
        return;
    };
    let too_late = cj
        .pointer("/spec/startingDeadlineSeconds")
        .and_then(Value::as_u64)
        .is_some_and(|d| scheduled + Duration::from_secs(d) < now);
    let job = job_from_template(cj, scheduled, &tz);
    let job_name = str_at(&job, "/metadata/name").to_string();
    let already = active(status)
        .iter()
        .any(|r| r["name"] == job_name.as_str())
        || time_at(status, "/lastScheduleTime") == Some(scheduled);
    let policy = str_at(cj, "/spec/concurrencyPolicy");
    if too_late || already || (policy == "Forbid" && !active(status).is_empty()) {
        requeue(clock, &seen, now, &cron, &tz);
        return;
    }
    if policy == "Replace" {
        for r in active(status) {
            if let Some(j) = st
                .get(jobs_gr, &ns, r["name"].as_str().unwrap_or_default())
                .cloned()
            {
                delete(st, jobs_gr, &j);
            }
        }
        set_active(status, vec![]);
    }
    let created = match st.get(jobs_gr, &ns, &job_name).cloned() {
        // Created by someone else: their business; created by us before the status was written: recorded below.
        Some(existing) if !controlled_by(&existing, str_at(cj, "/metadata/name")) => return,
        Some(existing) => existing,
        None => {
            write(st, job_rt, None, job, "kube-controller-manager");
            match st.get(jobs_gr, &ns, &job_name).cloned() {
                Some(j) => j,
                None => return,
            }
        }
    };
    let mut list = active(status);
    if !list.iter().any(|r| r["uid"] == uid_of(&created).as_str()) {
        list.push(job_ref(&created));
    }
    set_active(status, list);
    status["lastScheduleTime"] = json!(timefmt::rfc3339(scheduled));
    seen["status"] = status.clone();
    requeue(clock, &seen, now, &cron, &tz);
}

/// Upstream `cleanupFinishedJobs`: deletes the oldest finished Jobs beyond the history limits (defaulted to 3
/// successful and 1 failed by the API server).
fn cleanup_finished(
    st: &mut Store,
    cj: &Value,
    children: &[Value],
    status: &mut Value,
    jobs_gr: &GroupResource,
) {
    let limit = |k: &str, d: u64| {
        cj.pointer(&format!("/spec/{k}"))
            .and_then(Value::as_u64)
            .unwrap_or(d) as usize
    };
    for (kind, max) in [
        ("Complete", limit("successfulJobsHistoryLimit", 3)),
        ("Failed", limit("failedJobsHistoryLimit", 1)),
    ] {
        let mut done: Vec<&Value> = children.iter().filter(|j| condition(j, kind)).collect();
        if done.len() <= max {
            continue;
        }
        // Oldest first by startTime (Jobs without one last), then by name.
        done.sort_by(|a, b| {
            let (sa, sb) = (
                time_at(a, "/status/startTime"),
                time_at(b, "/status/startTime"),
            );
            match (sa, sb) {
                (Some(x), Some(y)) if x != y => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                _ => str_at(a, "/metadata/name").cmp(str_at(b, "/metadata/name")),
            }
        });
        let extra = done.len() - max;
        for j in done.into_iter().take(extra) {
            let mut list = active(status);
            list.retain(|r| r["uid"] != j["metadata"]["uid"]);
            set_active(status, list);
            delete(st, jobs_gr, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SystemTime {
        timefmt::parse(s).unwrap()
    }

    #[test]
    fn most_recent_schedule_time_follows_upstream() {
        let cj = |extra: Value| {
            let mut o = json!({"metadata": {"name": "h", "creationTimestamp": "2026-01-01T00:00:30Z"},
                "spec": {"schedule": "@hourly"}, "status": {"lastScheduleTime": "2026-01-01T03:00:00Z"}});
            json_patch::merge(&mut o, &extra);
            o
        };
        let (cron, tz) = schedule(&cj(json!({}))).unwrap();
        let now = at("2026-01-01T08:30:00Z");
        // Five missed hours: only the most recent is due.
        let (_, recent) = most_recent(&cj(json!({})), now, &cron, &tz, true);
        assert_eq!(recent, Some(at("2026-01-01T08:00:00Z")));
        // Nothing due yet.
        let (_, none) = most_recent(&cj(json!({})), at("2026-01-01T03:59:59Z"), &cron, &tz, true);
        assert_eq!(none, None);
        // Without lastScheduleTime, from creation.
        let fresh = cj(json!({"status": {"lastScheduleTime": null}}));
        let (_, first) = most_recent(&fresh, at("2026-01-01T01:10:00Z"), &cron, &tz, true);
        assert_eq!(first, Some(at("2026-01-01T01:00:00Z")));
        // A time zone shifts the schedule; an unknown one or a bad schedule starts nothing.
        let paris = cj(json!({"spec": {"schedule": "0 9 * * *", "timeZone": "Europe/Paris"}}));
        let (cron, tz) = schedule(&paris).unwrap();
        let (_, nine) = most_recent(&paris, now, &cron, &tz, true);
        assert_eq!(nine, Some(at("2026-01-01T08:00:00Z")));
        assert!(schedule(&cj(json!({"spec": {"timeZone": "Mars/Olympus"}}))).is_none());
        assert!(schedule(&cj(json!({"spec": {"schedule": "0 0 * * * *"}}))).is_none());
        let job = job_from_template(&paris, at("2026-01-01T08:00:00Z"), &tz);
        assert_eq!(job["metadata"]["name"], "h-29454240");
        assert_eq!(
            job["metadata"]["annotations"][SCHEDULED_ANNOTATION],
            "2026-01-01T09:00:00+01:00"
        );
    }
}
