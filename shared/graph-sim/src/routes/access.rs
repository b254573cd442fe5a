//! An account's ways in besides password and sessions, and its mailbox's automatic reply:
//! `/users/{id}/authentication/methods` and the per-kind collections that delete a method,
//! `/users/{id}/appRoleAssignments`, `/users/{id}/oauth2PermissionGrants` with
//! `/oauth2PermissionGrants/{id}`, and `/users/{id}/mailboxSettings`
//! [learn: graph/api/authentication-list-methods, phoneauthenticationmethod-delete (and the other
//! kinds' delete), user-list-approleassignments, user-delete-approleassignments,
//! user-list-oauth2permissiongrants, oauth2permissiongrant-delete, user-get-mailboxsettings,
//! user-update-mailboxsettings]. All allowed with application permissions.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::http::{self, Resp};
use crate::json::iso;
use crate::routes::Cx;
use crate::routes::users::unsupported_options;
use crate::state::access::{
    ALTERNATE_MOBILE_PHONE_ID, AuthMethod, AutoReply, MOBILE_PHONE_ID, MethodKind,
    PASSWORD_METHOD_ID,
};

const READ_METHODS: &[&str] = &[
    "UserAuthenticationMethod.Read.All",
    "UserAuthenticationMethod.ReadWrite.All",
];
const WRITE_METHODS: &[&str] = &["UserAuthenticationMethod.ReadWrite.All"];
const READ_APP_ROLES: &[&str] = &[
    "Directory.Read.All",
    "AppRoleAssignment.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const WRITE_APP_ROLES: &[&str] = &["AppRoleAssignment.ReadWrite.All"];
const READ_GRANTS: &[&str] = &[
    "Directory.Read.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const WRITE_GRANTS: &[&str] = &["DelegatedPermissionGrant.ReadWrite.All"];
const READ_MAILBOX: &[&str] = &["MailboxSettings.Read", "MailboxSettings.ReadWrite"];
const WRITE_MAILBOX: &[&str] = &["MailboxSettings.ReadWrite"];

/// The properties of `mailboxSettings` (CSDL); the simulator keeps `automaticRepliesSetting`.
const MAILBOX_PROPS: [&str; 9] = [
    "archiveFolder",
    "automaticRepliesSetting",
    "dateFormat",
    "delegateMeetingMessageDeliveryOptions",
    "language",
    "timeFormat",
    "timeZone",
    "userPurpose",
    "workingHours",
];

/// The properties of `mailboxSettings` Graph documents as read-only (the mailbox's purpose: a
/// user's, a shared or a linked mailbox, set by Exchange).
const READ_ONLY_MAILBOX_PROPS: [&str; 1] = ["userPurpose"];

fn user_index(cx: &Cx<'_>, key: &str) -> Result<u32, Resp> {
    cx.read()
        .find_user(key)
        .ok_or_else(|| http::not_found(cx.ids, key))
}

fn list(cx: &Cx<'_>, context: &str, value: Vec<Value>) -> Resp {
    Resp::value(
        StatusCode::OK,
        &json!({ "@odata.context": cx.context(context), "value": value }),
    )
}

/// GET /users/{id}/authentication/methods: the password method, then each registered one.
pub(crate) fn methods(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(READ_METHODS)?;
    unsupported_options(cx)?;
    let idx = user_index(cx, key)?;
    let t = cx.read();
    let user = &t.users[idx as usize];
    let mut value = vec![json!({
        "@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
        "id": PASSWORD_METHOD_ID,
        "password": null,
        "createdDateTime": iso(user.created),
    })];
    for m in t
        .access
        .get(&idx)
        .map(|a| a.methods.as_slice())
        .unwrap_or(&[])
    {
        let mut v = json!({ "@odata.type": m.kind.odata_type(), "id": m.id });
        let created = iso(m.created);
        match m.kind {
            MethodKind::MobilePhone | MethodKind::AlternateMobilePhone => {
                v["phoneNumber"] = json!(&*m.label);
                v["phoneType"] = json!(if m.kind == MethodKind::MobilePhone {
                    "mobile"
                } else {
                    "alternateMobile"
                });
                v["smsSignInState"] = json!("notAllowedByPolicy");
            }
            MethodKind::MicrosoftAuthenticator | MethodKind::Fido2 => {
                v["displayName"] = json!(&*m.label);
                v["createdDateTime"] = json!(created);
            }
            MethodKind::Email => v["emailAddress"] = json!(&*m.label),
            MethodKind::SoftwareOath => v["secretKey"] = Value::Null,
            MethodKind::TemporaryAccessPass => pass_fields(&mut v, m),
        }
        value.push(v);
    }
    Ok(list(
        cx,
        &format!("users('{key}')/authentication/methods"),
        value,
    ))
}

/// DELETE /users/{id}/authentication/{collection}/{method id}: 204; 404 when that collection
/// holds no such method. The password cannot be deleted, and a mobile phone cannot be deleted
/// while an alternate mobile phone is registered (delete the alternate first).
pub(crate) fn delete_method(
    cx: &Cx<'_>,
    key: &str,
    collection: &str,
    method_id: &str,
) -> Result<Resp, Resp> {
    cx.require(WRITE_METHODS)?;
    if collection == "passwordMethods" {
        return Err(http::error(
            cx.ids,
            StatusCode::METHOD_NOT_ALLOWED,
            "methodNotAllowed",
            "The password authentication method cannot be deleted; reset the password instead.",
        ));
    }
    let idx = user_index(cx, key)?;
    let mut t = cx.write();
    let access = t.access.entry(idx).or_default();
    let Some(pos) = access
        .methods
        .iter()
        .position(|m| m.kind.collection() == collection && m.id.eq_ignore_ascii_case(method_id))
    else {
        return Err(http::error(
            cx.ids,
            StatusCode::NOT_FOUND,
            "itemNotFound",
            &format!("The {collection} item with id '{method_id}' was not found."),
        ));
    };
    if access.methods[pos].id == MOBILE_PHONE_ID
        && access
            .methods
            .iter()
            .any(|m| m.id == ALTERNATE_MOBILE_PHONE_ID)
    {
        return Err(http::error(
            cx.ids,
            StatusCode::BAD_REQUEST,
            "badRequest",
            "A user can't have an alternate mobile number without a mobile number: delete the alternateMobile phone method first.",
        ));
    }
    access.methods.remove(pos);
    Ok(Resp::empty(StatusCode::NO_CONTENT))
}

/// GET /users/{id}/appRoleAssignments
pub(crate) fn app_roles(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(READ_APP_ROLES)?;
    unsupported_options(cx)?;
    let idx = user_index(cx, key)?;
    let t = cx.read();
    let user = &t.users[idx as usize];
    let value = t
        .access
        .get(&idx)
        .map(|a| a.app_roles.as_slice())
        .unwrap_or(&[])
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "deletedDateTime": null,
                "appRoleId": a.app_role_id.to_string(),
                "createdDateTime": iso(a.created),
                "principalDisplayName": &*user.display_name,
                "principalId": user.id.to_string(),
                "principalType": "User",
                "resourceDisplayName": &*a.resource_name,
                "resourceId": a.resource_id.to_string(),
            })
        })
        .collect();
    Ok(list(
        cx,
        &format!("users('{key}')/appRoleAssignments"),
        value,
    ))
}

