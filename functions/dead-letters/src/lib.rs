//! The dead-letter function: the last word on a job whose message SQS gave up on, so that no job
//! is left `queued` or `running` for ever.
//!
//! A message reaches a dead-letter queue after the queue's `maxReceiveCount` (5) deliveries that
//! did not end it: its worker failed transiently every time, Lambda cut the worker off at its
//! timeout, the worker crashed, or it declined to start the job for lack of time left in the
//! invocation. Its record then still says `queued` or `running`, and no completion event was
//! put. This function reads the dead-letter queues of the lifecycle queues (onboarding,
//! offboarding, license refresh) and of the sync queue, and settles each message:
//!
//! - a lifecycle job whose record is not finished is marked `failed` with "dead-lettered after 5
//!   deliveries: <last known reason>", and its completion event is put; an onboarding's password
//!   secret is deleted, as when the job fails in its worker;
//! - a sync job whose run is not finished is marked `failed` the same way, in the sync log and
//!   as the tenant's last sync;
//! - a malformed job whose tenant and id (or sync run id) can be read is failed with the reason
//!   it is not valid;
//! - a record that has ended already is left as it is (the worker ended it on its last delivery),
//!   and so is a record of another job under the same id;
//! - anything else (no readable tenant and id, a tenant that is not connected) is logged as an
//!   error naming the message and the reason, the only trace an operator gets.
//!
//! The record is read, the event put, and then the record written on condition that it has not
//! ended meanwhile. A message whose settling fails (DynamoDB or EventBridge unavailable) is
//! reported as a batch item failure and stays in its dead-letter queue for the next try. The
//! batch goes through the runner's one loop ([`lifecycle::jobs::run_batch`]), as every queue's.

use std::time::SystemTime;

use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use futures::future::BoxFuture;
use lifecycle::jobs::{MessageWorker, RETRY_NOTE, Redelivery};
use lifecycle::model::{
    ConnectionStatus, Job, JobKind, JobParseError, JobRecord, JobStatus, SyncRunStatus,
    TenantConnection,
};
use lifecycle::sync_runs as runs;
use lifecycle::{
    Config, Function, HandlerError, Invocation, JobId, MAX_DELIVERIES, Platform, PlatformError,
    PutOutcome, StoreError, SyncRunId, TenantId,
};
use serde_json::Value;
use tracing::Instrument as _;

/// The dead-letter function, built once per cold start.
#[derive(Clone)]
pub struct App {
    platform: Platform,
}

/// What became of one dead-lettered message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Settled {
    /// The job's record now says `failed` with this reason; its completion event was put.
    JobFailed(String),
    /// The sync run now says `failed` with this reason.
    RunFailed(String),
    /// The record had ended already: nothing written, no event.
    AlreadyEnded,
    /// Nothing could be recorded, for this reason (logged as an error).
    NotRecorded(String),
}

/// Why a message could not be settled now; it stays in its dead-letter queue for the next try.
#[derive(Debug)]
struct Unsettled(String);

impl From<StoreError> for Unsettled {
    fn from(error: StoreError) -> Self {
        Self(error.to_string())
    }
}

impl From<lifecycle::events::EventsError> for Unsettled {
    fn from(error: lifecycle::events::EventsError) -> Self {
        Self(error.to_string())
    }
}

impl App {
    /// Builds the function from the shared configuration and the AWS SDK configuration (no I/O).
    pub fn new(config: Config, aws: &SdkConfig) -> Result<App, PlatformError> {
        Ok(App {
            platform: Platform::new(config, aws)?,
        })
    }

    /// Settles every message of a batch from a dead-letter queue (the runner's batch loop,
    /// [`lifecycle::jobs::run_batch`]); the answer names the messages that could not be settled
    /// now (they stay in the queue; on a FIFO dead-letter queue with the messages after them, as
    /// AWS asks of a FIFO partial batch response).
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        lifecycle::jobs::run_batch(&self.platform, event, &DeadLetters, None).await
    }
}

/// The dead-letter queues' messages, each settled once.
struct DeadLetters;

