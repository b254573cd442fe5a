//! Test helpers: a simulator tenant with a client pointed at it, and a tiny axum stub for the
//! cases the simulator cannot produce (malformed bodies, foreign links, scripted answers).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use graph::{AppCredential, GraphClient, GraphConfig, RetryPolicy, SecretString, TenantGraph};
use graph_sim::{SimConfig, SimHandle, TenantInfo, TenantSpec};

/// Fast retries so fault tests finish quickly; enough attempts to outlast a 429 storm.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 12,
        deadline: Duration::from_secs(120),
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    }
}

pub fn client(graph_base_url: &str, login_base_url: &str, retry: RetryPolicy) -> GraphClient {
    let config = GraphConfig::new(graph_base_url, login_base_url)
        .unwrap_or_else(|e| panic!("config: {e}"))
        .with_retry(retry);
    GraphClient::new(config).unwrap_or_else(|e| panic!("client: {e}"))
}

pub fn credential(app: &graph_sim::AppInfo) -> AppCredential {
    AppCredential::new(
        app.client_id.clone(),
        SecretString::from(app.client_secret.clone()),
    )
}

/// A running simulator, its first tenant and a client pointed at it.
pub struct Sim {
    pub handle: SimHandle,
    pub tenant: TenantInfo,
    pub client: GraphClient,
}

impl Sim {
    /// One tenant of `users` users and `groups` groups (with Entra ID P1 unless `has_p1` is false).
    pub async fn start(users: usize, groups: usize, has_p1: bool) -> Sim {
        let mut spec = TenantSpec::new(users, groups);
        spec.has_p1 = has_p1;
        Sim::start_with(SimConfig {
            seed: 7,
            tenants: vec![spec],
            port: 0,
        })
        .await
    }

    pub async fn start_with(config: SimConfig) -> Sim {
        let handle = graph_sim::spawn(config)
            .await
            .unwrap_or_else(|e| panic!("sim: {e}"));
        let tenant = handle
            .tenants()
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no tenant"));
        let client = client(
            &handle.graph_base_url(),
            &handle.login_base_url(),
            fast_retry(),
        );
        Sim {
            handle,
            tenant,
            client,
        }
    }

    /// The tenant through the customer's own app registration (read/write roles).
    pub fn graph(&self) -> TenantGraph {
        self.client.tenant(
            self.tenant.tenant_id.clone(),
            credential(&self.tenant.own_app),
        )
    }

    pub fn tenant_id(&self) -> &str {
        &self.tenant.tenant_id
    }

    pub fn knobs(&self, change: impl FnOnce(&mut graph_sim::Knobs)) {
        self.handle
            .update_knobs(self.tenant_id(), change)
            .unwrap_or_else(|e| panic!("knobs: {e}"));
    }

    /// How many requests the simulator served on a route ("GET /v1.0/users", ...).
    pub fn served(&self, route: &str) -> u64 {
        self.handle
            .stats()
            .by_route
            .get(route)
            .copied()
            .unwrap_or(0)
    }
}

/// A running stub server; `base` is `http://127.0.0.1:PORT`.
pub struct Stub {
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stub {
    /// Serves `graph` under `/v1.0` and a token endpoint that always grants `token`.
    pub async fn start(graph: Router, token: String) -> Stub {
        let app = Router::new()
            .route(
                "/{tenant}/oauth2/v2.0/token",
                axum::routing::post(move || {
                    let token = token.clone();
                    async move {
                        axum::Json(serde_json::json!({
                            "token_type": "Bearer", "expires_in": 3599, "access_token": token
                        }))
                    }
                }),
            )
            .nest("/v1.0", graph);
        Stub::serve(app).await
    }

    pub async fn serve(app: Router) -> Stub {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("addr: {e}"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Stub {
            base: format!("http://127.0.0.1:{port}"),
            task,
        }
    }

    pub fn graph_base(&self) -> String {
        format!("{}/v1.0", self.base)
    }

    /// A handle on the stub with the fast retry policy.
    pub fn graph(&self) -> TenantGraph {
        self.graph_with(fast_retry())
    }

    pub fn graph_with(&self, retry: RetryPolicy) -> TenantGraph {
        client(&self.graph_base(), &self.base, retry).tenant(
            "contoso.onmicrosoft.com",
            AppCredential::new("app", SecretString::from("secret")),
        )
    }
}

/// A scripted answer: status, headers, body.
pub type Answer = (u16, Vec<(&'static str, String)>, String);

/// Answers in order from a script; the last answer repeats.
#[derive(Clone)]
pub struct Script {
    answers: Arc<Mutex<Vec<Answer>>>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

/// What the stub received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub uri: String,
    pub authorization: Option<String>,
    pub client_request_id: Option<String>,
    pub consistency_level: Option<String>,
    pub body: String,
}

impl Script {
    pub fn new(answers: Vec<Answer>) -> Script {
        Script {
            answers: Arc::new(Mutex::new(answers)),
            seen: Arc::default(),
        }
    }

    /// A router that answers every path under /v1.0 from the script.
    pub fn router(&self) -> Router {
        let script = self.clone();
        Router::new().fallback(move |request: axum::extract::Request| {
            let script = script.clone();
            async move { script.answer(request).await }
        })
    }

    async fn answer(&self, request: axum::extract::Request) -> axum::response::Response {
        let (authorization, client_request_id, consistency_level) = {
            let header = |name: &str| {
                request
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            (
                header("authorization"),
                header("client-request-id"),
                header("consistencylevel"),
            )
        };
        let uri = request.uri().to_string();
        let body = axum::body::to_bytes(request.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Seen {
                uri,
                authorization,
                client_request_id,
                consistency_level,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        let (status, headers, body) = {
            let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
            if answers.len() > 1 {
                answers.remove(0)
            } else {
                answers[0].clone()
            }
        };
        let mut response = axum::response::Response::builder().status(status);
        for (name, value) in headers {
            response = response.header(name, value);
        }
        response
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body))
            .unwrap_or_else(|e| panic!("response: {e}"))
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A token shaped like a JWT with the given roles.
pub fn jwt(roles: &[&str]) -> String {
    use base64::Engine as _;
    let payload =
        serde_json::json!({"aud": "https://graph.microsoft.com", "tid": "t", "roles": roles});
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
    format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.c2ln")
}
