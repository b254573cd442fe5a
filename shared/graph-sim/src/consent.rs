//! The admin consent page: GET `/{tenant|organizations|common}/v2.0/adminconsent` shows the
//! app, the tenant and the permissions requested with Accept / Cancel; the form posts back to the
//! same path and the simulator redirects to `redirect_uri` as Entra documents it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::config::ConsentChange;
use crate::state::Sim;

const SCOPE: &str = "https://graph.microsoft.com/.default";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// What each application permission lets the app do, as the consent screen words it.
fn describe(role: &str) -> &'static str {
    match role {
        "User.Read.All" => "Read all users' full profiles",
        "Group.Read.All" => "Read all groups",
        "GroupMember.Read.All" => "Read all group memberships",
        "Organization.Read.All" => "Read organization information",
        "Domain.Read.All" => "Read domains",
        "Reports.Read.All" => "Read all usage reports",
        "AuditLog.Read.All" => "Read all audit log data",
        "DelegatedAdminRelationship.Read.All" => {
            "Read Delegated Admin relationships with customers"
        }
        "User.ReadWrite.All" => "Read and write all users' full profiles",
        "User.EnableDisableAccount.All" => "Enable and disable user accounts",
        "User.DeleteRestore.All" => "Delete and restore all users",
        "User.RevokeSessions.All" => "Revoke all sign in sessions for a user",
        "LicenseAssignment.ReadWrite.All" => "Manage all license assignments",
        "GroupMember.ReadWrite.All" => "Read and write all group memberships",
        "Group.ReadWrite.All" => "Read and write all groups",
        "UserAuthenticationMethod.ReadWrite.All" => {
            "Read and write all users' authentication methods"
        }
        "AppRoleAssignment.ReadWrite.All" => {
            "Manage app permission grants and app role assignments"
        }
        "DelegatedPermissionGrant.ReadWrite.All" => "Manage all delegated permission grants",
        "MailboxSettings.ReadWrite" => "Read and write all user mailbox settings",
        _ => "Access Microsoft Graph",
    }
}

fn error_page(status: StatusCode, code: u32, text: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sign in to your account</title>{STYLE}</head>\
         <body><main class=\"card\"><div class=\"brand\">Microsoft (simulated)</div><h1>Sorry, but we're having trouble signing you in.</h1>\
         <p class=\"err\">AADSTS{code}: {}</p></main></body></html>",
        esc(text)
    );
    (status, Html(body)).into_response()
}

const STYLE: &str = "<style>\
body{margin:0;background:#f2f2f2;font-family:'Segoe UI',system-ui,-apple-system,sans-serif;color:#1b1b1b}\
.card{max-width:440px;margin:48px auto;background:#fff;padding:36px 44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}\
.brand{font-weight:600;color:#5e5e5e;margin-bottom:16px}\
h1{font-size:24px;font-weight:600;margin:0 0 8px}\
.who{color:#444;margin-bottom:20px}.app{font-weight:600}\
ul{padding-left:0;list-style:none;margin:12px 0 20px}li{padding:6px 0;border-bottom:1px solid #eee}\
li small{display:block;color:#666}\
.note{font-size:13px;color:#444}.err{color:#a80000}\
select{width:100%;padding:6px;margin:4px 0 16px}\
.buttons{display:flex;justify-content:flex-end;gap:8px;margin-top:24px}\
button{min-width:108px;padding:6px 12px;border:0;font-size:15px;cursor:pointer}\
.accept{background:#0067b8;color:#fff}.cancel{background:#ccc}\
</style>";

/// The value of form or query field `name`.
pub(crate) fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A 302 to `redirect_uri` with `params` added to its query (Entra's answer to the app).
pub(crate) fn redirect(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                50011,
                "The redirect URI is not valid.",
            );
        }
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

/// The fields of a page's request: the posted form, or the query of a GET.
pub(crate) fn form_pairs(
    method: &Method,
    query: Option<String>,
    body: &[u8],
) -> Vec<(String, String)> {
    let raw = if method == Method::POST {
        body.to_vec()
    } else {
        query.unwrap_or_default().into_bytes()
    };
    url::form_urlencoded::parse(&raw).into_owned().collect()
}

