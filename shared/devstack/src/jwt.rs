//! The HTTP API's JWT authorizer, emulated: the devstack is its own token issuer.
//!
//! In AWS, API Gateway verifies a bearer token against the issuer's JWKS (RS256), then checks
//! `iss`, `aud` (or `client_id`), `exp` and `nbf`, and hands the claims to the function in
//! `requestContext.authorizer.jwt.claims`. Locally there is no JWKS: the stack signs tokens with
//! an HS256 key it draws at start ([`TokenIssuer`]) and checks signatures with the same key, so a
//! token signed by anyone else is refused just as a forged token is in AWS. The other checks and
//! the claims handed to the function follow API Gateway.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use thiserror::Error;

/// The scopes of the HTTP API (each route's `AuthorizationScopes` in infra/template.yaml):
/// reading a tenant's data, changing it (jobs, syncs, restores), and connecting or removing
/// tenants.
pub const ALL_SCOPES: [&str; 3] = ["lifecycle.read", "lifecycle.write", "tenants.admin"];

/// How long a token from [`TokenIssuer::token`] stays valid.
pub const TOKEN_LIFETIME: chrono::Duration = chrono::Duration::hours(12);

/// Why a token is refused (API Gateway answers 401 for each; the reason goes to the
/// `www-authenticate` header, as API Gateway's `error_description`).
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    #[error("no token in {0}")]
    Missing(String),
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token's alg is not HS256 (the local issuer's)")]
    Algorithm,
    #[error("the token's signature is not valid")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token has no exp claim")]
    NoExpiry,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's issuer is not {0}")]
    Issuer(String),
    #[error("the token's audience is not allowed")]
    Audience,
}

/// The local token issuer: an issuer URL, one audience, and an HS256 key that exists only in
/// this process.
pub struct TokenIssuer {
    issuer: String,
    audience: String,
    key: SecretBox<Vec<u8>>,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An issuer with a fresh random 256-bit key (from the OS random source, through UUID v4).
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> TokenIssuer {
        let mut key = Vec::with_capacity(32);
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        TokenIssuer {
            issuer: issuer.into(),
            audience: audience.into(),
            key: SecretBox::new(Box::new(key)),
        }
    }

    /// The `iss` of its tokens (the template's `ApiJwtIssuer` locally).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `aud` of its tokens (the template's `ApiJwtAudience` locally).
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// A token for a platform service acting for organization `org_id`, under `org_claim`
    /// (`Config::org_claim`), with every scope of [`ALL_SCOPES`], valid for [`TOKEN_LIFETIME`].
    pub fn token(&self, org_claim: &str, org_id: &str) -> String {
        self.token_with_scope(org_claim, org_id, &ALL_SCOPES.join(" "))
    }

    /// [`Self::token`] with the `scope` claim `scope` (space-separated, as OAuth 2.0 and API
    /// Gateway read it; empty: no scope at all).
    pub fn token_with_scope(&self, org_claim: &str, org_id: &str, scope: &str) -> String {
        let now = Utc::now();
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(format!("platform-service:{org_id}")));
        claims.insert(org_claim.into(), json!(org_id));
        if !scope.trim().is_empty() {
            claims.insert("scope".into(), json!(scope.trim()));
        }
        claims.insert("iat".into(), json!(now.timestamp()));
        claims.insert("exp".into(), json!((now + TOKEN_LIFETIME).timestamp()));
        self.sign(claims)
    }

    /// Signs exactly `claims`, adding only `iss` and `aud` when absent (tests build expired or
    /// otherwise odd tokens with it).
    pub fn sign(&self, mut claims: Map<String, Value>) -> String {
        claims.entry("iss").or_insert_with(|| json!(self.issuer));
        claims.entry("aud").or_insert_with(|| json!(self.audience));
        let header = B64URL.encode(json!({"alg": "HS256", "typ": "JWT"}).to_string());
        let payload = B64URL.encode(Value::Object(claims).to_string());
        let signing_input = format!("{header}.{payload}");
        let signature = B64URL.encode(self.mac(signing_input.as_bytes()));
        format!("{signing_input}.{signature}")
    }

    fn mac(&self, data: &[u8]) -> Vec<u8> {
        // HMAC takes a key of any length, so new_from_slice cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.expose_secret())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// Verifies `token` as API Gateway's JWT authorizer would for an authorizer configured with
    /// `issuer` and `audience`: signature, `exp` (required), `nbf`, `iss`, then `aud` or
    /// `client_id`. Returns the claims.
    pub fn verify(
        &self,
        token: &str,
        issuer: &str,
        audience: &[String],
        now: DateTime<Utc>,
    ) -> Result<Map<String, Value>, TokenError> {
        let token = token.trim();
        let token = token
            .strip_prefix("Bearer ")
            .or_else(|| token.strip_prefix("bearer "))
            .unwrap_or(token)
            .trim();
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let decode = |part: &str| -> Result<Value, TokenError> {
            let bytes = B64URL.decode(part).map_err(|_| TokenError::Malformed)?;
            serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
        };
        if decode(header)?.get("alg").and_then(Value::as_str) != Some("HS256") {
            return Err(TokenError::Algorithm);
        }
        let signature = B64URL
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.expose_secret())
            .map_err(|_| TokenError::Signature)?;
        mac.update(format!("{header}.{payload}").as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::Signature)?;
        let Value::Object(claims) = decode(payload)? else {
            return Err(TokenError::Malformed);
        };
        let now = now.timestamp();
        match claims.get("exp").and_then(Value::as_i64) {
            None => return Err(TokenError::NoExpiry),
            Some(exp) if exp <= now => return Err(TokenError::Expired),
            Some(_) => {}
        }
        if claims
            .get("nbf")
            .and_then(Value::as_i64)
            .is_some_and(|nbf| nbf > now)
        {
            return Err(TokenError::NotYetValid);
        }
        if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
            return Err(TokenError::Issuer(issuer.to_owned()));
        }
        let allowed = |value: &Value| {
            value
                .as_str()
                .is_some_and(|v| audience.iter().any(|a| a == v))
        };
        let audience_ok = match claims.get("aud") {
            Some(Value::Array(values)) => values.iter().any(allowed),
            Some(value) => allowed(value),
            None => claims.get("client_id").is_some_and(allowed),
        };
        if !audience_ok {
            return Err(TokenError::Audience);
        }
        Ok(claims)
    }
}

