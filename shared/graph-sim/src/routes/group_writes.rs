//! POST /groups, PATCH /groups/{id}, DELETE /groups/{id}: group provisioning, with Graph's
//! documented rules [learn: graph/api/group-post-groups, group-update, group-delete,
//! resources/group]: the four required properties, the two kinds Graph creates (Microsoft 365:
//! `groupTypes: ["Unified"]`, mail-enabled; security: no type, security-enabled, not
//! mail-enabled), mail-enabled security groups and distribution lists refused, the
//! mailNickname's characters and 64 characters, displayName 256, description 1024, at most 20
//! `owners@odata.bind` (each an existing user), a Microsoft 365 group's address unique, and no
//! change to a group mastered on premises.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::http::{self, Resp};
use crate::props::{self, GROUP_DEFAULT, GROUP_PROPS, Selection};
use crate::routes::Cx;
use crate::routes::users::with_context;
use crate::state::{Group, GroupKind, Tenant, new_id};

/// Who may create, change and delete groups.
const WRITE_GROUPS: &[&str] = &["Group.ReadWrite.All", "Directory.ReadWrite.All"];
/// Create only (Group.Create is enough to create, not to change or delete).
const CREATE_GROUPS: &[&str] = &[
    "Group.Create",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
];
/// Owners and members bound in one POST /groups, together.
const MAX_BOUND: usize = 20;
/// The documented lengths of the group properties a request may set.
const MAX_LENGTH: &[(&str, usize)] = &[
    ("displayName", 256),
    ("description", 1024),
    ("mailNickname", 64),
];
/// The properties PATCH /groups/{id} takes here.
const PATCHABLE: &[&str] = &["displayName", "description"];
const ON_PREMISES: &str = "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn body(cx: &Cx<'_>) -> Result<Map<String, Value>, Resp> {
    match serde_json::from_slice::<Value>(cx.body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(http::bad_request(
            cx.ids,
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )),
    }
}

fn invalid(cx: &Cx<'_>, prop: &str) -> Resp {
    http::bad_request(
        cx.ids,
        &format!("Invalid value specified for property '{prop}' of resource 'Group'."),
    )
}

fn required(cx: &Cx<'_>, prop: &str) -> Resp {
    http::bad_request(
        cx.ids,
        &format!("A value is required for property '{prop}' of resource 'Group'."),
    )
}

/// A string property within its documented length; `Ok(None)` for null or empty.
fn text(cx: &Cx<'_>, prop: &str, v: &Value) -> Result<Option<Arc<str>>, Resp> {
    let s = match v {
        Value::Null => return Ok(None),
        Value::String(s) => s,
        _ => return Err(invalid(cx, prop)),
    };
    let max = MAX_LENGTH
        .iter()
        .find(|(p, _)| *p == prop)
        .map_or(usize::MAX, |(_, n)| *n);
    if s.chars().count() > max {
        return Err(invalid(cx, prop));
    }
    Ok((!s.trim().is_empty()).then(|| Arc::from(s.as_str())))
}

/// mailNickname: 1-64 of ASCII 0-127 except `@ ( ) \ [ ] " ; : < > ,`, space and controls.
fn nickname(cx: &Cx<'_>, v: Option<&Value>) -> Result<Arc<str>, Resp> {
    let nick = text(cx, "mailNickname", v.unwrap_or(&Value::Null))?
        .ok_or_else(|| required(cx, "mailNickname"))?;
    let allowed = nick
        .chars()
        .all(|c| c.is_ascii_graphic() && !"@()\\[]\";:<>,".contains(c));
    if allowed {
        Ok(nick)
    } else {
        Err(invalid(cx, "mailNickname"))
    }
}

fn flag(cx: &Cx<'_>, b: &Map<String, Value>, prop: &str) -> Result<bool, Resp> {
    match b.get(prop) {
        Some(Value::Bool(v)) => Ok(*v),
        None | Some(Value::Null) => Err(required(cx, prop)),
        Some(_) => Err(invalid(cx, prop)),
    }
}

/// The kind a POST /groups asks for, or Graph's refusal.
fn kind(cx: &Cx<'_>, b: &Map<String, Value>) -> Result<GroupKind, Resp> {
    let mail = flag(cx, b, "mailEnabled")?;
    let security = flag(cx, b, "securityEnabled")?;
    let types: Vec<&str> = match b.get("groupTypes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().ok_or_else(|| invalid(cx, "groupTypes")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid(cx, "groupTypes")),
    };
    if types
        .iter()
        .any(|t| !matches!(*t, "Unified" | "DynamicMembership"))
    {
        return Err(invalid(cx, "groupTypes"));
    }
    if types.contains(&"DynamicMembership") {
        // A dynamic group needs its membershipRule and membershipRuleProcessingState; this
        // simulator does not evaluate rules written by callers.
        return Err(http::bad_request(
            cx.ids,
            "The simulator does not create dynamic groups: a membershipRule it would have to evaluate is required.",
        ));
    }
    match (types.contains(&"Unified"), mail, security) {
        (true, true, _) => Ok(GroupKind::Unified),
        (true, false, _) => Err(invalid(cx, "mailEnabled")),
        (false, false, true) => Ok(GroupKind::Security),
        (false, true, _) => Err(http::bad_request(
            cx.ids,
            "The service does not currently support writes of mail-enabled groups. Please ensure that the mail-enablement property is unset or is set to false.",
        )),
        (false, false, false) => Err(invalid(cx, "securityEnabled")),
    }
}

