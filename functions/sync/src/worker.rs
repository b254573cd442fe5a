//! The SQS side of a sync: one message is one sync job (a run, or a continuation of one).
//!
//! Its messages go through the runner's batch loop ([`jobs::run_batch`], as every queue's do),
//! but a sync has its own record, the [`SyncRun`] in the tenant's sync log, so its message is
//! not a lifecycle job's ([`jobs::run_sqs_jobs`]): the run id is the idempotency key (a finished run's message is a duplicate
//! and is dropped), and the tenant's lease keeps two runs, and two copies of one run's message,
//! from syncing one tenant at once. Each delivery holds the lease in a name of its own
//! ([`LeaseNames`]). A delivery that finds another holder waits: its job goes back on
//! the queue with a delay, and carries on once the holder ends (or, if it died, once its lease
//! expires). A delivery that stops with work left (paused, or handed back for a retry) hands the
//! lease over to the message that carries on (its continuation, or itself delivered again),
//! which takes it at once and resumes where the saved links say.
//!
//! Deliveries are counted and handed back as for every other job: [`lifecycle::MAX_DELIVERIES`],
//! [`jobs::receive_count`], [`jobs::Redelivery`] and [`jobs::redeliver`] for a retry, and
//! [`jobs::hand_back`] for a wait that must not use up a delivery
//! (Graph's long `Retry-After`, another delivery holding the tenant's lease): the job goes back
//! as a fresh message delayed by the wait.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use futures::future::BoxFuture;
use graph::GraphError;
use lifecycle::jobs::{self, HandedBack, MAX_DELIVERIES, MessageWorker, Redelivery};
use lifecycle::model::{
    ConnectionStatus, Job, JobKind, LastSync, SyncJob, SyncRun, SyncRunStatus, TenantConnection,
};
use lifecycle::queue::MAX_VISIBILITY;
use lifecycle::{Key, Lease, LeaseOutcome, Platform, StoreError};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use tracing::Instrument as _;

use crate::engine::{Engine, Outcome, Report, Settings, SyncError};
use lifecycle::sync_runs as runs;

/// A copy of a run waiting for another delivery's lease comes back this long after the lease
/// would expire, so it finds it expired if its holder died.
const LEASE_EXPIRY_MARGIN: Duration = Duration::from_secs(1);

/// The shortest wait before a waiting job comes back.
const MIN_WAIT: Duration = Duration::from_secs(1);

/// Runs every message of the batch in turn (the runner's batch loop, [`jobs::run_batch`]) and
/// lists the ones to deliver again, with the figures of each sync job run.
pub(crate) async fn handle_batch(
    platform: &Platform,
    settings: &Settings,
    event: SqsEvent,
) -> (SqsBatchResponse, Vec<Report>) {
    let worker = SyncMessages {
        settings,
        reports: Mutex::new(Vec::new()),
    };
    // No invocation: the sync keeps to Lambda's deadline itself (its budget, then a checkpoint).
    let response = jobs::run_batch(platform, event, &worker, None).await;
    let reports = worker
        .reports
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    (response, reports)
}

/// The sync queue's messages, each one sync job.
struct SyncMessages<'s> {
    settings: &'s Settings,
    reports: Mutex<Vec<Report>>,
}

impl MessageWorker for SyncMessages<'_> {
    fn work<'a>(
        &'a self,
        platform: &'a Platform,
        message: &'a SqsMessage,
        _deadline: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), Redelivery>> {
        Box::pin(async move {
            let message_id = message.message_id.as_deref().unwrap_or_default();
            let span = tracing::info_span!("sync_job", message_id = %message_id);
            let mut reports = Vec::new();
            // Boxed: a debug build's poll frames of the sync are large, and a test thread's
            // stack (2 MiB) is where the crash matrix polls them.
            let outcome = Box::pin(
                handle_message(platform, self.settings, message, &mut reports).instrument(span),
            )
            .await;
            self.reports
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(reports);
            if let Err(redelivery) = &outcome {
                let queue_url = &platform.config.sync_queue_url;
                let default = Some(self.settings.retry_delay);
                jobs::redeliver(platform, queue_url, message, redelivery, default).await;
            }
            outcome
        })
    }
}

