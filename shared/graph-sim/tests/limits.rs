//! Throttling, injected faults, latency-free token expiry and token errors.

mod common;

use common::Env;
use graph_sim::SimConfig;

#[tokio::test]
async fn given_a_small_ru_budget_when_it_is_exceeded_then_429_with_retry_after_and_too_many_requests()
 {
    // GIVEN a budget of 5 RU per window (GET /users costs 2 without $select)
    let env = Env::start(SimConfig::single(10, 1)).await;
    let token = env.token(0).await;
    let tid = env.tenant(0).tenant_id;
    env.sim
        .update_knobs(&tid, |k| k.ru_per_10s = Some(5))
        .expect("knobs");
    // WHEN /users is read three times
    let r1 = env.get(&token, "/users").await;
    assert_eq!(r1.headers()["x-ms-resource-unit"], "2");
    let r2 = env.get(&token, "/users").await;
    let r3 = env.get(&token, "/users").await;
    // THEN the third is 429 with Retry-After and Graph's body
    assert_eq!((r1.status().as_u16(), r2.status().as_u16()), (200, 200));
    assert_eq!(r3.status().as_u16(), 429);
    let retry: f64 = r3.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry > 0.0 && retry <= 10.0);
    assert!(r3.headers().contains_key("request-id"));
    let body: serde_json::Value = r3.json().await.expect("json");
    assert_eq!(body["error"]["code"], "TooManyRequests");
    assert!(body["error"]["innerError"]["request-id"].is_string());
    assert_eq!(env.sim.stats().throttled, 1);
}

#[tokio::test]
async fn given_injected_5xx_when_many_requests_are_made_then_some_fail_with_503_502_or_504() {
    // GIVEN half the requests fail
    let env = Env::start(SimConfig::single(10, 1)).await;
    let token = env.token(0).await;
    let tid = env.tenant(0).tenant_id;
    env.sim
        .update_knobs(&tid, |k| k.fail_rate_5xx = 0.5)
        .expect("knobs");
    // WHEN 40 requests are made
    let mut failed = 0;
    for _ in 0..40 {
        let r = env.get(&token, "/organization").await;
        let s = r.status().as_u16();
        assert!(matches!(s, 200 | 502 | 503 | 504), "{s}");
        if s != 200 {
            failed += 1;
        }
    }
    // THEN some failed, and the stats count them
    assert!(failed > 5 && failed < 35, "{failed}");
    assert_eq!(env.sim.stats().injected_5xx, failed);
}

#[tokio::test]
async fn given_a_token_when_the_tenants_tokens_are_expired_then_401_invalid_authentication_token_and_a_new_token_works()
 {
    // GIVEN a valid token
    let env = Env::start(SimConfig::single(5, 1)).await;
    let token = env.token(0).await;
    let tid = env.tenant(0).tenant_id;
    assert_eq!(
        env.get(&token, "/organization").await.status().as_u16(),
        200
    );
    // WHEN the tenant's tokens are expired
    env.sim
        .update_knobs(&tid, |k| k.expire_tokens = true)
        .expect("knobs");
    let r = env.get(&token, "/organization").await;
    // THEN 401 InvalidAuthenticationToken, and a fresh token works
    assert_eq!(r.status().as_u16(), 401);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    let fresh = env.token(0).await;
    assert_eq!(
        env.get(&fresh, "/organization").await.status().as_u16(),
        200
    );
}

#[tokio::test]
async fn given_no_or_forged_token_when_graph_is_called_then_401() {
    // GIVEN a tenant
    let env = Env::start(SimConfig::single(5, 1)).await;
    let token = env.token(0).await;
    // WHEN the token is tampered with
    let forged = format!("{}x", token);
    // THEN 401 for it and for no token at all
    assert_eq!(env.get(&forged, "/users").await.status().as_u16(), 401);
    let none = env
        .http
        .get(format!("{}/users", env.sim.graph_base_url()))
        .send()
        .await
        .expect("request");
    assert_eq!(none.status().as_u16(), 401);
}

