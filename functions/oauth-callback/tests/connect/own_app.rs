//! `POST /tenants`: the customer's own app registration.

use lifecycle::TenantId;
use lifecycle::model::{ConnectionMode, ConnectionStatus, JobKind, TenantAuth};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::support::{Harness, Request};

const NOWHERE_TENANT: &str = "0f0f0f0f-0000-4000-8000-00000000dead";

#[tokio::test]
async fn given_a_working_own_app_when_posted_then_it_is_tested_saved_and_the_secret_is_only_in_secrets_manager()
 {
    // GIVEN a tenant and its own app registration
    let h = Harness::start().await;
    let tenant = h.tenant(1);

    // WHEN
    let answer = h
        .call(
            "POST /tenants",
            Request::default().body(json!({
                "tenant_id": tenant.tenant_id,
                "client_id": tenant.own_app.client_id,
                "client_secret": tenant.own_app.client_secret,
                "mode": "write",
                // Ignored: the connection belongs to the caller's organization (acme, its token).
                "org_id": "mallory",
            })),
        )
        .await;

    // THEN 201 with the connection and the report
    assert_eq!(answer.status(), 201, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["tenant"]["status"]["state"], "connected");
    assert_eq!(body["report"]["missing_permissions"], json!([]));
    assert_eq!(body["first_sync_queued"], true);
    assert!(!answer.text().contains(&tenant.own_app.client_secret));

    // AND the connection uses the own app; the secret is in Secrets Manager, not in the table
    let stored = h.stored(&tenant.tenant_id).await.expect("recorded");
    assert_eq!(
        stored.auth,
        TenantAuth::OwnApp {
            client_id: tenant.own_app.client_id.clone()
        }
    );
    assert_eq!(stored.mode, ConnectionMode::ReadWrite);
    assert_eq!(stored.status, ConnectionStatus::Connected);
    assert_eq!(
        stored.org_id.as_str(),
        "acme",
        "the organization comes from the token, not the body"
    );
    let credential = h
        .platform()
        .vault
        .get_app_credential(&TenantId::parse(&tenant.tenant_id).expect("id"))
        .await
        .expect("credential stored");
    assert_eq!(
        credential.client_secret.expose_secret(),
        tenant.own_app.client_secret
    );
    assert!(!h.table_dump().await.contains(&tenant.own_app.client_secret));

    // AND the first sync is queued, and the stored credential works for the platform
    let jobs = h.sync_jobs().await;
    assert!(matches!(&jobs[..], [job] if matches!(job.kind, JobKind::Sync(_))));
    let graph = h.platform().tenant_graph(&stored).await.expect("graph");
    assert!(graph.organization().await.is_ok());
}

#[tokio::test]
async fn given_each_wrong_credential_when_posted_then_422_names_it_and_nothing_is_saved() {
    // GIVEN two tenants, each with its own app
    let h = Harness::start().await;
    let tenant = h.tenant(1);
    let other = h.tenant(2);
    let cases = [
        (
            "wrong secret",
            tenant.tenant_id.clone(),
            tenant.own_app.client_id.clone(),
            "not-the-secret".to_owned(),
            "wrong_client_secret",
            "client_secret",
        ),
        (
            "app of another tenant",
            tenant.tenant_id.clone(),
            other.own_app.client_id.clone(),
            other.own_app.client_secret.clone(),
            "app_not_found_in_tenant",
            "client_id",
        ),
        (
            "unknown tenant",
            NOWHERE_TENANT.to_owned(),
            tenant.own_app.client_id.clone(),
            tenant.own_app.client_secret.clone(),
            "tenant_not_found",
            "tenant_id",
        ),
    ];
    for (case, tenant_id, client_id, secret, code, field) in cases {
        // WHEN
        let answer = h
            .call(
                "POST /tenants",
                Request::default().body(json!({
                    "tenant_id": tenant_id, "client_id": client_id, "client_secret": secret,
                    "mode": "read", "org_id": "acme",
                })),
            )
            .await;
        // THEN
        assert_eq!(answer.status(), 422, "{case}: {}", answer.text());
        let body = answer.json();
        assert_eq!(body["error"]["code"], code, "{case}");
        assert_eq!(body["error"]["field"], field, "{case}");
        assert!(
            !answer.text().contains(&secret),
            "{case}: the secret is not echoed"
        );
        assert!(h.stored(&tenant_id).await.is_none(), "{case}");
    }
    let vault = &h.platform().vault;
    let id = TenantId::parse(&tenant.tenant_id).expect("id");
    assert!(
        vault.get_app_credential(&id).await.is_err(),
        "no secret stored"
    );
    assert!(h.sync_jobs().await.is_empty());
}