/// One sync job.
async fn handle_message(
    platform: &Platform,
    settings: &Settings,
    message: &SqsMessage,
    reports: &mut Vec<Report>,
) -> Result<(), Redelivery> {
    let body = message.body.as_deref().unwrap_or_default();
    // A malformed job is delivered again until it lands in the dead-letter queue: never dropped.
    let job =
        Job::from_json(body).map_err(|error| Redelivery::soon(format!("not a job: {error}")))?;
    let JobKind::Sync(sync) = &job.kind else {
        return Err(Redelivery::soon(format!(
            "a {} job on the sync queue",
            job.job_type()
        )));
    };
    let transient = |error: StoreError| Redelivery::soon(error.to_string());
    let tenant_id = &job.tenant_id;
    let found_run = runs::find_run(&platform.store, tenant_id, &sync.sync_run_id)
        .await
        .map_err(transient)?;
    let found = found_run.is_some();
    let (run_key, mut run) = match found_run {
        Some(found) => found,
        None => {
            // A job queued by another service without a run record: the run starts its log now.
            let now = Utc::now();
            let run = runs::queued_run(tenant_id, sync.sync_run_id.clone(), sync.full, now);
            let key = runs::new_run_key(tenant_id, &run.id, now);
            (key, run)
        }
    };
    if sync.resume.is_some() && !found {
        // A continuation whose run record is gone: the tenant was removed after the run began
        // (removal deletes the log), perhaps connected again since. Its cursor belongs to the
        // old connection: resuming it would write that run's pages under the new one.
        tracing::warn!(run = %run.id, "continuation of a run whose record is gone (the tenant was removed): dropped, nothing written");
        platform
            .sweep_if_removed(tenant_id)
            .await
            .map_err(transient)?;
        return Ok(());
    }
    if run.status.is_finished() {
        tracing::info!(run = %run.id, status = ?run.status, "sync run already finished: duplicate delivery dropped");
        // A delivery that died after writing the ended run, before its last steps: they are
        // done here, so the tenant's lease and pending claim do not outlive the run.
        settle_finished(platform, &run).await.map_err(transient)?;
        return Ok(());
    }
    let tenant = match platform.tenant(tenant_id).await.map_err(transient)? {
        Some(tenant) if tenant.status != ConnectionStatus::Removed => tenant,
        _ => {
            // Nothing is written under a tenant that is not connected (never, or removed): a run
            // record now would put data back under a removed tenant. A run record found means
            // something of the tenant was written before the removal: swept.
            tracing::warn!(run = %run.id, "sync job for a tenant that is not connected: dropped, nothing written");
            if found {
                platform
                    .sweep_if_removed(tenant_id)
                    .await
                    .map_err(transient)?;
            }
            return Ok(());
        }
    };
    if let ConnectionStatus::NeedsReconnection { reason } = &tenant.status {
        let reason = format!("the tenant needs to be reconnected: {reason}");
        fail_run(platform, Some(&tenant), &run_key, &mut run, reason)
            .await
            .map_err(transient)?;
        return Ok(());
    }
    let names = LeaseNames::new(&run.id, sync.resume.as_ref());
    let lease = match platform
        .store
        .take_over_lease(
            tenant_id,
            &names.mine,
            &names.handed_to_me,
            settings.lease_ttl,
        )
        .await
        .map_err(transient)?
    {
        LeaseOutcome::Acquired(lease) => lease,
        LeaseOutcome::Held { holder, until } => {
            let held_for = (until - Utc::now()).to_std().unwrap_or_default();
            let wait = if LeaseNames::of_run(&holder, &run.id) {
                // Another copy of this run's message (SQS delivers at least once), or the
                // delivery this one continues, is at work: the work is not done twice. This copy
                // is needed only if that one dies, which its lease's expiry shows (a live holder
                // renews it): it comes back then, not every wait delay, carries on if the holder
                // died, waits again if it renewed, and is dropped once the run has ended.
                let wait = held_for + LEASE_EXPIRY_MARGIN;
                tracing::info!(run = %run.id, %holder, ?wait, "another delivery of this run holds the tenant's lease: this copy waits for it to end");
                wait
            } else {
                // Another run: it starts soon after that one ends (which releases the lease).
                let wait = held_for.min(settings.wait_delay);
                tracing::info!(run = %run.id, %holder, ?wait, "another sync of the tenant is running: this one waits");
                wait
            };
            // A fresh message: the wait uses up none of the job's deliveries.
            let queue_url = &platform.config.sync_queue_url;
            return match jobs::hand_back(platform, queue_url, &job, wait.max(MIN_WAIT)).await {
                HandedBack::Resent => Ok(()),
                HandedBack::Left => Err(Redelivery::after(
                    "the tenant's lease is held; waiting for it",
                    wait.max(MIN_WAIT),
                )),
            };
        }
    };
    let run_id = run.id.clone();
    let result = Box::pin(run_sync(
        platform,
        settings,
        &job,
        sync,
        tenant,
        (run_key, run),
        &lease,
        reports,
    ))
    .await;
    // Whoever notices a removal last cleans up: the run's writes have all been made, so a
    // removal that ran meanwhile is finished here for them (BatchWriteItem has no conditions).
    if platform
        .sweep_if_removed(tenant_id)
        .await
        .map_err(transient)?
    {
        tracing::warn!(run = %run_id, "the tenant was removed during its sync: the sync stops, nothing of it is kept");
        return Ok(());
    }
    let deliveries = jobs::receive_count(message);
    match result {
        Ok(()) => Ok(()),
        Err(Failure::Transient {
            reason,
            retry_after: Some(wait),
        }) if wait > settings.retry_delay => {
            // Graph asked for a longer wait than the invocation could give (a usage report's
            // minutes): the job comes back once it has passed, not every retry delay, as a fresh
            // message, so the wait uses up none of its deliveries however often Graph asks for
            // one. The run stays syncing and says why.
            wait_out(platform, tenant_id, &run_id, wait, &reason)
                .await
                .map_err(transient)?;
            hand_over(platform, tenant_id, &run_id, &names, settings).await;
            let queue_url = &platform.config.sync_queue_url;
            match jobs::hand_back(platform, queue_url, &job, wait).await {
                HandedBack::Resent => Ok(()),
                // Not sent: this message is hidden for the wait instead (a delivery used).
                HandedBack::Left => Err(Redelivery::after(reason, wait)),
            }
        }
        Err(Failure::Transient { reason, .. }) if deliveries < MAX_DELIVERIES => {
            // The lease goes to the message's next delivery: it takes it at once and resumes.
            hand_over(platform, tenant_id, &run_id, &names, settings).await;
            Err(Redelivery::soon(reason))
        }
        Err(Failure::Transient { reason, .. }) => {
            // The last delivery: the run ends failed here (never left "syncing" with its lease and
            // pending claim held), and the message still goes to the dead-letter queue.
            let reason = format!("gave up after {deliveries} deliveries: {reason}");
            tracing::warn!(%reason, "sync run failed");
            give_up(platform, tenant_id, &run_id, &lease, reason.clone())
                .await
                .map_err(transient)?;
            Err(Redelivery::soon(reason))
        }
        Err(Failure::Permanent(reason)) => {
            tracing::warn!(%reason, "sync run failed");
            Ok(())
        }
    }
}

