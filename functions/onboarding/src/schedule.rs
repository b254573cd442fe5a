//! Onboardings with a start time: the account is created then, not before.
//!
//! A job whose start is near (within [`PARK_AFTER`]) waits on SQS: it is handed back as a
//! transient failure and redelivered after the queue's visibility timeout (180 s, 5 receives).
//! A job whose start is further away is validated at once (so a problem shows now, not on the
//! first day), then parked in the table; the function's schedule (every 5 minutes) sends the due
//! ones to the onboarding queue again, where they resume after validation. The parked item holds
//! the job as queued: its password only as the name of its secret.

use chrono::{DateTime, Duration, Utc};
use futures::TryStreamExt as _;
use lifecycle::jobs::JobError;
use lifecycle::model::Job;
use lifecycle::store::{Record, keys};
use lifecycle::{Platform, QueueError, StoreError};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Starts further away than this are parked in the table; nearer ones wait on SQS redelivery.
/// More than SQS's 5-minute FIFO deduplication window, so the job sent again is not dropped as a
/// duplicate of the first send.
pub const PARK_AFTER: Duration = Duration::minutes(10);
/// A parked job nobody sent (its tenant removed, say) disappears this long after its start.
const PARKED_RETENTION: Duration = Duration::days(14);

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

/// Sends every parked job whose start time has come to the onboarding queue, then removes it.
/// Returns how many were sent.
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
        platform
            .queue
            .send_job(&platform.config.onboarding_queue_url, &item.job)
            .await?;
        platform
            .store
            .delete(&keys::scheduled_job(
                item.not_before,
                &item.job.tenant_id,
                &item.job.job_id,
            ))
            .await?;
        tracing::info!(job_id = %item.job.job_id, tenant_id = %item.job.tenant_id, not_before = %item.not_before, "start time reached; job queued");
        sent += 1;
    }
    Ok(sent)
}
