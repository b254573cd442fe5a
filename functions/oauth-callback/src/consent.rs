//! Admin consent: `GET /connect` sends the browser to Entra with a signed state;
//! `GET /oauth/callback` checks the state, tests the connection and records it.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use chrono::Utc;
use graph::{GraphError, TokenError};
use lifecycle::config::Config;
use lifecycle::http::{error_response, html_response, json_response, query_param};
use lifecycle::model::OAuthState;
use lifecycle::model::{ConnectionMode, TenantAuth};
use lifecycle::store::keys;
use lifecycle::{OrgId, PutOutcome, TenantId};

use crate::connection::{self, ConnectError, Connected, ConnectionReport};
use crate::page::{Page, Tone};
use crate::state::{StateClaims, StateError};
use crate::{App, ModeParam, mode_label};

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
    html_response(status, page.render())
}

/// Why a consent URL could not be made (the state could not be signed or recorded).
#[derive(Debug, thiserror::Error)]
#[error("the consent state could not be signed or recorded")]
pub(crate) struct ConsentUnavailable;

/// Records a single-use state bound to `org_id` and returns the Entra admin consent URL
/// `{LOGIN_BASE_URL}/{organizations|tenant}/v2.0/adminconsent?...` that carries it. `tenant_id`
/// fixes the tenant the consent must come from (a partner's customer).
pub(crate) async fn consent_url(
    app: &App,
    org_id: OrgId,
    mode: ConnectionMode,
    return_to: Option<String>,
    tenant_id: Option<TenantId>,
) -> Result<String, ConsentUnavailable> {
    let config = &app.platform.config;
    let signer = app.signer().await.map_err(|error| {
        tracing::error!(%error, "no state signing key");
        ConsentUnavailable
    })?;
    let now = Utc::now();
    let authority = tenant_id
        .as_ref()
        .map_or_else(|| "organizations".to_owned(), |tenant| tenant.to_string());
    let claims = StateClaims::new(org_id, mode, return_to, tenant_id, now);
    match app
        .platform
        .store
        .put_new(&keys::oauth_state(&claims.nonce), &claims.pending(now))
        .await
    {
        Ok(PutOutcome::Created) => {}
        Ok(PutOutcome::AlreadyExists) | Err(_) => {
            tracing::error!("could not record the consent state");
            return Err(ConsentUnavailable);
        }
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("client_id", consent_client_id(config, mode));
    query.append_pair("scope", GRAPH_DEFAULT_SCOPE);
    query.append_pair("redirect_uri", &redirect_uri(config));
    query.append_pair("state", &signer.sign(&claims));
    tracing::info!(org_id = %claims.org_id, ?mode, "admin consent started");
    Ok(format!(
        "{}/{authority}/v2.0/adminconsent?{}",
        config.login_base_url,
        query.finish()
    ))
}

/// `GET /connect?mode=read|write[&return_to=...][&tenant=...]`, called by the platform with its
/// bearer token: the organization is the token's (an `org` in the query is ignored). Answers 200
/// `{"consent_url": ...}`, the Entra admin consent URL with a signed single-use state bound to
/// that organization; the platform sends the admin's browser there. It no longer redirects: a
/// browser navigation carries no bearer token, so the platform's page fetches the URL and
/// navigates itself.
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
    match consent_url(app, org_id, mode, return_to, tenant_id).await {
        Ok(url) => json_response(200, &serde_json::json!({"consent_url": url})),
        Err(error) => error_response(503, "unavailable", format!("{error}; try again later")),
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

/// `GET /oauth/callback`: Entra's answer to admin consent.
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
    let now = Utc::now();
    let claims = match signer.verify(raw_state, now) {
        Ok(claims) => claims,
        Err(error) => {
            tracing::warn!(%error, "consent callback refused");
            return bad_state(&error, app);
        }
    };
    let pending: Option<OAuthState> = match app
        .platform
        .store
        .take(&keys::oauth_state(&claims.nonce))
        .await
    {
        Ok(pending) => pending,
        Err(error) => {
            tracing::error!(%error, "could not consume the consent state");
            return unavailable();
        }
    };
    let Some(pending) = pending else {
        tracing::warn!(org_id = %claims.org_id, "consent state replayed");
        return replayed();
    };
    if pending.org_id != claims.org_id || pending.mode != claims.mode {
        return bad_state(&StateError::BadSignature, app);
    }

    let back = claims
        .return_to
        .as_deref()
        .and_then(|r| allowed_return(config, r));
    let retry = |page: Page| start_again(page, back.as_deref());
    let with_back = |page: Page| match &back {
        Some(url) => page.action("Back to the platform", url.clone()),
        None => page,
    };

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
        return problem(403, retry(page));
    }

    let tenant_id = match query_param(request, "tenant").map(TenantId::parse) {
        Some(Ok(tenant_id)) => tenant_id,
        _ => {
            return problem(
                400,
                retry(
                    Page::new(Tone::Problem, "Microsoft's answer names no tenant")
                        .say("The consent response did not say which tenant was connected. Nothing was changed."),
                ),
            );
        }
    };
    if let Some(expected) = &claims.tenant_id
        && expected != &tenant_id
    {
        return problem(
            400,
            retry(
                Page::new(Tone::Problem, "Consent came from another tenant")
                    .say(format!(
                        "This link was for tenant {expected}, but consent was given in tenant {tenant_id}. Nothing was connected."
                    ))
                    .say("Sign in with an administrator of the right tenant and try again."),
            ),
        );
    }

    let credential = match app.platform.consent_credential(claims.mode).await {
        Ok(credential) => credential,
        Err(error) => {
            tracing::error!(%error, "no platform app credential");
            return unavailable();
        }
    };
    let report = match test_after_consent(app, credential, &tenant_id, claims.mode).await {
        Ok(report) => report,
        Err(error) => {
            tracing::warn!(%error, %tenant_id, "connection test after consent failed");
            return problem(
                if error.is_retryable() { 503 } else { 400 },
                retry(test_failure_page(&error)),
            );
        }
    };
    if !report.is_usable() {
        return problem(400, retry(missing_permissions_page(&report)));
    }
    match connection::connect(&app.platform, &claims.org_id, TenantAuth::Consent, &report, now)
        .await
    {
        Ok(connected) => html_response(200, with_back(success_page(&connected, &report)).render()),
        Err(ConnectError::OtherOrganization { .. }) => problem(
            409,
            with_back(
                Page::new(Tone::Problem, "This tenant is connected elsewhere")
                    .say("The tenant is already connected to another organization of the platform. Remove it there first, then connect it here.")
                    .fact("Tenant ID", tenant_id.as_str()),
            ),
        ),
        Err(error) => {
            tracing::error!(%error, "could not record the connection");
            problem(
                503,
                retry(
                    Page::new(Tone::Problem, "The connection could not be saved")
                        .say("Consent was granted, but the platform could not save the connection. Please try again in a few minutes."),
                ),
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
