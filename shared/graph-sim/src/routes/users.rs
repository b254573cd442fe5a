//! GET /users, /users/{id|upn}, licenseDetails, memberOf, and deleted users.

use axum::http::StatusCode;

use crate::http::{self, Resp};
use crate::json;
use crate::odata::{Field, Filter, decode_token, encode_token};
use crate::props::{self, GROUP_PROPS, Selection, USER_DEFAULT, USER_PROPS};
use crate::routes::Cx;
use crate::state::{Tenant, User};

pub(crate) const READ_USERS: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// Resolves `$select` against a property table (or the default list).
pub(crate) fn selection(
    cx: &Cx<'_>,
    table: &[(&str, props::Empty)],
    default: &[&str],
    type_name: &str,
) -> Result<Selection, Resp> {
    let res = match &cx.q.select {
        Some(names) => Selection::resolve(table, names.iter().map(String::as_str)),
        None => Selection::resolve(table, default.iter().copied()),
    };
    res.map_err(|p| {
        http::bad_request(
            cx.ids,
            &format!(
                "Could not find a property named '{p}' on type 'microsoft.graph.{type_name}'."
            ),
        )
    })
}

/// Parses `$filter` and checks that it names properties of the type, and that an operator
/// only advanced queries support (`ne`) comes with `ConsistencyLevel: eventual` and
/// `$count=true` [learn: graph/aad-advanced-queries].
pub(crate) fn filter(
    cx: &Cx<'_>,
    table: &[(&str, props::Empty)],
    type_name: &str,
) -> Result<Option<Filter>, Resp> {
    let Some(raw) = &cx.q.filter else {
        return Ok(None);
    };
    let f = Filter::parse(raw).ok_or_else(|| {
        http::error(
            cx.ids,
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "Unsupported Query.",
        )
    })?;
    for p in f.props() {
        if !table.iter().any(|(n, _)| *n == p) {
            return Err(http::bad_request(
                cx.ids,
                &format!(
                    "Could not find a property named '{p}' on type 'microsoft.graph.{type_name}'."
                ),
            ));
        }
    }
    if crate::odata::Query::filter_needs_advanced(&f) && !(cx.eventual() && cx.q.count) {
        return Err(http::error(
            cx.ids,
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "Unsupported or invalid query filter clause specified: the 'ne' operator needs the header 'ConsistencyLevel: eventual' and $count=true.",
        ));
    }
    Ok(Some(f))
}

/// Properties Graph returns only when one user is read, never in a collection; selecting one
/// on a list answers 501 [learn: graph/api/user-list, "Optional query parameters"].
const SINGLE_USER_ONLY: &[&str] = &[
    "aboutMe",
    "birthday",
    "hireDate",
    "interests",
    "mySite",
    "pastProjects",
    "preferredName",
    "responsibilities",
    "schools",
    "skills",
    "mailboxSettings",
];

/// Refuses a `$select` of a user collection that names a single-user-only property.
pub(crate) fn collection_select(cx: &Cx<'_>, names: Option<&[String]>) -> Result<(), Resp> {
    let Some(p) = names.into_iter().flatten().find(|n| {
        SINGLE_USER_ONLY
            .iter()
            .any(|s| s.eq_ignore_ascii_case(n.trim()))
    }) else {
        return Ok(());
    };
    Err(http::error(
        cx.ids,
        StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        &format!("The property '{p}' can only be read on a single user, not on a collection."),
    ))
}

/// `$top` on a user list that selects `signInActivity`: Graph serves at most 120 per page and
/// answers a larger `$top` with pages of 120 [learn: graph/api/user-list, note on signInActivity].
const MAX_PAGE_SIGN_IN: usize = 120;