#[tokio::test]
async fn given_token_requests_when_secret_app_or_tenant_is_wrong_then_entra_errors() {
    // GIVEN the demo tenants
    let env = Env::start(SimConfig::demo()).await;
    let t = env.tenant(1);
    let platform = env.sim.platform_app();
    // WHEN the own app uses a wrong secret
    let (status, body) = env
        .token_for(&t.tenant_id, &t.own_app.client_id, "wrong")
        .await
        .expect_err("refused");
    // THEN 401 invalid_client AADSTS7000215 with Entra's fields
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"][0], 7000215);
    assert!(
        body["error_description"]
            .as_str()
            .expect("text")
            .starts_with("AADSTS7000215")
    );
    for f in ["timestamp", "trace_id", "correlation_id"] {
        assert!(body[f].is_string(), "{f}");
    }
    // WHEN the platform app asks before consent
    let (status, body) = env
        .token_for(&t.tenant_id, &platform.client_id, &platform.client_secret)
        .await
        .expect_err("refused");
    // THEN 400 unauthorized_client AADSTS700016
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    assert_eq!(body["error_codes"][0], 700016);
    // WHEN the tenant does not exist
    let (status, body) = env
        .token_for(
            "nowhere.onmicrosoft.com",
            &platform.client_id,
            &platform.client_secret,
        )
        .await
        .expect_err("refused");
    // THEN 400 invalid_request AADSTS90002
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    assert_eq!(body["error_codes"][0], 90002);
    // WHEN consent is granted and then revoked
    env.sim.grant_consent(&t.tenant_id).expect("consent");
    let token = env
        .token_for(
            &t.initial_domain,
            &platform.client_id,
            &platform.client_secret,
        )
        .await
        .expect("token after consent");
    assert_eq!(token.split('.').count(), 3);
    env.sim
        .consent(
            &t.tenant_id,
            &graph_sim::ConsentChange {
                granted: false,
                roles: vec![],
                client_id: None,
            },
        )
        .expect("revoke");
    // THEN tokens are refused again
    let (status, _) = env
        .token_for(&t.tenant_id, &platform.client_id, &platform.client_secret)
        .await
        .expect_err("refused");
    assert_eq!(status, 400);
}

#[tokio::test]
async fn given_a_non_p1_tenant_when_sign_in_activity_is_selected_then_403_non_premium() {
    // GIVEN the demo's tenant without P1 and one with P1
    let env = Env::start(SimConfig::demo()).await;
    let (p1, basic) = (env.token(1).await, env.token(2).await);
    // WHEN signInActivity is selected
    let (s_basic, body) = env
        .get_json(&basic, "/users?$select=id,signInActivity")
        .await;
    let (s_p1, ok) = env
        .get_json(&p1, "/users?$select=id,signInActivity&$top=120")
        .await;
    // THEN the non-P1 tenant answers 403 and the P1 tenant returns the activity
    assert_eq!(s_basic, 403);
    assert_eq!(
        body["error"]["code"],
        "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    );
    assert_eq!(s_p1, 200);
    assert!(ok["value"][0]["signInActivity"].is_object());
    // AND a $top above 120 is served in pages of at most 120, not refused
    // [learn: graph/api/user-list, note on signInActivity]
    let (s, page) = env
        .get_json(&p1, "/users?$select=id,signInActivity&$top=999")
        .await;
    assert_eq!(s, 200, "{page}");
    assert!(page["value"].as_array().expect("value").len() <= 120);
}

#[tokio::test]
async fn given_a_token_lifetime_knob_when_a_token_is_issued_then_expires_in_follows_it() {
    // GIVEN a token lifetime of 120 s
    let env = Env::start(SimConfig::single(5, 1)).await;
    let t = env.tenant(0);
    env.sim
        .update_knobs(&t.tenant_id, |k| k.token_lifetime_s = 120)
        .expect("knobs");
    // WHEN a token is requested
    let resp = env
        .http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            env.sim.login_base_url(),
            t.tenant_id
        ))
        .form(&[
            ("client_id", t.own_app.client_id.as_str()),
            ("client_secret", t.own_app.client_secret.as_str()),
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token");
    let body: serde_json::Value = resp.json().await.expect("json");
    // THEN expires_in is 120 and the JWT's exp is 120 s after iat
    assert_eq!(body["expires_in"], 120);
    assert_eq!(body["token_type"], "Bearer");
    use base64::Engine;
    let payload = body["access_token"]
        .as_str()
        .expect("token")
        .split('.')
        .nth(1)
        .expect("payload")
        .to_string();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("claims");
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        120
    );
    assert_eq!(claims["tid"], t.tenant_id.as_str());
    assert!(
        claims["roles"]
            .as_array()
            .expect("roles")
            .iter()
            .any(|r| r == "User.ReadWrite.All")
    );
}

#[tokio::test]
async fn given_usage_reports_when_more_than_14_are_requested_in_the_window_then_429() {
    // GIVEN a tenant
    let env = Env::start(SimConfig::single(5, 1)).await;
    let token = env.token(0).await;
    // WHEN the mailbox usage report is requested 15 times
    let mut statuses = Vec::new();
    for _ in 0..15 {
        statuses.push(
            env.get(&token, "/reports/getMailboxUsageDetail(period='D7')")
                .await
                .status()
                .as_u16(),
        );
    }
    // THEN 14 redirects and then 429
    assert_eq!(statuses.iter().filter(|&&s| s == 302).count(), 14);
    assert_eq!(statuses[14], 429);
}
