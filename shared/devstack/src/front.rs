//! The HTTP front: an API Gateway HTTP API stand-in on a loopback port.
//!
//! Each request is matched against the template's HttpApi routes the way API Gateway matches them
//! (literal segments beat `{param}`, `{proxy+}` takes the rest, `ANY` and `$default` last), turned
//! into the payload-format-2.0 event, handed to the function, and the function's
//! `ApiGatewayV2httpResponse` turned back into HTTP. Unknown routes answer 404
//! `{"message":"Not Found"}` and failed invocations 500 `{"message":"Internal Server Error"}`,
//! as API Gateway does; a route whose function has no registered constructor answers 501 naming
//! it.
//!
//! Routes behind a JWT authorizer (the HttpApi's `Auth.DefaultAuthorizer`, unless a route says
//! `Auth: {Authorizer: NONE}`) need a bearer token, checked as API Gateway checks it
//! ([`crate::jwt`]): without a valid one the answer is 401 `{"message":"Unauthorized"}` and the
//! function is not called; with one, its claims are in `requestContext.authorizer.jwt`.
//!
//! Admin routes live under `/_devstack`: `GET /_devstack` (what is wired),
//! `POST /_devstack/schedules/{function}/fire` and `POST /_devstack/tokens` (body
//! `{"org_id": "..."}`: a bearer token of the local issuer for that organization).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use crate::functions::{Functions, InvokeError};
use crate::jwt::{self, TokenError, TokenIssuer};
use crate::provision::ACCOUNT_ID;
use crate::schedule::{ScheduleError, Schedules};
use crate::template::{EventSource, Lookup, Template, TemplateError};

/// API Gateway caps payloads at 10 MB.
const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

/// One HttpApi route of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `GET /tenants/{tenant_id}`, `ANY /{proxy+}` or `$default`.
    pub route_key: String,
    /// Upper-case method, `ANY`, or `$default`.
    pub method: String,
    pub path: String,
    /// Logical id of the function the route invokes.
    pub function: String,
    /// The JWT authorizer that guards the route; `None` for a public route.
    pub auth: Option<RouteAuth>,
    segments: Vec<Segment>,
}

/// A route's JWT authorizer with its issuer and audience resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteAuth {
    /// Name of the authorizer in the template.
    pub authorizer: String,
    /// Lower-case request header that carries the token.
    pub header: String,
    pub issuer: String,
    pub audience: Vec<String>,
    /// The route's `AuthorizationScopes`: the token needs at least one (none: any valid token).
    pub scopes: Vec<String>,
}

impl RouteAuth {
    /// Whether a token with `granted` scopes may call the route, as API Gateway decides: no
    /// scope configured, or at least one configured scope granted.
    pub fn allows(&self, granted: &[String]) -> bool {
        self.scopes.is_empty() || self.scopes.iter().any(|scope| granted.contains(scope))
    }
}

impl Route {
    fn new(method: &str, path: &str, function: &str) -> Route {
        let segments = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => match name.strip_suffix('+') {
                        Some(greedy) => Segment::Greedy(greedy.to_owned()),
                        None => Segment::Param(name.to_owned()),
                    },
                    None => Segment::Literal(s.to_owned()),
                },
            )
            .collect();
        let route_key = if method == "$default" {
            "$default".to_owned()
        } else {
            format!("{method} {path}")
        };
        Route {
            route_key,
            method: method.to_owned(),
            path: path.to_owned(),
            function: function.to_owned(),
            auth: None,
            segments,
        }
    }

    /// The path parameters when `path` matches this route.
    fn matches(&self, method: &str, path: &str) -> Option<BTreeMap<String, String>> {
        if self.method == "$default" {
            return Some(BTreeMap::new());
        }
        if self.method != "ANY" && self.method != method {
            return None;
        }
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut params = BTreeMap::new();
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Literal(literal) => {
                    if parts.get(i) != Some(&literal.as_str()) {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    params.insert(name.clone(), percent_decode(parts.get(i)?));
                }
                Segment::Greedy(name) => {
                    if i >= parts.len() {
                        return None;
                    }
                    params.insert(name.clone(), percent_decode(&parts[i..].join("/")));
                    return Some(params);
                }
            }
        }
        (parts.len() == self.segments.len()).then_some(params)
    }

    /// Higher is more specific: literals first, then parameters, greedy and `ANY` last.
    fn specificity(&self) -> (u8, usize, usize, u8) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        let greedy = self
            .segments
            .iter()
            .any(|s| matches!(s, Segment::Greedy(_)));
        (
            u8::from(self.method != "$default"),
            usize::from(!greedy),
            literals,
            u8::from(self.method != "ANY"),
        )
    }
}

