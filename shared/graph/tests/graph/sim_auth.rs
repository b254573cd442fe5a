//! Tokens against the simulator's login endpoint: AADSTS errors, caching, refresh on 401.

use futures::TryStreamExt as _;
use graph::{AppCredential, GraphError, SecretString, TokenError};

use crate::support::{Sim, credential};

#[tokio::test]
async fn given_wrong_client_secret_when_calling_graph_then_invalid_client_secret() {
    // GIVEN the customer's app id with a wrong secret
    let sim = Sim::start(10, 1, true).await;
    let wrong = AppCredential::new(
        sim.tenant.own_app.client_id.clone(),
        SecretString::from("not-the-secret"),
    );
    // WHEN anything is read
    let result = sim
        .client
        .tenant(sim.tenant_id(), wrong)
        .organization()
        .await;
    // THEN the error says the secret is wrong (AADSTS7000215), without printing it
    match result {
        Err(GraphError::Token(TokenError::InvalidClientSecret { client_id, detail })) => {
            assert_eq!(client_id, sim.tenant.own_app.client_id);
            assert_eq!(detail.aadsts(), Some(7000215));
            assert_eq!(detail.error, "invalid_client");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn given_platform_app_without_consent_when_calling_graph_then_app_not_in_tenant() {
    // GIVEN the platform app, never consented in the tenant
    let sim = Sim::start(10, 1, true).await;
    let graph = sim
        .client
        .tenant(sim.tenant_id(), credential(&sim.handle.platform_app()));
    // WHEN the granted roles are read
    let result = graph.granted_roles().await;
    // THEN the error says consent is missing (AADSTS700016) and tells what to do
    match result {
        Err(GraphError::Token(error @ TokenError::AppNotInTenant { .. })) => {
            assert!(error.to_string().contains("admin consent"), "{error}");
            assert!(!error.is_retryable());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn given_consent_revoked_when_calling_graph_again_then_app_not_in_tenant() {
    // GIVEN the platform app consented, used once, then its consent revoked
    let sim = Sim::start(10, 1, true).await;
    sim.handle
        .grant_consent(sim.tenant_id())
        .unwrap_or_else(|e| panic!("{e}"));
    let app = sim.handle.platform_app();
    let before = sim
        .client
        .tenant(sim.tenant_id(), credential(&app))
        .granted_roles()
        .await;
    assert!(before.is_ok_and(|r| !r.is_empty()));
    sim.handle
        .consent(
            sim.tenant_id(),
            &graph_sim::ConsentChange {
                granted: false,
                roles: Vec::new(),
                client_id: Some(app.client_id.clone()),
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    // WHEN a new process (fresh client, so no cached token) calls Graph
    let fresh = crate::support::client(
        &sim.handle.graph_base_url(),
        &sim.handle.login_base_url(),
        crate::support::fast_retry(),
    );
    let result = fresh
        .tenant(sim.tenant_id(), credential(&app))
        .organization()
        .await;
    // THEN consent is reported missing
    assert!(
        matches!(
            result,
            Err(GraphError::Token(TokenError::AppNotInTenant { .. }))
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn given_unknown_tenant_when_calling_graph_then_tenant_not_found() {
    // GIVEN a tenant id that does not exist
    let sim = Sim::start(10, 1, true).await;
    let graph = sim.client.tenant(
        "00000000-0000-0000-0000-00000000dead",
        credential(&sim.tenant.own_app),
    );
    // WHEN anything is read
    let result: Result<Vec<_>, _> = graph.domains().try_collect().await;
    // THEN the error says the tenant was not found (AADSTS90002)
    match result {
        Err(GraphError::Token(TokenError::TenantNotFound { tenant_id, detail })) => {
            assert_eq!(tenant_id, "00000000-0000-0000-0000-00000000dead");
            assert_eq!(detail.aadsts(), Some(90002));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn given_many_calls_when_token_is_fresh_then_one_token_request_serves_them_all() {
    // GIVEN a tenant handle
    let sim = Sim::start(50, 3, true).await;
    let graph = sim.graph();
    // WHEN several calls run concurrently, then more in sequence
    let (a, b, c) = tokio::join!(
        graph.organization(),
        graph.user_pages(None).try_collect::<Vec<_>>(),
        graph.granted_roles()
    );
    assert!(a.is_ok() && b.is_ok() && c.is_ok());
    let _ = graph.organization().await;
    // THEN exactly one token was requested
    assert_eq!(graph.metrics().token_requests, 1);
    assert_eq!(sim.handle.stats().tokens_issued, 1);
}

#[tokio::test]
async fn given_tokens_expired_by_the_server_when_calling_graph_then_refreshed_once_and_completed() {
    // GIVEN a handle holding a token the server has since expired
    let sim = Sim::start(50, 3, true).await;
    let graph = sim.graph();
    let _ = graph.organization().await.unwrap_or_else(|e| panic!("{e}"));
    sim.knobs(|k| k.expire_tokens = true);
    // WHEN the users are listed
    let users: Vec<_> = graph
        .users()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // THEN the list completes after exactly one refresh (two tokens in all, one 401)
    assert_eq!(users.len(), 50);
    assert_eq!(graph.metrics().token_requests, 2);
    assert_eq!(sim.handle.stats().tokens_issued, 2);
    assert_eq!(sim.served("401 /v1.0"), 1);
}
