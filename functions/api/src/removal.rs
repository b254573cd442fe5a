//! `DELETE /tenants/{tenant_id}`: removes a tenant from the platform.
//!
//! In order, so that an interrupted removal can simply be sent again:
//! 1. the connection is marked `removed` (a conditional write): from then on no update of it is
//!    accepted (every write of a connection is conditional on it being live), scheduled syncs
//!    and refreshes skip it, queued jobs are dropped without writing anything, and a running
//!    sync or job stops at its next check and sweeps what it wrote (whoever notices last cleans
//!    up: see `Platform::sweep_if_removed`);
//! 2. our access there is revoked as far as we can: an own-app tenant's stored client secret is
//!    deleted from Secrets Manager (we can no longer sign in). A consent tenant keeps the
//!    platform app's service principal: no application permission the platform holds (least
//!    privilege) lets an app delete its own service principal, so the answer tells the admin the
//!    manual step;
//! 3. its parked (scheduled) jobs are deleted, and every onboarding secret of the tenant
//!    (`onboarding/{tenant}/…`: parked jobs' passwords, generated passwords never taken);
//! 4. every item of the tenant is deleted (accounts, groups, memberships, SKUs, sync runs, job
//!    records, offboarding snapshots, delta links, lease), the tenant index entry, and the connection itself last.
//!
//! Idempotent: while anything of the tenant is left, a DELETE removes it and answers 200 with the
//! counts; when nothing is left (already removed, or never connected) it answers 404.

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use lifecycle::http::{error_response, json_response};
use lifecycle::model::{ConnectionMode, TenantAuth, TenantConnection};
use lifecycle::store::Deleted;
use lifecycle::{Platform, TenantId};
use serde::Serialize;

/// How our access to the tenant ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Access {
    /// Whether the platform can no longer get a token for the tenant.
    pub revoked: bool,
    pub detail: String,
    /// What an administrator of the tenant does to finish it, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual_step: Option<String>,
}

/// The answer of a removal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Removed {
    pub tenant_id: TenantId,
    pub removed: bool,
    pub deleted: Deleted,
    /// Names of the Secrets Manager secrets deleted.
    pub secrets_deleted: Vec<String>,
    /// How our access to the tenant ended (every removal says).
    pub access: Access,
}

fn unavailable(error: impl std::fmt::Display) -> ApiGatewayV2httpResponse {
    tracing::error!(%error, "tenant removal failed; nothing is lost, send the DELETE again");
    error_response(
        503,
        "unavailable",
        "the removal could not finish; what was done stays done: send the DELETE again",
    )
}

/// `DELETE /tenants/{tenant_id}`: `tenant` is the caller's, as the router read it (a removal
/// that stopped half-way left it marked removed, so sending the DELETE again finishes it).
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.tenant_id))]
pub async fn remove(platform: &Platform, tenant: &TenantConnection) -> ApiGatewayV2httpResponse {
    let tenant_id = tenant.tenant_id.clone();
    let mut secrets_deleted = Vec::new();
    if let Err(error) = platform.mark_removed(tenant).await {
        return unavailable(error);
    }
    let access = match revoke_access(platform, tenant).await {
        Ok((access, deleted)) => {
            secrets_deleted.extend(deleted);
            access
        }
        Err(error) => return unavailable(error),
    };
    match platform.vault.delete_onboarding_secrets(&tenant_id).await {
        Ok(names) => secrets_deleted.extend(names),
        Err(error) => return unavailable(error),
    }
    let deleted = match platform.store.delete_removed_tenant(&tenant_id).await {
        Ok(deleted) => deleted,
        Err(error) => return unavailable(error),
    };
    tracing::info!(tenant_id = %tenant_id, items = deleted.total, "tenant removed");
    json_response(
        200,
        &Removed {
            tenant_id,
            removed: true,
            deleted,
            secrets_deleted,
            access,
        },
    )
}

/// Ends our access: deletes the stored credential (own app), or says what the admin does
/// (consent).
async fn revoke_access(
    platform: &Platform,
    tenant: &TenantConnection,
) -> Result<(Access, Vec<String>), lifecycle::VaultError> {
    let tenant_id = &tenant.tenant_id;
    // Also for consent tenants: one that connected with its own app before may have left it.
    platform.vault.delete_app_credential(tenant_id).await?;
    Ok(match &tenant.auth {
        TenantAuth::OwnApp { client_id } => (
            Access {
                revoked: true,
                detail: format!(
                    "the client secret of the tenant's own app registration (client id {client_id}) was deleted here: the platform can no longer sign in to the tenant"
                ),
                manual_step: Some(format!(
                    "optional: in the Microsoft Entra admin center (https://entra.microsoft.com) of tenant {tenant_id}, Applications > App registrations > {client_id} > Certificates & secrets: delete the client secret given to the platform, or delete the app registration"
                )),
            },
            vec![platform.vault.app_credential_name(tenant_id)],
        ),
        TenantAuth::Consent => {
            let client_id = match (&tenant.mode, &platform.config.platform_read_app) {
                (ConnectionMode::Read, Some(read_app)) => read_app.client_id.clone(),
                _ => platform.config.platform_app_client_id.clone(),
            };
            (
                Access {
                    revoked: false,
                    detail: "the platform holds no credential of its own for this tenant and will request no more tokens for it; the admin consent stays in the tenant until an administrator removes the app there (no application permission the platform holds allows an app to delete its own service principal)".to_owned(),
                    manual_step: Some(format!(
                        "a Global Administrator (or Cloud Application Administrator) of tenant {tenant_id} removes the platform's enterprise application, app id {client_id}: Microsoft Entra admin center (https://entra.microsoft.com) > Applications > Enterprise applications > search {client_id} > Properties > Delete; or in PowerShell: Remove-MgServicePrincipal -ServicePrincipalId (Get-MgServicePrincipal -Filter \"appId eq '{client_id}'\").Id"
                    )),
                },
                Vec::new(),
            )
        }
    })
}
