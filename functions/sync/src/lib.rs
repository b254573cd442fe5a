//! The sync function: the platform's picture of each tenant (accounts, groups, memberships,
//! licenses, mailboxes, domains, organization), kept current from Microsoft Graph.
//!
//! Two kinds of events reach it:
//! - the EventBridge schedule (every 15 minutes, the shortest interval a tenant may choose):
//!   [`schedule::fan_out`] queues one sync job per due tenant;
//! - SQS sync jobs (from the fan-out, `POST /tenants/{id}/sync`, the first sync after connecting,
//!   or a run's own continuation): each syncs one tenant ([`engine`]), with partial batch failures.
//!
//! The sync log is the tenant's [`SyncRun`](lifecycle::model::SyncRun) records; [`lifecycle::sync_runs`] makes
//! and finds them and is how other functions request a sync.
//!
//! The engine asks the store in domain words (a page of directory changes, the tenant's stored
//! groups and memberships, a round's saved state) and never builds a key: the table's layout
//! stays in `lifecycle::store`.

pub mod convert;
pub mod engine;
pub mod schedule;
pub mod state;
mod worker;

use aws_config::SdkConfig;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use futures::future::BoxFuture;
use lifecycle::{Config, Function, HandlerError, Invocation, Platform, PlatformError, Trigger};
use serde_json::Value;

pub use engine::{Outcome, Phase, Report, Settings, SyncError};
pub use lifecycle::sync_runs::{RequestError, request_sync};
pub use schedule::{FanOut, fan_out};

/// Time kept back from the invocation's deadline for the page in flight and the checkpoint: with
/// the template's 900 s timeout the budget is the 780 s the sync has always had.
pub const CHECKPOINT_RESERVE: std::time::Duration = std::time::Duration::from_secs(120);

/// The sync function, built once per cold start.
#[derive(Clone)]
pub struct App {
    platform: Platform,
    settings: Settings,
}

impl App {
    /// Builds the function from the shared configuration and the AWS SDK configuration, with the
    /// default [`Settings`] (a 13-minute budget per invocation under a 15-minute timeout).
    pub fn new(config: Config, aws: &SdkConfig) -> Result<App, PlatformError> {
        Ok(App::from_platform(Platform::new(config, aws)?))
    }

    /// The function over already built dependencies, with the default [`Settings`].
    pub fn from_platform(platform: Platform) -> App {
        App {
            platform,
            settings: Settings::default(),
        }
    }

    /// The same function with other settings (tests force a short budget this way).
    pub fn with_settings(mut self, settings: Settings) -> App {
        self.settings = settings;
        self
    }

    /// The function's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The shared dependencies.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// Handles one invocation: an SQS batch of sync jobs, or the schedule's event.
    pub async fn handle(&self, event: Value) -> Result<Value, HandlerError> {
        self.handle_reporting(event).await.map(|(answer, _)| answer)
    }

    /// [`Self::handle`], also returning the figures of each sync job it ran (the bench's view).
    pub async fn handle_reporting(
        &self,
        event: Value,
    ) -> Result<(Value, Vec<Report>), HandlerError> {
        self.handle_with(event, &self.settings).await
    }

    /// One invocation with Lambda's deadline: the sync's time budget is the time left less
    /// [`CHECKPOINT_RESERVE`] (and never more than the settings' budget), so the last page and
    /// the checkpoint fit before Lambda cuts the invocation off, whatever the function's timeout.
    pub async fn handle_within(
        &self,
        event: Value,
        invocation: &Invocation,
    ) -> Result<Value, HandlerError> {
        let mut settings = self.settings.clone();
        settings.budget = settings
            .budget
            .min(invocation.remaining().saturating_sub(CHECKPOINT_RESERVE));
        self.handle_with(event, &settings)
            .await
            .map(|(answer, _)| answer)
    }

    async fn handle_with(
        &self,
        event: Value,
        settings: &Settings,
    ) -> Result<(Value, Vec<Report>), HandlerError> {
        let event = match Trigger::of(event)? {
            Trigger::Jobs(event) => {
                let (response, reports) =
                    worker::handle_batch(&self.platform, settings, event).await;
                return Ok((serde_json::to_value(response)?, reports));
            }
            Trigger::Schedule(event) => event,
        };
        let event: EventBridgeEvent = serde_json::from_value(event)?;
        tracing::info!(source = %event.source, detail_type = %event.detail_type, "sync schedule fired");
        let now = event
            .time
            .unwrap_or_else(chrono::Utc::now)
            .max(chrono::Utc::now());
        let fanned = schedule::fan_out(&self.platform, now).await?;
        tracing::info!(?fanned, "sync fan-out done");
        Ok((serde_json::to_value(fanned)?, Vec::new()))
    }
}

impl Function for App {
    fn invoke(
        &self,
        event: Value,
        invocation: Invocation,
    ) -> BoxFuture<'_, Result<Value, HandlerError>> {
        Box::pin(async move { self.handle_within(event, &invocation).await })
    }
}
