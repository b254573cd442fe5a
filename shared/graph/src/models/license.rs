//! Licenses: `subscribedSku`, `assignedLicense`, `licenseDetails`, `licenseAssignmentState`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::null_as_empty;

/// A license a user holds (`microsoft.graph.assignedLicense`); also the `addLicenses` item of
/// assignLicense.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignedLicense {
    /// The SKU (GUID).
    pub sku_id: String,
    /// Service plans of the SKU turned off for this user.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub disabled_plans: Vec<String>,
}

impl AssignedLicense {
    /// The SKU with all its service plans enabled.
    pub fn sku(sku_id: impl Into<String>) -> Self {
        AssignedLicense {
            sku_id: sku_id.into(),
            disabled_plans: Vec::new(),
        }
    }
}

/// How a license came to a user (`microsoft.graph.licenseAssignmentState`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseAssignmentState {
    pub sku_id: Option<String>,
    /// The group the license is inherited from; `None` when assigned directly.
    pub assigned_by_group: Option<String>,
    /// `Active`, `ActiveWithError`, `Disabled`, `Error`.
    pub state: Option<String>,
    /// Why assignment failed, e.g. `CountViolation`, `MutuallyExclusiveViolation`.
    pub error: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub disabled_plans: Vec<String>,
    #[serde(default, deserialize_with = "super::date_time")]
    pub last_updated_date_time: Option<DateTime<Utc>>,
}

impl LicenseAssignmentState {
    /// Assigned to the user directly (removable with assignLicense), not through a group.
    pub fn is_direct(&self) -> bool {
        self.assigned_by_group.as_deref().is_none_or(str::is_empty)
    }
}

/// A license of a user with its service plans (`microsoft.graph.licenseDetails`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseDetails {
    pub id: String,
    pub sku_id: Option<String>,
    pub sku_part_number: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub service_plans: Vec<ServicePlanInfo>,
}

/// A service plan inside a SKU (`microsoft.graph.servicePlanInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePlanInfo {
    pub service_plan_id: Option<String>,
    pub service_plan_name: Option<String>,
    pub provisioning_status: Option<String>,
    pub applies_to: Option<String>,
}

/// A SKU the tenant subscribes to (`microsoft.graph.subscribedSku`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribedSku {
    /// `{tenantId}_{skuId}`.
    pub id: Option<String>,
    pub sku_id: String,
    /// E.g. `ENTERPRISEPACK` (Office 365 E3), `SPE_E5`.
    pub sku_part_number: Option<String>,
    /// `User` or `Company`.
    pub applies_to: Option<String>,
    /// `Enabled`, `Warning`, `Suspended`, `Deleted`, `LockedOut`.
    pub capability_status: Option<String>,
    /// Licenses assigned.
    pub consumed_units: Option<i64>,
    pub prepaid_units: Option<LicenseUnitsDetail>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub service_plans: Vec<ServicePlanInfo>,
}

impl SubscribedSku {
    /// What the list needs: `$select` of [`SubscribedSku`].
    pub const SELECT: &'static str =
        "id,skuId,skuPartNumber,appliesTo,capabilityStatus,consumedUnits,prepaidUnits,servicePlans";

    /// Licenses that can still be assigned: enabled minus consumed (never negative).
    pub fn available_units(&self) -> i64 {
        let enabled = self
            .prepaid_units
            .as_ref()
            .and_then(|p| p.enabled)
            .unwrap_or(0);
        (enabled - self.consumed_units.unwrap_or(0)).max(0)
    }
}

/// Purchased license counts by state (`microsoft.graph.licenseUnitsDetail`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseUnitsDetail {
    pub enabled: Option<i64>,
    pub suspended: Option<i64>,
    pub warning: Option<i64>,
    pub locked_out: Option<i64>,
}
