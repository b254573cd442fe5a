//! The SQS adapter: send a job, and the receive / delete / change-visibility calls a local poller
//! (the devstack) needs to feed jobs to handlers as the Lambda event source would.

use std::collections::HashMap;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};
use sha2::{Digest as _, Sha256};
use thiserror::Error;

use crate::model::Job;
use crate::sdk_error::{AwsFailure, BoxError, classify};

/// Message attribute carrying the job's `type`, so a consumer can route without parsing the body.
pub const JOB_TYPE_ATTRIBUTE: &str = "job_type";

/// What went wrong with SQS.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum QueueError {
    /// SQS refused or could not be reached.
    #[error("SQS {operation} failed ({}): {message}", code.as_deref().unwrap_or("no error code"))]
    Aws {
        operation: &'static str,
        code: Option<String>,
        message: String,
        retryable: bool,
        #[source]
        source: BoxError,
    },
    /// The job could not be turned into JSON.
    #[error("job does not serialise: {0}")]
    Encode(#[source] serde_json::Error),
    /// A request could not be built (a required field is missing).
    #[error("SQS request could not be built: {0}")]
    Build(#[source] aws_sdk_sqs::error::BuildError),
}

impl QueueError {
    fn aws(operation: &'static str, failure: AwsFailure) -> Self {
        Self::Aws {
            operation,
            code: failure.code,
            message: failure.message,
            retryable: failure.retryable,
            source: failure.source,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Aws {
                retryable: true,
                ..
            }
        )
    }
}

/// A message as received, with its system attributes (`ApproximateReceiveCount`,
/// `MessageGroupId`, `MessageDeduplicationId`, `SentTimestamp`, ...) and string message
/// attributes (`job_type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub attributes: HashMap<String, String>,
    pub message_attributes: HashMap<String, String>,
}

impl ReceivedMessage {
    /// How many times the message has been received (1 on first delivery).
    pub fn receive_count(&self) -> u32 {
        self.attributes
            .get("ApproximateReceiveCount")
            .and_then(|count| count.parse().ok())
            .unwrap_or(1)
    }

    /// The FIFO message group, if any.
    pub fn message_group_id(&self) -> Option<&str> {
        self.attributes.get("MessageGroupId").map(String::as_str)
    }

    /// The FIFO deduplication id, if any.
    pub fn deduplication_id(&self) -> Option<&str> {
        self.attributes
            .get("MessageDeduplicationId")
            .map(String::as_str)
    }

    /// The `job_type` message attribute, if any.
    pub fn job_type(&self) -> Option<&str> {
        self.message_attributes
            .get(JOB_TYPE_ATTRIBUTE)
            .map(String::as_str)
    }
}

/// The SQS adapter; cheap to clone.
#[derive(Debug, Clone)]
pub struct Queue {
    client: Client,
}

/// Whether `queue_url` names a FIFO queue (its name ends in `.fifo`).
pub fn is_fifo(queue_url: &str) -> bool {
    queue_url.trim_end_matches('/').ends_with(".fifo")
}

/// The longest `DelaySeconds` SQS accepts on a message: 15 minutes.
pub const MAX_SEND_DELAY: std::time::Duration = std::time::Duration::from_secs(900);

/// The longest a received message can be kept from the queue: SQS's 12-hour visibility limit,
/// counted from its receipt, less a quarter hour kept for the invocation itself.
pub const MAX_VISIBILITY: std::time::Duration = std::time::Duration::from_secs(12 * 3600 - 900);

/// Longest FIFO message group id SQS accepts.
pub const MESSAGE_GROUP_ID_MAX: usize = 128;

