//! Writes: create/patch/delete/restore users, revoke sessions, assign licenses, add/remove
//! group members. Validation and error texts follow Graph (graph-facts.md).

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::http::{self, Resp};
use crate::props::{self, Selection, USER_DEFAULT, USER_PROPS};
use crate::routes::Cx;
use crate::routes::users::with_context;
use crate::state::mutate::assignable;
use crate::state::{GroupKind, LicenseAssignment, Tenant, User, new_id};

const WRITE_USERS: &[&str] = &["User.ReadWrite.All", "Directory.ReadWrite.All"];
const WRITE_MEMBERS: &[&str] = &[
    "GroupMember.ReadWrite.All",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
];

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn body(cx: &Cx<'_>) -> Result<Map<String, Value>, Resp> {
    match serde_json::from_slice::<Value>(cx.body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(http::error(
            cx.ids,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )),
    }
}

fn invalid(cx: &Cx<'_>, prop: &str) -> Resp {
    http::bad_request(
        cx.ids,
        &format!("Invalid value specified for property '{prop}' of resource 'User'."),
    )
}

/// A 400 with one `details` entry naming the property, as Graph answers property errors.
fn property_error(cx: &Cx<'_>, code: &str, prop: &str, message: &str) -> Resp {
    let mut r = http::bad_request(cx.ids, message);
    if let Ok(mut v) = serde_json::from_slice::<Value>(&r.body) {
        v["error"]["details"] = json!([{ "code": code, "message": message, "target": prop }]);
        r.body = serde_json::to_vec(&v).unwrap_or_default();
    }
    r
}

/// Entra's password policy for cloud accounts [learn: entra/identity/authentication/
/// concept-password-policies]: 8-256 characters, only A-Z, a-z, 0-9, the ASCII symbols and
/// blank space (no Unicode), and three of upper case, lower case, digits, symbols.
fn strong_password(p: &str) -> bool {
    let classes = [
        p.chars().any(|c| c.is_ascii_uppercase()),
        p.chars().any(|c| c.is_ascii_lowercase()),
        p.chars().any(|c| c.is_ascii_digit()),
        p.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    (8..=256).contains(&p.chars().count())
        && p.chars().all(|c| matches!(c, ' '..='~'))
        && classes.iter().filter(|&&b| b).count() >= 3
}

fn weak_password(cx: &Cx<'_>) -> Resp {
    property_error(
        cx,
        "InvalidValue",
        "passwordProfile.password",
        "The specified password does not comply with password complexity requirements. Please provide a different password.",
    )
}

/// Entra's username policy [learn: entra/identity/authentication/concept-password-policies,
/// "Username policies"; learn: graph/api/resources/user, userPrincipalName]: at most 113
/// characters, 64 before the `@` and 48 after; the local part only A-Z, a-z, 0-9 and
/// `' . - _ ! # ^ ~`, and no `.` right before the `@`.
fn upn_shape(local: &str, domain: &str) -> bool {
    const LOCAL_ALLOWED: &str = "'.-_!#^~";
    !local.is_empty()
        && local.chars().count() <= 64
        && domain.chars().count() <= 48
        && local.chars().count() + 1 + domain.chars().count() <= 113
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || LOCAL_ALLOWED.contains(c))
        && !local.ends_with('.')
        && !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// Checks a UPN against the tenant: format, verified domain, uniqueness (except `own`).
fn check_upn(cx: &Cx<'_>, t: &Tenant, upn: &str, own: Option<u32>) -> Result<(), Resp> {
    let Some((local, domain)) = upn.rsplit_once('@') else {
        return Err(invalid(cx, "userPrincipalName"));
    };
    if !upn_shape(local, domain) {
        return Err(invalid(cx, "userPrincipalName"));
    }
    if !t.is_verified_domain(domain) {
        return Err(property_error(
            cx,
            "InvalidValue",
            "userPrincipalName",
            "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.",
        ));
    }
    if let Some(&other) = t.user_by_upn.get(&upn.to_lowercase())
        && Some(other) != own
    {
        return Err(property_error(
            cx,
            "ObjectConflict",
            "userPrincipalName",
            "Another object with the same value for property userPrincipalName already exists.",
        ));
    }
    Ok(())
}

/// Maximum lengths of the user's string properties the simulator stores, as documented on
/// the user resource [learn: graph/api/resources/user, "Properties"].
const MAX_LENGTH: &[(&str, usize)] = &[
    ("displayName", 256),
    ("givenName", 64),
    ("surname", 64),
    ("mailNickname", 64),
    ("jobTitle", 128),
    ("department", 64),
    ("officeLocation", 128),
    ("employeeId", 16),
    ("mobilePhone", 64),
    ("country", 128),
];

/// A string property: a JSON string within its documented length, or null (None). An empty
/// string clears the property as null does. Any other JSON type is refused.
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
        return Err(property_error(
            cx,
            "InvalidLength",
            prop,
            &format!("Invalid value specified for property '{prop}' of resource 'User'."),
        ));
    }
    Ok((!s.is_empty()).then(|| Arc::from(s.as_str())))
}

