//! Graph's error envelope turned into one typed error.
//!
//! Graph answers errors as `{"error":{"code","message","innerError":{"request-id","date"}}}`.
//! Callers branch on the variant (the HTTP status class) and on `code`; the helper predicates
//! below exist only for the documented 400 cases where Graph gives no distinct code
//! (`Request_BadRequest` covers them all) and the message is the only discriminator.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::auth::TokenError;

/// What Graph said about a failed request: status, code, message and the ids that let
/// Microsoft support (and our audit trail) find the request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorDetail {
    /// HTTP status of the response (or of the `$batch` step).
    pub status: u16,
    /// Graph's error code, e.g. `Request_ResourceNotFound`; empty when the body had none.
    pub code: String,
    /// Graph's human-readable message.
    pub message: String,
    /// The `request-id` Graph assigned (response header, else `innerError`).
    pub request_id: Option<String>,
    /// The `client-request-id` we sent, echoed back.
    pub client_request_id: Option<String>,
    /// When Graph handled the request (`innerError.date`).
    pub date: Option<String>,
}

impl std::fmt::Display for ErrorDetail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if !self.code.is_empty() {
            write!(f, " {}", self.code)?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request-id {id})")?;
        }
        Ok(())
    }
}

/// Every way a Graph call can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// 429: the app's budget for this tenant is spent; wait `retry_after` (Graph's `Retry-After`).
    #[error("throttled by Microsoft Graph (retry after {retry_after:?}): {detail}")]
    Throttled {
        retry_after: Option<Duration>,
        detail: Box<ErrorDetail>,
    },
    /// 500, 502, 503, 504 or 408: a transient failure on Graph's side.
    #[error("Microsoft Graph is temporarily unavailable: {detail}")]
    Unavailable {
        retry_after: Option<Duration>,
        detail: Box<ErrorDetail>,
    },
    /// 400: the request is wrong; retrying it unchanged fails again.
    #[error("Microsoft Graph rejected the request: {0}")]
    BadRequest(Box<ErrorDetail>),
    /// 401 after one token refresh.
    #[error("Microsoft Graph did not accept the access token: {0}")]
    Unauthorized(Box<ErrorDetail>),
    /// 403: the app lacks a permission (or admin consent for it) in this tenant.
    #[error(
        "the app is not allowed to do this in the tenant (permission missing or not consented): {0}"
    )]
    Forbidden(Box<ErrorDetail>),
    /// 403 on a request that selects `signInActivity`: the tenant has no Microsoft Entra ID P1/P2
    /// (code `Authentication_RequestFromNonPremiumTenantOrB2CTenant`) or the app lacks
    /// AuditLog.Read.All. Last sign-in dates cannot be read for this tenant.
    #[error(
        "last sign-in activity is unavailable: the tenant needs Microsoft Entra ID P1 or P2 and the app AuditLog.Read.All: {0}"
    )]
    SignInActivityUnavailable(Box<ErrorDetail>),
    /// 404: the object does not exist (or is not visible to the app).
    #[error("not found in Microsoft Graph: {0}")]
    NotFound(Box<ErrorDetail>),
    /// 410 on a delta link (`syncStateNotFound` / `resyncRequired`): the delta link expired or was
    /// reset; discard it and run a full sync.
    #[error("the delta link is no longer valid; a full resync is required: {0}")]
    ResyncRequired(Box<ErrorDetail>),
    /// 424 in a `$batch`: the step was not run because a step it depends on failed.
    #[error("not run because a batch step it depends on failed: {0}")]
    FailedDependency(Box<ErrorDetail>),
    /// Any other HTTP status (409, 412, ...).
    #[error("Microsoft Graph answered {0}")]
    Status(Box<ErrorDetail>),
    /// Getting an access token from the Microsoft identity platform failed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A fault-injection hook ([`crate::fault`]) cut the call off before it was sent or after
    /// Graph answered it; only tests set such a hook.
    #[error("the Graph call was interrupted ({0})")]
    Interrupted(#[from] crate::fault::Interrupted),
    /// The request did not get an HTTP answer (connection refused, reset, timed out).
    #[error("could not reach Microsoft Graph: {source}")]
    Transport {
        #[source]
        source: reqwest::Error,
        /// Whether sending again is safe and useful (connection errors, or timeouts on reads).
        retryable: bool,
    },
    /// An answer read as it arrives (a delta page) stopped arriving for `waited` (the request
    /// timeout) before its end; the page is read again from its start.
    #[error("Microsoft Graph stopped sending an answer for {waited:?} before its end")]
    Stalled { waited: Duration },
    /// A success status whose body is not what the documented shape says.
    #[error(
        "unexpected response from Microsoft Graph (HTTP {status}, request-id {request_id:?}): {reason}"
    )]
    UnexpectedBody {
        status: u16,
        request_id: Option<String>,
        reason: String,
    },
    /// A next or delta link that points outside the configured Graph base URL; it is not
    /// followed, so the access token never leaves for another host.
    #[error("refusing to follow a link outside the configured Graph base URL: {link}")]
    UntrustedLink { link: String },
    /// The caller asked for something this client cannot send (e.g. a `$batch` dependency chain
    /// longer than 20 steps, or duplicate step ids).
    #[error("invalid request: {reason}")]
    InvalidRequest { reason: String },
    /// The `$batch` request carrying this step failed as a whole (after retries); the step was
    /// not run.
    #[error("the $batch request carrying this step failed: {0}")]
    BatchFailed(#[source] Arc<GraphError>),
}

