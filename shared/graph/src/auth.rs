//! App-only access tokens: the OAuth 2.0 client-credentials grant of the Microsoft identity
//! platform, cached per tenant and app, and the AADSTS errors turned into errors a person can act on.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::retry::parse_retry_after;

/// The scope that asks for every application permission granted to the app on Graph.
const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";

/// Refresh a token this long before it expires (tokens live ~60-90 min), so a request never
/// leaves with a token about to lapse.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// An app registration's credential: the platform's multi-tenant app or a customer's own app.
#[derive(Clone)]
pub struct AppCredential {
    /// Application (client) id.
    pub client_id: String,
    /// Client secret; never printed.
    pub client_secret: SecretString,
}

impl AppCredential {
    /// A credential from its two parts.
    pub fn new(client_id: impl Into<String>, client_secret: SecretString) -> Self {
        AppCredential {
            client_id: client_id.into(),
            client_secret,
        }
    }
}

impl std::fmt::Debug for AppCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCredential")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .finish()
    }
}

/// What the identity platform said when it refused a token (`error`, `error_codes`,
/// `error_description`, `trace_id`, `correlation_id`). Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AadError {
    /// HTTP status of the token response.
    pub status: u16,
    /// OAuth error, e.g. `invalid_client`.
    pub error: String,
    /// AADSTS numbers, e.g. `[7000215]`.
    pub error_codes: Vec<u64>,
    /// Entra's description, starting with `AADSTS…:`.
    pub description: String,
    /// Entra's trace id, for support cases.
    pub trace_id: Option<String>,
    /// Entra's correlation id, for support cases.
    pub correlation_id: Option<String>,
}

impl AadError {
    /// The AADSTS number: the first of `error_codes`, else read from the description.
    pub fn aadsts(&self) -> Option<u64> {
        self.error_codes.first().copied().or_else(|| {
            let rest = self.description.strip_prefix("AADSTS")?;
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
    }
}

impl std::fmt::Display for AadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {}", self.status, self.error)?;
        if let Some(first_line) = self.description.lines().next() {
            write!(f, ": {first_line}")?;
        }
        if let Some(trace) = &self.trace_id {
            write!(f, " (trace id {trace})")?;
        }
        Ok(())
    }
}

/// Why no access token could be obtained for a tenant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// AADSTS7000215 (invalid secret) or AADSTS7000222 (expired secret).
    #[error(
        "the client secret of app {client_id} is wrong or expired; enter a current client secret ({detail})"
    )]
    InvalidClientSecret {
        client_id: String,
        detail: Box<AadError>,
    },
    /// AADSTS700016 (app not found in the directory) or AADSTS65001 (consent not granted): the app
    /// has no service principal in the tenant, i.e. admin consent is missing or was revoked.
    #[error(
        "app {client_id} is not consented in tenant {tenant_id}; ask a Global Administrator of that tenant to grant admin consent ({detail})"
    )]
    AppNotInTenant {
        tenant_id: String,
        client_id: String,
        detail: Box<AadError>,
    },
    /// AADSTS90002 / AADSTS900023: no such tenant.
    #[error("tenant {tenant_id} was not found; check the tenant id or domain ({detail})")]
    TenantNotFound {
        tenant_id: String,
        detail: Box<AadError>,
    },
    /// Any other refusal by the identity platform.
    #[error("the Microsoft identity platform refused a token: {0}")]
    Rejected(Box<AadError>),
    /// 429 or 5xx from the token endpoint.
    #[error("the Microsoft identity platform is unavailable (HTTP {status})")]
    Unavailable {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// No HTTP answer from the token endpoint.
    #[error("could not reach the Microsoft identity platform: {0}")]
    Transport(#[source] reqwest::Error),
    /// A 200 whose body is not a token response.
    #[error("unexpected token response (HTTP {status}): {reason}")]
    UnexpectedBody { status: u16, reason: String },
}

impl TokenError {
    /// Whether asking again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TokenError::Unavailable { .. } | TokenError::Transport(_)
        )
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            TokenError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// An access token with its expiry and a generation number, so a 401 invalidates only the token
/// that was actually refused (not one another task refreshed meanwhile).
#[derive(Clone)]
pub(crate) struct AccessToken {
    pub(crate) secret: Arc<SecretString>,
    /// `Bearer …`, built once per token and marked sensitive (never printed by `Debug`).
    pub(crate) authorization: reqwest::header::HeaderValue,
    pub(crate) generation: u64,
    refresh_at: Instant,
}

/// One cache slot per (tenant, app, secret). Its async mutex is held while a token is fetched,
/// so only one refresh per slot is in flight; waiters then find the fresh token.
#[derive(Default)]
pub(crate) struct TokenSlot {
    current: tokio::sync::Mutex<Option<AccessToken>>,
}

/// The process-wide token cache of a client.
#[derive(Default)]
pub(crate) struct TokenCache {
    slots: StdMutex<HashMap<SlotKey, Arc<TokenSlot>>>,
}

#[derive(Hash, PartialEq, Eq)]
struct SlotKey {
    tenant_id: String,
    client_id: String,
    /// A hash of the secret, so a corrected or rotated secret is tried instead of being masked
    /// by a token the previous secret obtained.
    secret_hash: u64,
}

impl TokenCache {
    pub(crate) fn slot(&self, tenant_id: &str, credential: &AppCredential) -> Arc<TokenSlot> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        credential.client_secret.expose_secret().hash(&mut hasher);
        let key = SlotKey {
            tenant_id: tenant_id.to_owned(),
            client_id: credential.client_id.clone(),
            secret_hash: hasher.finish(),
        };
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slots.entry(key).or_default().clone()
    }
}

