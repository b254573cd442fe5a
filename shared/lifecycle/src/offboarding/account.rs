//! What offboarding needs to know about one account, read from Graph in one `$batch` round trip:
//! the account itself (enabled, licenses and where each comes from) and its direct group
//! memberships (`memberOf`), each group classified by whether Graph lets us remove the member.

use std::collections::BTreeMap;

use crate::model::AccountRef;
use futures::TryStreamExt as _;
use graph::{BatchRequest, GraphError, TenantGraph};

/// The account properties offboarding reads.
const ACCOUNT_SELECT: &str = "id,userPrincipalName,displayName,accountEnabled,usageLocation,onPremisesSyncEnabled,assignedLicenses,licenseAssignmentStates,signInSessionsValidFromDateTime";
/// What the deleted-items entry of an account shows after a delete.
const DELETED_SELECT: &str = graph::DeletedUser::SELECT;
/// The group properties that decide whether a membership can be removed through Graph.
const GROUP_SELECT: &str = graph::Group::SELECT_WITH_SOURCE;

/// The account as it stands in the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    pub id: String,
    pub upn: String,
    pub enabled: bool,
    /// `signInSessionsValidFromDateTime`: sessions issued before it are invalid.
    pub sessions_valid_from: Option<chrono::DateTime<chrono::Utc>>,
    /// Mastered in an on-premises directory: blocking and deleting must happen there.
    pub on_premises_synced: bool,
    /// `usageLocation` (licenses need one).
    pub usage_location: Option<String>,
    /// SKU ids assigned directly (removable with one assignLicense).
    pub direct_licenses: Vec<String>,
    /// The service plans turned off in each direct license (SKU id -> plan ids), so a restore
    /// gives the license back as it was.
    pub disabled_plans: BTreeMap<String, Vec<String>>,
    /// SKU ids inherited from a group (group-based licensing), with the group's id: they go when
    /// the account leaves the group, and cannot be removed directly.
    pub inherited_licenses: Vec<(String, String)>,
    /// Direct group memberships.
    pub groups: Vec<MemberGroup>,
}

/// One group the account is a direct member of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberGroup {
    pub id: String,
    pub display_name: String,
    pub removal: Removal,
}

/// Whether Graph can remove a member from a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Security or Microsoft 365 group with assigned membership.
    Removable,
    /// Dynamic membership: the rule decides; change the rule or the account's attributes.
    Dynamic,
    /// Distribution list or mail-enabled security group: managed in Exchange Online only.
    MailEnabled,
    /// Synced from on-premises Active Directory: managed there.
    OnPremises,
}

impl Removal {
    /// Why a member cannot be removed here, for the step detail.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Removal::Removable => None,
            Removal::Dynamic => Some(
                "dynamic membership: the rule decides, so change the rule or the account's attributes",
            ),
            Removal::MailEnabled => Some(
                "distribution list or mail-enabled security group: Graph cannot change it; remove the member in Exchange Online",
            ),
            Removal::OnPremises => {
                Some("synced from on-premises Active Directory: remove the member there")
            }
        }
    }
}

/// Where the account is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Active(AccountState),
    /// Soft-deleted (in deleted items, restorable for 30 days).
    Deleted {
        id: String,
        upn: String,
        /// `accountEnabled` of the deleted-items entry, where Graph gave it.
        enabled: Option<bool>,
    },
    Missing,
}