impl MessageWorker for DeadLetters {
    fn work<'a>(
        &'a self,
        platform: &'a Platform,
        message: &'a SqsMessage,
        _deadline: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), Redelivery>> {
        Box::pin(async move {
            let message_id = message.message_id.as_deref().unwrap_or_default();
            let queue = message.event_source_arn.as_deref().unwrap_or_default();
            let span = tracing::info_span!("dead_letter", %message_id, %queue);
            match settle_message(platform, message).instrument(span).await {
                Ok(settled) => {
                    log_outcome(message_id, queue, &settled);
                    Ok(())
                }
                Err(Unsettled(reason)) => {
                    tracing::warn!(%message_id, %queue, %reason, "dead-lettered message could not be settled; it stays in the queue for the next try");
                    Err(Redelivery::soon(reason))
                }
            }
        })
    }
}

impl Function for App {
    fn invoke(
        &self,
        event: Value,
        _invocation: Invocation,
    ) -> BoxFuture<'_, Result<Value, HandlerError>> {
        Box::pin(async move {
            let event: SqsEvent = serde_json::from_value(event)?;
            Ok(serde_json::to_value(self.handle(event).await)?)
        })
    }
}

fn log_outcome(message_id: &str, queue: &str, settled: &Settled) {
    match settled {
        Settled::JobFailed(reason) => {
            tracing::warn!(message_id, queue, %reason, "dead-lettered job marked failed")
        }
        Settled::RunFailed(reason) => {
            tracing::warn!(message_id, queue, %reason, "dead-lettered sync run marked failed")
        }
        Settled::AlreadyEnded => {
            tracing::info!(message_id, queue, "dead-lettered job had ended already")
        }
        Settled::NotRecorded(reason) => {
            tracing::error!(message_id, queue, %reason, "dead-lettered message left no record")
        }
    }
}

/// Settles one dead-lettered message (see the module documentation).
async fn settle_message(platform: &Platform, message: &SqsMessage) -> Result<Settled, Unsettled> {
    let body = message.body.as_deref().unwrap_or_default();
    match Job::from_json(body) {
        Ok(job) => match &job.kind {
            JobKind::Sync(sync) => {
                settle_run(platform, &job.tenant_id, &sync.sync_run_id, None).await
            }
            _ => settle_job(platform, &job).await,
        },
        Err(error) => settle_malformed(platform, body, error).await,
    }
}

/// The sync run statuses that end a run, as stored.
fn ended_run_statuses() -> Vec<String> {
    [
        SyncRunStatus::Ok,
        SyncRunStatus::Partial,
        SyncRunStatus::Failed,
    ]
    .iter()
    .filter_map(|status| serde_json::to_value(status).ok())
    .filter_map(|value| value.as_str().map(str::to_owned))
    .collect()
}

/// Why a job that was read whole ended in a dead-letter queue, from what its record says.
fn dead_letter_reason(record: Option<&JobRecord>) -> String {
    let last_known = match record {
        Some(JobRecord {
            error: Some(error), ..
        }) => error.trim_start_matches(RETRY_NOTE).to_owned(),
        Some(JobRecord {
            status: JobStatus::Running,
            ..
        }) => "its function stopped before the job ended (cut off at its Lambda timeout, or crashed)"
            .to_owned(),
        _ => "the job never started (each delivery ran out of invocation time before starting it, or failed before recording it)".to_owned(),
    };
    format!(
        "dead-lettered after {MAX_DELIVERIES} deliveries: {last_known}. Send the job again under a new job_id"
    )
}

/// The connected (or reconnectable) tenant of a job, or why nothing may be written for it: a
/// removed tenant's data is being deleted, and an unknown tenant gets no records.
async fn writable_tenant(
    platform: &Platform,
    tenant_id: &TenantId,
) -> Result<Result<TenantConnection, String>, Unsettled> {
    Ok(match platform.tenant(tenant_id).await? {
        None => Err(format!("tenant {tenant_id} is not connected")),
        Some(TenantConnection {
            status: ConnectionStatus::Removed,
            ..
        }) => Err(format!("tenant {tenant_id} was removed")),
        Some(tenant) => Ok(tenant),
    })
}

