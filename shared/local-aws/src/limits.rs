//! AWS's size limits that moto does not enforce, refused on the local stack's side of the wire.
//!
//! moto refuses a DynamoDB item over 400 KB, but accepts an SQS message body of any size, a FIFO
//! message group id of any length and an EventBridge entry of any size (each is checked by a test
//! in tests/limits.rs). Every SDK configuration this crate makes sends its requests through
//! [`limits_client`], which answers such a request as AWS would (HTTP 400 with AWS's error code
//! and message) without passing it on to moto. Production code is untouched: only the local
//! stack's SDK configuration has this client.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector,
    http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use serde_json::{Value, json};

/// SQS: a message body with its attributes (and a whole `SendMessageBatch`) is at most 1 MiB,
/// 1,048,576 bytes, since August 2025 (it was 256 KiB): "The maximum size is 1 MiB or
/// 1,048,576 bytes" (SendMessage's `MessageBody` in the SQS API reference), and AWS's
/// announcement "Amazon SQS increases maximum message payload size to 1 MiB". A queue made
/// without `MaximumMessageSize`, as every queue of infra/template.yaml is, takes that much.
pub const SQS_MESSAGE_MAX_BYTES: usize = 1_048_576;
/// SQS FIFO: a message group id is 1 to 128 characters.
pub const SQS_MESSAGE_GROUP_ID_MAX_CHARS: usize = 128;
/// EventBridge: the entries of one `PutEvents` (source, detail-type, detail, resources) are at
/// most 1 MB since January 2026 (it was 256 KiB): AWS Compute Blog, "More room to build:
/// serverless services now support payloads up to 1 MB" (SQS, EventBridge and asynchronous
/// Lambda invocations).
pub const EVENTBRIDGE_ENTRY_MAX_BYTES: usize = 1_048_576;

/// An SDK HTTP client that refuses what AWS refuses (see the module documentation) and sends
/// everything else to moto through `inner`.
pub fn limits_client(inner: SharedHttpClient) -> SharedHttpClient {
    limits_client_recording(inner, None)
}

/// [`limits_client`] that also records, under `principal`, the IAM action of every request the
/// emulator answers with success ([`crate::usage`]).
pub fn limits_client_recording(
    inner: SharedHttpClient,
    principal: Option<String>,
) -> SharedHttpClient {
    http_client_fn(move |settings, components| {
        SharedHttpConnector::new(Limits {
            inner: inner.http_connector(settings, components),
            principal: principal.clone(),
        })
    })
}

#[derive(Debug)]
struct Limits {
    inner: SharedHttpConnector,
    /// Whose requests these are, when they are recorded.
    principal: Option<String>,
}

impl HttpConnector for Limits {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if let Some(refusal) = refusal(&request) {
            return HttpConnectorFuture::ready(Ok(refusal.response()));
        }
        let used = self
            .principal
            .clone()
            .zip(crate::usage::action_of(&request));
        let answer = self.inner.call(request);
        let Some((principal, action)) = used else {
            return answer;
        };
        HttpConnectorFuture::new(async move {
            let answer = answer.await;
            if answer
                .as_ref()
                .is_ok_and(|response| response.status().is_success())
            {
                crate::usage::record(&principal, &action);
            }
            answer
        })
    }
}

/// What AWS answers to a request over one of its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The error type, as AWS's JSON protocols name it (`__type`).
    pub error_type: &'static str,
    /// The short error code (for `x-amzn-query-error`).
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    fn response(&self) -> HttpResponse {
        let body = json!({"__type": self.error_type, "message": self.message}).to_string();
        let status = StatusCode::try_from(400u16).unwrap_or_else(|_| unreachable!("400 is valid"));
        let mut response = HttpResponse::new(status, SdkBody::from(body));
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        response
            .headers_mut()
            .insert("x-amzn-query-error", format!("{};Sender", self.code));
        response
    }
}

