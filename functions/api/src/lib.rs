//! The HTTP API function: every route of the bundle's HTTP API lands here (API Gateway HTTP API,
//! payload format 2.0) and is dispatched on its route key.
//!
//! A new route is one line in [`App::route`] plus its event in infra/template.yaml.
//!
//! Every route but `GET /health` is behind the HTTP API's JWT authorizer: the caller's platform
//! organization comes from the verified token ([`lifecycle::http::caller_org`]), and every
//! `/tenants/{tenant_id}...` route first checks that the tenant belongs to it
//! ([`lifecycle::http::caller_tenant`]; a tenant of another organization is a 404).

pub mod admin;
pub mod answers;
pub mod jobs;
pub mod licenses;
pub mod matches;
pub mod openapi;
pub mod receipt;
pub mod removal;
pub mod restore;
pub mod sync_settings;
pub mod synced;
pub(crate) mod tenant_state;
pub mod tenants;

use aws_config::SdkConfig;
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderValue, StatusCode};
use lifecycle::http::{caller_org, caller_tenant};
use lifecycle::model::TenantConnection;
use lifecycle::{Config, Function, HandlerError, Invocation};
use serde_json::{Value, json};
use thiserror::Error;

/// An error answer of a route, boxed so that a `Result<_, Answer>` stays small.
pub(crate) type Answer = Box<ApiGatewayV2httpResponse>;

/// The boxed [`lifecycle::http::error_response`]: `status`, a machine-readable `code`, and a
/// message that says what is wrong and how to fix it.
pub(crate) fn answer(status: u16, code: &str, message: impl std::fmt::Display) -> Answer {
    Box::new(lifecycle::http::error_response(status, code, message))
}

/// [`answer`] that names the request field at fault (`error.field`).
pub(crate) fn answer_field(
    status: u16,
    code: &str,
    field: &str,
    message: impl std::fmt::Display,
) -> Answer {
    let body = json!({"error": {"code": code, "message": message.to_string(), "field": field}});
    let mut response = lifecycle::http::error_response(status, code, "");
    response.body = Some(Body::Text(body.to_string()));
    Box::new(response)
}

/// Why the function could not be built.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error("the table name is empty")]
    NoTable,
    #[error("the shared dependencies could not be built: {0}")]
    Platform(#[from] lifecycle::PlatformError),
}

/// The HTTP API function, built once per cold start.
#[derive(Debug, Clone)]
pub struct App {
    config: Config,
    dynamodb: aws_sdk_dynamodb::Client,
    admin: admin::TenantAdmin,
    jobs: jobs::Intake,
    synced: synced::SyncRoutes,
    settings: sync_settings::SettingsRoutes,
    matches: matches::MatchRoutes,
}

impl App {
    /// Builds the function from the shared configuration and the AWS SDK configuration.
    pub fn new(config: Config, aws: &SdkConfig) -> Result<App, ApiError> {
        if config.table_name.is_empty() {
            return Err(ApiError::NoTable);
        }
        // One Platform (its clients, built once) serves every route.
        let platform = lifecycle::Platform::new(config, aws)?;
        Ok(App::from_platform(platform))
    }

    /// The function over `platform`'s clients (tests pass a platform whose clients are hooked).
    pub fn from_platform(platform: lifecycle::Platform) -> App {
        App {
            jobs: jobs::Intake::new(&platform),
            admin: admin::TenantAdmin::new(platform.clone()),
            dynamodb: platform.store.client().clone(),
            config: platform.config.clone(),
            settings: sync_settings::SettingsRoutes::new(platform.clone()),
            matches: matches::MatchRoutes::new(platform.clone()),
            synced: synced::SyncRoutes::new(platform),
        }
    }

    /// Handles one HTTP request; every failure becomes an HTTP answer in the one error shape
    /// (with the request id), never a failed invocation.
    pub async fn handle(&self, request: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let answer = self.route(&request).await;
        lifecycle::http::with_request_id(answer, &request)
    }

    /// The route table: API Gateway has already matched the template's routes, so the route key
    /// (`GET /health`, `GET /tenants/{tenant_id}`) names the handler.
    async fn route(&self, request: &ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let key = request.route_key.as_deref().unwrap_or_default();
        match key {
            "GET /health" => return self.health().await,
            "GET /openapi.json" => return openapi::serve(),
            _ => {}
        }
        let org = match caller_org(request, &self.config.org_claim) {
            Ok(org) => org,
            Err(answer) => return *answer,
        };
        if key == "GET /tenants" {
            return tenants::list(&self.store(), &org).await;
        }
        if !key.contains(" /tenants/{tenant_id}") {
            return no_route(key);
        }
        match caller_tenant(&self.store(), request, &org).await {
            Ok(tenant) => self.tenant_route(key, request, &tenant).await,
            Err(answer) => *answer,
        }
    }

