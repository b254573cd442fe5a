//! The one shape every function exposes, so that `main.rs` (in Lambda) and the devstack (locally)
//! run the same handler.
//!
//! A function is built once per cold start from the shared [`Config`](crate::Config) and the AWS
//! SDK configuration, then invoked with the raw event JSON and the [`Invocation`] (Lambda's request
//! id and deadline). Inside, each function deserialises the JSON into the typed `aws_lambda_events`
//! event it expects (API Gateway v2, SQS, EventBridge) and serialises its typed response.

use std::time::{Duration, SystemTime};

use aws_lambda_events::event::sqs::SqsEvent;
use futures::future::BoxFuture;
use serde_json::Value;

/// Errors a handler returns to the runtime (Lambda marks the invocation failed).
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A Lambda function of this bundle, ready to be invoked.
pub trait Function: Send + Sync + 'static {
    /// Handles one invocation: `event` is what Lambda would deliver, the result is what Lambda
    /// would send back to the caller (API Gateway, the SQS event source, EventBridge).
    ///
    /// `invocation` carries Lambda's request id and the deadline at which Lambda cuts the
    /// invocation off: work that may not finish by then must stop early and leave itself
    /// resumable.
    fn invoke(
        &self,
        event: Value,
        invocation: Invocation,
    ) -> BoxFuture<'_, Result<Value, HandlerError>>;
}

/// What Lambda tells a handler about one invocation besides its event: the request id and the
/// deadline (the function's configured `Timeout` after the invocation started).
///
/// In Lambda it comes from the runtime's context ([`Invocation::from_lambda`]); the devstack
/// builds one from the template's `Timeout` ([`Invocation::with_timeout`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Lambda's request id (`aws_request_id`), for logs.
    pub request_id: String,
    /// When Lambda stops the invocation.
    pub deadline: SystemTime,
}

impl Invocation {
    /// An invocation with this request id ending at `deadline`.
    pub fn new(request_id: impl Into<String>, deadline: SystemTime) -> Self {
        Self {
            request_id: request_id.into(),
            deadline,
        }
    }

    /// The invocation Lambda's runtime describes (its `Lambda-Runtime-Deadline-Ms` as deadline).
    pub fn from_lambda(context: &lambda_runtime::Context) -> Self {
        Self::new(context.request_id.clone(), context.deadline())
    }

    /// An invocation starting now with a fresh request id, cut off after `timeout` (the devstack
    /// and tests: the function's template `Timeout`).
    pub fn with_timeout(timeout: Duration) -> Self {
        Self::new(
            uuid::Uuid::new_v4().to_string(),
            SystemTime::now() + timeout,
        )
    }

    /// Time left until the deadline (zero once it has passed).
    pub fn remaining(&self) -> Duration {
        self.deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }
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
