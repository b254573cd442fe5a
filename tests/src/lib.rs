//! Support for the end-to-end tests in tests/: the real template with the test fixtures merged in,
//! test functions that record what they were given, and a bounded wait for asynchronous outcomes.

pub mod orgs;

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use devstack::{Template, template_path};
use futures::future::BoxFuture;
use lifecycle::{Function, HandlerError, Invocation};
use serde_json::{Value, json};
use serde_yaml::Value as Yaml;

/// How long an asynchronous outcome (a poller delivering, a redrive) may take before the test
/// fails; generous because the 2-core CI machine runs several test binaries at once.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// `CodeUri` of the recording worker in tests/fixtures/test-functions.yaml.
pub const WORKER_CODE_URI: &str = "tests/fixtures/test-worker";
/// `CodeUri` of the recording scheduled function.
pub const SCHEDULED_CODE_URI: &str = "tests/fixtures/test-scheduled";

/// infra/template.yaml with the Resources of tests/fixtures/test-functions.yaml added.
pub fn template_with_fixtures() -> Template {
    let real = template_path();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/test-functions.yaml");
    let read = |path: &Path| -> Yaml {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let mut document = read(&real);
    let extra = read(&fixtures);
    let (Some(resources), Some(extra)) = (
        document.get_mut("Resources").and_then(Yaml::as_mapping_mut),
        extra.get("Resources").and_then(Yaml::as_mapping),
    ) else {
        panic!("both templates have Resources");
    };
    for (name, resource) in extra {
        resources.insert(name.clone(), resource.clone());
    }
    let infra = real.parent().unwrap_or(Path::new("."));
    Template::from_value(&document, infra).unwrap_or_else(|e| panic!("merged template: {e}"))
}

/// Waits until `check` yields a value, polling every 100 ms, for at most [`PATIENCE`]; panics
/// naming `what` otherwise.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(what, PATIENCE, check).await
}

/// [`eventually`] with another bound (a wave of work over many tenants takes longer).
pub async fn eventually_within<T, F, Fut>(what: &str, patience: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("gave up waiting after {patience:?} for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every event a recording function was invoked with, in order.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<Value>>>,
}

impl Recorder {
    /// The events so far.
    pub fn events(&self) -> Vec<Value> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Every SQS record delivered so far, in delivery order.
    pub fn records(&self) -> Vec<Value> {
        self.events()
            .iter()
            .flat_map(|e| e["Records"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    fn push(&self, event: Value) {
        if let Ok(mut events) = self.events.lock() {
            events.push(event);
        }
    }
}

/// A worker that records each SQS batch and reports as failed every record whose body contains
/// `"fail"`; to HTTP events it answers 200 with the path parameters and body it was given.
#[derive(Debug, Clone, Default)]
pub struct RecordingWorker {
    pub recorder: Recorder,
}

impl Function for RecordingWorker {
    fn invoke(
        &self,
        event: Value,
        _invocation: Invocation,
    ) -> BoxFuture<'_, Result<Value, HandlerError>> {
        Box::pin(async move {
            self.recorder.push(event.clone());
            if event.get("Records").is_none() {
                let body = json!({
                    "pathParameters": event["pathParameters"],
                    "claims": event["requestContext"]["authorizer"]["jwt"]["claims"],
                    "body": event["body"],
                    "routeKey": event["routeKey"],
                });
                return Ok(json!({
                    "statusCode": 201,
                    "headers": {"content-type": "application/json"},
                    "body": body.to_string(),
                }));
            }
            let failures: Vec<Value> = event["Records"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["body"].as_str().is_some_and(|b| b.contains("fail")))
                .map(|r| json!({"itemIdentifier": r["messageId"]}))
                .collect();
            Ok(json!({"batchItemFailures": failures}))
        })
    }
}

/// A function that records every event and answers `{"ok": true}`.
#[derive(Debug, Clone, Default)]
pub struct RecordingFunction {
    pub recorder: Recorder,
}

impl Function for RecordingFunction {
    fn invoke(
        &self,
        event: Value,
        _invocation: Invocation,
    ) -> BoxFuture<'_, Result<Value, HandlerError>> {
        Box::pin(async move {
            self.recorder.push(event);
            Ok(json!({"ok": true}))
        })
    }
}

/// An HTTP client that calls the stack's API as a platform service of organization `org`: every
/// request carries `Authorization: Bearer <token>` signed by the stack's issuer (what the
/// template's JWT authorizer accepts locally).
pub fn api_client(stack: &devstack::Stack, org: &str) -> reqwest::Client {
    bearer_client(&stack.token(org))
}

/// [`api_client`] holding only `scopes` (`&[]`: none), for what the routes' scopes refuse.
pub fn scoped_api_client(stack: &devstack::Stack, org: &str, scopes: &[&str]) -> reqwest::Client {
    bearer_client(&stack.token_with_scopes(org, scopes))
}

fn bearer_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
        .unwrap_or_else(|e| panic!("a token is a valid header value: {e}"));
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("HTTP client: {e}"))
}

pub mod faults;

/// Connects the simulator's tenant `index` to organization `org` by admin consent (granted in
/// the simulator, stored as the consent callback stores a connection: read/write, synced
/// hourly); the simulator's facts of that tenant.
pub async fn connect_by_consent(
    stack: &devstack::Stack,
    platform: &lifecycle::Platform,
    org: &str,
    index: usize,
) -> graph_sim::TenantInfo {
    let sim = stack.sim().expect("the simulator runs");
    let info = sim.tenants().remove(index);
    sim.grant_consent(&info.tenant_id).expect("consent");
    let consent = json!({"kind": "consent"});
    store_connection(platform, &info, org, "read_write", consent).await;
    info
}

/// Stores a connection of the simulator's tenant `info` for organization `org` as the
/// connection routes store one: `mode` (`read` or `read_write`), `auth` (`{"kind": "consent"}`
/// or an own app's), synced hourly. Granting consent or storing an own app's credential is the
/// caller's.
pub async fn store_connection(
    platform: &lifecycle::Platform,
    info: &graph_sim::TenantInfo,
    org: &str,
    mode: &str,
    auth: serde_json::Value,
) {
    let tenant: lifecycle::model::TenantConnection = serde_json::from_value(json!({
        "tenant_id": info.tenant_id, "org_id": org, "display_name": info.display_name,
        "verified_domains": info.verified_domains, "mode": mode, "auth": auth,
        "status": {"state": "connected"}, "consented_at": "2026-01-05T09:00:00Z",
        "sync_interval_minutes": 60
    }))
    .expect("a tenant connection");
    platform
        .connect_tenant(&tenant)
        .await
        .expect("tenant saved");
}