/// Reads the account and its direct memberships in one `$batch`; the pages after the first
/// `memberOf` page (an account in more than 999 groups) follow its next link.
pub async fn read(
    graph: &TenantGraph,
    account: &AccountRef,
) -> Result<(Found, Vec<String>), GraphError> {
    let key = account.to_string();
    let mut answers = graph
        .look_up(vec![
            BatchRequest::get_user("account", &key, ACCOUNT_SELECT),
            BatchRequest::list_member_of("groups", &key, GROUP_SELECT),
        ])
        .await?;
    let mut request_ids = Vec::new();
    let user: graph::User = match answers.take("account") {
        Ok(response) => {
            request_ids.extend(response.request_id.clone());
            response.json()?
        }
        Err(error) if error.is_not_found() => {
            return Ok((find_deleted(graph, account).await?, request_ids));
        }
        Err(error) => return Err(error),
    };
    let Some(first) = answers.member_of_groups("groups")? else {
        return Err(malformed(
            "memberOf answered 404 for an account that exists",
        ));
    };
    let mut groups: Vec<MemberGroup> = first.items.into_iter().map(member_group).collect();
    if let Some(link) = first.next_link {
        let mut rest = std::pin::pin!(graph.member_of_groups_after(&link));
        while let Some(group) = rest.try_next().await? {
            groups.push(member_group(group));
        }
    }
    Ok((Found::Active(account_state(user, groups)), request_ids))
}

fn malformed(reason: &str) -> GraphError {
    GraphError::UnexpectedBody {
        status: 200,
        request_id: None,
        reason: reason.to_owned(),
    }
}

fn account_state(user: graph::User, groups: Vec<MemberGroup>) -> AccountState {
    let mut direct_licenses = Vec::new();
    let mut inherited_licenses = Vec::new();
    let mut disabled_plans = BTreeMap::new();
    if user.license_assignment_states.is_empty() {
        for license in &user.assigned_licenses {
            direct_licenses.push(license.sku_id.clone());
            disabled_plans.insert(license.sku_id.clone(), license.disabled_plans.clone());
        }
    }
    for state in &user.license_assignment_states {
        let Some(sku_id) = state.sku_id.clone() else {
            continue;
        };
        match state.assigned_by_group.as_deref().filter(|g| !g.is_empty()) {
            None => {
                if !direct_licenses.contains(&sku_id) {
                    disabled_plans.insert(sku_id.clone(), state.disabled_plans.clone());
                    direct_licenses.push(sku_id);
                }
            }
            Some(group) => inherited_licenses.push((sku_id, group.to_owned())),
        }
    }
    AccountState {
        upn: user.user_principal_name.clone().unwrap_or_default(),
        enabled: user.account_enabled.unwrap_or(true),
        sessions_valid_from: user.sign_in_sessions_valid_from_date_time,
        on_premises_synced: user.on_premises_sync_enabled.unwrap_or(false),
        usage_location: user.usage_location.clone(),
        id: user.id,
        direct_licenses,
        disabled_plans,
        inherited_licenses,
        groups,
    }
}

fn member_group(group: graph::Group) -> MemberGroup {
    let on_premises_synced = group.on_premises_sync_enabled.unwrap_or(false);
    let removal = if group.is_dynamic() {
        Removal::Dynamic
    } else if group.mail_enabled.unwrap_or(false) && group.kind() != graph::GroupKind::Microsoft365
    {
        Removal::MailEnabled
    } else if on_premises_synced {
        Removal::OnPremises
    } else {
        Removal::Removable
    };
    MemberGroup {
        display_name: group
            .display_name
            .clone()
            .unwrap_or_else(|| group.id.clone()),
        id: group.id,
        removal,
    }
}

/// The account among the soft-deleted ones: by id, or by UPN (Entra prefixes a deleted account's
/// UPN with its object id without dashes, so a suffix match finds it).
async fn find_deleted(graph: &TenantGraph, account: &AccountRef) -> Result<Found, GraphError> {
    use futures::TryStreamExt as _;
    let mut deleted = std::pin::pin!(graph.deleted_users());
    while let Some(user) = deleted.try_next().await? {
        let upn = user.user_principal_name.clone().unwrap_or_default();
        let matches = match account {
            AccountRef::Id(id) => user.id.eq_ignore_ascii_case(id.as_str()),
            AccountRef::Upn(wanted) => upn
                .to_ascii_lowercase()
                .ends_with(&wanted.normalized().to_ascii_lowercase()),
        };
        if matches {
            return Ok(Found::Deleted {
                enabled: user.account_enabled,
                id: user.id,
                upn,
            });
        }
    }
    Ok(Found::Missing)
}

