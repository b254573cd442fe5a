//! The login endpoint (client-credentials grant) and validation of the JWT-shaped access
//! tokens it issues. Tokens are signed with a simulator-local key so Graph can reject forgeries.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::json;

use crate::state::Sim;

/// Who is calling Graph: decoded from a valid token.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub tenant: usize,
    pub client_id: String,
    pub roles: Vec<String>,
}

impl Caller {
    pub fn has_any(&self, roles: &[&str]) -> bool {
        self.roles.iter().any(|r| roles.contains(&r.as_str()))
    }
}

/// Why a token was refused (all are 401 InvalidAuthenticationToken on Graph).
pub(crate) enum TokenError {
    Missing,
    Malformed,
    BadSignature,
    Expired,
    WrongAudience,
}

impl TokenError {
    pub fn message(&self) -> &'static str {
        match self {
            TokenError::Missing => "Access token is empty.",
            TokenError::Malformed => "IDX14100: JWT is not well formed, there are no dots (.).",
            TokenError::BadSignature => "Access token validation failure. Invalid signature.",
            TokenError::Expired => "Lifetime validation failed, the token is expired.",
            TokenError::WrongAudience => "Access token validation failure. Invalid audience.",
        }
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sign(key: u64, data: &str) -> String {
    let mut out = Vec::with_capacity(32);
    for round in 0u64..4 {
        let mut h = std::hash::DefaultHasher::new();
        key.hash(&mut h);
        round.hash(&mut h);
        data.hash(&mut h);
        out.extend_from_slice(&h.finish().to_le_bytes());
    }
    B64.encode(out)
}

/// Issues an access token for `client_id` in tenant `tenant`.
fn issue(
    sim: &Sim,
    tenant: usize,
    client_id: &str,
    app_name: &str,
    roles: &[String],
    lifetime: u64,
) -> String {
    let serial = sim.token_serial.fetch_add(1, Ordering::Relaxed) + 1;
    let iat = now();
    let tid = &sim.tenants[tenant].id_str;
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "graph-sim"});
    let claims = json!({
        "aud": "https://graph.microsoft.com",
        "iss": format!("https://sts.windows.net/{tid}/"),
        "iat": iat,
        "nbf": iat,
        "exp": iat + lifetime as i64,
        "app_displayname": app_name,
        "appid": client_id,
        "appidacr": "1",
        "idp": format!("https://sts.windows.net/{tid}/"),
        "idtyp": "app",
        "oid": uuid::Uuid::new_v4().to_string(),
        "roles": roles,
        "sub": client_id,
        "tid": tid,
        "uti": format!("sim{serial}"),
        "ver": "1.0",
    });
    let head = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let sig = sign(sim.signing_key, &head);
    format!("{head}.{sig}")
}

/// Validates a `Bearer` header value and returns the caller.
pub(crate) fn verify(sim: &Sim, authorization: Option<&str>) -> Result<Caller, TokenError> {
    let raw = authorization
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(TokenError::Missing)?;
    let mut parts = raw.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    if sign(sim.signing_key, &format!("{h}.{p}")) != s {
        return Err(TokenError::BadSignature);
    }
    let claims: serde_json::Value = B64
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Malformed)?;
    if claims["aud"] != "https://graph.microsoft.com" {
        return Err(TokenError::WrongAudience);
    }
    let tenant = claims["tid"]
        .as_str()
        .and_then(|t| sim.tenant_index(t))
        .ok_or(TokenError::Malformed)?;
    let exp = claims["exp"].as_i64().ok_or(TokenError::Malformed)?;
    if exp <= now() {
        return Err(TokenError::Expired);
    }
    let serial: u64 = claims["uti"]
        .as_str()
        .and_then(|u| u.strip_prefix("sim"))
        .and_then(|n| n.parse().ok())
        .ok_or(TokenError::Malformed)?;
    let floor = sim.tenants[tenant]
        .rt
        .lock()
        .map(|rt| rt.token_floor)
        .unwrap_or(u64::MAX);
    if serial < floor {
        return Err(TokenError::Expired);
    }
    Ok(Caller {
        tenant,
        client_id: claims["appid"].as_str().unwrap_or_default().to_string(),
        roles: claims["roles"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// An Entra error answer `{error, error_description:"AADSTS…", error_codes, timestamp, trace_id, correlation_id}`.
pub(crate) fn entra_error(status: StatusCode, error: &str, code: u32, text: &str) -> Response {
    let trace_id = uuid::Uuid::new_v4().to_string();
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {text} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}"
        ),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    (status, axum::Json(body)).into_response()
}

/// POST /{tenant}/oauth2/v2.0/token (client credentials; the authorization-code grant is
/// [`crate::oidc::redeem`]).
pub(crate) async fn token(
    State(sim): State<Arc<Sim>>,
    Path(tenant_key): Path<String>,
    body: Bytes,
) -> Response {
    sim.count("POST /{tenant}/oauth2/v2.0/token");
    if let Some(time) = crate::latency::token_time(&sim, &tenant_key) {
        tokio::time::sleep(time).await;
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(grant_type) = field("grant_type") else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        );
    };
    if grant_type == "authorization_code" {
        return crate::oidc::redeem(&sim, &tenant_key, &form);
    }
    if grant_type != "client_credentials" {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{grant_type}'."),
        );
    }
    let Some(client_id) = field("client_id") else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let scope = field("scope").unwrap_or_default();
    if scope != "https://graph.microsoft.com/.default"
        && scope != "00000003-0000-0000-c000-000000000000/.default"
    {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            &format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        );
    }
    let Some(tenant) = sim.tenant_index(&tenant_key) else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant_key}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        );
    };
    let slot = &sim.tenants[tenant];
    let app = sim.app(client_id);
    let (granted, lifetime) = match slot.rt.lock() {
        Ok(rt) => (
            rt.consents.get(&client_id.to_ascii_lowercase()).cloned(),
            rt.knobs.token_lifetime_s,
        ),
        Err(_) => (None, 3599),
    };
    let (Some(app), Some(roles)) = (app, granted) else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
                slot.display_name
            ),
        );
    };
    if field("client_secret") != Some(app.client_secret.as_str()) {
        return entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            &format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        );
    }
    let token = issue(
        &sim,
        tenant,
        &app.client_id,
        &app.display_name,
        &roles,
        lifetime,
    );
    if let Ok(mut s) = sim.stats.lock() {
        s.tokens_issued += 1;
    }
    let body = json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}
