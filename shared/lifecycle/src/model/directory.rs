//! What a sync copies from the tenant's directory: accounts, groups, memberships, SKUs.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, GroupId, IdError, SkuId, SkuPartNumber, Upn, UsageLocation};

/// A license assigned to an account: directly, or inherited from a group (group-based licensing),
/// in which case it can only be removed by removing the account from that group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AssignedLicense {
    pub sku_id: SkuId,
    #[serde(default)]
    pub assigned_by_group: Option<GroupId>,
}

/// An account's last sign-in. Graph returns it only to tenants with Entra ID P1; otherwise it is
/// recorded as not available rather than as an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MailboxUsage {
    pub storage_used_bytes: u64,
    #[serde(default)]
    pub item_count: Option<u64>,
    #[serde(default)]
    pub last_activity: Option<NaiveDate>,
    pub report_date: NaiveDate,
}

/// What the directory says about the person behind an account: job, department, office, employee
/// id, and the mail addresses matching ([`crate::matching`]) finds people by. Each is as Graph
/// answered it (`None` or empty: not set there).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct Profile {
    /// `jobTitle`.
    pub job_title: Option<String>,
    /// `department`.
    pub department: Option<String>,
    /// `officeLocation`.
    pub office_location: Option<String>,
    /// `employeeId`.
    pub employee_id: Option<String>,
    /// `mail`: the primary SMTP address.
    pub mail: Option<String>,
    /// `proxyAddresses`: `SMTP:` (primary) and `smtp:` (alias) addresses, as Graph lists them.
    pub proxy_addresses: Vec<String>,
}

/// An account (Graph `user`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// The last sign-in as the license refresh last read it (its only reader; the sync keeps it).
    /// An account the sync stored since shows "not read yet" until the next refresh.
    pub last_sign_in: LastSignIn,
    #[serde(default)]
    pub mailbox: Option<MailboxUsage>,
    /// Removed in the tenant (soft-deleted there, restorable for 30 days).
    #[serde(default)]
    pub deleted: bool,
    /// Job, department, office, employee id and mail addresses (a record stored before they were
    /// kept reads them as not set, until the next sync).
    #[serde(flatten, default)]
    pub profile: Profile,
}

/// The kind of a group, from `groupTypes`, `securityEnabled` and `mailEnabled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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

impl Group {
    /// The stored group of a Graph group: the one conversion the sync and the group
    /// provisioning jobs share. `stored` fills what a delta item omitted (a delta change may
    /// carry only the changed properties).
    pub fn from_graph(
        graph_group: &graph::Group,
        stored: Option<&Group>,
    ) -> Result<Group, IdError> {
        let id = GroupId::parse(&graph_group.id)?;
        let described = graph_group.mail_enabled.is_some()
            || graph_group.security_enabled.is_some()
            || !graph_group.group_types.is_empty();
        let (kind, dynamic, mail_enabled) = match stored {
            Some(stored) if !described => (stored.kind, stored.dynamic, stored.mail_enabled),
            _ => (
                GroupKind::of(graph_group),
                graph_group.is_dynamic(),
                graph_group.mail_enabled.unwrap_or(false),
            ),
        };
        Ok(Group {
            id,
            display_name: graph_group
                .display_name
                .clone()
                .or_else(|| stored.map(|s| s.display_name.clone()))
                .unwrap_or_default(),
            kind,
            dynamic,
            mail_enabled,
            deleted: false,
        })
    }
}

impl GroupKind {
    /// The kind of a Graph group. Security, and the combinations Graph does not document
    /// (neither mail nor security enabled), are recorded as security groups, the kind that
    /// takes members through Graph.
    pub fn of(graph_group: &graph::Group) -> GroupKind {
        match graph_group.kind() {
            graph::GroupKind::Microsoft365 => GroupKind::Microsoft365,
            graph::GroupKind::MailEnabledSecurity => GroupKind::MailEnabledSecurity,
            graph::GroupKind::Distribution => GroupKind::Distribution,
            _ => GroupKind::Security,
        }
    }
}

