//! `POST /tenants/{tenant_id}/accounts/{account_id}/restore`: brings back a soft-deleted account
//! (an offboarding with the delete policy) from the tenant's deleted items, within Entra ID's
//! 30 days. A route rather than a job: it is one Graph call, and the caller wants the answer now.
//!
//! The account comes back as it was deleted: sign-in still blocked and without the groups and
//! licenses the offboarding removed (an administrator re-enables it, or an update-memberships job
//! gives them back).

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use graph::GraphError;
use lifecycle::http::{json_response, path_param};
use lifecycle::model::{Account, ConnectionStatus, TenantConnection};
use lifecycle::store::keys;
use lifecycle::{AccountId, Platform, TenantId};
use serde_json::json;

use crate::{Answer, answer};

/// `POST /tenants/{tenant_id}/accounts/{account_id}/restore`: 200 with the Graph request id;
/// 404 when the account is not in deleted items; 409 when it is not deleted, or the tenant is
/// read-only or needs reconnection.
#[tracing::instrument(skip_all, fields(tenant_id = %path_param(request, "tenant_id"), account_id = %path_param(request, "account_id")))]
pub async fn restore(
    platform: &Platform,
    request: &ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    match try_restore(platform, request).await {
        Ok(answer) | Err(answer) => *answer,
    }
}

async fn try_restore(
    platform: &Platform,
    request: &ApiGatewayV2httpRequest,
) -> Result<Answer, Answer> {
    let tenant_id = TenantId::parse(path_param(request, "tenant_id"))
        .map_err(|error| answer(400, "bad_request", error))?;
    let account_id = AccountId::parse(path_param(request, "account_id")).map_err(|error| {
        answer(
            400,
            "bad_request",
            format!("{error}; a deleted account is named by its object id"),
        )
    })?;
    let tenant = writable_tenant(platform, &tenant_id).await?;
    let graph = platform.tenant_graph(&tenant).await.map_err(|error| {
        tracing::error!(%error, "no Graph handle for the tenant");
        answer(
            503,
            "unavailable",
            "the tenant's credential could not be read; try again later",
        )
    })?;
    let receipt = match graph.restore_deleted_item(account_id.as_str()).await {
        Ok(receipt) => receipt,
        Err(error) if error.is_not_found() => {
            return Err(match graph.user(account_id.as_str()).await {
                Ok(_) => answer(
                    409,
                    "not_deleted",
                    format!("account {account_id} is not deleted: there is nothing to restore"),
                ),
                Err(_) => answer(
                    404,
                    "not_found",
                    format!(
                        "account {account_id} is not in the deleted items of tenant {tenant_id}: a deleted account can be restored for 30 days after it was deleted"
                    ),
                ),
            });
        }
        Err(error) => return Err(graph_failure(platform, &tenant, error).await),
    };
    let key = keys::account(&tenant_id, &account_id);
    match platform.store.get::<Account>(&key).await {
        Ok(Some(mut account)) if account.deleted => {
            account.deleted = false;
            if let Err(error) = platform.store.put(&key, &account).await {
                tracing::warn!(%error, "restored account not updated here; the next sync will");
            }
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "restored account not read here; the next sync will"),
    }
    tracing::info!(account_id = %account_id, request_id = ?receipt.request_id, "account restored");
    Ok(Box::new(json_response(
        200,
        &json!({
            "tenant_id": tenant_id,
            "account_id": account_id,
            "restored": true,
            "graph_request_id": receipt.request_id,
            "note": "the account is back as it was deleted: sign-in stays blocked and the groups and licenses the offboarding removed are not given back",
        }),
    )))
}

/// The tenant, if it is connected in read/write mode.
async fn writable_tenant(
    platform: &Platform,
    tenant_id: &TenantId,
) -> Result<TenantConnection, Answer> {
    let tenant = match platform.tenant(tenant_id).await {
        Ok(Some(tenant)) => tenant,
        Ok(None) => {
            return Err(answer(
                404,
                "not_found",
                format!("tenant {tenant_id} is not connected"),
            ));
        }
        Err(error) => {
            tracing::error!(%error, "tenant not readable");
            return Err(answer(
                503,
                "unavailable",
                "the store could not be read; try again later",
            ));
        }
    };
    match &tenant.status {
        ConnectionStatus::Connected if tenant.allows_writes() => Ok(tenant),
        ConnectionStatus::Connected => Err(answer(
            409,
            "read_only",
            format!(
                "tenant {tenant_id} is connected read-only, so accounts cannot be restored; reconnect it in read/write mode"
            ),
        )),
        ConnectionStatus::NeedsReconnection { reason } => Err(answer(
            409,
            "needs_reconnection",
            format!("tenant {tenant_id} needs reconnection ({reason}); reconnect it, then restore"),
        )),
        ConnectionStatus::Removed => Err(answer(
            404,
            "not_found",
            format!("tenant {tenant_id} was removed"),
        )),
    }
}

async fn graph_failure(
    platform: &Platform,
    tenant: &TenantConnection,
    error: GraphError,
) -> Answer {
    if matches!(platform.note_graph_error(tenant, &error).await, Ok(true)) {
        return answer(
            409,
            "needs_reconnection",
            format!("the tenant's consent or credential no longer works ({error}); reconnect it"),
        );
    }
    if error.is_retryable() {
        return answer(
            503,
            "unavailable",
            format!("Microsoft Graph is busy ({error}); try again later"),
        );
    }
    answer(502, "graph_error", error)
}
