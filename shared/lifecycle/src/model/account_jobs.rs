//! The mover's jobs: change an account's properties (`update_account`) and block or allow its
//! sign-in (`set_sign_in`, for a leave of absence and the return), without offboarding it.
//!
//! ```json
//! {"job_id":"j-6","tenant_id":"…","type":"update_account","account":"adele@contoso.com",
//!  "display_name":"Adele Vance-Smith","surname":"Vance-Smith","job_title":"Lead Engineer",
//!  "department":"Platform","office_location":"Building 4","employee_id":"E-10442",
//!  "usage_location":"DE","manager":"alex@contoso.com",
//!  "user_principal_name":"adele.vance-smith@contoso.com"}
//!
//! {"job_id":"j-7","tenant_id":"…","type":"set_sign_in","account":"adele@contoso.com",
//!  "sign_in":"blocked","revoke_sessions":true}
//! ```
//!
//! Every property of an `update_account` job is optional: only the ones given are looked at,
//! and of those only the ones that differ from the account's are sent. An empty text clears an
//! optional property (Graph stores it as null); the display name cannot be cleared.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{Upn, UsageLocation};
use crate::model::job::AccountRef;
use crate::model::limits;

/// Change an account's properties (the mover): names, job, office, employee id, usage
/// location, manager and user principal name. Texts are held to Graph's limits when parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccountJob {
    /// The account to change: its object id or its current user principal name.
    pub account: AccountRef,
    #[schemars(length(max = limits::GIVEN_NAME_MAX))]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limits::optional_given_name"
    )]
    pub given_name: Option<String>,
    #[schemars(length(max = limits::SURNAME_MAX))]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limits::optional_surname"
    )]
    pub surname: Option<String>,
    #[schemars(length(min = 1, max = limits::DISPLAY_NAME_MAX))]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limits::optional_display_name"
    )]
    pub display_name: Option<String>,
    #[schemars(length(max = limits::JOB_TITLE_MAX))]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limits::job_title"
    )]
    pub job_title: Option<String>,
    #[schemars(length(max = limits::DEPARTMENT_MAX))]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limits::department"
    )]
    pub department: Option<String>,
    #[schemars(length(max = limits::OFFICE_LOCATION_MAX))]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limits::office_location"
    )]
    pub office_location: Option<String>,
    #[schemars(length(max = limits::EMPLOYEE_ID_MAX))]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limits::employee_id"
    )]
    pub employee_id: Option<String>,
    /// ISO 3166-1 alpha-2; the services of the account's licenses follow it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_location: Option<UsageLocation>,
    /// The new manager: an account of the same tenant, by object id or user principal name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<AccountRef>,
    /// Rename: the new user principal name (its domain verified in the tenant, the name free).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<Upn>,
}

impl UpdateAccountJob {
    /// An update of `account` that changes nothing yet (set the fields to change).
    pub fn new(account: AccountRef) -> Self {
        Self {
            account,
            given_name: None,
            surname: None,
            display_name: None,
            job_title: None,
            department: None,
            office_location: None,
            employee_id: None,
            usage_location: None,
            manager: None,
            user_principal_name: None,
        }
    }
}

/// Whether an account may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignIn {
    /// `accountEnabled: false`: no new sign-in (a leave of absence).
    Blocked,
    /// `accountEnabled: true`: the account signs in again (the return).
    Allowed,
}

impl SignIn {
    /// The value of `accountEnabled` that means this.
    pub fn account_enabled(self) -> bool {
        matches!(self, Self::Allowed)
    }
}

/// Block or allow an account's sign-in without offboarding it; optionally revoke its sessions
/// (refresh tokens and session cookies), so a block takes effect within minutes, not hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSignInJob {
    pub account: AccountRef,
    pub sign_in: SignIn,
    #[serde(default)]
    pub revoke_sessions: bool,
}

#[cfg(test)]
mod tests {
    use crate::model::{Job, JobKind};

    const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    fn update(fields: serde_json::Value) -> Result<Job, String> {
        let mut job = serde_json::json!({"job_id": "j-6", "tenant_id": TENANT,
            "type": "update_account", "account": "adele@contoso.com"});
        for (name, value) in fields.as_object().into_iter().flatten() {
            job[name] = value.clone();
        }
        Job::from_value(job).map_err(|error| error.reason)
    }

    #[test]
    fn given_mover_texts_over_graphs_limits_when_parsed_then_each_is_refused_naming_field_and_limit()
     {
        let cases = [
            (
                serde_json::json!({"employee_id": "x".repeat(17)}),
                "employee_id is 17 characters long; Microsoft Graph accepts a employeeId of at most 16",
            ),
            (
                serde_json::json!({"office_location": "x".repeat(129)}),
                "office_location is 129 characters long; Microsoft Graph accepts a officeLocation of at most 128",
            ),
            (
                serde_json::json!({"display_name": " "}),
                "display_name is empty; Microsoft Graph needs a displayName of 1 to 256 characters",
            ),
            (
                serde_json::json!({"given_name": "x".repeat(65)}),
                "given_name is 65 characters long; Microsoft Graph accepts a givenName of at most 64",
            ),
        ];
        for (fields, expected) in cases {
            assert_eq!(update(fields), Err(expected.to_owned()));
        }
        let bad_upn =
            update(serde_json::json!({"user_principal_name": "adèle@contoso.com"})).unwrap_err();
        assert!(bad_upn.contains("is not allowed before @"), "{bad_upn}");
        let bad_location = update(serde_json::json!({"usage_location": "XX"})).unwrap_err();
        assert!(bad_location.starts_with("usage_location"), "{bad_location}");
    }

    #[test]
    fn given_a_mover_and_a_sign_in_job_when_parsed_then_they_keep_their_fields_and_an_empty_text_clears()
     {
        let job =
            update(serde_json::json!({"job_title": "", "manager": "alex@contoso.com"})).unwrap();
        let JobKind::UpdateAccount(spec) = &job.kind else {
            panic!("an update_account job")
        };
        assert_eq!(spec.job_title.as_deref(), Some(""));
        assert_eq!(job.account().as_deref(), Some("adele@contoso.com"));
        assert!(job.kind.is_write());
        let sign_in = Job::from_value(serde_json::json!({"job_id": "j-7", "tenant_id": TENANT,
            "type": "set_sign_in", "account": "adele@contoso.com", "sign_in": "blocked"}))
        .unwrap();
        let JobKind::SetSignIn(spec) = &sign_in.kind else {
            panic!("a set_sign_in job")
        };
        assert!(!spec.sign_in.account_enabled() && !spec.revoke_sessions);
        let misspelt = Job::from_value(serde_json::json!({"job_id": "j-7", "tenant_id": TENANT,
            "type": "set_sign_in", "account": "adele@contoso.com", "signin": "blocked"}))
        .unwrap_err();
        assert_eq!(
            misspelt.reason,
            "unknown field `signin`; did you mean `sign_in`?"
        );
    }
}
