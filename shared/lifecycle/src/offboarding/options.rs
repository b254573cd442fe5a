//! The offboard job's opt-in options, beyond Graph's defaults: remove the account's
//! authentication methods (so a revoked session cannot be re-established with a registered
//! device), its app role assignments (enterprise application access) and its delegated permission
//! grants, and set its mailbox's automatic reply. Each is allowed with application permissions;
//! each step deletes, then reads the collection back, and is done only when the read-back agrees.

use crate::JobError;
use crate::model::{AutomaticReply, OffboardJob, SnapshotAutomaticReply, ZonedDateTime};
use graph::{BatchRequest, BatchResponse, GraphError, TenantGraph};
use serde::Deserialize;
use serde_json::{Value, json};

/// Step names, as recorded in the job record.
pub const REMOVE_AUTHENTICATION_METHODS: &str = "remove_authentication_methods";
pub const REMOVE_APP_ROLE_ASSIGNMENTS: &str = "remove_app_role_assignments";
pub const REMOVE_PERMISSION_GRANTS: &str = "remove_permission_grants";
pub const SET_AUTOMATIC_REPLY: &str = "set_automatic_reply";

/// Which collection an option empties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// `/users/{id}/authentication/methods` (the password is kept).
    AuthenticationMethods,
    /// `/users/{id}/appRoleAssignments`.
    AppRoleAssignments,
    /// `/users/{id}/oauth2PermissionGrants` (deleted at `/oauth2PermissionGrants/{id}`).
    PermissionGrants,
}

impl Collection {
    /// The step that empties it.
    pub fn step(self) -> &'static str {
        match self {
            Self::AuthenticationMethods => REMOVE_AUTHENTICATION_METHODS,
            Self::AppRoleAssignments => REMOVE_APP_ROLE_ASSIGNMENTS,
            Self::PermissionGrants => REMOVE_PERMISSION_GRANTS,
        }
    }

    /// The application permission Graph asks for to delete from it.
    pub fn permission(self) -> &'static str {
        match self {
            Self::AuthenticationMethods => "UserAuthenticationMethod.ReadWrite.All",
            Self::AppRoleAssignments => "AppRoleAssignment.ReadWrite.All",
            Self::PermissionGrants => "DelegatedPermissionGrant.ReadWrite.All",
        }
    }

    /// The GET that lists it for `user_id`, as step `step`.
    fn list(self, step: &str, user_id: &str) -> BatchRequest {
        let relation = match self {
            Self::AuthenticationMethods => "authentication/methods",
            Self::AppRoleAssignments => "appRoleAssignments",
            Self::PermissionGrants => "oauth2PermissionGrants",
        };
        BatchRequest::get_user_relation(step, user_id, relation)
    }

    /// The job option that asks to empty it.
    pub fn option(self) -> &'static str {
        match self {
            Self::AuthenticationMethods => "remove_authentication_methods",
            Self::AppRoleAssignments => "remove_app_role_assignments",
            Self::PermissionGrants => "remove_permission_grants",
        }
    }

    /// The collection's Graph name, as a read-back names it.
    pub fn property(self) -> &'static str {
        match self {
            Self::AuthenticationMethods => "authentication/methods",
            Self::AppRoleAssignments => "appRoleAssignments",
            Self::PermissionGrants => "oauth2PermissionGrants",
        }
    }

    /// What one entry is called, for a person.
    pub fn noun(self) -> &'static str {
        match self {
            Self::AuthenticationMethods => "authentication method(s)",
            Self::AppRoleAssignments => "app role assignment(s)",
            Self::PermissionGrants => "delegated permission grant(s)",
        }
    }
}

/// The application permission the automatic reply needs.
pub const MAILBOX_PERMISSION: &str = "MailboxSettings.ReadWrite";

/// One entry an option deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    /// e.g. `phone +1 4255550100`, `Salesforce`, `User.Read`.
    pub name: String,
    /// The `$batch` step that deletes it (step id = entry id).
    pub delete: BatchRequest,
    /// Deleted only after this entry (a mobile phone only after the alternate mobile phone:
    /// Graph refuses the other order).
    pub after: Option<String>,
}

/// What an option's collection held when read, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    Read {
        entries: Vec<Entry>,
        /// Entries kept on purpose (the password), for the detail.
        kept: Vec<String>,
        request_id: Option<String>,
    },
    /// Graph refused the read for good (e.g. the permission is missing).
    Refused {
        reason: String,
        request_id: Option<String>,
    },
}

