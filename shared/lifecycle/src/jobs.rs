//! The SQS job runner every lifecycle worker uses: idempotent, resumable, with partial batch
//! failures.
//!
//! For each message: the job is parsed with [`Job::from_json`] (a malformed body whose tenant and
//! job id can be read fails that job with the reason; any other is reported as a batch item
//! failure, so SQS redelivers it and, after `maxReceiveCount`, moves it to the dead-letter queue:
//! nothing is dropped); the tenant is checked (not connected — never, or removed —: nothing is
//! written under it, the completion event says why; needing reconnection, or read-only for a
//! write job: the job is marked failed with the reason and no Graph call is made); the job record is written
//! once (the job id is the idempotency key) and a finished record means a duplicate delivery,
//! which is skipped; then the worker's [`JobHandler`] runs with a [`JobProgress`] that persists
//! every step, so a redelivery resumes at the first unfinished step. Each of those writes is
//! made only over the record's revision this delivery read: of two deliveries running at once,
//! the one overtaken stops without writing ([`JobError::Overtaken`]). After the job, a tenant
//! removed meanwhile is swept ([`Platform::sweep_if_removed`]): nothing the job wrote outlives
//! the removal.
//!
//! A delivery that fails transiently uses up one of the job's [`MAX_DELIVERIES`] (SQS's
//! `maxReceiveCount`); a job that must wait (Graph's `Retry-After` of [`LONG_RETRY_AFTER`] or
//! more, or a worker stopping part-way on purpose: [`JobError::Later`]) is handed back instead
//! ([`hand_back`]): on a standard queue as a fresh message delayed by the wait, so waiting never
//! dead-letters a job. The sync worker, which keeps its own run record instead of a job record,
//! runs its batches through the same loop ([`run_batch`], with a [`MessageWorker`] of its own)
//! and counts and hands back its deliveries through the same functions ([`receive_count`],
//! [`hand_back`], [`hide`], [`redeliver`]).

use std::time::{Duration, SystemTime};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use futures::future::BoxFuture;
use tracing::Instrument as _;

use crate::Invocation;
use crate::events::Events;
use crate::model::{
    ConnectionStatus, Job, JobParseError, JobRecord, JobStatus, JobStep, TenantConnection,
};
use crate::platform::Platform;
use crate::store::{PutOutcome, Store, keys};

mod batch;
mod error;
mod redelivery;
pub use batch::{MessageWorker, run_batch};
pub use error::{Cause, JobError};
pub use redelivery::{HandedBack, Redelivery, hand_back, hide, receive_count, redeliver};

/// A `Retry-After` from this long up is waited out on the queue, not in the invocation: the job
/// is handed back ([`hand_back`]) instead of being left for redelivery, so a long throttle does
/// not use up the job's deliveries. Graph clients wait shorter ones themselves while the
/// invocation has time; one that still reaches the runner counts as a failed delivery, so a
/// throttle that never ends still ends the job.
pub const LONG_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How long a job may keep being handed back ([`JobError::Later`], or a long `Retry-After`) from
/// the first time it was: a tenant whose Graph throttles it a whole day fails the job with the
/// reason (its record's `waiting_since`), rather than sending it again every 15 minutes forever.
pub const MAX_WAITING: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// How many deliveries a job on a FIFO queue may spend waiting for Graph (a `Retry-After` of
/// [`LONG_RETRY_AFTER`] or more, or a worker's [`JobError::Later`]). SQS allows no delay per
/// message there, and a fresh message would go behind the later jobs of its message group, so a
/// handed-back job keeps its message, hidden for the wait, and SQS counts the receive. The runner
/// counts those deliveries on the job's record (`waited_deliveries`) and not toward
/// [`MAX_DELIVERIES`]; the FIFO queues' `maxReceiveCount` is the sum of the two (a devstack test
/// keeps them equal), so a job that only waited never reaches the dead-letter queue early.
pub const MAX_FIFO_WAITS: u32 = 10;

