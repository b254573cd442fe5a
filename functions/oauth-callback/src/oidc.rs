//! Signing the admin in after consent: the OpenID Connect authorization-code flow of the
//! Microsoft identity platform (PKCE S256, nonce) and validation of the ID token it answers.
//!
//! Consent alone proves nothing about who completed it: Entra's redirect names a `tenant`, and
//! anyone can type one. So after consent the callback sends the browser to the tenant's
//! authorization endpoint (from `{LOGIN_BASE_URL}/{tenant}/v2.0/.well-known/openid-configuration`),
//! redeems the code with the PKCE verifier and the platform app's secret, and accepts the ID token
//! only when
//! - its RS256 signature verifies against a key of the discovery document's `jwks_uri`,
//! - `iss` is the tenant's issuer (`{LOGIN_BASE_URL}/{tenant}/v2.0`), `aud` the app's client id,
//!   `exp` not passed (5 minutes of clock skew), `nonce` the one this browser's flow sent,
//! - `tid` is the tenant, and
//! - `wids` holds a role that can grant consent ([`CONSENT_ROLES`]). Entra puts `wids` in tokens
//!   only when the app registration's `groupMembershipClaims` is `DirectoryRole` or `All`.

use std::time::Duration;

use graph::AppCredential;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lifecycle::TenantId;
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use thiserror::Error;

/// Directory roles (template ids, the same in every tenant) whose holders may connect a tenant:
/// those that can grant tenant-wide admin consent. (Entra itself lets only the first two grant
/// Microsoft Graph application permissions; the consent is checked again by the connection
/// test.)
pub const CONSENT_ROLES: [(&str, &str); 4] = [
    (
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
    ),
    (
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
        "Privileged Role Administrator",
    ),
    (
        "158c047a-c907-4556-b7ef-446551a6b5f7",
        "Cloud Application Administrator",
    ),
    (
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        "Application Administrator",
    ),
];

/// Scopes of the sign-in: an ID token with the user's name and tenant.
pub const SIGN_IN_SCOPE: &str = "openid profile";

/// Clock skew allowed on `exp` / `nbf`, as Microsoft's libraries allow.
const CLOCK_SKEW_S: u64 = 300;

/// How long one request to the identity platform may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the admin's sign-in does not prove the tenant.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SignInError {
    /// The identity platform did not answer usably (network, 5xx, unreadable answer).
    #[error("the Microsoft identity platform is not answering: {0}")]
    Unavailable(String),
    /// The token endpoint refused the code (`error` and the first line of its description).
    #[error("Microsoft refused the sign-in: {error}: {description}")]
    Refused { error: String, description: String },
    /// The ID token failed validation (signature, issuer, audience, expiry or nonce).
    #[error("the ID token is not valid: {0}")]
    InvalidToken(String),
    /// The ID token is valid but for another tenant.
    #[error("the account that signed in belongs to tenant {found}, not {expected}")]
    WrongTenant { expected: String, found: String },
    /// The account holds no role that can grant consent.
    #[error("{user} holds no role that can grant admin consent")]
    NotAnAdmin { user: String },
}

impl SignInError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// The parts of a tenant's OpenID Connect discovery document the flow uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

/// The signed-in administrator, as the validated ID token names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInAdmin {
    pub tenant_id: TenantId,
    /// `preferred_username` (or `oid` when absent): for the result page and the log.
    pub user: String,
    /// The first role of [`CONSENT_ROLES`] the user holds.
    pub role: &'static str,
}

/// One key of a JWKS (what validation needs; other members are ignored).
#[derive(Debug, Clone, Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