/// The mailbox's automatic reply as read, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyState {
    Read {
        setting: SnapshotAutomaticReply,
        request_id: Option<String>,
    },
    Refused {
        reason: String,
        request_id: Option<String>,
    },
}

/// What the requested options found on the account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub listings: Vec<(Collection, Listing)>,
    pub reply: Option<ReplyState>,
}

/// The collections `job` asks to empty, in the order they run.
pub fn requested(job: &OffboardJob) -> Vec<Collection> {
    [
        (
            job.remove_authentication_methods,
            Collection::AuthenticationMethods,
        ),
        (
            job.remove_app_role_assignments,
            Collection::AppRoleAssignments,
        ),
        (job.remove_permission_grants, Collection::PermissionGrants),
    ]
    .into_iter()
    .filter_map(|(wanted, collection)| wanted.then_some(collection))
    .collect()
}

/// Reads what the requested options would change, in one `$batch` round trip (nothing when no
/// option is requested).
pub async fn read(
    graph: &TenantGraph,
    user_id: &str,
    job: &OffboardJob,
) -> Result<Found, JobError> {
    let collections = requested(job);
    let mut requests: Vec<BatchRequest> = collections
        .iter()
        .map(|c| c.list(c.step(), user_id))
        .collect();
    if job.automatic_reply.is_some() {
        requests.push(BatchRequest::get_user_relation(
            SET_AUTOMATIC_REPLY,
            user_id,
            "mailboxSettings",
        ));
    }
    if requests.is_empty() {
        return Ok(Found::default());
    }
    let mut outcomes = graph.batch(requests).await?.into_iter();
    let mut found = Found::default();
    for collection in collections {
        let Some(outcome) = outcomes.next() else {
            return Err(JobError::transient("the $batch answer lacks a step"));
        };
        let listing = listing(collection, user_id, outcome.result)?;
        found.listings.push((collection, listing));
    }
    if job.automatic_reply.is_some() {
        let Some(outcome) = outcomes.next() else {
            return Err(JobError::transient("the $batch answer lacks a step"));
        };
        found.reply = Some(match outcome.result {
            Ok(response) => ReplyState::Read {
                setting: reply_setting(&response)?,
                request_id: response.request_id,
            },
            Err(error) => {
                let (reason, request_id) = refusal(error, MAILBOX_PERMISSION)?;
                ReplyState::Refused { reason, request_id }
            }
        });
    }
    Ok(found)
}

/// A permanent Graph refusal as a reason (naming the permission on a 403); a transient one ends
/// the delivery so SQS retries it.
pub fn refusal(error: GraphError, permission: &str) -> Result<(String, Option<String>), JobError> {
    let request_id = error.request_id().map(str::to_owned);
    let forbidden = error.status() == Some(403);
    match JobError::from(error) {
        JobError::Permanent { reason, .. } if forbidden => Ok((
            format!(
                "{reason}; this needs the application permission {permission} (see the connection test)"
            ),
            request_id,
        )),
        JobError::Permanent { reason, .. } => Ok((reason, request_id)),
        other => Err(other),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MailboxSettings {
    #[serde(default)]
    automatic_replies_setting: Option<ReplySetting>,
}

/// `automaticRepliesSetting` on the wire (messages may be null).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplySetting {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    external_audience: Option<String>,
    #[serde(default)]
    internal_reply_message: Option<String>,
    #[serde(default)]
    external_reply_message: Option<String>,
    #[serde(default)]
    scheduled_start_date_time: Option<WireDateTime>,
    #[serde(default)]
    scheduled_end_date_time: Option<WireDateTime>,
}

/// `dateTimeTimeZone` on the wire.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireDateTime {
    #[serde(default)]
    date_time: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
}

impl WireDateTime {
    fn zoned(self) -> Option<ZonedDateTime> {
        Some(ZonedDateTime {
            date_time: self.date_time.filter(|d| !d.is_empty())?,
            time_zone: self.time_zone.unwrap_or_else(|| "UTC".into()),
        })
    }
}

