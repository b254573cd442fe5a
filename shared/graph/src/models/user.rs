//! `microsoft.graph.user`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::license::{AssignedLicense, LicenseAssignmentState};
use super::null_as_empty;

/// An account in the tenant (`microsoft.graph.user`), with the properties a sync keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Object id (GUID).
    pub id: String,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub user_principal_name: Option<String>,
    pub mail: Option<String>,
    pub mail_nickname: Option<String>,
    /// `false` when sign-in is blocked.
    pub account_enabled: Option<bool>,
    /// ISO 3166-1 alpha-2; licenses cannot be assigned without it.
    pub usage_location: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub assigned_licenses: Vec<AssignedLicense>,
    /// Whether the account is synced from on-premises Active Directory (then Graph cannot
    /// change most of its properties).
    pub on_premises_sync_enabled: Option<bool>,
    /// `Member` or `Guest`.
    pub user_type: Option<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    /// Present only when selected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office_location: Option<String>,
    /// Present only when selected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_id: Option<String>,
    /// Present only when selected: `SMTP:` (primary) and `smtp:` (alias) addresses.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub proxy_addresses: Vec<String>,
    #[serde(default, deserialize_with = "super::date_time")]
    pub created_date_time: Option<DateTime<Utc>>,
    /// Present only when selected, which needs Microsoft Entra ID P1/P2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_activity: Option<SignInActivity>,
    /// Present only when selected ([`User::SELECT_LICENSE_STATES`]): direct vs group-inherited licenses.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub license_assignment_states: Vec<LicenseAssignmentState>,
    /// Present only when selected: sessions and refresh tokens issued before this instant are
    /// invalid (`revokeSignInSessions` moves it to now), so an offboarding reads it back.
    #[serde(
        default,
        deserialize_with = "super::date_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub sign_in_sessions_valid_from_date_time: Option<DateTime<Utc>>,
    /// Present only on a deleted-items entry: when the account was soft-deleted.
    #[serde(
        default,
        deserialize_with = "super::date_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub deleted_date_time: Option<DateTime<Utc>>,
}

impl User {
    /// The properties of [`User`] a sync reads (without sign-in activity and assignment states).
    pub const SELECT: &'static str = "id,displayName,givenName,surname,userPrincipalName,mail,mailNickname,accountEnabled,usageLocation,assignedLicenses,onPremisesSyncEnabled,userType,jobTitle,department,officeLocation,employeeId,proxyAddresses,createdDateTime";
    /// [`User::SELECT`] plus `signInActivity` (needs Entra ID P1/P2 and AuditLog.Read.All; page size 500).
    pub const SELECT_SIGN_IN: &'static str = "id,displayName,userPrincipalName,accountEnabled,userType,assignedLicenses,createdDateTime,signInActivity";
    /// What a license refresh reads: who holds which SKU, directly or through a group.
    pub const SELECT_LICENSE_STATES: &'static str = "id,userPrincipalName,accountEnabled,usageLocation,assignedLicenses,licenseAssignmentStates";

    /// Whether the account is a guest (B2B) rather than a member.
    pub fn is_guest(&self) -> bool {
        self.user_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("Guest"))
    }
}

/// Last sign-in times of an account (`microsoft.graph.signInActivity`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInActivity {
    /// Last interactive sign-in attempt (successful or not).
    #[serde(default, deserialize_with = "super::date_time")]
    pub last_sign_in_date_time: Option<DateTime<Utc>>,
    /// Last non-interactive sign-in (a client using a refresh token).
    #[serde(default, deserialize_with = "super::date_time")]
    pub last_non_interactive_sign_in_date_time: Option<DateTime<Utc>>,
    /// Last successful sign-in of either kind.
    #[serde(default, deserialize_with = "super::date_time")]
    pub last_successful_sign_in_date_time: Option<DateTime<Utc>>,
}

impl SignInActivity {
    /// The most recent of the three times: when the account was last used.
    pub fn last_activity(&self) -> Option<DateTime<Utc>> {
        [
            self.last_sign_in_date_time,
            self.last_non_interactive_sign_in_date_time,
            self.last_successful_sign_in_date_time,
        ]
        .into_iter()
        .flatten()
        .max()
    }
}