/// mailNickname: ASCII 0-127 except `@ ( ) \ [ ] " ; : < > ,`, space and control characters
/// [learn: graph/api/resources/group, mailNickname; Entra applies the same alias rule to users].
fn nickname_chars(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_graphic() && !"@()\\[]\";:<>,".contains(c))
}

fn usage_location(cx: &Cx<'_>, v: &Value) -> Result<Option<Arc<str>>, Resp> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.len() == 2 && s.chars().all(|c| c.is_ascii_alphabetic()) => {
            Ok(Some(Arc::from(s.to_ascii_uppercase().as_str())))
        }
        _ => Err(invalid(cx, "usageLocation")),
    }
}

/// Applies the simple string properties shared by POST and PATCH.
fn apply_props(cx: &Cx<'_>, u: &mut User, b: &Map<String, Value>) -> Result<(), Resp> {
    for (k, v) in b {
        match k.as_str() {
            // Required on create and "can't be cleared during updates".
            "displayName" => {
                u.display_name = text(cx, k, v)?.ok_or_else(|| invalid(cx, "displayName"))?
            }
            "givenName" => u.given_name = text(cx, k, v)?,
            "surname" => u.surname = text(cx, k, v)?,
            "jobTitle" => u.job_title = text(cx, k, v)?,
            "department" => u.department = text(cx, k, v)?,
            "officeLocation" => u.office_location = text(cx, k, v)?,
            "employeeId" => u.employee_id = text(cx, k, v)?,
            "mobilePhone" => u.mobile_phone = text(cx, k, v)?,
            "country" => u.country = text(cx, k, v)?,
            // "Although it's a string collection, only one number can be set for this property."
            "businessPhones" => {
                let phones = v.as_array().ok_or_else(|| invalid(cx, "businessPhones"))?;
                if phones.len() > 1 {
                    return Err(invalid(cx, "businessPhones"));
                }
                u.business_phone = match phones.first() {
                    Some(p) => text(cx, "businessPhones", p)?,
                    None => None,
                };
            }
            "mailNickname" => {
                let nick = text(cx, k, v)?.ok_or_else(|| invalid(cx, "mailNickname"))?;
                if !nickname_chars(&nick) {
                    return Err(invalid(cx, "mailNickname"));
                }
                u.mail_nickname = nick;
            }
            "usageLocation" => u.usage_location = usage_location(cx, v)?,
            "accountEnabled" => {
                u.account_enabled = v.as_bool().ok_or_else(|| invalid(cx, "accountEnabled"))?
            }
            "passwordProfile" => {
                let Some(profile) = v.as_object() else {
                    return Err(invalid(cx, "passwordProfile"));
                };
                let p = profile
                    .get("password")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(cx, "passwordProfile"))?;
                if !strong_password(p) {
                    return Err(weak_password(cx));
                }
                if profile
                    .get("forceChangePasswordNextSignIn")
                    .is_some_and(|f| !f.is_boolean() && !f.is_null())
                {
                    return Err(invalid(cx, "passwordProfile"));
                }
            }
            "userPrincipalName" | "@odata.type" => {}
            other if USER_PROPS.iter().any(|(n, _)| *n == other) => {}
            other => {
                return Err(http::bad_request(
                    cx.ids,
                    &format!("Property '{other}' does not exist on type 'microsoft.graph.user'."),
                ));
            }
        }
    }
    Ok(())
}