/// Every HttpApi route of the template, with its authorizer's issuer and audience resolved
/// against `lookup` (the provisioned parameters).
pub fn routes(template: &Template, lookup: &dyn Lookup) -> Result<Vec<Route>, TemplateError> {
    let mut routes = Vec::new();
    for function in &template.functions {
        for event in &function.events {
            let EventSource::HttpApi { method, path } = &event.source else {
                continue;
            };
            let mut route = Route::new(method, path, &function.logical_id);
            if let Some(authorizer) = template.route_authorizer(event) {
                let location = format!("Auth.Authorizers.{}.JwtConfiguration", authorizer.name);
                let header = authorizer.header().ok_or_else(|| TemplateError::Invalid {
                    location: format!("Auth.Authorizers.{}.IdentitySource", authorizer.name),
                    reason: "the devstack reads tokens from a header ($request.header.NAME)".into(),
                })?;
                route.auth = Some(RouteAuth {
                    authorizer: authorizer.name.clone(),
                    header,
                    issuer: authorizer
                        .issuer
                        .resolve(lookup, &format!("{location}.issuer"))?,
                    audience: authorizer
                        .audience
                        .iter()
                        .map(|a| a.resolve(lookup, &format!("{location}.audience")))
                        .collect::<Result<_, _>>()?,
                    scopes: event.scopes.clone(),
                });
            }
            routes.push(route);
        }
    }
    routes.sort_by_key(|r| std::cmp::Reverse(r.specificity()));
    Ok(routes)
}

/// An HttpApi's CORS configuration with its origins resolved, applied as API Gateway applies it
/// (<https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html>): it
/// answers preflight `OPTIONS` requests itself, with no route and no authorizer, and it puts its
/// own CORS headers on every answer to a request that carries `Origin`, ignoring those the
/// function sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// Allowed origins: exact (`https://app.example.com`), `*`, or a scheme wildcard
    /// (`https://*`).
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    pub expose: Vec<String>,
    pub credentials: bool,
    pub max_age: Option<u32>,
}

impl Cors {
    /// Whether a page of `origin` may read the API's answers.
    pub fn allows(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.origins.iter().any(|allowed| {
            let allowed = allowed.to_ascii_lowercase();
            allowed == "*"
                || allowed == origin
                || allowed
                    .strip_suffix('*')
                    .is_some_and(|scheme| scheme.ends_with("://") && origin.starts_with(scheme))
        })
    }

    /// API Gateway's own answer to a preflight request (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`); `None` for any other request.
    pub fn preflight(&self, method: &Method, headers: &HeaderMap) -> Option<Response<Body>> {
        if method != Method::OPTIONS || !headers.contains_key("access-control-request-method") {
            return None;
        }
        let origin = headers.get("origin").and_then(|v| v.to_str().ok())?;
        let mut answer = Response::builder().status(StatusCode::NO_CONTENT);
        if self.allows(origin) {
            answer = answer
                .header("access-control-allow-origin", origin)
                .header("access-control-allow-methods", self.methods.join(","))
                .header("access-control-allow-headers", self.headers.join(","));
            if let Some(max_age) = self.max_age {
                answer = answer.header("access-control-max-age", max_age.to_string());
            }
            if self.credentials {
                answer = answer.header("access-control-allow-credentials", "true");
            }
        }
        answer.body(Body::empty()).ok()
    }