/// A lifecycle job read whole: failed unless its record ended (or belongs to another job).
async fn settle_job(platform: &Platform, job: &Job) -> Result<Settled, Unsettled> {
    if let Err(reason) = writable_tenant(platform, &job.tenant_id).await? {
        return Ok(Settled::NotRecorded(format!(
            "{} job {}: {reason}",
            job.job_type(),
            job.job_id
        )));
    }
    let stored = platform
        .store
        .job_record(&job.tenant_id, &job.job_id)
        .await?;
    let now = Utc::now();
    let settled = match stored {
        Some(record) if record.status.is_finished() => {
            if record.announce_pending {
                // Whoever ended it stopped before its completion event was put.
                announce(platform, record).await?;
            }
            Settled::AlreadyEnded
        }
        // The id names another job of this tenant (a reused id): its record is not this
        // message's to end.
        Some(record) if record.job.as_ref().is_some_and(|accepted| accepted != job) => {
            Settled::NotRecorded(format!(
                "job id {} of tenant {} is taken by another job; the record was left as it is",
                job.job_id, job.tenant_id
            ))
        }
        Some(mut record) => {
            let reason = dead_letter_reason(Some(&record));
            record.status = JobStatus::Failed;
            record.error = Some(reason.clone());
            record.completed_at = Some(now);
            record.updated_at = now;
            record.announce_pending = true;
            // The record first, as for every job a worker ends, and only over the record read:
            // a writer that came between (a delivery that ended it) owns its end and its event.
            if platform.store.put_job_record_revised(&mut record).await? {
                announce(platform, record).await?;
                Settled::JobFailed(reason)
            } else {
                Settled::AlreadyEnded
            }
        }
        None => {
            let reason = dead_letter_reason(None);
            let mut record = JobRecord::queued(job, now);
            record.status = JobStatus::Failed;
            record.error = Some(reason.clone());
            record.completed_at = Some(now);
            platform.events.job_finished(&record).await?;
            match platform.store.put_new_job_record(&record).await? {
                PutOutcome::Created => Settled::JobFailed(reason),
                PutOutcome::AlreadyExists => Settled::AlreadyEnded,
            }
        }
    };
    if matches!(settled, Settled::JobFailed(_)) {
        forget_password(platform, job).await;
    }
    Ok(settled)
}

/// Puts the completion event of a job whose finished record is marked
/// [`JobRecord::announce_pending`], then clears the mark (unless another writer changed the
/// record meanwhile: then it is that writer's).
async fn announce(platform: &Platform, mut record: JobRecord) -> Result<(), Unsettled> {
    platform.events.job_finished(&record).await?;
    record.announce_pending = false;
    platform.store.put_job_record_revised(&mut record).await?;
    Ok(())
}

/// An onboarding that will not run again needs no password: its secret is deleted, as the
/// onboarding worker does when a job fails for good. Only the secret named for this job (the only
/// one the job may reference) is touched.
async fn forget_password(platform: &Platform, job: &Job) {
    if !matches!(job.kind, JobKind::Onboard(_)) {
        return;
    }
    if let Err(error) = platform
        .vault
        .delete_onboarding_password(&job.tenant_id, &job.job_id)
        .await
    {
        tracing::warn!(job_id = %job.job_id, %error, "could not delete the password secret of a dead-lettered onboarding");
    }
}

/// A message that is not a valid job. A sync job whose tenant and run id can be read fails its
/// run; a lifecycle job whose tenant and id can be read is recorded failed unless a record exists
/// (its worker recorded the refusal, or the id is another job's). The reason quotes no value.
async fn settle_malformed(
    platform: &Platform,
    body: &str,
    error: JobParseError,
) -> Result<Settled, Unsettled> {
    let reason = format!("the job is not valid: {}", error.reason);
    let Some(tenant_id) = error.tenant_id.clone() else {
        return Ok(Settled::NotRecorded(format!(
            "{reason} (no readable tenant_id)"
        )));
    };
    if error.job_type == Some("sync") {
        let Some(run_id) = readable_run_id(body) else {
            return Ok(Settled::NotRecorded(format!(
                "{reason} (no readable sync_run_id)"
            )));
        };
        return settle_run(platform, &tenant_id, &run_id, Some(reason)).await;
    }
    let Some(job_id) = error.job_id.clone() else {
        return Ok(Settled::NotRecorded(format!(
            "{reason} (no readable job_id)"
        )));
    };
    if let Err(why) = writable_tenant(platform, &tenant_id).await? {
        return Ok(Settled::NotRecorded(format!("{reason}; {why}")));
    }
    record_refusal(platform, tenant_id, job_id, error.job_type, reason).await
}

/// Records a malformed job as failed when no record has its id.
async fn record_refusal(
    platform: &Platform,
    tenant_id: TenantId,
    job_id: JobId,
    job_type: Option<&str>,
    reason: String,
) -> Result<Settled, Unsettled> {
    if platform
        .store
        .job_record(&tenant_id, &job_id)
        .await?
        .is_some()
    {
        return Ok(Settled::AlreadyEnded);
    }
    let record = JobRecord::refused(tenant_id, job_id, job_type, reason.clone(), Utc::now());
    platform.events.job_finished(&record).await?;
    Ok(match platform.store.put_new_job_record(&record).await? {
        PutOutcome::Created => Settled::JobFailed(reason),
        PutOutcome::AlreadyExists => Settled::AlreadyEnded,
    })
}

