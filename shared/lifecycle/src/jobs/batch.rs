//! The batch loop every queue's worker runs: one message after another, the failures reported
//! for SQS to deliver again.

use std::time::SystemTime;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::BoxFuture;

use super::{JOB_START_RESERVE, Redelivery};
use crate::Invocation;
use crate::model::Job;
use crate::platform::Platform;

/// What a queue's worker does with one message of a batch.
pub trait MessageWorker: Send + Sync {
    /// Works `message` (within `deadline`, when the invocation's is known): `Ok` when it is done
    /// and SQS may delete it; `Err` when it is to be delivered again, its message already hidden
    /// for the wait the [`Redelivery`] names (see [`super::redeliver`]).
    fn work<'a>(
        &'a self,
        platform: &'a Platform,
        message: &'a SqsMessage,
        deadline: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), Redelivery>>;
}

/// Works every message of an SQS batch in turn with `worker` and reports the messages to
/// deliver again (SQS's partial batch response). Every queue's worker goes through it: the
/// lifecycle jobs ([`super::run_sqs_jobs`]), the sync and the dead-letter function.
///
/// On a FIFO queue the first failure also fails every later message of the batch, so jobs for
/// one account never overtake each other (as AWS requires for FIFO partial batch responses).
/// With the invocation known, a message is started only while [`JOB_START_RESERVE`] remains;
/// the others are reported (or, on a standard queue after a job of this invocation started,
/// sent again as new messages), so SQS delivers them to a fresh invocation instead of Lambda
/// timing the whole batch out.
pub async fn run_batch(
    platform: &Platform,
    event: SqsEvent,
    worker: &dyn MessageWorker,
    invocation: Option<&Invocation>,
) -> SqsBatchResponse {
    let mut failures = Vec::new();
    let mut blocked = false;
    let mut started = false;
    for message in &event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let fifo = message
            .event_source_arn
            .as_deref()
            .is_some_and(|arn| arn.ends_with(".fifo"));
        let out_of_time = invocation.is_some_and(|i| i.remaining() < JOB_START_RESERVE);
        if out_of_time && !blocked {
            // A standard queue has no order to keep: the job goes back as a new message, so a
            // job declined for the time the batch's others took never counts toward the
            // queue's maxReceiveCount. Only after a job of this invocation started, so a job
            // that no invocation has time for still ends in the dead-letter queue.
            if !fifo && started && send_again(platform, message).await {
                tracing::info!(message_id = %id, "too little time left in this invocation to start the job; sent again as a new message");
                continue;
            }
            tracing::info!(
                message_id = %id,
                "too little time left in this invocation to start the job; left for redelivery"
            );
        }
        let deadline = invocation.map(|i| i.deadline);
        if !blocked && !out_of_time {
            started = true;
        }
        if blocked || out_of_time || worker.work(platform, message, deadline).await.is_err() {
            blocked |= fifo;
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failures.push(failure);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

/// Sends the job of `message` again to its queue as a new message (receive count 0), for a job
/// of a standard queue declined for lack of time; whether it was sent (if not, the message is
/// left for redelivery as before).
async fn send_again(platform: &Platform, message: &SqsMessage) -> bool {
    let Ok(job) = Job::from_json(message.body.as_deref().unwrap_or_default()) else {
        return false;
    };
    let queue_url = crate::schedule::queue_url(&platform.config, &job);
    match platform.queue.send_job(queue_url, &job).await {
        Ok(_) => true,
        Err(error) => {
            tracing::warn!(%error, job_id = %job.job_id, "a declined job could not be sent again; left for redelivery");
            false
        }
    }
}
