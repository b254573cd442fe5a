//! Writes and their Graph validation errors.

mod common;

use common::Env;
use graph_sim::SimConfig;
use serde_json::{Value, json};

async fn send(
    env: &Env,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = env
        .http
        .request(method, format!("{}{path}", env.sim.graph_base_url()))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn new_user(upn: &str, password: &str) -> Value {
    json!({
        "accountEnabled": true,
        "displayName": "Nova Quinn",
        "mailNickname": "nova.quinn",
        "userPrincipalName": upn,
        "passwordProfile": {"password": password, "forceChangePasswordNextSignIn": true},
    })
}

#[tokio::test]
async fn given_a_verified_domain_when_a_user_is_created_then_201_and_duplicates_unverified_domains_and_weak_passwords_are_400()
 {
    // GIVEN a tenant with a verified and an unverified domain
    let env = Env::start(SimConfig::single(20, 3)).await;
    let token = env.token(0).await;
    let t = env.tenant(0);
    let upn = format!("nova.quinn@{}", t.default_domain);
    // WHEN a user is created on the verified domain
    let (status, body) = send(
        &env,
        &token,
        reqwest::Method::POST,
        "/users",
        Some(new_user(&upn, "Xy7!kLm9#pQ")),
    )
    .await;
    // THEN 201 with the user
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["userPrincipalName"], upn.as_str());
    // AND the same UPN again is a duplicate
    let (status, body) = send(
        &env,
        &token,
        reqwest::Method::POST,
        "/users",
        Some(new_user(&upn, "Xy7!kLm9#pQ")),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "Request_BadRequest");
    assert_eq!(
        body["error"]["message"],
        "Another object with the same value for property userPrincipalName already exists."
    );
    // AND an unverified domain is refused
    let bad = format!("x@{}", t.unverified_domains[0]);
    let (status, body) = send(
        &env,
        &token,
        reqwest::Method::POST,
        "/users",
        Some(new_user(&bad, "Xy7!kLm9#pQ")),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .starts_with("The domain portion of the userPrincipalName property is invalid.")
    );
    // AND a weak password is refused
    let other = format!("other@{}", t.default_domain);
    let (status, body) = send(
        &env,
        &token,
        reqwest::Method::POST,
        "/users",
        Some(new_user(&other, "password")),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .starts_with(
                "The specified password does not comply with password complexity requirements"
            )
    );
}

#[tokio::test]
async fn given_a_user_without_usage_location_when_a_license_is_assigned_then_400_until_usage_location_is_set()
 {
    // GIVEN a new user without usageLocation and an SKU with free units
    let env = Env::start(SimConfig::single(30, 3)).await;
    let token = env.token(0).await;
    let t = env.tenant(0);
    let truth = env.sim.truth(&t.tenant_id).expect("truth");
    let sku = truth
        .skus
        .iter()
        .find(|s| s.enabled > s.consumed && s.sku_part_number != "FLOW_FREE")
        .expect("free sku");
    let upn = format!("lic.test@{}", t.default_domain);
    let (_, user) = send(
        &env,
        &token,
        reqwest::Method::POST,
        "/users",
        Some(new_user(&upn, "Xy7!kLm9#pQ")),
    )
    .await;
    let id = user["id"].as_str().expect("id").to_string();
    let assign =
        json!({"addLicenses": [{"skuId": sku.sku_id, "disabledPlans": []}], "removeLicenses": []});
    // WHEN a license is assigned
    let (status, body) = send(
        &env,
        &token,
        reqwest::Method::POST,
        &format!("/users/{id}/assignLicense"),
        Some(assign.clone()),
    )
    .await;
    // THEN 400 for the missing usage location
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "License assignment cannot be done for user with invalid usage location."
    );
    // WHEN usageLocation is set first
    let (status, _) = send(
        &env,
        &token,
        reqwest::Method::PATCH,
        &format!("/users/{id}"),
        Some(json!({"usageLocation": "US"})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = send(
        &env,
        &token,
        reqwest::Method::POST,
        &format!("/users/{id}/assignLicense"),
        Some(assign),
    )
    .await;
    // THEN the license is assigned and consumed units go up by one
    assert_eq!(status, 200, "{body}");
    let after = env.sim.truth(&t.tenant_id).expect("truth");
    let s2 = after
        .skus
        .iter()
        .find(|s| s.sku_id == sku.sku_id)
        .expect("sku");
    assert_eq!(s2.consumed, sku.consumed + 1);
}

#[tokio::test]
async fn given_a_full_sku_when_assigned_then_400_no_units() {
    // GIVEN the SKU whose consumed units equal its enabled units
    let env = Env::start(SimConfig::single(200, 3)).await;
    let token = env.token(0).await;
    let t = env.tenant(0);
    let truth = env.sim.truth(&t.tenant_id).expect("truth");
    let full = truth
        .skus
        .iter()
        .find(|s| s.enabled == s.consumed && s.enabled > 0)
        .expect("a full sku");
    let user = truth
        .users
        .iter()
        .find(|u| u.usage_location.is_some() && !u.sku_ids.contains(&full.sku_id))
        .expect("user without it");
    // WHEN it is assigned to one more user
    let body =
        json!({"addLicenses": [{"skuId": full.sku_id, "disabledPlans": []}], "removeLicenses": []});
    let (status, body) = send(
        &env,
        &token,
        reqwest::Method::POST,
        &format!("/users/{}/assignLicense", user.id),
        Some(body),
    )
    .await;
    // THEN 400: no units left
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("does not have any available licenses")
    );
}