fn user_body(cx: &Cx<'_>, t: &Tenant, u: &User, context: &str) -> Vec<u8> {
    let sel = Selection::resolve(
        USER_PROPS,
        USER_DEFAULT
            .iter()
            .copied()
            .chain(["accountEnabled", "usageLocation"]),
    )
    .unwrap_or(Selection(vec![0]));
    let mut out = Vec::with_capacity(1024);
    props::write_user(&mut out, t, u, &sel, false);
    with_context(cx, context, out)
}

/// POST /users
pub(crate) fn create_user(cx: &Cx<'_>) -> Result<Resp, Resp> {
    cx.require(WRITE_USERS)?;
    let b = body(cx)?;
    for p in [
        "accountEnabled",
        "displayName",
        "mailNickname",
        "userPrincipalName",
        "passwordProfile",
    ] {
        if b.get(p).is_none_or(Value::is_null) {
            return Err(invalid(cx, p));
        }
    }
    let upn = b["userPrincipalName"]
        .as_str()
        .ok_or_else(|| invalid(cx, "userPrincipalName"))?
        .to_string();
    let mut t = cx.write();
    check_upn(cx, &t, &upn, None)?;
    let created = now();
    let id = new_id(&mut t.rng);
    let mut u = User {
        id,
        display_name: Arc::from(""),
        given_name: None,
        surname: None,
        upn: Arc::from(upn.as_str()),
        mail: None,
        mail_nickname: Arc::from(""),
        job_title: None,
        department: None,
        office_location: None,
        employee_id: None,
        mobile_phone: None,
        business_phone: None,
        usage_location: None,
        country: None,
        account_enabled: true,
        guest: false,
        on_prem: false,
        created,
        sessions_valid_from: created,
        licenses: Vec::new(),
        sign_in: None,
        deleted_at: None,
        changed_seq: 0,
        groups: Vec::new(),
        groups_before_delete: Vec::new(),
        manager: None,
    };
    apply_props(cx, &mut u, &b)?;
    u.changed_seq = t.next_seq();
    let idx = crate::state::generate::insert_user(&mut t, u);
    let u = &t.users[idx as usize];
    let location = format!(
        "{}/v1.0/directoryObjects/{}/microsoft.graph.user",
        cx.sim.origin, u.id
    );
    Ok(
        Resp::json(StatusCode::CREATED, user_body(cx, &t, u, "users/$entity"))
            .header("location", location),
    )
}

/// Properties an on-premises synced user keeps mastered in Active Directory.
const ON_PREM_MASTERED: &[&str] = &[
    "displayName",
    "givenName",
    "surname",
    "userPrincipalName",
    "mailNickname",
    "jobTitle",
    "department",
    "officeLocation",
    "employeeId",
    "mobilePhone",
    "businessPhones",
    "passwordProfile",
];

