//! Partner (GDAP) tenants: list a connected partner's customer tenants and connect each as its own
//! tenant connection.
//!
//! How a customer is connected: the platform's app needs its own service principal (admin
//! consent) in the customer tenant, since app-only tokens do not flow through GDAP. A partner
//! gives it either ahead of time (Partner Center's application consent for its customers) or
//! through the consent link this route returns: an Entra admin consent URL with a signed state
//! bound to the partner's organization and to the customer tenant, which a partner administrator holding a GDAP role that may consent (Cloud Application
//! Administrator, Application Administrator or Privileged Role Administrator) in that customer
//! completes. So `POST .../connect` connects at once when consent is already in place (201), and
//! otherwise answers 202 with `start_url` (the same browser-bound flow and administrator sign-in as
//! `GET /connect`). The customer's connection belongs to the partner's
//! platform organization.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use chrono::Utc;
use futures::TryStreamExt as _;
use graph::{DelegatedAdminCustomer, GraphError, TokenError};
use lifecycle::http::{body_text, error_response, json_response, path_param};
use lifecycle::model::{TenantAuth, TenantConnection};
use lifecycle::{Platform, TenantId};

use crate::App;
use crate::connection::{self};
use crate::consent::{checked_return, start_link};
use crate::own_app::{connect_failed, missing_permissions, test_failed};
use crate::test_route::live_tenant;
use lifecycle::model::{
    ConnectCustomer, ConsentRequired, Customer, CustomerConnection, PartnerCustomers,
    TenantConnected,
};

/// The partner's customers, or the answer to give.
async fn customers_of(
    platform: &Platform,
    partner: &TenantConnection,
) -> Result<Vec<DelegatedAdminCustomer>, ApiGatewayV2httpResponse> {
    let graph = match platform.tenant_graph(partner).await {
        Ok(graph) => graph,
        Err(error) => {
            tracing::error!(%error, "no credential for the partner");
            return Err(error_response(503, "unavailable", "try again later"));
        }
    };
    match graph.delegated_admin_customers().try_collect().await {
        Ok(customers) => Ok(customers),
        Err(error) => {
            if let Err(store_error) = platform.note_graph_error(partner, &error).await {
                tracing::error!(%store_error, "could not mark the partner");
            }
            Err(match &error {
                GraphError::Forbidden(_) => error_response(
                    422,
                    "missing_permissions",
                    format!(
                        "the partner's connection may not list its customers: DelegatedAdminRelationship.Read.All is needed ({error})"
                    ),
                ),
                error if error.is_retryable() => {
                    error_response(503, "graph_unavailable", error.to_string())
                }
                error => error_response(502, "graph_error", error.to_string()),
            })
        }
    }
}

/// `GET /tenants/{tenant_id}/customers`: the partner's customer tenants and whether each is
/// connected here.
#[tracing::instrument(skip_all, fields(tenant_id = %path_param(request, "tenant_id")))]
pub(crate) async fn customers(
    app: &App,
    request: &ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    let platform = &app.platform;
    let partner = match live_tenant(platform, path_param(request, "tenant_id")).await {
        Ok(tenant) => tenant,
        Err(answer) => return answer,
    };
    let customers = match customers_of(platform, &partner).await {
        Ok(customers) => customers,
        Err(answer) => return answer,
    };
    let mut listed = Vec::with_capacity(customers.len());
    for customer in customers {
        let Ok(tenant_id) = TenantId::parse(&customer.tenant_id) else {
            tracing::warn!(customer = %customer.tenant_id, "skipping a customer whose tenant id does not parse");
            continue;
        };
        // Only the partner's own organization's connections are shown: another organization's
        // connection of the same customer reads as not connected here.
        let connection = match platform.tenant(&tenant_id).await {
            Ok(connection) => {
                connection
                    .filter(|c| c.org_id == partner.org_id)
                    .map(|c| CustomerConnection {
                        status: c.status,
                        mode: c.mode,
                    })
            }
            Err(error) => {
                tracing::error!(%error, "could not read a customer's connection");
                return error_response(503, "unavailable", "try again later");
            }
        };
        listed.push(Customer {
            tenant_id,
            display_name: customer.display_name,
            connection,
        });
    }
    json_response(
        200,
        &PartnerCustomers {
            partner_tenant_id: partner.tenant_id,
            customers: listed,
        },
    )
}