/// The FIFO message group of a job: `{tenant}:{account}`, `{tenant}:groups` for a group
/// provisioning job ([`Job::ordering_key`]), or `{tenant}:tenant` for a job about the whole
/// tenant, so jobs for one account, or a tenant's group jobs, run in order and others in parallel.
///
/// SQS caps a group id at 128 characters and a UPN may have 113, so when `{tenant}:{account}`
/// would be longer the account part is `#` and the first 32 hex digits of the SHA-256 of the
/// normalised account key: still one group per (tenant, account), at most 69 characters. (No
/// account key reads like that: a UPN holds an `@`, an object id is a hyphenated GUID.)
pub fn message_group_id(job: &Job) -> String {
    let account = job.ordering_key().unwrap_or_else(|| "tenant".to_owned());
    let readable = format!("{}:{account}", job.tenant_id);
    if readable.len() <= MESSAGE_GROUP_ID_MAX {
        return readable;
    }
    let digest = Sha256::digest(account.as_bytes());
    let hex: String = digest[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("{}:#{hex}", job.tenant_id)
}

/// The FIFO deduplication id of a job: the SHA-256 (hex, 64 characters; SQS allows 128) of its
/// tenant and job id, and of `attempt` for a deliberate resend. SQS deduplicates per queue, not
/// per message group, so the job id alone would let one tenant's job suppress another tenant's
/// job that carries the same id.
pub fn deduplication_id(job: &Job, attempt: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    digest.update(job.tenant_id.as_str().as_bytes());
    digest.update(b"\n");
    digest.update(job.job_id.as_str().as_bytes());
    if let Some(attempt) = attempt {
        digest.update(b"\n");
        digest.update(attempt.as_bytes());
    }
    digest
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl Queue {
    /// An adapter over `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends `job` as JSON with its `job_type` attribute. On a FIFO queue the message group is
    /// [`message_group_id`] and the deduplication id is [`deduplication_id`] of (tenant, job id),
    /// so a job sent twice within SQS's 5-minute window is delivered once, while the same job id
    /// of another tenant is another message. Returns the SQS message id.
    pub async fn send_job(&self, queue_url: &str, job: &Job) -> Result<String, QueueError> {
        self.send_job_deduplicated(queue_url, job, &deduplication_id(job, None))
            .await
    }

    /// Sends `job` to a standard queue, delivered no sooner than `delay` (SQS's `DelaySeconds`:
    /// at most [`MAX_SEND_DELAY`], whole seconds). A fresh message: its receive count starts
    /// again, which is how a job is handed back for a later delivery without using up one of its
    /// deliveries. A FIFO queue takes no delay per message (SQS refuses it): use
    /// [`Queue::change_visibility`] there.
    pub async fn send_job_after(
        &self,
        queue_url: &str,
        job: &Job,
        delay: std::time::Duration,
    ) -> Result<String, QueueError> {
        let body = serde_json::to_string(job).map_err(QueueError::Encode)?;
        let job_type = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(job.job_type())
            .build()
            .map_err(QueueError::Build)?;
        let seconds = i32::try_from(delay.min(MAX_SEND_DELAY).as_secs()).unwrap_or(0);
        let output = self
            .client
            .send_message()
            .queue_url(queue_url)
            .message_body(body)
            .message_attributes(JOB_TYPE_ATTRIBUTE, job_type)
            .delay_seconds(seconds)
            .send()
            .await
            .map_err(|err| QueueError::aws("SendMessage", classify(err)))?;
        Ok(output.message_id.unwrap_or_default())
    }

    /// Sends `job` with another FIFO deduplication id than its first send (see
    /// [`deduplication_id`] with an `attempt`): a retry of a job sent less than 5 minutes ago
    /// would otherwise be dropped as a duplicate.
    pub async fn send_job_deduplicated(
        &self,
        queue_url: &str,
        job: &Job,
        deduplication_id: &str,
    ) -> Result<String, QueueError> {
        let body = serde_json::to_string(job).map_err(QueueError::Encode)?;
        let job_type = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(job.job_type())
            .build()
            .map_err(QueueError::Build)?;
        let mut request = self
            .client
            .send_message()
            .queue_url(queue_url)
            .message_body(body)
            .message_attributes(JOB_TYPE_ATTRIBUTE, job_type);
        if is_fifo(queue_url) {
            request = request
                .message_group_id(message_group_id(job))
                .message_deduplication_id(deduplication_id);
        }
        let output = request
            .send()
            .await
            .map_err(|err| QueueError::aws("SendMessage", classify(err)))?;
        Ok(output.message_id.unwrap_or_default())
    }

    /// Receives up to `max` messages (SQS caps it at 10), long-polling up to `wait_seconds`
    /// (at most 20) and hiding them for `visibility_timeout` seconds.
    pub async fn receive(
        &self,
        queue_url: &str,
        max: i32,
        wait_seconds: i32,
        visibility_timeout: i32,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let output = self
            .client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait_seconds.clamp(0, 20))
            .visibility_timeout(visibility_timeout.max(0))
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|err| QueueError::aws("ReceiveMessage", classify(err)))?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|message| ReceivedMessage {
                message_id: message.message_id.unwrap_or_default(),
                receipt_handle: message.receipt_handle.unwrap_or_default(),
                body: message.body.unwrap_or_default(),
                attributes: message
                    .attributes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(name, value)| (name.as_str().to_owned(), value))
                    .collect(),
                message_attributes: message
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(name, value)| value.string_value.map(|text| (name, text)))
                    .collect(),
            })
            .collect())
    }

    /// Deletes a processed message.
    pub async fn delete(&self, queue_url: &str, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|err| QueueError::aws("DeleteMessage", classify(err)))?;
        Ok(())
    }

    /// Makes a message visible again after `seconds` (0: at once, for a retry).
    pub async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        seconds: i32,
    ) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds.max(0))
            .send()
            .await
            .map_err(|err| QueueError::aws("ChangeMessageVisibility", classify(err)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use crate::model::{JobKind, LicenseRefreshJob};

    fn job(tenant: &str, job_id: &str) -> Job {
        let mut job = Job::new(
            TenantId::parse(tenant).unwrap(),
            JobKind::LicenseRefresh(LicenseRefreshJob::default()),
        );
        job.job_id = crate::ids::JobId::parse(job_id).unwrap();
        job
    }

    #[test]
    fn given_one_job_id_in_two_tenants_when_deduplicated_then_the_ids_differ_and_fit_sqs() {
        // GIVEN the same job id in two tenants
        let first = job("72f988bf-86f1-41af-91ab-2d7cd011db47", "j-1");
        let second = job("c3c188e3-a19f-48e9-ab97-29d6a4be2fa8", "j-1");

        // WHEN their deduplication ids are derived
        let (a, b) = (
            deduplication_id(&first, None),
            deduplication_id(&second, None),
        );

        // THEN they differ (neither suppresses the other), are stable, and fit SQS's 128 chars
        assert_ne!(a, b);
        assert_eq!(a, deduplication_id(&first, None));
        assert_ne!(a, deduplication_id(&first, Some("retry-1")));
        assert!(a.len() <= 128 && a.chars().all(|c| c.is_ascii_hexdigit()));
    }

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    fn offboard(account: &str) -> Job {
        Job::from_value(
            serde_json::json!({"job_id":"j-1","tenant_id":TENANT,"type":"offboard",
            "account":account}),
        )
        .expect("a valid offboard job")
    }

    #[test]
    fn given_the_longest_upn_when_its_group_id_is_made_then_it_fits_sqs_and_stays_per_account() {
        // GIVEN two accounts with 113-character UPNs (the longest Entra ID accepts) that differ
        // only in their last local character, and the same UPN in another case
        let domain = format!("{}.com", "b".repeat(44));
        let first = format!("{}a@{domain}", "a".repeat(63));
        let second = format!("{}c@{domain}", "a".repeat(63));
        assert_eq!(first.len(), 113);

        // WHEN their FIFO group ids are made
        let one = message_group_id(&offboard(&first));
        let other = message_group_id(&offboard(&second));
        let same = message_group_id(&offboard(&first.to_uppercase()));

        // THEN each fits SQS's 128 characters, differs per account and is stable per account
        assert!(
            one.len() <= MESSAGE_GROUP_ID_MAX,
            "{} characters",
            one.len()
        );
        assert!(other.len() <= MESSAGE_GROUP_ID_MAX);
        assert_ne!(one, other);
        assert_eq!(one, same);
        assert!(one.starts_with(&format!("{TENANT}:#")), "{one}");
    }

    fn group_job(fields: serde_json::Value) -> Job {
        let mut body = serde_json::json!({"job_id":"j-1","tenant_id":TENANT});
        body.as_object_mut()
            .expect("an object")
            .extend(fields.as_object().expect("an object").clone());
        Job::from_value(body).expect("a valid group job")
    }

    #[test]
    fn given_a_delete_of_an_old_group_and_a_create_of_its_nickname_when_grouped_then_they_run_in_order()
     {
        // GIVEN a delete of group 5f2c… (mail nickname "sales") and a create of a new "Sales"
        // group, submitted one after the other
        let group = "5f2c3b1e-7d4a-4e8b-9c0d-1a2b3c4d5e6f";
        let delete = group_job(serde_json::json!({"type":"delete_group","group":group}));
        let create = group_job(serde_json::json!({"type":"create_group",
            "group_type":"security","display_name":"Sales","mail_nickname":"Sales"}));
        let rename = group_job(serde_json::json!({"type":"update_group","group":group,
            "display_name":"Old sales"}));

        // WHEN their FIFO message groups are made
        let groups = [&delete, &create, &rename].map(message_group_id);

        // THEN all share the tenant's group ordering, so the create cannot run beside the
        // delete and take the dying group (found by nickname) for its own
        assert!(
            groups.iter().all(|id| *id == format!("{TENANT}:groups")),
            "{groups:?}"
        );
        // AND an account's jobs still run apart from them
        assert_ne!(message_group_id(&offboard("sales@contoso.com")), groups[0]);
    }

    #[test]
    fn given_a_short_upn_when_its_group_id_is_made_then_it_stays_readable() {
        assert_eq!(
            message_group_id(&offboard("Adele@Contoso.com")),
            format!("{TENANT}:adele@contoso.com")
        );
    }
}
