//! Connecting tenants: the function behind the HTTP API's connection routes (API Gateway HTTP
//! API, payload format 2.0).
//!
//! | route                                                   | what it does                            |
//! |---------------------------------------------------------|-----------------------------------------|
//! | `GET /connect?mode=read\|write&return_to=`              | `{"start_url"}`: a single-use start link  |
//! | `GET /connect/start` (public)                           | flow cookie, redirect to admin consent   |
//! | `GET /oauth/callback` (public)                          | state + cookie; sign-in; ID token; connects |
//! | `POST /tenants`                                         | the customer's own app registration      |
//! | `POST /tenants/{tenant_id}/test`                        | per-permission report, P1 probe          |
//! | `GET /tenants/{tenant_id}/customers`                    | a partner's GDAP customer tenants        |
//! | `POST /tenants/{tenant_id}/customers/{customer_id}/connect` | connects one customer tenant         |
//!
//! The callback answers HTML pages ([`page`]); the others JSON.
//!
//! Every route but the callback is behind the HTTP API's JWT authorizer. The organization a
//! connection belongs to is the caller's, from the verified token
//! ([`lifecycle::http::caller_org`]), never from a query or body; a `/tenants/{tenant_id}...`
//! route serves only a tenant of that organization ([`lifecycle::http::caller_tenant`]). The
//! start link and the callback are public (the admin's browser opens them, with no token): the
//! signed, single-use states, bound to the organization that called `GET /connect` and to the
//! browser that opened the start link (its `__Host-` cookie), protect them; a tenant is connected
//! only after one of its administrators signed in ([`oidc`]).

pub mod connection;
mod consent;
pub mod oidc;
mod own_app;
pub mod page;
mod partner;

pub mod permissions;
pub mod state;
mod test_route;

use aws_config::SdkConfig;
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use futures::future::BoxFuture;
use lifecycle::http::{caller_org, caller_tenant, error_response};
use lifecycle::model::ConnectionMode;
use lifecycle::{Config, Function, HandlerError, Invocation, Platform, PlatformError, VaultError};
use serde_json::Value;
use thiserror::Error;
use tokio::sync::OnceCell;

use state::{KeyError, StateSigner};

/// Why the function could not be built.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AppError {
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

/// Why the state signing key is unusable.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SignerError {
    #[error("the state signing key could not be read: {0}")]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The connection function, built once per cold start.
pub struct App {
    platform: Platform,
    signer: OnceCell<StateSigner>,
    /// The identity platform at `LOGIN_BASE_URL`, for the admin's sign-in after consent.
    oidc: oidc::OidcClient,
}

impl App {
    /// Builds the function from the shared configuration and the AWS SDK configuration.
    pub fn new(config: Config, aws: &SdkConfig) -> Result<App, AppError> {
        Ok(App::from_platform(Platform::new(config, aws)?))
    }

    /// The function over already built dependencies.
    pub fn from_platform(platform: Platform) -> App {
        App {
            oidc: oidc::OidcClient::new(&platform.config.login_base_url),
            platform,
            signer: OnceCell::new(),
        }
    }

    /// The shared dependencies.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// Handles one HTTP request; every failure becomes an HTTP answer (JSON ones in the one error
    /// shape, with the request id), never a failed invocation.
    pub async fn handle(&self, request: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let answer = self.route(&request).await;
        lifecycle::http::with_request_id(answer, &request)
    }

    /// The route table: API Gateway has already matched the template's routes.
    async fn route(&self, request: &ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let key = request.route_key.as_deref().unwrap_or_default();
        // The browser's routes are public (a navigation carries no bearer token): the signed,
        // single-use states and the flow cookie protect them.
        if key == "GET /oauth/callback" {
            return consent::callback(self, request).await;
        }
        if key == "GET /connect/start" {
            return consent::open(self, request).await;
        }
        let org = match caller_org(request, &self.platform.config.org_claim) {
            Ok(org) => org,
            Err(answer) => return *answer,
        };
        if key.contains(" /tenants/{tenant_id}")
            && let Err(answer) = caller_tenant(&self.platform.store, request, &org).await
        {
            return *answer;
        }
        match key {
            "GET /connect" => consent::start(self, request, org).await,
            "POST /tenants" => own_app::connect(self, request, org).await,
            "POST /tenants/{tenant_id}/test" => test_route::test(self, request).await,
            "GET /tenants/{tenant_id}/customers" => partner::customers(self, request).await,
            "POST /tenants/{tenant_id}/customers/{customer_id}/connect" => {
                partner::connect_customer(self, request).await
            }
            other => error_response(
                404,
                "not_found",
                format!("no route {other:?} in the connection function"),
            ),
        }
    }

    /// The state signer, its key read from Secrets Manager once per cold start.
    async fn signer(&self) -> Result<&StateSigner, SignerError> {
        self.signer
            .get_or_try_init(|| async {
                let key = self
                    .platform
                    .vault
                    .get_state_signing_key(&self.platform.config.state_signing_key_secret_id)
                    .await?;
                Ok(StateSigner::new(key)?)
            })
            .await
    }
}

impl Function for App {
    fn invoke(
        &self,
        event: Value,
        _invocation: Invocation,
    ) -> BoxFuture<'_, Result<Value, HandlerError>> {
        Box::pin(async move {
            let request: ApiGatewayV2httpRequest = serde_json::from_value(event)?;
            let response = self.handle(request).await;
            Ok(serde_json::to_value(response)?)
        })
    }
}

/// How a mode reads on a page.
pub(crate) fn mode_label(mode: ConnectionMode) -> &'static str {
    match mode {
        ConnectionMode::Read => "read-only",
        ConnectionMode::ReadWrite => "read/write",
    }
}
