//! Sync runs: their ids, where their records live, and how a sync is requested.
//!
//! A run id starts with the time it was queued (`20250106T100000123Z-1a2b3c4d`), so the run's
//! record (`T#{tenant}#RUNS` / `{started_at}#{run}`) is found from the id alone, without reading the
//! tenant's whole sync log. Ids made elsewhere (a job put on the queue by another service) are
//! accepted too; their record is then looked up in the log.

use crate::model::{
    Job, JobKind, LastSync, SyncCounts, SyncJob, SyncRun, SyncRunStatus, TenantConnection,
};
use crate::store::keys;
use crate::{
    Key, Platform, PutOutcome, QueueError, Record, Store, StoreError, SyncRunId, TenantId,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use futures::{StreamExt as _, TryStreamExt as _};
use serde::{Deserialize, Serialize};
use thiserror::Error;

const ID_TIME_FORMAT: &str = "%Y%m%dT%H%M%S%3fZ";
const ID_TIME_LEN: usize = 19;

/// A fresh run id that carries `queued_at`.
pub fn new_run_id(queued_at: DateTime<Utc>) -> SyncRunId {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let id = format!("{}-{}", queued_at.format(ID_TIME_FORMAT), &suffix[..12]);
    // The alphabet is digits, letters and '-': always a valid run id.
    SyncRunId::parse(&id).unwrap_or_default()
}

/// The queue time carried by a run id made by [`new_run_id`].
pub fn queued_at(run: &SyncRunId) -> Option<DateTime<Utc>> {
    let text = run.as_str().get(..ID_TIME_LEN)?;
    NaiveDateTime::parse_from_str(text, ID_TIME_FORMAT)
        .ok()
        .map(|time| time.and_utc())
}

/// The key of a run's record, when its id carries the time.
pub fn run_key(tenant: &TenantId, run: &SyncRunId) -> Option<Key> {
    queued_at(run).map(|at| keys::sync_run(tenant, at, run))
}

/// The key of a new run's record: from its id's time, else (an id made elsewhere) from `now`,
/// when the run starts its log.
pub fn new_run_key(tenant: &TenantId, run: &SyncRunId, now: DateTime<Utc>) -> Key {
    run_key(tenant, run).unwrap_or_else(|| keys::sync_run(tenant, now, run))
}

/// A run's record and its key: from the id's time, else by reading the tenant's sync log.
pub async fn find_run(
    store: &Store,
    tenant: &TenantId,
    run: &SyncRunId,
) -> Result<Option<(Key, SyncRun)>, StoreError> {
    if let Some(key) = run_key(tenant, run) {
        return Ok(store
            .get::<SyncRun>(&key)
            .await?
            .map(|record| (key, record)));
    }
    let log = store.query::<SyncRun>(&keys::sync_run_partition(tenant), None);
    let found = std::pin::pin!(log.try_filter(|record| futures::future::ready(&record.id == run)))
        .next()
        .await
        .transpose()?;
    Ok(found.map(|record| (keys::sync_run(tenant, record.started_at, run), record)))
}

/// A new run's record, queued now.
pub fn queued_run(tenant: &TenantId, run: SyncRunId, full: bool, now: DateTime<Utc>) -> SyncRun {
    SyncRun {
        id: run,
        tenant_id: tenant.clone(),
        status: SyncRunStatus::Queued,
        started_at: now,
        ended_at: None,
        full,
        counts: SyncCounts::default(),
        graph: Default::default(),
        error: None,
    }
}

/// Why a sync could not be requested.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RequestError {
    #[error("the sync run could not be recorded: {0}")]
    Store(#[from] StoreError),
    #[error("the sync job could not be queued: {0}")]
    Queue(#[from] QueueError),
}

impl RequestError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Store(error) => error.is_retryable(),
            Self::Queue(error) => error.is_retryable(),
        }
    }
}

/// How long a pending sync run merges requests at most, should nothing clear it (a backstop: the
/// sync worker clears it when the run ends, the dead-letter function when it fails the run). A
/// run of a 100k-account tenant takes well under an hour of invocations.
pub const PENDING_SYNC_BACKSTOP: chrono::Duration = chrono::Duration::hours(3);

/// The tenant's one pending sync run (`T#{tenant}` / `SYNC#pending`), queued or running: a sync
/// requested while it exists is merged into it. Taken with a conditional write, so of many
/// concurrent requests one queues a run and the others answer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSync {
    pub sync_run_id: SyncRunId,
    /// Whether the run reads everything; a full request does not merge into an incremental run.
    pub full: bool,
    pub queued_at: DateTime<Utc>,
}

impl Record for PendingSync {
    fn expires_at(&self) -> Option<DateTime<Utc>> {
        Some(self.queued_at + PENDING_SYNC_BACKSTOP)
    }
}

/// What a sync request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncRequest {
    /// A new run was queued.
    Queued(SyncRun),
    /// A run of the tenant was queued or running already: the request is merged into it.
    Merged(PendingSync),
}

impl SyncRequest {
    /// The run that will do the requested sync.
    pub fn sync_run_id(&self) -> &SyncRunId {
        match self {
            Self::Queued(run) => &run.id,
            Self::Merged(pending) => &pending.sync_run_id,
        }
    }
}