impl GraphError {
    /// Whether sending the same request again later may succeed (throttling, transient
    /// server failures, connection errors).
    pub fn is_retryable(&self) -> bool {
        match self {
            GraphError::Throttled { .. } | GraphError::Unavailable { .. } => true,
            GraphError::Transport { retryable, .. } => *retryable,
            GraphError::Stalled { .. } => true,
            GraphError::Token(e) => e.is_retryable(),
            GraphError::BatchFailed(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// How long Graph asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GraphError::Throttled { retry_after, .. }
            | GraphError::Unavailable { retry_after, .. } => *retry_after,
            GraphError::BatchFailed(e) => e.retry_after(),
            _ => None,
        }
    }

    /// Graph's error detail, when the failure came from a Graph response.
    pub fn detail(&self) -> Option<&ErrorDetail> {
        match self {
            GraphError::Throttled { detail, .. } | GraphError::Unavailable { detail, .. } => {
                Some(detail)
            }
            GraphError::BadRequest(d)
            | GraphError::Unauthorized(d)
            | GraphError::Forbidden(d)
            | GraphError::SignInActivityUnavailable(d)
            | GraphError::NotFound(d)
            | GraphError::ResyncRequired(d)
            | GraphError::FailedDependency(d)
            | GraphError::Status(d) => Some(d),
            GraphError::BatchFailed(e) => e.detail(),
            _ => None,
        }
    }

    /// HTTP status of the failed response, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            GraphError::UnexpectedBody { status, .. } => Some(*status),
            _ => self.detail().map(|d| d.status),
        }
    }

    /// Graph's error code (`Request_BadRequest`, `Request_ResourceNotFound`, ...).
    pub fn code(&self) -> Option<&str> {
        self.detail().map(|d| d.code.as_str())
    }

    /// Graph's `request-id` for the failed request, for the audit trail and support cases.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            GraphError::UnexpectedBody { request_id, .. } => request_id.as_deref(),
            _ => self.detail().and_then(|d| d.request_id.as_deref()),
        }
    }

    fn bad_request_says(&self, needle: &str) -> bool {
        matches!(self, GraphError::BadRequest(d) if d.message.contains(needle))
    }

    /// POST /users: another object already has this userPrincipalName.
    pub fn is_duplicate_upn(&self) -> bool {
        self.bad_request_says(
            "Another object with the same value for property userPrincipalName already exists",
        )
    }

    /// POST /users: the UPN's domain is not a verified domain of the tenant.
    pub fn is_unverified_upn_domain(&self) -> bool {
        self.bad_request_says("The domain portion of the userPrincipalName property is invalid")
    }

    /// POST /users: the password does not meet the tenant's complexity rules.
    pub fn is_weak_password(&self) -> bool {
        self.bad_request_says("password does not comply with password complexity requirements")
    }

    /// POST /users/{id}/assignLicense: the account has no usageLocation yet.
    pub fn is_missing_usage_location(&self) -> bool {
        self.bad_request_says(
            "License assignment cannot be done for user with invalid usage location",
        )
    }

    /// POST /groups/{id}/members/$ref: the object is already a member (the wanted state).
    pub fn is_member_already_present(&self) -> bool {
        self.bad_request_says("One or more added object references already exist")
    }

    /// The object does not exist (404), e.g. removing a member that is not one.
    pub fn is_not_found(&self) -> bool {
        matches!(self, GraphError::NotFound(_))
    }

    /// Builds the error for a non-success Graph response.
    pub(crate) fn from_response(
        status: u16,
        retry_after: Option<Duration>,
        header_request_id: Option<String>,
        body: &[u8],
    ) -> GraphError {
        let detail = Box::new(ErrorDetail::parse(status, header_request_id, body));
        match status {
            400 => GraphError::BadRequest(detail),
            401 => GraphError::Unauthorized(detail),
            403 => GraphError::Forbidden(detail),
            404 => GraphError::NotFound(detail),
            410 => GraphError::ResyncRequired(detail),
            424 => GraphError::FailedDependency(detail),
            429 => GraphError::Throttled {
                retry_after,
                detail,
            },
            408 | 500 | 502 | 503 | 504 => GraphError::Unavailable {
                retry_after,
                detail,
            },
            _ => GraphError::Status(detail),
        }
    }

    pub(crate) fn unexpected(
        status: u16,
        request_id: Option<String>,
        reason: impl Into<String>,
    ) -> GraphError {
        GraphError::UnexpectedBody {
            status,
            request_id,
            reason: reason.into(),
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    error: Option<MainError>,
}

#[derive(Deserialize)]
struct MainError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "innerError", alias = "innererror")]
    inner_error: Option<InnerError>,
}

