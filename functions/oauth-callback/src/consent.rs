//! Admin consent, bound to the browser and proven by the admin's sign-in.
//!
//! 1. `GET /connect` (the platform, bearer token) answers a single-use start link bound to the
//!    token's organization.
//! 2. `GET /connect/start` (the admin's browser) sets the `__Host-` flow cookie and redirects to
//!    Entra's admin consent with a state carrying the cookie's hash.
//! 3. `GET /oauth/callback` after consent: redirects to the tenant's OpenID Connect sign-in
//!    (PKCE S256, nonce).
//! 4. `GET /oauth/callback` after sign-in: redeems the code, validates the ID token ([`oidc`]),
//!    then tests the connection and records it for the organization.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Utc;
use graph::{GraphError, TokenError};
use lifecycle::config::Config;
use lifecycle::http::{
    error_response, harden, html_response, json_response, query_param, redirect,
};
use lifecycle::model::OAuthState;
use lifecycle::model::{ConnectionMode, TenantAuth};
use lifecycle::{OrgId, PutOutcome, TenantId};
use sha2::{Digest as _, Sha256};

use crate::connection::{self, ConnectError, Connected, ConnectionReport};
use crate::oidc::{self, SIGN_IN_SCOPE, SignInError};
use crate::page::{Page, Tone};
use crate::state::{Leg, StateClaims, StateError};
use crate::{App, mode_label};
use lifecycle::model::ModeParam;

/// The scope of admin consent: every application permission the app declares statically.
const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";

/// After consent Entra may take a few seconds to create the app's service principal; the token
/// request is tried again after these pauses before the callback gives up (about 3 s in all).
const CONSENT_PROPAGATION_PAUSES: [std::time::Duration; 2] = [
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(2),
];

/// The client id of the platform app a tenant in `mode` consents to (see
/// [`lifecycle::Platform::consent_credential`]).
pub(crate) fn consent_client_id(config: &Config, mode: ConnectionMode) -> &str {
    match (&config.platform_read_app, mode) {
        (Some(read_app), ConnectionMode::Read) => &read_app.client_id,
        _ => &config.platform_app_client_id,
    }
}

/// The callback URL registered on the platform apps.
pub(crate) fn redirect_uri(config: &Config) -> String {
    format!("{}/oauth/callback", config.public_base_url)
}

/// `return_to` when it points at an allowed origin: the origin of `PUBLIC_BASE_URL` or one of
/// `ALLOWED_RETURN_ORIGINS`. Anything else (another host, another scheme, not a URL) is `None`.
pub(crate) fn allowed_return(config: &Config, return_to: &str) -> Option<String> {
    let url = url::Url::parse(return_to).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    let origin = url.origin().ascii_serialization().to_ascii_lowercase();
    let own = url::Url::parse(&config.public_base_url)
        .ok()
        .map(|own| own.origin().ascii_serialization().to_ascii_lowercase());
    let allowed = own.as_deref() == Some(origin.as_str())
        || config.allowed_return_origins.iter().any(|o| o == &origin);
    allowed.then(|| url.to_string())
}

/// `return_to` as the caller gave it, checked: `None` when absent, the URL when it is on an allowed
/// origin, otherwise the 400 answer that names where it may point.
pub(crate) fn checked_return(
    config: &Config,
    return_to: Option<&str>,
) -> Result<Option<String>, Box<ApiGatewayV2httpResponse>> {
    match return_to {
        Some(raw) => match allowed_return(config, raw) {
            Some(url) => Ok(Some(url)),
            None => Err(Box::new(error_response(
                400,
                "bad_request",
                "return_to is not on an allowed origin (PUBLIC_BASE_URL or ALLOWED_RETURN_ORIGINS)",
            ))),
        },
        None => Ok(None),
    }
}

fn problem(status: u16, page: Page) -> ApiGatewayV2httpResponse {
    page_response(status, page)
}