/// DELETE /users/{id}/appRoleAssignments/{assignment id}: 204, or 404.
pub(crate) fn delete_app_role(cx: &Cx<'_>, key: &str, assignment: &str) -> Result<Resp, Resp> {
    cx.require(WRITE_APP_ROLES)?;
    let idx = user_index(cx, key)?;
    let mut t = cx.write();
    let access = t.access.entry(idx).or_default();
    let before = access.app_roles.len();
    access.app_roles.retain(|a| a.id != assignment);
    if access.app_roles.len() == before {
        return Err(http::not_found(cx.ids, assignment));
    }
    Ok(Resp::empty(StatusCode::NO_CONTENT))
}

/// GET /users/{id}/oauth2PermissionGrants: the delegated grants with the user as principal.
pub(crate) fn grants(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(READ_GRANTS)?;
    unsupported_options(cx)?;
    let idx = user_index(cx, key)?;
    let t = cx.read();
    let user = &t.users[idx as usize];
    let value = t
        .access
        .get(&idx)
        .map(|a| a.grants.as_slice())
        .unwrap_or(&[])
        .iter()
        .map(|g| {
            json!({
                "id": g.id,
                "clientId": g.client_id.to_string(),
                "consentType": "Principal",
                "principalId": user.id.to_string(),
                "resourceId": g.resource_id.to_string(),
                "scope": &*g.scope,
            })
        })
        .collect();
    Ok(list(cx, "oauth2PermissionGrants", value))
}

