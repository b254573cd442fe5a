//! Lifecycle writes: create, change, block, delete and restore accounts; licenses; memberships.
//! Each returns Graph's `request-id` so callers can keep an audit trail.

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, Serializer};

use crate::client::TenantGraph;
use crate::error::GraphError;
use crate::models::{AssignedLicense, DirectoryObjectRef, User};
use crate::transport::{Call, Reply};
use crate::url_path::encode_segment;

/// The result of a write and the ids Graph gave the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt<T> {
    pub value: T,
    /// Graph's `request-id` response header (what Microsoft support asks for).
    pub request_id: Option<String>,
    /// The `client-request-id` this client sent.
    pub client_request_id: String,
}

impl Reply {
    pub(crate) fn receipt<T>(self, value: T) -> Receipt<T> {
        Receipt {
            value,
            request_id: self.request_id,
            client_request_id: self.client_request_id,
        }
    }
}

/// A password profile for a new account. The password is serialised only into the request body;
/// `Debug` shows `[REDACTED]`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordProfile {
    #[serde(serialize_with = "expose_password")]
    pub password: SecretString,
    pub force_change_password_next_sign_in: bool,
}

impl PasswordProfile {
    /// A temporary password the person must change at first sign-in.
    pub fn temporary(password: SecretString) -> Self {
        PasswordProfile {
            password,
            force_change_password_next_sign_in: true,
        }
    }
}

fn expose_password<S: Serializer>(
    password: &SecretString,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(password.expose_secret())
}

/// The body of POST /users: the required properties plus the optional ones onboarding sets.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    pub account_enabled: bool,
    pub display_name: String,
    pub mail_nickname: String,
    /// Must be on a verified domain of the tenant.
    pub user_principal_name: String,
    pub password_profile: PasswordProfile,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    /// ISO 3166-1 alpha-2; needed before licenses can be assigned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// The on-premises anchor (`onPremisesImmutableId`), needed when the UPN's domain is
    /// federated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_premises_immutable_id: Option<String>,
}

/// The body of PATCH /users/{id}: only the properties that are `Some` are changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserPatch {
    /// `Some(false)` blocks sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
}

impl UserPatch {
    /// Blocks sign-in (`accountEnabled: false`).
    pub fn block_sign_in() -> Self {
        UserPatch {
            account_enabled: Some(false),
            ..UserPatch::default()
        }
    }
}

/// A text property of a profile change: set to a value, or cleared (sent as `null`, which is how
/// Graph clears a string property).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextChange {
    Set(String),
    Clear,
}

impl Serialize for TextChange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Set(text) => serializer.serialize_str(text),
            Self::Clear => serializer.serialize_none(),
        }
    }
}

impl TextChange {
    /// `Clear` for an empty (or blank) text, else `Set`.
    pub fn of(text: &str) -> Self {
        if text.trim().is_empty() {
            Self::Clear
        } else {
            Self::Set(text.to_owned())
        }
    }

    /// The value Graph will hold afterwards (`None` when cleared).
    pub fn value(&self) -> Option<&str> {
        match self {
            Self::Set(text) => Some(text),
            Self::Clear => None,
        }
    }
}

/// The body of a mover's PATCH /users/{id}: only the properties that are `Some` are sent, so a
/// property the caller did not change is never overwritten.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfilePatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<TextChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surname: Option<TextChange>,
    /// Graph cannot clear a display name, so it is always a value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<TextChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<TextChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub office_location: Option<TextChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_id: Option<TextChange>,
    /// ISO 3166-1 alpha-2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_location: Option<String>,
    /// A rename: the domain must be verified in the tenant and the name free.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
}

impl ProfilePatch {
    /// The Graph names of the properties this patch sends, in the order Graph documents them.
    pub fn property_names(&self) -> Vec<&'static str> {
        [
            ("givenName", self.given_name.is_some()),
            ("surname", self.surname.is_some()),
            ("displayName", self.display_name.is_some()),
            ("jobTitle", self.job_title.is_some()),
            ("department", self.department.is_some()),
            ("officeLocation", self.office_location.is_some()),
            ("employeeId", self.employee_id.is_some()),
            ("usageLocation", self.usage_location.is_some()),
            ("userPrincipalName", self.user_principal_name.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, sent)| sent.then_some(name))
        .collect()
    }

    /// Nothing to send.
    pub fn is_empty(&self) -> bool {
        self.property_names().is_empty()
    }
}

/// The body of POST /users/{id}/assignLicense (both arrays are required by Graph).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AssignLicenseBody<'a> {
    pub(crate) add_licenses: &'a [AssignedLicense],
    pub(crate) remove_licenses: &'a [String],
}

/// The body of POST /groups/{id}/members/$ref.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MemberRef {
    #[serde(rename = "@odata.id")]
    pub(crate) odata_id: String,
}

#[derive(serde::Deserialize)]
struct RevokeReply {
    #[serde(default)]
    value: bool,
}

pub(crate) fn user_path(user_id: &str) -> String {
    format!("/users/{}", encode_segment(user_id))
}

pub(crate) fn member_path(group_id: &str, object_id: &str) -> String {
    format!(
        "/groups/{}/members/{}/$ref",
        encode_segment(group_id),
        encode_segment(object_id)
    )
}

impl TenantGraph {
    /// Creates an account (POST /users). A second attempt after a lost answer may report
    /// [`GraphError::is_duplicate_upn`]; callers check whether the account now exists.
    pub async fn create_user(&self, user: &NewUser) -> Result<Receipt<User>, GraphError> {
        let call = Call::new(Method::POST, self.url("/users")?).json(user)?;
        let reply = self.send(&call).await?;
        let created = reply.json()?;
        Ok(reply.receipt(created))
    }

