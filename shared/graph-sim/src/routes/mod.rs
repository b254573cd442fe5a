//! Graph v1.0: one entry point that authenticates, injects faults, charges the throttle budget
//! and dispatches to the handler. `$batch` runs each inner request through `serve_one` too.

pub(crate) mod access;
pub(crate) mod batch;
pub(crate) mod delta;
pub(crate) mod directory;
pub(crate) mod group_writes;
pub(crate) mod groups;
pub(crate) mod relations;
pub(crate) mod users;
pub(crate) mod writes;

use std::sync::{Arc, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;

use crate::auth::{self, Caller};
use crate::http::{self, RequestIds, Resp};
use crate::odata::{Query, percent_decode};
use crate::state::{Sim, Tenant};
use crate::throttle::{self, Charge};

/// Everything a handler needs about the request it answers.
pub(crate) struct Cx<'a> {
    pub sim: &'a Sim,
    pub caller: &'a Caller,
    pub ids: &'a RequestIds,
    pub q: &'a Query,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The path as requested below /v1.0, for `@odata.nextLink`.
    pub path: &'a str,
    /// The tenant's [`crate::Knobs::max_page_size`] when the request came in.
    pub page_cap: Option<usize>,
    /// The tenant's [`crate::Knobs::delta_member_refs`] when the request came in.
    pub member_refs_cap: Option<usize>,
}

impl Cx<'_> {
    /// A collection page's size: `$top` (1 to `max`, default 100), then at most the tenant's
    /// [`crate::Knobs::max_page_size`], as Graph may return fewer objects than asked.
    pub fn page_size(&self, max: usize) -> Result<usize, Resp> {
        let size = self
            .q
            .page_size(max)
            .map_err(|m| http::bad_request(self.ids, &m))?;
        Ok(self.page_cap.map_or(size, |cap| size.min(cap.max(1))))
    }

    pub fn read(&self) -> RwLockReadGuard<'_, Tenant> {
        let slot = &self.sim.tenants[self.caller.tenant];
        slot.data.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, Tenant> {
        let slot = &self.sim.tenants[self.caller.tenant];
        slot.data.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn eventual(&self) -> bool {
        self.headers
            .get("consistencylevel")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("eventual"))
    }

    /// Absolute link to this path with the given query string.
    pub fn link(&self, query: &str) -> String {
        format!("{}/v1.0{}?{}", self.sim.origin, self.path, query)
    }

    pub fn context(&self, what: &str) -> String {
        format!("{}/v1.0/$metadata#{what}", self.sim.origin)
    }

    pub fn require(&self, roles: &[&str]) -> Result<(), Resp> {
        if self.caller.has_any(roles) {
            Ok(())
        } else {
            Err(http::denied(self.ids))
        }
    }
}

/// The endpoints, with the parameters taken from the path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Route {
    Organization,
    Domains,
    SubscribedSkus,
    Users,
    UsersCount,
    UsersDelta,
    User(String),
    UserLicenseDetails(String),
    UserMemberOf(String),
    UserMemberOfRoles(String),
    UserManager(String),
    SetManager(String),
    RemoveManager(String),
    UserDirectReports(String),
    UserOwnedObjects(String),
    GroupOwners(String),
    UserAuthMethods(String),
    UserPasses(String),
    CreatePass(String),
    DeleteAuthMethod(String, String, String),
    UserAppRoleAssignments(String),
    DeleteAppRoleAssignment(String, String),
    UserPermissionGrants(String),
    DeletePermissionGrant(String),
    MailboxSettings(String),
    PatchMailboxSettings(String),
    CreateUser,
    PatchUser(String),
    DeleteUser(String),
    RevokeSessions(String),
    AssignLicense(String),
    Groups,
    GroupsCount,
    GroupsDelta,
    Group(String),
    CreateGroup,
    PatchGroup(String),
    DeleteGroup(String),
    GroupMembers(String),
    AddMember(String),
    RemoveMember(String, String),
    DeletedUsers,
    DeletedItem(String),
    Restore(String),
    MailboxUsage(String),
    DelegatedAdminCustomers,
    ReportSettings,
    PatchReportSettings,
    Batch,
}