/// The `sync_run_id` of a job body that did not parse, when it is a valid run id.
fn readable_run_id(body: &str) -> Option<SyncRunId> {
    let value: Value = serde_json::from_str(body).ok()?;
    SyncRunId::parse(value.get("sync_run_id")?.as_str()?).ok()
}

/// A sync job: its run fails unless it ended, in the sync log and as the tenant's last sync.
/// A run with no record is not created (nothing ran under it).
async fn settle_run(
    platform: &Platform,
    tenant_id: &TenantId,
    run_id: &SyncRunId,
    invalid: Option<String>,
) -> Result<Settled, Unsettled> {
    let tenant = match writable_tenant(platform, tenant_id).await? {
        Ok(tenant) => tenant,
        Err(reason) => {
            return Ok(Settled::NotRecorded(format!("sync run {run_id}: {reason}")));
        }
    };
    let Some((key, mut run)) = runs::find_run(&platform.store, tenant_id, run_id).await? else {
        return Ok(Settled::NotRecorded(format!(
            "tenant {tenant_id} has no sync run {run_id}{}",
            invalid.map(|r| format!(" ({r})")).unwrap_or_default()
        )));
    };
    if run.status.is_finished() {
        return Ok(Settled::AlreadyEnded);
    }
    let reason = invalid.unwrap_or_else(|| {
        let last_known = match (&run.error, run.status) {
            (Some(error), _) => error.clone(),
            (None, SyncRunStatus::Syncing) => "its function stopped before the run ended (cut off at its Lambda timeout, or crashed), or it failed transiently on every delivery".to_owned(),
            (None, _) => "the run never started (it failed before syncing on every delivery)".to_owned(),
        };
        format!(
            "dead-lettered after {MAX_DELIVERIES} deliveries: {last_known}. The next scheduled sync (or POST /tenants/{{tenant_id}}/sync) starts a new run"
        )
    });
    let now = Utc::now();
    run.status = SyncRunStatus::Failed;
    run.error = Some(reason.clone());
    run.ended_at = Some(now);
    let ended = ended_run_statuses();
    let ended: Vec<&str> = ended.iter().map(String::as_str).collect();
    if platform.store.put_unless_status(&key, &run, &ended).await? == PutOutcome::AlreadyExists {
        return Ok(Settled::AlreadyEnded);
    }
    runs::clear_pending(platform, tenant_id, run_id).await;
    if let Some(mut last) = tenant.last_sync.clone()
        && &last.sync_run_id == run_id
        && !last.status.is_finished()
    {
        last.status = SyncRunStatus::Failed;
        last.at = now;
        let mut shown = tenant;
        shown.last_sync = Some(last);
        platform.save_tenant(&shown).await?;
    }
    Ok(Settled::RunFailed(reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_each_last_known_state_when_a_reason_is_given_then_it_names_the_deliveries_and_the_cause()
     {
        // GIVEN a record that failed transiently, one cut off while running, none at all
        let tenant = TenantId::parse("72f988bf-86f1-41af-91ab-2d7cd011db47").unwrap();
        let job = Job::new(
            tenant,
            JobKind::Offboard(
                serde_json::from_value(serde_json::json!({"account": "a@contoso.com"})).unwrap(),
            ),
        );
        let mut transient = JobRecord::queued(&job, Utc::now());
        transient.status = JobStatus::Running;
        transient.error = Some(format!("{RETRY_NOTE}throttled by Microsoft Graph"));
        let mut cut_off = JobRecord::queued(&job, Utc::now());
        cut_off.status = JobStatus::Running;

        // WHEN / THEN each reason says how many deliveries and the last known cause
        let reason = dead_letter_reason(Some(&transient));
        assert!(
            reason.starts_with("dead-lettered after 5 deliveries: throttled by Microsoft Graph"),
            "{reason}"
        );
        assert!(
            dead_letter_reason(Some(&cut_off)).contains("Lambda timeout"),
            "{}",
            dead_letter_reason(Some(&cut_off))
        );
        assert!(dead_letter_reason(None).contains("never started"));
    }
}
