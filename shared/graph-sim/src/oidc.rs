//! OpenID Connect sign-in, as the Microsoft identity platform serves it: the discovery document
//! (`/{tenant}/v2.0/.well-known/openid-configuration`), the signing keys
//! (`/{tenant}/discovery/v2.0/keys`), the sign-in page (`/{tenant}/oauth2/v2.0/authorize`,
//! authorization-code flow with PKCE) and the `authorization_code` grant of the token endpoint,
//! which answers RS256-signed v2.0 ID tokens.
//!
//! Each tenant has four sign-in accounts, so tests and the demo can sign in as an administrator
//! who may grant consent or as someone who may not:
//!
//! | account                 | directory role (`wids`)                                   |
//! |-------------------------|-----------------------------------------------------------|
//! | `admin@{initial}`       | Global Administrator                                      |
//! | `appadmin@{initial}`    | Application Administrator                                 |
//! | `helpdesk@{initial}`    | Helpdesk Administrator (an admin that cannot grant consent) |
//! | `user@{initial}`        | none (an ordinary member)                                 |
//!
//! Every account also carries the default user role template in `wids`, as Entra does. The
//! signing key is a fixed, simulator-only RSA key shipped with the crate (never a real key).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::auth::entra_error;
use crate::consent::{self, field, form_pairs};
use crate::state::Sim;

/// The `kid` of the simulator's one signing key.
pub(crate) const KEY_ID: &str = "graph-sim-oidc-1";

/// The simulator-only RSA private key (PKCS#1 PEM) ID tokens are signed with.
const PRIVATE_KEY_PEM: &str = include_str!("oidc/signing-key.pem");

/// Its public modulus and exponent, base64url, as the JWKS publishes them.
const MODULUS: &str = "nfAmyCjuU6drZjyqsPLKXQaswRhVe6XeMQP3aToxy5DNACrgYLq-U1b9BZQJ3ha68nyiK2RSnrgOGidIqJs4nILHQ26JR1uFXj2Lt3WGgG9sIpSRJkTRWpC2WJG_HaqiCV1QN83WaNOAfvxHkZWhRLMv8UbhL-1QYdEPPlGmRe0bNCMaA_HGcgmg5Q-l4xKsDagEasWAY95Ai4yX1bLWb-WbZ1wM4CjFiJlARpiTKR_K-LVTTIbnSZlQ2MOc8gpsksFoY5W3VKBgZ2ds_V3BQuShvU0V32-oPco33xRlcDJ_MPsXafuUt2eloqpoDj43VeCQ8NNJyA6qPH2y4GieRQ";
const EXPONENT: &str = "AQAB";

/// How long an authorization code may be redeemed (Entra: about 10 minutes).
const CODE_LIFETIME_S: i64 = 600;

/// ID token lifetime (Entra: one hour).
const ID_TOKEN_LIFETIME_S: i64 = 3600;

/// Role template ids (the same in every tenant).
const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";
const APPLICATION_ADMINISTRATOR: &str = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3";
const HELPDESK_ADMINISTRATOR: &str = "729827e3-9c14-49f7-bb1b-9608f156bbb8";
/// The default user role every member holds; Entra lists it in `wids` too.
const USER_ROLE: &str = "b79fbf4d-3ef9-4689-8143-76b194e85509";

/// One account that can sign in to a tenant.
#[derive(Clone, Debug)]
pub(crate) struct Account {
    pub upn: String,
    pub name: &'static str,
    pub oid: String,
    pub wids: Vec<&'static str>,
}

/// A code handed out by the sign-in page, waiting to be redeemed once.
pub(crate) struct PendingCode {
    tenant: usize,
    client_id: String,
    redirect_uri: String,
    /// (challenge, method) as the authorization request sent them.
    challenge: Option<(String, String)>,
    nonce: Option<String>,
    account: Account,
    issued_at: i64,
}