/// The automatic reply of a `GET /users/{id}/mailboxSettings` answer (a mailbox that never
/// had one set shows `disabled`).
fn reply_setting(response: &BatchResponse) -> Result<SnapshotAutomaticReply, GraphError> {
    let settings: MailboxSettings = response.json()?;
    let Some(wire) = settings.automatic_replies_setting else {
        return Ok(SnapshotAutomaticReply {
            status: "disabled".into(),
            external_audience: "none".into(),
            internal_reply_message: String::new(),
            external_reply_message: String::new(),
            scheduled_start: None,
            scheduled_end: None,
        });
    };
    Ok(SnapshotAutomaticReply {
        status: wire.status.unwrap_or_else(|| "disabled".into()),
        external_audience: wire.external_audience.unwrap_or_else(|| "none".into()),
        internal_reply_message: wire.internal_reply_message.unwrap_or_default(),
        external_reply_message: wire.external_reply_message.unwrap_or_default(),
        scheduled_start: wire.scheduled_start_date_time.and_then(WireDateTime::zoned),
        scheduled_end: wire.scheduled_end_date_time.and_then(WireDateTime::zoned),
    })
}

/// The authentication method kinds removed, by `@odata.type`, with the user relation that deletes
/// each [learn: graph/api/resources/authenticationmethods-overview]. The password is kept (it
/// cannot be deleted; sign-in is blocked); a kind not listed is reported as kept.
const METHOD_KINDS: [(&str, &str, &str); 6] = [
    (
        "phoneAuthenticationMethod",
        "authentication/phoneMethods",
        "phone",
    ),
    (
        "microsoftAuthenticatorAuthenticationMethod",
        "authentication/microsoftAuthenticatorMethods",
        "Microsoft Authenticator",
    ),
    (
        "fido2AuthenticationMethod",
        "authentication/fido2Methods",
        "FIDO2 key",
    ),
    (
        "emailAuthenticationMethod",
        "authentication/emailMethods",
        "email",
    ),
    (
        "softwareOathAuthenticationMethod",
        "authentication/softwareOathMethods",
        "software OATH token",
    ),
    (
        "temporaryAccessPassAuthenticationMethod",
        "authentication/temporaryAccessPassMethods",
        "Temporary Access Pass",
    ),
];

/// Graph's fixed id of the alternate mobile phone method.
const ALTERNATE_MOBILE_ID: &str = "b6332ec1-7057-4abe-9331-3d72feddfe41";

fn text<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    value
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The entries of a listing to delete, and the ones kept on purpose.
fn entries(collection: Collection, user_id: &str, values: Vec<Value>) -> (Vec<Entry>, Vec<String>) {
    let mut out = Vec::new();
    let mut kept = Vec::new();
    for value in values {
        let Some(id) = text(&value, "id").map(str::to_owned) else {
            continue;
        };
        match collection {
            Collection::AuthenticationMethods => {
                let odata = text(&value, "@odata.type")
                    .unwrap_or_default()
                    .trim_start_matches("#microsoft.graph.");
                let Some((_, path, label)) = METHOD_KINDS.iter().find(|(t, ..)| *t == odata) else {
                    kept.push(if odata == "passwordAuthenticationMethod" {
                        "password (kept: it cannot be deleted, and sign-in is blocked)".to_owned()
                    } else {
                        format!("{odata} (kept: not a kind this option removes)")
                    });
                    continue;
                };
                let detail = text(&value, "phoneNumber")
                    .or_else(|| text(&value, "emailAddress"))
                    .or_else(|| text(&value, "displayName"));
                out.push(Entry {
                    name: detail.map_or_else(|| (*label).to_owned(), |d| format!("{label} {d}")),
                    delete: BatchRequest::delete_user_relation_entry(&id, user_id, path, &id),
                    id,
                    after: None,
                });
            }
            Collection::AppRoleAssignments => out.push(Entry {
                name: text(&value, "resourceDisplayName")
                    .unwrap_or("an application")
                    .to_owned(),
                delete: BatchRequest::delete_user_relation_entry(
                    &id,
                    user_id,
                    "appRoleAssignments",
                    &id,
                ),
                id,
                after: None,
            }),
            Collection::PermissionGrants => out.push(Entry {
                name: format!(
                    "scope '{}' for client {}",
                    text(&value, "scope").unwrap_or("").trim(),
                    text(&value, "clientId").unwrap_or("?")
                ),
                delete: BatchRequest::delete_permission_grant(&id, &id),
                id,
                after: None,
            }),
        }
    }
    // Graph refuses to delete the mobile phone while an alternate mobile is registered.
    if out.iter().any(|e| e.id == ALTERNATE_MOBILE_ID) {
        for entry in &mut out {
            if entry.delete.url.contains("/phoneMethods/") && entry.id != ALTERNATE_MOBILE_ID {
                entry.after = Some(ALTERNATE_MOBILE_ID.to_owned());
            }
        }
    }
    (out, kept)
}