    /// `response` with the function's CORS headers replaced by the API's, for a request from
    /// `origin`.
    pub fn decorate(&self, origin: Option<&str>, mut response: Response<Body>) -> Response<Body> {
        let Some(origin) = origin else {
            return response;
        };
        let headers = response.headers_mut();
        let theirs: Vec<HeaderName> = headers
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in theirs {
            headers.remove(name);
        }
        if !self.allows(origin) {
            return response;
        }
        let mut set = |name: &'static str, value: &str| {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        };
        set("access-control-allow-origin", origin);
        if !self.expose.is_empty() {
            set("access-control-expose-headers", &self.expose.join(","));
        }
        if self.credentials {
            set("access-control-allow-credentials", "true");
        }
        response
    }
}

/// The CORS configuration of the template's HttpApi, its origins resolved against `lookup` (a
/// `CommaDelimitedList` parameter's value is split at its commas); `None` without one.
pub fn cors(template: &Template, lookup: &dyn Lookup) -> Result<Option<Cors>, TemplateError> {
    let Some(spec) = template.http_api_specs.iter().find_map(|a| a.cors.as_ref()) else {
        return Ok(None);
    };
    let mut origins = Vec::new();
    for origin in &spec.allow_origins {
        let value = origin.resolve(lookup, "CorsConfiguration.AllowOrigins")?;
        origins.extend(
            value
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned),
        );
    }
    Ok(Some(Cors {
        origins,
        methods: spec.allow_methods.clone(),
        headers: spec.allow_headers.clone(),
        expose: spec.expose_headers.clone(),
        credentials: spec.allow_credentials,
        max_age: spec.max_age,
    }))
}

pub(crate) struct FrontState {
    pub routes: Vec<Route>,
    /// The HttpApi's CORS configuration, if it has one.
    pub cors: Option<Cors>,
    pub functions: Functions,
    pub schedules: Schedules,
    /// The local token issuer (signs and verifies bearer tokens).
    pub issuer: Arc<TokenIssuer>,
    /// The claim that names the caller's organization (`ORG_CLAIM`).
    pub org_claim: String,
    /// What `GET /_devstack` answers: URLs and wiring.
    pub info: Value,
}

/// The axum app of the front.
pub(crate) fn router(state: Arc<FrontState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

async fn handle(
    State(state): State<Arc<FrontState>>,
    connect: ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response<Body> {
    let admin = request.uri().path().starts_with("/_devstack");
    let Some(cors) = state.cors.clone().filter(|_| !admin) else {
        return route(State(state), connect, request).await;
    };
    if let Some(answer) = cors.preflight(request.method(), request.headers()) {
        return answer;
    }
    let origin = request
        .headers()
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = route(State(state), connect, request).await;
    cors.decorate(origin.as_deref(), response)
}

/// A request as API Gateway routes it: the admin routes, else the template's route, its
/// authorizer and its function.
async fn route(
    State(state): State<Arc<FrontState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"message": "Request Entity Too Large"}),
            );
        }
    };
    let path = parts.uri.path().to_owned();
    if let Some(admin) = path.strip_prefix("/_devstack") {
        return admin_route(&state, &parts.method, admin, &body).await;
    }
    let method = parts.method.as_str().to_ascii_uppercase();
    let Some((route, params)) = state
        .routes
        .iter()
        .find_map(|r| r.matches(&method, &path).map(|p| (r, p)))
    else {
        return json_response(StatusCode::NOT_FOUND, json!({"message": "Not Found"}));
    };
    let claims = match &route.auth {
        Some(auth) => match authorize(&state.issuer, auth, &parts.headers) {
            Ok(claims) if auth.allows(&jwt::scopes(&claims).unwrap_or_default()) => Some(claims),
            Ok(_) => return forbidden(auth),
            Err(error) => return unauthorized(&error),
        },
        None => None,
    };
    let mut event = http_event(
        route,
        &params,
        &parts.method,
        &parts.uri,
        &parts.headers,
        &body,
        peer,
    );
    if let Some(claims) = claims {
        event["requestContext"]["authorizer"] = json!({"jwt": {
            "claims": jwt::claims_for_event(&claims),
            "scopes": jwt::scopes(&claims),
        }});
    }
    match state.functions.invoke(&route.function, event).await {
        Ok(response) => http_response(response),
        Err(error @ InvokeError::NotRegistered { .. }) => json_response(
            StatusCode::NOT_IMPLEMENTED,
            json!({"message": error.to_string()}),
        ),
        // API Gateway answers 413 when the Lambda request payload is over 6 MB.
        Err(InvokeError::RequestTooLarge { .. }) => json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"message": "Request Entity Too Large"}),
        ),
        Err(error) => {
            tracing::warn!(route = %route.route_key, %error, "invocation failed");
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": "Internal Server Error"}),
            )
        }
    }
}

