//! SQS event sources: one task per function's SQS event, as Lambda's poller does it.
//!
//! It long-polls the queue in the emulator, hands batches of at most `BatchSize` to the function as
//! an `SqsEvent`, deletes what succeeded, and makes what failed visible again after a short local
//! retry delay, so the queue's redrive policy moves a message that keeps failing to its dead-letter
//! queue after `maxReceiveCount` receives. With `ReportBatchItemFailures` only the messages the
//! function lists in `batchItemFailures` failed; without it (or when the invocation fails) the
//! whole batch did, as in Lambda.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName,
};
use serde_json::{Map, Value, json};

use crate::functions::Functions;

/// SQS returns at most 10 messages per receive.
const MAX_RECEIVE: u32 = 10;

/// One SQS event source of one function.
#[derive(Debug, Clone)]
pub struct SqsSource {
    pub function: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: u32,
    pub report_batch_item_failures: bool,
}

/// Timings of the local pollers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PollSettings {
    /// Long-poll wait per receive (SQS allows 0-20 s).
    pub wait: Duration,
    /// How long a failed message stays invisible before its next delivery.
    pub retry_delay: Duration,
}

/// Polls until the task is aborted.
pub(crate) async fn run(
    sqs: aws_sdk_sqs::Client,
    functions: Functions,
    source: SqsSource,
    settings: PollSettings,
    region: String,
) {
    let max = source.batch_size.clamp(1, MAX_RECEIVE) as i32;
    let wait = settings.wait.as_secs().clamp(0, 20) as i32;
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&source.queue_url)
            .max_number_of_messages(max)
            .wait_time_seconds(wait)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await;
        let messages = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(error) => {
                tracing::warn!(
                    function = %source.function,
                    error = %aws_sdk_sqs::error::DisplayErrorContext(&error),
                    "receiving from the queue failed; retrying"
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        deliver(&sqs, &functions, &source, &settings, &region, messages).await;
    }
}

async fn deliver(
    sqs: &aws_sdk_sqs::Client,
    functions: &Functions,
    source: &SqsSource,
    settings: &PollSettings,
    region: &str,
    messages: Vec<Message>,
) {
    let event = json!({
        "Records": messages
            .iter()
            .map(|m| record(m, &source.queue_arn, region))
            .collect::<Vec<_>>()
    });
    let ids: Vec<&str> = messages
        .iter()
        .filter_map(|m| m.message_id.as_deref())
        .collect();
    let failed: HashSet<String> = match functions.invoke(&source.function, event).await {
        Ok(response) if source.report_batch_item_failures => {
            match batch_item_failures(&response, &ids) {
                Some(failed) => failed,
                None => {
                    tracing::warn!(
                        function = %source.function,
                        "invalid batchItemFailures in the response; the whole batch failed"
                    );
                    ids.iter().map(|id| (*id).to_owned()).collect()
                }
            }
        }
        Ok(_) => HashSet::new(),
        Err(error) => {
            tracing::warn!(function = %source.function, %error, "SQS batch failed");
            ids.iter().map(|id| (*id).to_owned()).collect()
        }
    };
    let (done, retry): (Vec<&Message>, Vec<&Message>) = messages
        .iter()
        .partition(|m| !failed.contains(m.message_id.as_deref().unwrap_or_default()));
    for chunk in done.chunks(MAX_RECEIVE as usize) {
        let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle.clone())
                    .build()
                    .ok()
            })
            .collect();
        if let Err(error) = sqs
            .delete_message_batch()
            .queue_url(&source.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            tracing::warn!(
                function = %source.function,
                error = %aws_sdk_sqs::error::DisplayErrorContext(&error),
                "deleting handled messages failed; they will be delivered again"
            );
        }
    }
    let delay = settings.retry_delay.as_secs().min(43_200) as i32;
    for chunk in retry.chunks(MAX_RECEIVE as usize) {
        let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle.clone())
                    .visibility_timeout(delay)
                    .build()
                    .ok()
            })
            .collect();
        if let Err(error) = sqs
            .change_message_visibility_batch()
            .queue_url(&source.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            tracing::warn!(
                function = %source.function,
                error = %aws_sdk_sqs::error::DisplayErrorContext(&error),
                "shortening the visibility of failed messages failed; they reappear after the queue's VisibilityTimeout"
            );
        }
    }
}

