//! Connecting a tenant end to end on the local stack (infra/template.yaml, moto, the Graph
//! simulator), driven through HTTP only: the browser's path hop by hop (start link and its
//! cookie, consent, the administrator's sign-in), the API's view of the tenant, the customer's own
//! app, revoked consent, and the attacks on the flow from another organization.

use devstack::{GraphSource, Stack, StackOptions, Template, template_path};
use graph_sim::{ConsentChange, SimConfig, SimHandle, TenantInfo};
use reqwest::{Client, Response, Url, redirect};
use serde_json::{Value, json};

/// The platform organization the tests call the API as (the org claim of their bearer token).
const ORG: &str = "demo";

struct Running {
    stack: Stack,
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

/// One browser: follows no redirect (each hop is checked) and keeps the flow cookie the start
/// link sets, sending it back to the API as a browser would.
struct Browser {
    http: Client,
    cookie: std::sync::Mutex<Option<String>>,
}

impl Browser {
    fn new() -> Self {
        Browser {
            http: Client::builder()
                .redirect(redirect::Policy::none())
                .build()
                .expect("client"),
            cookie: std::sync::Mutex::new(None),
        }
    }

    /// GET `url`, sending the flow cookie to the API and keeping any it sets.
    async fn get(&self, url: &str) -> Response {
        let mut request = self.http.get(url);
        if let Some(cookie) = self.cookie.lock().expect("jar").clone() {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("GET");
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().expect("ascii");
            assert!(set.starts_with("__Host-m365-connect="), "{set}");
            for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
                assert!(set.contains(attribute), "{set}");
            }
            *self.cookie.lock().expect("jar") =
                Some(set.split(';').next().unwrap_or_default().to_owned());
        }
        response
    }

    /// The simulator's consent page at `consent` (GET, then the form POST with the decision);
    /// returns the callback URL Entra redirects to.
    async fn consent(&self, consent: &str, tenant_id: &str, decision: &str) -> String {
        let consent = Url::parse(consent).expect("consent URL");
        assert!(consent.path().ends_with("/v2.0/adminconsent"), "{consent}");
        let page = self.http.get(consent.clone()).send().await.expect("page");
        assert_eq!(page.status().as_u16(), 200);
        assert!(
            page.text()
                .await
                .expect("html")
                .contains("Permissions requested")
        );
        let mut form: Vec<(String, String)> = consent.query_pairs().into_owned().collect();
        form.push(("tenant".into(), tenant_id.into()));
        form.push(("decision".into(), decision.into()));
        let accepted = self
            .http
            .post(format!(
                "{}{}",
                consent.origin().ascii_serialization(),
                consent.path()
            ))
            .form(&form)
            .send()
            .await
            .expect("Accept");
        location(&accepted)
    }

    /// The simulator's sign-in page at `authorize`: account `username` signs in; returns the
    /// callback URL.
    async fn sign_in(&self, authorize: &str, username: &str) -> String {
        let authorize = Url::parse(authorize).expect("authorize URL");
        assert!(
            authorize.path().ends_with("/oauth2/v2.0/authorize"),
            "{authorize}"
        );
        let page = self.http.get(authorize.clone()).send().await.expect("page");
        assert_eq!(page.status().as_u16(), 200);
        let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
        form.push(("username".into(), username.into()));
        let signed = self
            .http
            .post(format!(
                "{}{}",
                authorize.origin().ascii_serialization(),
                authorize.path()
            ))
            .form(&form)
            .send()
            .await
            .expect("Sign in");
        location(&signed)
    }
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

    /// `GET /connect?{query}` as organization `org` (its bearer token): the start link.
    async fn start_link(&self, org: &str, query: &str) -> String {
        let start = e2e::api_client(&self.stack, org)
            .get(self.url(&format!("/connect?{query}")))
            .send()
            .await
            .expect("GET /connect");
        assert_eq!(start.status().as_u16(), 200);
        let start: Value = start.json().await.expect("JSON");
        let link = start["start_url"].as_str().expect("start_url").to_owned();
        assert!(link.starts_with(&self.url("/connect/start?")), "{link}");
        link
    }

    /// `browser` opens `start_link`, which redirects it to Entra's consent page; returns the
    /// consent URL.
    async fn open(&self, browser: &Browser, start_link: &str) -> String {
        let opened = browser.get(start_link).await;
        assert_eq!(opened.status().as_u16(), 302);
        let consent = location(&opened);
        assert!(
            consent.starts_with(self.stack.login_base_url()),
            "{consent}"
        );
        consent
    }

    /// The whole flow in one browser as the platform's organization [`ORG`]: `/connect` (the
    /// platform, with its token) -> start link (the admin's browser, no token) -> consent page ->
    /// Accept -> callback -> sign-in as `who@{initial domain}` -> callback; returns the last
    /// callback's status and HTML.
    async fn consent(&self, query: &str, tenant_id: &str) -> (u16, String) {
        self.consent_signing_in(query, tenant_id, "admin").await
    }

