//! Partner (GDAP) tenants: listing customers and connecting each as its own tenant.

use lifecycle::model::{ConnectionMode, TenantAuth};
use serde_json::json;

use crate::support::{Harness, Request};

#[tokio::test]
async fn given_a_connected_partner_when_customers_are_listed_and_one_connected_then_it_is_its_own_connection()
 {
    // GIVEN the partner tenant connected read/write by admin consent
    let h = Harness::start().await;
    let partner = h.tenant(0);
    let customer = h.tenant(1);
    assert_eq!(partner.customers.len(), 2);
    assert_eq!(h.connect_by_consent(0, "write", "acme").await.status(), 200);
    h.sync_jobs().await;

    // WHEN its customers are listed
    let listed = h
        .call(
            "GET /tenants/{tenant_id}/customers",
            Request::default().path("tenant_id", &partner.tenant_id),
        )
        .await;

    // THEN both customers come back, not connected yet
    assert_eq!(listed.status(), 200, "{}", listed.text());
    let body = listed.json();
    let customers = body["customers"].as_array().expect("list");
    assert_eq!(customers.len(), 2);
    let first = customers
        .iter()
        .find(|c| c["tenant_id"] == customer.tenant_id.as_str())
        .expect("customer listed");
    assert_eq!(first["display_name"], customer.display_name);
    assert_eq!(first["connection"], json!(null));

    // WHEN one is connected before the platform app has consent there
    let route = "POST /tenants/{tenant_id}/customers/{customer_id}/connect";
    let request = Request::default()
        .path("tenant_id", &partner.tenant_id)
        .path("customer_id", &customer.tenant_id)
        .body(json!({"mode": "read"}));
    let pending = h.call(route, request.clone()).await;

    // THEN 202 with a start link whose consent is bound to that customer tenant
    assert_eq!(pending.status(), 202, "{}", pending.text());
    let start_url = pending.json()["start_url"]
        .as_str()
        .expect("start url")
        .to_owned();
    let consent_url = h.open_start_link(&start_url).await;
    assert!(
        consent_url.starts_with(&format!(
            "{}/{}/v2.0/adminconsent",
            h.sim().login_base_url(),
            customer.tenant_id
        )),
        "{consent_url}"
    );
    assert!(h.stored(&customer.tenant_id).await.is_none());

    // WHEN the partner's administrator follows it and accepts in the customer tenant
    let back = h
        .consent_at(&consent_url, &customer.tenant_id, "accept")
        .await;
    let page = h.callback(&back).await;

    // THEN the customer is its own connection, under the partner's organization
    assert_eq!(page.status(), 200, "{}", page.text());
    let stored = h.stored(&customer.tenant_id).await.expect("connected");
    assert_eq!(stored.org_id.as_str(), "acme");
    assert_eq!(stored.mode, ConnectionMode::Read);
    assert_eq!(stored.auth, TenantAuth::Consent);

    // AND the second customer, consented ahead of time (Partner Center), connects at once
    let second = h.tenant(2);
    h.sim().grant_consent(&second.tenant_id).expect("consent");
    let connected = h
        .call(
            route,
            Request::default()
                .path("tenant_id", &partner.tenant_id)
                .path("customer_id", &second.tenant_id),
        )
        .await;
    assert_eq!(connected.status(), 201, "{}", connected.text());
    let stored = h.stored(&second.tenant_id).await.expect("connected");
    assert_eq!(
        stored.mode,
        ConnectionMode::ReadWrite,
        "the partner's mode by default"
    );
    let listed = h
        .call(
            "GET /tenants/{tenant_id}/customers",
            Request::default().path("tenant_id", &partner.tenant_id),
        )
        .await
        .json();
    assert!(
        listed["customers"]
            .as_array()
            .expect("list")
            .iter()
            .all(|c| c["connection"]["status"]["state"] == "connected"),
        "{listed}"
    );
}

#[tokio::test]
async fn given_a_tenant_that_is_not_a_customer_when_connected_through_the_partner_then_404() {
    // GIVEN customer 1 connected, and asked to act as partner of the partner
    let h = Harness::start().await;
    let partner = h.tenant(0);
    let customer = h.tenant(1);
    assert_eq!(h.connect_by_consent(1, "write", "acme").await.status(), 200);

    // WHEN
    let answer = h
        .call(
            "POST /tenants/{tenant_id}/customers/{customer_id}/connect",
            Request::default()
                .path("tenant_id", &customer.tenant_id)
                .path("customer_id", &partner.tenant_id),
        )
        .await;

    // THEN
    assert_eq!(answer.status(), 404, "{}", answer.text());
    assert_eq!(answer.json()["error"]["code"], "not_a_customer");
}
