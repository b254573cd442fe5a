//! Typed Graph resources: exactly the properties the product reads, named as in the v1.0 CSDL,
//! each with the `$select` list that asks for them. Unknown properties are ignored; missing or
//! `null` optional ones become `None` (or an empty list), so a new Graph field never breaks a sync.

mod directory;
mod group;
mod license;
mod report;
mod user;

pub use directory::{
    DelegatedAdminCustomer, DeletedUser, DirectoryObjectRef, Domain, Organization, VerifiedDomain,
};
pub use group::{Group, GroupKind};
pub use license::{
    AssignedLicense, LicenseAssignmentState, LicenseDetails, LicenseUnitsDetail, ServicePlanInfo,
    SubscribedSku,
};
pub use report::{MailboxUsagePeriod, MailboxUsageReport, MailboxUsageRow};
pub use user::{SignInActivity, User};

use serde::{Deserialize, Deserializer};

/// A collection property that Graph may send as `null`: read as an empty list.
pub(crate) fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}
