//! Small helpers for API Gateway HTTP API (payload v2) handlers: JSON, HTML and redirect answers,
//! one error shape, and body parsing that turns bad input into a 400 that says what is wrong.
//!
//! Authentication and tenant isolation: API Gateway's JWT authorizer verifies the bearer token
//! (signature, issuer, audience, expiry) before a handler runs and puts its claims in
//! `requestContext.authorizer.jwt.claims`. [`caller_org`] reads the caller's platform organization
//! from there (never from a body or query), and [`caller_tenant`] loads the `{tenant_id}` of a
//! route only when it belongs to that organization.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use http::{HeaderMap, HeaderValue, header};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::{Submitter, TenantConnection};
use crate::store::{Store, keys};
use crate::{OrgId, TenantId};

/// A JSON answer.
pub fn json_response(status: u16, body: &impl Serialize) -> ApiGatewayV2httpResponse {
    match serde_json::to_string(body) {
        Ok(json) => response(status, "application/json", json),
        Err(error) => error_response(
            500,
            "internal",
            format!("response not serialisable: {error}"),
        ),
    }
}

/// The API's one error shape: `{"error":{"code":"...","message":"...","request_id":"..."}}`
/// (the request id is stamped by [`with_request_id`] on the way out). The message says what is
/// wrong and how to fix it; it never holds a secret.
pub fn error_response(
    status: u16,
    code: &str,
    message: impl std::fmt::Display,
) -> ApiGatewayV2httpResponse {
    let body = serde_json::json!({"error": {"code": code, "message": message.to_string()}});
    response(status, "application/json", body.to_string())
}

/// Stamps API Gateway's request id into an error answer's `error.request_id`, so that a caller
/// who quotes it lets an operator find the request in the access log and the function's log
/// (both carry the same id). Every JSON route handler passes its answer through here; answers
/// that are not the error shape (a success, an HTML page, a redirect) are returned unchanged.
pub fn with_request_id(
    mut answer: ApiGatewayV2httpResponse,
    request: &ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    if answer.status_code < 400 {
        return answer;
    }
    let Some(Body::Text(text)) = answer.body.as_ref() else {
        return answer;
    };
    let Ok(mut body) = serde_json::from_str::<serde_json::Value>(text) else {
        return answer;
    };
    let Some(error) = body.get_mut("error").and_then(|e| e.as_object_mut()) else {
        return answer;
    };
    let request_id = request
        .request_context
        .request_id
        .clone()
        .unwrap_or_default();
    error.insert("request_id".into(), serde_json::Value::String(request_id));
    answer.body = Some(Body::Text(body.to_string()));
    answer
}

/// An HTML page, with the headers of every page of the bundle ([`harden`]).
pub fn html_response(status: u16, html: String) -> ApiGatewayV2httpResponse {
    harden(response(status, "text/html; charset=utf-8", html))
}

/// The headers every HTML page (and the consent flow's redirects) carries: no caching, no
/// referrer (URLs carry states and codes), no framing, no type sniffing, and nothing loaded or
/// run but the page's inline style.
pub fn harden(mut answer: ApiGatewayV2httpResponse) -> ApiGatewayV2httpResponse {
    let headers = &mut answer.headers;
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    answer
}

/// Escapes text for HTML element content and (double- or single-quoted) attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A 302 to `location`.
pub fn redirect(location: &str) -> ApiGatewayV2httpResponse {
    let mut answer = response(302, "text/plain; charset=utf-8", String::new());
    match HeaderValue::from_str(location) {
        Ok(value) => {
            answer.headers.insert(header::LOCATION, value);
            answer
        }
        Err(_) => error_response(500, "internal", "redirect location is not a valid header"),
    }
}

/// The request body parsed as JSON `T`, or a 400 that quotes serde's reason (field and position);
/// 415 when the body is not sent as `application/json` ([`require_json`]).
pub fn parse_json_body<T: DeserializeOwned>(
    request: &ApiGatewayV2httpRequest,
) -> Result<T, Box<ApiGatewayV2httpResponse>> {
    require_json(request)?;
    let text = body_text(request)
        .map_err(|message| Box::new(error_response(400, "bad_request", message)))?;
    if text.trim().is_empty() {
        return Err(Box::new(error_response(
            400,
            "bad_request",
            "the request needs a JSON body",
        )));
    }
    serde_json::from_str(&text).map_err(|error| {
        Box::new(error_response(
            400,
            "bad_request",
            format!("the JSON body is not valid: {error}"),
        ))
    })
}

