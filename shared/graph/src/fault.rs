//! A seam for fault-injection suites: a hook that sees every Graph request just before it is
//! sent and just after Graph answered it, and may cut the call off at either moment, as a
//! process crash would.
//!
//! Production never sets one ([`GraphConfig::faults`](crate::GraphConfig) is `None`, checked
//! once per request); the crash-matrix tests set it to enumerate the failure points of a job
//! (every write request is one) and to "kill" the handler before or after the N-th of them.

use std::sync::Arc;

/// One Graph request as the hook sees it.
#[derive(Debug, Clone, Copy)]
pub struct RequestPoint<'a> {
    /// `GET`, `POST`, `PATCH`, `DELETE`...
    pub method: &'a str,
    /// The path under the Graph base (`/users/{id}/assignLicense`), without the query.
    pub path: &'a str,
    /// Whether the request may change the tenant (every method but `GET`).
    pub write: bool,
}

/// What happens to a request the hook let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAnswer {
    /// The answer reaches the caller.
    Deliver,
    /// Graph did the request, but the caller never learns it: the call fails as
    /// [`GraphError::Interrupted`](crate::GraphError::Interrupted) once answered.
    Interrupt,
}

/// Why the hook cut a call off (shown in [`GraphError::Interrupted`](crate::GraphError)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

/// Sees every request of a client; tests only.
pub trait FaultHook: Send + Sync + std::fmt::Debug {
    /// Called before the request is sent: `Err` fails the call unsent, else says whether the
    /// answer is delivered.
    fn before(&self, request: &RequestPoint<'_>) -> Result<AfterAnswer, Interrupted>;

    /// Called once Graph answered a request that [`Self::before`] marked
    /// [`AfterAnswer::Interrupt`]: the reason the caller sees.
    fn interrupt_after(&self, request: &RequestPoint<'_>) -> Interrupted;
}

/// The hook a client holds, if any.
pub type SharedFaultHook = Arc<dyn FaultHook>;