    /// The routes of one tenant: `tenant` is the caller's own, read once here and handed to the
    /// handler (each checks the state it needs with [`tenant_state`]).
    async fn tenant_route(
        &self,
        key: &str,
        request: &ApiGatewayV2httpRequest,
        tenant: &TenantConnection,
    ) -> ApiGatewayV2httpResponse {
        match key {
            "GET /tenants/{tenant_id}" => tenants::get(tenant),
            "POST /tenants/{tenant_id}/jobs" => self.jobs.submit(request, tenant).await,
            "GET /tenants/{tenant_id}/jobs/{job_id}" => self.jobs.get(request).await,
            "GET /tenants/{tenant_id}/jobs/{job_id}/password" => {
                self.jobs.take_password(request).await
            }
            "POST /tenants/{tenant_id}/jobs/{job_id}/retry" => {
                self.jobs.retry(request, tenant).await
            }
            "GET /tenants/{tenant_id}/jobs/{job_id}/receipt" => {
                receipt::receipt(&self.store(), request).await
            }
            "DELETE /tenants/{tenant_id}/jobs/{job_id}" => self.jobs.cancel(request).await,
            "DELETE /tenants/{tenant_id}" => self.admin.remove_tenant(tenant).await,
            "GET /tenants/{tenant_id}/licenses/report" => {
                self.admin.license_report(request, tenant).await
            }
            "POST /tenants/{tenant_id}/licenses/refresh" => {
                self.admin.license_refresh(request, tenant).await
            }
            "POST /tenants/{tenant_id}/accounts/{account_id}/restore" => {
                self.admin.restore_account(request, tenant).await
            }
            "POST /tenants/{tenant_id}/sync" => {
                answered(self.synced.request_sync(request, tenant).await)
            }
            "GET /tenants/{tenant_id}/sync-runs" => {
                answered(self.synced.sync_runs(request, tenant).await)
            }
            "GET /tenants/{tenant_id}/accounts" => {
                answered(self.synced.accounts(request, tenant).await)
            }
            "POST /tenants/{tenant_id}/matches" => {
                answered(Box::pin(self.matches.match_people(request, tenant)).await)
            }
            "GET /tenants/{tenant_id}/matches" => {
                answered(Box::pin(self.matches.list(tenant)).await)
            }
            "PUT /tenants/{tenant_id}/matches/{person_id}" => {
                answered(Box::pin(self.matches.confirm(request, tenant)).await)
            }
            "GET /tenants/{tenant_id}/sync-settings" => {
                answered(Box::pin(self.settings.get(tenant)).await)
            }
            "PUT /tenants/{tenant_id}/sync-settings" => {
                answered(Box::pin(self.settings.put(request, tenant)).await)
            }
            "GET /tenants/{tenant_id}/accounts/{account_id}" => {
                answered(self.synced.account(request, tenant).await)
            }
            "GET /tenants/{tenant_id}/groups" => {
                answered(self.synced.groups(request, tenant).await)
            }
            "GET /tenants/{tenant_id}/groups/{group_id}/members" => {
                answered(self.synced.group_members(request, tenant).await)
            }
            "GET /tenants/{tenant_id}/licenses" => answered(self.synced.licenses(tenant).await),
            other => no_route(other),
        }
    }

    /// The store over the function's client (a cheap handle).
    fn store(&self) -> lifecycle::Store {
        lifecycle::Store::new(self.dynamodb.clone(), self.config.table_name.clone())
    }

