//! Group provisioning (outbound, as PingOne provisions groups): create a security or Microsoft
//! 365 group, change its name or description, set its members to a wanted list, delete it.
//!
//! ```json
//! {"job_id":"g-1","tenant_id":"…","type":"create_group","group_type":"security",
//!  "display_name":"Finance Approvers","mail_nickname":"finance-approvers",
//!  "description":"Approve invoices over 10k","owners":["adele@contoso.com"]}
//!
//! {"job_id":"g-2","tenant_id":"…","type":"update_group","group":"<group id>",
//!  "display_name":"Finance Approvers (EMEA)"}
//!
//! {"job_id":"g-3","tenant_id":"…","type":"set_group_members","group":"<group id>",
//!  "members":["adele@contoso.com","<account id>"]}
//!
//! {"job_id":"g-4","tenant_id":"…","type":"delete_group","group":"<group id>"}
//! ```
//!
//! Graph creates only Microsoft 365 and security groups; dynamic groups, groups mastered on
//! premises and mail-enabled security groups are refused by the jobs that change a group, with
//! the reason.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::GroupId;
use crate::model::job::AccountRef;
use crate::model::limits;

/// The two kinds of group Graph creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupType {
    /// Security-enabled, not mail-enabled, no group type: access to apps and resources.
    Security,
    /// `groupTypes: ["Unified"]`, mail-enabled: a shared mailbox, calendar, files and Teams.
    Microsoft365,
}

/// Create a group; a redelivery finds the group an earlier delivery made by its mail nickname.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupJob {
    pub group_type: GroupType,
    #[schemars(length(min = 1, max = limits::DISPLAY_NAME_MAX))]
    #[serde(deserialize_with = "limits::display_name")]
    pub display_name: String,
    /// 1-64 ASCII characters, none of `@ ( ) \ [ ] " ; : < > ,` and no space; a Microsoft 365
    /// group's address is `{mail_nickname}@{default domain}`.
    #[schemars(length(min = 1, max = limits::MAIL_NICKNAME_MAX))]
    #[serde(deserialize_with = "limits::mail_nickname")]
    pub mail_nickname: String,
    #[schemars(length(max = limits::GROUP_DESCRIPTION_MAX))]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limits::group_description"
    )]
    pub description: Option<String>,
    /// Accounts of the tenant, by object id or user principal name (Graph binds at most 20 when
    /// it creates a group).
    #[schemars(length(max = limits::MAX_GROUP_OWNERS))]
    #[serde(default, deserialize_with = "limits::group_owners")]
    pub owners: Vec<AccountRef>,
}

/// Rename a group or change its description (only what differs is sent). An empty description
/// clears it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupJob {
    pub group: GroupId,
    #[schemars(length(min = 1, max = limits::DISPLAY_NAME_MAX))]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limits::optional_display_name"
    )]
    pub display_name: Option<String>,
    #[schemars(length(max = limits::GROUP_DESCRIPTION_MAX))]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limits::group_description"
    )]
    pub description: Option<String>,
}

/// Make a group's direct account members exactly `members`: the job adds and removes only the
/// difference, in `$batch` requests of 20.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetGroupMembersJob {
    pub group: GroupId,
    /// The wanted members (an empty list removes every account member).
    #[schemars(length(max = limits::MAX_GROUP_MEMBERS))]
    #[serde(deserialize_with = "limits::group_members")]
    pub members: Vec<AccountRef>,
}

/// Delete a group (a Microsoft 365 group stays restorable in Entra for 30 days; a security
/// group is gone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteGroupJob {
    pub group: GroupId,
}

#[cfg(test)]
mod tests {
    use crate::model::{Job, JobKind};

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    fn create(fields: serde_json::Value) -> Result<Job, String> {
        let mut job = serde_json::json!({"job_id": "g-1", "tenant_id": TENANT,
            "type": "create_group", "group_type": "security",
            "display_name": "Finance", "mail_nickname": "finance"});
        for (name, value) in fields.as_object().into_iter().flatten() {
            job[name] = value.clone();
        }
        Job::from_value(job).map_err(|error| error.reason)
    }

    #[test]
    fn given_group_jobs_outside_graphs_rules_when_parsed_then_each_is_refused_naming_the_field() {
        // GIVEN create_group jobs each breaking one of Graph's rules
        let refused = [
            (
                serde_json::json!({"mail_nickname": "fin ance"}),
                "mail_nickname holds ' '",
            ),
            (
                serde_json::json!({"mail_nickname": "x".repeat(65)}),
                "mail_nickname is 65",
            ),
            (
                serde_json::json!({"description": "x".repeat(1025)}),
                "description is 1025",
            ),
            (
                serde_json::json!({"group_type": "distribution"}),
                "group_type",
            ),
            (
                serde_json::json!({"owners": vec!["adele@contoso.com"; 21]}),
                "owners has 21 items",
            ),
        ];
        for (fields, expected) in refused {
            // WHEN parsed, THEN refused with the field named
            let reason = create(fields.clone()).unwrap_err();
            assert!(reason.contains(expected), "{fields}: {reason}");
        }
        // AND a valid one keeps its fields, and orders with the tenant's other group jobs
        let job = create(serde_json::json!({"owners": ["adele@contoso.com"]})).unwrap();
        let JobKind::CreateGroup(spec) = &job.kind else {
            panic!("a create_group job")
        };
        assert_eq!(spec.owners.len(), 1);
        assert!(job.kind.is_write());
        assert_eq!(job.ordering_key().as_deref(), Some("groups"));
    }
}
