//! Onboardings with a start time: the account is created then, not before.
//!
//! A job whose start is near (within [`PARK_AFTER`]) waits on SQS: it is handed back as a
//! transient failure and redelivered after the queue's visibility timeout (180 s, 5 receives).
//! A job whose start is further away is validated at once (so a problem shows now, not on the
//! first day), then parked in the table; the function's schedule (every 5 minutes) sends every
//! due parked job, of any kind, to its own queue ([`lifecycle::schedule`]), where an onboarding
//! resumes after validation.

pub use lifecycle::schedule::{PARK_AFTER, ParkedJob, ScheduleError, park, send_due};

use chrono::{DateTime, Utc};
use lifecycle::Platform;
use lifecycle::model::PASSWORD_HANDOVER_TTL;

/// Deletes every generated password whose hand-over expired untaken (created more than
/// [`PASSWORD_HANDOVER_TTL`] before `now`): its secret, and its hand-over item if DynamoDB's TTL
/// has not removed it yet. Returns how many. Runs on the function's 5-minute schedule, so an
/// untaken password outlives its hand-over by at most one tick.
pub async fn expire_password_handovers(
    platform: &Platform,
    now: DateTime<Utc>,
) -> Result<usize, HandoverError> {
    let expired = platform
        .vault
        .delete_generated_passwords_created_before(now - PASSWORD_HANDOVER_TTL)
        .await?;
    for (tenant, job) in &expired {
        platform.store.delete_password_handover(tenant, job).await?;
        tracing::info!(tenant_id = %tenant, job_id = %job, "an untaken generated password expired: deleted");
    }
    Ok(expired.len())
}

/// Why expired password hand-overs could not all be deleted (the next tick tries again).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandoverError {
    #[error("expired generated passwords could not be listed or deleted: {0}")]
    Vault(#[from] lifecycle::VaultError),
    #[error("an expired hand-over item could not be deleted: {0}")]
    Store(#[from] lifecycle::StoreError),
}
