//! Connecting a tenant end to end on the local stack (infra/template.yaml, moto, the Graph
//! simulator), driven through HTTP only: the browser's path hop by hop, the API's view of the
//! tenant, the customer's own app, and revoked consent.

use devstack::{GraphSource, Stack, StackOptions, Template, template_path};
use graph_sim::{ConsentChange, SimConfig, SimHandle, TenantInfo};
use reqwest::{Client, Response, Url, redirect};
use serde_json::{Value, json};

/// The platform organization the tests call the API as (the org claim of their bearer token).
const ORG: &str = "demo";

struct Running {
    stack: Stack,
    /// Follows no redirect: each hop is checked.
    browser: Client,
    http: Client,
}

async fn start() -> Running {
    let template = Template::load(&template_path()).expect("infra/template.yaml loads");
    let stack = Stack::start(StackOptions::new(
        template,
        GraphSource::Simulator(SimConfig::demo()),
    ))
    .await
    .expect("the stack starts");
    Running {
        browser: Client::builder()
            .redirect(redirect::Policy::none())
            .build()
            .expect("client"),
        http: e2e::api_client(&stack, ORG),
        stack,
    }
}

fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_else(|| panic!("a redirect, got {}", response.status()))
        .to_owned()
}

impl Running {
    fn sim(&self) -> &SimHandle {
        self.stack.sim().expect("the simulator runs in the stack")
    }

    fn tenant(&self, index: usize) -> TenantInfo {
        self.sim().tenants()[index].clone()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.stack.api_url())
    }

    /// `/connect` (the platform, with its token) -> consent page (the admin's browser, no token)
    /// -> Accept -> callback; returns the callback's status and HTML.
    async fn consent(&self, query: &str, tenant_id: &str) -> (u16, String) {
        let start = self
            .http
            .get(self.url(&format!("/connect?{query}")))
            .send()
            .await
            .expect("GET /connect");
        assert_eq!(start.status().as_u16(), 200);
        let start: Value = start.json().await.expect("JSON");
        let consent =
            Url::parse(start["consent_url"].as_str().expect("consent_url")).expect("consent URL");
        assert!(consent.as_str().starts_with(self.stack.login_base_url()));
        let page = self
            .browser
            .get(consent.clone())
            .send()
            .await
            .expect("page");
        assert_eq!(page.status().as_u16(), 200);
        assert!(
            page.text()
                .await
                .expect("html")
                .contains("Permissions requested")
        );
        let mut form: Vec<(String, String)> = consent.query_pairs().into_owned().collect();
        form.push(("tenant".into(), tenant_id.into()));
        form.push(("decision".into(), "accept".into()));
        let accepted = self
            .browser
            .post(format!(
                "{}{}",
                consent.origin().ascii_serialization(),
                consent.path()
            ))
            .form(&form)
            .send()
            .await
            .expect("Accept");
        let callback = location(&accepted);
        assert!(
            callback.starts_with(&self.url("/oauth/callback?")),
            "{callback}"
        );
        let result = self.browser.get(&callback).send().await.expect("callback");
        let status = result.status().as_u16();
        (status, result.text().await.expect("html"))
    }

    async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).send().await.expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON"))
    }

    async fn post_json(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.post(self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("POST");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON"))
    }
}

#[tokio::test]
async fn given_the_local_stack_when_an_admin_consents_then_the_api_shows_the_tenant_connected_and_syncing()
 {
    // GIVEN the whole system on this machine
    let running = start().await;
    let tenant = running.tenant(1);

    // WHEN an admin walks the consent flow in a browser
    let (status, html) = running.consent("mode=write", &tenant.tenant_id).await;

    // THEN the result page says the tenant is connected
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&format!("<h1>{} is connected</h1>", tenant.display_name)));

    // AND the API shows it connected read/write with its domains and a first sync
    let (status, body) = running
        .get_json(&format!("/tenants/{}", tenant.tenant_id))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"]["state"], "connected");
    assert_eq!(body["mode"], "read_write");
    assert_eq!(body["display_name"], tenant.display_name);
    assert!(body["last_sync"]["sync_run_id"].is_string(), "{body}");
    let domains = body["verified_domains"].as_array().expect("domains");
    assert_eq!(domains.len(), tenant.verified_domains.len());

    // AND its connection test passes with every permission granted
    let (status, tested) = running
        .post_json(&format!("/tenants/{}/test", tenant.tenant_id), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(tested["ok"], true, "{tested}");

    // WHEN the admin revokes consent and tokens lapse
    running
        .sim()
        .consent(
            &tenant.tenant_id,
            &ConsentChange {
                granted: false,
                roles: Vec::new(),
                client_id: Some(running.sim().platform_app().client_id),
            },
        )
        .expect("revoke");
    running
        .sim()
        .update_knobs(&tenant.tenant_id, |knobs| knobs.expire_tokens = true)
        .expect("expire tokens");
    let (_, tested) = running
        .post_json(&format!("/tenants/{}/test", tenant.tenant_id), None)
        .await;

    // THEN the API shows it needs reconnection, with the reason
    assert_eq!(tested["ok"], false);
    let (_, body) = running
        .get_json(&format!("/tenants/{}", tenant.tenant_id))
        .await;
    assert_eq!(body["status"]["state"], "needs_reconnection", "{body}");
    assert!(
        body["status"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("consent")),
        "{body}"
    );
    running.stack.shutdown().await;
}

#[tokio::test]
async fn given_the_local_stack_when_own_app_credentials_are_posted_then_a_wrong_secret_is_named_and_a_right_one_connects()
 {
    // GIVEN
    let running = start().await;
    let tenant = running.tenant(2);
    let body = |secret: &str| {
        json!({"tenant_id": tenant.tenant_id, "client_id": tenant.own_app.client_id,
               "client_secret": secret, "mode": "read", "org_id": "demo"})
    };

    // WHEN a wrong secret is posted
    let (status, answer) = running
        .post_json("/tenants", Some(body("wrong-secret")))
        .await;

    // THEN 422 names the client secret, and the tenant is not connected
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["field"], "client_secret");
    let (status, _) = running
        .get_json(&format!("/tenants/{}", tenant.tenant_id))
        .await;
    assert_eq!(status, 404);

    // WHEN the right one is posted
    let (status, answer) = running
        .post_json("/tenants", Some(body(&tenant.own_app.client_secret)))
        .await;

    // THEN it is connected read-only
    assert_eq!(status, 201, "{answer}");
    let (_, shown) = running
        .get_json(&format!("/tenants/{}", tenant.tenant_id))
        .await;
    assert_eq!(shown["status"]["state"], "connected");
    assert_eq!(shown["mode"], "read");
    assert_eq!(shown["auth"]["kind"], "own_app");
    assert!(!shown.to_string().contains(&tenant.own_app.client_secret));
    running.stack.shutdown().await;
}