    /// `GET /health`: ok and the version when the table answers, 503 otherwise.
    #[tracing::instrument(skip(self))]
    async fn health(&self) -> ApiGatewayV2httpResponse {
        let version = env!("CARGO_PKG_VERSION");
        match self
            .dynamodb
            .describe_table()
            .table_name(&self.config.table_name)
            .send()
            .await
        {
            Ok(_) => json_response(
                StatusCode::OK,
                &json!({"status": "ok", "version": version, "table": "reachable"}),
            ),
            Err(error) => {
                tracing::warn!(
                    error = %aws_sdk_dynamodb::error::DisplayErrorContext(&error),
                    "health: the table is not reachable"
                );
                json_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({"status": "unavailable", "version": version, "table": "unreachable"}),
                )
            }
        }
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

/// The answer to a route key this function does not serve.
fn no_route(key: &str) -> ApiGatewayV2httpResponse {
    lifecycle::http::error_response(
        404,
        "not_found",
        format!("no route {key:?} in the API function: see GET /openapi.json"),
    )
}

/// A handler's answer, whether it succeeded or refused.
fn answered(result: Result<ApiGatewayV2httpResponse, Answer>) -> ApiGatewayV2httpResponse {
    result.unwrap_or_else(|answer| *answer)
}

fn json_response(status: StatusCode, body: &Value) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(status.as_u16());
    response.headers = headers;
    response.body = Some(Body::Text(body.to_string()));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config() -> Config {
        Config::from_vars(|name| match name {
            "ALLOWED_RETURN_ORIGINS" | "PLATFORM_READ_APP_CLIENT_ID" | "ORG_CLAIM" => None,
            n if n.ends_with("_URL") => Some("http://127.0.0.1:1".to_owned()),
            _ => Some("x".to_owned()),
        })
        .expect("config")
    }

    #[tokio::test]
    async fn given_a_route_key_the_api_does_not_serve_when_invoked_then_404_json() {
        // GIVEN the API (no AWS call is made for an unknown route)
        let aws = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let app = App::new(config(), &aws).expect("app");

        // WHEN an event for a route it does not know arrives (from an authorized caller)
        let response = app
            .invoke(
                json!({
                    "version": "2.0",
                    "routeKey": "GET /nope",
                    "rawPath": "/nope",
                    "requestContext": {"http": {"method": "GET", "path": "/nope"}, "requestId": "req-404",
                                       "authorizer": {"jwt": {"claims": {"org_id": "acme"}}}},
                    "isBase64Encoded": false
                }),
                Invocation::with_timeout(Duration::from_secs(30)),
            )
            .await
            .expect("an HTTP answer, not a failed invocation");

        // THEN it answers 404 in the one error shape, with the request id
        assert_eq!(response["statusCode"], 404);
        let body: Value =
            serde_json::from_str(response["body"].as_str().expect("a body")).expect("JSON");
        assert_eq!(body["error"]["code"], "not_found", "{body}");
        assert_eq!(body["error"]["request_id"], "req-404", "{body}");
    }

    #[tokio::test]
    async fn given_no_token_when_get_openapi_json_is_invoked_then_the_committed_document_is_served()
    {
        // GIVEN the API (no AWS call is made for the document)
        let aws = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let app = App::new(config(), &aws).expect("app");

        // WHEN GET /openapi.json arrives without any claims (the route is public)
        let response = app
            .invoke(
                json!({
                    "version": "2.0",
                    "routeKey": "GET /openapi.json",
                    "rawPath": "/openapi.json",
                    "requestContext": {"http": {"method": "GET", "path": "/openapi.json"}},
                    "isBase64Encoded": false
                }),
                Invocation::with_timeout(Duration::from_secs(30)),
            )
            .await
            .expect("an HTTP answer");

        // THEN it is the OpenAPI 3.1 document committed at docs/openapi.json
        assert_eq!(response["statusCode"], 200);
        let body: Value =
            serde_json::from_str(response["body"].as_str().expect("a body")).expect("JSON");
        let committed: Value = serde_json::from_str(include_str!("../../../docs/openapi.json"))
            .expect("the committed document");
        assert_eq!(body, committed);
    }

    #[tokio::test]
    async fn given_no_verified_claims_when_a_tenant_route_is_invoked_then_401_before_any_read() {
        // GIVEN the API (the table is unreachable: a read would answer 503, not 401)
        let aws = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let app = App::new(config(), &aws).expect("app");

        // WHEN a tenant route arrives without the authorizer's claims
        let response = app
            .invoke(
                json!({
                    "version": "2.0",
                    "routeKey": "DELETE /tenants/{tenant_id}",
                    "rawPath": "/tenants/t",
                    "pathParameters": {"tenant_id": "t"},
                    "requestContext": {"http": {"method": "DELETE", "path": "/tenants/t"}},
                    "isBase64Encoded": false
                }),
                Invocation::with_timeout(Duration::from_secs(30)),
            )
            .await
            .expect("an HTTP answer");

        // THEN 401 says a bearer token is needed
        assert_eq!(response["statusCode"], 401);
        assert!(
            response["body"]
                .as_str()
                .is_some_and(|b| b.contains("bearer token")),
            "{response}"
        );
    }
}
