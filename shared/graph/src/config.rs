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
    /// Limit of one HTTP attempt (connect, send, receive the whole body). A delta page, read
    /// while it arrives at its reader's pace, has it on its head and on each wait for more of
    /// its body instead ([`GraphError::Stalled`](crate::GraphError::Stalled)).
    pub request_timeout: Duration,
    /// Limit of establishing one connection.
    pub connect_timeout: Duration,
    /// Fault-injection hook of the crash-matrix tests ([`crate::fault`]); `None` in production.
    pub faults: Option<SharedFaultHook>,
    /// The most a delta stream hands on at once, counting one per object and one per member
    /// reference: a delta page is parsed while it arrives and handed on in parts of about this
    /// size, so memory follows this, not the page (Graph may send a group's 100,000s of
    /// `members@delta` in one page). One part is one page whenever the page is smaller.
    pub delta_part_size: usize,
}

/// [`GraphConfig::delta_part_size`] by default: larger than any page Graph sends at the sync's
/// 999 objects per page unless a group's members come whole (a few MB per part at most).
pub const DELTA_PART_SIZE: usize = 5_000;

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
            delta_part_size: DELTA_PART_SIZE,
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

    /// Hands delta changes on in parts of about `size` (at least 1); see
    /// [`GraphConfig::delta_part_size`].
    pub fn with_delta_part_size(mut self, size: usize) -> Self {
        self.delta_part_size = size.max(1);
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