/// `POST /tenants/{tenant_id}/customers/{customer_id}/connect`.
#[tracing::instrument(skip_all, fields(tenant_id = %path_param(request, "tenant_id"), customer_id = %path_param(request, "customer_id")))]
pub(crate) async fn connect_customer(
    app: &App,
    request: &ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    let platform = &app.platform;
    let body: ConnectCustomer = match body_text(request) {
        Ok(text) if text.trim().is_empty() => ConnectCustomer::default(),
        Ok(text) => match serde_json::from_str(&text) {
            Ok(body) => body,
            Err(error) => {
                return error_response(
                    400,
                    "bad_request",
                    format!("the JSON body is not valid: {error}"),
                );
            }
        },
        Err(message) => return error_response(400, "bad_request", message),
    };
    let customer_id = match TenantId::parse(path_param(request, "customer_id")) {
        Ok(id) => id,
        Err(error) => return error_response(400, "bad_request", error),
    };
    let partner = match live_tenant(platform, path_param(request, "tenant_id")).await {
        Ok(tenant) => tenant,
        Err(answer) => return answer,
    };
    let customers = match customers_of(platform, &partner).await {
        Ok(customers) => customers,
        Err(answer) => return answer,
    };
    if !customers
        .iter()
        .any(|c| TenantId::parse(&c.tenant_id).is_ok_and(|id| id == customer_id))
    {
        return error_response(
            404,
            "not_a_customer",
            format!(
                "tenant {customer_id} is not a GDAP customer of partner {}",
                partner.tenant_id
            ),
        );
    }
    let mode = body.mode.map_or(partner.mode, Into::into);
    let return_to = match checked_return(&platform.config, body.return_to.as_deref()) {
        Ok(return_to) => return_to,
        Err(answer) => return *answer,
    };
    if let Err(error) = connection::may_connect(platform, &customer_id, &partner.org_id).await {
        return connect_failed(&error);
    }
    let credential = match platform.consent_credential(mode).await {
        Ok(credential) => credential,
        Err(error) => {
            tracing::error!(%error, "no platform app credential");
            return error_response(503, "unavailable", "try again later");
        }
    };
    let graph = platform.graph.tenant(customer_id.to_string(), credential);
    let report = match connection::test_connection(&graph, &customer_id, mode).await {
        Ok(report) => report,
        Err(GraphError::Token(TokenError::AppNotInTenant { .. })) => {
            let start_url = match start_link(
                app,
                partner.org_id.clone(),
                mode,
                return_to,
                Some(customer_id.clone()),
            )
            .await
            {
                Ok(url) => url,
                Err(error) => {
                    return error_response(503, "unavailable", format!("{error}; try again later"));
                }
            };
            return json_response(
                202,
                &ConsentRequired {
                    status: "consent_required",
                    tenant_id: customer_id,
                    start_url,
                    message: "the platform's app is not consented in the customer tenant yet: a partner administrator with a GDAP role that may grant consent in that customer opens start_url in a browser, accepts, and signs in",
                },
            );
        }
        Err(error) => return test_failed(&error),
    };
    if !report.is_usable() {
        return missing_permissions(&report);
    }
    match connection::connect(
        platform,
        &partner.org_id,
        TenantAuth::Consent,
        &report,
        Utc::now(),
    )
    .await
    {
        Ok(connected) => json_response(
            201,
            &TenantConnected {
                status: Some("connected"),
                partner_tenant_id: Some(partner.tenant_id),
                tenant: connected.tenant,
                report,
                sync_run_id: connected.sync_run_id,
                first_sync_queued: connected.first_sync_queued,
            },
        ),
        Err(error) => connect_failed(&error),
    }
}