/// DELETE /oauth2PermissionGrants/{id}: 204, or 404.
pub(crate) fn delete_grant(cx: &Cx<'_>, grant: &str) -> Result<Resp, Resp> {
    cx.require(WRITE_GRANTS)?;
    let mut t = cx.write();
    let found = t.access.values_mut().any(|a| {
        let before = a.grants.len();
        a.grants.retain(|g| g.id != grant);
        a.grants.len() != before
    });
    if found {
        Ok(Resp::empty(StatusCode::NO_CONTENT))
    } else {
        Err(http::not_found(cx.ids, grant))
    }
}

/// The mailbox of a live user, or Exchange's 404 for an account without one (a guest, or no
/// e-mail address).
fn mailbox(cx: &Cx<'_>, key: &str) -> Result<u32, Resp> {
    let idx = user_index(cx, key)?;
    let t = cx.read();
    let user = &t.users[idx as usize];
    if user.guest || user.mail.is_none() {
        return Err(http::error(
            cx.ids,
            StatusCode::NOT_FOUND,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        ));
    }
    Ok(idx)
}

fn reply_json(reply: &AutoReply) -> Value {
    let when = |at: &Option<(String, String)>| match at {
        Some((date_time, zone)) => json!({ "dateTime": date_time, "timeZone": zone }),
        None => Value::Null,
    };
    json!({
        "status": reply.status,
        "externalAudience": reply.external_audience,
        "internalReplyMessage": reply.internal_message,
        "externalReplyMessage": reply.external_message,
        "scheduledStartDateTime": when(&reply.scheduled_start),
        "scheduledEndDateTime": when(&reply.scheduled_end),
    })
}

fn settings_json(cx: &Cx<'_>, key: &str, reply: &AutoReply) -> Value {
    json!({
        "@odata.context": cx.context(&format!("users('{key}')/mailboxSettings")),
        "archiveFolder": "AAMkAGI2",
        "timeZone": "UTC",
        "automaticRepliesSetting": reply_json(reply),
        "language": { "locale": "en-US", "displayName": "English (United States)" },
        "dateFormat": "M/d/yyyy",
        "timeFormat": "h:mm tt",
        "userPurpose": "user",
    })
}

/// GET /users/{id}/mailboxSettings
pub(crate) fn mailbox_settings(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(READ_MAILBOX)?;
    unsupported_options(cx)?;
    let idx = mailbox(cx, key)?;
    let t = cx.read();
    let reply = t
        .access
        .get(&idx)
        .and_then(|a| a.auto_reply.clone())
        .unwrap_or_default();
    Ok(Resp::value(StatusCode::OK, &settings_json(cx, key, &reply)))
}