impl Route {
    /// Matches a method and decoded path segments; also returns the route's name for stats.
    pub fn parse(method: &Method, segs: &[String]) -> Option<(Route, &'static str)> {
        let s: Vec<&str> = segs.iter().map(String::as_str).collect();
        let get = method == Method::GET;
        let post = method == Method::POST;
        let r = match (method.as_str(), s.as_slice()) {
            ("GET", ["organization"]) => (Route::Organization, "GET /organization"),
            ("GET", ["domains"]) => (Route::Domains, "GET /domains"),
            ("GET", ["subscribedSkus"]) => (Route::SubscribedSkus, "GET /subscribedSkus"),
            ("GET", ["users"]) => (Route::Users, "GET /users"),
            ("GET", ["users", "$count"]) => (Route::UsersCount, "GET /users/$count"),
            ("GET", ["users", d]) if is_delta(d) => (Route::UsersDelta, "GET /users/delta"),
            ("POST", ["users"]) => (Route::CreateUser, "POST /users"),
            ("GET", ["users", id]) => (Route::User(id.to_string()), "GET /users/{id}"),
            ("PATCH", ["users", id]) => (Route::PatchUser(id.to_string()), "PATCH /users/{id}"),
            ("DELETE", ["users", id]) => (Route::DeleteUser(id.to_string()), "DELETE /users/{id}"),
            ("GET", ["users", id, "licenseDetails"]) => (
                Route::UserLicenseDetails(id.to_string()),
                "GET /users/{id}/licenseDetails",
            ),
            ("GET", ["users", id, "memberOf"]) => (
                Route::UserMemberOf(id.to_string()),
                "GET /users/{id}/memberOf",
            ),
            ("GET", ["users", id, "memberOf", "microsoft.graph.directoryRole"]) => (
                Route::UserMemberOfRoles(id.to_string()),
                "GET /users/{id}/memberOf/microsoft.graph.directoryRole",
            ),
            ("GET", ["users", id, "manager"]) => (
                Route::UserManager(id.to_string()),
                "GET /users/{id}/manager",
            ),
            ("PUT", ["users", id, "manager", "$ref"]) => (
                Route::SetManager(id.to_string()),
                "PUT /users/{id}/manager/$ref",
            ),
            ("DELETE", ["users", id, "manager", "$ref"]) => (
                Route::RemoveManager(id.to_string()),
                "DELETE /users/{id}/manager/$ref",
            ),
            ("GET", ["users", id, "directReports"]) => (
                Route::UserDirectReports(id.to_string()),
                "GET /users/{id}/directReports",
            ),
            ("GET", ["users", id, "ownedObjects"]) => (
                Route::UserOwnedObjects(id.to_string()),
                "GET /users/{id}/ownedObjects",
            ),
            ("GET", ["users", id, "authentication", "methods"]) => (
                Route::UserAuthMethods(id.to_string()),
                "GET /users/{id}/authentication/methods",
            ),
            ("GET", ["users", id, "authentication", "temporaryAccessPassMethods"]) => (
                Route::UserPasses(id.to_string()),
                "GET /users/{id}/authentication/temporaryAccessPassMethods",
            ),
            ("POST", ["users", id, "authentication", "temporaryAccessPassMethods"]) => (
                Route::CreatePass(id.to_string()),
                "POST /users/{id}/authentication/temporaryAccessPassMethods",
            ),
            ("DELETE", ["users", id, "authentication", kind, m]) => (
                Route::DeleteAuthMethod(id.to_string(), kind.to_string(), m.to_string()),
                "DELETE /users/{id}/authentication/{kind}/{id}",
            ),
            ("GET", ["users", id, "appRoleAssignments"]) => (
                Route::UserAppRoleAssignments(id.to_string()),
                "GET /users/{id}/appRoleAssignments",
            ),
            ("DELETE", ["users", id, "appRoleAssignments", a]) => (
                Route::DeleteAppRoleAssignment(id.to_string(), a.to_string()),
                "DELETE /users/{id}/appRoleAssignments/{id}",
            ),
            ("GET", ["users", id, "oauth2PermissionGrants"]) => (
                Route::UserPermissionGrants(id.to_string()),
                "GET /users/{id}/oauth2PermissionGrants",
            ),
            ("DELETE", ["oauth2PermissionGrants", g]) => (
                Route::DeletePermissionGrant(g.to_string()),
                "DELETE /oauth2PermissionGrants/{id}",
            ),
            ("GET", ["users", id, "mailboxSettings"]) => (
                Route::MailboxSettings(id.to_string()),
                "GET /users/{id}/mailboxSettings",
            ),
            ("PATCH", ["users", id, "mailboxSettings"]) => (
                Route::PatchMailboxSettings(id.to_string()),
                "PATCH /users/{id}/mailboxSettings",
            ),
            ("GET", ["groups", id, "owners"]) => (
                Route::GroupOwners(id.to_string()),
                "GET /groups/{id}/owners",
            ),
            ("POST", ["users", id, a])
                if a.trim_start_matches("microsoft.graph.") == "revokeSignInSessions" =>
            {
                (
                    Route::RevokeSessions(id.to_string()),
                    "POST /users/{id}/revokeSignInSessions",
                )
            }
            ("POST", ["users", id, a])
                if a.trim_start_matches("microsoft.graph.") == "assignLicense" =>
            {
                (
                    Route::AssignLicense(id.to_string()),
                    "POST /users/{id}/assignLicense",
                )
            }
            ("GET", ["groups"]) => (Route::Groups, "GET /groups"),
            ("GET", ["groups", "$count"]) => (Route::GroupsCount, "GET /groups/$count"),
            ("GET", ["groups", d]) if is_delta(d) => (Route::GroupsDelta, "GET /groups/delta"),
            ("GET", ["groups", id]) => (Route::Group(id.to_string()), "GET /groups/{id}"),
            ("POST", ["groups"]) => (Route::CreateGroup, "POST /groups"),
            ("PATCH", ["groups", id]) => (Route::PatchGroup(id.to_string()), "PATCH /groups/{id}"),
            ("DELETE", ["groups", id]) => {
                (Route::DeleteGroup(id.to_string()), "DELETE /groups/{id}")
            }
            ("GET", ["groups", id, "members"])
            | ("GET", ["groups", id, "members", "microsoft.graph.user"]) => (
                Route::GroupMembers(id.to_string()),
                "GET /groups/{id}/members",
            ),
            ("POST", ["groups", id, "members", "$ref"]) => (
                Route::AddMember(id.to_string()),
                "POST /groups/{id}/members/$ref",
            ),
            ("DELETE", ["groups", id, "members", m, "$ref"]) => (
                Route::RemoveMember(id.to_string(), m.to_string()),
                "DELETE /groups/{id}/members/{id}/$ref",
            ),
            ("GET", ["directory", "deletedItems", "microsoft.graph.user"]) => (
                Route::DeletedUsers,
                "GET /directory/deletedItems/microsoft.graph.user",
            ),
            ("GET", ["directory", "deletedItems", id]) => (
                Route::DeletedItem(id.to_string()),
                "GET /directory/deletedItems/{id}",
            ),
            ("POST", ["directory", "deletedItems", id, a])
                if a.trim_start_matches("microsoft.graph.") == "restore" =>
            {
                (
                    Route::Restore(id.to_string()),
                    "POST /directory/deletedItems/{id}/restore",
                )
            }
            ("GET", ["reports", f]) if f.starts_with("getMailboxUsageDetail(") => (
                Route::MailboxUsage(period(f)?),
                "GET /reports/getMailboxUsageDetail",
            ),
            ("GET", ["tenantRelationships", "delegatedAdminCustomers"]) => (
                Route::DelegatedAdminCustomers,
                "GET /tenantRelationships/delegatedAdminCustomers",
            ),
            ("GET", ["admin", "reportSettings"]) => {
                (Route::ReportSettings, "GET /admin/reportSettings")
            }
            ("PATCH", ["admin", "reportSettings"]) => {
                (Route::PatchReportSettings, "PATCH /admin/reportSettings")
            }
            ("POST", ["$batch"]) => (Route::Batch, "POST /$batch"),
            _ => {
                let _ = (get, post);
                return None;
            }
        };
        Some(r)
    }