    async fn consent_signing_in(&self, query: &str, tenant_id: &str, who: &str) -> (u16, String) {
        let browser = Browser::new();
        let consent = self
            .open(&browser, &self.start_link(ORG, query).await)
            .await;
        let callback = browser.consent(&consent, tenant_id, "accept").await;
        assert!(
            callback.starts_with(&self.url("/oauth/callback?")),
            "{callback}"
        );
        let to_sign_in = browser.get(&callback).await;
        assert_eq!(
            to_sign_in.status().as_u16(),
            302,
            "consent leads to the admin's sign-in"
        );
        let info = self
            .sim()
            .tenants()
            .into_iter()
            .find(|t| t.tenant_id == tenant_id)
            .expect("a simulator tenant");
        let callback = browser
            .sign_in(
                &location(&to_sign_in),
                &format!("{who}@{}", info.initial_domain),
            )
            .await;
        let result = browser.get(&callback).await;
        let status = result.status().as_u16();
        (status, result.text().await.expect("html"))
    }

    async fn get_json_as(&self, org: &str, path: &str) -> (u16, Value) {
        let response = e2e::api_client(&self.stack, org)
            .get(self.url(path))
            .send()
            .await
            .expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
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

/// The state of the consent URL `consent` (what Entra echoes back to the callback).
fn state_of(consent: &str) -> String {
    Url::parse(consent)
        .expect("consent URL")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("a state")
}

#[tokio::test]
async fn given_a_removed_tenant_when_another_organization_forges_its_callback_then_it_stays_removed()
 {
    // GIVEN a tenant that consented, was connected by its organization, then removed (its
    // consent stays in Entra)
    let running = start().await;
    let victim = running.tenant(1);
    let attacker_tenant = running.tenant(2);
    let (status, html) = running.consent("mode=write", &victim.tenant_id).await;
    assert_eq!(status, 200, "{html}");
    let removed = running
        .http
        .delete(running.url(&format!("/tenants/{}", victim.tenant_id)))
        .send()
        .await
        .expect("DELETE");
    assert!(removed.status().is_success(), "{}", removed.status());

    // WHEN another organization starts its own flow in its own browser and forges Entra's
    // answer: admin_consent=True for the removed tenant with its own (valid) state
    let mallory = Browser::new();
    let consent = running
        .open(&mallory, &running.start_link("mallory", "mode=write").await)
        .await;
    let forged = Url::parse_with_params(
        &running.url("/oauth/callback"),
        [
            ("admin_consent", "True"),
            ("tenant", victim.tenant_id.as_str()),
            ("state", state_of(&consent).as_str()),
        ],
    )
    .expect("forged URL");
    let answer = mallory.get(forged.as_str()).await;

    // THEN it is not connected: the flow asks for a sign-in to the victim tenant, which mallory
    // can only answer with an account of its own tenant (the ID token is for another tenant)
    assert_eq!(
        answer.status().as_u16(),
        302,
        "no connection without a sign-in"
    );
    let authorize = location(&answer);
    assert!(authorize.contains(&format!("/{}/oauth2/v2.0/authorize", victim.tenant_id)));
    let own = authorize.replace(&victim.tenant_id, &attacker_tenant.tenant_id);
    running
        .sim()
        .grant_consent(&attacker_tenant.tenant_id)
        .expect("consent");
    let callback = mallory
        .sign_in(&own, &format!("admin@{}", attacker_tenant.initial_domain))
        .await;
    let result = mallory.get(&callback).await;
    assert_eq!(result.status().as_u16(), 400);
    let page = result.text().await.expect("html");
    assert!(page.contains("could not be verified"), "{page}");
    assert!(
        !page.contains(&format!("<dd>{ORG}</dd>")),
        "nothing about the other organization: {page}"
    );

    // AND the tenant is neither mallory's nor back with its old organization
    let (status, _) = running
        .get_json_as("mallory", &format!("/tenants/{}", victim.tenant_id))
        .await;
    assert_eq!(status, 404);
    let (_, shown) = running
        .get_json(&format!("/tenants/{}", victim.tenant_id))
        .await;
    assert_ne!(shown["status"]["state"], "connected", "{shown}");
    running.stack.shutdown().await;
}

#[tokio::test]
async fn given_a_consent_link_when_it_is_finished_in_another_browser_then_nothing_is_connected() {
    // GIVEN the platform's organization opened a start link in its browser (flow cookie set),
    // and mailed the consent URL it reached to another tenant's administrator
    let running = start().await;
    let victim = running.tenant(1);
    let sender = Browser::new();
    let consent = running
        .open(&sender, &running.start_link(ORG, "mode=write").await)
        .await;

    for (case, browser) in [
        ("no cookie", Browser::new()),
        ("another flow's cookie", {
            let other = Browser::new();
            running
                .open(&other, &running.start_link(ORG, "mode=read").await)
                .await;
            other
        }),
    ] {
        // WHEN the victim's administrator accepts in their own browser
        let callback = Browser::new()
            .consent(&consent, &victim.tenant_id, "accept")
            .await;
        let answer = browser.get(&callback).await;

        // THEN the callback refuses the state in that browser, and says nothing else
        assert_eq!(answer.status().as_u16(), 400, "{case}");
        let page = answer.text().await.expect("html");
        assert!(page.contains("browser that started it"), "{case}: {page}");
    }

    // AND the tenant is not connected to the sender's organization
    let (status, _) = running
        .get_json(&format!("/tenants/{}", victim.tenant_id))
        .await;
    assert_eq!(status, 404);
    running.stack.shutdown().await;
}

#[tokio::test]
async fn given_consent_when_a_non_admin_signs_in_then_nothing_is_connected() {
    // GIVEN the local stack and a tenant
    let running = start().await;
    let tenant = running.tenant(1);

    for who in ["user", "helpdesk"] {
        // WHEN consent is given but the account that signs in holds no role that can consent
        let (status, html) = running
            .consent_signing_in("mode=write", &tenant.tenant_id, who)
            .await;

        // THEN 403, the page says an administrator must sign in, and nothing is connected
        assert_eq!(status, 403, "{who}: {html}");
        assert!(
            html.contains("An administrator must sign in"),
            "{who}: {html}"
        );
        let (status, _) = running
            .get_json(&format!("/tenants/{}", tenant.tenant_id))
            .await;
        assert_eq!(status, 404, "{who}");
    }

    // WHEN an Application Administrator signs in
    let (status, html) = running
        .consent_signing_in("mode=write", &tenant.tenant_id, "appadmin")
        .await;

    // THEN it is connected, and the page names the organization and who signed in
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&format!("<dd>{ORG}</dd>")), "{html}");
    assert!(html.contains("Application Administrator"), "{html}");
    running.stack.shutdown().await;
}