/// The claims as API Gateway hands them to a function: every value a string (numbers and booleans
/// in their JSON spelling, arrays as `[a b]`, objects as JSON).
pub fn claims_for_event(claims: &Map<String, Value>) -> BTreeMap<String, String> {
    claims
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Array(items) => format!(
                    "[{}]",
                    items
                        .iter()
                        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                other => other.to_string(),
            };
            (name.clone(), text)
        })
        .collect()
}

/// The token's scopes (`scope`, space-separated, or `scp`), as API Gateway lists them.
pub fn scopes(claims: &Map<String, Value>) -> Option<Vec<String>> {
    match claims.get("scope").or_else(|| claims.get("scp"))? {
        Value::String(text) => Some(text.split_whitespace().map(str::to_owned).collect()),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "http://127.0.0.1:3000/_devstack";
    const AUD: &str = "m365-lifecycle-api";

    fn audience() -> Vec<String> {
        vec![AUD.to_owned()]
    }

    #[test]
    fn given_a_token_of_the_issuer_when_verified_then_its_claims_come_back() {
        let issuer = TokenIssuer::new(ISS, AUD);
        let token = issuer.token("org_id", "acme");
        let claims = issuer
            .verify(&format!("Bearer {token}"), ISS, &audience(), Utc::now())
            .expect("valid");
        assert_eq!(claims["org_id"], "acme");
        assert_eq!(claims_for_event(&claims)["org_id"], "acme");
    }

    #[test]
    fn given_bad_tokens_when_verified_then_each_is_refused_for_its_reason() {
        let issuer = TokenIssuer::new(ISS, AUD);
        let now = Utc::now();
        let other_key = TokenIssuer::new(ISS, AUD).token("org_id", "acme");
        assert_eq!(
            issuer.verify(&other_key, ISS, &audience(), now),
            Err(TokenError::Signature)
        );
        let expired = issuer.sign(Map::from_iter([(
            "exp".to_owned(),
            json!(now.timestamp() - 1),
        )]));
        assert_eq!(
            issuer.verify(&expired, ISS, &audience(), now),
            Err(TokenError::Expired)
        );
        let no_exp = issuer.sign(Map::new());
        assert_eq!(
            issuer.verify(&no_exp, ISS, &audience(), now),
            Err(TokenError::NoExpiry)
        );
        let token = issuer.token("org_id", "acme");
        assert_eq!(
            issuer.verify(&token, "https://other", &audience(), now),
            Err(TokenError::Issuer("https://other".into()))
        );
        assert_eq!(
            issuer.verify(&token, ISS, &["other".to_owned()], now),
            Err(TokenError::Audience)
        );
        assert_eq!(
            issuer.verify("not-a-jwt", ISS, &audience(), now),
            Err(TokenError::Malformed)
        );
        let tampered = {
            let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
            parts[1] = B64URL.encode(
                json!({"org_id": "victim", "exp": now.timestamp() + 60, "iss": ISS, "aud": AUD})
                    .to_string(),
            );
            parts.join(".")
        };
        assert_eq!(
            issuer.verify(&tampered, ISS, &audience(), now),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn given_array_and_number_claims_when_handed_to_a_function_then_they_are_strings() {
        let claims = Map::from_iter([
            ("groups".to_owned(), json!(["a", "b"])),
            ("exp".to_owned(), json!(5)),
            ("scope".to_owned(), json!("read write")),
        ]);
        let event = claims_for_event(&claims);
        assert_eq!(event["groups"], "[a b]");
        assert_eq!(event["exp"], "5");
        assert_eq!(scopes(&claims), Some(vec!["read".into(), "write".into()]));
    }
}