    /// Base resource-unit cost (graph-facts.md) and whether it is a write.
    pub fn cost(&self) -> (u64, bool) {
        match self {
            Route::Users | Route::UserMemberOf(_) | Route::UserMemberOfRoles(_) => (2, false),
            Route::GroupMembers(_) | Route::SubscribedSkus => (3, false),
            Route::CreateUser
            | Route::PatchUser(_)
            | Route::DeleteUser(_)
            | Route::RevokeSessions(_)
            | Route::AssignLicense(_)
            | Route::AddMember(_)
            | Route::RemoveMember(..)
            | Route::CreateGroup
            | Route::PatchGroup(_)
            | Route::DeleteGroup(_)
            | Route::Restore(_)
            | Route::SetManager(_)
            | Route::RemoveManager(_)
            | Route::DeleteAuthMethod(..)
            | Route::CreatePass(_)
            | Route::DeleteAppRoleAssignment(..)
            | Route::DeletePermissionGrant(_)
            | Route::PatchMailboxSettings(_)
            | Route::PatchReportSettings => (1, true),
            _ => (1, false),
        }
    }
}

fn is_delta(seg: &str) -> bool {
    matches!(
        seg,
        "delta" | "delta()" | "microsoft.graph.delta" | "microsoft.graph.delta()"
    )
}

