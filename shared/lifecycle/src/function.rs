//! The one shape every function exposes, so that `main.rs` (in Lambda) and the devstack (locally)
//! run the same handler.
//!
//! A function is built once per cold start from the shared [`Config`](crate::Config) and the AWS
//! SDK configuration, then invoked with the raw event JSON. Inside, each function deserialises the
//! JSON into the typed `aws_lambda_events` event it expects (API Gateway v2, SQS, EventBridge) and
//! serialises its typed response.

use futures::future::BoxFuture;
use serde_json::Value;

/// Errors a handler returns to the runtime (Lambda marks the invocation failed).
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A Lambda function of this bundle, ready to be invoked.
pub trait Function: Send + Sync + 'static {
    /// Handles one invocation: `event` is what Lambda would deliver, the result is what Lambda
    /// would send back to the caller (API Gateway, the SQS event source, EventBridge).
    fn invoke(&self, event: Value) -> BoxFuture<'_, Result<Value, HandlerError>>;
}