/// PATCH /users/{id}/mailboxSettings: 200 with the settings. Unknown properties, enum values
/// Exchange does not know and a `scheduled` reply without both times are refused.
pub(crate) fn patch_mailbox_settings(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(WRITE_MAILBOX)?;
    let idx = mailbox(cx, key)?;
    let body = match serde_json::from_slice::<Value>(cx.body) {
        Ok(Value::Object(m)) => m,
        _ => return Err(invalid(cx, "Unable to read JSON request payload.")),
    };
    for name in body.keys() {
        if READ_ONLY_MAILBOX_PROPS.contains(&name.as_str()) {
            return Err(invalid(
                cx,
                &format!(
                    "The property '{name}' of 'microsoft.graph.mailboxSettings' is read-only."
                ),
            ));
        }
        if !MAILBOX_PROPS.contains(&name.as_str()) {
            return Err(invalid(
                cx,
                &format!(
                    "The property '{name}' does not exist on type 'microsoft.graph.mailboxSettings'."
                ),
            ));
        }
    }
    let current = cx
        .read()
        .access
        .get(&idx)
        .and_then(|a| a.auto_reply.clone())
        .unwrap_or_default();
    let reply = match body.get("automaticRepliesSetting") {
        None => current,
        Some(Value::Object(fields)) => patched_reply(cx, current, fields)?,
        Some(_) => {
            return Err(invalid(
                cx,
                "automaticRepliesSetting must be an object of type microsoft.graph.automaticRepliesSetting.",
            ));
        }
    };
    cx.write().access.entry(idx).or_default().auto_reply = Some(reply.clone());
    Ok(Resp::value(StatusCode::OK, &settings_json(cx, key, &reply)))
}

fn invalid(cx: &Cx<'_>, message: &str) -> Resp {
    http::error(
        cx.ids,
        StatusCode::BAD_REQUEST,
        "ErrorInvalidRequest",
        message,
    )
}