fn period(f: &str) -> Option<String> {
    let inner = f
        .strip_prefix("getMailboxUsageDetail(")?
        .strip_suffix(')')?;
    let v = inner.strip_prefix("period=")?;
    Some(v.trim_matches('\'').to_string())
}

/// Splits a path below /v1.0 into decoded segments.
pub(crate) fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect()
}

/// RU cost after the documented adjustments: `$select` -1, `$expand` +1, `$top` < 20 -1, min 1.
fn adjusted_cost(base: u64, q: &Query) -> u64 {
    let mut c = base as i64;
    if q.select.is_some() {
        c -= 1;
    }
    if q.expand.is_some() {
        c += 1;
    }
    if q.top.is_some_and(|t| t < 20) {
        c -= 1;
    }
    c.max(1) as u64
}

/// One Graph request as received (plain, or one step of a batch).
pub(crate) struct Request<'a> {
    pub method: &'a Method,
    /// Below /v1.0, still percent-encoded.
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Answers one Graph request (plain or inside a batch) for an authenticated caller.
pub(crate) fn serve_one(sim: &Sim, caller: &Caller, ids: &RequestIds, req: &Request<'_>) -> Resp {
    let Request {
        method,
        path,
        query,
        headers,
        body,
    } = *req;
    let segs = segments(path);
    let Some((route, name)) = Route::parse(method, &segs) else {
        let seg = segs.last().cloned().unwrap_or_default();
        return http::error(
            ids,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Resource not found for the segment '{seg}'."),
        );
    };
    sim.count(&format!(
        "{} /v1.0{}",
        method.as_str(),
        name.split_once(' ').map(|x| x.1).unwrap_or(name)
    ));
    let q = match Query::parse(query) {
        Ok(q) => q,
        Err(msg) => return http::bad_request(ids, &msg),
    };
    let (base, write) = route.cost();
    let cost = if write { 1 } else { adjusted_cost(base, &q) };
    let slot = &sim.tenants[caller.tenant];
    let users = slot.data.read().map(|t| t.users.len()).unwrap_or(0);
    let mut pct = 0;
    let mut page_cap = None;
    let mut member_refs_cap = None;
    if let Ok(mut rt) = slot.rt.lock() {
        let knobs = rt.knobs.clone();
        page_cap = knobs.max_page_size;
        member_refs_cap = knobs.delta_member_refs;
        if knobs.fail_rate_429 > 0.0 && rt.faults.f64() < knobs.fail_rate_429 {
            drop(rt);
            return throttled(sim, ids, knobs.retry_after_s);
        }
        if knobs.fail_rate_5xx > 0.0 && rt.faults.f64() < knobs.fail_rate_5xx {
            let pick = rt.faults.u8(0..4);
            drop(rt);
            if let Ok(mut s) = sim.stats.lock() {
                s.injected_5xx += 1;
            }
            return match pick {
                0 | 1 => {
                    let r = http::error(
                        ids,
                        StatusCode::SERVICE_UNAVAILABLE,
                        "serviceNotAvailable",
                        "Service is temporarily unavailable. Please try again later.",
                    );
                    if pick == 0 {
                        r.header("retry-after", http::retry_after(knobs.retry_after_s))
                    } else {
                        r
                    }
                }
                2 => http::error(ids, StatusCode::BAD_GATEWAY, "BadGateway", "Bad Gateway."),
                _ => http::error(
                    ids,
                    StatusCode::GATEWAY_TIMEOUT,
                    "GatewayTimeout",
                    "The gateway did not receive a response in time.",
                ),
            };
        }
        let charge = if matches!(route, Route::MailboxUsage(_)) {
            rt.windows.charge_report(&knobs, &caller.client_id)
        } else {
            rt.windows
                .charge(&knobs, users, &caller.client_id, cost, write)
        };
        match charge {
            Charge::Ok(p) => pct = p,
            Charge::Throttled(wait) => {
                drop(rt);
                return throttled(sim, ids, throttle::retry_after_secs(wait)).header(
                    "x-ms-throttle-scope",
                    format!(
                        "Tenant_Application/ReadWrite/{}/{}",
                        slot.id_str, caller.client_id
                    ),
                );
            }
        }
    }
    let cx = Cx {
        sim,
        caller,
        ids,
        q: &q,
        headers,
        body,
        path,
        page_cap,
        member_refs_cap,
    };
    let resp = match dispatch(&cx, &route) {
        Ok(r) | Err(r) => r,
    };
    let resp = resp.header("x-ms-resource-unit", cost.to_string());
    if pct >= 80 {
        resp.header(
            "x-ms-throttle-limit-percentage",
            format!("{:.1}", pct as f64 / 100.0),
        )
    } else {
        resp
    }
}

