//! The license-refresh function. Two triggers:
//! - an EventBridge schedule (daily): fan out one `license_refresh` job per connected tenant onto
//!   the license-refresh queue;
//! - that SQS queue: one tenant's refresh, through the shared jobs runner (partial batch
//!   failures): per-SKU seats (enabled, suspended, warning, consumed, unused, capability status),
//!   last sign-in per account where the tenant has Entra ID P1 (otherwise "not available: needs
//!   Entra ID P1", not an error), and the licensed accounts inactive for more than
//!   `inactive_after_days` (90 by default) flagged in the job record.
//!
//! [`lifecycle::license_report`] builds the license report from the stored SKUs and accounts (the
//! refresh and the HTTP API, `GET /tenants/{tenant_id}/licenses/report`, share it).

pub mod refresh;
pub mod schedule;

use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures::future::BoxFuture;
use lifecycle::{
    Config, Function, HandlerError, Invocation, Platform, PlatformError, Trigger, run_sqs_jobs,
    run_sqs_jobs_within,
};
use serde_json::Value;

pub use refresh::LicenseRefresh;
pub use schedule::FanOut;

/// The license-refresh function, built once per cold start.
#[derive(Clone)]
pub struct App {
    platform: Platform,
    handler: LicenseRefresh,
}

impl App {
    /// Builds the function from the shared configuration and the AWS SDK configuration (no I/O).
    pub fn new(config: Config, aws: &SdkConfig) -> Result<App, PlatformError> {
        Ok(App::from_platform(Platform::new(config, aws)?))
    }

    /// The function over already built dependencies.
    pub fn from_platform(platform: Platform) -> App {
        App {
            handler: LicenseRefresh::new(platform.clone()),
            platform,
        }
    }

    /// Runs one SQS batch of license-refresh jobs.
    pub async fn handle_jobs(&self, event: SqsEvent) -> SqsBatchResponse {
        run_sqs_jobs(&self.platform, event, &self.handler).await
    }

    /// The scheduled fan-out.
    pub async fn handle_schedule(&self) -> Result<FanOut, lifecycle::StoreError> {
        let fan_out = schedule::fan_out(&self.platform, chrono::Utc::now()).await?;
        tracing::info!(
            queued = fan_out.queued,
            not_connected = fan_out.not_connected,
            failed = fan_out.failed,
            "license refresh fan-out"
        );
        Ok(fan_out)
    }
}

impl Function for App {
    fn invoke(
        &self,
        event: Value,
        invocation: Invocation,
    ) -> BoxFuture<'_, Result<Value, HandlerError>> {
        Box::pin(async move {
            match Trigger::of(event)? {
                // No job is started that the invocation's deadline might cut off.
                Trigger::Jobs(event) => Ok(serde_json::to_value(
                    run_sqs_jobs_within(&self.platform, event, &self.handler, &invocation).await,
                )?),
                Trigger::Schedule(_) => Ok(serde_json::to_value(self.handle_schedule().await?)?),
            }
        })
    }
}
