//! Scheduled leave: an offboard job with `start_at` (the leave date and time) runs then, not
//! before. A leave further away than [`lifecycle::schedule::PARK_AFTER`] is parked in the table
//! and released by the schedule ([`lifecycle::schedule::send_due`]); a nearer one waits on SQS
//! redelivery. While parked its record stays `queued` with a pending `wait_for_start` step, so
//! `DELETE /tenants/{id}/jobs/{job_id}` can still cancel it. A dry run records when it would run
//! and plans at once.

use chrono::Utc;
use futures::future::BoxFuture;
use lifecycle::jobs::{JobError, JobHandler};
use lifecycle::model::{Job, JobStatus, JobStep, StepOutcome, TenantConnection};
use lifecycle::schedule::{self, StartGate, WAIT_FOR_START};
use lifecycle::{JobProgress, Platform};

use crate::offboard::Offboarding;

/// The offboard handler behind its start-time gate.
#[derive(Clone)]
pub struct ScheduledLeave {
    platform: Platform,
    offboarding: Offboarding,
}

impl ScheduledLeave {
    /// The gate in front of `offboarding`.
    pub fn new(platform: Platform, offboarding: Offboarding) -> Self {
        Self {
            platform,
            offboarding,
        }
    }
}

impl JobHandler for ScheduledLeave {
    fn run<'a>(
        &'a self,
        job: &'a Job,
        tenant: &'a TenantConnection,
        progress: &'a mut JobProgress,
    ) -> BoxFuture<'a, Result<JobStatus, JobError>> {
        Box::pin(async move {
            if let (true, Some(start_at)) = (job.dry_run, job.start_at()) {
                progress
                    .step(JobStep {
                        name: WAIT_FOR_START.into(),
                        outcome: StepOutcome::Pending,
                        graph_request_id: None,
                        detail: Some(format!(
                            "dry run: the leave runs at {start_at}, not before (parked until then, cancellable)"
                        )),
                        at: None,
                        observed: Vec::new(),
                        not_done: Vec::new(),
                    })
                    .await?;
            }
            match schedule::gate(&self.platform, job, progress, Utc::now()).await? {
                StartGate::Parked => Ok(JobStatus::Queued),
                StartGate::Due => self.offboarding.run(job, tenant, progress).await,
            }
        })
    }

    fn abandon<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, ()> {
        self.offboarding.abandon(job)
    }
}
