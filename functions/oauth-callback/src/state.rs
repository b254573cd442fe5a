//! The OAuth `state` parameter of the admin consent flow: signed, short-lived, single-use and
//! bound to what the flow was started for and to the browser that started it.
//!
//! One flow uses three states, each single-use, told apart by their [`Leg`]: the start link
//! `GET /connect` hands the platform ([`Leg::Start`]), the admin consent request's state
//! ([`Leg::Consent`]) and the sign-in request's state ([`Leg::SignIn`]). The last two carry the
//! SHA-256 of the `__Host-` cookie set at the start, so the callback accepts them only in that
//! browser.
//!
//! Wire form: `base64url(claims JSON) "." base64url(HMAC-SHA256(key, first part))`. The claims
//! carry a random nonce, the platform organization, the mode, the `return_to` URL, the expected
//! tenant (a partner's customer) and the expiry. The signature makes forging or changing any of
//! them detectable; the expiry bounds the flow to [`STATE_LIFETIME`]; single use comes from the
//! `STATE#{nonce}` item written at `/connect` and taken (a conditional delete) at the callback.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use lifecycle::model::{ConnectionMode, OAuthState};
use lifecycle::{OrgId, TenantId};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use thiserror::Error;

/// How long an admin has from `/connect` to the callback.
pub const STATE_LIFETIME: Duration = Duration::minutes(10);

/// Shortest signing key accepted: 32 bytes, the HMAC-SHA256 block-security level.
const MIN_KEY_BYTES: usize = 32;

/// Longest `state` the callback will look at; a real one is a few hundred characters.
const MAX_STATE_CHARS: usize = 4096;

/// Why a `state` is refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    /// Not in the wire form (or absurdly long): not made by us.
    #[error("the state parameter is malformed")]
    Malformed,
    /// The signature does not match: forged or altered.
    #[error("the state parameter's signature does not match")]
    BadSignature,
    /// Older than [`STATE_LIFETIME`].
    #[error("the consent link expired at {expired_at}")]
    Expired {
        expired_at: DateTime<Utc>,
        claims: Box<StateClaims>,
    },
}

/// Why no signer could be made.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("the state signing key is {length} bytes; at least {MIN_KEY_BYTES} are needed")]
    TooShort { length: usize },
}

/// Which step of the flow a state belongs to; a state of one step is refused at any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Leg {
    /// The start link `GET /connect` answers (opened at `GET /connect/start`).
    #[serde(rename = "s")]
    Start,
    /// The admin consent request (back at the callback with `admin_consent`).
    #[serde(rename = "c")]
    Consent,
    /// The OpenID Connect sign-in request (back at the callback with `code`).
    #[serde(rename = "i")]
    SignIn,
}

/// What a consent flow was started for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateClaims {
    /// The step this state is for.
    #[serde(rename = "k")]
    pub leg: Leg,
    /// base64url SHA-256 of the browser's flow cookie (consent and sign-in legs).
    #[serde(rename = "b", default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    /// 128 random bits, hex: the key of the single-use item.
    #[serde(rename = "n")]
    pub nonce: String,
    #[serde(rename = "o")]
    pub org_id: OrgId,
    #[serde(rename = "m")]
    pub mode: ConnectionMode,
    /// Where the result page links back to (checked against the allowed origins when shown).
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub return_to: Option<String>,
    /// The tenant the consent must come from (a partner's customer), when fixed in advance.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<TenantId>,
    /// Expiry, epoch seconds.
    #[serde(rename = "e")]
    pub expires_at: i64,
}

impl StateClaims {
    /// Fresh claims with a random nonce, valid for [`STATE_LIFETIME`] from `now`.
    pub fn new(
        org_id: OrgId,
        mode: ConnectionMode,
        return_to: Option<String>,
        tenant_id: Option<TenantId>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            leg: Leg::Start,
            browser: None,
            nonce: uuid::Uuid::new_v4().simple().to_string(),
            org_id,
            mode,
            return_to,
            tenant_id,
            expires_at: (now + STATE_LIFETIME).timestamp(),
        }
    }

    /// The claims of the next leg: a fresh nonce and expiry, bound to the browser whose cookie
    /// hashes to `browser`, for `tenant_id` when given (else the flow's own).
    pub fn next(
        &self,
        leg: Leg,
        browser: String,
        tenant_id: Option<TenantId>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            leg,
            browser: Some(browser),
            tenant_id: tenant_id.or_else(|| self.tenant_id.clone()),
            ..Self::new(
                self.org_id.clone(),
                self.mode,
                self.return_to.clone(),
                None,
                now,
            )
        }
    }

    /// The single-use item written when the flow starts.
    pub fn pending(&self, now: DateTime<Utc>) -> OAuthState {
        OAuthState {
            nonce: self.nonce.clone(),
            org_id: self.org_id.clone(),
            mode: self.mode,
            created_at: now,
            valid_until: self.valid_until(),
        }
    }

    /// When the state stops being accepted.
    pub fn valid_until(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.expires_at, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// Signs and verifies states with the key from Secrets Manager.
pub struct StateSigner {
    key: SecretString,
}

impl std::fmt::Debug for StateSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateSigner([REDACTED])")
    }
}

