//! The template's functions, built in-process, and how one is invoked the way Lambda would:
//! with the function's timeout, its failure or panic reported as a failed invocation.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lifecycle::{Function, HandlerError, Invocation};
use serde_json::Value;
use thiserror::Error;
use tracing::Instrument;

use crate::template::FunctionSpec;

/// Lambda's default timeout, used when neither the function nor `Globals` sets one.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Lambda's limit of a synchronous invocation's request and of its response: 6 MB (6,291,456
/// bytes of JSON). API Gateway and the SQS event source invoke synchronously.
pub const PAYLOAD_MAX_BYTES: usize = 6 * 1024 * 1024;

/// Why an invocation did not produce a response.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum InvokeError {
    #[error("no function {function} in the template")]
    Unknown { function: String },
    #[error(
        "function {function} (CodeUri {code_uri}) has not landed in the devstack: no constructor is registered for it"
    )]
    NotRegistered { function: String, code_uri: String },
    #[error("function {function} failed: {source}")]
    Failed {
        function: String,
        #[source]
        source: HandlerError,
    },
    #[error("function {function} timed out after {timeout:?}")]
    TimedOut { function: String, timeout: Duration },
    #[error("function {function} panicked")]
    Panicked { function: String },
    /// Lambda refuses the invocation: the event is over [`PAYLOAD_MAX_BYTES`].
    #[error(
        "function {function} was not invoked: the request payload is {bytes} bytes, over Lambda's {PAYLOAD_MAX_BYTES}"
    )]
    RequestTooLarge { function: String, bytes: usize },
    /// Lambda fails the invocation: the response is over [`PAYLOAD_MAX_BYTES`].
    #[error(
        "function {function} failed: its response payload is {bytes} bytes, over Lambda's {PAYLOAD_MAX_BYTES}"
    )]
    ResponseTooLarge { function: String, bytes: usize },
}

/// The size of `payload` as Lambda counts it: its JSON text.
fn payload_bytes(payload: &Value) -> usize {
    serde_json::to_vec(payload).map_or(0, |bytes| bytes.len())
}

/// One function of the template and, when its crate is registered, its built handler.
#[derive(Clone)]
pub struct Deployed {
    pub spec: FunctionSpec,
    /// The workspace-relative `CodeUri` the registry was asked for.
    pub code_key: String,
    pub handler: Option<Arc<dyn Function>>,
    /// The AWS SDK configuration the function runs with: credentials whose only permissions are
    /// its template `Policies`.
    pub sdk_config: aws_config::SdkConfig,
}

/// Every function of the template, by logical id.
#[derive(Clone, Default)]
pub struct Functions {
    by_id: BTreeMap<String, Deployed>,
}

impl Functions {
    pub(crate) fn insert(&mut self, deployed: Deployed) {
        self.by_id
            .insert(deployed.spec.logical_id.clone(), deployed);
    }

    /// The function with this logical id.
    pub fn get(&self, logical_id: &str) -> Option<&Deployed> {
        self.by_id.get(logical_id)
    }

    /// Every function, in logical-id order.
    pub fn iter(&self) -> impl Iterator<Item = &Deployed> {
        self.by_id.values()
    }

    /// Invokes a function with one event, as Lambda would: within its timeout, on its own task so
    /// that a panic is a failed invocation rather than a crashed devstack.
    pub async fn invoke(&self, logical_id: &str, event: Value) -> Result<Value, InvokeError> {
        let deployed = self
            .by_id
            .get(logical_id)
            .ok_or_else(|| InvokeError::Unknown {
                function: logical_id.to_owned(),
            })?;
        let handler = deployed
            .handler
            .clone()
            .ok_or_else(|| InvokeError::NotRegistered {
                function: logical_id.to_owned(),
                code_uri: deployed.code_key.clone(),
            })?;
        let bytes = payload_bytes(&event);
        if bytes > PAYLOAD_MAX_BYTES {
            return Err(InvokeError::RequestTooLarge {
                function: logical_id.to_owned(),
                bytes,
            });
        }
        let timeout = deployed
            .spec
            .timeout
            .map(|s| Duration::from_secs(u64::from(s)))
            .unwrap_or(DEFAULT_TIMEOUT);
        let invocation = Invocation::with_timeout(timeout);
        let span = tracing::info_span!(
            "invoke",
            function = logical_id,
            request_id = %invocation.request_id
        );
        let task =
            tokio::spawn(async move { handler.invoke(event, invocation).await }.instrument(span));
        let abort = task.abort_handle();
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(Ok(response))) => match payload_bytes(&response) {
                bytes if bytes > PAYLOAD_MAX_BYTES => Err(InvokeError::ResponseTooLarge {
                    function: logical_id.to_owned(),
                    bytes,
                }),
                _ => Ok(response),
            },
            Ok(Ok(Err(source))) => Err(InvokeError::Failed {
                function: logical_id.to_owned(),
                source,
            }),
            Ok(Err(_)) => Err(InvokeError::Panicked {
                function: logical_id.to_owned(),
            }),
            Err(_) => {
                abort.abort();
                Err(InvokeError::TimedOut {
                    function: logical_id.to_owned(),
                    timeout,
                })
            }
        }
    }
}