/// Why a start link could not be made (the state could not be signed or recorded).
#[derive(Debug, thiserror::Error)]
#[error("the consent state could not be signed or recorded")]
pub(crate) struct ConsentUnavailable;

/// The name of the cookie that binds a flow to the browser that opened its start link. The
/// `__Host-` prefix makes browsers accept it only Secure, host-only and with `Path=/`.
pub const FLOW_COOKIE: &str = "__Host-m365-connect";

/// How long the flow cookie lives (longer than a state, so a flow never outlives it).
const FLOW_COOKIE_MAX_AGE_S: i64 = 1800;

/// A fresh browser secret: 32 random bytes, base64url (43 characters).
fn new_browser_secret() -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    B64.encode(bytes)
}

/// The flow cookie's value in `request`, when it is one we could have set.
fn browser_secret(request: &ApiGatewayV2httpRequest) -> Option<String> {
    // Payload 2.0 moves the Cookie header into `cookies`; a header is read too.
    let mut cookies: Vec<&str> = request
        .cookies
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    cookies.extend(
        request
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    cookies
        .into_iter()
        .flat_map(|c| c.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == FLOW_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// base64url SHA-256 of a browser secret: what a state carries instead of the secret.
fn browser_hash(secret: &str) -> String {
    B64.encode(Sha256::digest(secret.as_bytes()))
}

/// An HTML page answer with the hardening headers.
pub(crate) fn page_response(status: u16, page: Page) -> ApiGatewayV2httpResponse {
    html_response(status, page.render())
}

/// A 302 with the hardening headers.
fn redirect_to(location: &str) -> ApiGatewayV2httpResponse {
    harden(redirect(location))
}

/// Records a single-use start state bound to `org_id` and returns the start link
/// `{PUBLIC_BASE_URL}/connect/start?flow=...` that carries it. `tenant_id` fixes the tenant the
/// consent must come from (a partner's customer).
pub(crate) async fn start_link(
    app: &App,
    org_id: OrgId,
    mode: ConnectionMode,
    return_to: Option<String>,
    tenant_id: Option<TenantId>,
) -> Result<String, ConsentUnavailable> {
    let signer = app.signer().await.map_err(|error| {
        tracing::error!(%error, "no state signing key");
        ConsentUnavailable
    })?;
    let claims = StateClaims::new(org_id, mode, return_to, tenant_id, Utc::now());
    record(app, &claims).await?;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("flow", &signer.sign(&claims));
    tracing::info!(org_id = %claims.org_id, ?mode, "connection flow started");
    Ok(format!(
        "{}/connect/start?{}",
        app.platform.config.public_base_url,
        query.finish()
    ))
}

/// Writes the single-use item of `claims`.
async fn record(app: &App, claims: &StateClaims) -> Result<(), ConsentUnavailable> {
    match app
        .platform
        .store
        .put_new_oauth_state(&claims.nonce, &claims.pending(Utc::now()))
        .await
    {
        Ok(PutOutcome::Created) => Ok(()),
        Ok(PutOutcome::AlreadyExists) | Err(_) => {
            tracing::error!("could not record the consent state");
            Err(ConsentUnavailable)
        }
    }
}

/// `GET /connect?mode=read|write[&return_to=...][&tenant=...]`, called by the platform with its
/// bearer token: the organization is the token's (an `org` in the query is ignored). Answers 200
/// `{"start_url": ...}`, a single-use link to `GET /connect/start` bound to that organization;
/// the platform navigates the admin's browser there (a navigation carries no bearer token).
#[tracing::instrument(skip_all, fields(org_id = %org_id))]
pub(crate) async fn start(
    app: &App,
    request: &ApiGatewayV2httpRequest,
    org_id: OrgId,
) -> ApiGatewayV2httpResponse {
    let config = &app.platform.config;
    let Some(mode) = query_param(request, "mode").and_then(ModeParam::parse) else {
        return error_response(
            400,
            "bad_request",
            "say which access to grant: mode=read (read-only) or mode=write (read/write)",
        );
    };
    let mode = ConnectionMode::from(mode);
    let given = query_param(request, "return_to").filter(|r| !r.trim().is_empty());
    let return_to = match checked_return(config, given) {
        Ok(return_to) => return_to,
        Err(answer) => return *answer,
    };
    let tenant_id = match query_param(request, "tenant").map(TenantId::parse) {
        Some(Ok(tenant_id)) => Some(tenant_id),
        Some(Err(error)) => {
            return error_response(
                400,
                "bad_request",
                format!("tenant is not a valid tenant id: {error}"),
            );
        }
        None => None,
    };
    match start_link(app, org_id, mode, return_to, tenant_id).await {
        Ok(url) => json_response(200, &serde_json::json!({"start_url": url})),
        Err(error) => error_response(503, "unavailable", format!("{error}; try again later")),
    }
}

/// `GET /connect/start?flow=...` (public: the admin's browser opens the start link). Takes the
/// start state (single use), sets the flow cookie (`__Host-`, Secure, HttpOnly, SameSite=Lax,
/// `Path=/`) and redirects to Entra's admin consent with a state bound to that cookie's hash.
#[tracing::instrument(skip_all)]
pub(crate) async fn open(app: &App, request: &ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let config = &app.platform.config;
    let Some(raw) = query_param(request, "flow").filter(|s| !s.is_empty()) else {
        return bad_state(&StateError::Malformed, app);
    };
    let signer = match app.signer().await {
        Ok(signer) => signer,
        Err(error) => {
            tracing::error!(%error, "no state signing key");
            return unavailable();
        }
    };
    let now = Utc::now();
    let claims = match signer.verify(raw, now) {
        Ok(claims) if claims.leg == Leg::Start => claims,
        Ok(_) => return bad_state(&StateError::BadSignature, app),
        Err(error) => {
            tracing::warn!(%error, "start link refused");
            return bad_state(&error, app);
        }
    };
    match take_pending(app, &claims).await {
        Ok(true) => {}
        Ok(false) => return replayed(),
        Err(answer) => return *answer,
    }
    let secret = browser_secret(request).unwrap_or_else(new_browser_secret);
    let consent = claims.next(Leg::Consent, browser_hash(&secret), None, now);
    if record(app, &consent).await.is_err() {
        return unavailable();
    }
    let authority = consent
        .tenant_id
        .as_ref()
        .map_or_else(|| "organizations".to_owned(), |tenant| tenant.to_string());
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("client_id", consent_client_id(config, consent.mode));
    query.append_pair("scope", GRAPH_DEFAULT_SCOPE);
    query.append_pair("redirect_uri", &redirect_uri(config));
    query.append_pair("state", &signer.sign(&consent));
    let mut answer = redirect_to(&format!(
        "{}/{authority}/v2.0/adminconsent?{}",
        config.login_base_url,
        query.finish()
    ));
    answer.cookies.push(format!(
        "{FLOW_COOKIE}={secret}; Max-Age={FLOW_COOKIE_MAX_AGE_S}; Path=/; Secure; HttpOnly; SameSite=Lax"
    ));
    tracing::info!(org_id = %consent.org_id, "admin consent requested");
    answer
}

/// Takes the single-use item of `claims`: `Ok(false)` when it was already taken (replayed).
async fn take_pending(
    app: &App,
    claims: &StateClaims,
) -> Result<bool, Box<ApiGatewayV2httpResponse>> {
    let pending: Option<OAuthState> = match app.platform.store.take_oauth_state(&claims.nonce).await
    {
        Ok(pending) => pending,
        Err(error) => {
            tracing::error!(%error, "could not consume the consent state");
            return Err(Box::new(unavailable()));
        }
    };
    match pending {
        None => {
            tracing::warn!(org_id = %claims.org_id, "consent state replayed");
            Ok(false)
        }
        Some(pending) if pending.org_id != claims.org_id || pending.mode != claims.mode => {
            Err(Box::new(bad_state(&StateError::BadSignature, app)))
        }
        Some(_) => Ok(true),
    }
}

fn unavailable() -> ApiGatewayV2httpResponse {
    problem(
        503,
        Page::new(Tone::Problem, "The connection service is unavailable")
            .say("Nothing was changed. Please try again in a few minutes."),
    )
}

/// Why a callback's state is refused, as a page (400, nothing changed).
fn bad_state(error: &StateError, app: &App) -> ApiGatewayV2httpResponse {
    let page = match error {
        StateError::Expired { claims, .. } => {
            let config = &app.platform.config;
            let back = claims
                .return_to
                .as_deref()
                .and_then(|r| allowed_return(config, r));
            start_again(
                Page::new(Tone::Problem, "This consent link has expired").say(
                    "Consent must be completed within 10 minutes of starting it. Nothing was changed.",
                ),
                back.as_deref(),
            )
        }
        StateError::Malformed | StateError::BadSignature => {
            Page::new(Tone::Problem, "This consent response is not valid")
                .say("It was not started by this platform or it was altered on the way, so it was ignored. Nothing was changed.")
                .say("Start the connection again from the platform's settings page.")
        }
    };
    problem(400, page)
}

/// A failure page's way forward: consent starts again from the platform (its page calls
/// `GET /connect` with its token), so the link goes back there when the flow named an allowed
/// return address. A fresh consent link cannot be minted here: the callback has no bearer token.
fn start_again(page: Page, back: Option<&str>) -> Page {
    match back {
        Some(url) => page.action("Start again from the platform", url),
        None => page.say("Start again from the platform's settings page."),
    }
}

fn replayed() -> ApiGatewayV2httpResponse {
    problem(
        400,
        Page::new(Tone::Problem, "This consent response was already used")
            .say("Each consent link works once. If the tenant is not connected yet, start again from the platform's settings page.")
            .say("Nothing was changed."),
    )
}

/// What the callback knows once a state checked out: the flow, the browser's secret, and where
/// the result page links back to.
struct Flow<'a> {
    app: &'a App,
    claims: StateClaims,
    secret: String,
    back: Option<String>,
}

impl Flow<'_> {
    /// A failure page naming the organization, with the way to start again.
    fn retry(&self, status: u16, page: Page) -> ApiGatewayV2httpResponse {
        problem(
            status,
            start_again(self.for_org(page), self.back.as_deref()),
        )
    }

    /// Adds the platform organization the flow connects to.
    fn for_org(&self, page: Page) -> Page {
        page.fact("Platform organization", self.claims.org_id.as_str())
    }

    fn with_back(&self, page: Page) -> Page {
        match &self.back {
            Some(url) => page.action("Back to the platform", url.clone()),
            None => page,
        }
    }
}

/// `GET /oauth/callback`: Entra's answer to admin consent, then to the admin's sign-in.
///
/// A state is accepted only with the flow cookie whose hash it carries (the browser that opened
/// the start link) and only once. After consent the browser is sent to sign in
/// ([`consent_returned`]); the tenant is connected only after the ID token proves an
/// administrator of that tenant signed in ([`signed_in`]).
#[tracing::instrument(skip_all)]
pub(crate) async fn callback(
    app: &App,
    request: &ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    let config = &app.platform.config;
    let Some(raw_state) = query_param(request, "state").filter(|s| !s.is_empty()) else {
        return bad_state(&StateError::Malformed, app);
    };
    let signer = match app.signer().await {
        Ok(signer) => signer,
        Err(error) => {
            tracing::error!(%error, "no state signing key");
            return unavailable();
        }
    };
    let claims = match signer.verify(raw_state, Utc::now()) {
        Ok(claims) if claims.leg != Leg::Start => claims,
        Ok(_) => return bad_state(&StateError::BadSignature, app),
        Err(error) => {
            tracing::warn!(%error, "consent callback refused");
            return bad_state(&error, app);
        }
    };
    let secret = match browser_secret(request) {
        Some(secret) if claims.browser.as_deref() == Some(browser_hash(&secret).as_str()) => secret,
        _ => {
            tracing::warn!(org_id = %claims.org_id, "consent callback in a browser that did not start the flow");
            return other_browser();
        }
    };
    match take_pending(app, &claims).await {
        Ok(true) => {}
        Ok(false) => return replayed(),
        Err(answer) => return *answer,
    }
    let back = claims
        .return_to
        .as_deref()
        .and_then(|r| allowed_return(config, r));
    let flow = Flow {
        app,
        claims,
        secret,
        back,
    };
    match flow.claims.leg {
        Leg::Consent => consent_returned(&flow, request).await,
        _ => signed_in(&flow, request).await,
    }
}

fn other_browser() -> ApiGatewayV2httpResponse {
    problem(
        400,
        Page::new(Tone::Problem, "Finish the connection in the browser that started it")
            .say("This consent response came back to a browser that did not open the connection link, so it was ignored. Nothing was changed.")
            .say("A connection link works only in the browser it was opened in. If someone sent you a link, ask them to start the connection from their own platform account, or start it from yours."),
    )
}

/// The admin consent leg came back: on consent, send the browser to sign in to the tenant.
async fn consent_returned(
    flow: &Flow<'_>,
    request: &ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    let app = flow.app;
    let config = &app.platform.config;
    if let Some(error) = query_param(request, "error") {
        let description = query_param(request, "error_description")
            .and_then(|d| d.lines().next())
            .unwrap_or_default();
        tracing::info!(error, description, "admin consent not granted");
        let page = match error {
            "access_denied" => Page::new(Tone::Problem, "Consent was declined")
                .say("The tenant was not connected because the permissions were not accepted.")
                .say("To connect it, start again and choose Accept. The account that signs in must be a Global Administrator or a Privileged Role Administrator of the tenant."),
            "consent_required" | "interaction_required" => {
                Page::new(Tone::Problem, "An administrator must give consent")
                    .say("The account that signed in cannot grant these permissions for the whole organization.")
                    .say("Ask a Global Administrator or a Privileged Role Administrator of the tenant to open the connection link and accept.")
            }
            _ => Page::new(Tone::Problem, "Microsoft did not grant consent")
                .say(format!("Microsoft answered: {error}."))
                .say("Start again; if it keeps failing, send this message to support."),
        };
        let page = if description.is_empty() {
            page
        } else {
            page.fact("Microsoft's message", description)
        };
        return flow.retry(403, page);
    }
    let tenant_id = match query_param(request, "tenant").map(TenantId::parse) {
        Some(Ok(tenant_id)) => tenant_id,
        _ => {
            return flow.retry(
                400,
                Page::new(Tone::Problem, "Microsoft's answer names no tenant")
                    .say("The consent response did not say which tenant was connected. Nothing was changed."),
            );
        }
    };
    if let Some(expected) = &flow.claims.tenant_id
        && expected != &tenant_id
    {
        return flow.retry(
            400,
            Page::new(Tone::Problem, "Consent came from another tenant")
                .say(format!(
                    "This link was for tenant {expected}, but consent was given in tenant {tenant_id}. Nothing was connected."
                ))
                .say("Sign in with an administrator of the right tenant and try again."),
        );
    }
    let discovery = match app.oidc.discover(&tenant_id).await {
        Ok(discovery) => discovery,
        Err(error) => {
            tracing::warn!(%error, %tenant_id, "no discovery document");
            return flow.retry(503, sign_in_unavailable());
        }
    };
    let Some(browser) = flow.claims.browser.clone() else {
        return bad_state(&StateError::BadSignature, app);
    };
    let next = flow
        .claims
        .next(Leg::SignIn, browser, Some(tenant_id.clone()), Utc::now());
    let Ok(signer) = app.signer().await else {
        return unavailable();
    };
    if record(app, &next).await.is_err() {
        return unavailable();
    }
    let verifier = signer.derive("pkce", &[next.nonce.as_str(), flow.secret.as_str()]);
    let nonce = signer.derive("nonce", &[next.nonce.as_str(), flow.secret.as_str()]);
    let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("client_id", consent_client_id(config, next.mode));
    query.append_pair("response_type", "code");
    query.append_pair("redirect_uri", &redirect_uri(config));
    query.append_pair("response_mode", "query");
    query.append_pair("scope", SIGN_IN_SCOPE);
    query.append_pair("state", &signer.sign(&next));
    query.append_pair("nonce", &nonce);
    query.append_pair("code_challenge", &challenge);
    query.append_pair("code_challenge_method", "S256");
    query.append_pair("prompt", "select_account");
    tracing::info!(%tenant_id, "admin consent granted; signing the admin in");
    redirect_to(&format!(
        "{}?{}",
        discovery.authorization_endpoint,
        query.finish()
    ))
}

fn sign_in_unavailable() -> Page {
    Page::new(Tone::Problem, "Microsoft's sign-in is not answering")
        .say("Consent may have been granted, but the administrator could not be signed in to prove the tenant, so nothing was connected. Try again in a few minutes.")
}

/// The sign-in leg came back: verify the answer, prove an administrator of the tenant signed in
/// (redeem the code, validate the ID token), then test and connect the tenant, and render the
/// result.
async fn signed_in(flow: &Flow<'_>, request: &ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let (tenant_id, code) = match verify_sign_in(flow, request) {
        Ok(answer) => answer,
        Err(page) => return *page,
    };
    let (credential, admin) = match prove_admin(flow, &tenant_id, code).await {
        Ok(proof) => proof,
        Err(page) => return *page,
    };
    tracing::info!(%tenant_id, role = admin.role, "tenant administrator signed in");
    connect(flow, credential, &tenant_id, &admin).await
}