/// The last steps of an ended run, each a no-op when done already: the tenant shows the run's
/// status, the pending claim is cleared and the lease released, if they are still the run's.
async fn settle_finished(platform: &Platform, run: &SyncRun) -> Result<(), StoreError> {
    if let Some(tenant) = platform.tenant(&run.tenant_id).await?
        && tenant.status != ConnectionStatus::Removed
        && tenant
            .last_sync
            .as_ref()
            .is_some_and(|last| last.sync_run_id == run.id && last.status != run.status)
    {
        show_on_tenant(platform, &tenant, run).await?;
    }
    runs::clear_pending(platform, &run.tenant_id, &run.id).await;
    release_run_lease(platform, &run.tenant_id, &run.id).await
}

/// The names a delivery of a run holds the tenant's lease in. Each delivery has a name of its
/// own (`{run}/{random}`), so two copies of one message (SQS delivers at least once, a standard
/// queue even to two invocations at once) do not both sync: the second finds the first's name
/// and waits. A delivery that stops with work left hands the lease over to the name of the
/// message that carries on, `{run}/next-{cursor}` (the run and the cursor it resumes from), which
/// that message, and no stale copy of an earlier one, takes over at once.
pub(crate) struct LeaseNames {
    /// This delivery's own name.
    mine: String,
    /// The name a delivery of this run and cursor hands the lease over to.
    handed_to_me: String,
}