/// PATCH /users/{id}
pub(crate) fn patch_user(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    let b = body(cx)?;
    let only_enable = b.keys().all(|k| k == "accountEnabled");
    if !(cx.caller.has_any(WRITE_USERS)
        || only_enable && cx.caller.has_any(&["User.EnableDisableAccount.All"]))
    {
        return Err(http::denied(cx.ids));
    }
    let mut t = cx.write();
    let idx = t
        .find_user(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    if t.users[idx as usize].on_prem && b.keys().any(|k| ON_PREM_MASTERED.contains(&k.as_str())) {
        return Err(http::bad_request(
            cx.ids,
            "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.",
        ));
    }
    if let Some(upn) = b.get("userPrincipalName") {
        let upn = upn
            .as_str()
            .ok_or_else(|| invalid(cx, "userPrincipalName"))?;
        check_upn(cx, &t, upn, Some(idx))?;
    }
    // Validate on a copy so a bad property leaves the user unchanged.
    let mut copy = clone_user(&t.users[idx as usize]);
    apply_props(cx, &mut copy, &b)?;
    let seq = t.next_seq();
    if let Some(upn) = b.get("userPrincipalName").and_then(Value::as_str) {
        let old = t.users[idx as usize].upn.to_lowercase();
        t.user_by_upn.remove(&old);
        t.user_by_upn.insert(upn.to_lowercase(), idx);
        copy.upn = Arc::from(upn);
    }
    copy.changed_seq = seq;
    t.users[idx as usize] = copy;
    drop(t);
    cx.sim.count_patched(b.keys().cloned());
    Ok(Resp::empty(StatusCode::NO_CONTENT))
}

fn clone_user(u: &User) -> User {
    User {
        id: u.id,
        display_name: u.display_name.clone(),
        given_name: u.given_name.clone(),
        surname: u.surname.clone(),
        upn: u.upn.clone(),
        mail: u.mail.clone(),
        mail_nickname: u.mail_nickname.clone(),
        job_title: u.job_title.clone(),
        department: u.department.clone(),
        office_location: u.office_location.clone(),
        employee_id: u.employee_id.clone(),
        mobile_phone: u.mobile_phone.clone(),
        business_phone: u.business_phone.clone(),
        usage_location: u.usage_location.clone(),
        country: u.country.clone(),
        account_enabled: u.account_enabled,
        guest: u.guest,
        on_prem: u.on_prem,
        created: u.created,
        sessions_valid_from: u.sessions_valid_from,
        licenses: u.licenses.clone(),
        sign_in: u.sign_in,
        deleted_at: u.deleted_at,
        changed_seq: u.changed_seq,
        groups: u.groups.clone(),
        groups_before_delete: u.groups_before_delete.clone(),
        manager: u.manager,
    }
}

/// DELETE /users/{id}: soft delete into deletedItems.
pub(crate) fn delete_user(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(&[
        "User.DeleteRestore.All",
        "User.ReadWrite.All",
        "Directory.ReadWrite.All",
    ])?;
    let mut t = cx.write();
    let idx = t
        .find_user(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    t.soft_delete(idx, now());
    Ok(Resp::empty(StatusCode::NO_CONTENT))
}

/// POST /directory/deletedItems/{id}/restore
pub(crate) fn restore(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(&[
        "User.DeleteRestore.All",
        "User.ReadWrite.All",
        "Directory.ReadWrite.All",
    ])?;
    let mut t = cx.write();
    let idx = t
        .find_deleted_user(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    t.restore(idx);
    let sel =
        Selection::resolve(USER_PROPS, USER_DEFAULT.iter().copied()).unwrap_or(Selection(vec![0]));
    let mut out = Vec::with_capacity(1024);
    props::write_user(&mut out, &t, &t.users[idx as usize], &sel, true);
    Ok(Resp::json(
        StatusCode::OK,
        with_context(cx, "directoryObjects/$entity", out),
    ))
}

/// POST /users/{id}/revokeSignInSessions
pub(crate) fn revoke_sessions(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(&[
        "User.RevokeSessions.All",
        "User.ReadWrite.All",
        "Directory.ReadWrite.All",
    ])?;
    let mut t = cx.write();
    let idx = t
        .find_user(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    let seq = t.next_seq();
    let u = &mut t.users[idx as usize];
    u.sessions_valid_from = now();
    u.changed_seq = seq;
    let v = json!({"@odata.context": cx.context("Edm.Boolean"), "value": true});
    Ok(Resp::value(StatusCode::OK, &v))
}

/// POST /users/{id}/assignLicense
pub(crate) fn assign_license(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(&[
        "LicenseAssignment.ReadWrite.All",
        "User.ReadWrite.All",
        "Directory.ReadWrite.All",
    ])?;
    let b = body(cx)?;
    let missing: Vec<&str> = ["addLicenses", "removeLicenses"]
        .into_iter()
        .filter(|p| !b.get(*p).is_some_and(Value::is_array))
        .collect();
    if !missing.is_empty() {
        return Err(http::bad_request(
            cx.ids,
            &format!(
                "One or more parameters of the function import 'assignLicense' are missing from the request payload. The missing parameters are: {}.",
                missing.join(", ")
            ),
        ));
    }
    let mut t = cx.write();
    let idx = t
        .find_user(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    let mut add = Vec::new();
    for a in b["addLicenses"].as_array().into_iter().flatten() {
        let sku_id = a["skuId"].as_str().unwrap_or_default();
        let sku = t.sku_by_id(sku_id).ok_or_else(|| {
            http::bad_request(
                cx.ids,
                &format!("License {sku_id} does not correspond to a valid company License."),
            )
        })?;
        let disabled = disabled_plans(cx, &t, sku, &a["disabledPlans"])?;
        add.push((sku, disabled));
    }
    let mut remove = Vec::new();
    for r in b["removeLicenses"].as_array().into_iter().flatten() {
        let sku_id = r.as_str().unwrap_or_default();
        let sku = t.sku_by_id(sku_id).ok_or_else(|| {
            http::bad_request(
                cx.ids,
                &format!("License {sku_id} does not correspond to a valid company License."),
            )
        })?;
        remove.push(sku);
    }
    let u = &t.users[idx as usize];
    if !add.is_empty() && u.usage_location.is_none() {
        return Err(http::bad_request(
            cx.ids,
            "License assignment cannot be done for user with invalid usage location.",
        ));
    }
    for &s in &remove {
        let direct = u
            .licenses
            .iter()
            .any(|a| a.sku == s && a.by_group.is_none());
        if !direct && u.has_sku(s) {
            return Err(http::bad_request(
                cx.ids,
                "User license is inherited from a group membership and it cannot be removed directly from the user.",
            ));
        }
        if !direct {
            return Err(http::bad_request(
                cx.ids,
                "User does not have a corresponding license.",
            ));
        }
    }
    for &(s, _) in &add {
        let sku = &t.skus[s as usize];
        if !u.has_sku(s) && (sku.consumed >= sku.enabled || sku.capability_status != "Enabled") {
            return Err(http::bad_request(
                cx.ids,
                &format!(
                    "Subscription with SKU {} does not have any available licenses.",
                    sku.def.sku_id
                ),
            ));
        }
    }
    let before = u.licenses.clone();
    let seq = t.next_seq();
    let u = &mut t.users[idx as usize];
    u.licenses
        .retain(|a| !(a.by_group.is_none() && remove.contains(&a.sku)));
    for (s, disabled) in add {
        // Adding a SKU the account holds directly replaces its disabled plans, as Graph does.
        match u
            .licenses
            .iter_mut()
            .find(|a| a.sku == s && a.by_group.is_none())
        {
            Some(held) => held.disabled = disabled,
            None => u.licenses.push(LicenseAssignment {
                sku: s,
                by_group: None,
                disabled,
            }),
        }
    }
    t.recount_after_license_change(idx, &before, seq);
    let mailbox = t.users[idx as usize]
        .assigned_skus()
        .any(|s| t.skus[s as usize].def.plans.iter().any(|p| p.exchange));
    let u = &mut t.users[idx as usize];
    if mailbox && u.mail.is_none() {
        u.mail = Some(u.upn.clone());
    }
    u.changed_seq = seq;
    let u = &t.users[idx as usize];
    Ok(Resp::json(
        StatusCode::OK,
        user_body(cx, &t, u, "users/$entity"),
    ))
}

/// `disabledPlans` of one `addLicenses` entry as a bit set of the SKU's plans: each must be a
/// service plan id of that SKU (400 otherwise); absent or null is none.
fn disabled_plans(cx: &Cx<'_>, t: &Tenant, sku: u16, given: &Value) -> Result<u32, Resp> {
    let def = t.skus[sku as usize].def;
    let mut bits = 0u32;
    let ids = match given {
        Value::Null => return Ok(0),
        Value::Array(ids) => ids,
        _ => {
            return Err(http::bad_request(
                cx.ids,
                "Invalid value specified for property 'disabledPlans' of resource 'AssignedLicense'.",
            ));
        }
    };
    for id in ids {
        let id = id.as_str().unwrap_or_default();
        let Some(i) = def.plans.iter().position(|p| p.id.eq_ignore_ascii_case(id)) else {
            return Err(http::bad_request(
                cx.ids,
                &format!(
                    "The service plan {id} in disabledPlans is not part of the SKU {}.",
                    def.sku_id
                ),
            ));
        };
        bits |= 1 << i;
    }
    Ok(bits)
}

/// Checks that a group's membership can be edited directly.
fn editable_group(cx: &Cx<'_>, t: &Tenant, g: u32) -> Result<(), Resp> {
    if assignable(t, g) {
        return Ok(());
    }
    let grp = &t.groups[g as usize];
    let msg = match grp.kind {
        GroupKind::DynamicSecurity | GroupKind::DynamicUnified => {
            "Insufficient privileges to complete the operation. The group has a dynamic membership rule; members cannot be added or removed directly."
        }
        GroupKind::MailEnabledSecurity | GroupKind::Distribution => {
            "Cannot Update a mail-enabled security groups and or distribution list."
        }
        _ => {
            "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration."
        }
    };
    Err(http::bad_request(cx.ids, msg))
}

/// POST /groups/{id}/members/$ref
pub(crate) fn add_member(cx: &Cx<'_>, key: &str) -> Result<Resp, Resp> {
    cx.require(WRITE_MEMBERS)?;
    let b = body(cx)?;
    let Some(odata_id) = b.get("@odata.id").and_then(Value::as_str) else {
        return Err(http::bad_request(
            cx.ids,
            "Invalid request body: '@odata.id' is required.",
        ));
    };
    let member = odata_id
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let mut t = cx.write();
    let g = t
        .find_group(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    let u = t
        .find_user(member)
        .ok_or_else(|| http::not_found(cx.ids, member))?;
    editable_group(cx, &t, g)?;
    if !t.add_member(g, u) {
        return Err(http::bad_request(
            cx.ids,
            "One or more added object references already exist for the following modified properties: 'members'.",
        ));
    }
    Ok(Resp::empty(StatusCode::NO_CONTENT))
}

/// DELETE /groups/{id}/members/{id}/$ref
pub(crate) fn remove_member(cx: &Cx<'_>, key: &str, member: &str) -> Result<Resp, Resp> {
    cx.require(WRITE_MEMBERS)?;
    let mut t = cx.write();
    let g = t
        .find_group(key)
        .ok_or_else(|| http::not_found(cx.ids, key))?;
    let u = t
        .find_user(member)
        .ok_or_else(|| http::not_found(cx.ids, member))?;
    editable_group(cx, &t, g)?;
    if !t.remove_member(g, u) {
        return Err(http::not_found(cx.ids, member));
    }
    Ok(Resp::empty(StatusCode::NO_CONTENT))
}