/// Everything needed to ask for a token for one tenant.
pub(crate) struct TokenRequest<'a> {
    pub(crate) http: &'a reqwest::Client,
    pub(crate) login_base: &'a str,
    pub(crate) tenant_id: &'a str,
    pub(crate) credential: &'a AppCredential,
    pub(crate) retry: &'a crate::RetryPolicy,
    pub(crate) metrics: &'a crate::metrics::MetricsCell,
}

impl TokenSlot {
    /// The cached token if still fresh, else a new one.
    pub(crate) async fn get(&self, request: &TokenRequest<'_>) -> Result<AccessToken, TokenError> {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok(token.clone());
        }
        let generation = current.as_ref().map_or(1, |t| t.generation + 1);
        let fresh = request_token(request, generation).await?;
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    /// Drops the token of `generation` after Graph refused it, so the next `get` fetches anew.
    pub(crate) async fn invalidate(&self, generation: u64) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|t| t.generation == generation) {
            *current = None;
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<NumberOrText>,
}

/// `expires_in` is a number in v2.0 but text in some older responses.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(u64),
    Text(String),
}

#[derive(Deserialize, Default)]
struct TokenErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u64>,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
}

async fn request_token(
    request: &TokenRequest<'_>,
    generation: u64,
) -> Result<AccessToken, TokenError> {
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let error = match request_token_once(request, generation).await {
            Ok(token) => return Ok(token),
            Err(error) if error.is_retryable() => error,
            Err(error) => return Err(error),
        };
        match request
            .retry
            .next_delay(attempt, error.retry_after(), started.elapsed())
        {
            Some(delay) => {
                request.metrics.retry();
                tracing::debug!(
                    attempt,
                    ?delay,
                    "token request failed transiently; retrying"
                );
                tokio::time::sleep(delay).await;
            }
            None => return Err(error),
        }
    }
}

