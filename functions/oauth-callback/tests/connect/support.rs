//! The local stack of one test (infra/template.yaml's table, queues and secrets in moto, the
//! Graph simulator's demo tenants, through the devstack) and the connection function built on it
//! with the real clients, under its own template IAM policy.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::encodings::Body;
use devstack::{GraphSource, Registry, Stack, StackOptions, Template, template_path};
use graph_sim::{SimConfig, SimHandle, TenantInfo};
use lifecycle::model::{Job, TenantConnection};
use lifecycle::store::keys;
use lifecycle::{Platform, TenantId};
use oauth_callback::App;
use serde_json::Value;

pub const PUBLIC_BASE_URL: &str = "https://connect.example.com";
pub const STATE_KEY: &str = "test-state-signing-key-of-at-least-32-bytes";

/// Everything one test needs; dropping it stops the stack.
pub struct Harness {
    /// The function, with its own template policy only (as under its execution role in AWS).
    pub app: App,
    /// The stack's full credentials: what the test itself reads and writes.
    pub sdk: SdkConfig,
    admin: Platform,
    pub sync_queue_url: String,
    /// The admin's browser: the flow cookie `GET /connect/start` set (`name=value`).
    pub browser_cookie: std::sync::Mutex<Option<String>>,
    stack: Stack,
}

impl Harness {
    /// The local stack with the simulator's demo tenants (a partner of two customers; the last
    /// without P1), and the function.
    pub async fn start() -> Harness {
        let template = Template::load(&template_path()).expect("infra/template.yaml loads");
        let mut options = StackOptions::new(template, GraphSource::Simulator(SimConfig::demo()));
        // The handler is called directly; no poller or schedule competes with the test.
        options.registry = Registry::empty();
        options.poll_queues = false;
        let stack = Stack::start(options).await.expect("the local stack starts");
        let sdk = stack.sdk_config().clone();
        let mut config = stack.config().clone();
        // The public HTTPS front the pages and redirects name, and the platform's own origin.
        config.public_base_url = PUBLIC_BASE_URL.to_owned();
        config.allowed_return_origins = vec!["https://app.example.com".to_owned()];
        // A known state-signing key, so a test can forge or tamper with a state.
        aws_sdk_secretsmanager::Client::new(&sdk)
            .put_secret_value()
            .secret_id(&config.state_signing_key_secret_id)
            .secret_string(STATE_KEY)
            .send()
            .await
            .expect("state-signing key");
        let admin = Platform::new(config.clone(), &sdk).expect("platform");
        let function_aws = stack
            .function_sdk_config("OAuthCallbackFunction")
            .expect("the template has the function");
        let app = App::new(config.clone(), function_aws).expect("the function builds");
        Harness {
            app,
            sdk,
            admin,
            sync_queue_url: config.sync_queue_url,
            browser_cookie: std::sync::Mutex::new(None),
            stack,
        }
    }

    pub fn platform(&self) -> &Platform {
        &self.admin
    }

    /// The Graph simulator.
    pub fn sim(&self) -> &SimHandle {
        self.stack.sim().expect("the simulator runs")
    }

    /// The simulator's tenants: [0] the partner, [1] a customer with P1, [2] one without.
    pub fn tenant(&self, index: usize) -> TenantInfo {
        self.sim().tenants()[index].clone()
    }