/// The message ids the response reports as failed; `None` when the response is malformed or names
/// a message that was not in the batch (Lambda then fails the whole batch).
fn batch_item_failures(response: &Value, ids: &[&str]) -> Option<HashSet<String>> {
    let failures = match response.get("batchItemFailures") {
        None | Some(Value::Null) => return Some(HashSet::new()),
        Some(Value::Array(failures)) => failures,
        Some(_) => return None,
    };
    failures
        .iter()
        .map(|f| {
            f.get("itemIdentifier")
                .and_then(Value::as_str)
                .filter(|id| ids.contains(id))
                .map(str::to_owned)
        })
        .collect()
}

impl SqsSource {
    /// The SQS event Lambda's poller hands the function for these received messages.
    pub fn event(&self, messages: &[Message], region: &str) -> Value {
        json!({
            "Records": messages
                .iter()
                .map(|m| record(m, &self.queue_arn, region))
                .collect::<Vec<_>>()
        })
    }
}

/// The message ids a function's answer to an SQS event reports as failed (`batchItemFailures`);
/// `None` when the answer is malformed or names a message not in the batch (Lambda then fails
/// the whole batch).
pub fn failed_messages(response: &Value, ids: &[&str]) -> Option<HashSet<String>> {
    batch_item_failures(response, ids)
}

/// One record of the SQS event, as Lambda builds it.
fn record(message: &Message, queue_arn: &str, region: &str) -> Value {
    let attributes: Map<String, Value> = message
        .attributes
        .iter()
        .flatten()
        .map(|(name, value)| (name.as_str().to_owned(), Value::String(value.clone())))
        .collect();
    let message_attributes: Map<String, Value> = message
        .message_attributes
        .iter()
        .flatten()
        .map(|(name, value)| {
            let mut attribute = json!({
                "dataType": value.data_type,
                "stringListValues": [],
                "binaryListValues": [],
            });
            if let Some(text) = &value.string_value {
                attribute["stringValue"] = json!(text);
            }
            if let Some(binary) = &value.binary_value {
                use base64::Engine;
                attribute["binaryValue"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(binary.as_ref()));
            }
            (name.clone(), attribute)
        })
        .collect();
    json!({
        "messageId": message.message_id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.md5_of_body,
        "md5OfMessageAttributes": message.md5_of_message_attributes,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::sqs::SqsEvent;
    use aws_sdk_sqs::types::MessageAttributeValue;

    #[test]
    fn given_a_received_fifo_message_when_turned_into_a_record_then_sqs_event_reads_it() {
        let message = Message::builder()
            .message_id("m1")
            .receipt_handle("r1")
            .body(r#"{"job":"x"}"#)
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
            .attributes(MessageSystemAttributeName::MessageGroupId, "tenant#account")
            .attributes(MessageSystemAttributeName::MessageDeduplicationId, "job-1")
            .message_attributes(
                "type",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("onboard")
                    .build()
                    .expect("attribute"),
            )
            .build();

        let event =
            json!({"Records": [record(&message, "arn:aws:sqs:us-east-1:1:q.fifo", "us-east-1")]});
        let parsed: SqsEvent = serde_json::from_value(event).expect("an SqsEvent");

        let record = &parsed.records[0];
        assert_eq!(record.message_id.as_deref(), Some("m1"));
        assert_eq!(record.receipt_handle.as_deref(), Some("r1"));
        assert_eq!(record.attributes["ApproximateReceiveCount"], "2");
        assert_eq!(record.attributes["MessageGroupId"], "tenant#account");
        assert_eq!(record.attributes["MessageDeduplicationId"], "job-1");
        assert_eq!(
            record.message_attributes["type"].string_value.as_deref(),
            Some("onboard")
        );
        assert_eq!(record.event_source.as_deref(), Some("aws:sqs"));
        assert_eq!(
            record.event_source_arn.as_deref(),
            Some("arn:aws:sqs:us-east-1:1:q.fifo")
        );
    }

    #[test]
    fn given_batch_item_failures_when_read_then_listed_ids_fail_and_unknown_ids_fail_the_batch() {
        let ids = ["a", "b", "c"];

        let some = batch_item_failures(
            &json!({"batchItemFailures": [{"itemIdentifier": "b"}]}),
            &ids,
        );
        let none = batch_item_failures(&json!({"batchItemFailures": []}), &ids);
        let unknown = batch_item_failures(
            &json!({"batchItemFailures": [{"itemIdentifier": "zzz"}]}),
            &ids,
        );

        assert_eq!(some, Some(HashSet::from(["b".to_owned()])));
        assert_eq!(none, Some(HashSet::new()));
        assert_eq!(unknown, None);
    }
}