/// The codes issued and not yet redeemed, by code.
pub(crate) type Codes = std::sync::Mutex<HashMap<String, PendingCode>>;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The sign-in accounts of tenant `tenant` (see the module documentation).
pub(crate) fn accounts(sim: &Sim, tenant: usize) -> Vec<Account> {
    let slot = &sim.tenants[tenant];
    let domain = {
        let t = slot.data.read().unwrap_or_else(|e| e.into_inner());
        t.initial_domain().to_owned()
    };
    let account = |local: &str, name: &'static str, role: Option<&'static str>, n: u8| {
        // A stable object id per tenant and account (the tenant's id with its last byte swapped).
        let mut oid = slot.id_str.clone();
        oid.truncate(oid.len().saturating_sub(2));
        oid.push_str(&format!("{n:02x}"));
        Account {
            upn: format!("{local}@{domain}"),
            name,
            oid,
            wids: role.into_iter().chain([USER_ROLE]).collect(),
        }
    };
    vec![
        account(
            "admin",
            "Global Administrator",
            Some(GLOBAL_ADMINISTRATOR),
            0xa1,
        ),
        account(
            "appadmin",
            "Application Administrator",
            Some(APPLICATION_ADMINISTRATOR),
            0xa2,
        ),
        account(
            "helpdesk",
            "Helpdesk Administrator",
            Some(HELPDESK_ADMINISTRATOR),
            0xa3,
        ),
        account("user", "Ordinary Member", None, 0xa4),
    ]
}

/// The tenant a login path segment names: a tenant id or verified domain, or for
/// `organizations` / `common` the tenant the browser is "signed in" to.
fn tenant_of(sim: &Sim, key: &str) -> Option<usize> {
    match key.to_ascii_lowercase().as_str() {
        "organizations" | "common" => sim.signed_in_tenant.lock().ok().map(|t| *t),
        _ => sim.tenant_index(key),
    }
}

