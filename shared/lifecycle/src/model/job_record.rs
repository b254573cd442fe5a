//! A job's record: where it is (status), the steps it took with their Graph request-ids and
//! observations, who submitted it, and when it ends (its retention).

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::job::Job;
use crate::ids::{JobId, OrgId, TenantId};

/// How long a finished job's record is kept (TTL) so the API can still show its audit trail.
pub const JOB_RECORD_RETENTION: Duration = Duration::days(30);

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    /// Some steps failed for good; the record lists what did and did not happen.
    CompletedWithErrors,
    Failed,
    /// Cancelled by the caller before it started (`DELETE /tenants/{id}/jobs/{job_id}`): nothing
    /// was written in the tenant.
    Cancelled,
}

impl JobStatus {
    /// Whether the job has ended (its record then expires after [`JOB_RECORD_RETENTION`]).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::CompletedWithErrors | Self::Failed | Self::Cancelled
        )
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    Pending,
    Done,
    /// Nothing to do (already in the wanted state).
    Skipped,
    Failed,
}

/// One step of a job, with the Graph request id of its write (the audit trail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JobStep {
    /// e.g. `create_account`, `assign_licenses`, `add_groups`.
    pub name: String,
    pub outcome: StepOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_request_id: Option<String>,
    /// What happened, for a person (never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// What the read-back after the step observed in Graph, one entry per property read: the
    /// step is done only when these agree with what it set. Empty for a step without a
    /// read-back, and in records written before read-backs were kept apart from `detail`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observed: Vec<Observation>,
    /// What the step could not do, and why (a group Graph cannot change, a license that only
    /// leaves with its group): the receipt's "not done" list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_done: Vec<String>,
}

impl JobStep {
    /// A step named `name` that ended `outcome`, with `detail` for a person; no request-id,
    /// read-back or time yet (the record sets the time when it is written).
    pub fn new(name: impl Into<String>, outcome: StepOutcome, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            outcome,
            graph_request_id: None,
            detail: Some(detail.into()),
            at: None,
            observed: Vec::new(),
            not_done: Vec::new(),
        }
    }
}

/// One value a step's read-back observed in Graph, with the request-id of the read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Observation {
    /// The Graph property or collection read, in Graph's words: `accountEnabled`,
    /// `signInSessionsValidFromDateTime`, `memberOf`, `assignedLicenses`, `deletedItems`, ...
    pub property: String,
    /// What Graph answered: a boolean, a time, a count, or the names still there.
    pub value: serde_json::Value,
    /// The Graph request-id of the read, when Graph gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_request_id: Option<String>,
}

impl Observation {
    /// `property` read as `value` by the read with `request_id`.
    pub fn new(
        property: impl Into<String>,
        value: impl Into<serde_json::Value>,
        request_id: Option<&str>,
    ) -> Self {
        Self {
            property: property.into(),
            value: value.into(),
            graph_request_id: request_id.map(str::to_owned),
        }
    }
}