/// Requests a sync of `tenant`: merged into the tenant's pending run when one is queued or
/// running (and is full when `full` is asked), else queued now ([`request_sync`]) as the pending
/// run. Used by `POST /tenants/{id}/sync` and the schedule's fan-out, so that 200 requests at
/// once queue one run, not 200.
pub async fn request_or_merge_sync(
    platform: &Platform,
    tenant: &TenantConnection,
    full: bool,
    now: DateTime<Utc>,
) -> Result<SyncRequest, RequestError> {
    let key = keys::pending_sync(&tenant.tenant_id);
    let claim = PendingSync {
        sync_run_id: new_run_id(now),
        full,
        queued_at: now,
    };
    let claimed = match platform.store.put_new_or_expired(&key, &claim, now).await? {
        PutOutcome::Created => true,
        PutOutcome::AlreadyExists => match platform.store.get::<PendingSync>(&key).await? {
            Some(pending) if pending.full || !full => return Ok(SyncRequest::Merged(pending)),
            // A full sync asked while an incremental run is pending: a full run is queued and
            // becomes the pending one (it waits for the tenant's lease).
            Some(_) => {
                platform.store.put(&key, &claim).await?;
                true
            }
            // Cleared between the two calls: the run ended; this request queues the next.
            None => platform.store.put_new(&key, &claim).await? == PutOutcome::Created,
        },
    };
    if !claimed {
        return match platform.store.get::<PendingSync>(&key).await? {
            Some(pending) => Ok(SyncRequest::Merged(pending)),
            None => Ok(SyncRequest::Queued(
                queue_run(platform, tenant, claim.sync_run_id, full, now).await?,
            )),
        };
    }
    match queue_run(platform, tenant, claim.sync_run_id.clone(), full, now).await {
        Ok(run) => Ok(SyncRequest::Queued(run)),
        Err(error) => {
            clear_pending(platform, &tenant.tenant_id, &claim.sync_run_id).await;
            Err(error)
        }
    }
}

/// Clears the tenant's pending sync run if it is `run` (its run ended: the next request queues a
/// new one). Errors are logged: the pending item expires on its own.
pub async fn clear_pending(platform: &Platform, tenant: &TenantId, run: &SyncRunId) {
    if let Err(error) = platform
        .store
        .delete_if(&keys::pending_sync(tenant), "sync_run_id", run.as_str())
        .await
    {
        tracing::warn!(tenant_id = %tenant, %error, "could not clear the pending sync run; it expires on its own");
    }
}

/// Queues a sync of `tenant` now, without the pending-run claim: records the run as Queued, puts
/// its job on the sync queue, and shows it on the tenant (last sync Queued; next scheduled sync
/// one interval from now). For tests and the bench that drive one run themselves; every request
/// of the bundle (connecting, `POST /sync`, the schedule) goes through [`request_or_merge_sync`].
pub async fn request_sync(
    platform: &Platform,
    tenant: &TenantConnection,
    full: bool,
    now: DateTime<Utc>,
) -> Result<SyncRun, RequestError> {
    queue_run(platform, tenant, new_run_id(now), full, now).await
}

async fn queue_run(
    platform: &Platform,
    tenant: &TenantConnection,
    run_id: SyncRunId,
    full: bool,
    now: DateTime<Utc>,
) -> Result<SyncRun, RequestError> {
    let mut run = queued_run(&tenant.tenant_id, run_id, full, now);
    let key = keys::sync_run(&tenant.tenant_id, now, &run.id);
    platform.store.put(&key, &run).await?;
    let job = Job::new(
        tenant.tenant_id.clone(),
        JobKind::Sync(SyncJob {
            sync_run_id: run.id.clone(),
            full,
            resume: None,
        }),
    );
    if let Err(error) = platform
        .queue
        .send_job(&platform.config.sync_queue_url, &job)
        .await
    {
        // The run must not stay "queued" for ever in the sync log.
        run.status = SyncRunStatus::Failed;
        run.ended_at = Some(now);
        run.error = Some(format!("the sync could not be queued: {error}"));
        if let Err(store_error) = platform.store.put(&key, &run).await {
            tracing::warn!(tenant_id = %tenant.tenant_id, %store_error, "could not mark an unqueued sync run failed");
        }
        return Err(error.into());
    }
    let mut shown = tenant.clone();
    shown.last_sync = Some(LastSync {
        sync_run_id: run.id.clone(),
        status: SyncRunStatus::Queued,
        at: now,
    });
    shown.next_sync_due = Some(now + interval(tenant));
    platform.save_tenant(&shown).await?;
    Ok(run)
}

/// The tenant's time between scheduled syncs (at least one minute).
pub fn interval(tenant: &TenantConnection) -> chrono::Duration {
    chrono::Duration::minutes(i64::from(tenant.sync_interval_minutes.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_queue_time_when_a_run_id_is_made_then_the_time_reads_back_to_the_millisecond() {
        let at = DateTime::parse_from_rfc3339("2025-01-06T10:00:00.123Z")
            .map(|t| t.to_utc())
            .unwrap();
        let id = new_run_id(at);
        assert!(id.as_str().starts_with("20250106T100000123Z-"), "{id}");
        assert_eq!(queued_at(&id), Some(at));
    }

    #[test]
    fn given_a_foreign_run_id_when_read_then_it_carries_no_time() {
        assert_eq!(queued_at(&SyncRunId::parse("r-1").unwrap()), None);
    }
}