/// The verified claims of the route's token, as API Gateway's JWT authorizer checks it.
fn authorize(
    issuer: &TokenIssuer,
    auth: &RouteAuth,
    headers: &HeaderMap,
) -> Result<serde_json::Map<String, Value>, TokenError> {
    let token = headers
        .get(auth.header.as_str())
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| TokenError::Missing(auth.header.clone()))?;
    issuer.verify(token, &auth.issuer, &auth.audience, chrono::Utc::now())
}

/// API Gateway's 403 for a valid token that holds none of the route's `AuthorizationScopes`:
/// `{"message":"Forbidden"}`, the scopes the route needs in `www-authenticate`. The function is
/// not invoked.
fn forbidden(auth: &RouteAuth) -> Response<Body> {
    let mut response = json_response(StatusCode::FORBIDDEN, json!({"message": "Forbidden"}));
    if let Ok(value) = HeaderValue::from_str(&format!(
        "Bearer scope=\"{}\" error=\"insufficient_scope\" error_description=\"the token holds none of the route's scopes\"",
        auth.scopes.join(" ")
    )) {
        response
            .headers_mut()
            .insert(axum::http::header::WWW_AUTHENTICATE, value);
    }
    response
}

/// API Gateway's 401: `{"message":"Unauthorized"}`, the reason in `www-authenticate` for a token
/// that was there but is not valid.
fn unauthorized(error: &TokenError) -> Response<Body> {
    let mut response = json_response(StatusCode::UNAUTHORIZED, json!({"message": "Unauthorized"}));
    if !matches!(error, TokenError::Missing(_))
        && let Ok(value) = HeaderValue::from_str(&format!(
            "Bearer scope=\"\" error=\"invalid_token\" error_description=\"{error}\""
        ))
    {
        response
            .headers_mut()
            .insert(axum::http::header::WWW_AUTHENTICATE, value);
    }
    response
}

async fn admin_route(
    state: &FrontState,
    method: &Method,
    path: &str,
    body: &Bytes,
) -> Response<Body> {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (method, parts.as_slice()) {
        (&Method::GET, []) => json_response(StatusCode::OK, state.info.clone()),
        (&Method::POST, ["tokens"]) => {
            let request = serde_json::from_slice::<Value>(body).ok();
            let org = request
                .as_ref()
                .and_then(|b| b.get("org_id").and_then(Value::as_str).map(str::to_owned))
                .filter(|org| lifecycle::OrgId::parse(org).is_ok());
            // `scope`: space-separated scopes; absent: every scope the API knows.
            let scopes = match request.as_ref().and_then(|b| b.get("scope")) {
                None => Some(jwt::ALL_SCOPES.join(" ")),
                Some(Value::String(text)) => {
                    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
                }
                Some(_) => None,
            };
            match (org, scopes) {
                (Some(org), Some(scopes)) => json_response(
                    StatusCode::OK,
                    json!({
                        "token": state.issuer.token_with_scope(&state.org_claim, &org, &scopes),
                        "org_id": org,
                        "scope": scopes,
                        "expires_in": jwt::TOKEN_LIFETIME.num_seconds(),
                    }),
                ),
                _ => json_response(
                    StatusCode::BAD_REQUEST,
                    json!({"message": "the body must be {\"org_id\": \"<platform organization id>\"} with an optional \"scope\": \"<space-separated scopes>\""}),
                ),
            }
        }
        (&Method::POST, ["schedules", function, "fire"]) => {
            match state.schedules.fire(function).await {
                Ok(fired) => {
                    let fired: Vec<Value> = fired
                        .into_iter()
                        .map(|f| match f.outcome {
                            Ok(response) => {
                                json!({"event": f.event, "ok": true, "response": response})
                            }
                            Err(error) => {
                                json!({"event": f.event, "ok": false, "error": error.to_string()})
                            }
                        })
                        .collect();
                    json_response(
                        StatusCode::OK,
                        json!({"function": function, "fired": fired}),
                    )
                }
                Err(error @ ScheduleError::UnknownFunction { .. }) => {
                    json_response(StatusCode::NOT_FOUND, json!({"message": error.to_string()}))
                }
                Err(error) => json_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": error.to_string()}),
                ),
            }
        }
        _ => json_response(StatusCode::NOT_FOUND, json!({"message": "Not Found"})),
    }
}

