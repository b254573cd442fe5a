//! The single place a Graph request is sent: token, headers, retry, 401 refresh, metrics.

use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use serde::de::DeserializeOwned;
use url::Url;

use crate::client::TenantGraph;
use crate::error::GraphError;
use crate::retry::parse_retry_after;
use crate::url_path::new_client_request_id;

/// One logical request; sent again unchanged on retry.
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) url: Url,
    /// JSON request body.
    pub(crate) body: Option<Vec<u8>>,
    /// Sends `ConsistencyLevel: eventual`, needed by `$count`, `$search` and advanced `$filter`.
    pub(crate) eventual: bool,
    /// Sends `Prefer: odata.maxpagesize={n}`: the page size of a delta query, which takes no `$top`.
    pub(crate) max_page_size: Option<u32>,
}

impl Call {
    pub(crate) fn new(method: Method, url: Url) -> Self {
        Call {
            method,
            url,
            body: None,
            eventual: false,
            max_page_size: None,
        }
    }

    pub(crate) fn json<B: serde::Serialize + ?Sized>(
        mut self,
        body: &B,
    ) -> Result<Self, GraphError> {
        let bytes = serde_json::to_vec(body).map_err(|e| GraphError::InvalidRequest {
            reason: format!("request body could not be serialised: {e}"),
        })?;
        self.body = Some(bytes);
        Ok(self)
    }

    /// Whether sending twice has the same effect as once (so a timeout may be retried).
    fn idempotent(&self) -> bool {
        self.method != Method::POST
    }
}

/// A successful answer with the ids an audit trail keeps.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) request_id: Option<String>,
    pub(crate) client_request_id: String,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, GraphError> {
        self.parse()
    }

    /// Parses the body, borrowing strings from it where `T` allows.
    pub(crate) fn parse<'a, T: serde::Deserialize<'a>>(&'a self) -> Result<T, GraphError> {
        serde_json::from_str(self.text()?).map_err(|e| self.bad(e))
    }

    /// Parses a collection page.
    pub(crate) fn page<T: DeserializeOwned>(&self) -> Result<crate::wire::PageWire<T>, GraphError> {
        crate::wire::PageWire::parse(self.text()?).map_err(|e| self.bad(e))
    }

    /// One UTF-8 check of the whole body (fast on ASCII) instead of one per string value.
    fn text(&self) -> Result<&str, GraphError> {
        std::str::from_utf8(&self.body).map_err(|e| {
            GraphError::unexpected(
                self.status,
                self.request_id.clone(),
                format!("body is not UTF-8: {e}"),
            )
        })
    }

    fn bad(&self, error: serde_json::Error) -> GraphError {
        GraphError::unexpected(
            self.status,
            self.request_id.clone(),
            format!("body does not match the documented shape: {error}"),
        )
    }
}

/// The longest a streamed answer may take in all: a Lambda's longest run.
const STREAMED_ANSWER_LIMIT: Duration = Duration::from_secs(15 * 60);

/// Largest body size taken from `Content-Length` to reserve memory up front.
const MAX_RESERVE: usize = 16 << 20;

impl TenantGraph {
    /// Parses an absolute link (a `@odata.nextLink`/`@odata.deltaLink` or a resume link a caller
    /// stored) and checks it lies under the configured Graph base, so the bearer token is never
    /// sent to another origin.
    pub(crate) fn trusted_link(&self, link: &str) -> Result<Url, GraphError> {
        let untrusted = || GraphError::UntrustedLink {
            link: link.to_owned(),
        };
        let url = Url::parse(link).map_err(|_| untrusted())?;
        let base = &self.config().graph_base_url;
        if url.origin() != base.origin() {
            return Err(untrusted());
        }
        Ok(url)
    }

    /// A URL under the Graph base from a path (and query) this crate built.
    pub(crate) fn url(&self, path_and_query: &str) -> Result<Url, GraphError> {
        Url::parse(&self.graph_url(path_and_query)).map_err(|e| GraphError::InvalidRequest {
            reason: format!("cannot build a Graph URL from {path_and_query:?}: {e}"),
        })
    }

    /// Sends a request with the retry policy: waits `Retry-After` on 429/503, backs off with
    /// jitter on 502/503/504 and connection errors, refreshes the token once on 401.
    pub(crate) async fn send(&self, call: &Call) -> Result<Reply, GraphError> {
        self.send_into(call, Vec::new()).await
    }

    /// [`TenantGraph::send`], reading the body into `buffer` (cleared first) so that a page
    /// stream reuses one allocation for every page.
    pub(crate) async fn send_into(
        &self,
        call: &Call,
        buffer: Vec<u8>,
    ) -> Result<Reply, GraphError> {
        match self.send_with(call, Some(buffer)).await? {
            Answer::Read(reply) => Ok(reply),
            Answer::Open(_) => Err(GraphError::unexpected(
                200,
                None,
                "an answer to be read whole was left open",
            )),
        }
    }

    /// [`TenantGraph::send`] for a successful answer whose body the caller reads as it arrives
    /// (a page too large to hold whole). The retries end when the answer's head arrives: a
    /// failure while its body is read is the caller's.
    pub(crate) async fn send_streamed(&self, call: &Call) -> Result<reqwest::Response, GraphError> {
        match self.send_with(call, None).await? {
            Answer::Open(response) => Ok(response),
            Answer::Read(_) => Err(GraphError::unexpected(
                200,
                None,
                "an answer to be streamed was read whole",
            )),
        }
    }