    /// Calls the function with an HTTP API event for `route_key`, with the claims API Gateway's
    /// JWT authorizer hands over for a caller of `request.org` (acme unless set), or none for an
    /// anonymous request.
    pub async fn call(&self, route_key: &str, request: Request) -> Answer {
        let (method, path_template) = route_key.split_once(' ').expect("METHOD /path");
        let mut path = path_template.to_owned();
        for (name, value) in &request.path {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        let raw_query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(request.query.iter())
            .finish();
        let mut query: serde_json::Map<String, Value> = serde_json::Map::new();
        for (name, value) in &request.query {
            query.insert(name.clone(), Value::String(value.clone()));
        }
        let mut event = serde_json::json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": path,
            "rawQueryString": raw_query,
            "headers": {"content-type": "application/json"},
            "requestContext": {
                "accountId": "123456789012", "apiId": "local", "domainName": "connect.example.com",
                "domainPrefix": "connect", "requestId": "r", "routeKey": route_key, "stage": "$default",
                "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0,
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                         "sourceIp": "127.0.0.1", "userAgent": "test"}
            },
            "isBase64Encoded": false
        });
        if !query.is_empty() {
            event["queryStringParameters"] = Value::Object(query);
        }
        if !request.path.is_empty() {
            event["pathParameters"] = serde_json::to_value(&request.path).expect("path params");
        }
        if let Some(body) = request.body {
            event["body"] = Value::String(body.to_string());
        }
        if let Some(cookie) = &request.cookie {
            event["cookies"] = serde_json::json!([cookie]);
        }
        if !request.anonymous {
            let org = request.org.as_deref().unwrap_or(DEFAULT_ORG);
            event["requestContext"]["authorizer"] =
                serde_json::json!({"jwt": {"claims": {"org_id": org, "sub": "platform"}}});
        }
        let request: ApiGatewayV2httpRequest =
            serde_json::from_value(event).expect("a valid HTTP API event");
        Answer(self.app.handle(request).await)
    }

    /// The stored connection.
    pub async fn stored(&self, tenant_id: &str) -> Option<TenantConnection> {
        self.platform()
            .tenant(&TenantId::parse(tenant_id).expect("tenant id"))
            .await
            .expect("store readable")
    }

    /// Every job on the sync queue right now (received and left in flight).
    pub async fn sync_jobs(&self) -> Vec<Job> {
        let mut jobs = Vec::new();
        loop {
            let batch = self
                .platform()
                .queue
                .receive(&self.sync_queue_url, 10, 0, 60)
                .await
                .expect("receive");
            if batch.is_empty() {
                return jobs;
            }
            for message in batch {
                jobs.push(serde_json::from_str(&message.body).expect("a job"));
            }
        }
    }

    /// Whether the single-use state item of `nonce` exists.
    pub async fn state_item_exists(&self, nonce: &str) -> bool {
        self.platform()
            .store
            .get::<lifecycle::model::OAuthState>(&keys::oauth_state(nonce))
            .await
            .expect("store readable")
            .is_some()
    }

    /// Every item in the table, as text (to look for a secret that must not be there).
    pub async fn table_dump(&self) -> String {
        let items = aws_sdk_dynamodb::Client::new(&self.sdk)
            .scan()
            .table_name(&self.admin.config.table_name)
            .send()
            .await
            .expect("scan")
            .items
            .unwrap_or_default();
        format!("{items:?}")
    }

    /// Walks the browser's path: `GET /connect` (as acme), the simulator's consent page (GET,
    /// then the form POST with the admin's decision and organization), and returns the callback
    /// query Entra redirects to.
    pub async fn consent_round_trip(
        &self,
        query: &[(&str, &str)],
        tenant_id: &str,
        decision: &str,
    ) -> Vec<(String, String)> {
        self.consent_round_trip_as(DEFAULT_ORG, query, tenant_id, decision)
            .await
    }

    /// [`Harness::consent_round_trip`] for a caller of organization `org`.
    pub async fn consent_round_trip_as(
        &self,
        org: &str,
        query: &[(&str, &str)],
        tenant_id: &str,
        decision: &str,
    ) -> Vec<(String, String)> {
        let start = self
            .call("GET /connect", Request::default().org(org).query(query))
            .await;
        assert_eq!(start.status(), 200, "{}", start.text());
        let consent_url = self.open_start_link(&start.location()).await;
        self.consent_at(&consent_url, tenant_id, decision).await
    }

    /// The admin's browser opens a start link (`GET /connect/start`, no token, with the browser's
    /// cookie when it has one): keeps the flow cookie it sets and returns the consent URL it
    /// redirects to.
    pub async fn open_start_link(&self, start_url: &str) -> String {
        let opened = self.open_start_link_answer(start_url).await;
        assert_eq!(opened.status(), 302, "{}", opened.text());
        let set = opened
            .0
            .cookies
            .iter()
            .find(|c| c.starts_with("__Host-m365-connect="))
            .expect("the start link sets the flow cookie")
            .clone();
        let pair = set.split(';').next().unwrap_or_default().to_owned();
        *self.browser_cookie.lock().expect("cookie jar") = Some(pair);
        opened.location()
    }

    /// `GET /connect/start` for `start_url` as the browser, answered as is.
    pub async fn open_start_link_answer(&self, start_url: &str) -> Answer {
        let url = url::Url::parse(start_url).expect("start url");
        assert_eq!(url.path(), "/connect/start", "{start_url}");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut request = Request::default().anonymous().query(&pairs);
        request.cookie = self.browser_cookie.lock().expect("cookie jar").clone();
        self.call("GET /connect/start", request).await
    }

    /// The admin's part from an Entra admin consent URL on: the simulator's consent page, the
    /// decision, and the callback query Entra redirects to.
    pub async fn consent_at(
        &self,
        consent_url: &str,
        tenant_id: &str,
        decision: &str,
    ) -> Vec<(String, String)> {
        let consent_url = consent_url.to_owned();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        let page = http.get(&consent_url).send().await.expect("consent page");
        assert_eq!(page.status().as_u16(), 200, "the consent page shows");
        let parsed = url::Url::parse(&consent_url).expect("consent url");
        let mut form: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        form.push(("tenant".into(), tenant_id.into()));
        form.push(("decision".into(), decision.into()));
        let decided = http
            .post(format!(
                "{}{}",
                parsed.origin().ascii_serialization(),
                parsed.path()
            ))
            .form(&form)
            .send()
            .await
            .expect("consent decision");
        assert_eq!(decided.status().as_u16(), 302, "Entra redirects back");
        let back = decided
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .expect("a redirect location")
            .to_owned();
        let back = url::Url::parse(&back).expect("callback url");
        assert_eq!(
            format!("{}{}", back.origin().ascii_serialization(), back.path()),
            format!("{PUBLIC_BASE_URL}/oauth/callback"),
            "back to the registered redirect URI"
        );
        back.query_pairs().into_owned().collect()
    }

    /// `GET /oauth/callback` with `query` in the admin's browser; when it sends the browser to
    /// sign in, the tenant's Global Administrator signs in and the final answer comes back.
    pub async fn callback(&self, query: &[(String, String)]) -> Answer {
        self.callback_signing_in(query, "admin").await
    }

    /// [`Harness::callback`], signing in as account `who@{initial domain}` of the tenant
    /// (`admin`, `appadmin`, `helpdesk` or `user`: the simulator's sign-in accounts).
    pub async fn callback_signing_in(&self, query: &[(String, String)], who: &str) -> Answer {
        let cookie = self.browser_cookie.lock().expect("cookie jar").clone();
        let answer = self.callback_with_cookie(query, cookie.as_deref()).await;
        let location = answer.location();
        if answer.status() != 302 || !location.contains("/oauth2/v2.0/authorize") {
            return answer;
        }
        let back = self.sign_in_at(&location, who).await;
        self.callback_with_cookie(&back, cookie.as_deref()).await
    }

    /// `GET /oauth/callback` with `query` and the given `Cookie` (or none), answered as is.
    pub async fn callback_with_cookie(
        &self,
        query: &[(String, String)],
        cookie: Option<&str>,
    ) -> Answer {
        let pairs: Vec<(&str, &str)> = query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut request = Request::default().anonymous().query(&pairs);
        request.cookie = cookie.map(str::to_owned);
        self.call("GET /oauth/callback", request).await
    }

    /// The simulator's sign-in page at `authorize_url`: account `who@{initial domain}` of the
    /// tenant in the URL signs in; returns the callback query Entra redirects to.
    pub async fn sign_in_at(&self, authorize_url: &str, who: &str) -> Vec<(String, String)> {
        let url = url::Url::parse(authorize_url).expect("authorize url");
        let tenant = url
            .path_segments()
            .and_then(|mut s| s.next())
            .expect("a tenant segment")
            .to_owned();
        let info = self
            .sim()
            .tenants()
            .into_iter()
            .find(|t| t.tenant_id == tenant)
            .expect("a simulator tenant");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        let page = http.get(url.clone()).send().await.expect("sign-in page");
        if page.status().as_u16() == 302 {
            // Entra refused at once (e.g. consent_required): its redirect goes back as is.
            let back = page
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .expect("a redirect location");
            return url::Url::parse(back)
                .expect("callback url")
                .query_pairs()
                .into_owned()
                .collect();
        }
        assert_eq!(page.status().as_u16(), 200, "the sign-in page shows");
        let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        form.push(("username".into(), format!("{who}@{}", info.initial_domain)));
        let signed = http
            .post(format!(
                "{}{}",
                url.origin().ascii_serialization(),
                url.path()
            ))
            .form(&form)
            .send()
            .await
            .expect("sign in");
        assert_eq!(signed.status().as_u16(), 302, "Entra redirects back");
        let back = signed
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .expect("a redirect location");
        url::Url::parse(back)
            .expect("callback url")
            .query_pairs()
            .into_owned()
            .collect()
    }

    /// Connects tenant `index` by admin consent in `mode` ("read" or "write") for `org`.
    pub async fn connect_by_consent(&self, index: usize, mode: &str, org: &str) -> Answer {
        let tenant = self.tenant(index);
        let back = self
            .consent_round_trip_as(org, &[("mode", mode)], &tenant.tenant_id, "accept")
            .await;
        self.callback(&back).await
    }
}