fn throttled(sim: &Sim, ids: &RequestIds, secs: f64) -> Resp {
    if let Ok(mut s) = sim.stats.lock() {
        s.throttled += 1;
    }
    http::error(
        ids,
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Please retry again later.",
    )
    .header("retry-after", http::retry_after(secs))
    .header("x-ms-throttle-information", "ResourceUnitLimitExceeded")
}

fn dispatch(cx: &Cx<'_>, route: &Route) -> Result<Resp, Resp> {
    match route {
        Route::Organization => directory::organization(cx),
        Route::Domains => directory::domains(cx),
        Route::SubscribedSkus => directory::subscribed_skus(cx),
        Route::DelegatedAdminCustomers => directory::delegated_admin_customers(cx),
        Route::MailboxUsage(p) => directory::mailbox_usage(cx, p),
        Route::ReportSettings => directory::report_settings(cx),
        Route::PatchReportSettings => directory::patch_report_settings(cx),
        Route::Users => users::list(cx),
        Route::UsersCount => users::count(cx),
        Route::User(id) => users::get(cx, id),
        Route::UserLicenseDetails(id) => users::license_details(cx, id),
        Route::UserMemberOf(id) => users::member_of(cx, id),
        Route::UserMemberOfRoles(id) => relations::member_of_roles(cx, id),
        Route::UserManager(id) => relations::manager(cx, id),
        Route::SetManager(id) => relations::set_manager(cx, id),
        Route::RemoveManager(id) => relations::remove_manager(cx, id),
        Route::UserDirectReports(id) => relations::direct_reports(cx, id),
        Route::UserOwnedObjects(id) => relations::owned_objects(cx, id),
        Route::GroupOwners(id) => relations::group_owners(cx, id),
        Route::UserAuthMethods(id) => access::methods(cx, id),
        Route::UserPasses(id) => access::passes(cx, id),
        Route::CreatePass(id) => access::create_pass(cx, id),
        Route::DeleteAuthMethod(id, kind, m) => access::delete_method(cx, id, kind, m),
        Route::UserAppRoleAssignments(id) => access::app_roles(cx, id),
        Route::DeleteAppRoleAssignment(id, a) => access::delete_app_role(cx, id, a),
        Route::UserPermissionGrants(id) => access::grants(cx, id),
        Route::DeletePermissionGrant(g) => access::delete_grant(cx, g),
        Route::MailboxSettings(id) => access::mailbox_settings(cx, id),
        Route::PatchMailboxSettings(id) => access::patch_mailbox_settings(cx, id),
        Route::DeletedUsers => users::deleted(cx),
        Route::DeletedItem(id) => users::deleted_item(cx, id),
        Route::Groups => groups::list(cx),
        Route::GroupsCount => groups::count(cx),
        Route::Group(id) => groups::get(cx, id),
        Route::CreateGroup => group_writes::create(cx),
        Route::PatchGroup(id) => group_writes::patch(cx, id),
        Route::DeleteGroup(id) => group_writes::delete(cx, id),
        Route::GroupMembers(id) => groups::members(cx, id),
        Route::UsersDelta => delta::users(cx),
        Route::GroupsDelta => delta::groups(cx),
        Route::CreateUser => writes::create_user(cx),
        Route::PatchUser(id) => writes::patch_user(cx, id),
        Route::DeleteUser(id) => writes::delete_user(cx, id),
        Route::RevokeSessions(id) => writes::revoke_sessions(cx, id),
        Route::AssignLicense(id) => writes::assign_license(cx, id),
        Route::AddMember(id) => writes::add_member(cx, id),
        Route::RemoveMember(g, m) => writes::remove_member(cx, g, m),
        Route::Restore(id) => writes::restore(cx, id),
        Route::Batch => Err(http::bad_request(
            cx.ids,
            "Nested $batch requests are not supported.",
        )),
    }
}

