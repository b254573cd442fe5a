//! `POST /tenants`: connect a tenant through the customer's own app registration.
//!
//! The credential is tested before anything is saved, and before the answer says anything about
//! another organization's connection of the tenant; a failure names the credential that is wrong. The client secret goes to Secrets Manager only, never to DynamoDB or a log.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use chrono::Utc;
use graph::{AppCredential, GraphError};
use lifecycle::OrgId;
use lifecycle::http::{error_response, json_response, parse_json_body};
use lifecycle::model::{OwnAppRequest, TenantAuth};
use serde_json::json;

use crate::App;
use crate::connection::{self, ConnectError, ConnectionReport, CredentialProblem};

/// 422 naming what is wrong (and the field that holds it), with the report when there is one.
pub(crate) fn credential_error(
    problem: CredentialProblem,
    message: impl std::fmt::Display,
) -> ApiGatewayV2httpResponse {
    json_response(
        422,
        &json!({"error": {
            "code": problem.code(),
            "field": problem.field(),
            "message": message.to_string(),
        }}),
    )
}

/// 422 listing the missing permissions, with the full report.
pub(crate) fn missing_permissions(report: &ConnectionReport) -> ApiGatewayV2httpResponse {
    json_response(
        422,
        &json!({
            "error": {
                "code": "missing_permissions",
                "message": format!(
                    "the app lacks these application permissions (with admin consent): {}",
                    report.missing_permissions.join(", ")
                ),
                "missing": report.missing_permissions,
            },
            "report": report,
        }),
    )
}

/// The answer to a failed connection test.
pub(crate) fn test_failed(error: &GraphError) -> ApiGatewayV2httpResponse {
    if let Some(problem) = CredentialProblem::of(error) {
        return credential_error(problem, error);
    }
    if error.is_retryable() {
        return error_response(
            503,
            "graph_unavailable",
            format!("the connection could not be tested, try again later: {error}"),
        );
    }
    error_response(
        422,
        "connection_test_failed",
        format!("reading the tenant failed: {error}"),
    )
}

pub(crate) fn connect_failed(error: &ConnectError) -> ApiGatewayV2httpResponse {
    match error {
        ConnectError::OtherOrganization { .. } => error_response(409, "connected_elsewhere", error),
        ConnectError::BeingRemoved { .. } => error_response(409, "being_removed", error),
        _ => {
            tracing::error!(%error, "could not record the connection");
            error_response(
                503,
                "unavailable",
                "the connection could not be saved; try again later",
            )
        }
    }
}

/// `POST /tenants`, for the caller's organization `org_id` (from the token).
#[tracing::instrument(skip_all, fields(org_id = %org_id))]
pub(crate) async fn connect(
    app: &App,
    request: &ApiGatewayV2httpRequest,
    org_id: OrgId,
) -> ApiGatewayV2httpResponse {
    let body: OwnAppRequest = match parse_json_body(request) {
        Ok(body) => body,
        Err(answer) => return *answer,
    };
    let client_id = body.client_id.trim().to_owned();
    if uuid::Uuid::try_parse(&client_id).is_err() {
        return credential_error(
            CredentialProblem::AppNotFoundInTenant,
            "client_id must be the app registration's Application (client) ID, a GUID",
        );
    }
    let platform = &app.platform;
    let mode = body.mode.into();
    let credential = AppCredential::new(client_id.clone(), body.client_secret.clone());
    let graph = platform
        .graph
        .tenant(body.tenant_id.to_string(), credential);
    let report = match connection::test_connection(&graph, &body.tenant_id, mode).await {
        Ok(report) => report,
        Err(error) => {
            tracing::info!(%error, tenant_id = %body.tenant_id, "own app credential refused");
            return test_failed(&error);
        }
    };
    if !report.is_usable() {
        return missing_permissions(&report);
    }
    // Only a caller who has proven working credentials for the tenant learns whether it is
    // connected to another organization: the check comes after the test, before anything is
    // stored (the other organization's credential is never overwritten).
    if let Err(error) = connection::may_connect(platform, &body.tenant_id, &org_id).await {
        return connect_failed(&error);
    }
    let stored = lifecycle::AppCredential {
        client_id: client_id.clone(),
        client_secret: body.client_secret,
    };
    if let Err(error) = platform
        .vault
        .put_app_credential(&body.tenant_id, &stored)
        .await
    {
        tracing::error!(%error, "could not store the app credential");
        return error_response(
            503,
            "unavailable",
            "the credential could not be stored; try again later",
        );
    }
    let auth = TenantAuth::OwnApp { client_id };
    match connection::connect(platform, &org_id, auth, &report, Utc::now()).await {
        Ok(connected) => json_response(
            201,
            &lifecycle::model::TenantConnected {
                status: None,
                partner_tenant_id: None,
                tenant: connected.tenant,
                report,
                sync_run_id: connected.sync_run_id,
                first_sync_queued: connected.first_sync_queued,
            },
        ),
        Err(error) => connect_failed(&error),
    }
}