#[derive(Deserialize)]
struct InnerError {
    #[serde(rename = "request-id")]
    request_id: Option<String>,
    #[serde(rename = "client-request-id")]
    client_request_id: Option<String>,
    date: Option<String>,
}

/// Longest stretch of a non-envelope error body kept as the message.
const MAX_RAW_MESSAGE: usize = 300;

impl ErrorDetail {
    /// Parses Graph's error envelope; a body that is not one still yields a detail with the
    /// status and the start of the body, never a panic.
    pub(crate) fn parse(
        status: u16,
        header_request_id: Option<String>,
        body: &[u8],
    ) -> ErrorDetail {
        let parsed = serde_json::from_slice::<Envelope>(body)
            .ok()
            .and_then(|e| e.error);
        match parsed {
            Some(main) => {
                let inner = main.inner_error;
                let (inner_request_id, client_request_id, date) = match inner {
                    Some(i) => (i.request_id, i.client_request_id, i.date),
                    None => (None, None, None),
                };
                ErrorDetail {
                    status,
                    code: main.code.unwrap_or_default(),
                    message: main.message.unwrap_or_default(),
                    request_id: header_request_id.or(inner_request_id),
                    client_request_id,
                    date,
                }
            }
            None => ErrorDetail {
                status,
                code: String::new(),
                message: raw_excerpt(body),
                request_id: header_request_id,
                client_request_id: None,
                date: None,
            },
        }
    }
}

fn raw_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(MAX_RAW_MESSAGE) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_graph_error_envelope_when_parsed_then_code_message_and_request_id_are_kept() {
        // GIVEN the documented 404 envelope
        let body = br#"{"error":{"code":"Request_ResourceNotFound","message":"Resource 'x' does not exist.","innerError":{"date":"2026-01-01T00:00:00","request-id":"rid-1","client-request-id":"c-1"}}}"#;
        // WHEN it is turned into an error
        let e = GraphError::from_response(404, None, None, body);
        // THEN the variant, code and ids are kept
        assert!(e.is_not_found());
        assert_eq!(e.code(), Some("Request_ResourceNotFound"));
        assert_eq!(e.request_id(), Some("rid-1"));
        assert!(!e.is_retryable());
    }

    #[test]
    fn given_html_body_when_parsed_then_detail_keeps_status_and_excerpt() {
        // GIVEN a gateway's HTML page instead of the envelope
        let body = b"<html>Bad Gateway</html>";
        // WHEN it is turned into an error
        let e = GraphError::from_response(502, None, Some("hdr".into()), body);
        // THEN it is a retryable unavailability with the excerpt as message
        assert!(e.is_retryable());
        let d = e.detail().map(|d| (d.code.clone(), d.message.clone()));
        assert_eq!(
            d,
            Some((String::new(), "<html>Bad Gateway</html>".to_owned()))
        );
        assert_eq!(e.request_id(), Some("hdr"));
    }

    #[test]
    fn given_duplicate_upn_message_when_checked_then_only_that_predicate_holds() {
        // GIVEN the documented duplicate-UPN 400
        let body = br#"{"error":{"code":"Request_BadRequest","message":"Another object with the same value for property userPrincipalName already exists."}}"#;
        // WHEN parsed
        let e = GraphError::from_response(400, None, None, body);
        // THEN the duplicate predicate is true and the others false
        assert!(e.is_duplicate_upn());
        assert!(!e.is_member_already_present());
        assert!(!e.is_missing_usage_location());
    }
}
