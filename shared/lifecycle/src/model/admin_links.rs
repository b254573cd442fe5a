//! Links to an account or a group in Microsoft's admin centers, carried by every account and
//! group the API answers with, so a person can open the object where they manage it.
//!
//! Microsoft documents no deep-link format for either admin center; these are the addresses the
//! admin centers themselves navigate to, as admin tools build them (README, "Links to the admin
//! centers", cites them):
//!
//! - Microsoft Entra admin center: `https://entra.microsoft.com/{tenant}/#view/…/userId/{id}`
//!   (`…/groupId/{id}` for a group). The tenant in the path opens the right directory for an
//!   administrator of several (a partner, a guest admin).
//! - Microsoft 365 admin center: `https://admin.microsoft.com/AdminPortal/Home#/users/:/UserDetails/{id}`
//!   (`…#/groups/:/GroupDetails/{id}`). It opens in the tenant the administrator is signed in to;
//!   it has no tenant in the address.
//!
//! The ids are GUIDs (parsed newtypes), so nothing caller-chosen reaches a link.

use schemars::JsonSchema;
use serde::Serialize;

use crate::ids::{AccountId, GroupId, TenantId};

const ENTRA: &str = "https://entra.microsoft.com";
const MICROSOFT_365: &str = "https://admin.microsoft.com/AdminPortal/Home";

/// Where a person opens an account or a group in Microsoft's admin centers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct AdminLinks {
    /// The object in the Microsoft Entra admin center, in its tenant's directory.
    pub entra_admin_center: String,
    /// The object in the Microsoft 365 admin center (opens in the signed-in tenant).
    pub microsoft_365_admin_center: String,
}

impl AdminLinks {
    /// The links of an account (Graph `user`).
    pub fn account(tenant: &TenantId, account: &AccountId) -> Self {
        Self {
            entra_admin_center: format!(
                "{ENTRA}/{tenant}/#view/Microsoft_AAD_UsersAndTenants/UserProfileMenuBlade/~/overview/userId/{account}"
            ),
            microsoft_365_admin_center: format!("{MICROSOFT_365}#/users/:/UserDetails/{account}"),
        }
    }

    /// The links of a group.
    pub fn group(tenant: &TenantId, group: &GroupId) -> Self {
        Self {
            entra_admin_center: format!(
                "{ENTRA}/{tenant}/#view/Microsoft_AAD_IAM/GroupDetailsMenuBlade/~/Overview/groupId/{group}"
            ),
            microsoft_365_admin_center: format!("{MICROSOFT_365}#/groups/:/GroupDetails/{group}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_an_account_and_a_group_when_linked_then_each_admin_center_opens_that_object_in_its_tenant()
     {
        let tenant = TenantId::parse("72f988bf-86f1-41af-91ab-2d7cd011db47").unwrap();
        let account = AccountId::parse("0b9f1c2e-0000-4000-8000-000000000001").unwrap();
        let group = GroupId::parse("0b9f1c2e-0000-4000-9000-000000000002").unwrap();
        assert_eq!(
            AdminLinks::account(&tenant, &account),
            AdminLinks {
                entra_admin_center: "https://entra.microsoft.com/72f988bf-86f1-41af-91ab-2d7cd011db47/#view/Microsoft_AAD_UsersAndTenants/UserProfileMenuBlade/~/overview/userId/0b9f1c2e-0000-4000-8000-000000000001".into(),
                microsoft_365_admin_center: "https://admin.microsoft.com/AdminPortal/Home#/users/:/UserDetails/0b9f1c2e-0000-4000-8000-000000000001".into(),
            }
        );
        assert_eq!(
            AdminLinks::group(&tenant, &group),
            AdminLinks {
                entra_admin_center: "https://entra.microsoft.com/72f988bf-86f1-41af-91ab-2d7cd011db47/#view/Microsoft_AAD_IAM/GroupDetailsMenuBlade/~/Overview/groupId/0b9f1c2e-0000-4000-9000-000000000002".into(),
                microsoft_365_admin_center: "https://admin.microsoft.com/AdminPortal/Home#/groups/:/GroupDetails/0b9f1c2e-0000-4000-9000-000000000002".into(),
            }
        );
    }
}