/// The claims of a v2.0 ID token the checks read (`aud`, `iss`, `exp` are checked by the JWT
/// library).
#[derive(Debug, Deserialize)]
struct IdClaims {
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    tid: Option<String>,
    #[serde(default)]
    wids: Vec<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    oid: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    id_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// Talks to the identity platform at `LOGIN_BASE_URL`.
#[derive(Debug, Clone)]
pub struct OidcClient {
    http: reqwest::Client,
    login_base_url: String,
}

impl OidcClient {
    /// A client for the identity platform at `login_base_url` (no trailing slash).
    pub fn new(login_base_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            http,
            login_base_url: login_base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The issuer every ID token of `tenant` must carry.
    pub fn issuer(&self, tenant: &TenantId) -> String {
        format!("{}/{tenant}/v2.0", self.login_base_url)
    }

    /// The discovery document of `tenant`. Its endpoints must be on `LOGIN_BASE_URL`'s origin
    /// and its issuer the tenant's.
    pub async fn discover(&self, tenant: &TenantId) -> Result<Discovery, SignInError> {
        let url = format!(
            "{}/{tenant}/v2.0/.well-known/openid-configuration",
            self.login_base_url
        );
        let discovery: Discovery = self.get_json(&url).await?;
        let issuer = discovery.issuer.replace("{tenantid}", tenant.as_str());
        if issuer != self.issuer(tenant) {
            return Err(SignInError::Unavailable(format!(
                "the discovery document names issuer {issuer:?}, not the tenant's"
            )));
        }
        let own = |endpoint: &str| endpoint.starts_with(&format!("{}/", self.login_base_url));
        if !own(&discovery.authorization_endpoint)
            || !own(&discovery.token_endpoint)
            || !own(&discovery.jwks_uri)
        {
            return Err(SignInError::Unavailable(
                "the discovery document points outside LOGIN_BASE_URL".into(),
            ));
        }
        Ok(Discovery {
            issuer,
            ..discovery
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, SignInError> {
        let answer = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|error| SignInError::Unavailable(error.without_url().to_string()))?;
        if !answer.status().is_success() {
            return Err(SignInError::Unavailable(format!(
                "{url} answered {}",
                answer.status()
            )));
        }
        answer
            .json()
            .await
            .map_err(|error| SignInError::Unavailable(error.without_url().to_string()))
    }

    /// Redeems `code` at the token endpoint (PKCE `verifier`, the app's secret) for its ID token.
    pub async fn redeem(
        &self,
        discovery: &Discovery,
        credential: &AppCredential,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<String, SignInError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", credential.client_id.as_str()),
            ("client_secret", credential.client_secret.expose_secret()),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
            ("scope", SIGN_IN_SCOPE),
        ];
        let answer = self
            .http
            .post(&discovery.token_endpoint)
            .form(&form)
            .send()
            .await
            .map_err(|error| SignInError::Unavailable(error.without_url().to_string()))?;
        let status = answer.status();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(SignInError::Unavailable(format!(
                "the token endpoint answered {status}"
            )));
        }
        if !status.is_success() {
            let refused: ErrorAnswer = answer.json().await.unwrap_or(ErrorAnswer {
                error: status.to_string(),
                error_description: String::new(),
            });
            return Err(SignInError::Refused {
                error: refused.error,
                description: refused
                    .error_description
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
        let tokens: TokenAnswer = answer
            .json()
            .await
            .map_err(|error| SignInError::Unavailable(error.without_url().to_string()))?;
        tokens
            .id_token
            .ok_or_else(|| SignInError::InvalidToken("the token endpoint sent no ID token".into()))
    }

    /// The signing keys the discovery document publishes.
    pub async fn keys(&self, discovery: &Discovery) -> Result<KeySet, SignInError> {
        let jwks: Jwks = self.get_json(&discovery.jwks_uri).await?;
        Ok(KeySet(jwks.keys))
    }
}

/// A tenant's published signing keys.
#[derive(Debug, Clone)]
pub struct KeySet(Vec<Jwk>);

impl KeySet {
    /// A key set of one RSA key (`n`, `e` base64url), for tests.
    pub fn single_rsa(kid: &str, n: &str, e: &str) -> Self {
        KeySet(vec![Jwk {
            kty: "RSA".into(),
            kid: Some(kid.into()),
            n: Some(n.into()),
            e: Some(e.into()),
        }])
    }

    fn decoding_key(&self, kid: Option<&str>) -> Result<DecodingKey, SignInError> {
        let jwk = self
            .0
            .iter()
            .filter(|k| k.kty == "RSA")
            .find(|k| kid.is_some() && k.kid.as_deref() == kid)
            .ok_or_else(|| {
                SignInError::InvalidToken("signed by a key the tenant does not publish".into())
            })?;
        match (&jwk.n, &jwk.e) {
            (Some(n), Some(e)) => DecodingKey::from_rsa_components(n, e).map_err(|error| {
                SignInError::InvalidToken(format!("the published key is unusable: {error}"))
            }),
            _ => Err(SignInError::InvalidToken(
                "the published key has no modulus".into(),
            )),
        }
    }
}

/// Validates `id_token` for a sign-in to `tenant` by app `client_id` whose request carried
/// `nonce`, and returns the administrator it names (see the module documentation).
pub fn validate(
    id_token: &str,
    keys: &KeySet,
    issuer: &str,
    tenant: &TenantId,
    client_id: &str,
    nonce: &str,
) -> Result<SignedInAdmin, SignInError> {
    let invalid = |error: jsonwebtoken::errors::Error| SignInError::InvalidToken(error.to_string());
    let header = jsonwebtoken::decode_header(id_token).map_err(invalid)?;
    if header.alg != Algorithm::RS256 {
        return Err(SignInError::InvalidToken(format!(
            "signed with {:?}, not RS256",
            header.alg
        )));
    }
    let key = keys.decoding_key(header.kid.as_deref())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.leeway = CLOCK_SKEW_S;
    validation.validate_nbf = true;
    let claims = jsonwebtoken::decode::<IdClaims>(id_token, &key, &validation)
        .map_err(invalid)?
        .claims;
    if claims.nonce.as_deref() != Some(nonce) {
        return Err(SignInError::InvalidToken(
            "the nonce is not the one this browser's sign-in sent".into(),
        ));
    }
    let found = claims.tid.unwrap_or_default();
    if !found.eq_ignore_ascii_case(tenant.as_str()) {
        return Err(SignInError::WrongTenant {
            expected: tenant.to_string(),
            found,
        });
    }
    let user = claims
        .preferred_username
        .or(claims.oid)
        .unwrap_or_else(|| "the account".to_owned());
    let role = CONSENT_ROLES
        .iter()
        .find(|(id, _)| claims.wids.iter().any(|w| w.eq_ignore_ascii_case(id)))
        .map(|(_, name)| *name)
        .ok_or_else(|| SignInError::NotAnAdmin { user: user.clone() })?;
    Ok(SignedInAdmin {
        tenant_id: tenant.clone(),
        user,
        role,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// A test-only RSA key (never used outside these tests) and its public parts.
    const TEST_KEY: &str = include_str!("oidc/test-signing-key.pem");
    const TEST_N: &str = "0ohNoXVRUgBb8geIsDpZ8C5QEp4fVKGYGXljdG2vgk3iP3xex93edE9RPBAjO0CDcUtz5UBcoShCWRPHct6IvZNnIQU_schuSDN-lcJ-Dclqo4mFa5MKMDJ6fS1XhFzbapTCgEfLTkAYMRGh967wERsEW1wAc8HtSTxhDORUZEUe12-Lkqx32nvnfX4hZd7uOOvEjezE36AVPtgL-sRBhdgWc27nkqCw1lcVMd3k56WcrIoXvCW94fNFkk4CV0H8Q6Bk5ZjDcYJ6qTjB4wh5uTqfHwmJ52HTxHGweRZxMRyTqYC6Oh45MEBGZBqIhWLXr3dgwHjqce2HURTrGq6ytQ";
    const TENANT: &str = "11111111-2222-3333-4444-555555555555";
    const OTHER: &str = "99999999-2222-3333-4444-555555555555";
    const CLIENT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
    const ISSUER: &str = "https://login.example.com/11111111-2222-3333-4444-555555555555/v2.0";
    const GLOBAL_ADMIN: &str = "62e90394-69f5-4237-9190-012177145e10";
    const USER_ROLE: &str = "b79fbf4d-3ef9-4689-8143-76b194e85509";

    fn claims() -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({"aud": CLIENT, "iss": ISSUER, "iat": now, "nbf": now, "exp": now + 3600,
               "nonce": "n-1", "tid": TENANT, "preferred_username": "admin@contoso.example",
               "wids": [GLOBAL_ADMIN, USER_ROLE], "ver": "2.0"})
    }

    fn sign(claims: &Value, kid: &str) -> String {
        let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(TEST_KEY.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    fn check(token: &str) -> Result<SignedInAdmin, SignInError> {
        validate(
            token,
            &KeySet::single_rsa("k1", TEST_N, "AQAB"),
            ISSUER,
            &TenantId::parse(TENANT).unwrap(),
            CLIENT,
            "n-1",
        )
    }

    #[test]
    fn given_a_global_administrators_id_token_when_validated_then_the_admin_is_named() {
        let admin = check(&sign(&claims(), "k1")).expect("valid");
        assert_eq!(admin.user, "admin@contoso.example");
        assert_eq!(admin.role, "Global Administrator");
    }

    #[test]
    fn given_each_defect_of_an_id_token_when_validated_then_it_is_refused() {
        let with = |name: &str, value: Value| {
            let mut c = claims();
            c[name] = value;
            sign(&c, "k1")
        };
        let now = chrono::Utc::now().timestamp();
        // another audience, issuer, an expired token, another nonce, no nonce
        for token in [
            with("aud", json!("ffffffff-bbbb-cccc-dddd-eeeeeeeeeeee")),
            with(
                "iss",
                json!(format!("https://login.example.com/{OTHER}/v2.0")),
            ),
            with("exp", json!(now - 3600)),
            with("nonce", json!("n-2")),
            with("nonce", Value::Null),
        ] {
            let refused = check(&token).unwrap_err();
            assert!(
                matches!(refused, SignInError::InvalidToken(_)),
                "{refused:?}"
            );
        }
        // a key the tenant does not publish
        assert!(matches!(
            check(&sign(&claims(), "k2")),
            Err(SignInError::InvalidToken(_))
        ));
        // an altered payload (signature broken)
        let token = sign(&claims(), "k1");
        let mut parts: Vec<&str> = token.split('.').collect();
        let other_payload = with("preferred_username", json!("mallory@evil.example"));
        parts[1] = other_payload.split('.').nth(1).unwrap();
        assert!(matches!(
            check(&parts.join(".")),
            Err(SignInError::InvalidToken(_))
        ));
    }

    #[test]
    fn given_a_token_of_another_tenant_when_validated_then_wrong_tenant() {
        let mut c = claims();
        c["tid"] = json!(OTHER);
        assert!(matches!(
            check(&sign(&c, "k1")),
            Err(SignInError::WrongTenant { .. })
        ));
    }

    #[test]
    fn given_a_member_or_an_admin_that_cannot_consent_when_validated_then_not_an_admin() {
        for wids in [
            json!([USER_ROLE]),
            json!(["729827e3-9c14-49f7-bb1b-9608f156bbb8", USER_ROLE]),
            Value::Null,
        ] {
            let mut c = claims();
            match wids {
                Value::Null => drop(c.as_object_mut().unwrap().remove("wids")),
                wids => c["wids"] = wids,
            }
            let refused = check(&sign(&c, "k1"));
            assert!(
                matches!(refused, Err(SignInError::NotAnAdmin { .. })),
                "{refused:?}"
            );
        }
    }
}
