//! `POST /tenants/{tenant_id}/accounts/{account_id}/restore`: undoes an offboarding in one call,
//! from the snapshot the offboarding took before its first write (kept 30 days, Entra ID's
//! restore window): undeletes the account when it is in deleted items, gives back its direct
//! groups and direct licenses (disabled plans as they were; group-inherited licenses come back
//! with their group), puts back the mailbox's own automatic reply, and re-enables sign-in when
//! asked. Optional JSON body:
//! `{"enable": false, "dry_run": false}`; `dry_run: true` answers the plan and writes nothing.
//!
//! A route rather than a job: a handful of Graph calls ([`lifecycle::offboarding::restore`], in the
//! domain crate, so the API links no function crate), and the caller wants the answer now. Every write is judged by a read-back; the answer lists each step with its
//! Graph request id and what the read-back observed.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use graph::GraphError;
use lifecycle::http::{body_text, json_response, path_param, require_json};
use lifecycle::model::TenantConnection;
use lifecycle::offboarding::restore::{RestoreError, RestoreOptions};
use lifecycle::{AccountId, Platform};
use serde::Deserialize;

use crate::{Answer, answer, tenant_state};

/// The optional body.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RestoreRequest {
    /// Re-enable sign-in (default false: the account stays blocked).
    #[serde(default)]
    enable: bool,
    /// Answer the plan; write nothing.
    #[serde(default)]
    dry_run: bool,
}

/// `POST /tenants/{tenant_id}/accounts/{account_id}/restore`: 200 with the steps (each with its
/// Graph request id and read-back); 400 for a malformed body; 404 when the account is neither in
/// the tenant nor in its deleted items; 409 when it is not deleted and no snapshot names anything
/// to give back, or the tenant is read-only or needs reconnection.
#[tracing::instrument(skip_all, fields(tenant_id = %path_param(request, "tenant_id"), account_id = %path_param(request, "account_id")))]
pub async fn restore(
    platform: &Platform,
    request: &ApiGatewayV2httpRequest,
    tenant: &TenantConnection,
) -> ApiGatewayV2httpResponse {
    match try_restore(platform, request, tenant).await {
        Ok(answer) | Err(answer) => *answer,
    }
}

fn options(request: &ApiGatewayV2httpRequest) -> Result<RestoreOptions, Answer> {
    require_json(request)?;
    let text = body_text(request).map_err(|message| answer(400, "bad_request", message))?;
    let body: RestoreRequest = if text.trim().is_empty() {
        RestoreRequest::default()
    } else {
        serde_json::from_str(&text).map_err(|error| {
            answer(
                400,
                "bad_request",
                format!(
                    "the JSON body is not valid: {error}; send {{\"enable\": true|false, \"dry_run\": true|false}} or no body"
                ),
            )
        })?
    };
    Ok(RestoreOptions {
        enable: body.enable,
        dry_run: body.dry_run,
    })
}

async fn try_restore(
    platform: &Platform,
    request: &ApiGatewayV2httpRequest,
    tenant: &TenantConnection,
) -> Result<Answer, Answer> {
    let tenant_id = &tenant.tenant_id;
    let account_id = AccountId::parse(path_param(request, "account_id")).map_err(|error| {
        answer(
            400,
            "bad_request",
            format!("{error}; a deleted account is named by its object id"),
        )
    })?;
    let options = options(request)?;
    let tenant = tenant_state::writable(tenant, "accounts cannot be restored")?;
    let graph = platform.tenant_graph(tenant).await.map_err(|error| {
        tracing::error!(%error, "no Graph handle for the tenant");
        answer(
            503,
            "unavailable",
            "the tenant's credential could not be read; try again later",
        )
    })?;
    let report = match lifecycle::offboarding::restore::restore(
        platform,
        &graph,
        tenant_id,
        &account_id,
        options,
    )
    .await
    {
        Ok(report) => report,
        Err(RestoreError::NotFound(_)) => {
            return Err(answer(
                404,
                "not_found",
                format!(
                    "account {account_id} is not in tenant {tenant_id} nor in its deleted items: a deleted account can be restored for 30 days after it was deleted"
                ),
            ));
        }
        Err(error @ RestoreError::NothingToRestore(_)) => {
            return Err(answer(409, "not_deleted", error));
        }
        Err(error @ (RestoreError::NotConfirmed(_) | RestoreError::Interrupted(_))) => {
            return Err(answer(503, "unavailable", error));
        }
        Err(RestoreError::Graph(error)) => {
            return Err(graph_failure(platform, tenant, error).await);
        }
        Err(error) => {
            tracing::error!(%error, "restore failed");
            return Err(answer(
                503,
                "unavailable",
                "the store could not be read; try again later (a restore can be sent again)",
            ));
        }
    };
    tracing::info!(account_id = %account_id, restored = report.restored, complete = report.complete, dry_run = report.dry_run, "account restore");
    Ok(Box::new(json_response(200, &report)))
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