/// The user indexes of `owners@odata.bind` (`…/users/{id}` or `…/directoryObjects/{id}`).
fn owners(cx: &Cx<'_>, t: &Tenant, b: &Map<String, Value>) -> Result<Vec<u32>, Resp> {
    let links = match b.get("owners@odata.bind") {
        None => return Ok(Vec::new()),
        Some(Value::Array(links)) => links,
        Some(_) => return Err(invalid(cx, "owners")),
    };
    let bound = links.len()
        + b.get("members@odata.bind")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
    if bound > MAX_BOUND {
        return Err(http::bad_request(
            cx.ids,
            "You can add up to 20 members and owners in one request when creating a group.",
        ));
    }
    let mut found = Vec::with_capacity(links.len());
    for link in links {
        let Some(link) = link.as_str() else {
            return Err(invalid(cx, "owners"));
        };
        let (collection, id) = link
            .trim_end_matches('/')
            .rsplit_once('/')
            .map(|(head, id)| (head.rsplit('/').next().unwrap_or_default(), id))
            .unwrap_or_default();
        if !matches!(collection, "users" | "directoryObjects") {
            return Err(http::bad_request(
                cx.ids,
                &format!("Invalid object identifier '{link}'."),
            ));
        }
        let user = t.find_user(id).ok_or_else(|| http::not_found(cx.ids, id))?;
        if !found.contains(&user) {
            found.push(user);
        }
    }
    Ok(found)
}

fn group_body(cx: &Cx<'_>, t: &Tenant, g: &Group) -> Vec<u8> {
    let sel = Selection::resolve(GROUP_PROPS, GROUP_DEFAULT.iter().copied())
        .unwrap_or(Selection(vec![0]));
    let mut out = Vec::with_capacity(1024);
    props::write_group(&mut out, t, g, &sel, false);
    with_context(cx, "groups/$entity", out)
}

/// POST /groups
pub(crate) fn create(cx: &Cx<'_>) -> Result<Resp, Resp> {
    cx.require(CREATE_GROUPS)?;
    let b = body(cx)?;
    let display_name = text(
        cx,
        "displayName",
        b.get("displayName").unwrap_or(&Value::Null),
    )?
    .ok_or_else(|| required(cx, "displayName"))?;
    let mail_nickname = nickname(cx, b.get("mailNickname"))?;
    let kind = kind(cx, &b)?;
    let description = match b.get("description") {
        Some(v) => text(cx, "description", v)?,
        None => None,
    };
    let mut t = cx.write();
    let owners = owners(cx, &t, &b)?;
    let mail = kind
        .is_unified()
        .then(|| format!("{mail_nickname}@{}", t.default_domain()));
    if let Some(mail) = &mail {
        let taken = t.groups.iter().any(|g| {
            g.deleted_at.is_none()
                && g.mail
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(mail))
        }) || t
            .users
            .iter()
            .any(|u| u.deleted_at.is_none() && u.upn.eq_ignore_ascii_case(mail));
        if taken {
            return Err(http::bad_request(
                cx.ids,
                "Another object with the same value for property proxyAddresses already exists.",
            ));
        }
    }
    let id = new_id(&mut t.rng);
    let seq = t.next_seq();
    let group = Group {
        id,
        display_name,
        description,
        mail_nickname,
        mail: mail.map(|m| Arc::from(m.as_str())),
        kind,
        membership_rule: None,
        visibility: kind.is_unified().then_some("Public"),
        on_prem: false,
        created: now(),
        licenses: Vec::new(),
        members: Vec::new(),
        owners,
        changed_seq: seq,
        deleted_at: None,
    };
    let index = u32::try_from(t.groups.len()).unwrap_or(u32::MAX);
    t.group_by_id.insert(id, index);
    t.groups.push(group);
    let created = &t.groups[index as usize];
    Ok(Resp::json(StatusCode::CREATED, group_body(cx, &t, created)))
}

/// PATCH /groups/{id}: displayName and description.
pub(crate) fn patch(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(WRITE_GROUPS)?;
    let b = body(cx)?;
    if let Some(other) = b.keys().find(|k| !PATCHABLE.contains(&k.as_str())) {
        return Err(http::bad_request(
            cx.ids,
            &format!(
                "Property '{other}' cannot be updated through this simulator's PATCH /groups/{{id}} (displayName, description)."
            ),
        ));
    }
    let display_name = match b.get("displayName") {
        Some(v) => Some(text(cx, "displayName", v)?.ok_or_else(|| invalid(cx, "displayName"))?),
        None => None,
    };
    let description = match b.get("description") {
        Some(v) => Some(text(cx, "description", v)?),
        None => None,
    };
    let mut t = cx.write();
    let g = t
        .find_group(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    if t.groups[g as usize].on_prem {
        return Err(http::bad_request(cx.ids, ON_PREMISES));
    }
    let seq = t.next_seq();
    let group = &mut t.groups[g as usize];
    if let Some(name) = display_name {
        group.display_name = name;
    }
    if let Some(description) = description {
        group.description = description;
    }
    group.changed_seq = seq;
    Ok(Resp::empty(StatusCode::NO_CONTENT))
}

/// DELETE /groups/{id}: its memberships end with it.
pub(crate) fn delete(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(WRITE_GROUPS)?;
    let mut t = cx.write();
    let g = t
        .find_group(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    if t.groups[g as usize].on_prem {
        return Err(http::bad_request(cx.ids, ON_PREMISES));
    }
    for member in t.groups[g as usize].members.clone() {
        t.remove_member(g, member);
    }
    let seq = t.next_seq();
    let id = t.groups[g as usize].id;
    t.group_by_id.remove(&id);
    let group = &mut t.groups[g as usize];
    group.owners.clear();
    group.deleted_at = Some(now());
    group.changed_seq = seq;
    Ok(Resp::empty(StatusCode::NO_CONTENT))
}