#[tokio::test]
async fn given_a_partner_connected_by_one_organization_when_it_lists_customers_then_another_organizations_connections_are_not_shown()
 {
    // GIVEN the partner tenant connected by ORG, and one of its customers connected by another
    // organization through the customer's own app
    let running = start().await;
    let partner = running.tenant(0);
    let customer = running.tenant(1);
    let (status, html) = running.consent("mode=read", &partner.tenant_id).await;
    assert_eq!(status, 200, "{html}");
    let other = e2e::api_client(&running.stack, "globex");
    let connected = other
        .post(running.url("/tenants"))
        .json(
            &json!({"tenant_id": customer.tenant_id, "client_id": customer.own_app.client_id,
                      "client_secret": customer.own_app.client_secret, "mode": "read"}),
        )
        .send()
        .await
        .expect("POST /tenants");
    assert_eq!(connected.status().as_u16(), 201);

    // WHEN ORG lists the partner's customers
    let (status, body) = running
        .get_json(&format!("/tenants/{}/customers", partner.tenant_id))
        .await;

    // THEN the customer is listed, but its connection (globex's) is not shown
    assert_eq!(status, 200, "{body}");
    let listed = body["customers"]
        .as_array()
        .expect("customers")
        .iter()
        .find(|c| c["tenant_id"] == customer.tenant_id.as_str())
        .expect("the customer is listed")
        .clone();
    assert!(listed["connection"].is_null(), "{listed}");
    running.stack.shutdown().await;
}

#[tokio::test]
async fn given_a_tenant_of_another_organization_when_own_app_credentials_are_wrong_then_the_answer_says_nothing_about_it()
 {
    // GIVEN a tenant connected by another organization
    let running = start().await;
    let tenant = running.tenant(2);
    let other = e2e::api_client(&running.stack, "globex");
    let body = |secret: &str| {
        json!({"tenant_id": tenant.tenant_id, "client_id": tenant.own_app.client_id,
               "client_secret": secret, "mode": "read"})
    };
    let connected = other
        .post(running.url("/tenants"))
        .json(&body(&tenant.own_app.client_secret))
        .send()
        .await
        .expect("POST /tenants");
    assert_eq!(connected.status().as_u16(), 201);

    // WHEN ORG posts wrong credentials for it
    let (status, answer) = running
        .post_json("/tenants", Some(body("wrong-secret")))
        .await;

    // THEN the answer is about the credential only (422), not the other connection (409)
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["field"], "client_secret");
    running.stack.shutdown().await;
}