type HmacSha256 = Hmac<Sha256>;

impl StateSigner {
    /// A signer over `key` (at least 32 bytes).
    pub fn new(key: SecretString) -> Result<Self, KeyError> {
        let length = key.expose_secret().len();
        if length < MIN_KEY_BYTES {
            return Err(KeyError::TooShort { length });
        }
        Ok(Self { key })
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes a key of any length, so this never fails; the fallback keeps it panic-free.
        HmacSha256::new_from_slice(self.key.expose_secret().as_bytes())
            .unwrap_or_else(|_| HmacSha256::new(&Default::default()))
    }

    /// A value only this key can compute from `parts`: base64url HMAC-SHA256 over a label and
    /// the parts. The sign-in's PKCE verifier and nonce are derived this way from the state's
    /// nonce and the browser's cookie, so nothing secret is stored or sent in a URL.
    pub fn derive(&self, label: &str, parts: &[&str]) -> String {
        let mut mac = self.mac();
        mac.update(label.as_bytes());
        for part in parts {
            mac.update(b"\x1f");
            mac.update(part.as_bytes());
        }
        B64.encode(mac.finalize().into_bytes())
    }

    /// The wire form of `claims`.
    pub fn sign(&self, claims: &StateClaims) -> String {
        let payload = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let signature = B64.encode(mac.finalize().into_bytes());
        format!("{payload}.{signature}")
    }

    /// The claims of a state this signer made, if its signature holds and it has not expired at
    /// `now`. The signature is compared in constant time.
    pub fn verify(&self, state: &str, now: DateTime<Utc>) -> Result<StateClaims, StateError> {
        if state.len() > MAX_STATE_CHARS {
            return Err(StateError::Malformed);
        }
        let (payload, signature) = state.split_once('.').ok_or(StateError::Malformed)?;
        let signature = B64
            .decode(signature)
            .map_err(|_| StateError::BadSignature)?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| StateError::BadSignature)?;
        let claims: StateClaims = B64
            .decode(payload)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(StateError::Malformed)?;
        if now.timestamp() >= claims.expires_at {
            return Err(StateError::Expired {
                expired_at: claims.valid_until(),
                claims: Box::new(claims),
            });
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(key: &str) -> StateSigner {
        StateSigner::new(SecretString::from(key.to_owned())).unwrap()
    }

    fn claims(now: DateTime<Utc>) -> StateClaims {
        StateClaims::new(
            OrgId::parse("acme").unwrap(),
            ConnectionMode::Read,
            Some("https://app.example.com/settings".into()),
            None,
            now,
        )
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn given_a_signed_state_when_verified_within_ten_minutes_then_the_claims_come_back() {
        let now = Utc::now();
        let claims = claims(now);
        let state = signer(KEY).sign(&claims);
        let later = now + Duration::minutes(9);
        assert_eq!(signer(KEY).verify(&state, later), Ok(claims));
    }

    #[test]
    fn given_a_state_after_ten_minutes_when_verified_then_it_is_expired() {
        let now = Utc::now();
        let state = signer(KEY).sign(&claims(now));
        let err = signer(KEY)
            .verify(&state, now + Duration::minutes(10))
            .unwrap_err();
        assert!(matches!(err, StateError::Expired { .. }), "{err:?}");
    }

    #[test]
    fn given_a_tampered_payload_when_verified_then_the_signature_fails() {
        // GIVEN a state whose claims are rewritten to another organization
        let now = Utc::now();
        let state = signer(KEY).sign(&claims(now));
        let (_, signature) = state.split_once('.').unwrap();
        let mut forged = claims(now);
        forged.org_id = OrgId::parse("mallory").unwrap();
        let payload = B64.encode(serde_json::to_vec(&forged).unwrap());
        // WHEN / THEN
        assert_eq!(
            signer(KEY).verify(&format!("{payload}.{signature}"), now),
            Err(StateError::BadSignature)
        );
    }

    #[test]
    fn given_a_state_signed_with_another_key_or_garbage_when_verified_then_it_is_refused() {
        let now = Utc::now();
        let other = signer("another key of thirty-two bytes!!").sign(&claims(now));
        assert_eq!(
            signer(KEY).verify(&other, now),
            Err(StateError::BadSignature)
        );
        assert_eq!(
            signer(KEY).verify("no-dot", now),
            Err(StateError::Malformed)
        );
        assert_eq!(
            signer(KEY).verify("abc.!!!", now),
            Err(StateError::BadSignature)
        );
        assert_eq!(
            signer(KEY).verify(&"a.".repeat(3000), now),
            Err(StateError::Malformed)
        );
    }

    #[test]
    fn given_a_short_key_when_a_signer_is_made_then_it_is_refused() {
        let err = StateSigner::new(SecretString::from("short".to_owned())).unwrap_err();
        assert!(err.to_string().contains("5 bytes"), "{err}");
    }

    #[test]
    fn given_two_flows_when_started_then_their_nonces_differ() {
        let now = Utc::now();
        assert_ne!(claims(now).nonce, claims(now).nonce);
        assert_eq!(claims(now).nonce.len(), 32);
    }
}