/// A job's record as it runs; every step is written through to DynamoDB.
///
/// Each write is conditional on the stored record being the revision this delivery last read
/// or wrote ([`Store::put_job_record_revised`]): when another delivery of the job (or the API's
/// cancel) wrote it meanwhile, the write fails with [`JobError::Overtaken`] and every later one
/// of this delivery fails the same way without reaching the table. The runner then ends this
/// delivery without another write, event or clean-up, and its message is deleted, not handed
/// back: the writer that won holds a delivery of its own (its message stays on the queue until
/// it ends, and comes back if it crashes), or has cancelled the job; handing this one back would
/// only bring a third copy to race it, using up the job's deliveries.
pub struct JobProgress {
    store: Store,
    events: Events,
    record: JobRecord,
    /// When the invocation running the job ends (Lambda's deadline), if the runner knows it.
    deadline: Option<SystemTime>,
    /// Set once a write found the record changed by another writer: nothing more is written.
    overtaken: bool,
}

impl JobProgress {
    /// When the invocation running this job ends: Graph calls of the job retry only while their
    /// waits end before it ([`Platform::tenant_graph_until`]).
    pub fn deadline(&self) -> Option<SystemTime> {
        self.deadline
    }

    /// The record as it stands.
    pub fn record(&self) -> &JobRecord {
        &self.record
    }

    /// The step named `name` if an earlier delivery finished it (done or skipped): do not redo it.
    pub fn finished_step(&self, name: &str) -> Option<&JobStep> {
        self.record.steps.iter().find(|step| {
            step.name == name
                && matches!(
                    step.outcome,
                    crate::model::StepOutcome::Done | crate::model::StepOutcome::Skipped
                )
        })
    }

    /// Records `step` (replacing an earlier attempt of the same name) and writes the record.
    pub async fn step(&mut self, mut step: JobStep) -> Result<(), JobError> {
        step.at.get_or_insert_with(Utc::now);
        match self.record.steps.iter_mut().find(|s| s.name == step.name) {
            Some(existing) => *existing = step,
            None => self.record.steps.push(step),
        }
        self.save().await
    }

    /// Records `step` and marks the job `queued` again in the same write: it is parked until its
    /// start time, so a reader that sees the step also sees a job that can still be cancelled.
    pub async fn park(&mut self, step: JobStep) -> Result<(), JobError> {
        self.record.status = JobStatus::Queued;
        self.step(step).await
    }

    /// Records `step` with the job `queued`, unless the record was cancelled meanwhile; `false`
    /// (nothing written) when it was. A job waiting for its start time stays cancellable, and a
    /// cancellation that landed first is never overwritten.
    pub async fn wait(&mut self, mut step: JobStep) -> Result<bool, JobError> {
        step.at.get_or_insert_with(Utc::now);
        self.record.status = JobStatus::Queued;
        match self.record.steps.iter_mut().find(|s| s.name == step.name) {
            Some(existing) => *existing = step,
            None => self.record.steps.push(step),
        }
        self.save_unless_cancelled().await
    }

    /// Marks the job `running`, unless it was cancelled since it was read; `false` (nothing
    /// written) when it was.
    async fn start(&mut self) -> Result<bool, JobError> {
        self.record.status = JobStatus::Running;
        self.save_unless_cancelled().await
    }

