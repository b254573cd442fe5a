//! Lambda entry point: tracing, configuration and clients once per cold start, then the handler.

use dead_letters::App;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use lifecycle::{Config, Function, Invocation};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lifecycle::telemetry::init();
    let config = Config::from_env()?;
    let aws = lifecycle::load_sdk_config().await;
    let app = &App::new(config, &aws)?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let invocation = Invocation::from_lambda(&event.context);
        app.invoke(event.payload, invocation)
    }))
    .await
}