/// The sign-in answer's tenant (from the state) and authorization code; a refusal page when
/// the state names no tenant, the admin did not sign in, or the answer has no code.
fn verify_sign_in<'r>(
    flow: &Flow<'_>,
    request: &'r ApiGatewayV2httpRequest,
) -> Result<(TenantId, &'r str), Box<ApiGatewayV2httpResponse>> {
    let Some(tenant_id) = flow.claims.tenant_id.clone() else {
        return Err(Box::new(bad_state(&StateError::BadSignature, flow.app)));
    };
    if let Some(error) = query_param(request, "error") {
        tracing::info!(error, "sign-in after consent did not complete");
        return Err(Box::new(flow.retry(
            403,
            Page::new(Tone::Problem, "The administrator did not sign in")
                .say("The tenant is connected only after an administrator of it signs in. Nothing was connected.")
                .fact("Microsoft's answer", error),
        )));
    }
    let Some(code) = query_param(request, "code").filter(|c| !c.is_empty()) else {
        return Err(Box::new(
            flow.retry(
                400,
                Page::new(Tone::Problem, "Microsoft's answer has no sign-in").say(
                    "The sign-in response carried no authorization code. Nothing was connected.",
                ),
            ),
        ));
    };
    Ok((tenant_id, code))
}

/// Redeems the code (PKCE) and validates the ID token: the platform app's credential and the
/// administrator who signed in, or the page that says why the sign-in proves nothing.
async fn prove_admin(
    flow: &Flow<'_>,
    tenant_id: &TenantId,
    code: &str,
) -> Result<(graph::AppCredential, oidc::SignedInAdmin), Box<ApiGatewayV2httpResponse>> {
    let app = flow.app;
    let claims = &flow.claims;
    let credential = match app.platform.consent_credential(claims.mode).await {
        Ok(credential) => credential,
        Err(error) => {
            tracing::error!(%error, "no platform app credential");
            return Err(Box::new(unavailable()));
        }
    };
    let Ok(signer) = app.signer().await else {
        return Err(Box::new(unavailable()));
    };
    let verifier = signer.derive("pkce", &[claims.nonce.as_str(), flow.secret.as_str()]);
    let nonce = signer.derive("nonce", &[claims.nonce.as_str(), flow.secret.as_str()]);
    let proven = async {
        let discovery = app.oidc.discover(tenant_id).await?;
        let id_token = app
            .oidc
            .redeem(
                &discovery,
                &credential,
                code,
                &redirect_uri(&app.platform.config),
                &verifier,
            )
            .await?;
        let keys = app.oidc.keys(&discovery).await?;
        oidc::validate(
            &id_token,
            &keys,
            &discovery.issuer,
            tenant_id,
            &credential.client_id,
            &nonce,
        )
    };
    match proven.await {
        Ok(admin) => Ok((credential, admin)),
        Err(error) => {
            tracing::warn!(%error, %tenant_id, "the sign-in does not prove the tenant");
            Err(Box::new(not_proven(flow, tenant_id, error)))
        }
    }
}