    /// [`save`](Self::save), but `false` instead of [`JobError::Overtaken`] when the writer that
    /// came first cancelled the job (`DELETE` on it): a cancellation is never overwritten.
    async fn save_unless_cancelled(&mut self) -> Result<bool, JobError> {
        match self.save().await {
            Ok(()) => Ok(true),
            Err(overtaken @ JobError::Overtaken { .. }) => {
                let key = keys::job(&self.record.tenant_id, &self.record.job_id);
                match self.store.get::<JobRecord>(&key).await? {
                    Some(stored) if stored.status == JobStatus::Cancelled => Ok(false),
                    _ => Err(overtaken),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// Writes the record if it is still the revision this delivery last read or wrote;
    /// [`JobError::Overtaken`] (nothing written, now or later) when another writer changed it.
    async fn save(&mut self) -> Result<(), JobError> {
        if self.overtaken {
            return Err(overtaken());
        }
        self.record.updated_at = Utc::now();
        if self.store.put_job_record_revised(&mut self.record).await? {
            Ok(())
        } else {
            self.overtaken = true;
            Err(overtaken())
        }
    }

    /// Ends the job: the finished record first, marked [`JobRecord::announce_pending`], then the
    /// completion event, then the mark cleared. The record's conditional write decides which
    /// of two deliveries racing to end the job puts the event (exactly one); a delivery that
    /// stops between the write and the event leaves the mark, and the next delivery of the job
    /// puts the event ([`accept`]): at least once.
    async fn finish(&mut self, status: JobStatus, error: Option<String>) -> Result<(), JobError> {
        self.end(status, error).await?;
        self.announce().await
    }

    /// Writes the finished record, marked [`JobRecord::announce_pending`]: once it is written,
    /// this delivery owns the job's end.
    async fn end(&mut self, status: JobStatus, error: Option<String>) -> Result<(), JobError> {
        self.record.status = status;
        self.record.error = error;
        self.record.completed_at = Some(Utc::now());
        self.record.receipt_digest = Some(crate::receipt::Receipt::of(&self.record).digest());
        self.record.announce_pending = true;
        self.save().await
    }

    /// Puts the finished job's completion event and clears [`JobRecord::announce_pending`].
    async fn announce(&mut self) -> Result<(), JobError> {
        self.events.job_finished(&self.record).await?;
        self.record.announce_pending = false;
        self.save().await
    }
}

/// Why a delivery stops when another writer changed its job's record ([`JobProgress`]).
fn overtaken() -> JobError {
    JobError::Overtaken {
        reason: "another delivery of this job (or a cancellation) wrote its record after this delivery read it; that writer owns the job, so this delivery stops without writing".into(),
    }
}

/// A worker's logic for one job.
pub trait JobHandler: Send + Sync {
    /// Runs `job` for `tenant`, recording steps in `progress`. `Ok` ends the job with that status
    /// (`Succeeded` or `CompletedWithErrors`), or parks it unfinished (`Queued`: it will be sent
    /// again later, e.g. at its start time); an error fails or retries it (see [`JobError`]).
    fn run<'a>(
        &'a self,
        job: &'a Job,
        tenant: &'a TenantConnection,
        progress: &'a mut JobProgress,
    ) -> BoxFuture<'a, Result<JobStatus, JobError>>;

    /// Called once when `job` ends failed for good — refused before it ran (tenant unknown,
    /// read-only, needing reconnection), failed by [`run`](Self::run), or given up after
    /// [`MAX_DELIVERIES`] — so the worker can delete what only it knows about (an onboarding
    /// password secret). It must be idempotent; its errors are the worker's to log.
    fn abandon<'a>(&'a self, _job: &'a Job) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// How a transiently failed job's record notes its error while the message waits for
/// redelivery; the dead-letter function reads the last known error back without it.
pub const RETRY_NOTE: &str = "will retry: ";

/// How often SQS delivers a message before moving it to the dead-letter queue: the queues'
/// `maxReceiveCount` in infra/template.yaml (a devstack test keeps the two equal). On the last
/// delivery a transient failure fails the job for good, so its record does not stay "running".
pub const MAX_DELIVERIES: u32 = 5;

/// Runs every job of an SQS batch and reports the messages to redeliver.
///
/// On a FIFO queue the first failure also fails every later message of the batch, so jobs for
/// one account never overtake each other (as AWS requires for FIFO partial batch responses).
pub async fn run_sqs_jobs(
    platform: &Platform,
    event: SqsEvent,
    handler: &dyn JobHandler,
) -> SqsBatchResponse {
    run_batch(platform, event, &JobMessages(handler), None).await
}

/// Least time left before the invocation's deadline for the runner to start another job of the
/// batch. A job takes a few Graph calls (~1-3 s each when Graph answers at once); one that Lambda
/// cuts off mid-way is redelivered with the whole batch and stays `running` until then, so a job
/// that might not finish is better left to the next invocation.
pub const JOB_START_RESERVE: Duration = Duration::from_secs(10);

/// [`run_sqs_jobs`] within the invocation's deadline: a job is started only while at least
/// [`JOB_START_RESERVE`] remains; the messages not started are reported as batch item failures,
/// so SQS delivers them again to a fresh invocation instead of Lambda timing the whole batch out.
pub async fn run_sqs_jobs_within(
    platform: &Platform,
    event: SqsEvent,
    handler: &dyn JobHandler,
    invocation: &Invocation,
) -> SqsBatchResponse {
    run_batch(platform, event, &JobMessages(handler), Some(invocation)).await
}

/// A lifecycle job's message, worked by [`run_message`] with the worker's [`JobHandler`].
struct JobMessages<'h>(&'h dyn JobHandler);

impl MessageWorker for JobMessages<'_> {
    fn work<'a>(
        &'a self,
        platform: &'a Platform,
        message: &'a SqsMessage,
        deadline: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), Redelivery>> {
        Box::pin(run_message(platform, message, self.0, deadline))
    }
}

async fn run_message(
    platform: &Platform,
    message: &SqsMessage,
    handler: &dyn JobHandler,
    deadline: Option<SystemTime>,
) -> Result<(), Redelivery> {
    let message_id = message.message_id.as_deref().unwrap_or("?");
    let job = match Job::from_json(message.body.as_deref().unwrap_or_default()) {
        Ok(job) => job,
        Err(error) => return refuse_malformed(platform, message_id, error).await,
    };
    let queue_url = crate::schedule::queue_url(&platform.config, &job);
    let delivery = Delivery {
        receive_count: receive_count(message),
        fifo: crate::queue::is_fifo(queue_url),
        deadline,
    };
    let span = tracing::info_span!("job", job_id = %job.job_id, tenant_id = %job.tenant_id, job_type = job.job_type());
    async {
        let Err(error) = run_job(platform, &job, handler, &delivery).await else {
            return Ok(());
        };
        match error.hand_back_after() {
            Some(after) => {
                tracing::info!(%error, ?after, "job handed back for a later delivery");
                match hand_back(platform, queue_url, &job, after).await {
                    HandedBack::Resent => Ok(()),
                    // Kept from the queue for the wait, then delivered again (a receive that
                    // SQS counts; on a FIFO queue the record counts it as a wait).
                    HandedBack::Left => {
                        hide(platform, queue_url, message, after).await;
                        Err(Redelivery::after(error.to_string(), after))
                    }
                }
            }
            None => {
                tracing::warn!(%error, "job will be retried");
                Err(Redelivery::soon(error.to_string()))
            }
        }
    }
    .instrument(span)
    .await
}

/// One delivery of a job's message, as the runner sees it.
struct Delivery {
    /// SQS's receive count of the message.
    receive_count: u32,
    /// Whether the message came from a FIFO queue, where a hand-back keeps its message (a
    /// receive SQS counts, which the record counts as a wait).
    fifo: bool,
    /// When the invocation ends (Lambda's deadline), if known.
    deadline: Option<SystemTime>,
}

impl Delivery {
    /// The deliveries of the job so far, this one included, that were not waits for Graph: on a
    /// FIFO queue the receive count less the deliveries its record says were spent waiting.
    fn failed(&self, record: &JobRecord) -> u32 {
        if self.fifo {
            self.receive_count.saturating_sub(record.waited_deliveries)
        } else {
            self.receive_count
        }
    }
}

/// A message that is not a valid job. When its tenant and job id can be read, the job is
/// recorded as failed with the reason (and its completion event put), so the sender sees why at
/// the job's status URL, and the message is deleted: no redelivery can fix it. Otherwise it is
/// left for redelivery and then the dead-letter queue (never dropped). A record that exists
/// already is never overwritten: the id belongs to a job that was read whole.
async fn refuse_malformed(
    platform: &Platform,
    message_id: &str,
    error: JobParseError,
) -> Result<(), Redelivery> {
    let (Some(tenant_id), Some(job_id)) = (error.tenant_id, error.job_id) else {
        tracing::error!(message_id, reason = %error.reason, "malformed job message without a readable tenant and job id; left for redelivery and then the dead-letter queue");
        return Err(Redelivery::soon(format!(
            "malformed job message without a readable tenant and job id: {}",
            error.reason
        )));
    };
    let span = tracing::info_span!("job", %job_id, %tenant_id, job_type = error.job_type);
    async {
        let redeliver = |failure: &dyn std::fmt::Display| {
            tracing::warn!(error = %failure, "malformed job could not be recorded; will be retried");
            Redelivery::soon(failure.to_string())
        };
        let reason = format!("the job is not valid: {}", error.reason);
        let mut record = JobRecord::refused(tenant_id, job_id, error.job_type, reason, Utc::now());
        record.receipt_digest = Some(crate::receipt::Receipt::of(&record).digest());
        match platform.is_connected(&record.tenant_id).await {
            // Nothing is written under a tenant that is not connected (never, or not any more):
            // the completion event alone tells the sender.
            Ok(false) => {
                tracing::warn!(reason = %error.reason, "malformed job for a tenant that is not connected: dropped, nothing written");
                return platform
                    .events
                    .job_finished(&record)
                    .await
                    .map_err(|failure| redeliver(&failure));
            }
            Ok(true) => {}
            Err(failure) => return Err(redeliver(&failure)),
        }
        let key = keys::job(&record.tenant_id, &record.job_id);
        if let Some(existing) = platform
            .store
            .get::<JobRecord>(&key)
            .await
            .map_err(|failure| redeliver(&failure))?
        {
            if existing.status.is_finished() {
                return Ok(());
            }
            tracing::error!(reason = %error.reason, "malformed message reuses the id of an unfinished job; left for the dead-letter queue");
            return Err(Redelivery::soon(
                "a malformed message reuses the id of an unfinished job",
            ));
        }
        tracing::warn!(reason = %error.reason, "malformed job refused");
        // The event first, as for every finished job: a lost write is redone by the redelivery.
        platform
            .events
            .job_finished(&record)
            .await
            .map_err(|failure| redeliver(&failure))?;
        platform
            .store
            .put_new(&key, &record)
            .await
            .map_err(|failure| redeliver(&failure))?;
        Ok(())
    }
    .instrument(span)
    .await
}

async fn run_job(
    platform: &Platform,
    job: &Job,
    handler: &dyn JobHandler,
    delivery: &Delivery,
) -> Result<(), JobError> {
    let tenant = match platform.tenant(&job.tenant_id).await? {
        Some(tenant) if tenant.status != ConnectionStatus::Removed => tenant,
        _ => return drop_unconnected(platform, job, handler).await,
    };
    let result = match run_connected(platform, job, handler, tenant, delivery).await {
        // Deleted, not handed back: the writer that won owns the job (see [`JobProgress`]).
        Err(JobError::Overtaken { reason }) => {
            tracing::warn!(%reason, "job overtaken by another delivery; this one stops");
            Ok(())
        }
        other => other,
    };
    // Whoever notices a removal last cleans up: the record and whatever the worker wrote while
    // the tenant was being removed go, and so does what only the worker knows of (its secrets).
    if platform.sweep_if_removed(&job.tenant_id).await? {
        handler.abandon(job).await;
        tracing::warn!(
            "the tenant was removed while its job ran: the job ends here, nothing of it is kept"
        );
        return Ok(());
    }
    result
}

/// A job for a tenant that is not connected (never connected, removed, or being removed) writes
/// nothing under that tenant: a job record now would put data back under a tenant whose data
/// is gone. The completion event (failed, with the reason) is its only trace, so the sender is
/// told; the worker deletes what only it knows of (an onboarding's password secret).
async fn drop_unconnected(
    platform: &Platform,
    job: &Job,
    handler: &dyn JobHandler,
) -> Result<(), JobError> {
    let reason = format!(
        "tenant {} is not connected (never connected, or removed): connect it before sending jobs",
        job.tenant_id
    );
    tracing::warn!(%reason, "job dropped, nothing written");
    let record = JobRecord::refused(
        job.tenant_id.clone(),
        job.job_id.clone(),
        Some(job.job_type()),
        reason,
        Utc::now(),
    );
    platform.events.job_finished(&record).await?;
    handler.abandon(job).await;
    Ok(())
}

/// Runs a job of a connected tenant: its record is written once, then the worker runs.
async fn run_connected(
    platform: &Platform,
    job: &Job,
    handler: &dyn JobHandler,
    tenant: TenantConnection,
    delivery: &Delivery,
) -> Result<(), JobError> {
    let mut progress = match accept(platform, job, delivery.deadline).await? {
        Some(progress) => progress,
        None => return Ok(()),
    };
    if let Some(reason) = refusal(job, &tenant) {
        tracing::info!(job_id = %job.job_id, tenant_id = %job.tenant_id, %reason, "job refused");
        return fail(&mut progress, handler, job, reason).await;
    }
    // Deliveries that ended without a word (the function cut off at its timeout, or crashed)
    // count too: a FIFO queue's maxReceiveCount leaves room for waits, so there the runner ends
    // a job that stopped its function MAX_DELIVERIES times, as a standard queue's DLQ would.
    if delivery.fifo && delivery.failed(&progress.record) > MAX_DELIVERIES {
        let reason = format!(
            "gave up after {MAX_DELIVERIES} deliveries that ended without a result (its function stopped before the job ended: cut off at its Lambda timeout, or crashed)"
        );
        tracing::warn!(job_id = %job.job_id, tenant_id = %job.tenant_id, %reason, "job failed");
        return fail(&mut progress, handler, job, reason).await;
    }
    // A job whose start time is near waits on the queue without ever being `running`, so it can
    // be cancelled until its start time.
    match crate::schedule::hold(&mut progress, job, Utc::now()).await? {
        crate::schedule::Hold::Start => {}
        // Handed back until its start time: hidden that long on its FIFO queue (one receive,
        // not one every visibility timeout), or sent again delayed on a standard queue.
        crate::schedule::Hold::Waits(start_at) => {
            let wait = (start_at - Utc::now()).to_std().unwrap_or_default();
            return Err(JobError::later(
                format!("the job starts at {start_at}, not before"),
                wait,
            ));
        }
        crate::schedule::Hold::Cancelled => {
            tracing::info!(job_id = %job.job_id, tenant_id = %job.tenant_id, "job cancelled while it waited for its start time; skipped");
            return Ok(());
        }
    }
    if let Some(reason) = superseded(platform, job, &progress.record).await? {
        tracing::warn!(job_id = %job.job_id, tenant_id = %job.tenant_id, %reason, "job superseded");
        return fail(&mut progress, handler, job, reason).await;
    }
    // Conditional: a job cancelled since it was read (DELETE on the job) is not started.
    if !progress.start().await? {
        tracing::info!(job_id = %job.job_id, tenant_id = %job.tenant_id, "job cancelled before it started; skipped");
        return Ok(());
    }
    match handler.run(job, &tenant, &mut progress).await {
        Ok(status) if !status.is_finished() => {
            // Parked, not ended (an onboarding waiting for its start time): no completion.
            tracing::info!(job_id = %job.job_id, tenant_id = %job.tenant_id, ?status, "job parked");
            progress.record.status = status;
            progress.save().await
        }
        Ok(status) => {
            tracing::info!(job_id = %job.job_id, tenant_id = %job.tenant_id, ?status, "job finished");
            progress.finish(status, None).await?;
            note_latest(platform, job, &progress.record).await;
            Ok(())
        }
        Err(overtaken @ JobError::Overtaken { .. }) => Err(overtaken),
        Err(JobError::Permanent { reason, .. }) => {
            tracing::warn!(job_id = %job.job_id, tenant_id = %job.tenant_id, %reason, "job failed");
            fail(&mut progress, handler, job, reason).await
        }
        Err(JobError::Reconnect { reason, .. }) => {
            platform
                .mark_needs_reconnection(&tenant, reason.clone())
                .await?;
            fail(&mut progress, handler, job, reason).await
        }
        // Handed back: on a standard queue a fresh message, so no delivery is used up; on a
        // FIFO queue a delivery counted as a wait, not a failure. Not without end.
        Err(error) if error.hand_back_after().is_some() => {
            let now = Utc::now();
            let since = *progress.record.waiting_since.get_or_insert(now);
            let gave_up = if now - since >= MAX_WAITING {
                Some(format!(
                    "gave up: still waiting to go on {} hours after it was first handed back ({error}); send the job again under a new job_id once the tenant answers",
                    MAX_WAITING.num_hours()
                ))
            } else if delivery.fifo && progress.record.waited_deliveries >= MAX_FIFO_WAITS {
                Some(format!(
                    "gave up: Graph asked the job to wait {MAX_FIFO_WAITS} times ({error}); send the job again under a new job_id once the tenant answers"
                ))
            } else {
                None
            };
            if let Some(reason) = gave_up {
                tracing::warn!(job_id = %job.job_id, tenant_id = %job.tenant_id, %reason, "job failed");
                return fail(&mut progress, handler, job, reason).await;
            }
            if delivery.fifo {
                progress.record.waited_deliveries += 1;
            }
            progress.record.error = Some(format!("{RETRY_NOTE}{error}"));
            progress.save().await?;
            Err(error)
        }
        Err(error) if delivery.failed(&progress.record) >= MAX_DELIVERIES => {
            let reason = format!(
                "gave up after {} deliveries: {error}",
                delivery.failed(&progress.record)
            );
            tracing::warn!(job_id = %job.job_id, tenant_id = %job.tenant_id, %reason, "job failed");
            fail(&mut progress, handler, job, reason).await?;
            // Still reported (and not handed back), so the message also lands in the dead-letter
            // queue for operators.
            Err(JobError::transient(error.reason()))
        }
        Err(error) => {
            progress.record.error = Some(format!("{RETRY_NOTE}{error}"));
            progress.save().await?;
            Err(error)
        }
    }
}

/// The newest job of one account that ran to its end: its id and when it was submitted (its
/// record's `created_at`, in epoch milliseconds for the write condition).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct LatestAccountJob {
    job_id: crate::JobId,
    submitted_ms: i64,
}