/// A job's record (`T#{tenant}#JOBS` / `{job id}`), written once when the job is accepted (the
/// conditional write that makes the job id an idempotency key) and updated as it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JobRecord {
    pub job_id: JobId,
    pub tenant_id: TenantId,
    /// The job's `type`.
    pub job_type: String,
    pub status: JobStatus,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub steps: Vec<JobStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// The job as accepted (a password only as its secret's name), so that a job completed with
    /// errors can be retried by its id, and a delivery whose body differs from it is known to be
    /// another job under a reused id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<Job>,
    /// A keyed digest (HMAC-SHA256, hex) of the body the API accepted, password value included:
    /// a resend of the same job id with another body answers 409 instead of the old job. Keyed,
    /// so the digest reveals nothing of the password to a reader of the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_digest: Option<String>,
    /// Who asked for the job through the API; `None` for a job another service put on the
    /// queue directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_by: Option<Submitter>,
    /// SHA-256 (hex) of the job's receipt ([`crate::receipt`]), kept when the job ends so a copy
    /// of the receipt can be checked later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_digest: Option<String>,
    /// How many times the record was written after it was first stored (0 for a record stored
    /// before revisions were kept). Each write is made only over the revision its writer read,
    /// and counts it up: of two deliveries of one job running at once, the one that read an
    /// older record cannot write it back over a newer one (a finished job never turns `running`
    /// again).
    #[serde(default)]
    pub revision: u64,
    /// `true` from the write that ends the job until its completion event was put: a delivery
    /// that finds it on a finished record puts the event (the one that ended the job stopped in
    /// between), so a finished job is announced at least once and, of two deliveries racing to
    /// end it, only by the one whose write won. Absent otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub announce_pending: bool,
    /// When the job was first handed back to wait for a later delivery (Graph's `Retry-After`
    /// longer than an invocation can wait, or a resumable job's next part). A job still handed
    /// back 24 hours after that fails, saying why, instead of coming back every 15 minutes
    /// without end. Absent while it never waited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<DateTime<Utc>>,
    /// Deliveries of the job's message spent waiting for Graph on a FIFO queue (onboarding,
    /// offboarding), where a job handed back keeps its message and SQS counts each receive: they
    /// are waits, not failures, so they do not count toward the 5 failed deliveries after which a
    /// job ends; at most 10 (`lifecycle::jobs::MAX_FIFO_WAITS`). Absent while it never waited.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub waited_deliveries: u32,
}

fn is_zero(count: &u32) -> bool {
    *count == 0
}

/// Who asked for a job: the caller's platform organization and the token's subject, both from
/// the token API Gateway's authorizer verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Submitter {
    pub org_id: OrgId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

impl JobRecord {
    /// A fresh record for an accepted job.
    pub fn queued(job: &Job, now: DateTime<Utc>) -> Self {
        Self {
            job_id: job.job_id.clone(),
            tenant_id: job.tenant_id.clone(),
            job_type: job.job_type().to_owned(),
            status: JobStatus::Queued,
            dry_run: job.dry_run,
            steps: Vec::new(),
            error: None,
            created_at: now,
            updated_at: now,
            completed_at: None,
            job: Some(job.clone()),
            body_digest: None,
            submitted_by: None,
            receipt_digest: None,
            revision: 0,
            announce_pending: false,
            waiting_since: None,
            waited_deliveries: 0,
        }
    }

    /// The record of a job refused before it could be read whole (a malformed message whose
    /// tenant and id could still be read): failed at `now` with `reason`.
    pub fn refused(
        tenant_id: TenantId,
        job_id: JobId,
        job_type: Option<&str>,
        reason: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            job_id,
            tenant_id,
            job_type: job_type.unwrap_or("unknown").to_owned(),
            status: JobStatus::Failed,
            dry_run: false,
            steps: Vec::new(),
            error: Some(reason),
            created_at: now,
            updated_at: now,
            completed_at: Some(now),
            job: None,
            body_digest: None,
            submitted_by: None,
            receipt_digest: None,
            revision: 0,
            announce_pending: false,
            waiting_since: None,
            waited_deliveries: 0,
        }
    }

    /// When the record may be removed: [`JOB_RECORD_RETENTION`] after completion; never while the
    /// job is unfinished.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        if self.status.is_finished() {
            Some(self.completed_at.unwrap_or(self.updated_at) + JOB_RECORD_RETENTION)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    #[test]
    fn given_a_finished_job_record_when_asked_then_it_expires_after_retention_and_a_running_one_never()
     {
        let job: Job = serde_json::from_value(serde_json::json!({
            "job_id":"j-5","tenant_id":TENANT,"type":"license_refresh"}))
        .unwrap();
        let now = Utc::now();
        let mut record = JobRecord::queued(&job, now);
        assert_eq!(record.expires_at(), None);
        record.status = JobStatus::Succeeded;
        record.completed_at = Some(now);
        assert_eq!(record.expires_at(), Some(now + JOB_RECORD_RETENTION));
    }
}
