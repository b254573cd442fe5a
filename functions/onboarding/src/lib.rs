//! The onboarding function: SQS `onboard` and `update_memberships` jobs (joiner), and the
//! mover's `update_account` and `set_sign_in` jobs ([`account`], [`sign_in`]) from the
//! onboarding FIFO queue, and the group provisioning jobs ([`groups`]) (sent by the API's job intake or by other services directly, see
//! [`lifecycle::model::Job`]).
//!
//! Every job is validated before any write, with one `$batch` of reads ([`reads`], [`rules`]);
//! a dry run records every validation result and the plan (the Graph calls a real run makes, in
//! order) in the job record and writes nothing. A real run records each step with its Graph
//! request-id ([`onboard`], [`memberships`]); the shared job runner ([`lifecycle::jobs`]) makes
//! the job id the idempotency key, resumes a redelivered job and reports partial batch failures.
//! An onboarding with a start time in the future waits for it ([`schedule`]).

pub mod access_pass;
pub mod account;
pub mod groups;
pub mod memberships;
pub mod onboard;
pub mod reads;
pub mod rules;
pub mod schedule;
pub mod sign_in;
pub mod steps;

use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::SqsEvent;
use futures::future::BoxFuture;
use lifecycle::jobs::{JobError, JobHandler};
use lifecycle::model::{Job, JobKind, JobStatus, TenantConnection};
use lifecycle::{Config, Function, HandlerError, Invocation, JobProgress, Platform, PlatformError};
use serde_json::Value;

/// The onboarding function, built once per cold start.
pub struct App {
    platform: Platform,
}

impl App {
    /// Builds the function from the shared configuration and the AWS SDK configuration.
    pub fn new(config: Config, aws: &SdkConfig) -> Result<App, PlatformError> {
        Ok(App::from_platform(Platform::new(config, aws)?))
    }

    /// The function over already built dependencies.
    pub fn from_platform(platform: Platform) -> App {
        App { platform }
    }

    /// The shared dependencies.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// Runs the jobs of one SQS batch; the answer lists the messages to redeliver.
    pub async fn handle(&self, event: SqsEvent) -> aws_lambda_events::event::sqs::SqsBatchResponse {
        lifecycle::run_sqs_jobs(&self.platform, event, self).await
    }
}

impl JobHandler for App {
    fn run<'a>(
        &'a self,
        job: &'a Job,
        tenant: &'a TenantConnection,
        progress: &'a mut JobProgress,
    ) -> BoxFuture<'a, Result<JobStatus, JobError>> {
        Box::pin(async move {
            match &job.kind {
                JobKind::Onboard(onboard) => {
                    onboard::run(&self.platform, job, onboard, tenant, progress).await
                }
                JobKind::UpdateMemberships(update) => {
                    memberships::run(&self.platform, job, update, tenant, progress).await
                }
                JobKind::UpdateAccount(update) => {
                    account::run(&self.platform, job, update, tenant, progress).await
                }
                JobKind::SetSignIn(set) => {
                    sign_in::run(&self.platform, job, set, tenant, progress).await
                }
                JobKind::CreateGroup(create) => {
                    groups::create(&self.platform, job, create, tenant, progress).await
                }
                JobKind::UpdateGroup(update) => {
                    groups::update(&self.platform, job, update, tenant, progress).await
                }
                JobKind::SetGroupMembers(set) => {
                    groups::set_members(&self.platform, job, set, tenant, progress).await
                }
                JobKind::DeleteGroup(delete) => {
                    groups::delete(&self.platform, job, delete, tenant, progress).await
                }
                other => Err(JobError::permanent(format!(
                    "a {} job does not belong on the onboarding queue (onboard, update_memberships, update_account, set_sign_in and the group provisioning jobs only)",
                    other.job_type()
                ))),
            }
        })
    }

    /// A failed onboarding must not leave its password behind in Secrets Manager.
    fn abandon<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let JobKind::Onboard(onboard) = &job.kind {
                onboard::forget_password_of(&self.platform, job, onboard).await;
            }
        })
    }
}

impl Function for App {
    /// An SQS batch (`Records`) runs jobs; the schedule's EventBridge event sends the parked
    /// jobs (onboardings, scheduled leaves) whose start time has come by the event's time to
    /// their own queues, and deletes the generated passwords nobody took within their hand-over
    /// time ([`schedule::expire_password_handovers`]).
    fn invoke(
        &self,
        event: Value,
        invocation: Invocation,
    ) -> BoxFuture<'_, Result<Value, HandlerError>> {
        Box::pin(async move {
            if event.get("Records").is_none() && event.get("detail-type").is_some() {
                let now = lifecycle::schedule::scheduled_time(&event, chrono::Utc::now());
                let sent = schedule::send_due(&self.platform, now).await?;
                let expired = schedule::expire_password_handovers(&self.platform, now).await?;
                return Ok(
                    serde_json::json!({ "sent": sent, "expired_password_handovers": expired }),
                );
            }
            let event: SqsEvent = serde_json::from_value(event)?;
            // No job is started that the invocation's deadline might cut off.
            let response =
                lifecycle::run_sqs_jobs_within(&self.platform, event, self, &invocation).await;
            Ok(serde_json::to_value(response)?)
        })
    }
}