/// The page of a sign-in that proves no administrator of the tenant.
fn not_proven(
    flow: &Flow<'_>,
    tenant_id: &TenantId,
    error: SignInError,
) -> ApiGatewayV2httpResponse {
    match error {
        SignInError::Unavailable(_) => flow.retry(503, sign_in_unavailable()),
        SignInError::NotAnAdmin { user } => flow.retry(
            403,
            Page::new(Tone::Problem, "An administrator must sign in")
                .say("The account that signed in holds no role that can grant consent for the tenant, so the tenant was not connected.")
                .say("Sign in as a Global Administrator, Privileged Role Administrator, Cloud Application Administrator or Application Administrator of the tenant.")
                .fact("Signed in as", user),
        ),
        SignInError::WrongTenant { .. } => flow.retry(
            403,
            Page::new(Tone::Problem, "The account belongs to another tenant")
                .say("The administrator who signed in is not a member of the tenant that gave consent, so nothing was connected.")
                .fact("Tenant ID", tenant_id.as_str()),
        ),
        SignInError::Refused { .. } | SignInError::InvalidToken(_) => flow.retry(
            400,
            Page::new(Tone::Problem, "The sign-in could not be verified")
                .say("Microsoft's answer to the sign-in did not check out, so nothing was connected."),
        ),
    }
}

