//! The scheduled fan-out: once a day (EventBridge), queue one license refresh per connected
//! tenant. Tenants that need reconnection or are being removed are skipped.

use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use lifecycle::model::{ConnectionStatus, Job, JobKind, LicenseRefreshJob};
use lifecycle::{JobId, Platform, StoreError, TenantId};
use serde::Serialize;

/// What one fan-out did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FanOut {
    /// Tenants whose refresh was queued.
    pub queued: usize,
    /// Tenants needing reconnection or being removed.
    pub not_connected: usize,
    /// Tenants whose refresh could not be queued (logged; tomorrow's fan-out tries again).
    pub failed: usize,
}

/// The job id of a tenant's scheduled refresh on `now`'s day: a schedule that fires twice in a day
/// queues the same job, which the jobs runner then runs once.
pub fn scheduled_job_id(tenant: &TenantId, now: DateTime<Utc>) -> Option<JobId> {
    JobId::parse(&format!(
        "license-refresh-{}-{tenant}",
        now.format("%Y%m%d")
    ))
    .ok()
}

/// Reads the tenant index (one small partition, streamed) and queues a refresh for every
/// connected tenant.
pub async fn fan_out(platform: &Platform, now: DateTime<Utc>) -> Result<FanOut, StoreError> {
    let mut result = FanOut::default();
    let mut index = std::pin::pin!(platform.tenant_index());
    while let Some(entry) = index.try_next().await? {
        if entry.status != ConnectionStatus::Connected {
            result.not_connected += 1;
            continue;
        }
        let Some(job_id) = scheduled_job_id(&entry.tenant_id, now) else {
            result.failed += 1;
            continue;
        };
        let job = Job {
            job_id,
            tenant_id: entry.tenant_id.clone(),
            dry_run: false,
            kind: JobKind::LicenseRefresh(LicenseRefreshJob {
                inactive_after_days: None,
            }),
        };
        match platform
            .queue
            .send_job(&platform.config.license_refresh_queue_url, &job)
            .await
        {
            Ok(_) => {
                tracing::info!(tenant_id = %entry.tenant_id, job_id = %job.job_id, "scheduled license refresh queued");
                result.queued += 1;
            }
            Err(error) => {
                tracing::warn!(tenant_id = %entry.tenant_id, %error, "scheduled license refresh could not be queued");
                result.failed += 1;
            }
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_tenant_and_a_day_when_the_job_id_is_made_then_it_is_valid_and_stable_for_the_day() {
        let tenant = TenantId::parse("72f988bf-86f1-41af-91ab-2d7cd011db47").expect("tenant");
        let at = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        let later = at + chrono::Duration::hours(1);
        let id = scheduled_job_id(&tenant, at).expect("a valid job id");
        assert_eq!(
            id.as_str(),
            "license-refresh-20231114-72f988bf-86f1-41af-91ab-2d7cd011db47"
        );
        assert_eq!(scheduled_job_id(&tenant, later), Some(id));
    }
}
