//! OpenID Connect sign-in: discovery, the sign-in page, the authorization-code grant with PKCE,
//! and ID tokens that verify against the published keys.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::Env;
use graph_sim::SimConfig;
use serde_json::Value;
use sha2::{Digest, Sha256};

const REDIRECT: &str = "https://platform.example/oauth/callback";
const VERIFIER: &str = "a-pkce-code-verifier-of-at-least-forty-three-characters-long";

fn param(u: &url::Url, name: &str) -> Option<String> {
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Signs `username` in to tenant `tenant_id` through the sign-in page and returns the code.
async fn sign_in(env: &Env, tenant_id: &str, username: &str) -> String {
    let app = env.sim.platform_app();
    let challenge = B64.encode(Sha256::digest(VERIFIER.as_bytes()));
    let query = [
        ("client_id", app.client_id.as_str()),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("response_mode", "query"),
        ("scope", "openid profile"),
        ("state", "s-1"),
        ("nonce", "n-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let authorize = format!(
        "{}/{tenant_id}/oauth2/v2.0/authorize",
        env.sim.login_base_url()
    );
    let page = env
        .http
        .get(&authorize)
        .query(&query)
        .send()
        .await
        .expect("sign-in page");
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.expect("html").contains(username));
    let mut form: Vec<(&str, &str)> = query.to_vec();
    form.push(("username", username));
    let back = env
        .http
        .post(&authorize)
        .form(&form)
        .send()
        .await
        .expect("sign in");
    assert_eq!(back.status().as_u16(), 302);
    let location =
        url::Url::parse(back.headers()["location"].to_str().expect("ascii")).expect("url");
    assert!(location.as_str().starts_with(REDIRECT));
    assert_eq!(param(&location, "state").as_deref(), Some("s-1"));
    param(&location, "code").expect("a code")
}

async fn redeem(env: &Env, tenant_id: &str, code: &str, verifier: &str) -> (u16, Value) {
    let app = env.sim.platform_app();
    let answer = env
        .http
        .post(format!(
            "{}/{tenant_id}/oauth2/v2.0/token",
            env.sim.login_base_url()
        ))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.as_str()),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
            ("scope", "openid profile"),
        ])
        .send()
        .await
        .expect("token");
    let status = answer.status().as_u16();
    (status, answer.json().await.expect("json"))
}

#[tokio::test]
async fn given_a_consented_tenant_when_its_admin_signs_in_then_the_id_token_verifies_against_the_discovered_keys()
 {
    // GIVEN a tenant where the platform app is consented
    let env = Env::start(SimConfig::demo()).await;
    let t = env.tenant(1);
    env.sim.grant_consent(&t.tenant_id).expect("consent");

    // WHEN its Global Administrator signs in and the code is redeemed with the verifier
    let admin = format!("admin@{}", t.initial_domain);
    let code = sign_in(&env, &t.tenant_id, &admin).await;
    let (status, tokens) = redeem(&env, &t.tenant_id, &code, VERIFIER).await;

    // THEN an ID token comes back, signed by a key of the discovery document's JWKS, for this
    // tenant, this app, this nonce, with the Global Administrator role in wids
    assert_eq!(status, 200, "{tokens}");
    let discovery: Value = env
        .http
        .get(format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            env.sim.login_base_url(),
            t.tenant_id
        ))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    let issuer = format!("{}/{}/v2.0", env.sim.login_base_url(), t.tenant_id);
    assert_eq!(discovery["issuer"], issuer.as_str());
    let jwks: Value = env
        .http
        .get(discovery["jwks_uri"].as_str().expect("jwks_uri"))
        .send()
        .await
        .expect("keys")
        .json()
        .await
        .expect("json");
    let key = &jwks["keys"][0];
    let id_token = tokens["id_token"].as_str().expect("id_token");
    let header = jsonwebtoken::decode_header(id_token).expect("header");
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let public = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().expect("n"),
        key["e"].as_str().expect("e"),
    )
    .expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[env.sim.platform_app().client_id]);
    validation.set_issuer(&[issuer]);
    let claims = jsonwebtoken::decode::<Value>(id_token, &public, &validation)
        .expect("verifies")
        .claims;
    assert_eq!(claims["tid"], t.tenant_id.as_str());
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["preferred_username"], admin.as_str());
    assert!(
        claims["wids"]
            .as_array()
            .expect("wids")
            .iter()
            .any(|w| w == "62e90394-69f5-4237-9190-012177145e10"),
        "{claims}"
    );

    // AND the code works once
    let (status, again) = redeem(&env, &t.tenant_id, &code, VERIFIER).await;
    assert_eq!(status, 400);
    assert_eq!(again["error"], "invalid_grant");
}

#[tokio::test]
async fn given_a_code_when_redeemed_with_another_verifier_or_at_another_tenant_then_invalid_grant()
{
    // GIVEN two consented tenants and a code from the first
    let env = Env::start(SimConfig::demo()).await;
    let (a, b) = (env.tenant(1), env.tenant(2));
    env.sim.grant_consent(&a.tenant_id).expect("consent");
    env.sim.grant_consent(&b.tenant_id).expect("consent");
    let user = format!("user@{}", a.initial_domain);

    // WHEN a code is redeemed with a wrong verifier
    let code = sign_in(&env, &a.tenant_id, &user).await;
    let (status, answer) = redeem(&env, &a.tenant_id, &code, "wrong-verifier").await;
    // THEN invalid_grant (PKCE)
    assert_eq!(status, 400);
    assert_eq!(answer["error"], "invalid_grant");

    // WHEN a code of tenant A is redeemed at tenant B's token endpoint
    let code = sign_in(&env, &a.tenant_id, &user).await;
    let (status, answer) = redeem(&env, &b.tenant_id, &code, VERIFIER).await;
    // THEN invalid_grant
    assert_eq!(status, 400);
    assert_eq!(answer["error"], "invalid_grant");

    // AND an ordinary member's ID token carries only the default user role
    let code = sign_in(&env, &a.tenant_id, &user).await;
    let (status, tokens) = redeem(&env, &a.tenant_id, &code, VERIFIER).await;
    assert_eq!(status, 200);
    let claims: Value = jsonwebtoken::dangerous::insecure_decode::<Value>(
        tokens["id_token"].as_str().expect("id_token"),
    )
    .map(|d| d.claims)
    .unwrap_or_default();
    assert_eq!(
        claims["wids"],
        serde_json::json!(["b79fbf4d-3ef9-4689-8143-76b194e85509"])
    );
}