/// GET /{tenant}/v2.0/.well-known/openid-configuration.
pub(crate) async fn discovery(
    State(sim): State<Arc<Sim>>,
    Path(tenant_key): Path<String>,
) -> Response {
    sim.count("GET /{tenant}/v2.0/.well-known/openid-configuration");
    let multi = matches!(
        tenant_key.to_ascii_lowercase().as_str(),
        "organizations" | "common"
    );
    let (path, issuer_tenant) = if multi {
        (tenant_key.to_ascii_lowercase(), "{tenantid}".to_owned())
    } else {
        match sim.tenant_index(&tenant_key) {
            Some(i) => (sim.tenants[i].id_str.clone(), sim.tenants[i].id_str.clone()),
            None => {
                return entra_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_tenant",
                    90002,
                    &format!(
                        "Tenant '{tenant_key}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
                    ),
                );
            }
        }
    };
    let origin = &sim.origin;
    let body = json!({
        "token_endpoint": format!("{origin}/{path}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{origin}/{path}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{origin}/{issuer_tenant}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{origin}/oidc/userinfo"),
        "authorization_endpoint": format!("{origin}/{path}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{origin}/{path}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{origin}/{path}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{origin}/{path}/kerberos"),
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// GET /{tenant}/discovery/v2.0/keys: the signing keys (one).
pub(crate) async fn keys(State(sim): State<Arc<Sim>>, Path(_tenant): Path<String>) -> Response {
    sim.count("GET /{tenant}/discovery/v2.0/keys");
    let body = json!({"keys": [{
        "kty": "RSA",
        "use": "sig",
        "kid": KEY_ID,
        "n": MODULUS,
        "e": EXPONENT,
        "issuer": format!("{}/{{tenantid}}/v2.0", sim.origin),
    }]});
    (StatusCode::OK, axum::Json(body)).into_response()
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
h1{font-size:24px;font-weight:600;margin:0 0 16px}.err{color:#a80000}\
label{display:block;padding:8px 0;border-bottom:1px solid #eee}label small{display:block;color:#666}\
.buttons{display:flex;justify-content:flex-end;margin-top:24px}\
button{min-width:108px;padding:6px 12px;border:0;font-size:15px;cursor:pointer;background:#0067b8;color:#fff}\
</style>";

/// A 302 back to the app; parameters without a value are left out.
fn redirect(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let given: Vec<(&str, &str)> = params
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    consent::redirect(redirect_uri, &given)
}

/// GET shows the sign-in page (pick an account), POST signs the chosen account in and
/// redirects to `redirect_uri` with `code` and `state`.
pub(crate) async fn authorize(
    State(sim): State<Arc<Sim>>,
    Path(tenant_key): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    sim.count(&format!("{method} /{{tenant}}/oauth2/v2.0/authorize"));
    let pairs = form_pairs(&method, query, &body);
    let Some(tenant) = tenant_of(&sim, &tenant_key) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            90002,
            &format!("Tenant '{tenant_key}' not found."),
        );
    };
    let client_id = field(&pairs, "client_id").unwrap_or_default();
    let Some(app) = sim
        .app(client_id)
        .filter(|a| a.home_tenant.is_none_or(|home| home == tenant))
    else {
        return error_page(
            StatusCode::BAD_REQUEST,
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'.",
                sim.tenants[tenant].display_name
            ),
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
    let fail = |error: &str, description: &str| {
        redirect(
            redirect_uri,
            &[
                ("error", error),
                ("error_description", description),
                ("state", state),
            ],
        )
    };
    if field(&pairs, "response_type") != Some("code") {
        return fail(
            "unsupported_response_type",
            "AADSTS700054: The response_type must be 'code' for this flow.",
        );
    }
    let scope = field(&pairs, "scope").unwrap_or_default();
    if !scope.split(' ').any(|s| s == "openid") {
        return fail(
            "invalid_scope",
            "AADSTS70011: The provided request must include an 'openid' scope for sign-in.",
        );
    }
    let challenge = match (
        field(&pairs, "code_challenge"),
        field(&pairs, "code_challenge_method"),
    ) {
        (None, _) => None,
        (Some(c), method) => {
            let method = method.unwrap_or("plain");
            if method != "S256" && method != "plain" {
                return fail(
                    "invalid_request",
                    "AADSTS501491: Invalid code_challenge_method.",
                );
            }
            Some((c.to_owned(), method.to_owned()))
        }
    };
    let has_principal = sim.tenants[tenant]
        .rt
        .lock()
        .map(|rt| {
            rt.consents
                .contains_key(&app.client_id.to_ascii_lowercase())
        })
        .unwrap_or(false);
    if !has_principal {
        return fail(
            "consent_required",
            "AADSTS65001: The user or administrator has not consented to use the application.",
        );
    }
    let accounts = accounts(&sim, tenant);
    if method == Method::POST {
        let username = field(&pairs, "username").unwrap_or_default();
        let Some(account) = accounts
            .iter()
            .find(|a| a.upn.eq_ignore_ascii_case(username))
        else {
            return error_page(
                StatusCode::BAD_REQUEST,
                50034,
                &format!(
                    "The user account {username} does not exist in the {} directory.",
                    sim.tenants[tenant].display_name
                ),
            );
        };
        let code = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let pending = PendingCode {
            tenant,
            client_id: app.client_id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            challenge,
            nonce: field(&pairs, "nonce").map(str::to_owned),
            account: account.clone(),
            issued_at: now(),
        };
        if let Ok(mut codes) = sim.codes.lock() {
            codes.insert(code.clone(), pending);
        }
        let session = uuid::Uuid::new_v4().to_string();
        return redirect(
            redirect_uri,
            &[
                ("code", &code),
                ("state", state),
                ("session_state", &session),
            ],
        );
    }
    let hint = field(&pairs, "login_hint").unwrap_or_default();
    let options: String = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let checked = if a.upn.eq_ignore_ascii_case(hint) || (hint.is_empty() && i == 0) { " checked" } else { "" };
            format!(
                "<label><input type=\"radio\" name=\"username\" value=\"{upn}\"{checked}> {upn}<small>{name}</small></label>",
                upn = esc(&a.upn),
                name = esc(a.name),
            )
        })
        .collect();
    let hidden: String = pairs
        .iter()
        .filter(|(k, _)| k != "username")
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                esc(k),
                esc(v)
            )
        })
        .collect();
    let auto = sim.tenants[tenant]
        .rt
        .lock()
        .map(|rt| rt.knobs.auto_accept_consent)
        .unwrap_or(false);
    // The knob `auto_accept_consent` also signs in with the checked account (the Global
    // Administrator unless `login_hint` names another), for headless browsers.
    let script = if auto {
        "<script>document.querySelector('form').submit()</script>"
    } else {
        ""
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in to your account</title>{STYLE}</head>\
<body><main class=\"card\"><div class=\"brand\">Microsoft (simulated)</div><h1>Pick an account</h1>\
<p>to continue to <strong>{app}</strong> in <strong>{tenant}</strong></p>\
<form method=\"post\">{hidden}{options}<div class=\"buttons\"><button type=\"submit\">Sign in</button></div></form></main>{script}</body></html>",
        app = esc(&app.display_name),
        tenant = esc(&sim.tenants[tenant].display_name),
    );
    Html(html).into_response()
}

/// The signing key, parsed once.
fn encoding_key() -> Option<&'static jsonwebtoken::EncodingKey> {
    static KEY: OnceLock<Option<jsonwebtoken::EncodingKey>> = OnceLock::new();
    KEY.get_or_init(|| jsonwebtoken::EncodingKey::from_rsa_pem(PRIVATE_KEY_PEM.as_bytes()).ok())
        .as_ref()
}

