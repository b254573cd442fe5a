//! Jobs with a start time (an onboarding's first day, a leave date): they run then, not before.
//!
//! A job whose start is near (within [`PARK_AFTER`]) waits on SQS: it is handed back as a
//! transient failure and redelivered after the queue's visibility timeout. A job whose start is
//! further away is parked in the table (`SCHEDULED` / `{not before}#{tenant}#{job}`, see
//! [`keys::scheduled_job`]) with its record left `queued` and a pending [`WAIT_FOR_START`] step;
//! the scheduler ([`send_due`], on the onboarding function's 5-minute schedule) finds the due
//! ones, marks their [`WAIT_FOR_START`] step done in their record and sends each to its own
//! queue, where the worker runs it. A job cancelled while parked
//! (`DELETE /tenants/{id}/jobs/{job_id}`) has its record `cancelled`: the scheduler drops it.
//!
//! The parked item holds the job as queued: an onboarding's password only as the name of its
//! secret.

use chrono::{DateTime, Duration, Utc};
use futures::TryStreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use crate::config::Config;
use crate::jobs::{JobError, JobProgress};
use crate::model::{Job, JobKind, JobRecord, JobStatus, JobStep, StepOutcome};
use crate::platform::Platform;
use crate::store::{Record, keys};
use crate::{QueueError, StoreError};

/// Starts further away than this are parked in the table; nearer ones wait on SQS redelivery.
/// More than SQS's 5-minute FIFO deduplication window, so the job sent again is not dropped as a
/// duplicate of the first send.
pub const PARK_AFTER: Duration = Duration::minutes(10);
/// A parked job nobody sent (its tenant removed, say) disappears this long after its start.
const PARKED_RETENTION: Duration = Duration::days(14);
/// The step of a job that waits for its start time: pending while parked, done once due.
pub const WAIT_FOR_START: &str = "wait_for_start";

/// A job parked until its start time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedJob {
    pub not_before: DateTime<Utc>,
    pub job: Job,
}

impl Record for ParkedJob {
    fn expires_at(&self) -> Option<DateTime<Utc>> {
        Some(self.not_before + PARKED_RETENTION)
    }
}

/// Why the due jobs could not all be sent.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ScheduleError {
    #[error("parked jobs could not be read or removed: {0}")]
    Store(#[from] StoreError),
    #[error("a due job could not be queued: {0}")]
    Queue(#[from] QueueError),
}

/// The queue a job runs from: onboarding FIFO for onboard, membership and mover jobs
/// (update_account, set_sign_in) and group provisioning jobs, offboarding FIFO
/// for offboard, the license-refresh queue, the sync queue.
pub fn queue_url<'a>(config: &'a Config, job: &Job) -> &'a str {
    match job.kind {
        JobKind::Onboard(_)
        | JobKind::UpdateMemberships(_)
        | JobKind::UpdateAccount(_)
        | JobKind::SetSignIn(_)
        | JobKind::CreateGroup(_)
        | JobKind::UpdateGroup(_)
        | JobKind::SetGroupMembers(_)
        | JobKind::DeleteGroup(_) => &config.onboarding_queue_url,
        JobKind::Offboard(_) => &config.offboarding_queue_url,
        JobKind::LicenseRefresh(_) => &config.license_refresh_queue_url,
        JobKind::Sync(_) => &config.sync_queue_url,
    }
}

/// The key of `job`'s parked item, when it waits for a start time.
pub fn parked_key(job: &Job) -> Option<crate::Key> {
    job.start_at()
        .map(|start_at| keys::scheduled_job(start_at, &job.tenant_id, &job.job_id))
}

/// Parks `job` until `not_before`.
pub async fn park(
    platform: &Platform,
    job: &Job,
    not_before: DateTime<Utc>,
) -> Result<(), JobError> {
    let key = keys::scheduled_job(not_before, &job.tenant_id, &job.job_id);
    let parked = ParkedJob {
        not_before,
        job: job.clone(),
    };
    platform.store.put(&key, &parked).await?;
    Ok(())
}

