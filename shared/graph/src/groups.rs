//! Group provisioning: create a security or Microsoft 365 group (with its owners), change its
//! name or description, delete it, and find groups by mail nickname (how a redelivered create
//! finds the group an earlier delivery made) [learn: graph/api/group-post-groups,
//! graph/api/group-update, graph/api/group-delete].

use futures::TryStreamExt as _;
use reqwest::Method;
use serde::Serialize;

use crate::client::TenantGraph;
use crate::error::GraphError;
use crate::models::Group;
use crate::paging::{items, unchanged};
use crate::transport::Call;
use crate::url_path::encode_segment;
use crate::writes::Receipt;

/// Graph's limit of owners (and members) bound in one POST /groups [learn: group-post-groups].
pub const MAX_OWNERS_ON_CREATE: usize = 20;

/// The body of POST /groups. A Microsoft 365 group is `groupTypes: ["Unified"]`, mail-enabled,
/// not security-enabled; a security group has no group type, is security-enabled and not
/// mail-enabled. Graph creates no other kind (mail-enabled security groups and distribution
/// lists are Exchange's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewGroup {
    pub display_name: String,
    pub mail_nickname: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub group_types: Vec<String>,
    pub mail_enabled: bool,
    pub security_enabled: bool,
    /// `https://graph.microsoft.com/v1.0/users/{id}` of each owner (at most 20).
    #[serde(rename = "owners@odata.bind", skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<String>,
}

impl NewGroup {
    /// A security group (`groupTypes: []`, security-enabled, not mail-enabled).
    pub fn security(display_name: String, mail_nickname: String) -> Self {
        Self {
            display_name,
            mail_nickname,
            description: None,
            group_types: Vec::new(),
            mail_enabled: false,
            security_enabled: true,
            owners: Vec::new(),
        }
    }

    /// A Microsoft 365 group (`groupTypes: ["Unified"]`, mail-enabled, not security-enabled).
    pub fn microsoft365(display_name: String, mail_nickname: String) -> Self {
        Self {
            group_types: vec!["Unified".to_owned()],
            mail_enabled: true,
            security_enabled: false,
            ..Self::security(display_name, mail_nickname)
        }
    }
}

/// The body of PATCH /groups/{id}: only the properties given are sent; a description of
/// `Some(None)` clears it (null).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Option<String>>,
}

impl GroupPatch {
    /// Nothing to send.
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none() && self.description.is_none()
    }
}

fn group_path(group_id: &str) -> String {
    format!("/groups/{}", encode_segment(group_id))
}

impl TenantGraph {
    /// `https://graph.microsoft.com/v1.0/users/{id}`: how `owners@odata.bind` names an owner.
    pub fn user_bind_url(&self, user_id: &str) -> String {
        self.graph_url(&format!("/users/{}", encode_segment(user_id)))
    }

    /// Creates a group (POST /groups); Graph answers the group it made.
    pub async fn create_group(&self, group: &NewGroup) -> Result<Receipt<Group>, GraphError> {
        let call = Call::new(Method::POST, self.url("/groups")?).json(group)?;
        let reply = self.send(&call).await?;
        let created = reply.json()?;
        Ok(reply.receipt(created))
    }

    /// Changes a group's name or description (PATCH /groups/{id}).
    pub async fn update_group(
        &self,
        group_id: &str,
        patch: &GroupPatch,
    ) -> Result<Receipt<()>, GraphError> {
        let call = Call::new(Method::PATCH, self.url(&group_path(group_id))?).json(patch)?;
        Ok(self.send(&call).await?.receipt(()))
    }

    /// Deletes a group (DELETE /groups/{id}): a Microsoft 365 group is restorable for 30 days,
    /// a security group is gone. No such group: [`GraphError::is_not_found`].
    pub async fn delete_group(&self, group_id: &str) -> Result<Receipt<()>, GraphError> {
        let call = Call::new(Method::DELETE, self.url(&group_path(group_id))?);
        Ok(self.send(&call).await?.receipt(()))
    }

    /// One group with [`Group::SELECT_PROVISIONED`]; `None` when there is none.
    pub async fn group(&self, group_id: &str) -> Result<Option<Group>, GraphError> {
        let url = self.url(&format!(
            "{}?$select={}",
            group_path(group_id),
            Group::SELECT_PROVISIONED
        ))?;
        match self.send(&Call::new(Method::GET, url)).await {
            Ok(reply) => reply.json().map(Some),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The groups whose mail nickname is `mail_nickname` (`$filter=mailNickname eq '…'`, quotes
    /// doubled as OData asks), with [`Group::SELECT_PROVISIONED`].
    pub async fn groups_by_mail_nickname(
        &self,
        mail_nickname: &str,
    ) -> Result<Vec<Group>, GraphError> {
        let filter = format!("mailNickname eq '{}'", mail_nickname.replace('\'', "''"));
        let first = format!(
            "/groups?$filter={}&$select={}",
            encode_segment(&filter),
            Group::SELECT_PROVISIONED
        );
        items(self.list_pages(&first, None, unchanged))
            .try_collect()
            .await
    }

    /// A group's direct members that are accounts (`members/microsoft.graph.user`), with id and
    /// user principal name, 999 per page; nested groups, devices and contacts are not listed.
    pub async fn group_member_accounts(
        &self,
        group_id: &str,
    ) -> Result<Vec<crate::models::User>, GraphError> {
        let first = format!(
            "{}/members/microsoft.graph.user?$select=id,userPrincipalName&$top={}",
            group_path(group_id),
            crate::paging::MAX_PAGE
        );
        items(self.list_pages(&first, None, unchanged))
            .try_collect()
            .await
    }

    /// The ids of a group's owners (GET /groups/{id}/owners).
    pub async fn group_owner_ids(&self, group_id: &str) -> Result<Vec<String>, GraphError> {
        let first = format!("{}/owners?$select=id", group_path(group_id));
        let owners: Vec<crate::models::DirectoryObjectRef> =
            items(self.list_pages(&first, None, unchanged))
                .try_collect()
                .await?;
        Ok(owners.into_iter().map(|owner| owner.id).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_each_kind_when_serialised_then_the_flags_and_owners_are_graphs() {
        let mut m365 = NewGroup::microsoft365("Sales".into(), "sales".into());
        m365.owners = vec!["https://graph.microsoft.com/v1.0/users/u1".into()];
        assert_eq!(
            serde_json::to_value(&m365).ok(),
            Some(
                serde_json::json!({"displayName": "Sales", "mailNickname": "sales",
                "groupTypes": ["Unified"], "mailEnabled": true, "securityEnabled": false,
                "owners@odata.bind": ["https://graph.microsoft.com/v1.0/users/u1"]})
            )
        );
        let patch = GroupPatch {
            display_name: None,
            description: Some(None),
        };
        assert_eq!(
            serde_json::to_value(&patch).ok(),
            Some(serde_json::json!({"description": null}))
        );
    }
}
