//! The account's relations an offboarding must know about first: its manager and direct reports
//! (`/users/{id}/manager`, `/users/{id}/directReports`), the groups it owns
//! (`/users/{id}/ownedObjects`, `/groups/{id}/owners`), and the directory roles it holds
//! (`/users/{id}/memberOf/microsoft.graph.directoryRole`) [learn: graph/api/user-list-manager,
//! user-list-directreports, user-list-ownedobjects, group-list-owners, user-list-memberof].

use axum::http::StatusCode;

use crate::http::{self, Resp};
use crate::json;
use crate::props::{self, GROUP_DEFAULT, GROUP_PROPS, USER_DEFAULT, USER_PROPS};
use crate::routes::Cx;
use crate::routes::groups::READ_GROUPS;
use crate::routes::users::{
    READ_USERS, collection, page, selection, start_of, unsupported_options, with_context,
};
use crate::state::{DirectoryRole, Tenant};

/// The properties of `microsoft.graph.directoryRole`.
const ROLE_PROPS: [&str; 4] = ["id", "displayName", "description", "roleTemplateId"];

/// GET /users/{id}/manager: the manager as a user object; 404 when the user has none.
pub(crate) fn manager(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(READ_USERS)?;
    unsupported_options(cx)?;
    let t = cx.read();
    let idx = t
        .find_user(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    let manager = t.users[idx as usize]
        .manager
        .filter(|&m| t.users[m as usize].deleted_at.is_none())
        .ok_or_else(|| http::not_found(cx.ids, "manager"))?;
    let sel = selection(cx, USER_PROPS, USER_DEFAULT, "user")?;
    let mut out = Vec::with_capacity(1024);
    props::write_user(&mut out, &t, &t.users[manager as usize], &sel, true);
    Ok(Resp::json(
        StatusCode::OK,
        with_context(cx, "directoryObjects/$entity", out),
    ))
}

/// GET /users/{id}/directReports: the users whose manager the user is.
pub(crate) fn direct_reports(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(READ_USERS)?;
    unsupported_options(cx)?;
    let t = cx.read();
    let idx = t
        .find_user(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    let sel = selection(cx, USER_PROPS, USER_DEFAULT, "user")?;
    let reports = t.direct_reports(idx);
    users_page(cx, &t, &reports, &sel, "dr")
}

/// GET /groups/{id}/owners: the group's owners (users).
pub(crate) fn group_owners(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(READ_GROUPS)?;
    unsupported_options(cx)?;
    let t = cx.read();
    let gi = t
        .find_group(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    let sel = selection(cx, USER_PROPS, USER_DEFAULT, "user")?;
    let owners: Vec<u32> = t.groups[gi as usize]
        .owners
        .iter()
        .copied()
        .filter(|&o| t.users[o as usize].deleted_at.is_none())
        .collect();
    users_page(cx, &t, &owners, &sel, "go")
}

fn users_page(
    cx: &Cx<'_>,
    t: &Tenant,
    users: &[u32],
    sel: &props::Selection,
    kind: &str,
) -> Result<Resp, Resp> {
    let size = cx.page_size(999)?;
    let start = start_of(cx, kind)?;
    let (idx, next) = page(users.len(), start, size, |_| true);
    let count = (cx.q.count && cx.q.skiptoken.is_none()).then_some(users.len());
    Ok(collection(
        cx,
        "directoryObjects",
        count,
        next.map(|p| (kind, p)),
        idx.len(),
        |out, i| props::write_user(out, t, &t.users[users[idx[i]] as usize], sel, true),
    ))
}

/// GET /users/{id}/ownedObjects: the groups the user owns (each with `@odata.type`). Reading
/// them needs the group read permissions as well as the user ones.
pub(crate) fn owned_objects(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(READ_USERS)?;
    cx.require(READ_GROUPS)?;
    unsupported_options(cx)?;
    let t = cx.read();
    let idx = t
        .find_user(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    let sel = selection(cx, GROUP_PROPS, GROUP_DEFAULT, "group")?;
    let owned = t.owned_groups(idx);
    let size = cx.page_size(999)?;
    let start = start_of(cx, "oo")?;
    let (page_idx, next) = page(owned.len(), start, size, |_| true);
    let count = (cx.q.count && cx.q.skiptoken.is_none()).then_some(owned.len());
    Ok(collection(
        cx,
        "directoryObjects",
        count,
        next.map(|p| ("oo", p)),
        page_idx.len(),
        |out, i| props::write_group(out, &t, &t.groups[owned[page_idx[i]] as usize], &sel, true),
    ))
}

/// GET /users/{id}/memberOf/microsoft.graph.directoryRole: the directory roles the user holds.
pub(crate) fn member_of_roles(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(READ_USERS)?;
    unsupported_options(cx)?;
    let t = cx.read();
    let idx = t
        .find_user(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    let selected = role_selection(cx)?;
    let roles = t.roles_of(idx);
    let size = cx.page_size(999)?;
    let start = start_of(cx, "mr")?;
    let (page_idx, next) = page(roles.len(), start, size, |_| true);
    Ok(collection(
        cx,
        "directoryRoles",
        None,
        next.map(|p| ("mr", p)),
        page_idx.len(),
        |out, i| write_role(out, &t.roles[roles[page_idx[i]]], &selected),
    ))
}

/// The selected directoryRole properties (all without `$select`); 400 for one it does not have.
fn role_selection(cx: &Cx<'_>) -> Result<Vec<&'static str>, Resp> {
    let Some(names) = &cx.q.select else {
        return Ok(ROLE_PROPS.to_vec());
    };
    let mut out = vec!["id"];
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let Some(known) = ROLE_PROPS.iter().find(|p| p.eq_ignore_ascii_case(name)) else {
            return Err(http::bad_request(
                cx.ids,
                &format!(
                    "Could not find a property named '{name}' on type 'microsoft.graph.directoryRole'."
                ),
            ));
        };
        if !out.contains(known) {
            out.push(known);
        }
    }
    Ok(out)
}

/// Writes one directory role with `@odata.type` and the `selected` properties.
pub(crate) fn write_role(out: &mut Vec<u8>, role: &DirectoryRole, selected: &[&str]) {
    out.push(b'{');
    let mut first = true;
    json::key(out, &mut first, "@odata.type");
    json::str(out, "#microsoft.graph.directoryRole");
    for &name in ROLE_PROPS.iter().filter(|p| selected.contains(p)) {
        json::key(out, &mut first, name);
        match name {
            "id" => json::str(out, &role.id.to_string()),
            "displayName" => json::str(out, role.display_name),
            "description" => json::str(out, role.description),
            _ => json::str(out, role.role_template_id),
        }
    }
    out.push(b'}');
}

/// The directoryRole properties among the names of a `memberOf` selection made against group
/// properties (`id`, `displayName`, `description`): what Graph returns for a role listed there.
pub(crate) fn role_props_of_group_selection(selected_group_props: &[&str]) -> Vec<&'static str> {
    ROLE_PROPS
        .iter()
        .copied()
        .filter(|p| selected_group_props.contains(p))
        .collect()
}

/// Who may change a user's manager [learn: graph/api/user-post-manager, user-delete-manager].
const WRITE_MANAGER: &[&str] = &["User.ReadWrite.All", "Directory.ReadWrite.All"];

/// PUT /users/{id}/manager/$ref `{"@odata.id": ".../users/{manager id}"}`: 204. The manager must
/// be a live user of the tenant, and not the user itself.
pub(crate) fn set_manager(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(WRITE_MANAGER)?;
    let body: serde_json::Value = serde_json::from_slice(cx.body).map_err(|_| {
        http::bad_request(
            cx.ids,
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )
    })?;
    let Some(odata_id) = body.get("@odata.id").and_then(serde_json::Value::as_str) else {
        return Err(http::bad_request(
            cx.ids,
            "Invalid request body: '@odata.id' is required.",
        ));
    };
    let manager_key = odata_id
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let mut t = cx.write();
    let idx = t
        .find_user(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    let manager = t
        .find_user(manager_key)
        .ok_or_else(|| http::not_found(cx.ids, manager_key))?;
    if manager == idx {
        return Err(http::bad_request(
            cx.ids,
            "A user cannot be their own manager.",
        ));
    }
    let seq = t.next_seq();
    let user = &mut t.users[idx as usize];
    user.manager = Some(manager);
    user.changed_seq = seq;
    Ok(Resp::empty(StatusCode::NO_CONTENT))
}

/// DELETE /users/{id}/manager/$ref: 204; 404 when the user has no manager.
pub(crate) fn remove_manager(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(WRITE_MANAGER)?;
    let mut t = cx.write();
    let idx = t
        .find_user(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    if t.users[idx as usize].manager.is_none() {
        return Err(http::not_found(cx.ids, "manager"));
    }
    let seq = t.next_seq();
    let user = &mut t.users[idx as usize];
    user.manager = None;
    user.changed_seq = seq;
    Ok(Resp::empty(StatusCode::NO_CONTENT))
}
