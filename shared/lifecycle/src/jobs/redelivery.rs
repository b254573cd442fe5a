//! How a job's message leaves a delivery that did not end the job: reported as a batch item
//! failure for SQS to deliver again ([`Redelivery`], [`redeliver`], [`super::run_batch`]), kept from the queue for a
//! wait ([`hide`]), or handed back as a fresh message where the queue allows ([`hand_back`]).

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;

use crate::model::Job;
use crate::platform::Platform;

/// Why a message is reported as a batch item failure (SQS delivers it again, a delivery used),
/// and when: no sooner than `after` ([`redeliver`] hides it that long), or when the caller's
/// default says (the queue's visibility timeout for the job runner, the retry delay for the
/// sync worker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redelivery {
    pub reason: String,
    pub after: Option<Duration>,
}

impl Redelivery {
    /// Delivered again when the caller's default says.
    pub fn soon(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            after: None,
        }
    }

    /// Delivered again no sooner than `after` (at most [`crate::queue::MAX_VISIBILITY`]).
    pub fn after(reason: impl Into<String>, after: Duration) -> Self {
        Self {
            reason: reason.into(),
            after: Some(after.min(crate::queue::MAX_VISIBILITY)),
        }
    }
}

/// Readies `message` for its redelivery: hidden for the redelivery's wait (or `default`, when it
/// names none and a default is given; otherwise the queue's visibility timeout applies). The
/// batch loop ([`super::run_batch`]) then reports it as a batch item failure.
pub async fn redeliver(
    platform: &Platform,
    queue_url: &str,
    message: &SqsMessage,
    redelivery: &Redelivery,
    default: Option<Duration>,
) {
    let message_id = message.message_id.as_deref().unwrap_or_default();
    let after = redelivery.after.or(default);
    tracing::warn!(message_id = %message_id, reason = %redelivery.reason, ?after, "the job will be delivered again");
    if let Some(after) = after {
        hide(platform, queue_url, message, after).await;
    }
}

/// How many times SQS has delivered `message` (its `ApproximateReceiveCount`; 1 when absent).
pub fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|count| count.parse().ok())
        .unwrap_or(1)
}

/// How a handed-back job's message left its delivery ([`hand_back`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandedBack {
    /// Sent again as a fresh message delivered after the wait: this one is done (delete it).
    /// Its receive count starts again, so the wait used up no delivery.
    Resent,
    /// Not sent again (a FIFO queue, or the send failed): report this message as a batch item
    /// failure, for a redelivery that SQS counts (after the queue's visibility timeout, or
    /// sooner or later with [`hide`]).
    Left,
}

/// Hands `job` (from `queue_url`) back for a delivery no sooner than `after`, without using up
/// one of its deliveries where SQS allows it:
/// - on a standard queue it is sent again as a fresh message delayed by `after` (SQS delays a
///   message at most [`crate::queue::MAX_SEND_DELAY`], 15 min: a job that must wait longer
///   runs then and is handed back again, one cheap invocation per 15 min), and the message
///   delivered is done. Should the invocation die before SQS deletes that one, it comes back
///   too: a second copy of the job, which every job tolerates (SQS delivers at least once).
/// - on a FIFO queue SQS refuses a delay per message, and a fresh message would go behind the
///   later jobs of its group (a later update of the account would overtake it), so the message
///   is left for redelivery: there a long wait still uses up a delivery.
pub async fn hand_back(
    platform: &Platform,
    queue_url: &str,
    job: &Job,
    after: Duration,
) -> HandedBack {
    if crate::queue::is_fifo(queue_url) {
        return HandedBack::Left;
    }
    match platform.queue.send_job_after(queue_url, job, after).await {
        Ok(_) => HandedBack::Resent,
        Err(error) => {
            tracing::warn!(%error, "the handed-back job could not be sent again; its message is left for redelivery (a delivery used)");
            HandedBack::Left
        }
    }
}

/// Keeps `message` from the queue for `after` (at most [`crate::queue::MAX_VISIBILITY`]) before
/// it is reported as a batch item failure; when that fails the queue's visibility timeout applies.
pub async fn hide(platform: &Platform, queue_url: &str, message: &SqsMessage, after: Duration) {
    let Some(receipt) = message.receipt_handle.as_deref() else {
        return;
    };
    let seconds = i32::try_from(after.min(crate::queue::MAX_VISIBILITY).as_secs()).unwrap_or(0);
    if let Err(error) = platform
        .queue
        .change_visibility(queue_url, receipt, seconds)
        .await
    {
        tracing::warn!(%error, "the wait before the next delivery could not be set; the queue's visibility timeout applies");
    }
}