#[tokio::test]
async fn given_an_own_app_without_the_write_permissions_when_posted_for_write_then_422_lists_them()
{
    // GIVEN the tenant's own app consented with the read permissions only
    let h = Harness::start().await;
    let tenant = h.tenant(1);
    let read_roles: Vec<String> = oauth_callback::permissions::READ_PERMISSIONS
        .iter()
        .map(|p| p.name.to_owned())
        .collect();
    h.sim()
        .consent(
            &tenant.tenant_id,
            &graph_sim::ConsentChange {
                granted: true,
                roles: read_roles,
                client_id: Some(tenant.own_app.client_id.clone()),
            },
        )
        .expect("consent");

    // WHEN it is posted for read/write
    let answer = h
        .call(
            "POST /tenants",
            Request::default().body(json!({
                "tenant_id": tenant.tenant_id, "client_id": tenant.own_app.client_id,
                "client_secret": tenant.own_app.client_secret, "mode": "write", "org_id": "acme",
            })),
        )
        .await;

    // THEN 422 with each missing required write permission; nothing saved
    assert_eq!(answer.status(), 422, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["error"]["code"], "missing_permissions");
    let missing: Vec<String> =
        serde_json::from_value(body["error"]["missing"].clone()).expect("list");
    // (the offboard options' permissions are optional: without them only those options are off)
    let expected: Vec<String> = oauth_callback::permissions::WRITE_PERMISSIONS
        .iter()
        .filter(|p| p.required)
        .map(|p| p.name.to_owned())
        .collect();
    assert_eq!(missing, expected);
    assert!(h.stored(&tenant.tenant_id).await.is_none());

    // AND the same app is accepted for read-only
    let answer = h
        .call(
            "POST /tenants",
            Request::default().body(json!({
                "tenant_id": tenant.tenant_id, "client_id": tenant.own_app.client_id,
                "client_secret": tenant.own_app.client_secret, "mode": "read", "org_id": "acme",
            })),
        )
        .await;
    assert_eq!(answer.status(), 201, "{}", answer.text());
}

#[tokio::test]
async fn given_malformed_bodies_when_posted_then_400_says_what_is_wrong() {
    let h = Harness::start().await;
    let answer = h
        .call(
            "POST /tenants",
            Request::default().body(json!({"tenant_id": "nope", "client_id": "x",
                "client_secret": "s", "mode": "read", "org_id": "acme"})),
        )
        .await;
    assert_eq!(answer.status(), 400);
    assert!(
        answer.text().contains("invalid tenant id"),
        "{}",
        answer.text()
    );
    let answer = h
        .call(
            "POST /tenants",
            Request::default().body(json!({"tenant_id": NOWHERE_TENANT, "client_id": "x",
                "client_secret": "s", "mode": "sudo", "org_id": "acme"})),
        )
        .await;
    assert_eq!(answer.status(), 400);
    assert!(
        answer.text().contains("unknown variant `sudo`"),
        "{}",
        answer.text()
    );
}

#[tokio::test]
async fn given_a_connection_whose_first_sync_is_pending_when_a_sync_is_requested_or_it_reconnects_then_both_merge_into_that_run()
 {
    // GIVEN a tenant connected with its own app: its first sync is queued
    let h = Harness::start().await;
    let tenant = h.tenant(1);
    let connect = || {
        h.call(
            "POST /tenants",
            Request::default().body(json!({
                "tenant_id": tenant.tenant_id,
                "client_id": tenant.own_app.client_id,
                "client_secret": tenant.own_app.client_secret,
                "mode": "read",
            })),
        )
    };
    let first = connect().await;
    assert_eq!(first.status(), 201, "{}", first.text());
    let first_run = first.json()["sync_run_id"].clone();
    assert!(first_run.is_string(), "{}", first.text());

    // WHEN a sync is requested the way POST /sync and the schedule request it, and the tenant is
    // connected again, while that run is still queued
    let stored = h.stored(&tenant.tenant_id).await.expect("connected");
    let requested = lifecycle::sync_runs::request_or_merge_sync(
        h.platform(),
        &stored,
        false,
        chrono::Utc::now(),
    )
    .await
    .expect("sync requested");
    let again = connect().await;

    // THEN both answer the first sync's run, and one sync job is on the queue, not three
    assert_eq!(
        json!(requested.sync_run_id()),
        first_run,
        "the sync request did not merge into the first sync"
    );
    assert_eq!(again.status(), 201, "{}", again.text());
    assert_eq!(
        again.json()["sync_run_id"],
        first_run,
        "reconnecting queued a second run"
    );
    let jobs = h.sync_jobs().await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
}
