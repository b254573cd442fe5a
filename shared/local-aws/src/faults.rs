//! Fault injection on the local stack's side of the wire: a hook that sees every AWS request a
//! function makes (DynamoDB, SQS, Secrets Manager, EventBridge: all speak a JSON protocol named
//! by `X-Amz-Target`) just before it goes to moto and just after moto answered, and may cut the
//! call off at either moment as a crash of the function would.
//!
//! Production code is untouched: the crash-matrix tests wrap a function's [`SdkConfig`] with
//! [`with_faults`] when they build it. The race tests' interleavings ([`crate::hook::before`]) go
//! through the same connector: a hook may also run a future of the test's choosing before a call
//! is sent ([`AwsFaultHook::interleave`]). A cut-off call fails with a connector error of no known
//! kind, which the SDK does not retry. The hook may also answer a call itself, unsent, with one
//! of the failures AWS answers under load ([`ServiceFault`]: throttling, internal errors,
//! EventBridge's per-entry failures), which the SDK and the code under test handle as they would
//! in AWS.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use serde_json::json;

/// What a hook sees of a request: the JSON protocols' target (`DynamoDB_20120810.PutItem`,
/// `secretsmanager.CreateSecret`, `AmazonSQS.SendMessage`) and the body as text.
#[derive(Debug, Clone)]
pub struct Request {
    pub target: String,
    pub body: String,
}

/// What runs before a request ([`AwsFaultHook::interleave`]), to its end.
pub type Interleaving = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

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
    /// The request is not sent: AWS answers it with this failure.
    Refuse(ServiceFault),
}

/// A failure AWS answers a request with when it is throttled or has an internal error: the
/// operation is not done. Only the errors the services document (the common errors of every AWS
/// API, DynamoDB's own throttling and internal error, and EventBridge's per-entry failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceFault {
    /// HTTP status of the answer.
    pub status: u16,
    /// The error type as the JSON protocols name it (`__type`); for a per-entry failure, the
    /// entry's `ErrorCode`.
    pub error_type: &'static str,
    /// The short code (`x-amzn-query-error`, SQS's query compatibility).
    pub code: &'static str,
    /// EventBridge's PutEvents answering 200 with the entry failed (`FailedEntryCount` 1).
    pub per_entry: bool,
}

impl ServiceFault {
    const fn new(status: u16, error_type: &'static str, code: &'static str) -> Self {
        Self {
            status,
            error_type,
            code,
            per_entry: false,
        }
    }

    /// The failures `operation` (`DynamoDB.PutItem`, `AmazonSQS.SendMessage`,
    /// `AWSEvents.PutEvents`, `secretsmanager.CreateSecret`) can meet in AWS.
    pub fn choices(operation: &str) -> Vec<ServiceFault> {
        let common = [
            Self::new(400, "ThrottlingException", "ThrottlingException"),
            Self::new(500, "InternalFailure", "InternalFailure"),
            Self::new(503, "ServiceUnavailable", "ServiceUnavailable"),
        ];
        let service = operation.split('.').next().unwrap_or(operation);
        let mut choices = common.to_vec();
        match service {
            "DynamoDB" => {
                choices = vec![
                    Self::new(
                        400,
                        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                        "ProvisionedThroughputExceededException",
                    ),
                    Self::new(
                        400,
                        "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                        "ThrottlingException",
                    ),
                    Self::new(
                        500,
                        "com.amazonaws.dynamodb.v20120810#InternalServerError",
                        "InternalServerError",
                    ),
                    Self::new(503, "ServiceUnavailable", "ServiceUnavailable"),
                ];
            }
            "AWSEvents" if operation.ends_with(".PutEvents") => {
                for code in ["ThrottlingException", "InternalFailure"] {
                    choices.push(ServiceFault {
                        status: 200,
                        error_type: code,
                        code,
                        per_entry: true,
                    });
                }
            }
            _ => {}
        }
        choices
    }

    /// The answer AWS sends.
    pub fn response(&self) -> HttpResponse {
        let body = if self.per_entry {
            json!({"FailedEntryCount": 1, "Entries": [{
                "ErrorCode": self.error_type,
                "ErrorMessage": "injected by the fault suite",
            }]})
        } else {
            json!({"__type": self.error_type, "message": "injected by the fault suite"})
        };
        let status = StatusCode::try_from(self.status)
            .or_else(|_| StatusCode::try_from(500u16))
            .unwrap_or_else(|_| unreachable!("500 is a status"));
        let mut response = HttpResponse::new(status, SdkBody::from(body.to_string()));
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        if !self.per_entry {
            let side = if self.status >= 500 {
                "Receiver"
            } else {
                "Sender"
            };
            response
                .headers_mut()
                .insert("x-amzn-query-error", format!("{};{side}", self.code));
        }
        response
    }
}

/// Sees every AWS request of one SDK configuration.
pub trait AwsFaultHook: Send + Sync + std::fmt::Debug {
    /// Before the request is sent: `Err(reason)` fails it unsent.
    fn before(&self, call: &AwsCall<'_>) -> Result<AfterAnswer, String>;
    /// After moto answered a call marked [`AfterAnswer::Interrupt`]: the reason the caller sees.
    fn interrupt_after(&self, call: &AwsCall<'_>) -> String;
    /// Before a call [`Self::before`] let through is sent: a future to run to its end first (a
    /// race test's interleaving), or `None` to send it at once.
    fn interleave(&self, _request: &Request) -> Option<Interleaving> {
        None
    }
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
        if let AfterAnswer::Refuse(fault) = after {
            return HttpConnectorFuture::ready(Ok(fault.response()));
        }
        let interleaving = self.hook.interleave(&seen(&request));
        if interleaving.is_none() && after == AfterAnswer::Deliver {
            return self.inner.call(request);
        }
        let inner = self.inner.clone();
        let hook = self.hook.clone();
        HttpConnectorFuture::new(async move {
            if let Some(interleaving) = interleaving {
                interleaving.await;
            }
            let answer = inner.call(request).await;
            if after == AfterAnswer::Deliver {
                return answer;
            }
            drop(answer?);
            let call = AwsCall {
                operation: &operation,
                write: is_write(&operation),
            };
            Err(interrupted(hook.interrupt_after(&call)))
        })
    }
}

/// The request as a hook's interleaving sees it: its raw target and its body as text.
fn seen(request: &HttpRequest) -> Request {
    Request {
        target: request
            .headers()
            .get("x-amz-target")
            .unwrap_or_default()
            .to_owned(),
        body: request
            .body()
            .bytes()
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_each_service_when_its_faults_are_listed_then_they_are_the_errors_aws_documents() {
        let dynamodb = ServiceFault::choices("DynamoDB.PutItem");
        assert!(
            dynamodb
                .iter()
                .any(|f| f.code == "ProvisionedThroughputExceededException" && f.status == 400)
        );
        assert!(dynamodb.iter().any(|f| f.status == 500));
        let events = ServiceFault::choices("AWSEvents.PutEvents");
        let entry = events
            .iter()
            .find(|f| f.per_entry)
            .expect("a per-entry failure");
        let response = entry.response();
        assert_eq!(response.status().as_u16(), 200);
        let body: serde_json::Value =
            serde_json::from_slice(response.body().bytes().expect("a body")).expect("JSON");
        assert_eq!(body["FailedEntryCount"], 1);
        let sqs = ServiceFault::choices("AmazonSQS.SendMessage");
        assert!(sqs.iter().all(|f| !f.per_entry));
        assert!(sqs.iter().any(|f| f.code == "ThrottlingException"));
    }

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