impl LeaseNames {
    fn new(run: &lifecycle::SyncRunId, resume: Option<&lifecycle::model::SyncCursor>) -> Self {
        Self {
            mine: format!("{run}/{}", uuid::Uuid::new_v4().simple()),
            handed_to_me: Self::handed_to(run, resume),
        }
    }

    /// The name the message of `run` resuming from `resume` takes the lease over in.
    fn handed_to(
        run: &lifecycle::SyncRunId,
        resume: Option<&lifecycle::model::SyncCursor>,
    ) -> String {
        let cursor = resume.map_or(0, |cursor| {
            crate::state::hash_str(&format!("{}\n{}", cursor.phase, cursor.link))
        });
        format!("{run}/next-{cursor:016x}")
    }

    /// Whether `holder` is a name of a delivery of `run` (or `run` itself, the name before
    /// deliveries had their own).
    fn of_run(holder: &str, run: &lifecycle::SyncRunId) -> bool {
        holder
            .strip_prefix(run.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// After a delivery that will be delivered again: the lease, if this delivery (or the
/// continuation it could not send) still holds it, goes over to the message's next delivery.
async fn hand_over(
    platform: &Platform,
    tenant: &lifecycle::TenantId,
    run: &lifecycle::SyncRunId,
    names: &LeaseNames,
    settings: &Settings,
) {
    let handed = async {
        if let Some(lease) = platform.store.lease(tenant).await?
            && (lease.holder == names.mine
                || (LeaseNames::of_run(&lease.holder, run) && lease.holder.contains("/next-")))
        {
            platform
                .store
                .hand_over_lease(&lease, &names.handed_to_me, settings.lease_ttl)
                .await?;
        }
        Ok::<(), StoreError>(())
    };
    if let Err(error) = handed.await {
        tracing::warn!(%error, "the sync lease could not be handed over; the next delivery takes it when it expires");
    }
}

/// Releases the tenant's lease if a delivery of `run` holds it.
async fn release_run_lease(
    platform: &Platform,
    tenant: &lifecycle::TenantId,
    run: &lifecycle::SyncRunId,
) -> Result<(), StoreError> {
    match platform.store.lease(tenant).await? {
        Some(lease) if LeaseNames::of_run(&lease.holder, run) => {
            platform.store.release_lease(&lease).await
        }
        _ => Ok(()),
    }
}

/// Ends `run` failed with `reason` (unless a delivery finished it meanwhile), shows it on the
/// tenant and releases the tenant's lease, so the next requested sync runs.
async fn give_up(
    platform: &Platform,
    tenant_id: &lifecycle::TenantId,
    run: &lifecycle::SyncRunId,
    lease: &Lease,
    reason: String,
) -> Result<(), StoreError> {
    if let Some((key, mut run)) = runs::find_run(&platform.store, tenant_id, run).await?
        && !run.status.is_finished()
    {
        let tenant = platform.tenant(tenant_id).await?;
        fail_run(platform, tenant.as_ref(), &key, &mut run, reason).await?;
    }
    release(platform, lease).await;
    // (or the name it was handed over to, should a continuation's send have failed)
    release_run_lease(platform, tenant_id, run).await
}

/// Says on a syncing run why it waits: Graph's `Retry-After` and when the next delivery comes
/// (the run's end clears it).
async fn wait_out(
    platform: &Platform,
    tenant_id: &lifecycle::TenantId,
    run: &lifecycle::SyncRunId,
    wait: Duration,
    reason: &str,
) -> Result<(), StoreError> {
    let wait = wait.min(MAX_VISIBILITY);
    if let Some((key, mut run)) = runs::find_run(&platform.store, tenant_id, run).await?
        && !run.status.is_finished()
    {
        let resumes = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
        run.error = Some(format!(
            "waiting for Microsoft Graph: it asked the sync to wait {} s (Retry-After); the sync resumes on a later delivery, from {} ({reason})",
            wait.as_secs(),
            resumes.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
        platform.store.put(&key, &run).await?;
    }
    Ok(())
}

enum Failure {
    /// A later delivery may succeed; `retry_after` is Graph's `Retry-After` when it said one.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    Permanent(String),
}

impl Failure {
    /// A transient failure with no wait asked for.
    fn transient(reason: impl Into<String>) -> Self {
        Self::Transient {
            reason: reason.into(),
            retry_after: None,
        }
    }
}

/// Runs (or continues) the sync of one tenant while holding its lease.
#[allow(clippy::too_many_arguments)]
async fn run_sync(
    platform: &Platform,
    settings: &Settings,
    job: &Job,
    sync: &SyncJob,
    tenant: TenantConnection,
    (run_key, mut run): (Key, SyncRun),
    lease: &Lease,
    reports: &mut Vec<Report>,
) -> Result<(), Failure> {
    let store_failure = |error: StoreError| Failure::transient(error.to_string());
    // A run whose id carries its queue time is keyed by that time, so its start can be recorded;
    // another id's record is keyed by `started_at`, which therefore stays the queue time.
    if run.status == SyncRunStatus::Queued && runs::queued_at(&run.id).is_some() {
        run.started_at = Utc::now();
    }
    run.status = SyncRunStatus::Syncing;
    run.full |= sync.full;
    platform
        .store
        .put(&run_key, &run)
        .await
        .map_err(store_failure)?;
    show_on_tenant(platform, &tenant, &run)
        .await
        .map_err(store_failure)?;
    // Graph retries wait only within the sync's budget, which ends before the invocation's
    // deadline with time kept for the checkpoint.
    let budget_ends = std::time::SystemTime::now() + settings.budget;
    let graph = match platform
        .tenant_graph_until(&tenant, Some(budget_ends))
        .await
    {
        Ok(graph) => graph,
        Err(error) if error.is_retryable() => return Err(Failure::transient(error.to_string())),
        Err(error) => {
            let reason = format!("the tenant's app credential could not be read: {error}");
            release(platform, lease).await;
            fail_run(platform, Some(&tenant), &run_key, &mut run, reason.clone())
                .await
                .map_err(store_failure)?;
            return Err(Failure::Permanent(reason));
        }
    };
    // Read at every delivery: a continuation keeps to the settings as they are now. A change
    // of what is kept makes the next run full (from its start), so it removes what no longer
    // belongs and reads again what now does.
    // Boxed, as the store calls below it: the sync's future stays small enough for a thread's
    // stack in debug builds.
    let stored_settings = Box::pin(platform.store.sync_settings(&tenant.tenant_id))
        .await
        .map_err(store_failure)?;
    let full = sync.full || (sync.resume.is_none() && stored_settings.full_sync_pending);
    let sync_settings = stored_settings.settings.clone();
    let mut engine = Engine::new(
        platform,
        graph,
        tenant.clone(),
        (run, run_key.clone()),
        lease.clone(),
        settings,
    )
    .with_sync_settings(sync_settings);
    let outcome = Box::pin(engine.execute(sync.resume.as_ref(), full)).await;
    let report = engine.report().clone();
    reports.push(report.clone());
    tracing::info!(
        phases = ?report.phases,
        written = report.items_written,
        deleted = report.items_deleted,
        read = report.objects_read,
        "sync invocation done"
    );
    let mut run = engine.run().clone();
    let synced_tenant = engine.tenant().clone();
    let lease = engine.lease().clone();
    let notes = engine.notes().to_vec();
    drop(engine);
    match outcome {
        Ok(Outcome::Finished) => {
            let now = Utc::now();
            run.status = if notes.is_empty() {
                SyncRunStatus::Ok
            } else {
                SyncRunStatus::Partial
            };
            run.error = (!notes.is_empty()).then(|| notes.join("; "));
            run.ended_at = Some(now);
            platform
                .store
                .put(&run_key, &run)
                .await
                .map_err(store_failure)?;
            finish_tenant(platform, &synced_tenant, &run)
                .await
                .map_err(store_failure)?;
            // A change made while this run was under way may have reached only its later
            // pages: the pending full run is then still owed.
            if full
                && stored_settings.full_sync_pending
                && stored_settings
                    .updated_at
                    .is_none_or(|at| at < run.started_at)
            {
                Box::pin(platform.store.clear_full_sync_pending(&stored_settings))
                    .await
                    .map_err(store_failure)?;
            }
            runs::clear_pending(platform, &run.tenant_id, &run.id).await;
            release(platform, &lease).await;
            lifecycle::metrics::sync_run_ended(&run).emit();
            tracing::info!(run = %run.id, status = ?run.status, counts = ?run.counts, graph = ?run.graph, "sync run finished");
            Ok(())
        }
        Ok(Outcome::Paused(cursor)) => {
            let continuation = Job::new(
                job.tenant_id.clone(),
                JobKind::Sync(SyncJob {
                    sync_run_id: run.id.clone(),
                    full,
                    resume: Some(cursor.clone()),
                }),
            );
            tracing::info!(run = %run.id, phase = %cursor.phase, "sync run paused: continuation queued");
            // The lease goes over to the continuation (before it is sent), which takes it at once;
            // a stale copy of this message cannot.
            match platform
                .store
                .hand_over_lease(
                    &lease,
                    &LeaseNames::handed_to(&run.id, Some(&cursor)),
                    settings.lease_ttl,
                )
                .await
            {
                Err(StoreError::LeaseLost { holder, .. }) => {
                    tracing::warn!(run = %run.id, ?holder, "sync lease lost: another delivery carries on");
                    return Ok(());
                }
                other => other.map_err(store_failure)?,
            };
            platform
                .queue
                .send_job(&platform.config.sync_queue_url, &continuation)
                .await
                .map(|_| ())
                .map_err(|error| Failure::transient(error.to_string()))
        }
        Err(SyncError::Store(StoreError::TenantGone { .. })) => {
            // Removed meanwhile (perhaps connected again: a new generation). Nothing more of
            // this run is written, not even its end: a bare removal is swept by the caller.
            tracing::warn!(run = %run.id, "the tenant's connection changed during its sync: this run stops, writing nothing more");
            release(platform, &lease).await;
            Ok(())
        }
        Err(SyncError::Store(StoreError::LeaseLost { holder, .. })) => {
            // Another delivery took the tenant over after our lease expired: it carries on.
            tracing::warn!(run = %run.id, ?holder, "sync lease lost: this delivery stops");
            Ok(())
        }
        Err(error) if error.is_retryable() => {
            // Counts and figures so far stay on the run; the next delivery resumes from the
            // links saved after the last applied page.
            Err(Failure::Transient {
                reason: error.to_string(),
                retry_after: error.retry_after(),
            })
        }
        Err(error) => {
            let reason = actionable(&error);
            if let SyncError::Graph(graph_error) = &error
                && let Err(store_error) =
                    platform.note_graph_error(&synced_tenant, graph_error).await
            {
                tracing::warn!(error = %store_error, "the tenant could not be marked for reconnection");
            }
            release(platform, &lease).await;
            fail_run(
                platform,
                Some(&synced_tenant),
                &run_key,
                &mut run,
                reason.clone(),
            )
            .await
            .map_err(store_failure)?;
            Err(Failure::Permanent(reason))
        }
    }
}

/// The error as a person can act on it.
fn actionable(error: &SyncError) -> String {
    match error {
        SyncError::Graph(GraphError::Token(token)) => format!(
            "the platform could not sign in to the tenant: {token}. Reconnect the tenant (admin consent, or a new client secret for the tenant's own app)"
        ),
        SyncError::Graph(GraphError::Forbidden(detail)) => format!(
            "the app lacks a permission in the tenant ({detail}); grant admin consent again so it has User.Read.All, Group.Read.All, GroupMember.Read.All and Organization.Read.All"
        ),
        other => other.to_string(),
    }
}

async fn release(platform: &Platform, lease: &Lease) {
    if let Err(error) = platform.store.release_lease(lease).await {
        tracing::warn!(%error, "the sync lease could not be released; it expires on its own");
    }
}

/// Records the run as failed with `reason`, and on the tenant when given.
async fn fail_run(
    platform: &Platform,
    tenant: Option<&TenantConnection>,
    run_key: &Key,
    run: &mut SyncRun,
    reason: String,
) -> Result<(), StoreError> {
    run.status = SyncRunStatus::Failed;
    run.error = Some(reason);
    run.ended_at = Some(Utc::now());
    platform.store.put(run_key, run).await?;
    lifecycle::metrics::sync_run_ended(run).emit();
    runs::clear_pending(platform, &run.tenant_id, &run.id).await;
    if let Some(tenant) = tenant {
        match show_on_tenant(platform, tenant, run).await {
            // Removed (or connected again) meanwhile: the new connection shows none of it.
            Err(StoreError::TenantGone { .. }) => {}
            other => other?,
        }
    }
    Ok(())
}

/// Shows the run as the tenant's last sync (re-reading the tenant so a concurrent change, such as
/// being marked for reconnection, is kept; [`StoreError::TenantGone`] when the connection is no
/// longer the one `tenant` was read from).
async fn show_on_tenant(
    platform: &Platform,
    tenant: &TenantConnection,
    run: &SyncRun,
) -> Result<(), StoreError> {
    let mut shown = same_connection(platform, tenant).await?;
    shown.last_sync = Some(LastSync {
        sync_run_id: run.id.clone(),
        status: run.status,
        at: run.ended_at.unwrap_or(run.started_at),
    });
    platform.save_tenant(&shown).await
}

/// After a finished run: the tenant's name, domains and P1 as read, its last sync, and the next
/// scheduled sync one interval after this one (unless one is due sooner).
async fn finish_tenant(
    platform: &Platform,
    synced: &TenantConnection,
    run: &SyncRun,
) -> Result<(), StoreError> {
    let mut tenant = same_connection(platform, synced).await?;
    tenant.display_name = synced.display_name.clone();
    tenant.verified_domains = synced.verified_domains.clone();
    if synced.has_p1.is_some() {
        tenant.has_p1 = synced.has_p1;
    }
    let now = run.ended_at.unwrap_or_else(Utc::now);
    tenant.last_sync = Some(LastSync {
        sync_run_id: run.id.clone(),
        status: run.status,
        at: now,
    });
    if tenant.next_sync_due.is_none_or(|due| due < now) {
        tenant.next_sync_due = Some(now + runs::interval(&tenant));
    }
    platform.save_tenant(&tenant).await
}

/// The tenant as stored now, when it is still the connection `tenant` was read from (same
/// generation); [`StoreError::TenantGone`] when it was removed, or removed and connected again:
/// a run of the old connection shows nothing on the new one.
async fn same_connection(
    platform: &Platform,
    tenant: &TenantConnection,
) -> Result<TenantConnection, StoreError> {
    platform
        .tenant(&tenant.tenant_id)
        .await?
        .filter(|stored| stored.generation == tenant.generation)
        .ok_or_else(|| StoreError::TenantGone {
            tenant_id: tenant.tenant_id.clone(),
        })
}