    /// Changes the given properties of an account (PATCH /users/{id}).
    pub async fn update_user(
        &self,
        user_id: &str,
        patch: &UserPatch,
    ) -> Result<Receipt<()>, GraphError> {
        let call = Call::new(Method::PATCH, self.url(&user_path(user_id))?).json(patch)?;
        Ok(self.send(&call).await?.receipt(()))
    }

    /// Changes an account's profile properties in one PATCH /users/{id} (only those given).
    pub async fn update_profile(
        &self,
        user_id: &str,
        patch: &ProfilePatch,
    ) -> Result<Receipt<()>, GraphError> {
        let call = Call::new(Method::PATCH, self.url(&user_path(user_id))?).json(patch)?;
        Ok(self.send(&call).await?.receipt(()))
    }

    /// Makes `manager_id` the account's manager (PUT /users/{id}/manager/$ref). A manager that
    /// does not exist: [`GraphError::is_not_found`].
    pub async fn set_manager(
        &self,
        user_id: &str,
        manager_id: &str,
    ) -> Result<Receipt<()>, GraphError> {
        let body = MemberRef {
            odata_id: self.client().directory_object_url(manager_id),
        };
        let url = self.url(&format!("{}/manager/$ref", user_path(user_id)))?;
        let call = Call::new(Method::PUT, url).json(&body)?;
        Ok(self.send(&call).await?.receipt(()))
    }

    /// Soft-deletes an account (restorable for 30 days).
    pub async fn delete_user(&self, user_id: &str) -> Result<Receipt<()>, GraphError> {
        let call = Call::new(Method::DELETE, self.url(&user_path(user_id))?);
        Ok(self.send(&call).await?.receipt(()))
    }

    /// Invalidates the account's refresh tokens and session cookies (effective within minutes).
    pub async fn revoke_sign_in_sessions(
        &self,
        user_id: &str,
    ) -> Result<Receipt<bool>, GraphError> {
        let url = self.url(&format!("{}/revokeSignInSessions", user_path(user_id)))?;
        let reply = self.send(&Call::new(Method::POST, url)).await?;
        let revoked = if reply.body.is_empty() {
            true
        } else {
            reply.json::<RevokeReply>()?.value
        };
        Ok(reply.receipt(revoked))
    }

    /// Adds and removes licenses of an account in one call. The account needs a usageLocation.
    pub async fn assign_license(
        &self,
        user_id: &str,
        add: &[AssignedLicense],
        remove: &[String],
    ) -> Result<Receipt<()>, GraphError> {
        let body = AssignLicenseBody {
            add_licenses: add,
            remove_licenses: remove,
        };
        let url = self.url(&format!("{}/assignLicense", user_path(user_id)))?;
        let call = Call::new(Method::POST, url).json(&body)?;
        Ok(self.send(&call).await?.receipt(()))
    }

    /// Adds a directory object to a group. Already a member: [`GraphError::is_member_already_present`].
    pub async fn add_group_member(
        &self,
        group_id: &str,
        object_id: &str,
    ) -> Result<Receipt<()>, GraphError> {
        let body = MemberRef {
            odata_id: self.client().directory_object_url(object_id),
        };
        let url = self.url(&format!(
            "/groups/{}/members/$ref",
            encode_segment(group_id)
        ))?;
        let call = Call::new(Method::POST, url).json(&body)?;
        Ok(self.send(&call).await?.receipt(()))
    }

    /// Removes a member from a group. Not a member: [`GraphError::is_not_found`].
    pub async fn remove_group_member(
        &self,
        group_id: &str,
        object_id: &str,
    ) -> Result<Receipt<()>, GraphError> {
        let call = Call::new(Method::DELETE, self.url(&member_path(group_id, object_id))?);
        Ok(self.send(&call).await?.receipt(()))
    }

    /// Restores a soft-deleted object (POST /directory/deletedItems/{id}/restore).
    pub async fn restore_deleted_item(
        &self,
        object_id: &str,
    ) -> Result<Receipt<DirectoryObjectRef>, GraphError> {
        let url = self.url(&format!(
            "/directory/deletedItems/{}/restore",
            encode_segment(object_id)
        ))?;
        let reply = self.send(&Call::new(Method::POST, url)).await?;
        let restored = reply.json()?;
        Ok(reply.receipt(restored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_new_user_when_serialised_then_password_is_in_body_but_not_in_debug() {
        // GIVEN
        let user = NewUser {
            account_enabled: true,
            display_name: "Ada".into(),
            mail_nickname: "ada".into(),
            user_principal_name: "ada@contoso.com".into(),
            password_profile: PasswordProfile::temporary(SecretString::from("Xy9!temporary")),
            given_name: None,
            surname: None,
            usage_location: Some("GB".into()),
            job_title: None,
            department: None,
            on_premises_immutable_id: None,
        };
        // WHEN
        let body = serde_json::to_value(&user).map_err(|e| e.to_string());
        let debug = format!("{user:?}");
        // THEN
        let expected = serde_json::json!({
            "accountEnabled": true, "displayName": "Ada", "mailNickname": "ada",
            "userPrincipalName": "ada@contoso.com", "usageLocation": "GB",
            "passwordProfile": {"password": "Xy9!temporary", "forceChangePasswordNextSignIn": true}
        });
        assert_eq!(body, Ok(expected));
        assert!(!debug.contains("Xy9!temporary"));
    }
}