/// The API Gateway HTTP API payload-format-2.0 event for one request.
#[allow(clippy::too_many_arguments)]
fn http_event(
    route: &Route,
    params: &BTreeMap<String, String>,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &Bytes,
    peer: SocketAddr,
) -> Value {
    let mut header_map: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == axum::http::header::COOKIE {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            );
            continue;
        }
        // API Gateway joins repeated headers with commas, names lower case.
        header_map
            .entry(name.as_str().to_ascii_lowercase())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let raw_query = uri.query().unwrap_or_default().to_owned();
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        query
            .entry(key.into_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    let now = chrono::Utc::now();
    let host = header_map.get("host").cloned().unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": uri.path(),
        "rawQueryString": raw_query,
        "headers": header_map,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or_default(),
            "http": {
                "method": method.as_str(),
                "path": uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": headers
                    .get(axum::http::header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default(),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = json!(query);
    }
    if !params.is_empty() {
        event["pathParameters"] = json!(params);
    }
    if !body.is_empty() {
        let textual = header_map.get("content-type").is_some_and(|t| is_text(t));
        match std::str::from_utf8(body) {
            Ok(text) if textual => event["body"] = json!(text),
            _ => {
                event["body"] = json!(BASE64.encode(body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    event
}

fn is_text(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media.starts_with("text/")
        || media.ends_with("json")
        || media.ends_with("xml")
        || media == "application/x-www-form-urlencoded"
        || media == "application/javascript"
}

/// Turns the function's answer into HTTP. A JSON answer without `statusCode` is, as in API
/// Gateway's format 2.0, a 200 with that JSON as the body.
fn http_response(response: Value) -> Response<Body> {
    let Some(status) = response.get("statusCode").and_then(Value::as_u64) else {
        return json_response(StatusCode::OK, response);
    };
    let Some(status) = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
    else {
        return json_response(
            StatusCode::BAD_GATEWAY,
            json!({"message": "Internal Server Error"}),
        );
    };
    let mut builder = Response::builder().status(status);
    let mut add = |name: &str, value: &str| {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            builder = std::mem::take(&mut builder).header(name, value);
        }
    };
    if let Some(headers) = response.get("headers").and_then(Value::as_object) {
        for (name, value) in headers {
            if let Some(value) = value.as_str() {
                add(name, value);
            }
        }
    }
    if let Some(headers) = response.get("multiValueHeaders").and_then(Value::as_object) {
        for (name, values) in headers {
            for value in values.as_array().into_iter().flatten() {
                if let Some(value) = value.as_str() {
                    add(name, value);
                }
            }
        }
    }
    for cookie in response
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(cookie) = cookie.as_str() {
            add("set-cookie", cookie);
        }
    }
    let text = response
        .get("body")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let body = if response.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        match BASE64.decode(text) {
            Ok(bytes) => Body::from(bytes),
            Err(_) => {
                return json_response(
                    StatusCode::BAD_GATEWAY,
                    json!({"message": "Internal Server Error"}),
                );
            }
        }
    } else {
        Body::from(text.to_owned())
    };
    builder.body(body).unwrap_or_else(|_| {
        json_response(
            StatusCode::BAD_GATEWAY,
            json!({"message": "Internal Server Error"}),
        )
    })
}

fn json_response(status: StatusCode, body: Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
