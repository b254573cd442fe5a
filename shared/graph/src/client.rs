//! The client (one per process) and the per-tenant handle every call is made on.

use std::sync::Arc;

use secrecy::ExposeSecret;

use crate::auth::{AccessToken, AppCredential, TokenCache, TokenRequest, TokenSlot, roles_of};
use crate::config::{ConfigError, GraphConfig};
use crate::error::GraphError;
use crate::metrics::{GraphMetrics, MetricsCell};

/// The Microsoft Graph client: one HTTP connection pool and one token cache, built once per
/// cold start and cloned cheaply (an `Arc` inside) into every handler.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    http: reqwest::Client,
    config: GraphConfig,
    tokens: TokenCache,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("graph_base_url", &self.inner.config.graph_base())
            .field("login_base_url", &self.inner.config.login_base())
            .finish_non_exhaustive()
    }
}

impl GraphClient {
    /// Builds the HTTP client (connection pool, timeouts) for the given settings.
    pub fn new(config: GraphConfig) -> Result<Self, ConfigError> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("m365-lifecycle-graph/", env!("CARGO_PKG_VERSION")))
            .tcp_nodelay(true)
            .build()
            .map_err(ConfigError::Http)?;
        Ok(GraphClient {
            inner: Arc::new(ClientInner {
                http,
                config,
                tokens: TokenCache::default(),
            }),
        })
    }

    /// The settings this client was built with.
    pub fn config(&self) -> &GraphConfig {
        &self.inner.config
    }

    /// A handle bound to one tenant and one app credential; every Graph call is made on it.
    /// Handles share this client's pool and token cache; each has its own metrics.
    pub fn tenant(&self, tenant_id: impl Into<String>, credential: AppCredential) -> TenantGraph {
        let tenant_id = tenant_id.into();
        let slot = self.inner.tokens.slot(&tenant_id, &credential);
        TenantGraph {
            deadline: None,
            inner: Arc::new(TenantInner {
                client: self.clone(),
                tenant_id,
                credential,
                slot,
                metrics: MetricsCell::default(),
            }),
        }
    }

    /// The absolute URL Graph expects in `@odata.id` to reference a directory object
    /// (`{graph_base_url}/directoryObjects/{id}`).
    pub fn directory_object_url(&self, object_id: &str) -> String {
        format!(
            "{}/directoryObjects/{}",
            self.inner.config.graph_base(),
            crate::url_path::encode_segment(object_id)
        )
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }
}

/// Microsoft Graph for one tenant through one app registration. Cheap to clone; clones share
/// the metrics.
#[derive(Clone)]
pub struct TenantGraph {
    inner: Arc<TenantInner>,
    /// When the caller's invocation ends: no retry waits past it ([`RetryPolicy::until`]).
    deadline: Option<std::time::SystemTime>,
}

struct TenantInner {
    client: GraphClient,
    tenant_id: String,
    credential: AppCredential,
    slot: Arc<TokenSlot>,
    metrics: MetricsCell,
}

impl std::fmt::Debug for TenantGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantGraph")
            .field("tenant_id", &self.inner.tenant_id)
            .field("client_id", &self.inner.credential.client_id)
            .finish_non_exhaustive()
    }
}

impl TenantGraph {
    /// This handle for work that must end by `deadline` (the Lambda invocation's): every request
    /// through it retries only while the wait ends before the deadline (less
    /// [`DEADLINE_MARGIN`](crate::retry::DEADLINE_MARGIN)); a `Retry-After` beyond it fails the
    /// call as throttled instead of sleeping past the Lambda timeout. Shares token and metrics.
    pub fn until(&self, deadline: std::time::SystemTime) -> TenantGraph {
        TenantGraph {
            inner: self.inner.clone(),
            deadline: Some(deadline),
        }
    }

    /// The retry policy of one request through this handle: the client's, bound to the
    /// handle's deadline when it has one.
    pub(crate) fn retry_policy(&self) -> crate::RetryPolicy {
        match self.deadline {
            Some(deadline) => self.config().retry.until(deadline),
            None => self.config().retry.clone(),
        }
    }

    /// The tenant this handle is bound to (id or domain, as given).
    pub fn tenant_id(&self) -> &str {
        &self.inner.tenant_id
    }

    /// The app (client) id this handle signs in as.
    pub fn client_id(&self) -> &str {
        &self.inner.credential.client_id
    }

    /// The client this handle belongs to.
    pub fn client(&self) -> &GraphClient {
        &self.inner.client
    }

    /// Requests, retries, throttled answers and resource units spent through this handle so far.
    pub fn metrics(&self) -> GraphMetrics {
        self.inner.metrics.snapshot()
    }

    /// The application permissions granted to the app in this tenant, read from the access
    /// token's `roles` claim (getting a token also proves the credential and the consent).
    pub async fn granted_roles(&self) -> Result<Vec<String>, GraphError> {
        let token = self.token().await?;
        roles_of(token.secret.expose_secret()).ok_or_else(|| {
            GraphError::unexpected(
                200,
                None,
                "the access token is not a JWT with a readable payload",
            )
        })
    }

    pub(crate) async fn token(&self) -> Result<AccessToken, GraphError> {
        let config = self.config();
        let retry = self.retry_policy();
        let request = TokenRequest {
            http: self.client().http(),
            login_base: config.login_base(),
            tenant_id: &self.inner.tenant_id,
            credential: &self.inner.credential,
            retry: &retry,
            metrics: &self.inner.metrics,
        };
        Ok(self.inner.slot.get(&request).await?)
    }

    pub(crate) async fn invalidate_token(&self, generation: u64) {
        self.inner.slot.invalidate(generation).await;
    }

    pub(crate) fn config(&self) -> &GraphConfig {
        self.client().config()
    }

    pub(crate) fn metrics_cell(&self) -> &MetricsCell {
        &self.inner.metrics
    }

    /// `{graph_base_url}{path_and_query}`; `path_and_query` starts with `/`.
    pub(crate) fn graph_url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.config().graph_base(), path_and_query)
    }
}
