//! `POST /tenants/{tenant_id}/test`, and revoked consent marking a tenant for reconnection.

use lifecycle::model::ConnectionStatus;

use crate::support::{Harness, Request};

#[tokio::test]
async fn given_a_connected_tenant_when_tested_then_each_permission_and_p1_are_reported() {
    // GIVEN a read/write tenant with P1 and a read-only one without
    let h = Harness::start().await;
    let with_p1 = h.tenant(1);
    let without_p1 = h.tenant(2);
    assert_eq!(h.connect_by_consent(1, "write", "acme").await.status(), 200);
    assert_eq!(h.connect_by_consent(2, "read", "acme").await.status(), 200);

    // WHEN each is tested
    let tested = h
        .call(
            "POST /tenants/{tenant_id}/test",
            Request::default().path("tenant_id", &with_p1.tenant_id),
        )
        .await;

    // THEN 200, ok, a line per permission of the mode, granted, and P1 available
    assert_eq!(tested.status(), 200, "{}", tested.text());
    let body = tested.json();
    assert_eq!(body["ok"], true);
    assert_eq!(body["report"]["display_name"], with_p1.display_name);
    let lines = body["report"]["permissions"].as_array().expect("lines");
    let expected = oauth_callback::permissions::READ_PERMISSIONS.len()
        + oauth_callback::permissions::WRITE_PERMISSIONS.len();
    assert_eq!(lines.len(), expected);
    assert!(
        lines.iter().all(|line| line["status"] == "granted"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line["permission"] == "User.EnableDisableAccount.All")
    );
    assert_eq!(body["report"]["entra_id_p1"]["available"], true);
    // ... and the offboard options this grant allows: all four, each with its permission
    let options = body["report"]["offboard_options"]
        .as_array()
        .expect("offboard options");
    assert_eq!(options.len(), 4, "{options:?}");
    assert!(options.iter().all(|o| o["possible"] == true), "{options:?}");
    assert!(options.iter().any(
        |o| o["option"] == "automatic_reply" && o["permission"] == "MailboxSettings.ReadWrite"
    ));

    let tested = h
        .call(
            "POST /tenants/{tenant_id}/test",
            Request::default().path("tenant_id", &without_p1.tenant_id),
        )
        .await;
    let body = tested.json();
    assert_eq!(body["ok"], true);
    assert_eq!(
        body["report"]["permissions"].as_array().map(Vec::len),
        Some(oauth_callback::permissions::READ_PERMISSIONS.len()),
        "read-only asks for the read set only"
    );
    assert_eq!(body["report"]["entra_id_p1"]["available"], false);
}

#[tokio::test]
async fn given_consent_revoked_when_tested_then_the_tenant_needs_reconnection_until_consent_returns()
 {
    // GIVEN a connected tenant whose admin then revokes the platform app's consent
    let h = Harness::start().await;
    let info = h.tenant(1);
    assert_eq!(h.connect_by_consent(1, "write", "acme").await.status(), 200);
    h.sim()
        .consent(
            &info.tenant_id,
            &graph_sim::ConsentChange {
                granted: false,
                roles: Vec::new(),
                client_id: Some(h.sim().platform_app().client_id),
            },
        )
        .expect("revoke");
    // Issued tokens outlive a revocation until they expire (up to an hour in Entra); expire them
    // now so the next call needs a new one.
    h.sim()
        .update_knobs(&info.tenant_id, |knobs| knobs.expire_tokens = true)
        .expect("expire tokens");

    // WHEN the connection is tested
    let tested = h
        .call(
            "POST /tenants/{tenant_id}/test",
            Request::default().path("tenant_id", &info.tenant_id),
        )
        .await;

    // THEN the report says why, and the tenant is marked (so scheduled work skips it)
    assert_eq!(tested.status(), 200);
    let body = tested.json();
    assert_eq!(body["ok"], false);
    assert_eq!(body["problem"]["code"], "app_not_found_in_tenant");
    assert_eq!(body["status"]["state"], "needs_reconnection");
    let stored = h.stored(&info.tenant_id).await.expect("kept");
    assert!(
        matches!(&stored.status, ConnectionStatus::NeedsReconnection { reason } if reason.contains("admin consent")),
        "{:?}",
        stored.status
    );

    // WHEN consent is granted again and the connection tested
    h.sim().grant_consent(&info.tenant_id).expect("consent");
    let tested = h
        .call(
            "POST /tenants/{tenant_id}/test",
            Request::default().path("tenant_id", &info.tenant_id),
        )
        .await;

    // THEN it is connected again
    assert_eq!(tested.json()["ok"], true);
    let stored = h.stored(&info.tenant_id).await.expect("kept");
    assert_eq!(stored.status, ConnectionStatus::Connected);
}

#[tokio::test]
async fn given_an_unknown_or_malformed_tenant_when_tested_then_404_or_400() {
    let h = Harness::start().await;
    let unknown = h
        .call(
            "POST /tenants/{tenant_id}/test",
            Request::default().path("tenant_id", "0f0f0f0f-0000-4000-8000-00000000dead"),
        )
        .await;
    assert_eq!(unknown.status(), 404);
    let malformed = h
        .call(
            "POST /tenants/{tenant_id}/test",
            Request::default().path("tenant_id", "contoso"),
        )
        .await;
    assert_eq!(malformed.status(), 400);
}

#[tokio::test]
async fn given_a_tenant_of_acme_when_globex_tests_it_or_lists_its_customers_then_404_like_an_unknown_tenant()
 {
    // GIVEN the partner tenant connected for acme
    let h = Harness::start().await;
    let partner = h.tenant(0);
    assert_eq!(h.connect_by_consent(0, "write", "acme").await.status(), 200);
    let graph_calls = h.sim().stats().requests;

    // WHEN globex tests it and lists its customers
    let answers = [
        h.call(
            "POST /tenants/{tenant_id}/test",
            Request::default()
                .org("globex")
                .path("tenant_id", &partner.tenant_id),
        )
        .await,
        h.call(
            "GET /tenants/{tenant_id}/customers",
            Request::default()
                .org("globex")
                .path("tenant_id", &partner.tenant_id),
        )
        .await,
    ];

    // THEN both are the 404 of a tenant that is not connected, and Graph was not called
    for answer in &answers {
        assert_eq!(answer.status(), 404, "{}", answer.text());
        assert_eq!(answer.json()["error"]["code"], "tenant_not_found");
    }
    assert_eq!(h.sim().stats().requests, graph_calls);
}
