//! What a sync copies from the tenant's directory: accounts, groups, memberships, SKUs.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, GroupId, SkuId, SkuPartNumber, Upn, UsageLocation};

/// A license assigned to an account: directly, or inherited from a group (group-based licensing),
/// in which case it can only be removed by removing the account from that group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignedLicense {
    pub sku_id: SkuId,
    #[serde(default)]
    pub assigned_by_group: Option<GroupId>,
}

/// An account's last sign-in. Graph returns it only to tenants with Entra ID P1; otherwise it is
/// recorded as not available rather than as an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LastSignIn {
    /// Signed in at this time (interactive or not, whichever is later).
    At { at: DateTime<Utc> },
    /// Never signed in.
    Never,
    /// Not available, with the reason a person can act on, e.g. "needs Entra ID P1".
    NotAvailable { reason: String },
}

/// Mailbox usage from the reports API, when the permission is granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxUsage {
    pub storage_used_bytes: u64,
    #[serde(default)]
    pub item_count: Option<u64>,
    #[serde(default)]
    pub last_activity: Option<NaiveDate>,
    pub report_date: NaiveDate,
}

/// An account (Graph `user`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub upn: Upn,
    pub display_name: String,
    /// `accountEnabled`: whether the account can sign in.
    pub enabled: bool,
    #[serde(default)]
    pub usage_location: Option<UsageLocation>,
    /// `userType`: `Member` or `Guest`.
    pub user_type: String,
    /// `onPremisesSyncEnabled`: mastered in an on-premises directory, so most fields are read-only.
    #[serde(default)]
    pub on_premises_synced: bool,
    #[serde(default)]
    pub licenses: Vec<AssignedLicense>,
    pub last_sign_in: LastSignIn,
    #[serde(default)]
    pub mailbox: Option<MailboxUsage>,
    /// Removed in the tenant (soft-deleted there, restorable for 30 days).
    #[serde(default)]
    pub deleted: bool,
}

/// The kind of a group, from `groupTypes`, `securityEnabled` and `mailEnabled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    /// Microsoft 365 group (`groupTypes` contains `Unified`).
    Microsoft365,
    /// Security group.
    Security,
    /// Mail-enabled security group.
    MailEnabledSecurity,
    /// Distribution list (mail-enabled, not security-enabled; not writable through Graph).
    Distribution,
}

/// A group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: GroupId,
    pub display_name: String,
    pub kind: GroupKind,
    /// Dynamic membership (`groupTypes` contains `DynamicMembership`): members cannot be added or
    /// removed by hand.
    pub dynamic: bool,
    pub mail_enabled: bool,
    #[serde(default)]
    pub deleted: bool,
}

/// An account's direct membership of a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Membership {
    pub group_id: GroupId,
    pub account_id: AccountId,
}

/// A subscribed SKU: the tenant's seats of one license and how they are used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sku {
    pub sku_id: SkuId,
    pub part_number: SkuPartNumber,
    /// `prepaidUnits.enabled`: seats paid for and usable.
    pub enabled: u32,
    /// `prepaidUnits.suspended`: seats of a lapsed subscription (no new assignments).
    pub suspended: u32,
    /// `prepaidUnits.warning`: seats in the grace period before suspension.
    pub warning: u32,
    /// `consumedUnits`: seats assigned.
    pub consumed: u32,
    /// `capabilityStatus`: `Enabled`, `Warning`, `Suspended`, `Deleted` or `LockedOut`.
    pub capability_status: String,
}

impl Sku {
    /// Seats that can still be assigned: enabled minus consumed (never negative; a tenant can be
    /// over-assigned after a reduction).
    pub fn unused(&self) -> u32 {
        self.enabled.saturating_sub(self.consumed)
    }
}