fn patched_reply(
    cx: &Cx<'_>,
    mut reply: AutoReply,
    fields: &Map<String, Value>,
) -> Result<AutoReply, Resp> {
    for (name, value) in fields {
        let text = || {
            value.as_str().map(str::to_owned).ok_or_else(|| {
                invalid(
                    cx,
                    &format!(
                        "Cannot convert the literal '{value}' to the expected type of '{name}'."
                    ),
                )
            })
        };
        let one_of = |allowed: &[&str]| -> Result<String, Resp> {
            let given = text()?;
            if allowed.contains(&given.as_str()) {
                Ok(given)
            } else {
                Err(invalid(
                    cx,
                    &format!("Requested value '{given}' was not found for property '{name}'."),
                ))
            }
        };
        let at = || -> Result<Option<(String, String)>, Resp> {
            if value.is_null() {
                return Ok(None);
            }
            let date_time = value["dateTime"].as_str();
            let zone = value["timeZone"].as_str().unwrap_or("UTC");
            match date_time.filter(|d| {
                chrono::NaiveDateTime::parse_from_str(d, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
            }) {
                Some(d) => Ok(Some((d.to_owned(), zone.to_owned()))),
                None => Err(invalid(
                    cx,
                    &format!(
                        "{name} needs a dateTimeTimeZone with dateTime like 2026-12-24T00:00:00."
                    ),
                )),
            }
        };
        match name.as_str() {
            "status" => reply.status = one_of(&["disabled", "alwaysEnabled", "scheduled"])?,
            "externalAudience" => {
                reply.external_audience = one_of(&["none", "contactsOnly", "all"])?
            }
            "internalReplyMessage" => reply.internal_message = text()?,
            "externalReplyMessage" => reply.external_message = text()?,
            "scheduledStartDateTime" => reply.scheduled_start = at()?,
            "scheduledEndDateTime" => reply.scheduled_end = at()?,
            other => {
                return Err(invalid(
                    cx,
                    &format!(
                        "The property '{other}' does not exist on type 'microsoft.graph.automaticRepliesSetting'."
                    ),
                ));
            }
        }
    }
    if reply.status == "scheduled"
        && (reply.scheduled_start.is_none() || reply.scheduled_end.is_none())
    {
        return Err(invalid(
            cx,
            "A scheduled automatic reply needs scheduledStartDateTime and scheduledEndDateTime.",
        ));
    }
    Ok(reply)
}

/// A Temporary Access Pass as Graph lists it (the pass itself is never listed, only answered
/// once by the POST that creates it).
fn pass_fields(v: &mut Value, m: &AuthMethod) {
    let (start, lifetime, once) = m.pass.unwrap_or((m.created, 60, true));
    let now = chrono::Utc::now().timestamp();
    let end = start + i64::from(lifetime) * 60;
    let reason = if now < start {
        "NotYetValid"
    } else if now >= end {
        "Expired"
    } else {
        "EnabledByPolicy"
    };
    v["createdDateTime"] = json!(iso(m.created));
    v["startDateTime"] = json!(iso(start));
    v["isUsable"] = json!(reason == "EnabledByPolicy");
    v["isUsableOnce"] = json!(once);
    v["lifetimeInMinutes"] = json!(lifetime);
    v["methodUsabilityReason"] = json!(reason);
    v["temporaryAccessPass"] = Value::Null;
}

/// GET /users/{id}/authentication/temporaryAccessPassMethods
pub(crate) fn passes(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(READ_METHODS)?;
    let idx = user_index(cx, key)?;
    let t = cx.read();
    let value: Vec<Value> = t
        .access
        .get(&idx)
        .map(|a| a.methods.as_slice())
        .unwrap_or(&[])
        .iter()
        .filter(|m| m.kind == MethodKind::TemporaryAccessPass)
        .map(|m| {
            let mut v = json!({ "id": m.id });
            pass_fields(&mut v, m);
            v
        })
        .collect();
    Ok(list(
        cx,
        &format!("users('{key}')/authentication/temporaryAccessPassMethods"),
        value,
    ))
}

/// POST /users/{id}/authentication/temporaryAccessPassMethods: Graph's rules
/// [learn: graph/api/authentication-post-temporaryaccesspassmethods]: `lifetimeInMinutes` 10 to
/// 43,200 (default 60), `isUsableOnce` a boolean, `startDateTime` an ISO 8601 time; one pass per
/// user (a second is 400). 201 with the pass, which no later read shows.
pub(crate) fn create_pass(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(WRITE_METHODS)?;
    let body = match serde_json::from_slice::<Value>(cx.body) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(http::bad_request(
                cx.ids,
                "Unable to read JSON request payload.",
            ));
        }
    };
    let invalid = |prop: &str| {
        http::bad_request(
            cx.ids,
            &format!(
                "Invalid value specified for property '{prop}' of resource 'TemporaryAccessPassAuthenticationMethod'."
            ),
        )
    };
    if let Some(other) = body.keys().find(|k| {
        !matches!(
            k.as_str(),
            "lifetimeInMinutes" | "isUsableOnce" | "startDateTime"
        )
    }) {
        return Err(invalid(other));
    }
    let lifetime = match body.get("lifetimeInMinutes") {
        None => 60,
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (10..=43_200).contains(n))
            .ok_or_else(|| invalid("lifetimeInMinutes"))?,
    };
    let once = match body.get("isUsableOnce") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("isUsableOnce")),
    };
    let now = chrono::Utc::now().timestamp();
    let start = match body.get("startDateTime") {
        None | Some(Value::Null) => now,
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map_err(|_| invalid("startDateTime"))?
            .timestamp(),
        Some(_) => return Err(invalid("startDateTime")),
    };
    let idx = user_index(cx, key)?;
    let mut t = cx.write();
    let mut rng = fastrand::Rng::with_seed(t.rng.u64(..));
    let access = t.access.entry(idx).or_default();
    if access
        .methods
        .iter()
        .any(|m| m.kind == MethodKind::TemporaryAccessPass)
    {
        return Err(http::bad_request(
            cx.ids,
            "The user already has a Temporary Access Pass; delete it before creating another.",
        ));
    }
    let id = crate::state::new_id(&mut rng).to_string();
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let pass: String = (0..16)
        .map(|_| CHARS[rng.usize(..CHARS.len())] as char)
        .collect();
    let method = AuthMethod {
        id: id.clone(),
        kind: MethodKind::TemporaryAccessPass,
        label: std::sync::Arc::from("Temporary Access Pass"),
        created: now,
        pass: Some((start, lifetime, once)),
    };
    let mut v = json!({ "id": id });
    pass_fields(&mut v, &method);
    v["temporaryAccessPass"] = json!(pass);
    access.methods.push(method);
    v["@odata.context"] = json!(cx.context(&format!(
        "users('{key}')/authentication/temporaryAccessPassMethods/$entity"
    )));
    Ok(Resp::value(StatusCode::CREATED, &v))
}