/// GET shows the page, POST takes the admin's decision.
pub(crate) async fn page(
    State(sim): State<Arc<Sim>>,
    Path(tenant_key): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    sim.count(&format!("{method} /{{tenant}}/v2.0/adminconsent"));
    let pairs = form_pairs(&method, query, &body);
    let org_wide = matches!(
        tenant_key.to_ascii_lowercase().as_str(),
        "organizations" | "common"
    );
    let chosen = field(&pairs, "tenant").and_then(|t| sim.tenant_index(t));
    let tenant = if org_wide {
        chosen.or_else(|| sim.signed_in_tenant.lock().ok().map(|t| *t))
    } else {
        sim.tenant_index(&tenant_key)
    };
    let Some(tenant) = tenant else {
        return error_page(
            StatusCode::BAD_REQUEST,
            90002,
            &format!("Tenant '{tenant_key}' not found."),
        );
    };
    let client_id = field(&pairs, "client_id").unwrap_or_default();
    let Some(app) = sim.app(client_id).filter(|a| a.home_tenant.is_none()) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory."),
        );
    };
    let Some(redirect_uri) = field(&pairs, "redirect_uri").filter(|r| url::Url::parse(r).is_ok())
    else {
        return error_page(
            StatusCode::BAD_REQUEST,
            900144,
            "The request body must contain the following parameter: 'redirect_uri'.",
        );
    };
    let state = field(&pairs, "state").unwrap_or_default();
    let scope = field(&pairs, "scope").unwrap_or_default();
    if scope.is_empty() {
        return redirect(
            redirect_uri,
            &[
                ("error", "invalid_request"),
                (
                    "error_description",
                    "AADSTS900144: The request body must contain the following parameter: 'scope'.",
                ),
                ("state", state),
            ],
        );
    }
    let slot = &sim.tenants[tenant];
    if method == Method::POST {
        let decision = field(&pairs, "decision").unwrap_or("cancel");
        let denied = slot
            .rt
            .lock()
            .map(|rt| rt.knobs.deny_consent)
            .unwrap_or(true);
        if decision != "accept" {
            return redirect(
                redirect_uri,
                &[
                    ("error", "access_denied"),
                    ("error_subcode", "cancel"),
                    (
                        "error_description",
                        "AADSTS65004: User declined to consent to access the app.",
                    ),
                    ("state", state),
                ],
            );
        }
        if denied {
            return redirect(
                redirect_uri,
                &[
                    ("error", "access_denied"),
                    (
                        "error_description",
                        "AADSTS65004: User declined to consent to access the app.",
                    ),
                    ("state", state),
                ],
            );
        }
        let change = ConsentChange {
            granted: true,
            roles: Vec::new(),
            client_id: Some(app.client_id.clone()),
        };
        if sim.consent(&slot.id_str, &change).is_err() {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                50000,
                "There was an error issuing a token.",
            );
        }
        return redirect(
            redirect_uri,
            &[
                ("admin_consent", "True"),
                ("tenant", &slot.id_str),
                ("scope", SCOPE),
                ("state", state),
            ],
        );
    }
    let admin = {
        let t = slot.data.read().unwrap_or_else(|e| e.into_inner());
        format!("admin@{}", t.initial_domain())
    };
    let perms: String = app
        .roles
        .iter()
        .map(|r| format!("<li>{}<small>{}</small></li>", esc(describe(r)), esc(r)))
        .collect();
    let switcher = if org_wide {
        let options: String = sim
            .tenants
            .iter()
            .enumerate()
            .map(|(i, t)| {
                format!(
                    "<option value=\"{}\"{}>{}</option>",
                    esc(&t.id_str),
                    if i == tenant { " selected" } else { "" },
                    esc(&t.display_name)
                )
            })
            .collect();
        format!(
            "<label for=\"tenant\" class=\"note\">Organization</label><select id=\"tenant\" name=\"tenant\">{options}</select>"
        )
    } else {
        format!(
            "<input type=\"hidden\" name=\"tenant\" value=\"{}\">",
            esc(&slot.id_str)
        )
    };
    let hidden: String = [
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("state", state),
        ("scope", scope),
    ]
    .iter()
    .map(|(k, v)| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", esc(v)))
    .collect();
    let auto_accept = if slot
        .rt
        .lock()
        .map(|rt| rt.knobs.auto_accept_consent)
        .unwrap_or(false)
    {
        // The knob `auto_accept_consent`: the page presses its own Accept button.
        "<script>document.querySelector('button.accept').click()</script>"
    } else {
        ""
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
<title>Permissions requested</title>{STYLE}</head><body><main class=\"card\">\
<div class=\"brand\">Microsoft (simulated)</div>\
<div class=\"who\">{admin}</div>\
<h1>Permissions requested</h1>\
<p><span class=\"app\">{app_name}</span> wants to access resources in <strong>{tenant_name}</strong>. Accept for your organization?</p>\
<form method=\"post\">{hidden}{switcher}\
<div class=\"note\">This app would like to:</div><ul>{perms}</ul>\
<p class=\"note\">If you accept, this app gets access to the specified resources for all users in your organization. No one else will be prompted to review these permissions.</p>\
<div class=\"buttons\"><button class=\"cancel\" type=\"submit\" name=\"decision\" value=\"cancel\">Cancel</button>\
<button class=\"accept\" type=\"submit\" name=\"decision\" value=\"accept\">Accept</button></div>\
</form></main>{auto_accept}</body></html>",
        admin = esc(&admin),
        app_name = esc(&app.display_name),
        tenant_name = esc(&slot.display_name),
    );
    Html(html).into_response()
}
