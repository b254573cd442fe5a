//! Passwordless joiners: after the account exists, a Temporary Access Pass is created for it and
//! handed back once, through the same one-time hand-over as a generated password (the hand-over
//! secret and its DynamoDB item, taken with `GET /tenants/{tenant_id}/jobs/{job_id}/password`).
//! The pass is in Graph's answer and in the hand-over secret only: never in the job record, a
//! step, a log line or an event.

use chrono::Utc;
use graph::{NewTemporaryAccessPass, TenantGraph};
use lifecycle::jobs::JobError;
use lifecycle::model::{
    Job, OnboardJob, PASSWORD_HANDOVER_TTL, PasswordHandover, PasswordSource, StepOutcome,
};
use lifecycle::{JobProgress, Platform, SecretWrite};

use crate::steps::step;

/// Step: the pass created and waiting to be handed back.
pub const TEMPORARY_ACCESS_PASS: &str = "temporary_access_pass";

/// Creates the account's Temporary Access Pass and puts it in the job's hand-over, when the job
/// asks for one and an earlier delivery did not. Graph allows one pass per account: a
/// redelivery that meets the pass an earlier delivery made keeps it when its hand-over exists,
/// and replaces it (delete, create) when the earlier delivery died before the hand-over was
/// written, so the pass handed back is always one Graph holds.
pub async fn hand_over(
    platform: &Platform,
    graph: &TenantGraph,
    job: &Job,
    onboard: &OnboardJob,
    account_id: &str,
    progress: &mut JobProgress,
) -> Result<(), JobError> {
    let PasswordSource::TemporaryAccessPass {
        lifetime_minutes,
        start_at,
        one_time_use,
    } = &onboard.password
    else {
        return Ok(());
    };
    if progress.finished_step(TEMPORARY_ACCESS_PASS).is_some() {
        return Ok(());
    }
    let (tenant_id, job_id) = (&job.tenant_id, &job.job_id);
    let handover_name = platform.vault.generated_password_name(tenant_id, job_id);
    let existing = graph.temporary_access_pass_ids(account_id).await?;
    if !existing.is_empty() {
        match platform.vault.get_secret(&handover_name).await {
            Ok(_) => {
                return progress
                    .step(step(
                        TEMPORARY_ACCESS_PASS,
                        StepOutcome::Done,
                        None,
                        "Temporary Access Pass created by an earlier delivery; its hand-over is waiting",
                    ))
                    .await;
            }
            Err(lifecycle::VaultError::NotFound { .. }) => {
                for method in existing {
                    graph
                        .delete_temporary_access_pass(account_id, &method)
                        .await?;
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
    let request = NewTemporaryAccessPass {
        start_date_time: *start_at,
        lifetime_in_minutes: *lifetime_minutes,
        is_usable_once: *one_time_use,
    };
    let receipt = match graph
        .create_temporary_access_pass(account_id, &request)
        .await
    {
        Ok(receipt) => receipt,
        Err(error) if error.is_retryable() => return Err(error.into()),
        Err(error) => {
            // The account exists; the licenses and groups still follow. The job ends with
            // errors and says how to give the person a pass by hand.
            return progress
                .step(step(
                    TEMPORARY_ACCESS_PASS,
                    StepOutcome::Failed,
                    error.request_id().map(str::to_owned),
                    format!(
                        "Graph refused the Temporary Access Pass ({error}); the account exists: create a pass in the Entra admin center (user > Authentication methods) once the tenant's Temporary Access Pass policy allows it"
                    ),
                ))
                .await;
        }
    };
    let Some(pass) = receipt.value.temporary_access_pass else {
        return Err(JobError::permanent(
            "Graph created the Temporary Access Pass but answered no pass to hand back",
        ));
    };
    if let SecretWrite::AlreadyExists { .. } = platform
        .vault
        .create_generated_password(tenant_id, job_id, &pass)
        .await?
    {
        // Only a delivery that found no hand-over gets here; one written meanwhile by another
        // copy of this message holds that copy's pass, which Graph replaced: it must not stay.
        platform.vault.delete_secret(&handover_name).await?;
        return Err(JobError::transient(
            "another delivery of this job created a Temporary Access Pass at the same time; retrying".to_owned(),
        ));
    }
    platform
        .store
        .put_new_password_handover(
            tenant_id,
            job_id,
            &PasswordHandover {
                tenant_id: tenant_id.clone(),
                job_id: job_id.clone(),
                valid_until: Utc::now() + PASSWORD_HANDOVER_TTL,
            },
        )
        .await?;
    tracing::info!(handover_secret = %handover_name, "created the Temporary Access Pass");
    let start = start_at.map_or_else(|| "now".to_owned(), |at| at.to_rfc3339());
    progress
        .step(step(
            TEMPORARY_ACCESS_PASS,
            StepOutcome::Done,
            receipt.request_id,
            format!(
                "Temporary Access Pass created (method {}, {lifetime_minutes} minutes from {start}{}); handed back once from GET /tenants/{tenant_id}/jobs/{job_id}/password, stored nowhere else",
                receipt.value.id,
                if *one_time_use { ", one sign-in" } else { "" }
            ),
        ))
        .await
}
