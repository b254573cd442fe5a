//! What an offboarding removes from an account, taken before its first write
//! (`T#{tenant}#SNAP` / `{account id}`), so one restore call can give it back.
//!
//! Everything in it is what Graph answered at the time, never what a caller asked for. It lives as
//! long as Entra ID keeps a deleted account restorable (30 days) and goes with the tenant.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, JobId, TenantId};

/// How long a snapshot is kept: Entra ID's restore window for a soft-deleted account.
pub const SNAPSHOT_RETENTION: Duration = Duration::days(30);

/// An account as it stood before an offboarding changed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSnapshot {
    pub tenant_id: TenantId,
    pub account_id: AccountId,
    pub user_principal_name: String,
    /// The offboard job that took it.
    pub job_id: JobId,
    pub taken_at: DateTime<Utc>,
    pub account_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_location: Option<String>,
    /// The manager's object id, when the account had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager_id: Option<String>,
    /// Direct group memberships, removable or not.
    #[serde(default)]
    pub groups: Vec<SnapshotGroup>,
    /// Licenses assigned directly, with the service plans turned off.
    #[serde(default)]
    pub direct_licenses: Vec<SnapshotLicense>,
    /// Licenses inherited from a group: they come back with the group.
    #[serde(default)]
    pub inherited_licenses: Vec<InheritedLicense>,
    /// The mailbox's automatic reply as Graph showed it, kept when the offboarding sets its own
    /// (`automatic_reply`), so a restore can put the person's own reply back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic_reply: Option<SnapshotAutomaticReply>,
}

impl AccountSnapshot {
    /// When the snapshot may be removed.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.taken_at + SNAPSHOT_RETENTION
    }

    /// Whether it is past Entra ID's restore window at `now` (DynamoDB's TTL deletes late).
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at()
    }
}

/// One direct group membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SnapshotGroup {
    pub group_id: String,
    pub display_name: String,
    /// Whether Graph lets the platform remove (and add) the member.
    pub removable: bool,
    /// Why not, when not removable (dynamic, mail-enabled, synced from on-premises).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_removable_reason: Option<String>,
}

/// One directly assigned license.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SnapshotLicense {
    pub sku_id: String,
    #[serde(default)]
    pub disabled_plans: Vec<String>,
}

/// One license inherited from a group (group-based licensing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InheritedLicense {
    pub sku_id: String,
    pub group_id: String,
}

/// A mailbox's `automaticRepliesSetting` as Graph answered it (the messages as Graph holds them,
/// HTML included), so a restore can send it back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SnapshotAutomaticReply {
    /// `disabled`, `alwaysEnabled` or `scheduled`.
    pub status: String,
    /// Who outside the organization gets the external message: `none`, `contactsOnly` or `all`.
    pub external_audience: String,
    #[serde(default)]
    pub internal_reply_message: String,
    #[serde(default)]
    pub external_reply_message: String,
    /// When a `scheduled` reply starts, in the time zone named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_start: Option<ZonedDateTime>,
    /// When a `scheduled` reply ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_end: Option<ZonedDateTime>,
}

impl SnapshotAutomaticReply {
    /// One line for a person: status, audience, schedule and the messages' lengths (the texts
    /// stay in the snapshot).
    pub fn summary(&self) -> String {
        let schedule = match (&self.scheduled_start, &self.scheduled_end) {
            (Some(start), Some(end)) if self.status == "scheduled" => format!(
                " from {} to {} ({})",
                start.date_time, end.date_time, start.time_zone
            ),
            _ => String::new(),
        };
        format!(
            "status={}{schedule}, externalAudience={}, internal message {} characters, external message {} characters",
            self.status,
            self.external_audience,
            self.internal_reply_message.chars().count(),
            self.external_reply_message.chars().count()
        )
    }
}

/// Graph's `dateTimeTimeZone`: a local date and time and the time zone it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ZonedDateTime {
    /// e.g. `2026-12-24T00:00:00.0000000`.
    pub date_time: String,
    /// e.g. `UTC` or `W. Europe Standard Time`.
    pub time_zone: String,
}
