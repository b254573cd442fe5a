//! The offboarding function: SQS FIFO offboard jobs (message group = tenant + account, so one
//! account's jobs run in order), run through the shared jobs runner with partial batch failures.
//!
//! An offboarding blocks sign-in and revokes sessions first (one `$batch`, so access ends at
//! once). That is a gate (`offboard/access.rs`): when Graph refuses either for good the job
//! fails there, with nothing else written, and its completion event says the account may still
//! have access. After every
//! write the account is read back from Graph; a step is done only when the read-back agrees, and
//! the stored account is written from what Graph answered. Then it removes the account's direct group memberships (20 per `$batch`; dynamic groups and
//! mail-enabled groups are reported, not touched), then its direct licenses (one assignLicense;
//! group-inherited licenses go with the group), then deletes it (soft delete, restorable for 30
//! days) or keeps it disabled, per the job's policy. Each step is recorded in the job record with
//! Graph's request id; a redelivery resumes at the first unfinished step. `dry_run` records the
//! plan with no write. An offboarding with `start_at` (a scheduled leave) waits for it
//! ([`leave`]).

mod leave;
mod offboard;
mod plan;
mod preflight;
mod snapshot;

// The account reads, the options, the checks and the restore live in the domain crate, shared
// with the API (which checks scheduled leaves and runs the restore inline).
use lifecycle::offboarding::{account, options, stored, verdict};

use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::SqsEvent;
use futures::future::BoxFuture;
use lifecycle::{
    Config, Function, HandlerError, Invocation, Platform, PlatformError, run_sqs_jobs,
    run_sqs_jobs_within,
};
use serde_json::Value;

pub use leave::ScheduledLeave;
pub use offboard::Offboarding;

/// The offboarding function, built once per cold start.
#[derive(Clone)]
pub struct App {
    platform: Platform,
    handler: ScheduledLeave,
}

impl App {
    /// Builds the function from the shared configuration and the AWS SDK configuration (no I/O).
    pub fn new(config: Config, aws: &SdkConfig) -> Result<App, PlatformError> {
        Ok(App::from_platform(Platform::new(config, aws)?))
    }

    /// The function over already built dependencies.
    pub fn from_platform(platform: Platform) -> App {
        App {
            handler: ScheduledLeave::new(platform.clone(), Offboarding::new(platform.clone())),
            platform,
        }
    }

    /// Runs one SQS batch of offboard jobs; the answer names the messages SQS must redeliver.
    pub async fn handle(&self, event: SqsEvent) -> aws_lambda_events::event::sqs::SqsBatchResponse {
        run_sqs_jobs(&self.platform, event, &self.handler).await
    }
}

impl Function for App {
    fn invoke(
        &self,
        event: Value,
        invocation: Invocation,
    ) -> BoxFuture<'_, Result<Value, HandlerError>> {
        Box::pin(async move {
            let event: SqsEvent = serde_json::from_value(event)?;
            // No job is started that the invocation's deadline might cut off.
            let response =
                run_sqs_jobs_within(&self.platform, event, &self.handler, &invocation).await;
            Ok(serde_json::to_value(response)?)
        })
    }
}