/// The refusal AWS would answer `request` with, if any: it reads the JSON protocols' target
/// header (`AmazonSQS.SendMessage`, `AWSEvents.PutEvents`) and the JSON body.
pub fn refusal(request: &HttpRequest) -> Option<Refusal> {
    let target = request.headers().get("x-amz-target")?;
    let body: Value = serde_json::from_slice(request.body().bytes()?).ok()?;
    match target {
        "AmazonSQS.SendMessage" => sqs_message(&body),
        "AmazonSQS.SendMessageBatch" => sqs_batch(&body),
        "AWSEvents.PutEvents" => eventbridge_entries(&body),
        _ => None,
    }
}

fn sqs_invalid(message: String) -> Refusal {
    Refusal {
        error_type: "com.amazonaws.sqs#InvalidParameterValue",
        code: "InvalidParameterValue",
        message,
    }
}

/// Body plus message attributes (names, types and values), as SQS counts a message's size.
fn sqs_message_size(message: &Value) -> usize {
    let body = message["MessageBody"].as_str().map_or(0, str::len);
    let attributes: usize = message["MessageAttributes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, attribute)| {
            name.len()
                + attribute["DataType"].as_str().map_or(0, str::len)
                + attribute["StringValue"].as_str().map_or(0, str::len)
                + attribute["BinaryValue"]
                    .as_str()
                    .map_or(0, |b| b.len() * 3 / 4)
        })
        .sum();
    body + attributes
}

fn sqs_group_id(message: &Value) -> Option<Refusal> {
    let group = message["MessageGroupId"].as_str()?;
    let length = group.chars().count();
    (length > SQS_MESSAGE_GROUP_ID_MAX_CHARS).then(|| {
        sqs_invalid(format!(
            "Value {length} characters for parameter MessageGroupId is invalid. Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to {SQS_MESSAGE_GROUP_ID_MAX_CHARS} in length."
        ))
    })
}

fn sqs_message(body: &Value) -> Option<Refusal> {
    let size = sqs_message_size(body);
    if size > SQS_MESSAGE_MAX_BYTES {
        return Some(sqs_invalid(format!(
            "One or more parameters are invalid. Reason: Message must be shorter than {SQS_MESSAGE_MAX_BYTES} bytes."
        )));
    }
    sqs_group_id(body)
}

fn sqs_batch(body: &Value) -> Option<Refusal> {
    let entries = body["Entries"].as_array()?;
    let total: usize = entries.iter().map(sqs_message_size).sum();
    if total > SQS_MESSAGE_MAX_BYTES {
        return Some(Refusal {
            error_type: "com.amazonaws.sqs#BatchRequestTooLong",
            code: "AWS.SimpleQueueService.BatchRequestTooLong",
            message: format!(
                "Batch requests cannot be longer than {SQS_MESSAGE_MAX_BYTES} bytes. You have sent {total} bytes."
            ),
        });
    }
    entries.iter().find_map(sqs_group_id)
}

/// An entry's size as EventBridge counts it: source, detail-type, detail, resources and time.
fn eventbridge_entry_size(entry: &Value) -> usize {
    let text = |name: &str| entry[name].as_str().map_or(0, str::len);
    let resources: usize = entry["Resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::len)
        .sum();
    text("Source") + text("DetailType") + text("Detail") + resources + 14
}

fn eventbridge_entries(body: &Value) -> Option<Refusal> {
    let total: usize = body["Entries"]
        .as_array()?
        .iter()
        .map(eventbridge_entry_size)
        .sum();
    (total > EVENTBRIDGE_ENTRY_MAX_BYTES).then(|| Refusal {
        error_type: "ValidationException",
        code: "ValidationException",
        message: format!(
            "Total size of the entries in the request is over the limit ({total} bytes; at most {EVENTBRIDGE_ENTRY_MAX_BYTES})."
        ),
    })
}