    /// The retry loop of every request; `buffer` `None` leaves a successful answer's body unread.
    async fn send_with(
        &self,
        call: &Call,
        mut buffer: Option<Vec<u8>>,
    ) -> Result<Answer, GraphError> {
        let policy = self.retry_policy();
        let started = Instant::now();
        let client_request_id = new_client_request_id();
        let mut attempt = 0u32;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let token = self.token().await?;
            let error = match self
                .attempt(
                    call,
                    &token.authorization,
                    &client_request_id,
                    buffer.as_mut(),
                )
                .await
            {
                Ok(answer) => return Ok(answer),
                Err(GraphError::Unauthorized(detail)) if !refreshed => {
                    // The token may have been revoked or expired early: one fresh token, one retry.
                    tracing::debug!(request_id = ?detail.request_id, "401 from Graph; refreshing the token once");
                    refreshed = true;
                    self.invalidate_token(token.generation).await;
                    self.metrics_cell().retry();
                    attempt -= 1;
                    continue;
                }
                Err(error) => error,
            };
            if !error.is_retryable() {
                return Err(error);
            }
            match policy.next_delay(attempt, error.retry_after(), started.elapsed()) {
                Some(delay) => {
                    tracing::debug!(attempt, ?delay, error = %error, "retrying Graph request");
                    self.metrics_cell().retry();
                    tokio::time::sleep(delay).await;
                }
                None => return Err(error),
            }
        }
    }

    async fn attempt(
        &self,
        call: &Call,
        authorization: &HeaderValue,
        client_request_id: &str,
        buffer: Option<&mut Vec<u8>>,
    ) -> Result<Answer, GraphError> {
        let mut request = self
            .client()
            .http()
            .request(call.method.clone(), call.url.clone())
            .header(AUTHORIZATION, authorization.clone())
            .header("client-request-id", client_request_id);
        if call.eventual {
            request = request.header("ConsistencyLevel", "eventual");
        }
        if let Some(size) = call.max_page_size {
            request = request.header("Prefer", format!("odata.maxpagesize={size}"));
        }
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        } else if call.method == Method::POST {
            request = request.header(reqwest::header::CONTENT_LENGTH, "0");
        }
        let point = crate::fault::RequestPoint {
            method: call.method.as_str(),
            path: call
                .url
                .path()
                .strip_prefix(self.config().graph_base_url.path())
                .unwrap_or(call.url.path()),
            write: call.method != Method::GET,
        };
        let after = match &self.config().faults {
            Some(hook) => hook.before(&point)?,
            None => crate::fault::AfterAnswer::Deliver,
        };
        let metrics = self.metrics_cell();
        metrics.request();
        let transport = |source: reqwest::Error| {
            let retryable = source.is_connect()
                || (call.idempotent() && !source.is_builder() && !source.is_redirect());
            GraphError::Transport { source, retryable }
        };
        let response = if buffer.is_none() {
            // A streamed answer is read at its consumer's pace, so the client's whole-answer
            // timeout gives way to a limit on its head here and on each read of its body
            // (`stream::BodyReader`), both `request_timeout`.
            let limit = self.config().request_timeout;
            match tokio::time::timeout(limit, request.timeout(STREAMED_ANSWER_LIMIT).send()).await {
                Ok(response) => response.map_err(transport)?,
                Err(_) => return Err(GraphError::Stalled { waited: limit }),
            }
        } else {
            request.send().await.map_err(transport)?
        };
        let status = response.status().as_u16();
        let headers = response.headers();
        if let Some(units) =
            header_str(headers, "x-ms-resource-unit").and_then(|v| v.trim().parse::<f64>().ok())
        {
            metrics.resource_units(units.round().max(0.0) as u64);
        }
        let request_id = header_str(headers, "request-id").map(str::to_owned);
        let retry_after = header_str(headers, RETRY_AFTER.as_str()).and_then(parse_retry_after);
        if status == 429 {
            metrics.throttled(1);
        }
        let mut response = response;
        let Some(buffer) = buffer else {
            // Streamed: the answer is handed over once its head is in. An answer lost on the way
            // is lost before any of its body was read.
            if after == crate::fault::AfterAnswer::Interrupt
                && let Some(hook) = &self.config().faults
            {
                return Err(hook.interrupt_after(&point).into());
            }
            if (200..300).contains(&status) {
                return Ok(Answer::Open(response));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(transport)? {
                body.extend_from_slice(&chunk);
            }
            return Err(GraphError::from_response(
                status,
                retry_after,
                request_id,
                &body,
            ));
        };
        buffer.clear();
        if let Some(length) = response.content_length() {
            buffer.reserve(
                usize::try_from(length)
                    .unwrap_or(MAX_RESERVE)
                    .min(MAX_RESERVE),
            );
        }
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            buffer.extend_from_slice(&chunk);
        }
        if after == crate::fault::AfterAnswer::Interrupt
            && let Some(hook) = &self.config().faults
        {
            return Err(hook.interrupt_after(&point).into());
        }
        if (200..300).contains(&status) {
            return Ok(Answer::Read(Reply {
                status,
                request_id,
                client_request_id: client_request_id.to_owned(),
                body: std::mem::take(buffer),
            }));
        }
        Err(GraphError::from_response(
            status,
            retry_after,
            request_id,
            buffer,
        ))
    }
}

/// An attempt's successful answer: read whole, or with its body still to be read.
enum Answer {
    Read(Reply),
    Open(reqwest::Response),
}

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The longest `Retry-After` of a set of answers, or `None` if none said.
pub(crate) fn longest(waits: impl Iterator<Item = Option<Duration>>) -> Option<Duration> {
    waits.flatten().max()
}