/// Tests the connection and, when it is usable, connects the tenant to the flow's organization;
/// renders the result.
async fn connect(
    flow: &Flow<'_>,
    credential: graph::AppCredential,
    tenant_id: &TenantId,
    admin: &oidc::SignedInAdmin,
) -> ApiGatewayV2httpResponse {
    let app = flow.app;
    let claims = &flow.claims;
    let report = match test_after_consent(app, credential, tenant_id, claims.mode).await {
        Ok(report) => report,
        Err(error) => {
            tracing::warn!(%error, %tenant_id, "connection test after consent failed");
            let status = if error.is_retryable() { 503 } else { 400 };
            return flow.retry(status, test_failure_page(&error));
        }
    };
    if !report.is_usable() {
        return flow.retry(400, missing_permissions_page(&report));
    }
    match connection::connect(
        &app.platform,
        &claims.org_id,
        TenantAuth::Consent,
        &report,
        Utc::now(),
    )
    .await
    {
        Ok(connected) => page_response(
            200,
            flow.with_back(
                success_page(&connected, &report)
                    .fact("Platform organization", claims.org_id.as_str())
                    .fact("Signed in as", format!("{} ({})", admin.user, admin.role)),
            ),
        ),
        Err(ConnectError::OtherOrganization { .. }) => problem(
            409,
            flow.with_back(flow.for_org(
                Page::new(Tone::Problem, "This tenant cannot be connected here")
                    .say("Nothing was changed. A tenant belongs to one platform account at a time; if it was connected before, remove it there first.")
                    .fact("Tenant ID", tenant_id.as_str()),
            )),
        ),
        Err(error) => {
            tracing::error!(%error, "could not record the connection");
            flow.retry(
                503,
                Page::new(Tone::Problem, "The connection could not be saved")
                    .say("Consent was granted, but the platform could not save the connection. Please try again in a few minutes."),
            )
        }
    }
}