impl crate::store::Record for LatestAccountJob {}

/// Why a job must not start, when an account's jobs arrive out of order: a job of the same
/// account submitted after this one already ran to its end. Within a FIFO message group SQS keeps
/// the order, but a dead-letter redrive, or a job sent again by hand, can bring an older job after
/// a newer one; run then, it would undo what the newer job did (add the group back that the newer
/// update removed, enable the leaver). Only a job that has not started is refused (a started one
/// resumes), and not one with a start time (a scheduled job takes effect when it is due).
async fn superseded(
    platform: &Platform,
    job: &Job,
    record: &JobRecord,
) -> Result<Option<String>, JobError> {
    let Some(account) = job.account() else {
        return Ok(None);
    };
    if record.status != JobStatus::Queued || !record.steps.is_empty() || job.start_at().is_some() {
        return Ok(None);
    }
    let key = keys::latest_account_job(&job.tenant_id, &account);
    let Some(latest) = platform.store.get::<LatestAccountJob>(&key).await? else {
        return Ok(None);
    };
    if latest.job_id == job.job_id || latest.submitted_ms <= record.created_at.timestamp_millis() {
        return Ok(None);
    }
    let submitted = chrono::DateTime::from_timestamp_millis(latest.submitted_ms)
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    Ok(Some(format!(
        "superseded: job {} for account {account}, submitted after this one (at {submitted}), has already run, so this older job is not run (it would undo what the newer one did); if it is still wanted, send it again under a new job_id",
        latest.job_id
    )))
}