/// Refuses a request that has a body but does not say it is JSON: 415 naming the header to send.
/// A body without `Content-Type: application/json` (parameters such as `charset=utf-8` allowed)
/// is not read as JSON, as API Gateway integrations and Graph do not either.
pub fn require_json(
    request: &ApiGatewayV2httpRequest,
) -> Result<(), Box<ApiGatewayV2httpResponse>> {
    if request
        .body
        .as_deref()
        .is_none_or(|body| body.trim().is_empty())
    {
        return Ok(());
    }
    let content_type = request
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if media_type.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    let given = if content_type.is_empty() {
        "no Content-Type".to_owned()
    } else {
        format!(
            "Content-Type {:?}",
            content_type.chars().take(80).collect::<String>()
        )
    };
    Err(Box::new(error_response(
        415,
        "unsupported_media_type",
        format!(
            "the body is JSON: send it with the header Content-Type: application/json (the request has {given})"
        ),
    )))
}

/// The body as text, decoding base64 when API Gateway encoded it.
pub fn body_text(request: &ApiGatewayV2httpRequest) -> Result<String, String> {
    let Some(body) = request.body.as_deref() else {
        return Ok(String::new());
    };
    if !request.is_base64_encoded {
        return Ok(body.to_owned());
    }
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| "the body is marked base64 but is not valid base64".to_owned())
        .and_then(|bytes| {
            String::from_utf8(bytes).map_err(|_| "the body is not UTF-8 text".to_owned())
        })
}

/// A path parameter (`{tenant_id}`), or `""` when absent (API Gateway only routes matching paths).
pub fn path_param<'a>(request: &'a ApiGatewayV2httpRequest, name: &str) -> &'a str {
    request
        .path_parameters
        .get(name)
        .map(String::as_str)
        .unwrap_or_default()
}

/// A query string parameter.
pub fn query_param<'a>(request: &'a ApiGatewayV2httpRequest, name: &str) -> Option<&'a str> {
    request.query_string_parameters.first(name)
}

/// A boolean query parameter (`?full=true`): absent is `false`; `true` or `false`; anything else
/// is a 400 that names the parameter, rather than a silent `false`.
pub fn bool_query(
    request: &ApiGatewayV2httpRequest,
    name: &str,
) -> Result<bool, Box<ApiGatewayV2httpResponse>> {
    match query_param(request, name) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(Box::new(error_response(
            400,
            "bad_request",
            format!(
                "{name} must be true or false, got {:?}",
                other.chars().take(40).collect::<String>()
            ),
        ))),
    }
}

/// The caller's platform organization: the claim `org_claim` (`Config::org_claim`) of the token
/// API Gateway's JWT authorizer verified. 401 when the request carries no verified claims (the
/// route is not behind the authorizer, or the event did not come through API Gateway); 403 when
/// the token names no valid organization.
pub fn caller_org(
    request: &ApiGatewayV2httpRequest,
    org_claim: &str,
) -> Result<OrgId, Box<ApiGatewayV2httpResponse>> {
    let Some(claims) = request
        .request_context
        .authorizer
        .as_ref()
        .and_then(|authorizer| authorizer.jwt.as_ref())
        .map(|jwt| &jwt.claims)
        .filter(|claims| !claims.is_empty())
    else {
        return Err(Box::new(error_response(
            401,
            "unauthorized",
            "this route needs a bearer token from the platform (Authorization: Bearer <JWT>)",
        )));
    };
    let Some(raw) = claims.get(org_claim).filter(|v| !v.trim().is_empty()) else {
        return Err(Box::new(error_response(
            403,
            "forbidden",
            format!("the token has no {org_claim} claim naming the caller's platform organization"),
        )));
    };
    OrgId::parse(raw.trim()).map_err(|error| {
        Box::new(error_response(
            403,
            "forbidden",
            format!("the token's {org_claim} claim is not a valid organization: {error}"),
        ))
    })
}

/// Longest token subject kept with a job record (a subject is an opaque id, well under this).
const SUBJECT_MAX: usize = 256;

/// Who is calling, for the job record and its receipt: the organization (claim `org_claim`) and
/// the token's `sub`, from the claims API Gateway's JWT authorizer verified; `None` without them.
pub fn caller_submitter(request: &ApiGatewayV2httpRequest, org_claim: &str) -> Option<Submitter> {
    let org_id = caller_org(request, org_claim).ok()?;
    let subject = request
        .request_context
        .authorizer
        .as_ref()
        .and_then(|authorizer| authorizer.jwt.as_ref())
        .and_then(|jwt| jwt.claims.get("sub"))
        .map(|sub| sub.trim())
        .filter(|sub| !sub.is_empty())
        .map(|sub| {
            sub.chars()
                .filter(|c| !c.is_control())
                .take(SUBJECT_MAX)
                .collect()
        });
    Some(Submitter { org_id, subject })
}

