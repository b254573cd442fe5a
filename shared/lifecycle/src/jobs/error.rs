//! Why a job could not go on ([`JobError`]), and how the errors of the parts it uses map onto
//! it: retryable ones are transient, the rest permanent; Graph's asking to reconnect is its own.

use std::time::Duration;

use graph::GraphError;
use thiserror::Error;

use super::LONG_RETRY_AFTER;
use crate::events::EventsError;
use crate::platform::AccessError;
use crate::store::StoreError;
use crate::{QueueError, VaultError};

/// The error behind a [`JobError`], kept whole for the log's source chain (cheap to clone).
pub type Cause = std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why a job (or one of its steps) could not go on. `reason` is what the job record and its
/// completion event say; `source`, when there is one, is the error it came from.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum JobError {
    /// Retrying will not help (bad input, Graph 400/403/404): the job is marked failed with this
    /// reason and the message is deleted.
    #[error("{reason}")]
    Permanent {
        reason: String,
        #[source]
        source: Option<Cause>,
    },
    /// Consent was revoked or the secret expired: the tenant is marked "needs reconnection" and the
    /// job failed with this reason.
    #[error("{reason}")]
    Reconnect {
        reason: String,
        #[source]
        source: Option<Cause>,
    },
    /// Throttling, timeouts, 5xx: the job is delivered again and resumes at its first unfinished
    /// step. `retry_after` is Graph's `Retry-After` when it said one: a wait of at least
    /// [`LONG_RETRY_AFTER`] (longer than the invocation could wait out) hands the job back for a
    /// delivery after it, as [`JobError::Later`] does; otherwise the message is left for SQS to
    /// redeliver, a delivery used.
    #[error("{reason}")]
    Transient {
        reason: String,
        retry_after: Option<Duration>,
        #[source]
        source: Option<Cause>,
    },
    /// Not a failure: the worker stopped part-way on purpose (a resumable job's next part, a wait
    /// Graph asked for) and hands its job back, to be delivered again no sooner than `after`
    /// (see [`hand_back`](super::hand_back)). It does not count towards [`MAX_DELIVERIES`](super::MAX_DELIVERIES) on a standard queue;
    /// `reason` stays on the job record until the job goes on.
    #[error("{reason}")]
    Later { reason: String, after: Duration },
    /// Not a failure of the job: another delivery of it (SQS delivers at least once, and a
    /// duplicate can run while this one does) wrote its record since this delivery read it, or
    /// the API cancelled it. That writer owns the job now; this delivery stops where it is and
    /// writes nothing more (see [`JobProgress`](super::JobProgress)).
    #[error("{reason}")]
    Overtaken { reason: String },
}

impl JobError {
    /// A permanent failure with a reason a person can act on.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self::Permanent {
            reason: reason.into(),
            source: None,
        }
    }

    /// A transient failure: the message is delivered again (a delivery used).
    pub fn transient(reason: impl Into<String>) -> Self {
        Self::Transient {
            reason: reason.into(),
            retry_after: None,
            source: None,
        }
    }

    /// The job handed back ([`JobError::Later`]), to be delivered again no sooner than `after`,
    /// without using up a delivery.
    pub fn later(reason: impl Into<String>, after: Duration) -> Self {
        Self::Later {
            reason: reason.into(),
            after,
        }
    }

    /// What the job record says of this failure.
    pub fn reason(&self) -> &str {
        match self {
            Self::Permanent { reason, .. }
            | Self::Reconnect { reason, .. }
            | Self::Transient { reason, .. }
            | Self::Later { reason, .. }
            | Self::Overtaken { reason } => reason,
        }
    }

    /// When the job is handed back rather than left for redelivery: the wait before its next
    /// delivery ([`JobError::Later`], or a transient failure whose `Retry-After` is at least
    /// [`LONG_RETRY_AFTER`]).
    pub fn hand_back_after(&self) -> Option<Duration> {
        match self {
            Self::Later { after, .. } => Some(*after),
            Self::Transient {
                retry_after: Some(wait),
                ..
            } if *wait >= LONG_RETRY_AFTER => Some(*wait),
            _ => None,
        }
    }
}

impl From<GraphError> for JobError {
    fn from(error: GraphError) -> Self {
        let reason = error.to_string();
        let retry_after = error.retry_after();
        let retryable = error.is_retryable();
        let reconnect = matches!(&error, GraphError::Token(token) if !token.is_retryable());
        let source: Option<Cause> = Some(std::sync::Arc::new(error));
        if reconnect {
            Self::Reconnect { reason, source }
        } else if retryable {
            Self::Transient {
                reason,
                retry_after,
                source,
            }
        } else {
            Self::Permanent { reason, source }
        }
    }
}

macro_rules! classify_by_retryable {
    ($($error:ty),*) => {$(
        impl From<$error> for JobError {
            fn from(error: $error) -> Self {
                let reason = error.to_string();
                let retryable = error.is_retryable();
                let source: Option<Cause> = Some(std::sync::Arc::new(error));
                if retryable {
                    Self::Transient { reason, retry_after: None, source }
                } else {
                    Self::Permanent { reason, source }
                }
            }
        }
    )*};
}
classify_by_retryable!(StoreError, VaultError, QueueError, AccessError, EventsError);