/// After a job of an account ran to its end: it is the account's newest, unless a job submitted
/// later ended first. A dry run changed nothing, so it supersedes nothing and is not noted. A
/// failed write is logged: the check it feeds is a guard, not the job.
async fn note_latest(platform: &Platform, job: &Job, record: &JobRecord) {
    let Some(account) = job.account().filter(|_| !job.dry_run) else {
        return;
    };
    let latest = LatestAccountJob {
        job_id: job.job_id.clone(),
        submitted_ms: record.created_at.timestamp_millis(),
    };
    if let Err(error) = platform
        .store
        .put_if_newer(
            &keys::latest_account_job(&job.tenant_id, &account),
            &latest,
            "submitted_ms",
            latest.submitted_ms,
        )
        .await
    {
        tracing::warn!(%error, job_id = %job.job_id, "the account's newest job could not be noted");
    }
}

/// Ends the job failed with `reason` and lets the worker clean up after it.
async fn fail(
    progress: &mut JobProgress,
    handler: &dyn JobHandler,
    job: &Job,
    reason: String,
) -> Result<(), JobError> {
    // The record first: only the delivery that ended the job cleans up after it (the winner of
    // a race may still need what `abandon` deletes), and does so even if its event must wait
    // for the next delivery.
    progress.end(JobStatus::Failed, Some(reason)).await?;
    handler.abandon(job).await;
    progress.announce().await
}

