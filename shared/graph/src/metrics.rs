//! Counters a caller reads to report what a run cost (a sync log shows them).

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the counters of one [`TenantGraph`](crate::TenantGraph) handle and its clones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GraphMetrics {
    /// HTTP requests sent to Graph, retries included (a `$batch` counts once per HTTP request).
    pub requests: u64,
    /// Retries of Graph requests, `$batch` step re-sends and token requests.
    pub retries: u64,
    /// 429 answers received, inner `$batch` 429s included.
    pub throttled: u64,
    /// Sum of the `x-ms-resource-unit` response headers (resource units charged by Graph).
    pub resource_units: u64,
    /// HTTP requests sent to the token endpoint.
    pub token_requests: u64,
}

#[derive(Debug, Default)]
pub(crate) struct MetricsCell {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    resource_units: AtomicU64,
    token_requests: AtomicU64,
}

impl MetricsCell {
    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn throttled(&self, count: u64) {
        self.throttled.fetch_add(count, Ordering::Relaxed);
    }
    pub(crate) fn resource_units(&self, units: u64) {
        self.resource_units.fetch_add(units, Ordering::Relaxed);
    }
    pub(crate) fn token_request(&self) {
        self.token_requests.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn snapshot(&self) -> GraphMetrics {
        GraphMetrics {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            resource_units: self.resource_units.load(Ordering::Relaxed),
            token_requests: self.token_requests.load(Ordering::Relaxed),
        }
    }
}