/// Rejects query options the simulator does not implement rather than ignoring them.
pub(crate) fn unsupported_options(cx: &Cx<'_>) -> Result<(), Resp> {
    if cx.q.search.is_some() && !cx.eventual() {
        return Err(http::bad_request(
            cx.ids,
            "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
        ));
    }
    if cx.q.search.is_some() || cx.q.orderby.is_some() || cx.q.expand.is_some() {
        return Err(http::error(
            cx.ids,
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "The simulator supports $select, $filter (eq, ne, in, startswith, any), $top, $count.",
        ));
    }
    if cx.q.count && !cx.eventual() {
        return Err(http::bad_request(
            cx.ids,
            "$count is not currently supported without the header 'ConsistencyLevel: eventual'.",
        ));
    }
    Ok(())
}

/// A user's value for `$filter`.
pub(crate) fn user_field<'a>(u: &'a User, p: &str) -> Field<'a> {
    match p {
        "id" => Field::Owned(u.id.to_string()),
        "userPrincipalName" => Field::Str(Some(&u.upn)),
        "mail" => Field::Str(u.mail.as_deref()),
        "displayName" => Field::Str(Some(&u.display_name)),
        "givenName" => Field::Str(u.given_name.as_deref()),
        "surname" => Field::Str(u.surname.as_deref()),
        "mailNickname" => Field::Str(Some(&u.mail_nickname)),
        "department" => Field::Str(u.department.as_deref()),
        "jobTitle" => Field::Str(u.job_title.as_deref()),
        "usageLocation" => Field::Str(u.usage_location.as_deref()),
        "userType" => Field::Str(Some(if u.guest { "Guest" } else { "Member" })),
        "accountEnabled" => Field::Bool(Some(u.account_enabled)),
        "onPremisesSyncEnabled" => Field::Bool(u.on_prem.then_some(true)),
        _ => Field::Unknown,
    }
}

fn user_matches(u: &User, f: &Filter) -> bool {
    f.matches(|p| user_field(u, p))
}

/// Collects up to `size` indexes from `start` that satisfy `keep`; `next` is where the
/// following page starts, only when another match exists (no empty trailing page).
pub(crate) fn page(
    len: usize,
    start: usize,
    size: usize,
    keep: impl Fn(usize) -> bool,
) -> (Vec<usize>, Option<usize>) {
    let mut out = Vec::with_capacity(size.min(len));
    let mut i = start;
    while i < len && out.len() < size {
        if keep(i) {
            out.push(i);
        }
        i += 1;
    }
    let more = (i..len).any(&keep);
    (out, more.then_some(i))
}

/// Reads a list skiptoken of the given kind into a position.
pub(crate) fn start_of(cx: &Cx<'_>, kind: &str) -> Result<usize, Resp> {
    let Some(tok) = &cx.q.skiptoken else {
        return Ok(0);
    };
    decode_token(tok)
        .filter(|p| p.len() == 2 && p[0] == kind)
        .and_then(|p| p[1].parse().ok())
        .ok_or_else(|| http::bad_request(cx.ids, "The skip token is not valid."))
}

/// Writes `{"@odata.context","@odata.count"?,"@odata.nextLink"?,"value":[...]}`.
pub(crate) fn collection(
    cx: &Cx<'_>,
    context: &str,
    count: Option<usize>,
    next: Option<(&str, usize)>,
    n: usize,
    mut item: impl FnMut(&mut Vec<u8>, usize),
) -> Resp {
    let mut out = Vec::with_capacity(64 + n * 400);
    out.extend_from_slice(b"{\"@odata.context\":");
    json::str(&mut out, &cx.context(context));
    if let Some(c) = count {
        out.extend_from_slice(b",\"@odata.count\":");
        json::int(&mut out, c as i64);
    }
    if let Some((kind, pos)) = next {
        let tok = encode_token(&[kind, &pos.to_string()]);
        out.extend_from_slice(b",\"@odata.nextLink\":");
        json::str(&mut out, &cx.link(&cx.q.next_query(&tok)));
    }
    out.extend_from_slice(b",\"value\":[");
    for i in 0..n {
        if i > 0 {
            out.push(b',');
        }
        item(&mut out, i);
    }
    out.extend_from_slice(b"]}");
    Resp::json(StatusCode::OK, out)
}

