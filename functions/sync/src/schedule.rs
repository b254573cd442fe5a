//! The scheduled fan-out: every 15 minutes (EventBridge), queue one sync for each tenant that is
//! due (each tenant's interval, 15 minutes to 24 hours, is in its sync settings).

use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use lifecycle::model::{ConnectionStatus, SyncRunStatus};
use lifecycle::{Platform, StoreError};
use serde::Serialize;
use thiserror::Error;

use lifecycle::sync_runs::{self as runs, RequestError};

/// A queued or running sync older than this is taken as lost (its message went to the
/// dead-letter queue) and no longer keeps the tenant from its scheduled sync.
const STALE_SYNC: chrono::Duration = chrono::Duration::hours(3);

/// What one fan-out did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FanOut {
    /// Tenants whose sync was queued.
    pub queued: usize,
    /// Tenants not due yet.
    pub not_due: usize,
    /// Tenants needing reconnection or being removed.
    pub not_connected: usize,
    /// Tenants with a sync queued or running already.
    pub already_syncing: usize,
    /// Tenants whose sync could not be queued (logged; the next fan-out tries again).
    pub failed: usize,
}

/// Why the fan-out stopped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FanOutError {
    #[error("the tenant index could not be read: {0}")]
    Index(#[from] StoreError),
}

/// Reads the tenant index (one small partition, streamed) and queues a sync for every connected
/// tenant whose next sync is due at `now` and that has none queued or running.
pub async fn fan_out(platform: &Platform, now: DateTime<Utc>) -> Result<FanOut, FanOutError> {
    let mut result = FanOut::default();
    // The most overdue connected tenant: its sync should have run this many minutes ago.
    let mut most_overdue: Option<(i64, lifecycle::TenantId)> = None;
    let mut index = std::pin::pin!(platform.tenant_index());
    while let Some(entry) = index.try_next().await? {
        if entry.status != ConnectionStatus::Connected {
            result.not_connected += 1;
            continue;
        }
        if entry.next_sync_due.is_some_and(|due| due > now) {
            result.not_due += 1;
            continue;
        }
        if let Some(due) = entry.next_sync_due {
            let minutes = (now - due).num_minutes();
            if most_overdue
                .as_ref()
                .is_none_or(|(most, _)| minutes > *most)
            {
                most_overdue = Some((minutes, entry.tenant_id.clone()));
            }
        }
        let Some(tenant) = platform.tenant(&entry.tenant_id).await? else {
            continue;
        };
        let syncing = tenant.last_sync.as_ref().is_some_and(|last| {
            matches!(last.status, SyncRunStatus::Queued | SyncRunStatus::Syncing)
                && now - last.at < STALE_SYNC
        });
        if syncing {
            result.already_syncing += 1;
            continue;
        }
        match runs::request_or_merge_sync(platform, &tenant, false, now).await {
            Ok(runs::SyncRequest::Queued(run)) => {
                tracing::info!(tenant_id = %tenant.tenant_id, run = %run.id, "scheduled sync queued");
                result.queued += 1;
            }
            Ok(runs::SyncRequest::Merged(pending)) => {
                tracing::info!(tenant_id = %tenant.tenant_id, run = %pending.sync_run_id, "a sync of the tenant is pending already");
                result.already_syncing += 1;
            }
            Err(error) => {
                log_failure(&tenant.tenant_id, &error);
                result.failed += 1;
            }
        }
    }
    match &most_overdue {
        Some((minutes, tenant)) => {
            lifecycle::metrics::sync_overdue(*minutes, Some(tenant.as_str()))
        }
        None => lifecycle::metrics::sync_overdue(0, None),
    }
    .emit();
    Ok(result)
}

fn log_failure(tenant: &lifecycle::TenantId, error: &RequestError) {
    tracing::warn!(tenant_id = %tenant, %error, "scheduled sync could not be queued");
}