/// Writes the job's record once; `None` when an earlier delivery already finished the job.
async fn accept(
    platform: &Platform,
    job: &Job,
    deadline: Option<SystemTime>,
) -> Result<Option<JobProgress>, JobError> {
    let key = keys::job(&job.tenant_id, &job.job_id);
    let fresh = JobRecord::queued(job, Utc::now());
    let record = match platform.store.put_new(&key, &fresh).await? {
        PutOutcome::Created => fresh,
        PutOutcome::AlreadyExists => match platform.store.get::<JobRecord>(&key).await? {
            // The id names another job of this tenant: neither its record nor its password may
            // be touched. The message is redelivered and ends in the dead-letter queue, where an
            // operator sees it.
            Some(existing)
                if existing
                    .job
                    .as_ref()
                    .is_some_and(|accepted| accepted != job) =>
            {
                tracing::error!(job_id = %job.job_id, tenant_id = %job.tenant_id, "the job id is taken by another job of this tenant; message left for the dead-letter queue");
                return Err(JobError::transient(format!(
                    "job id {} of tenant {} is taken by another job; send this job under a new job_id",
                    job.job_id, job.tenant_id
                )));
            }
            Some(existing) if existing.status.is_finished() => {
                tracing::info!(job_id = %job.job_id, tenant_id = %job.tenant_id, "duplicate delivery of a finished job; skipped");
                if existing.announce_pending {
                    // The delivery that ended it stopped before its completion event was put.
                    let mut ended = progress(platform, existing, deadline);
                    ended.announce().await?;
                }
                return Ok(None);
            }
            Some(existing) => existing,
            None => fresh,
        },
    };
    Ok(Some(progress(platform, record, deadline)))
}

/// The progress of a job whose record is `record`, as this delivery read or wrote it.
fn progress(platform: &Platform, record: JobRecord, deadline: Option<SystemTime>) -> JobProgress {
    JobProgress {
        store: platform.store.clone(),
        events: platform.events.clone(),
        record,
        deadline,
        overtaken: false,
    }
}

/// Why the tenant cannot take this job now, if it cannot.
fn refusal(job: &Job, tenant: &TenantConnection) -> Option<String> {
    match &tenant.status {
        ConnectionStatus::NeedsReconnection { reason } => Some(format!(
            "tenant {} needs reconnection ({reason}); reconnect it, then send the job again",
            tenant.tenant_id
        )),
        ConnectionStatus::Removed => Some(format!("tenant {} was removed", tenant.tenant_id)),
        ConnectionStatus::Connected if job.kind.is_write() && !tenant.allows_writes() => {
            Some(format!(
                "tenant {} is connected read-only, so a {} job cannot run; reconnect it in read/write mode",
                tenant.tenant_id,
                job.job_type()
            ))
        }
        ConnectionStatus::Connected => None,
    }
}