/// Checks the P1 licence and AuditLog.Read.All that `signInActivity` needs.
pub(crate) fn check_sign_in(cx: &Cx<'_>, t: &Tenant) -> Result<(), Resp> {
    if !t.has_p1 {
        return Err(http::error(
            cx.ids,
            StatusCode::FORBIDDEN,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Neither tenant is B2C or tenant doesn't have premium license",
        ));
    }
    cx.require(&["AuditLog.Read.All"])
}

/// GET /users
pub(crate) fn list(cx: &Cx<'_>) -> Result<Resp, Resp> {
    cx.require(READ_USERS)?;
    unsupported_options(cx)?;
    let t = cx.read();
    let sel = selection(cx, USER_PROPS, USER_DEFAULT, "user")?;
    let f = filter(cx, USER_PROPS, "user")?;
    collection_select(cx, cx.q.select.as_deref())?;
    let sign_in = sel.has(USER_PROPS, "signInActivity");
    if sign_in {
        check_sign_in(cx, &t)?;
    }
    let size = cx.page_size(999)?;
    let size = if sign_in {
        size.min(MAX_PAGE_SIGN_IN)
    } else {
        size
    };
    let start = start_of(cx, "u")?;
    let keep = |i: usize| {
        let u = &t.users[i];
        u.deleted_at.is_none() && f.as_ref().is_none_or(|f| user_matches(u, f))
    };
    let count = (cx.q.count && cx.q.skiptoken.is_none())
        .then(|| (0..t.users.len()).filter(|&i| keep(i)).count());
    let (idx, next) = page(t.users.len(), start, size, keep);
    Ok(collection(
        cx,
        "users",
        count,
        next.map(|p| ("u", p)),
        idx.len(),
        |out, i| props::write_user(out, &t, &t.users[idx[i]], &sel, false),
    ))
}

/// GET /users/$count (text/plain, needs ConsistencyLevel: eventual)
pub(crate) fn count(cx: &Cx<'_>) -> Result<Resp, Resp> {
    cx.require(READ_USERS)?;
    if !cx.eventual() {
        return Err(http::bad_request(
            cx.ids,
            "$count is not currently supported without the header 'ConsistencyLevel: eventual'.",
        ));
    }
    let t = cx.read();
    let f = filter(cx, USER_PROPS, "user")?;
    let n = t
        .users
        .iter()
        .filter(|u| u.deleted_at.is_none() && f.as_ref().is_none_or(|f| user_matches(u, f)))
        .count();
    let mut r = Resp::json(StatusCode::OK, n.to_string().into_bytes());
    r.content_type = Some("text/plain");
    Ok(r)
}

/// GET /users/{id | userPrincipalName}
pub(crate) fn get(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(READ_USERS)?;
    let t = cx.read();
    let sel = selection(cx, USER_PROPS, USER_DEFAULT, "user")?;
    if sel.has(USER_PROPS, "signInActivity") {
        check_sign_in(cx, &t)?;
    }
    let idx = t
        .find_user(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    let mut out = Vec::with_capacity(1024);
    props::write_user(&mut out, &t, &t.users[idx as usize], &sel, false);
    Ok(Resp::json(
        StatusCode::OK,
        with_context(cx, "users/$entity", out),
    ))
}

/// Inserts `"@odata.context"` at the start of an object already written.
pub(crate) fn with_context(cx: &Cx<'_>, context: &str, obj: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(obj.len() + 96);
    out.extend_from_slice(b"{\"@odata.context\":");
    json::str(&mut out, &cx.context(context));
    if obj.len() > 2 {
        out.push(b',');
    }
    out.extend_from_slice(obj.get(1..).unwrap_or_default());
    out
}

/// GET /users/{id}/licenseDetails
pub(crate) fn license_details(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(READ_USERS)?;
    let t = cx.read();
    let idx = t
        .find_user(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    let u = &t.users[idx as usize];
    let skus: Vec<u16> = u.assigned_skus().collect();
    let id_b64 = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(u.id.as_bytes())
    };
    Ok(collection(
        cx,
        "users('id')/licenseDetails",
        None,
        None,
        skus.len(),
        |out, i| {
            let sku = &t.skus[skus[i] as usize];
            out.extend_from_slice(b"{\"id\":");
            json::str(out, &format!("{id_b64}{}", sku.def.sku_id.replace('-', "")));
            out.extend_from_slice(b",\"skuId\":");
            json::str(out, sku.def.sku_id);
            out.extend_from_slice(b",\"skuPartNumber\":");
            json::str(out, sku.def.part_number);
            out.extend_from_slice(b",\"servicePlans\":[");
            for (n, p) in sku.def.plans.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"appliesTo\":\"User\",\"provisioningStatus\":\"Success\",\"servicePlanId\":");
                json::str(out, p.id);
                out.extend_from_slice(b",\"servicePlanName\":");
                json::str(out, p.name);
                out.push(b'}');
            }
            out.extend_from_slice(b"]}");
        },
    ))
}

