//! Connection routes of the API: `GET /tenants/{tenant_id}`, a tenant's connection and status
//! (connected, needs reconnection with the reason, removed), its mode, domains and last sync.
//! Connecting itself is the connection function's (functions/oauth-callback).

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lifecycle::http::{error_response, json_response, path_param};
use lifecycle::model::TenantConnection;
use lifecycle::store::keys;
use lifecycle::{Store, TenantId};

/// `GET /tenants/{tenant_id}`: 200 with the connection, 404 when the tenant was never connected.
#[tracing::instrument(skip_all, fields(tenant_id = %path_param(request, "tenant_id")))]
pub async fn get(store: &Store, request: &ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let tenant_id = match TenantId::parse(path_param(request, "tenant_id")) {
        Ok(tenant_id) => tenant_id,
        Err(error) => return error_response(400, "bad_request", error),
    };
    match store
        .get::<TenantConnection>(&keys::tenant_meta(&tenant_id))
        .await
    {
        Ok(Some(tenant)) => json_response(200, &tenant),
        Ok(None) => error_response(
            404,
            "tenant_not_found",
            format!("tenant {tenant_id} is not connected"),
        ),
        Err(error) => {
            tracing::error!(%error, "could not read the tenant");
            error_response(
                503,
                "unavailable",
                "the tenant could not be read; try again later",
            )
        }
    }
}
