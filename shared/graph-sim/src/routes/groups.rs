//! GET /groups, /groups/{id}, /groups/{id}/members.

use axum::http::StatusCode;

use crate::http::{self, Resp};
use crate::odata::{Field, Filter};
use crate::props::{self, GROUP_DEFAULT, GROUP_PROPS, USER_DEFAULT, USER_PROPS};
use crate::routes::Cx;
use crate::routes::users::{
    collection, filter, page, selection, start_of, unsupported_options, with_context,
};
use crate::state::{Group, GroupKind};

pub(crate) const READ_GROUPS: &[&str] = &[
    "Group.Read.All",
    "GroupMember.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

fn group_field<'a>(g: &'a Group, p: &str) -> Field<'a> {
    match p {
        "id" => Field::Owned(g.id.to_string()),
        "displayName" => Field::Str(Some(&g.display_name)),
        "mail" => Field::Str(g.mail.as_deref()),
        "mailNickname" => Field::Str(Some(&g.mail_nickname)),
        "mailEnabled" => Field::Bool(Some(g.kind.mail_enabled())),
        "securityEnabled" => Field::Bool(Some(g.kind.security_enabled())),
        "onPremisesSyncEnabled" => Field::Bool(g.on_prem.then_some(true)),
        "membershipRule" => Field::Str(g.membership_rule.as_deref()),
        "groupTypes" => Field::List(match g.kind {
            GroupKind::Unified => vec!["Unified"],
            GroupKind::DynamicUnified => vec!["Unified", "DynamicMembership"],
            GroupKind::DynamicSecurity => vec!["DynamicMembership"],
            _ => vec![],
        }),
        _ => Field::Unknown,
    }
}

fn group_matches(g: &Group, f: &Filter) -> bool {
    f.matches(|p| group_field(g, p))
}

/// GET /groups
pub(crate) fn list(cx: &Cx<'_>) -> Result<Resp, Resp> {
    cx.require(READ_GROUPS)?;
    unsupported_options(cx)?;
    let t = cx.read();
    let sel = selection(cx, GROUP_PROPS, GROUP_DEFAULT, "group")?;
    let f = filter(cx, GROUP_PROPS, "group")?;
    let size = cx.page_size(999)?;
    let start = start_of(cx, "g")?;
    let keep = |i: usize| {
        t.groups[i].deleted_at.is_none()
            && f.as_ref().is_none_or(|f| group_matches(&t.groups[i], f))
    };
    let count = (cx.q.count && cx.q.skiptoken.is_none())
        .then(|| (0..t.groups.len()).filter(|&i| keep(i)).count());
    let (idx, next) = page(t.groups.len(), start, size, keep);
    Ok(collection(
        cx,
        "groups",
        count,
        next.map(|p| ("g", p)),
        idx.len(),
        |out, i| props::write_group(out, &t, &t.groups[idx[i]], &sel, false),
    ))
}

/// GET /groups/$count
pub(crate) fn count(cx: &Cx<'_>) -> Result<Resp, Resp> {
    cx.require(READ_GROUPS)?;
    if !cx.eventual() {
        return Err(http::bad_request(
            cx.ids,
            "$count is not currently supported without the header 'ConsistencyLevel: eventual'.",
        ));
    }
    let t = cx.read();
    let f = filter(cx, GROUP_PROPS, "group")?;
    let n = t
        .groups
        .iter()
        .filter(|g| g.deleted_at.is_none() && f.as_ref().is_none_or(|f| group_matches(g, f)))
        .count();
    let mut r = Resp::json(StatusCode::OK, n.to_string().into_bytes());
    r.content_type = Some("text/plain");
    Ok(r)
}

/// GET /groups/{id}
pub(crate) fn get(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(READ_GROUPS)?;
    let t = cx.read();
    let sel = selection(cx, GROUP_PROPS, GROUP_DEFAULT, "group")?;
    let idx = t
        .find_group(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    let mut out = Vec::with_capacity(2048);
    props::write_group(&mut out, &t, &t.groups[idx as usize], &sel, false);
    Ok(Resp::json(
        StatusCode::OK,
        with_context(cx, "groups/$entity", out),
    ))
}

/// GET /groups/{id}/members (users, each with `@odata.type`; `$select` on user properties)
pub(crate) fn members(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(READ_GROUPS)?;
    unsupported_options(cx)?;
    let t = cx.read();
    let gi = t
        .find_group(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    let sel = selection(cx, USER_PROPS, USER_DEFAULT, "user")?;
    crate::routes::users::collection_select(cx, cx.q.select.as_deref())?;
    if sel.has(USER_PROPS, "signInActivity") {
        crate::routes::users::check_sign_in(cx, &t)?;
    }
    let size = cx.page_size(999)?;
    let members = &t.groups[gi as usize].members;
    let start = start_of(cx, "gm")?;
    let (idx, next) = page(members.len(), start, size, |_| true);
    let count = (cx.q.count && cx.q.skiptoken.is_none()).then_some(members.len());
    Ok(collection(
        cx,
        "directoryObjects",
        count,
        next.map(|p| ("gm", p)),
        idx.len(),
        |out, i| {
            let u = &t.users[members[idx[i]] as usize];
            props::write_user(out, &t, u, &sel, true)
        },
    ))
}
