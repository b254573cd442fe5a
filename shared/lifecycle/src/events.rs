//! Completion events on EventBridge, so other services learn when a lifecycle job ends without
//! polling the API.
//!
//! Every finished job (succeeded, completed with errors, failed — including jobs refused before
//! they ran) puts one event on the bus named by `EVENT_BUS_NAME`:
//!
//! ```json
//! {"source": "m365-lifecycle", "detail-type": "Lifecycle Job Finished",
//!  "detail": {"job_id": "j-2", "tenant_id": "…", "type": "onboard", "status": "succeeded",
//!             "dry_run": false, "error": null, "completed_at": "…",
//!             "steps": [{"name": "create_account", "outcome": "done", "graph_request_id": "…"}]}}
//! ```
//!
//! An offboard job that is not a dry run also carries `"account_may_still_have_access"`: `false`
//! only when its access gate held (sign-in blocked and sessions revoked, each done or not
//! needed), so a subscriber (the leaver's manager, a ticket) learns at once when it did not.
//!
//! Delivery is at least once (a job whose record could not be written after the event was put
//! puts it again on redelivery): subscribers treat `job_id` as the key.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::json;
use thiserror::Error;

use crate::model::JobRecord;
use crate::sdk_error::{BoxError, classify};

/// The `source` of every event this bundle puts.
pub const SOURCE: &str = "m365-lifecycle";
/// The `detail-type` of a finished job.
pub const JOB_FINISHED: &str = "Lifecycle Job Finished";

/// Why an event could not be put.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EventsError {
    #[error("EventBridge PutEvents on bus {bus} failed: {message}")]
    Aws {
        bus: String,
        message: String,
        retryable: bool,
        #[source]
        source: BoxError,
    },
    /// EventBridge took the request but refused the entry.
    #[error("EventBridge refused the event on bus {bus}: {code}: {message}")]
    Refused {
        bus: String,
        code: String,
        message: String,
    },
}

impl EventsError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Aws { retryable, .. } => *retryable,
            // PutEvents reports throttling and internal failures per entry.
            Self::Refused { code, .. } => {
                matches!(code.as_str(), "ThrottlingException" | "InternalFailure")
            }
        }
    }
}

/// The EventBridge adapter; cheap to clone.
#[derive(Debug, Clone)]
pub struct Events {
    client: Client,
    bus: String,
}

impl Events {
    /// Events on `bus` (`EVENT_BUS_NAME`; `default` is the account's default bus).
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }

    /// Puts the "job finished" event of `record`.
    pub async fn job_finished(&self, record: &JobRecord) -> Result<(), EventsError> {
        let steps: Vec<_> = record
            .steps
            .iter()
            .map(|step| {
                json!({"name": step.name, "outcome": step.outcome,
                       "graph_request_id": step.graph_request_id})
            })
            .collect();
        let mut detail = json!({
            "job_id": record.job_id, "tenant_id": record.tenant_id, "type": record.job_type,
            "status": record.status, "dry_run": record.dry_run, "error": record.error,
            "completed_at": record.completed_at, "steps": steps,
        });
        if let (Some(open), Some(fields)) = (may_still_have_access(record), detail.as_object_mut())
        {
            fields.insert("account_may_still_have_access".into(), open.into());
        }
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(JOB_FINISHED)
            .detail(detail.to_string())
            .build();
        let output = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|err| {
                let failure = classify(err);
                EventsError::Aws {
                    bus: self.bus.clone(),
                    message: failure.message,
                    retryable: failure.retryable,
                    source: failure.source,
                }
            })?;
        match output.entries().first() {
            Some(entry) if entry.error_code().is_some() => Err(EventsError::Refused {
                bus: self.bus.clone(),
                code: entry.error_code().unwrap_or_default().to_owned(),
                message: entry.error_message().unwrap_or_default().to_owned(),
            }),
            _ => {
                // Counted once the event is out: a redelivery that finishes again after a
                // failed put is then not counted twice.
                crate::metrics::job_finished(record).emit();
                Ok(())
            }
        }
    }
}

/// The offboarding steps that cut access (the offboarding function's step names).
const ACCESS_GATE: [&str; 2] = ["block_sign_in", "revoke_sessions"];

/// For an offboard job that is not a dry run: whether the account may still have access, i.e.
/// not both gate steps were done or skipped (not needed). `None` for other jobs.
fn may_still_have_access(record: &JobRecord) -> Option<bool> {
    if record.job_type != "offboard" || record.dry_run {
        return None;
    }
    let held = ACCESS_GATE.iter().all(|name| {
        record.steps.iter().any(|step| {
            step.name == *name
                && matches!(
                    step.outcome,
                    crate::model::StepOutcome::Done | crate::model::StepOutcome::Skipped
                )
        })
    });
    Some(!held)
}
