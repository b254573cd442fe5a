//! A job after intake: `GET /tenants/{tenant_id}/jobs/{job_id}` (its record),
//! `POST …/retry` (queue a job that completed with errors again) and `DELETE …` (cancel a job
//! that has not started).

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use chrono::Utc;
use lifecycle::http::{error_response, json_response, path_param};
use lifecycle::model::{JobRecord, JobStatus, JobStep, StepOutcome, TenantConnection};
use lifecycle::queue::deduplication_id;
use lifecycle::schedule;
use lifecycle::{JobId, TenantId};

use super::{Intake, Refusal, accepted, ids, refuse, status_text, unavailable};
use crate::answers::JobView;
use crate::tenant_state;

impl Intake {
    /// `DELETE /tenants/{tenant_id}/jobs/{job_id}`: cancels a job that has not started (parked
    /// until its start time, or queued): its record ends `cancelled` (and its completion event is
    /// put), its parked item and its password secrets are deleted, and a worker that receives it
    /// later skips it. 200 with the record; 200 again for a job already cancelled (what remains is
    /// deleted again, the event put again: at least once); 404 for an unknown job; 409 for a job
    /// that is running or has ended, naming its state.
    #[tracing::instrument(skip_all, fields(tenant_id = %path_param(request, "tenant_id"), job_id = %path_param(request, "job_id")))]
    pub async fn cancel(&self, request: &ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        match self.try_cancel(request).await {
            Ok(answer) | Err(answer) => *answer,
        }
    }

    async fn try_cancel(&self, request: &ApiGatewayV2httpRequest) -> Result<Refusal, Refusal> {
        let (tenant_id, job_id) = ids(request)?;
        let read = || self.job_or_404(&tenant_id, &job_id);
        let mut record = read().await?;
        if record.status == JobStatus::Queued {
            let now = Utc::now();
            let mut cancelled = record.clone();
            cancelled.status = JobStatus::Cancelled;
            cancelled.completed_at = Some(now);
            cancelled.updated_at = now;
            cancelled.error = None;
            cancelled.steps.push(JobStep {
                name: "cancel".into(),
                outcome: StepOutcome::Done,
                graph_request_id: None,
                detail: Some(
                    "cancelled before it started; nothing was written in the tenant".into(),
                ),
                at: Some(now),
                observed: Vec::new(),
                not_done: Vec::new(),
            });
            // Ended, so its receipt's digest is kept with it, as for a job a worker ends.
            cancelled.receipt_digest = Some(lifecycle::receipt::Receipt::of(&cancelled).digest());
            // Conditional on the record being the one read (queued): a worker that has just set
            // it running wins, and this answers 409.
            record = if self
                .store
                .put_job_record_revised(&mut cancelled)
                .await
                .map_err(|error| unavailable("the job could not be cancelled", error))?
            {
                tracing::info!(job_id = %job_id, "job cancelled");
                cancelled
            } else {
                read().await?
            };
        }
        if record.status != JobStatus::Cancelled {
            return Err(refuse(
                409,
                "job_not_cancellable",
                format!(
                    "job {job_id} is {}; only a job that has not started (queued or parked until its start time) is cancelled",
                    status_text(record.status)
                ),
            ));
        }
        self.finish_cancel(&record).await?;
        Ok(Box::new(json_response(200, &JobView::of(record))))
    }

    /// What follows a cancellation, each step repeatable: the parked item and the password
    /// secrets deleted, then the completion event.
    async fn finish_cancel(&self, record: &JobRecord) -> Result<(), Refusal> {
        if let Some(job) = &record.job {
            if let Some(parked) = schedule::parked_key(job) {
                self.store
                    .delete(&parked)
                    .await
                    .map_err(|error| unavailable("the parked job could not be deleted", error))?;
            }
            self.forget_passwords(job)
                .await
                .map_err(|error| unavailable("the job's password could not be deleted", error))?;
        }
        self.events
            .job_finished(record)
            .await
            .map_err(|error| unavailable("the cancellation could not be announced", error))
    }