/// The `$batch` steps that delete `entries` (step id = entry id).
pub fn delete_requests(entries: &[Entry]) -> Vec<BatchRequest> {
    entries
        .iter()
        .map(|entry| {
            let request = entry.delete.clone();
            match &entry.after {
                Some(first) if entries.iter().any(|e| &e.id == first) => request.after(first),
                _ => request,
            }
        })
        .collect()
}

/// Lists one collection again (the read-back).
pub async fn list(
    graph: &TenantGraph,
    user_id: &str,
    collection: Collection,
) -> Result<Listing, JobError> {
    let mut outcomes = graph
        .batch(vec![collection.list("read-back", user_id)])
        .await?;
    let Some(outcome) = outcomes.pop() else {
        return Err(JobError::transient("the $batch answer is empty"));
    };
    listing(collection, user_id, outcome.result)
}

/// A collection's listing from its step's answer: its entries, or the refusal named with the
/// permission it lacks (a transient failure is returned).
fn listing(
    collection: Collection,
    user_id: &str,
    answer: Result<BatchResponse, GraphError>,
) -> Result<Listing, JobError> {
    Ok(match answer {
        Ok(response) => {
            let request_id = response.request_id.clone();
            let (entries, kept) = entries(collection, user_id, response.items()?);
            Listing::Read {
                entries,
                kept,
                request_id,
            }
        }
        Err(error) => {
            let (reason, request_id) = refusal(error, collection.permission())?;
            Listing::Refused { reason, request_id }
        }
    })
}

/// The PATCH body of the automatic reply: always on; outside senders get the external message
/// when the job gives one, no reply otherwise.
pub fn reply_body(reply: &AutomaticReply) -> Value {
    let (audience, external) = match &reply.external_message {
        Some(message) => ("all", message.as_str()),
        None => ("none", ""),
    };
    json!({
        "automaticRepliesSetting": {
            "status": "alwaysEnabled",
            "externalAudience": audience,
            "internalReplyMessage": reply.internal_message,
            "externalReplyMessage": external,
        }
    })
}

/// The `externalAudience` the job asks for.
pub fn wanted_audience(reply: &AutomaticReply) -> &'static str {
    if reply.external_message.is_some() {
        "all"
    } else {
        "none"
    }
}

/// The PATCH body that puts a snapshot's automatic reply back as it was (the schedule only when
/// one was recorded).
pub fn restore_body(setting: &SnapshotAutomaticReply) -> Value {
    let mut reply = json!({
        "status": setting.status,
        "externalAudience": setting.external_audience,
        "internalReplyMessage": setting.internal_reply_message,
        "externalReplyMessage": setting.external_reply_message,
    });
    for (name, at) in [
        ("scheduledStartDateTime", &setting.scheduled_start),
        ("scheduledEndDateTime", &setting.scheduled_end),
    ] {
        if let Some(at) = at {
            reply[name] = json!({ "dateTime": at.date_time, "timeZone": at.time_zone });
        }
    }
    json!({ "automaticRepliesSetting": reply })
}

/// What Graph answered to a PATCH of the automatic reply: its request id, or the reason it
/// refused (and that refusal's request id).
pub type ReplyWrite = Result<Option<String>, (String, Option<String>)>;

/// Sets the automatic reply (PATCH `body`), then reads it back (GET), in one `$batch`.
pub async fn set_reply(
    graph: &TenantGraph,
    user_id: &str,
    body: Value,
) -> Result<(ReplyWrite, ReplyState), JobError> {
    let mut outcomes = graph
        .batch(vec![
            BatchRequest::update_mailbox_settings("set", user_id, body),
            BatchRequest::get_user_relation("read-back", user_id, "mailboxSettings").after("set"),
        ])
        .await?
        .into_iter();
    let (Some(set), Some(read)) = (outcomes.next(), outcomes.next()) else {
        return Err(JobError::transient("the $batch answer lacks a step"));
    };
    let written = match set.result {
        Ok(response) => Ok(response.request_id),
        Err(error) => Err(refusal(error, MAILBOX_PERMISSION)?),
    };
    let observed = match read.result {
        Ok(response) => ReplyState::Read {
            setting: reply_setting(&response)?,
            request_id: response.request_id,
        },
        Err(error) => {
            let (reason, request_id) = match written {
                // The read only failed because the write did (424): say the write's reason.
                Err(ref refused) => refused.clone(),
                Ok(_) => refusal(error, MAILBOX_PERMISSION)?,
            };
            ReplyState::Refused { reason, request_id }
        }
    };
    Ok((written, observed))
}