impl Sku {
    /// The stored SKU of a subscribed SKU as Graph lists it: the one conversion that the sync and
    /// the license refresh share, so the stored value never depends on which of them wrote last.
    ///
    /// What Graph left out is recorded as unknown, never invented: a missing `capabilityStatus`
    /// is `Unknown` (not `Enabled`), a missing or unusable `skuPartNumber` is named by the SKU id
    /// (its seats still count), and negative or missing unit counts are 0. Only an id that is not
    /// a GUID is refused, because every other record refers to the SKU by it.
    pub fn from_graph(subscribed: &graph::SubscribedSku) -> Result<Sku, IdError> {
        let sku_id = SkuId::parse(&subscribed.sku_id)?;
        let part_number = subscribed
            .sku_part_number
            .as_deref()
            .and_then(|part| SkuPartNumber::parse(part).ok())
            .map_or_else(|| SkuPartNumber::parse(sku_id.as_str()), Ok)?;
        let units = subscribed.prepaid_units.clone().unwrap_or_default();
        let seats = |n: Option<i64>| u32::try_from(n.unwrap_or(0).max(0)).unwrap_or(u32::MAX);
        Ok(Sku {
            part_number,
            enabled: seats(units.enabled),
            suspended: seats(units.suspended),
            warning: seats(units.warning),
            consumed: seats(subscribed.consumed_units),
            capability_status: subscribed
                .capability_status
                .clone()
                .unwrap_or_else(|| "Unknown".to_owned()),
            sku_id,
        })
    }

    /// Seats that can still be assigned: enabled minus consumed (never negative; a tenant can be
    /// over-assigned after a reduction).
    pub fn unused(&self) -> u32 {
        self.enabled.saturating_sub(self.consumed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscribed(json: serde_json::Value) -> graph::SubscribedSku {
        serde_json::from_value(json).unwrap_or_default()
    }

    #[test]
    fn given_a_subscribed_sku_when_stored_then_seats_are_clamped_and_named() {
        // GIVEN a SKU with more seats consumed than enabled (a reduced subscription)
        let sku = subscribed(serde_json::json!({
            "skuId": "06EBC4EE-1BB5-47DD-8120-11324BC54E06", "skuPartNumber": "SPE_E5",
            "capabilityStatus": "Enabled", "consumedUnits": 12,
            "prepaidUnits": {"enabled": 10, "suspended": 2, "warning": 1, "lockedOut": 0}
        }));
        // WHEN it is converted
        let stored = Sku::from_graph(&sku).expect("a SKU");
        // THEN the id is canonical, the name kept and no seat count is negative
        assert_eq!(
            stored.sku_id.as_str(),
            "06ebc4ee-1bb5-47dd-8120-11324bc54e06"
        );
        assert_eq!(stored.part_number.as_str(), "SPE_E5");
        assert_eq!(
            (stored.enabled, stored.consumed, stored.unused()),
            (10, 12, 0)
        );
        assert_eq!((stored.suspended, stored.warning), (2, 1));
        assert_eq!(stored.capability_status, "Enabled");
    }

    #[test]
    fn given_no_capability_status_when_stored_then_it_is_unknown_not_enabled() {
        // GIVEN a SKU whose capabilityStatus Graph left out
        let sku = subscribed(serde_json::json!({
            "skuId": "06ebc4ee-1bb5-47dd-8120-11324bc54e06", "skuPartNumber": "SPE_E5"
        }));
        // WHEN it is converted, THEN the status is recorded as unknown, never invented
        let stored = Sku::from_graph(&sku).expect("a SKU");
        assert_eq!(stored.capability_status, "Unknown");
    }

    #[test]
    fn given_no_part_number_when_stored_then_the_sku_is_named_by_its_id_and_its_seats_count() {
        // GIVEN a SKU without skuPartNumber but with seats
        let sku = subscribed(serde_json::json!({
            "skuId": "06ebc4ee-1bb5-47dd-8120-11324bc54e06", "capabilityStatus": "Enabled",
            "consumedUnits": 3, "prepaidUnits": {"enabled": 5}
        }));
        // WHEN it is converted
        let stored = Sku::from_graph(&sku).expect("a SKU");
        // THEN it is kept, named by its id, with its seats
        assert_eq!(
            stored.part_number.as_str(),
            "06ebc4ee-1bb5-47dd-8120-11324bc54e06"
        );
        assert_eq!((stored.enabled, stored.consumed), (5, 3));
    }

    #[test]
    fn given_a_sku_id_that_is_not_a_guid_when_stored_then_it_is_refused_with_the_reason() {
        // GIVEN a SKU whose id every other record could not refer to
        let sku = subscribed(serde_json::json!({"skuId": "not-a-guid", "skuPartNumber": "X"}));
        // WHEN it is converted, THEN it is refused and the reason names the SKU id
        let error = Sku::from_graph(&sku).expect_err("refused").to_string();
        assert!(error.to_lowercase().contains("sku"), "{error}");
    }
}