async fn request_token_once(
    request: &TokenRequest<'_>,
    generation: u64,
) -> Result<AccessToken, TokenError> {
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        request.login_base,
        crate::url_path::encode_segment(request.tenant_id)
    );
    let form = [
        ("client_id", request.credential.client_id.as_str()),
        (
            "client_secret",
            request.credential.client_secret.expose_secret(),
        ),
        ("grant_type", "client_credentials"),
        ("scope", GRAPH_DEFAULT_SCOPE),
    ];
    request.metrics.token_request();
    let sent_at = Instant::now();
    let response = request
        .http
        .post(url)
        .form(&form)
        .send()
        .await
        .map_err(TokenError::Transport)?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let body = response.bytes().await.map_err(TokenError::Transport)?;
    if status == 429 || status >= 500 {
        return Err(TokenError::Unavailable {
            status,
            retry_after,
        });
    }
    if !(200..300).contains(&status) {
        return Err(classify(status, request, &body));
    }
    let parsed: TokenResponse =
        serde_json::from_slice(&body).map_err(|e| TokenError::UnexpectedBody {
            status,
            reason: format!("not a token response: {e}"),
        })?;
    let lifetime = match parsed.expires_in {
        Some(NumberOrText::Number(n)) => Duration::from_secs(n),
        Some(NumberOrText::Text(t)) => Duration::from_secs(t.trim().parse().unwrap_or(0)),
        None => Duration::ZERO,
    };
    // Short-lived tokens (a simulator, or a lifetime under 10 min) are kept for half their life.
    let margin = REFRESH_MARGIN.min(lifetime / 2);
    let mut authorization =
        reqwest::header::HeaderValue::try_from(format!("Bearer {}", parsed.access_token)).map_err(
            |_| TokenError::UnexpectedBody {
                status,
                reason: "the access token is not a valid header value".to_owned(),
            },
        )?;
    authorization.set_sensitive(true);
    Ok(AccessToken {
        authorization,
        secret: Arc::new(SecretString::from(parsed.access_token)),
        generation,
        refresh_at: sent_at + lifetime.saturating_sub(margin),
    })
}

fn classify(status: u16, request: &TokenRequest<'_>, body: &[u8]) -> TokenError {
    let parsed: TokenErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let detail = Box::new(AadError {
        status,
        error: parsed.error,
        error_codes: parsed.error_codes,
        description: parsed.error_description,
        trace_id: parsed.trace_id,
        correlation_id: parsed.correlation_id,
    });
    let tenant_id = request.tenant_id.to_owned();
    let client_id = request.credential.client_id.clone();
    match detail.aadsts() {
        Some(7000215 | 7000222) => TokenError::InvalidClientSecret { client_id, detail },
        Some(700016 | 65001) => TokenError::AppNotInTenant {
            tenant_id,
            client_id,
            detail,
        },
        Some(90002 | 900023) => TokenError::TenantNotFound { tenant_id, detail },
        _ => TokenError::Rejected(detail),
    }
}

#[derive(Deserialize)]
struct RolesClaim {
    #[serde(default)]
    roles: Vec<String>,
}

/// The application permissions (`roles` claim) in an access token. The signature is not
/// checked: the value is only reported to people, never used to grant anything.
pub(crate) fn roles_of(token: &str) -> Option<Vec<String>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<RolesClaim>(&bytes)
        .ok()
        .map(|c| c.roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_jwt_shaped_token_when_roles_are_read_then_the_claim_is_returned() {
        // GIVEN a token whose payload holds two roles
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"tid":"t","roles":["User.Read.All","Group.Read.All"]}"#);
        let token = format!("eyJhbGciOiJub25lIn0.{payload}.sig");
        // WHEN / THEN
        assert_eq!(
            roles_of(&token),
            Some(vec![
                "User.Read.All".to_owned(),
                "Group.Read.All".to_owned()
            ])
        );
        assert_eq!(roles_of("not-a-jwt"), None);
    }

    #[test]
    fn given_credential_when_debug_printed_then_secret_is_hidden() {
        // GIVEN
        let c = AppCredential::new("app", SecretString::from("s3cr3t-value"));
        // WHEN
        let printed = format!("{c:?}");
        // THEN
        assert!(!printed.contains("s3cr3t"));
        assert!(printed.contains("app"));
    }

    #[test]
    fn given_description_without_codes_when_aadsts_read_then_number_is_parsed() {
        let e = AadError {
            description: "AADSTS90002: Tenant 'x' not found.".into(),
            ..AadError::default()
        };
        assert_eq!(e.aadsts(), Some(90002));
    }
}
