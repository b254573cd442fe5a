//! Graph's response time, modelled, so a benchmark against the simulator says how long a sync of a
//! real tenant takes and where its time goes (the simulator itself answers in microseconds).
//!
//! Microsoft publishes no latency figures for Microsoft Graph (no SLA on response time, and the
//! throttling guidance speaks of budgets, not of time). The figures of [`LatencyModel::graph`] are
//! this project's assumptions, stated in README ("Graph's latency, modelled") so that anyone can
//! replace them with their own tenant's measurements through the tenant's knobs
//! (`PUT /_sim/tenants/{tid}/knobs {"latency": {...}}`) or `graph-sim --latency graph`.
//!
//! A request's modelled time is a base per kind of request (read, write, `$batch`, token) plus a
//! per-object cost for collection pages, and extra time for delta pages and for
//! `signInActivity` (both served by slower back ends); the answer is held until that time has
//! passed since the request arrived. A seeded spread of ±`jitter` keeps runs repeatable.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a request costs in time; every figure is added to `read_ms` or `write_ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LatencyModel {
    /// A GET's time to answer, before its objects.
    pub read_ms: u64,
    /// Added per object a collection page returns (serialising and sending a 999-object page
    /// takes longer than a 1-object one).
    pub per_object_us: u64,
    /// Added to a `/delta` page (users, groups).
    pub delta_ms: u64,
    /// Added when `signInActivity` is selected (it is read from the sign-in logs' store).
    pub sign_in_activity_ms: u64,
    /// A POST, PATCH or DELETE.
    pub write_ms: u64,
    /// Added per request inside a `$batch` beyond the first (steps run partly in parallel).
    pub batch_step_ms: u64,
    /// A token request to the identity platform.
    pub token_ms: u64,
    /// Each time is scaled by a factor drawn from [1 - jitter, 1 + jitter].
    pub jitter: f64,
}

impl Default for LatencyModel {
    fn default() -> Self {
        LatencyModel::graph()
    }
}

/// The kind of a request, as far as its time goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A GET returning `objects` objects (0 for a single object).
    Read {
        objects: usize,
        delta: bool,
        sign_in_activity: bool,
    },
    Write,
    Batch {
        steps: usize,
        writes: bool,
    },
    Token,
}

impl LatencyModel {
    /// The assumptions this project benchmarks with (see the module's documentation).
    pub fn graph() -> LatencyModel {
        LatencyModel {
            read_ms: 150,
            per_object_us: 600,
            delta_ms: 250,
            sign_in_activity_ms: 700,
            write_ms: 300,
            batch_step_ms: 40,
            token_ms: 200,
            jitter: 0.2,
        }
    }

    /// The modelled time of one request; `spread` is a uniform draw from [0, 1).
    pub(crate) fn time(&self, kind: Kind, spread: f64) -> Duration {
        let ms = match kind {
            Kind::Read {
                objects,
                delta,
                sign_in_activity,
            } => {
                let objects_us = self.per_object_us.saturating_mul(objects as u64);
                self.read_ms
                    + objects_us / 1_000
                    + if delta { self.delta_ms } else { 0 }
                    + if sign_in_activity {
                        self.sign_in_activity_ms
                    } else {
                        0
                    }
            }
            Kind::Write => self.write_ms,
            Kind::Batch { steps, writes } => {
                let first = if writes { self.write_ms } else { self.read_ms };
                first + self.batch_step_ms * steps.saturating_sub(1) as u64
            }
            Kind::Token => self.token_ms,
        };
        let jitter = self.jitter.clamp(0.0, 1.0);
        let factor = 1.0 - jitter + 2.0 * jitter * spread.clamp(0.0, 1.0);
        Duration::from_secs_f64(ms as f64 * factor / 1_000.0)
    }
}

/// The kind of a Graph request under `/v1.0` from its method, path, query, request body and
/// answer body.
pub(crate) fn kind_of(
    method: &axum::http::Method,
    path: &str,
    query: &str,
    request: &[u8],
    answer: &[u8],
) -> Kind {
    if path.trim_end_matches('/').ends_with("$batch") {
        return batch_kind(request);
    }
    if method != axum::http::Method::GET {
        return Kind::Write;
    }
    let decoded = query.replace("%24", "$");
    Kind::Read {
        objects: page_objects(answer),
        delta: path.ends_with("/delta") || path.ends_with("microsoft.graph.delta()"),
        sign_in_activity: decoded.contains("signInActivity"),
    }
}