/// The parts of an HTTP request a test sets.
#[derive(Debug, Default, Clone)]
pub struct Request {
    pub path: HashMap<String, String>,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    /// The organization in the caller's token; [`DEFAULT_ORG`] when unset.
    pub org: Option<String>,
    /// No token claims at all (a request that did not pass the JWT authorizer).
    pub anonymous: bool,
    /// The browser's `Cookie` (`name=value`), when it sends one.
    pub cookie: Option<String>,
}

/// The organization the harness calls as unless a test says otherwise.
pub const DEFAULT_ORG: &str = "acme";

impl Request {
    pub fn org(mut self, org: &str) -> Self {
        self.org = Some(org.to_owned());
        self
    }

    pub fn anonymous(mut self) -> Self {
        self.anonymous = true;
        self
    }

    pub fn query(mut self, pairs: &[(&str, &str)]) -> Self {
        self.query.extend(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self
    }

    pub fn path(mut self, name: &str, value: &str) -> Self {
        self.path.insert(name.to_owned(), value.to_owned());
        self
    }

    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// The function's answer.
#[derive(Debug)]
pub struct Answer(pub ApiGatewayV2httpResponse);

impl Answer {
    pub fn status(&self) -> i64 {
        self.0.status_code
    }

    pub fn text(&self) -> String {
        match &self.0.body {
            Some(Body::Text(text)) => text.clone(),
            Some(Body::Binary(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
            _ => String::new(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text())
            .unwrap_or_else(|e| panic!("JSON body: {e}: {}", self.text()))
    }

    /// Where the caller is sent next: the `Location` header, or the `start_url` that
    /// `GET /connect` (and a partner's customer connect) answers.
    pub fn location(&self) -> String {
        match self.0.headers.get("location").and_then(|l| l.to_str().ok()) {
            Some(location) => location.to_owned(),
            None => serde_json::from_str::<Value>(&self.text())
                .ok()
                .and_then(|body| body["start_url"].as_str().map(str::to_owned))
                .unwrap_or_default(),
        }
    }

    pub fn content_type(&self) -> String {
        self.0
            .headers
            .get("content-type")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}