/// The tenant named by the route's `{tenant_id}` when it belongs to `org`. A tenant that is not
/// connected and a tenant of another organization get the same 404, so a caller learns nothing
/// about other organizations' tenants. A removed tenant of `org` is returned (its routes answer
/// for it).
pub async fn caller_tenant(
    store: &Store,
    request: &ApiGatewayV2httpRequest,
    org: &OrgId,
) -> Result<TenantConnection, Box<ApiGatewayV2httpResponse>> {
    let tenant_id = TenantId::parse(path_param(request, "tenant_id"))
        .map_err(|error| Box::new(error_response(400, "bad_request", error)))?;
    let not_found = || {
        Box::new(error_response(
            404,
            "tenant_not_found",
            format!("tenant {tenant_id} is not connected"),
        ))
    };
    match store
        .get::<TenantConnection>(&keys::tenant_meta(&tenant_id))
        .await
    {
        Ok(Some(tenant)) if &tenant.org_id == org => Ok(tenant),
        Ok(Some(_)) => {
            tracing::warn!(%tenant_id, caller_org = %org, "a tenant of another organization was asked for");
            Err(not_found())
        }
        Ok(None) => Err(not_found()),
        Err(error) => {
            tracing::error!(%error, "could not read the tenant");
            Err(Box::new(error_response(
                503,
                "unavailable",
                "the tenant could not be read; try again later",
            )))
        }
    }
}

fn response(status: u16, content_type: &'static str, body: String) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let mut answer = ApiGatewayV2httpResponse::default();
    answer.status_code = i64::from(status);
    answer.headers = headers;
    answer.body = Some(Body::Text(body));
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_malformed_body_when_parsed_then_400_names_the_problem() {
        let mut request = ApiGatewayV2httpRequest::default();
        request.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        request.body = Some("{\"mode\": 3}".into());
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Wanted {
            mode: String,
        }
        let answer = parse_json_body::<Wanted>(&request).unwrap_err();
        assert_eq!(answer.status_code, 400);
        let Some(Body::Text(text)) = &answer.body else {
            panic!("text body expected")
        };
        assert!(text.contains("invalid type: integer `3`"), "{text}");
    }

    fn with_claims(claims: &[(&str, &str)]) -> ApiGatewayV2httpRequest {
        let mut jwt =
            aws_lambda_events::apigw::ApiGatewayRequestAuthorizerJwtDescription::default();
        jwt.claims = claims
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut authorizer = aws_lambda_events::apigw::ApiGatewayRequestAuthorizer::default();
        authorizer.jwt = Some(jwt);
        let mut request = ApiGatewayV2httpRequest::default();
        request.request_context.authorizer = Some(authorizer);
        request
    }

    #[test]
    fn given_verified_claims_when_the_caller_org_is_read_then_it_comes_from_the_named_claim() {
        // GIVEN a request whose token names org acme in org_id and globex in another claim
        let request = with_claims(&[("org_id", "acme"), ("tenant_org", "globex")]);
        // WHEN / THEN the configured claim decides
        assert_eq!(
            caller_org(&request, "org_id").expect("org").as_str(),
            "acme"
        );
        assert_eq!(
            caller_org(&request, "tenant_org").expect("org").as_str(),
            "globex"
        );
    }

    #[test]
    fn given_no_claims_or_no_org_claim_when_the_caller_org_is_read_then_401_or_403() {
        // GIVEN no authorizer context -> 401
        let answer = caller_org(&ApiGatewayV2httpRequest::default(), "org_id").unwrap_err();
        assert_eq!(answer.status_code, 401);
        // GIVEN claims without the org claim -> 403 naming it
        let answer = caller_org(&with_claims(&[("sub", "svc")]), "org_id").unwrap_err();
        assert_eq!(answer.status_code, 403);
        let Some(Body::Text(text)) = &answer.body else {
            panic!("text body expected")
        };
        assert!(text.contains("org_id"), "{text}");
        // GIVEN an org claim that is not a valid organization id -> 403
        let answer = caller_org(&with_claims(&[("org_id", "a/b")]), "org_id").unwrap_err();
        assert_eq!(answer.status_code, 403);
    }

    #[test]
    fn given_a_json_body_without_its_content_type_when_parsed_then_415_names_the_header() {
        // GIVEN a JSON body sent as text/plain
        let mut request = ApiGatewayV2httpRequest::default();
        request
            .headers
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        request.body = Some("{}".into());
        // WHEN parsed THEN 415 says which header to send and what was sent
        let answer = parse_json_body::<serde_json::Value>(&request).unwrap_err();
        assert_eq!(answer.status_code, 415);
        let Some(Body::Text(text)) = &answer.body else {
            panic!("text body expected")
        };
        assert!(text.contains("Content-Type: application/json"), "{text}");
        assert!(text.contains("text/plain"), "{text}");
    }

    #[test]
    fn given_no_body_when_parsed_then_400_asks_for_json() {
        let answer =
            parse_json_body::<serde_json::Value>(&ApiGatewayV2httpRequest::default()).unwrap_err();
        assert_eq!(answer.status_code, 400);
    }
}