    /// `GET /tenants/{tenant_id}/jobs/{job_id}`: the job record.
    #[tracing::instrument(skip_all, fields(tenant_id = %path_param(request, "tenant_id"), job_id = %path_param(request, "job_id")))]
    pub async fn get(&self, request: &ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let (tenant_id, job_id) = match ids(request) {
            Ok(ids) => ids,
            Err(answer) => return *answer,
        };
        match self.store.job_record(&tenant_id, &job_id).await {
            Ok(Some(record)) => json_response(200, &JobView::of(record)),
            Ok(None) => error_response(
                404,
                "job_not_found",
                format!(
                    "tenant {tenant_id} has no job {job_id} (records are kept 30 days after the job ends)"
                ),
            ),
            Err(error) => *unavailable("the job could not be read", error),
        }
    }

    /// The job's record, or 404 naming the job (503 when the store cannot be read).
    async fn job_or_404(&self, tenant_id: &TenantId, job_id: &JobId) -> Result<JobRecord, Refusal> {
        self.store
            .job_record(tenant_id, job_id)
            .await
            .map_err(|error| unavailable("the job could not be read", error))?
            .ok_or_else(|| {
                refuse(
                    404,
                    "job_not_found",
                    format!("tenant {tenant_id} has no job {job_id}"),
                )
            })
    }

    /// `POST /tenants/{tenant_id}/jobs/{job_id}/retry`: queues a job that completed with errors
    /// again; it resumes at its first unfinished or failed step (nothing done is redone).
    /// 202; 404 for an unknown job; 409 for a job in any other state.
    #[tracing::instrument(skip_all, fields(tenant_id = %path_param(request, "tenant_id"), job_id = %path_param(request, "job_id")))]
    pub async fn retry(
        &self,
        request: &ApiGatewayV2httpRequest,
        tenant: &TenantConnection,
    ) -> ApiGatewayV2httpResponse {
        match self.try_retry(request, tenant).await {
            Ok(answer) | Err(answer) => *answer,
        }
    }

    async fn try_retry(
        &self,
        request: &ApiGatewayV2httpRequest,
        tenant: &TenantConnection,
    ) -> Result<Refusal, Refusal> {
        let (tenant_id, job_id) = ids(request)?;
        let mut record = self.job_or_404(&tenant_id, &job_id).await?;
        if record.status != JobStatus::CompletedWithErrors {
            return Err(refuse(
                409,
                "not_retryable",
                format!(
                    "job {job_id} is {}; only a job completed with errors is retried (send a new job otherwise)",
                    status_text(record.status)
                ),
            ));
        }
        let Some(job) = record.job.clone() else {
            return Err(refuse(
                409,
                "not_retryable",
                format!(
                    "job {job_id} was recorded without its content; send it again as a new job"
                ),
            ));
        };
        tenant_state::connected(tenant)?;
        record.status = JobStatus::Queued;
        record.completed_at = None;
        record.error = None;
        record.updated_at = Utc::now();
        // Conditional on the record being the one read: a second retry (or a delivery of the
        // job) that wrote it meanwhile is not overwritten.
        if !self
            .store
            .put_job_record_revised(&mut record)
            .await
            .map_err(|error| unavailable("the job could not be recorded", error))?
        {
            return Err(refuse(
                409,
                "not_retryable",
                format!(
                    "job {job_id} changed while it was being retried (retried or run meanwhile); read it again with GET on the job"
                ),
            ));
        }
        let attempt = format!("retry-{}", Utc::now().timestamp_millis());
        self.queue
            .send_job_deduplicated(
                self.queue_url(&job),
                &job,
                &deduplication_id(&job, Some(&attempt)),
            )
            .await
            .map_err(|error| unavailable("the job could not be queued", error))?;
        tracing::info!(job_id = %job_id, "job queued again");
        Ok(Box::new(accepted(202, &record, None)))
    }
}
