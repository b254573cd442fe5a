//! Fault injection on the local stack's side of the wire: a hook that sees every AWS request a
//! function makes (DynamoDB, SQS, Secrets Manager, EventBridge: all speak a JSON protocol named
//! by `X-Amz-Target`) just before it goes to moto and just after moto answered, and may cut the
//! call off at either moment as a crash of the function would.
//!
//! Production code is untouched: the crash-matrix tests wrap a function's [`SdkConfig`] with
//! [`with_faults`] when they build it. The call fails with a connector error of no known kind,
//! which the SDK does not retry.

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;

/// One AWS request as the hook sees it.
#[derive(Debug, Clone, Copy)]
pub struct AwsCall<'a> {
    /// `X-Amz-Target` without its version: `DynamoDB_20120810.PutItem` -> `DynamoDB.PutItem`,
    /// `AmazonSQS.SendMessage`, `secretsmanager.CreateSecret`, `AWSEvents.PutEvents`.
    pub operation: &'a str,
    /// Whether the operation changes state (puts, updates, deletes, sends, creates).
    pub write: bool,
}

/// What happens to a call the hook let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAnswer {
    /// The answer reaches the caller.
    Deliver,
    /// moto did the operation, but the caller never learns it.
    Interrupt,
}

/// Sees every AWS request of one SDK configuration.
pub trait AwsFaultHook: Send + Sync + std::fmt::Debug {
    /// Before the request is sent: `Err(reason)` fails it unsent.
    fn before(&self, call: &AwsCall<'_>) -> Result<AfterAnswer, String>;
    /// After moto answered a call marked [`AfterAnswer::Interrupt`]: the reason the caller sees.
    fn interrupt_after(&self, call: &AwsCall<'_>) -> String;
}

/// `sdk` with every request passed by `hook` first.
pub fn with_faults(sdk: &SdkConfig, hook: Arc<dyn AwsFaultHook>) -> SdkConfig {
    let Some(inner) = sdk.http_client() else {
        return sdk.clone();
    };
    let client = http_client_fn(move |settings, components| {
        SharedHttpConnector::new(Faulty {
            inner: inner.http_connector(settings, components),
            hook: hook.clone(),
        })
    });
    sdk.to_builder().http_client(client).build()
}

/// Whether an operation name (after the dot of `X-Amz-Target`) changes state.
pub fn is_write(operation: &str) -> bool {
    const WRITES: [&str; 11] = [
        "Put",
        "Update",
        "Delete",
        "BatchWrite",
        "TransactWrite",
        "Send",
        "Create",
        "Change",
        "Restore",
        "Tag",
        "Untag",
    ];
    let name = operation.rsplit('.').next().unwrap_or(operation);
    WRITES.iter().any(|prefix| name.starts_with(prefix))
}

/// `DynamoDB_20120810.PutItem` -> `DynamoDB.PutItem`.
fn operation_of(request: &HttpRequest) -> String {
    let target = request.headers().get("x-amz-target").unwrap_or("unknown");
    match target.split_once('.') {
        Some((service, name)) => {
            let service = service.split('_').next().unwrap_or(service);
            format!("{service}.{name}")
        }
        None => target.to_owned(),
    }
}

#[derive(Debug)]
struct Faulty {
    inner: SharedHttpConnector,
    hook: Arc<dyn AwsFaultHook>,
}

fn interrupted(reason: String) -> ConnectorError {
    ConnectorError::other(reason.into(), None)
}

impl HttpConnector for Faulty {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = operation_of(&request);
        let call = AwsCall {
            operation: &operation,
            write: is_write(&operation),
        };
        let after = match self.hook.before(&call) {
            Ok(after) => after,
            Err(reason) => return HttpConnectorFuture::ready(Err(interrupted(reason))),
        };
        let answer = self.inner.call(request);
        if after == AfterAnswer::Deliver {
            return answer;
        }
        let hook = self.hook.clone();
        HttpConnectorFuture::new(async move {
            let response = answer.await?;
            drop(response);
            let call = AwsCall {
                operation: &operation,
                write: is_write(&operation),
            };
            Err(interrupted(hook.interrupt_after(&call)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_operation_names_when_classified_then_only_state_changes_are_writes() {
        for write in [
            "DynamoDB.PutItem",
            "DynamoDB.UpdateItem",
            "DynamoDB.BatchWriteItem",
            "DynamoDB.DeleteItem",
            "AmazonSQS.SendMessage",
            "AmazonSQS.DeleteMessage",
            "secretsmanager.CreateSecret",
            "AWSEvents.PutEvents",
        ] {
            assert!(is_write(write), "{write}");
        }
        for read in [
            "DynamoDB.GetItem",
            "DynamoDB.Query",
            "DynamoDB.BatchGetItem",
            "AmazonSQS.ReceiveMessage",
            "secretsmanager.GetSecretValue",
            "secretsmanager.ListSecrets",
        ] {
            assert!(!is_write(read), "{read}");
        }
    }
}
