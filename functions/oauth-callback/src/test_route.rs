//! `POST /tenants/{tenant_id}/test`: tests a recorded connection with its own credential.
//!
//! Answers 200 with the per-permission report and the P1 probe when the test ran, whatever its
//! verdict (`ok`). A credential that no longer works marks the tenant "needs reconnection"; a test
//! that passes again restores a tenant that needed reconnection.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lifecycle::http::{error_response, json_response, path_param};
use lifecycle::model::{ConnectionStatus, ConnectionTested, TenantConnection, TestProblem};
use lifecycle::{Platform, TenantId, VaultError};
use serde_json::json;

use crate::App;
use crate::connection::{self, CredentialProblem};
use crate::permissions;

/// The live connection named by the `{tenant_id}` path parameter, or the answer to give.
pub(crate) async fn live_tenant(
    platform: &Platform,
    raw: &str,
) -> Result<TenantConnection, ApiGatewayV2httpResponse> {
    let tenant_id =
        TenantId::parse(raw).map_err(|error| error_response(400, "bad_request", error))?;
    match platform.tenant(&tenant_id).await {
        Ok(Some(tenant)) if tenant.status != ConnectionStatus::Removed => Ok(tenant),
        Ok(_) => Err(error_response(
            404,
            "tenant_not_found",
            format!("tenant {tenant_id} is not connected"),
        )),
        Err(error) => {
            tracing::error!(%error, "could not read the tenant");
            Err(error_response(503, "unavailable", "try again later"))
        }
    }
}

/// `POST /tenants/{tenant_id}/test`.
#[tracing::instrument(skip_all, fields(tenant_id = %path_param(request, "tenant_id")))]
pub(crate) async fn test(app: &App, request: &ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let platform = &app.platform;
    let mut tenant = match live_tenant(platform, path_param(request, "tenant_id")).await {
        Ok(tenant) => tenant,
        Err(answer) => return answer,
    };
    let graph = match platform.tenant_graph(&tenant).await {
        Ok(graph) => graph,
        Err(lifecycle::AccessError::Credential {
            source: VaultError::NotFound { .. },
            ..
        }) => {
            return json_response(
                200,
                &ConnectionTested {
                    ok: false,
                    tenant_id: tenant.tenant_id,
                    status: tenant.status,
                    report: None,
                    problem: Some(TestProblem {
                        code: "credential_missing",
                        message: "the tenant's app credential is not stored; connect it again with POST /tenants",
                    }),
                },
            );
        }
        Err(error) => {
            tracing::error!(%error, "no credential for the tenant");
            return error_response(503, "unavailable", "try again later");
        }
    };
    match connection::test_connection(&graph, &tenant.tenant_id, tenant.mode).await {
        Ok(report) => {
            let usable = report.is_usable();
            let restore =
                usable && matches!(tenant.status, ConnectionStatus::NeedsReconnection { .. });
            let p1_changed = report.entra_id_p1.available.is_some()
                && tenant.has_p1 != report.entra_id_p1.available;
            if restore || p1_changed {
                if restore {
                    tenant.status = ConnectionStatus::Connected;
                }
                tenant.has_p1 = report.entra_id_p1.available;
                tenant.options = permissions::sync_options(&report.permissions, tenant.has_p1);
                if let Err(error) = platform.save_tenant(&tenant).await {
                    tracing::error!(%error, "could not update the tenant after its test");
                }
            }
            json_response(
                200,
                &ConnectionTested {
                    ok: usable,
                    tenant_id: tenant.tenant_id,
                    status: tenant.status,
                    report: Some(report),
                    problem: None,
                },
            )
        }
        Err(error) if error.is_retryable() => error_response(
            503,
            "graph_unavailable",
            format!("the connection could not be tested, try again later: {error}"),
        ),
        Err(error) => {
            match platform.note_graph_error(&tenant, &error).await {
                Ok(true) => {
                    tenant.status = ConnectionStatus::NeedsReconnection {
                        reason: error.to_string(),
                    }
                }
                Ok(false) => {}
                Err(store_error) => {
                    tracing::error!(%store_error, "could not mark the tenant");
                }
            }
            let code = CredentialProblem::of(&error).map_or("connection_test_failed", |p| p.code());
            json_response(
                200,
                &json!({
                    "ok": false,
                    "tenant_id": tenant.tenant_id,
                    "status": tenant.status,
                    "problem": {"code": code, "message": error.to_string()},
                }),
            )
        }
    }
}