/// GET /users/{id}/memberOf (groups, each with `@odata.type`)
pub(crate) fn member_of(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(READ_USERS)?;
    unsupported_options(cx)?;
    let t = cx.read();
    let idx = t
        .find_user(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    let sel = selection(cx, GROUP_PROPS, props::GROUP_DEFAULT, "group")?;
    let size = cx.page_size(999)?;
    // Groups first, then the directory roles the user holds (with the selected properties a
    // role has: id, displayName, description).
    let groups = &t.users[idx as usize].groups;
    let roles = t.roles_of(idx);
    let selected: Vec<&str> = sel.0.iter().map(|&i| GROUP_PROPS[i].0).collect();
    let role_props = crate::routes::relations::role_props_of_group_selection(&selected);
    let total = groups.len() + roles.len();
    let start = start_of(cx, "m")?;
    let (page_idx, next) = page(total, start, size, |_| true);
    let count = (cx.q.count && cx.q.skiptoken.is_none()).then_some(total);
    Ok(collection(
        cx,
        "directoryObjects",
        count,
        next.map(|p| ("m", p)),
        page_idx.len(),
        |out, i| match groups.get(page_idx[i]) {
            Some(&g) => props::write_group(out, &t, &t.groups[g as usize], &sel, true),
            None => crate::routes::relations::write_role(
                out,
                &t.roles[roles[page_idx[i] - groups.len()]],
                &role_props,
            ),
        },
    ))
}

/// GET /directory/deletedItems/microsoft.graph.user
pub(crate) fn deleted(cx: &Cx<'_>) -> Result<Resp, Resp> {
    cx.require(READ_USERS)?;
    unsupported_options(cx)?;
    let t = cx.read();
    let mut default: Vec<&str> = USER_DEFAULT.to_vec();
    default.push("deletedDateTime");
    let sel = selection(cx, USER_PROPS, &default, "user")?;
    collection_select(cx, cx.q.select.as_deref())?;
    let size = cx.page_size(999)?;
    let start = start_of(cx, "d")?;
    let keep = |i: usize| t.users[i].deleted_at.is_some();
    let count = (cx.q.count && cx.q.skiptoken.is_none())
        .then(|| t.users.iter().filter(|u| u.deleted_at.is_some()).count());
    let (idx, next) = page(t.users.len(), start, size, keep);
    Ok(collection(
        cx,
        "directoryObjects/microsoft.graph.user",
        count,
        next.map(|p| ("d", p)),
        idx.len(),
        |out, i| props::write_user(out, &t, &t.users[idx[i]], &sel, true),
    ))
}

/// GET /directory/deletedItems/{id}
pub(crate) fn deleted_item(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(READ_USERS)?;
    let t = cx.read();
    let idx = t
        .find_deleted_user(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    let mut default: Vec<&str> = USER_DEFAULT.to_vec();
    default.push("deletedDateTime");
    let sel = selection(cx, USER_PROPS, &default, "user")?;
    let mut out = Vec::with_capacity(1024);
    props::write_user(&mut out, &t, &t.users[idx as usize], &sel, true);
    Ok(Resp::json(
        StatusCode::OK,
        with_context(cx, "directoryObjects/$entity", out),
    ))
}