/// Whether a job may run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartGate {
    /// No start time, a dry run, or the start time has come: run it.
    Due,
    /// Parked until its start time: end this delivery, the job stays `queued`.
    Parked,
}

/// The start-time gate of a worker: a job without a start time, a dry run, or one the scheduler
/// released ([`WAIT_FOR_START`] done) is due; one starting within [`PARK_AFTER`] is handed back to
/// SQS (a transient error); one starting later is parked and its [`WAIT_FOR_START`] step
/// recorded pending.
pub async fn gate(
    platform: &Platform,
    job: &Job,
    progress: &mut JobProgress,
    now: DateTime<Utc>,
) -> Result<StartGate, JobError> {
    let Some(start_at) = job.start_at() else {
        return Ok(StartGate::Due);
    };
    if job.dry_run || progress.finished_step(WAIT_FOR_START).is_some() {
        return Ok(StartGate::Due);
    }
    if start_at <= now {
        if progress
            .record()
            .steps
            .iter()
            .any(|s| s.name == WAIT_FOR_START)
        {
            progress
                .step(wait_step(StepOutcome::Done, "start time reached".into()))
                .await?;
        }
        return Ok(StartGate::Due);
    }
    if start_at - now <= PARK_AFTER {
        return Err(JobError::transient(format!(
            "the job starts at {start_at}, not before"
        )));
    }
    park(platform, job, start_at).await?;
    progress
        .park(wait_step(
            StepOutcome::Pending,
            format!("parked; runs at {start_at}, not before (cancel it before then with DELETE on the job)"),
        ))
        .await?;
    Ok(StartGate::Parked)
}

/// What a worker does with a job before starting it ([`hold`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// No start time, a dry run, a start time further than [`PARK_AFTER`] (the worker parks it),
    /// or the start time has come: start it.
    Start,
    /// Starts within [`PARK_AFTER`], at this time: the record stays `queued` with a pending
    /// [`WAIT_FOR_START`] step and the message goes back to the queue for redelivery.
    Waits(DateTime<Utc>),
    /// Cancelled while it waited: skip it.
    Cancelled,
}

/// The rule for a job whose start time is near (at most [`PARK_AFTER`] away): it waits on the
/// queue as `queued`, never `running`, so `DELETE /tenants/{id}/jobs/{job_id}` cancels it until
/// its start time, exactly as it cancels a parked one. The wait is written conditionally, so a
/// cancellation that lands first wins and the job is skipped. From its start time the job runs
/// and a cancellation answers 409.
pub async fn hold(
    progress: &mut JobProgress,
    job: &Job,
    now: DateTime<Utc>,
) -> Result<Hold, JobError> {
    let Some(start_at) = job.start_at() else {
        return Ok(Hold::Start);
    };
    if job.dry_run || progress.finished_step(WAIT_FOR_START).is_some() {
        return Ok(Hold::Start);
    }
    let waited = progress
        .record()
        .steps
        .iter()
        .any(|s| s.name == WAIT_FOR_START);
    if start_at <= now {
        // Its wait ends here, written while the record is still `queued`, so a cancellation that
        // landed first still wins.
        let done = wait_step(StepOutcome::Done, "start time reached".into());
        return Ok(if !waited || progress.wait(done).await? {
            Hold::Start
        } else {
            Hold::Cancelled
        });
    }
    if start_at - now > PARK_AFTER {
        return Ok(Hold::Start);
    }
    let step = wait_step(
        StepOutcome::Pending,
        format!(
            "waits on the queue; runs at {start_at}, not before (cancel it before then with DELETE on the job)"
        ),
    );
    Ok(if progress.wait(step).await? {
        Hold::Waits(start_at)
    } else {
        Hold::Cancelled
    })
}

fn wait_step(outcome: StepOutcome, detail: String) -> JobStep {
    JobStep {
        name: WAIT_FOR_START.into(),
        outcome,
        graph_request_id: None,
        detail: Some(detail),
        at: None,
        observed: Vec::new(),
        not_done: Vec::new(),
    }
}