/// Tests the connection through the platform app `credential`, waiting briefly for a consent
/// that has not propagated yet.
async fn test_after_consent(
    app: &App,
    credential: graph::AppCredential,
    tenant_id: &TenantId,
    mode: ConnectionMode,
) -> Result<ConnectionReport, GraphError> {
    let graph = app.platform.graph.tenant(tenant_id.to_string(), credential);
    let mut pauses = CONSENT_PROPAGATION_PAUSES.iter();
    loop {
        match connection::test_connection(&graph, tenant_id, mode).await {
            Err(GraphError::Token(TokenError::AppNotInTenant { .. })) if pauses.len() > 0 => {
                if let Some(pause) = pauses.next() {
                    tokio::time::sleep(*pause).await;
                }
            }
            other => return other,
        }
    }
}

fn test_failure_page(error: &GraphError) -> Page {
    match error {
        GraphError::Token(TokenError::AppNotInTenant { .. }) => {
            Page::new(Tone::Problem, "Consent was not found in the tenant")
                .say("Microsoft reported consent, but the platform's app cannot sign in to the tenant. Consent may still be propagating, or it was withdrawn right away.")
                .say("Wait a minute and try again. Nothing was connected.")
        }
        GraphError::Token(TokenError::TenantNotFound { .. }) => {
            Page::new(Tone::Problem, "The tenant was not found")
                .say("Microsoft does not know the tenant named in the consent response. Nothing was connected.")
        }
        error if error.is_retryable() => Page::new(Tone::Problem, "Microsoft is not answering")
            .say("Consent was granted, but the connection could not be tested because Microsoft's services did not answer. Try again in a few minutes."),
        error => Page::new(Tone::Problem, "The connection test failed")
            .say("Consent was granted, but reading the tenant failed. Nothing was connected.")
            .fact("Microsoft's message", error.to_string()),
    }
}

