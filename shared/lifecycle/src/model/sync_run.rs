//! One entry of a tenant's sync log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{SyncRunId, TenantId};

/// Where a sync run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncRunStatus {
    Queued,
    Syncing,
    Ok,
    Failed,
    /// Finished, but some part (e.g. mailbox usage) could not be read.
    Partial,
}

impl SyncRunStatus {
    /// Whether the run has ended.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Ok | Self::Failed | Self::Partial)
    }
}

/// Added, changed and removed items of one kind.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(default)]
pub struct ObjectCounts {
    pub added: u64,
    pub changed: u64,
    pub removed: u64,
}

/// Counts per kind of item.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(default)]
pub struct SyncCounts {
    pub accounts: ObjectCounts,
    pub groups: ObjectCounts,
    pub memberships: ObjectCounts,
    pub licenses: ObjectCounts,
}

/// What the run cost in Graph.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(default)]
pub struct GraphCounters {
    pub requests: u64,
    pub retries: u64,
    /// 429 responses.
    pub throttled: u64,
}

/// A sync run (`T#{tenant}#RUNS` / `{started_at}#{run id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SyncRun {
    pub id: SyncRunId,
    pub tenant_id: TenantId,
    pub status: SyncRunStatus,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    /// Whether the run reads everything (first run, or after an unusable delta link).
    #[serde(default)]
    pub full: bool,
    #[serde(default)]
    pub counts: SyncCounts,
    #[serde(default)]
    pub graph: GraphCounters,
    /// The error a person can act on, when the run failed or is partial.
    #[serde(default)]
    pub error: Option<String>,
}