/// The axum handler for everything under /v1.0.
pub(crate) async fn graph(
    State(sim): State<Arc<Sim>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ids = RequestIds::new(
        headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok()),
    );
    let path = uri
        .path()
        .strip_prefix("/v1.0")
        .unwrap_or(uri.path())
        .to_string();
    let query = uri.query().unwrap_or("").to_string();
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    let caller = match auth::verify(&sim, auth) {
        Ok(c) => c,
        Err(e) => {
            sim.count("401 /v1.0");
            return http::error(
                &ids,
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                e.message(),
            )
            .header(
                "www-authenticate",
                "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
            )
            .into_http(&ids.request_id, &ids.client_request_id);
        }
    };
    let arrived = tokio::time::Instant::now();
    let (latency, model, spread) = sim.tenants[caller.tenant]
        .rt
        .lock()
        .map(|mut rt| {
            let spread = rt.faults.f64();
            (rt.knobs.latency_ms, rt.knobs.latency.clone(), spread)
        })
        .unwrap_or((0, None, 0.0));
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    // Kept for the latency model, which needs the request's `$batch` steps and the answer's size.
    let modelled = model.map(|model| {
        (
            model,
            method.clone(),
            path.clone(),
            query.clone(),
            body.clone(),
        )
    });
    let sim2 = sim.clone();
    let ids2 = ids.clone();
    // Pages of 999 objects and batches are built off the async workers.
    let resp = tokio::task::spawn_blocking(move || {
        if method == Method::POST && segments(&path) == ["$batch"] {
            sim2.count("POST /v1.0/$batch");
            batch::batch(&sim2, &caller, &ids2, &body)
        } else {
            {
                let req = Request {
                    method: &method,
                    path: &path,
                    query: &query,
                    headers: &headers,
                    body: &body,
                };
                serve_one(&sim2, &caller, &ids2, &req)
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        http::error(
            &ids,
            StatusCode::INTERNAL_SERVER_ERROR,
            "generalException",
            "An internal error occurred.",
        )
    });
    if let Some((model, method, path, query, request)) = modelled {
        let kind = crate::latency::kind_of(&method, &path, &query, &request, &resp.body);
        let time = model.time(kind, spread);
        sim.count_modelled(crate::latency::label(&method, &path), time);
        tokio::time::sleep_until(arrived + Duration::from_millis(latency) + time).await;
    }
    resp.into_http(&ids.request_id, &ids.client_request_id)
}
