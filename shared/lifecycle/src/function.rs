//! The one shape every function exposes, so that `main.rs` (in Lambda) and the devstack (locally)
//! run the same handler.
//!
//! A function is built once per cold start from the shared [`Config`](crate::Config) and the AWS
//! SDK configuration, then invoked with the raw event JSON. Inside, each function deserialises the
//! JSON into the typed `aws_lambda_events` event it expects (API Gateway v2, SQS, EventBridge) and
//! serialises its typed response.

use aws_lambda_events::event::sqs::SqsEvent;
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

/// What invoked a function that serves both an SQS queue and an EventBridge schedule.
#[derive(Debug)]
pub enum Trigger {
    /// A batch of jobs from the function's queue.
    Jobs(SqsEvent),
    /// The schedule fired: its "Scheduled Event", or the rule's constant `Input`, as delivered.
    Schedule(Value),
}

impl Trigger {
    /// Tells the two apart: SQS delivers `Records`; anything else is the schedule's event.
    pub fn of(event: Value) -> Result<Trigger, serde_json::Error> {
        if event.get("Records").is_some() {
            Ok(Trigger::Jobs(serde_json::from_value(event)?))
        } else {
            Ok(Trigger::Schedule(event))
        }
    }
}
