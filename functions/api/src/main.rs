//! Lambda entry point: configuration and clients once per cold start, then the handler.

use api::App;
use aws_config::BehaviorVersion;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use lifecycle::{Config, Function};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = Config::from_env()?;
    let aws = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let app = &App::new(config, &aws)?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        app.invoke(event.payload)
    }))
    .await
}