fn missing_permissions_page(report: &ConnectionReport) -> Page {
    let mut page = Page::new(Tone::Problem, "Some permissions are missing")
        .say(format!(
            "The platform needs these permissions for {} access, but the tenant did not grant them. Nothing was connected.",
            mode_label(report.mode)
        ));
    for permission in &report.missing_permissions {
        page = page.point(*permission);
    }
    page.say(
        "Start again and accept every permission, or ask the tenant's administrator to grant them.",
    )
}

fn success_page(connected: &Connected, report: &ConnectionReport) -> Page {
    let tenant = &connected.tenant;
    let what = match tenant.mode {
        ConnectionMode::Read => {
            "The platform can now read accounts, groups, licenses and usage. It cannot change anything in the tenant."
        }
        ConnectionMode::ReadWrite => {
            "The platform can now read accounts, groups, licenses and usage, and run onboarding, membership changes and offboarding."
        }
    };
    let next = if connected.first_sync_queued {
        "The first sync has started. It usually takes a few minutes; the tenant's accounts appear in the platform as it runs."
    } else {
        "The first sync will start within the hour, at the next scheduled run."
    };
    let domains = tenant
        .verified_domains
        .iter()
        .map(|d| d.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let p1 = match report.entra_id_p1.available {
        Some(true) => "Yes (last sign-in is available)",
        Some(false) => "No (last sign-in will show as not available)",
        None => "Unknown",
    };
    let mut page = Page::new(
        Tone::Success,
        format!("{} is connected", tenant.display_name),
    )
    .say(what)
    .say(next)
    .fact("Tenant", tenant.display_name.clone())
    .fact("Tenant ID", tenant.tenant_id.as_str())
    .fact("Access", mode_label(tenant.mode));
    if !domains.is_empty() {
        page = page.fact("Verified domains", domains);
    }
    page = page.fact("Entra ID P1", p1);
    for line in report.permissions.iter().filter(|l| !l.is_granted()) {
        page = page.point(format!(
            "{} is not granted: the platform will not {}.",
            line.permission,
            line.needed_for
                .split(" (")
                .next()
                .unwrap_or(line.needed_for)
        ));
    }
    page
}