/// When a scheduled invocation runs: the EventBridge event's `time` (the time the schedule
/// fired), else `now`.
pub fn scheduled_time(event: &Value, now: DateTime<Utc>) -> DateTime<Utc> {
    event
        .get("time")
        .and_then(Value::as_str)
        .and_then(|time| DateTime::parse_from_rfc3339(time).ok())
        .map_or(now, |time| time.to_utc())
}

/// Sends every parked job whose start time has come by `now` to its own queue, then removes it.
/// A job whose record is no longer `queued` (cancelled, or already run) is removed unsent.
/// Returns how many were sent.
///
/// Each step can be repeated: the record's [`WAIT_FOR_START`] step is marked done (only while the
/// record is `queued`, so a cancellation wins), then the job is sent, then the parked item
/// deleted; a run cut off in between sends it again, and the worker skips a job already finished.
pub async fn send_due(platform: &Platform, now: DateTime<Utc>) -> Result<usize, ScheduleError> {
    let mut parked = std::pin::pin!(
        platform
            .store
            .query::<ParkedJob>(&keys::scheduled_jobs(), None)
    );
    let mut sent = 0;
    // Sort keys start with the start time, so the due jobs come first.
    while let Some(item) = parked.try_next().await? {
        if item.not_before > now {
            break;
        }
        let job = &item.job;
        let parked_key = keys::scheduled_job(item.not_before, &job.tenant_id, &job.job_id);
        if release(platform, job, now).await? {
            platform
                .queue
                .send_job(queue_url(&platform.config, job), job)
                .await?;
            tracing::info!(job_id = %job.job_id, tenant_id = %job.tenant_id, job_type = job.job_type(), not_before = %item.not_before, "start time reached; job queued");
            sent += 1;
        }
        platform.store.delete(&parked_key).await?;
    }
    Ok(sent)
}

/// Marks the parked job's [`WAIT_FOR_START`] step done while its record is still `queued`;
/// `false` when it is not (cancelled, run, or its record gone with its tenant).
async fn release(platform: &Platform, job: &Job, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let key = keys::job(&job.tenant_id, &job.job_id);
    let Some(mut record) = platform.store.get::<JobRecord>(&key).await? else {
        tracing::warn!(job_id = %job.job_id, tenant_id = %job.tenant_id, "parked job without a record dropped");
        return Ok(false);
    };
    if record.status != JobStatus::Queued {
        tracing::info!(job_id = %job.job_id, tenant_id = %job.tenant_id, status = ?record.status, "parked job no longer queued; dropped");
        return Ok(false);
    }
    let mut step = wait_step(StepOutcome::Done, format!("start time reached ({now})"));
    step.at = Some(now);
    match record.steps.iter_mut().find(|s| s.name == WAIT_FOR_START) {
        Some(existing) => *existing = step,
        None => record.steps.push(step),
    }
    record.updated_at = Utc::now();
    // Over the record read (queued) only: a cancellation or a delivery that wrote it meanwhile
    // is never overwritten.
    let released = platform.store.put_job_record_revised(&mut record).await?;
    if !released {
        tracing::info!(job_id = %job.job_id, tenant_id = %job.tenant_id, "parked job cancelled or run meanwhile; dropped");
    }
    Ok(released)
}

/// The stored text of [`JobStatus::Queued`].
pub const QUEUED: &str = "queued";
/// The stored text of [`JobStatus::Cancelled`].
pub const CANCELLED: &str = "cancelled";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn given_the_status_texts_when_compared_with_serde_then_they_match() {
        assert_eq!(json!(JobStatus::Queued), json!(QUEUED));
        assert_eq!(json!(JobStatus::Cancelled), json!(CANCELLED));
    }

    #[test]
    fn given_a_scheduled_event_when_read_then_its_time_is_the_run_time() {
        let now = Utc::now();
        let event = json!({"detail-type": "Scheduled Event", "time": "2030-01-02T03:04:05Z"});
        assert_eq!(
            scheduled_time(&event, now).to_rfc3339(),
            "2030-01-02T03:04:05+00:00"
        );
        assert_eq!(scheduled_time(&json!({}), now), now);
    }
}