#[tokio::test]
async fn given_a_microsoft_365_group_when_members_are_added_and_removed_then_204_and_graph_errors_for_repeats()
 {
    // GIVEN a Microsoft 365 group and a user outside it
    let env = Env::start(SimConfig::single(100, 6)).await;
    let token = env.token(0).await;
    let truth = env.sim.truth(&env.tenant(0).tenant_id).expect("truth");
    let g = truth
        .groups
        .iter()
        .find(|g| g.kind == "unified")
        .expect("Microsoft 365 group");
    let u = truth
        .users
        .iter()
        .find(|u| !g.member_ids.contains(&u.id))
        .expect("non-member");
    let body =
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", u.id)});
    let path = format!("/groups/{}/members/$ref", g.id);
    // WHEN the user is added twice
    let (s1, _) = send(
        &env,
        &token,
        reqwest::Method::POST,
        &path,
        Some(body.clone()),
    )
    .await;
    let (s2, e2) = send(&env, &token, reqwest::Method::POST, &path, Some(body)).await;
    // THEN 204, then 400 already exists
    assert_eq!(s1, 204);
    assert_eq!(s2, 400);
    assert_eq!(
        e2["error"]["message"],
        "One or more added object references already exist for the following modified properties: 'members'."
    );
    // WHEN removed twice
    let del = format!("/groups/{}/members/{}/$ref", g.id, u.id);
    let (d1, _) = send(&env, &token, reqwest::Method::DELETE, &del, None).await;
    let (d2, e) = send(&env, &token, reqwest::Method::DELETE, &del, None).await;
    // THEN 204, then 404
    assert_eq!((d1, d2), (204, 404), "{e}");
    // AND a dynamic group refuses direct members
    let dynamic = truth
        .groups
        .iter()
        .find(|g| g.kind.starts_with("dynamic"))
        .expect("dynamic group");
    let body =
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", u.id)});
    let (s, _) = send(
        &env,
        &token,
        reqwest::Method::POST,
        &format!("/groups/{}/members/$ref", dynamic.id),
        Some(body),
    )
    .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn given_a_user_when_deleted_and_restored_then_it_moves_to_deleted_items_and_back_with_its_groups()
 {
    // GIVEN a user in groups
    let env = Env::start(SimConfig::single(80, 6)).await;
    let token = env.token(0).await;
    let tid = env.tenant(0).tenant_id;
    let truth = env.sim.truth(&tid).expect("truth");
    let user = truth
        .users
        .iter()
        .skip(1)
        .find(|u| truth.groups.iter().any(|g| g.member_ids.contains(&u.id)))
        .expect("user in a group");
    let groups_before = truth
        .groups
        .iter()
        .filter(|g| g.member_ids.contains(&user.id))
        .count();
    // WHEN it is deleted
    let (status, _) = send(
        &env,
        &token,
        reqwest::Method::DELETE,
        &format!("/users/{}", user.id),
        None,
    )
    .await;
    assert_eq!(status, 204);
    // THEN it is gone from /users and listed in deletedItems
    let (s, _) = send(
        &env,
        &token,
        reqwest::Method::GET,
        &format!("/users/{}", user.id),
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (all, _) = env
        .get_all(&token, "/directory/deletedItems/microsoft.graph.user")
        .await;
    assert!(all.iter().any(|d| d["id"] == user.id.as_str()));
    // WHEN restored
    let (s, body) = send(
        &env,
        &token,
        reqwest::Method::POST,
        &format!("/directory/deletedItems/{}/restore", user.id),
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    // THEN it is back with its memberships
    let after = env.sim.truth(&tid).expect("truth");
    assert_eq!(
        after
            .groups
            .iter()
            .filter(|g| g.member_ids.contains(&user.id))
            .count(),
        groups_before
    );
    let (s, body) = send(
        &env,
        &token,
        reqwest::Method::POST,
        &format!("/users/{}/revokeSignInSessions", user.id),
        None,
    )
    .await;
    assert_eq!((s, body["value"].as_bool()), (200, Some(true)));
}

#[tokio::test]
async fn given_a_read_only_consent_when_writing_then_403() {
    // GIVEN the read-only platform app consented in a tenant
    let env = Env::start(SimConfig::single(10, 2)).await;
    let t = env.tenant(0);
    let app = env.sim.platform_read_app();
    env.sim
        .consent(
            &t.tenant_id,
            &graph_sim::ConsentChange {
                granted: true,
                roles: vec![],
                client_id: Some(app.client_id.clone()),
            },
        )
        .expect("consent");
    let token = env
        .token_for(&t.tenant_id, &app.client_id, &app.client_secret)
        .await
        .expect("token");
    // WHEN it creates a user
    let upn = format!("ro@{}", t.default_domain);
    let (status, body) = send(
        &env,
        &token,
        reqwest::Method::POST,
        "/users",
        Some(new_user(&upn, "Xy7!kLm9#pQ")),
    )
    .await;
    // THEN 403 Authorization_RequestDenied
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
}

#[tokio::test]
async fn given_group_bodies_graph_refuses_when_posted_then_400_naming_why_and_a_valid_one_is_201_then_patched_and_deleted()
 {
    // GIVEN a tenant and one of its users as owner
    let env = Env::start(SimConfig::single(20, 3)).await;
    let token = env.token(0).await;
    let (_, users) = send(
        &env,
        &token,
        reqwest::Method::GET,
        "/users?$select=id",
        None,
    )
    .await;
    let owner = users["value"][0]["id"].as_str().unwrap().to_owned();
    let bind = |id: &str| format!("{}/users/{id}", env.sim.graph_base_url());
    let security = json!({"displayName": "Ops", "mailNickname": "ops", "mailEnabled": false,
        "securityEnabled": true, "groupTypes": []});
    let with = |field: &str, value: Value| {
        let mut body = security.clone();
        body[field] = value;
        body
    };
    let refused = [
        (with("mailEnabled", json!(true)), "mail-enabled groups"),
        (with("mailNickname", json!("ops team")), "'mailNickname'"),
        (
            with("mailNickname", json!("x".repeat(65))),
            "'mailNickname'",
        ),
        (
            with("description", json!("x".repeat(1025))),
            "'description'",
        ),
        (with("groupTypes", json!(["Unified"])), "'mailEnabled'"),
        (with("securityEnabled", Value::Null), "'securityEnabled'"),
        (
            with("owners@odata.bind", json!(vec![bind(&owner); 21])),
            "up to 20 members and owners",
        ),
    ];
    for (body, reason) in refused {
        // WHEN posted, THEN 400 with the reason and no group made
        let (status, answer) = send(
            &env,
            &token,
            reqwest::Method::POST,
            "/groups",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 400, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{body}: {message}");
    }
    // WHEN a Microsoft 365 group with an owner is posted, THEN 201, and its address is taken
    let m365 = json!({"displayName": "Sales", "mailNickname": "sales-team", "mailEnabled": true,
        "securityEnabled": false, "groupTypes": ["Unified"], "owners@odata.bind": [bind(&owner)]});
    let (status, group) = send(
        &env,
        &token,
        reqwest::Method::POST,
        "/groups",
        Some(m365.clone()),
    )
    .await;
    assert_eq!(status, 201, "{group}");
    let id = group["id"].as_str().unwrap().to_owned();
    let (_, owners) = send(
        &env,
        &token,
        reqwest::Method::GET,
        &format!("/groups/{id}/owners"),
        None,
    )
    .await;
    assert_eq!(owners["value"][0]["id"], owner.as_str());
    let (status, answer) = send(&env, &token, reqwest::Method::POST, "/groups", Some(m365)).await;
    assert_eq!(status, 400, "{answer}");
    // AND it is found by mail nickname, renamed, then deleted and gone
    let (_, found) = send(
        &env,
        &token,
        reqwest::Method::GET,
        "/groups?$filter=mailNickname%20eq%20'sales-team'&$select=id",
        None,
    )
    .await;
    assert_eq!(found["value"][0]["id"], id.as_str());
    let (status, _) = send(
        &env,
        &token,
        reqwest::Method::PATCH,
        &format!("/groups/{id}"),
        Some(json!({"displayName": "Sales EMEA"})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(
        &env,
        &token,
        reqwest::Method::DELETE,
        &format!("/groups/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(
        &env,
        &token,
        reqwest::Method::GET,
        &format!("/groups/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn given_temporary_access_pass_requests_when_posted_then_graphs_lifetime_bounds_and_one_pass_per_user_hold()
 {
    // GIVEN a user of the tenant
    let env = Env::start(SimConfig::single(20, 3)).await;
    let token = env.token(0).await;
    let (_, users) = send(
        &env,
        &token,
        reqwest::Method::GET,
        "/users?$select=id",
        None,
    )
    .await;
    let user = users["value"][1]["id"].as_str().unwrap().to_owned();
    let path = format!("/users/{user}/authentication/temporaryAccessPassMethods");
    // WHEN a lifetime outside 10..=43200 minutes is asked, THEN 400 naming it
    for minutes in [9, 43_201] {
        let (status, body) = send(
            &env,
            &token,
            reqwest::Method::POST,
            &path,
            Some(json!({"lifetimeInMinutes": minutes, "isUsableOnce": true})),
        )
        .await;
        assert_eq!(status, 400, "{minutes}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("lifetimeInMinutes")
        );
    }
    // WHEN a valid one is asked, THEN 201 with the pass, which no read shows again
    let (status, created) = send(
        &env,
        &token,
        reqwest::Method::POST,
        &path,
        Some(json!({"lifetimeInMinutes": 60, "isUsableOnce": true})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let pass = created["temporaryAccessPass"].as_str().unwrap().to_owned();
    assert!(pass.len() >= 8 && created["isUsableOnce"] == json!(true));
    let (_, listed) = send(&env, &token, reqwest::Method::GET, &path, None).await;
    assert_eq!(listed["value"][0]["id"], created["id"]);
    assert!(!listed.to_string().contains(&pass));
    // AND a second pass for the same user is refused
    let (status, _) = send(
        &env,
        &token,
        reqwest::Method::POST,
        &path,
        Some(json!({"lifetimeInMinutes": 60})),
    )
    .await;
    assert_eq!(status, 400);
}
