//! Where Graph and the identity platform live, and how requests are retried.

use std::time::Duration;

use url::Url;

use crate::fault::SharedFaultHook;
use crate::retry::RetryPolicy;

/// Settings of a [`GraphClient`](crate::GraphClient), read once per cold start.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// Graph base with the version, without a trailing slash, e.g. `https://graph.microsoft.com/v1.0`.
    pub graph_base_url: Url,
    /// Identity platform base, e.g. `https://login.microsoftonline.com`.
    pub login_base_url: Url,
    /// Applied to every request, every token request and every `$batch` step.
    pub retry: RetryPolicy,
    /// Limit of one HTTP attempt (connect, send, receive the whole body).
    pub request_timeout: Duration,
    /// Limit of establishing one connection.
    pub connect_timeout: Duration,
    /// Fault-injection hook of the crash-matrix tests ([`crate::fault`]); `None` in production.
    pub faults: Option<SharedFaultHook>,
}

/// A base URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Not an absolute http(s) URL.
    #[error("{name} must be an absolute http(s) URL, got {value:?}")]
    InvalidUrl { name: &'static str, value: String },
    /// The HTTP client could not be built (TLS set-up).
    #[error("could not build the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}

impl GraphConfig {
    /// Settings for the given bases with the default retry policy and timeouts.
    pub fn new(graph_base_url: &str, login_base_url: &str) -> Result<Self, ConfigError> {
        Ok(GraphConfig {
            graph_base_url: base_url("graph_base_url", graph_base_url)?,
            login_base_url: base_url("login_base_url", login_base_url)?,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(100),
            connect_timeout: Duration::from_secs(10),
            faults: None,
        })
    }

    /// The Microsoft global cloud.
    pub fn microsoft_cloud() -> Self {
        GraphConfig::new(
            "https://graph.microsoft.com/v1.0",
            "https://login.microsoftonline.com",
        )
        .unwrap_or_else(|_| unreachable!("constant URLs parse"))
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sends every request past `hook` first (fault-injection tests; production sets none).
    pub fn with_faults(mut self, hook: SharedFaultHook) -> Self {
        self.faults = Some(hook);
        self
    }

    /// The Graph base as text, without a trailing slash.
    pub(crate) fn graph_base(&self) -> &str {
        self.graph_base_url.as_str().trim_end_matches('/')
    }

    /// The login base as text, without a trailing slash.
    pub(crate) fn login_base(&self) -> &str {
        self.login_base_url.as_str().trim_end_matches('/')
    }
}

fn base_url(name: &'static str, value: &str) -> Result<Url, ConfigError> {
    let invalid = || ConfigError::InvalidUrl {
        name,
        value: value.to_owned(),
    };
    let url = Url::parse(value.trim().trim_end_matches('/')).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.query().is_some()
    {
        return Err(invalid());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_base_urls_when_parsed_then_trailing_slash_is_dropped_and_bad_urls_are_named() {
        // GIVEN / WHEN
        let config = GraphConfig::new("http://127.0.0.1:9/v1.0/", "http://127.0.0.1:9")
            .map_err(|e| e.to_string());
        // THEN
        let config = match config {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(config.graph_base(), "http://127.0.0.1:9/v1.0");
        assert_eq!(config.login_base(), "http://127.0.0.1:9");
        let err = GraphConfig::new("graph.microsoft.com", "https://login.microsoftonline.com");
        assert!(matches!(
            err,
            Err(ConfigError::InvalidUrl {
                name: "graph_base_url",
                ..
            })
        ));
    }
}
