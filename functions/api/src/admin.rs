//! The routes that act on a tenant as a whole or on its accounts in Entra ID, over the shared
//! [`Platform`] (store, queues, vault, Graph): tenant removal ([`crate::removal`]), the license
//! report and refresh ([`crate::licenses`]) and restoring a deleted account ([`crate::restore`]).

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lifecycle::Platform;
use lifecycle::model::TenantConnection;

/// The dependencies of these routes, built once per cold start.
#[derive(Clone)]
pub struct TenantAdmin {
    platform: Platform,
}

impl std::fmt::Debug for TenantAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantAdmin")
            .field("table", &self.platform.config.table_name)
            .finish_non_exhaustive()
    }
}

impl TenantAdmin {
    /// The routes over the function's one [`Platform`] (a cheap handle: clients are shared).
    pub fn new(platform: Platform) -> Self {
        Self { platform }
    }

    /// `DELETE /tenants/{tenant_id}`.
    pub async fn remove_tenant(&self, tenant: &TenantConnection) -> ApiGatewayV2httpResponse {
        crate::removal::remove(&self.platform, tenant).await
    }

    /// `GET /tenants/{tenant_id}/licenses/report`.
    pub async fn license_report(
        &self,
        request: &ApiGatewayV2httpRequest,
        tenant: &TenantConnection,
    ) -> ApiGatewayV2httpResponse {
        crate::licenses::report(&self.platform, request, tenant).await
    }

    /// `POST /tenants/{tenant_id}/licenses/refresh`.
    pub async fn license_refresh(
        &self,
        request: &ApiGatewayV2httpRequest,
        tenant: &TenantConnection,
    ) -> ApiGatewayV2httpResponse {
        crate::licenses::refresh(&self.platform, request, tenant).await
    }

    /// `POST /tenants/{tenant_id}/accounts/{account_id}/restore`.
    pub async fn restore_account(
        &self,
        request: &ApiGatewayV2httpRequest,
        tenant: &TenantConnection,
    ) -> ApiGatewayV2httpResponse {
        crate::restore::restore(&self.platform, request, tenant).await
    }
}
