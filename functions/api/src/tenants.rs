//! Connection routes of the API: `GET /tenants`, the caller organization's tenants, and
//! `GET /tenants/{tenant_id}`, a tenant's connection and status (connected, needs reconnection
//! with the reason, removed), its mode, domains and last sync. Connecting itself is the
//! connection function's (functions/oauth-callback).

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use futures::TryStreamExt as _;
use lifecycle::http::{error_response, json_response};
use lifecycle::model::{TenantConnection, TenantIndexEntry};
use lifecycle::{OrgId, Store};

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
        .tenant_index()
        .try_filter(|entry| std::future::ready(&entry.org_id == org))
        .try_collect()
        .await
    {
        Ok(entries) => entries,
        Err(error) => return unavailable(error),
    };
    let mut tenants = Vec::with_capacity(entries.len());
    for entry in entries {
        match store.connection(&entry.tenant_id).await {
            Ok(Some(tenant)) if &tenant.org_id == org => tenants.push(tenant),
            Ok(_) => {}
            Err(error) => return unavailable(error),
        }
    }
    json_response(200, &crate::answers::TenantList { tenants })
}

/// `GET /tenants/{tenant_id}`: 200 with the connection (a removed one too, while its removal
/// is unfinished); the router has read it and answered 404 when it is not the caller's.
pub fn get(tenant: &TenantConnection) -> ApiGatewayV2httpResponse {
    json_response(200, tenant)
}
