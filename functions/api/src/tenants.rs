//! Connection routes of the API: `GET /tenants`, the caller organization's tenants, and
//! `GET /tenants/{tenant_id}`, a tenant's connection and status (connected, needs reconnection
//! with the reason, removed), its mode, domains and last sync. Connecting itself is the
//! connection function's (functions/oauth-callback).

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use futures::TryStreamExt as _;
use lifecycle::http::{error_response, json_response, path_param};
use lifecycle::model::{TenantConnection, TenantIndexEntry};
use lifecycle::store::keys;
use lifecycle::{OrgId, Store, TenantId};

/// `GET /tenants`: the connections of the caller's organization (`org`, from the token), in
/// tenant id order. The tenant index is one small partition (an entry per connected tenant), read
/// whole and filtered by organization; each match's connection is then read.
#[tracing::instrument(skip_all, fields(org_id = %org))]
pub async fn list(store: &Store, org: &OrgId) -> ApiGatewayV2httpResponse {
    let unavailable = |error: lifecycle::StoreError| {
        tracing::error!(%error, "could not list the tenants");
        error_response(
            503,
            "unavailable",
            "the tenants could not be read; try again later",
        )
    };
    let entries: Vec<TenantIndexEntry> = match store
        .query::<TenantIndexEntry>(&keys::tenant_index(), None)
        .try_filter(|entry| std::future::ready(&entry.org_id == org))
        .try_collect()
        .await
    {
        Ok(entries) => entries,
        Err(error) => return unavailable(error),
    };
    let mut tenants = Vec::with_capacity(entries.len());
    for entry in entries {
        match store
            .get::<TenantConnection>(&keys::tenant_meta(&entry.tenant_id))
            .await
        {
            Ok(Some(tenant)) if &tenant.org_id == org => tenants.push(tenant),
            Ok(_) => {}
            Err(error) => return unavailable(error),
        }
    }
    json_response(200, &crate::answers::TenantList { tenants })
}

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