/// The account's deleted-items entry (`GET /directory/deletedItems/{id}`), with the request id of
/// the read: `None` when the account is not in deleted items.
pub async fn read_deleted(
    graph: &TenantGraph,
    id: &str,
) -> Result<(Option<graph::DeletedUser>, Option<String>), GraphError> {
    let mut answers = graph
        .look_up(vec![BatchRequest::get_deleted_user(
            "deleted",
            id,
            DELETED_SELECT,
        )])
        .await?;
    let outcome = answers.take("deleted");
    match outcome {
        Ok(response) => Ok((Some(response.json()?), response.request_id)),
        Err(error) if error.is_not_found() => {
            let request_id = error.request_id().map(str::to_owned);
            Ok((None, request_id))
        }
        Err(error) => Err(error),
    }
}

/// The object id of the account's manager (`GET /users/{id}/manager`), for the snapshot and the
/// restore: `None` when it has none, or when Graph refuses the read for good (the snapshot then
/// names no manager).
pub async fn manager_id(graph: &TenantGraph, id: &str) -> Result<Option<String>, GraphError> {
    const MANAGER: &str = "manager";
    let mut answers = graph
        .look_up(vec![BatchRequest::get_manager(
            MANAGER,
            id,
            graph::DirectoryObject::SELECT_ID,
        )])
        .await?;
    match answers.take(MANAGER) {
        Ok(response) => Ok(Some(response.json::<graph::DirectoryObjectRef>()?.id)),
        Err(error) if error.is_retryable() => Err(error),
        Err(error) => {
            if !error.is_not_found() {
                tracing::warn!(%error, "the manager could not be read for the snapshot");
            }
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_group_flags_when_classified_then_dynamic_and_mail_enabled_are_not_removable() {
        let group = |types: &[&str], mail: bool, security: bool| graph::Group {
            id: "g".into(),
            group_types: types.iter().map(|t| (*t).to_owned()).collect(),
            mail_enabled: Some(mail),
            security_enabled: Some(security),
            ..graph::Group::default()
        };
        assert_eq!(
            member_group(group(&[], false, true)).removal,
            Removal::Removable
        );
        assert_eq!(
            member_group(group(&["Unified"], true, false)).removal,
            Removal::Removable
        );
        assert_eq!(
            member_group(group(&["DynamicMembership"], false, true)).removal,
            Removal::Dynamic
        );
        assert_eq!(
            member_group(group(&["Unified", "DynamicMembership"], true, false)).removal,
            Removal::Dynamic
        );
        assert_eq!(
            member_group(group(&[], true, false)).removal,
            Removal::MailEnabled
        );
        assert_eq!(
            member_group(group(&[], true, true)).removal,
            Removal::MailEnabled
        );
        assert_eq!(
            member_group(graph::Group {
                on_premises_sync_enabled: Some(true),
                ..group(&[], false, true)
            })
            .removal,
            Removal::OnPremises
        );
    }

    #[test]
    fn given_license_states_when_read_then_direct_and_inherited_are_told_apart() {
        let user: graph::User = serde_json::from_value(serde_json::json!({
            "id": "u", "userPrincipalName": "a@contoso.com", "accountEnabled": true,
            "assignedLicenses": [{"skuId": "s1"}, {"skuId": "s2"}],
            "licenseAssignmentStates": [
                {"skuId": "s1", "assignedByGroup": null, "state": "Active"},
                {"skuId": "s2", "assignedByGroup": "g1", "state": "Active"},
                {"skuId": "s1", "assignedByGroup": "g2", "state": "Active"}
            ]
        }))
        .unwrap_or_default();
        let state = account_state(user, Vec::new());
        assert_eq!(state.direct_licenses, vec!["s1".to_owned()]);
        assert_eq!(
            state.inherited_licenses,
            vec![("s2".into(), "g1".into()), ("s1".into(), "g2".into())]
        );
    }
}