/// A v2.0 ID token for `account` in tenant `tenant`, for `client_id`.
fn id_token(
    sim: &Sim,
    tenant: usize,
    client_id: &str,
    account: &Account,
    nonce: Option<&str>,
) -> Option<String> {
    let iat = now();
    let tid = &sim.tenants[tenant].id_str;
    let serial = sim.token_serial.fetch_add(1, Ordering::Relaxed) + 1;
    let sub = B64.encode(Sha256::digest(format!("{}|{client_id}", account.oid)));
    let mut claims = json!({
        "aud": client_id,
        "iss": format!("{}/{tid}/v2.0", sim.origin),
        "iat": iat,
        "nbf": iat,
        "exp": iat + ID_TOKEN_LIFETIME_S,
        "name": account.name,
        "oid": account.oid,
        "preferred_username": account.upn,
        "sub": sub,
        "tid": tid,
        "uti": format!("sim{serial}"),
        "ver": "2.0",
        "wids": account.wids,
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(KEY_ID.to_owned());
    jsonwebtoken::encode(&header, &claims, encoding_key()?).ok()
}

/// The `authorization_code` grant of POST /{tenant}/oauth2/v2.0/token.
pub(crate) fn redeem(sim: &Sim, tenant_key: &str, form: &[(String, String)]) -> Response {
    let invalid_grant =
        |code: u32, text: &str| entra_error(StatusCode::BAD_REQUEST, "invalid_grant", code, text);
    let client_id = field(form, "client_id").unwrap_or_default();
    let Some(app) = sim.app(client_id) else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory."),
        );
    };
    if field(form, "client_secret") != Some(app.client_secret.as_str()) {
        return entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            &format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        );
    }
    let Some(code) = field(form, "code").filter(|c| !c.is_empty()) else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'code'.",
        );
    };
    // A code works once: taken out whatever happens next.
    let pending = sim
        .codes
        .lock()
        .ok()
        .and_then(|mut codes| codes.remove(code));
    let Some(pending) = pending else {
        return invalid_grant(
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        );
    };
    if now() - pending.issued_at > CODE_LIFETIME_S {
        return invalid_grant(
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        );
    }
    if !pending.client_id.eq_ignore_ascii_case(&app.client_id) {
        return invalid_grant(
            70000,
            "The request was denied because one or more grants are invalid or malformed: the code was issued to another client.",
        );
    }
    let same_tenant = match tenant_key.to_ascii_lowercase().as_str() {
        "organizations" | "common" => true,
        _ => sim.tenant_index(tenant_key) == Some(pending.tenant),
    };
    if !same_tenant {
        return invalid_grant(
            70000,
            "The request was denied because one or more grants are invalid or malformed: the code was issued by another tenant.",
        );
    }
    if field(form, "redirect_uri") != Some(pending.redirect_uri.as_str()) {
        return invalid_grant(
            500112,
            "The reply address does not match the reply address provided when requesting Authorization code.",
        );
    }
    if let Some((challenge, method)) = &pending.challenge {
        let Some(verifier) = field(form, "code_verifier") else {
            return invalid_grant(
                50148,
                "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
            );
        };
        let computed = if method == "S256" {
            B64.encode(Sha256::digest(verifier.as_bytes()))
        } else {
            verifier.to_owned()
        };
        if &computed != challenge {
            return invalid_grant(
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            );
        }
    }
    let Some(id_token) = id_token(
        sim,
        pending.tenant,
        &app.client_id,
        &pending.account,
        pending.nonce.as_deref(),
    ) else {
        return entra_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            50000,
            "There was an error issuing a token.",
        );
    };
    let body = json!({
        "token_type": "Bearer",
        "scope": "openid profile email",
        "expires_in": ID_TOKEN_LIFETIME_S,
        "ext_expires_in": ID_TOKEN_LIFETIME_S,
        "access_token": format!("sim-user-token-{}", uuid::Uuid::new_v4().simple()),
        "id_token": id_token,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_the_shipped_key_when_a_token_is_signed_then_the_published_key_verifies_it() {
        // GIVEN the private key and the modulus/exponent the JWKS publishes
        let key = encoding_key().expect("the shipped PEM parses");
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(KEY_ID.to_owned());
        let token =
            jsonwebtoken::encode(&header, &json!({"exp": now() + 60, "x": 1}), key).expect("signs");
        // WHEN verified with the published key
        let public =
            jsonwebtoken::DecodingKey::from_rsa_components(MODULUS, EXPONENT).expect("public key");
        let verified = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &public,
            &jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256),
        );
        // THEN the signature holds
        assert_eq!(verified.expect("verifies").claims["x"], 1);
    }
}
