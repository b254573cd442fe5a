//! Lambda entry point: tracing, configuration and clients once per cold start, then the handler.

use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use lifecycle::{Config, Function, Invocation};
use serde_json::Value;
use sync::{App, Settings};

/// Seconds one invocation may sync before it checkpoints (`SYNC_TIME_BUDGET_SECONDS`; the
/// template sets it a few minutes under the function's timeout).
const BUDGET_VARIABLE: &str = "SYNC_TIME_BUDGET_SECONDS";

#[tokio::main]
async fn main() -> Result<(), Error> {
    lifecycle::telemetry::init();
    let config = Config::from_env()?;
    let aws = lifecycle::load_sdk_config().await;
    let mut settings = Settings::default();
    if let Ok(raw) = std::env::var(BUDGET_VARIABLE) {
        let seconds: u64 = raw.trim().parse().map_err(|_| {
            format!("{BUDGET_VARIABLE} must be a whole number of seconds, got {raw:?}")
        })?;
        settings.budget = Duration::from_secs(seconds);
    }
    let app = &App::new(config, &aws)?.with_settings(settings);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let invocation = Invocation::from_lambda(&event.context);
        app.invoke(event.payload, invocation)
    }))
    .await
}