/// The modelled time of a token request to `tenant_key`'s token endpoint (counted under "POST
/// token"), when the tenant has a latency model.
pub(crate) fn token_time(sim: &crate::state::Sim, tenant_key: &str) -> Option<Duration> {
    let slot = sim.tenants.get(sim.tenant_index(tenant_key)?)?;
    let (model, spread) = slot
        .rt
        .lock()
        .ok()
        .and_then(|mut rt| Some((rt.knobs.latency.clone()?, rt.faults.f64())))?;
    let time = model.time(Kind::Token, spread);
    sim.count_modelled("POST token".to_owned(), time);
    Some(time)
}

/// The kind of request a modelled time is summed under: the method, the first path segment,
/// `/delta` for delta pages and `/{id}/…` below an object ("GET /users/delta", "GET
/// /groups/{id}/…", "POST /$batch").
pub(crate) fn label(method: &axum::http::Method, path: &str) -> String {
    let mut segments = path.trim_matches('/').split('/');
    let first = segments.next().unwrap_or_default();
    let rest: Vec<&str> = segments.collect();
    let tail = match rest.as_slice() {
        [] => "",
        ["delta"] | ["microsoft.graph.delta()"] => "/delta",
        [_] => "/{id}",
        _ => "/{id}/…",
    };
    format!("{method} /{first}{tail}")
}

/// Objects in a collection page's `value` (0 for anything else), counted without building them.
fn page_objects(body: &[u8]) -> usize {
    #[derive(Deserialize)]
    struct Page {
        #[serde(default)]
        value: Vec<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Page>(body).map_or(0, |page| page.value.len())
}

/// A `$batch` request's steps, and whether any of them writes.
fn batch_kind(request: &[u8]) -> Kind {
    #[derive(Deserialize)]
    struct Step {
        #[serde(default)]
        method: String,
    }
    #[derive(Deserialize)]
    struct Batch {
        #[serde(default)]
        requests: Vec<Step>,
    }
    let steps = serde_json::from_slice::<Batch>(request).map_or(Vec::new(), |b| b.requests);
    Kind::Batch {
        steps: steps.len().max(1),
        writes: steps
            .iter()
            .any(|step| !step.method.eq_ignore_ascii_case("GET")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_the_graph_model_when_a_full_delta_page_is_timed_then_it_costs_its_base_objects_and_delta()
     {
        // GIVEN the project's model without spread
        let model = LatencyModel {
            jitter: 0.0,
            ..LatencyModel::graph()
        };

        // WHEN a delta page of 999 users, a single user read and a 20-step batch are timed
        let page = model.time(
            Kind::Read {
                objects: 999,
                delta: true,
                sign_in_activity: false,
            },
            0.5,
        );
        let single = model.time(
            Kind::Read {
                objects: 0,
                delta: false,
                sign_in_activity: false,
            },
            0.5,
        );
        let batch = model.time(
            Kind::Batch {
                steps: 20,
                writes: true,
            },
            0.5,
        );

        // THEN each is the sum of its parts
        assert_eq!(page, Duration::from_millis(150 + 599 + 250));
        assert_eq!(single, Duration::from_millis(150));
        assert_eq!(batch, Duration::from_millis(300 + 19 * 40));
    }

    #[test]
    fn given_bodies_when_classified_then_pages_batches_delta_and_sign_in_are_told_apart() {
        // GIVEN a users delta page of 3, a users page selecting signInActivity, a batch of 2
        let page = br#"{"value":[{"id":"a"},{"id":"b"},{"id":"c"}],"@odata.nextLink":"x"}"#;
        let get = axum::http::Method::GET;
        let post = axum::http::Method::POST;

        // WHEN they are classified THEN each gets its kind
        assert_eq!(
            kind_of(&get, "/users/delta", "", b"", page),
            Kind::Read {
                objects: 3,
                delta: true,
                sign_in_activity: false
            }
        );
        assert_eq!(
            kind_of(&get, "/users", "%24select=id,signInActivity", b"", b"{}"),
            Kind::Read {
                objects: 0,
                delta: false,
                sign_in_activity: true
            }
        );
        assert_eq!(
            kind_of(
                &post,
                "/$batch",
                "",
                br#"{"requests":[{"method":"GET"},{"method":"POST"}]}"#,
                b"{}"
            ),
            Kind::Batch {
                steps: 2,
                writes: true
            }
        );
        assert_eq!(kind_of(&post, "/users", "", b"{}", b"{}"), Kind::Write);
    }
}
