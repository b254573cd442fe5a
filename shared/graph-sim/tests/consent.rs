//! The admin consent page and its redirects.

mod common;

use common::Env;
use graph_sim::SimConfig;

fn location(r: &reqwest::Response) -> url::Url {
    let loc = r.headers()["location"].to_str().expect("ascii");
    url::Url::parse(loc).expect("absolute location")
}

fn param(u: &url::Url, name: &str) -> Option<String> {
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn given_the_consent_page_when_the_admin_accepts_then_redirect_with_admin_consent_true_and_tokens_work()
 {
    // GIVEN the consent page for the platform app in a customer tenant
    let env = Env::start(SimConfig::demo()).await;
    let t = env.tenant(1);
    let app = env.sim.platform_app();
    let query = [
        ("client_id", app.client_id.as_str()),
        ("scope", "https://graph.microsoft.com/.default"),
        ("redirect_uri", "https://platform.example/oauth/callback"),
        ("state", "s-123"),
    ];
    let page = env
        .http
        .get(format!(
            "{}/{}/v2.0/adminconsent",
            env.sim.login_base_url(),
            t.tenant_id
        ))
        .query(&query)
        .send()
        .await
        .expect("page");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    assert!(
        html.contains(&t.display_name) && html.contains("User.Read.All") && html.contains("Accept")
    );
    // WHEN the admin accepts
    let mut form: Vec<(&str, &str)> = query.to_vec();
    form.push(("decision", "accept"));
    let r = env
        .http
        .post(format!(
            "{}/{}/v2.0/adminconsent",
            env.sim.login_base_url(),
            t.tenant_id
        ))
        .form(&form)
        .send()
        .await
        .expect("post");
    // THEN a redirect carries admin_consent=True, the tenant and the state, and a token is issued
    assert_eq!(r.status().as_u16(), 302);
    let loc = location(&r);
    assert_eq!(loc.host_str(), Some("platform.example"));
    assert_eq!(param(&loc, "admin_consent").as_deref(), Some("True"));
    assert_eq!(param(&loc, "tenant").as_deref(), Some(t.tenant_id.as_str()));
    assert_eq!(param(&loc, "state").as_deref(), Some("s-123"));
    assert!(
        env.token_for(&t.tenant_id, &app.client_id, &app.client_secret)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn given_the_consent_page_when_the_admin_cancels_or_consent_is_denied_then_redirect_with_access_denied()
 {
    // GIVEN the consent page via /organizations, signed in to tenant 2 with consent denied
    let env = Env::start(SimConfig::demo()).await;
    let t = env.tenant(2);
    env.sim
        .set_signed_in_tenant(&t.tenant_id)
        .expect("signed in");
    env.sim
        .update_knobs(&t.tenant_id, |k| k.deny_consent = true)
        .expect("knobs");
    let app = env.sim.platform_app();
    let base = [
        ("client_id", app.client_id.as_str()),
        ("scope", "https://graph.microsoft.com/.default"),
        ("redirect_uri", "http://127.0.0.1:9/cb"),
        ("state", "xyz"),
    ];
    for decision in ["cancel", "accept"] {
        let mut form = base.to_vec();
        form.push(("decision", decision));
        // WHEN the admin cancels, or accepts while consent is denied
        let r = env
            .http
            .post(format!(
                "{}/organizations/v2.0/adminconsent",
                env.sim.login_base_url()
            ))
            .form(&form)
            .send()
            .await
            .expect("post");
        // THEN the redirect carries error=access_denied with AADSTS65004 and the state
        assert_eq!(r.status().as_u16(), 302);
        let loc = location(&r);
        assert_eq!(param(&loc, "error").as_deref(), Some("access_denied"));
        assert!(
            param(&loc, "error_description")
                .expect("description")
                .starts_with("AADSTS65004")
        );
        assert_eq!(param(&loc, "state").as_deref(), Some("xyz"));
    }
    // AND no consent was recorded
    assert!(
        env.token_for(&t.tenant_id, &app.client_id, &app.client_secret)
            .await
            .is_err()
    );
}
