//! Tenant-level resources: domains, organization, GDAP customers, deleted items, member references.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::null_as_empty;

/// A member of a group, or any directory object reference (`{"@odata.type","id"}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct DirectoryObjectRef {
    /// E.g. `#microsoft.graph.user`, `#microsoft.graph.group` (the common types are shared
    /// constants rather than one allocation per member: a tenant has hundreds of thousands).
    #[serde(
        rename = "@odata.type",
        default,
        deserialize_with = "super::odata_type",
        skip_serializing_if = "Option::is_none"
    )]
    pub odata_type: Option<Cow<'static, str>>,
    pub id: String,
}

impl DirectoryObjectRef {
    /// Whether the object is a user (an account), not a nested group, device or service principal.
    pub fn is_user(&self) -> bool {
        self.odata_type.as_deref() == Some("#microsoft.graph.user")
    }

    /// Whether the object is a group (nested membership).
    pub fn is_group(&self) -> bool {
        self.odata_type.as_deref() == Some("#microsoft.graph.group")
    }
}

/// A directory object of an account's relation lists (manager, direct reports, owned objects,
/// directory roles, a group's owners): its type, id and the names Graph was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryObject {
    /// E.g. `#microsoft.graph.user`, `#microsoft.graph.group`, `#microsoft.graph.directoryRole`.
    #[serde(
        rename = "@odata.type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub odata_type: Option<String>,
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Only on users, and only where selected ([`DirectoryObject::SELECT_PERSON`]).
    #[serde(default)]
    pub user_principal_name: Option<String>,
}

impl DirectoryObject {
    /// The `$select` for a person (manager, direct report).
    pub const SELECT_PERSON: &'static str = "id,displayName,userPrincipalName";
    /// The `$select` for any named object (owned objects, directory roles).
    pub const SELECT_NAMED: &'static str = "id,displayName";
    /// The `$select` for an object's id alone (a group's owners).
    pub const SELECT_ID: &'static str = "id";

    /// Whether the object is a group.
    pub fn is_group(&self) -> bool {
        self.odata_type.as_deref() == Some("#microsoft.graph.group")
    }
}

/// A domain of the tenant (`microsoft.graph.domain`); `id` is the domain name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Domain {
    /// The domain name, e.g. `contoso.com`.
    pub id: String,
    /// Only verified domains can carry user principal names.
    pub is_verified: Option<bool>,
    pub is_default: Option<bool>,
    /// The `*.onmicrosoft.com` domain created with the tenant.
    pub is_initial: Option<bool>,
    /// E.g. `Email`, `OfficeCommunicationsOnline`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub supported_services: Vec<String>,
}

impl Domain {
    /// `$select` of [`Domain`].
    pub const SELECT: &'static str = "id,isVerified,isDefault,isInitial,supportedServices";
}

/// The tenant itself (`microsoft.graph.organization`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    /// The tenant id.
    pub id: String,
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub verified_domains: Vec<VerifiedDomain>,
}

impl Organization {
    /// `$select` of [`Organization`].
    pub const SELECT: &'static str = "id,displayName,verifiedDomains";
}

/// A verified domain as listed on the organization (`microsoft.graph.verifiedDomain`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedDomain {
    pub name: Option<String>,
    pub is_default: Option<bool>,
    pub is_initial: Option<bool>,
    /// `Managed` or `Federated`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub capabilities: Option<String>,
}

/// A customer tenant of a partner, through GDAP (`microsoft.graph.delegatedAdminCustomer`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegatedAdminCustomer {
    pub id: String,
    /// The customer's tenant id.
    pub tenant_id: String,
    pub display_name: Option<String>,
}

impl DelegatedAdminCustomer {
    /// `$select` of [`DelegatedAdminCustomer`].
    pub const SELECT: &'static str = "id,tenantId,displayName";
}

/// A soft-deleted account, restorable for 30 days (`/directory/deletedItems/microsoft.graph.user`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedUser {
    pub id: String,
    pub display_name: Option<String>,
    pub user_principal_name: Option<String>,
    pub mail: Option<String>,
    /// `accountEnabled` as it stands in deleted items (a restore brings it back as it was).
    #[serde(default)]
    pub account_enabled: Option<bool>,
    /// When it was deleted; it is purged 30 days later.
    #[serde(default, deserialize_with = "super::date_time")]
    pub deleted_date_time: Option<DateTime<Utc>>,
}

impl DeletedUser {
    /// `$select` of [`DeletedUser`].
    pub const SELECT: &'static str =
        "id,displayName,userPrincipalName,mail,accountEnabled,deletedDateTime";
}
