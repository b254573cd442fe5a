//! Graph's identity-and-access throttling: a resource-unit budget per app per tenant per 10 s
//! window and a write budget per 150 s window (figures from graph-facts.md).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::config::Knobs;

struct Window {
    start: Instant,
    used: u64,
}

/// Budget windows of one tenant, per app.
#[derive(Default)]
pub(crate) struct Windows {
    ru: HashMap<String, Window>,
    writes: HashMap<String, Window>,
    reports: HashMap<String, Window>,
}

/// The outcome of charging one request.
pub(crate) enum Charge {
    /// Allowed; the share of the RU budget used, in percent.
    Ok(u64),
    /// Over budget; retry after this long.
    Throttled(Duration),
}

/// Graph's RU budget per 10 s for a tenant of this many users.
pub(crate) fn default_ru_budget(users: usize) -> u64 {
    match users {
        0..50 => 3_500,
        50..=500 => 5_000,
        _ => 8_000,
    }
}

fn take(
    map: &mut HashMap<String, Window>,
    app: &str,
    len: Duration,
    cost: u64,
    budget: u64,
) -> Result<u64, Duration> {
    let now = Instant::now();
    let w = map.entry(app.to_string()).or_insert(Window {
        start: now,
        used: 0,
    });
    if now.duration_since(w.start) >= len {
        w.start = now;
        w.used = 0;
    }
    if w.used + cost > budget {
        return Err(len
            .saturating_sub(now.duration_since(w.start))
            .max(Duration::from_millis(1)));
    }
    w.used += cost;
    Ok(w.used * 100 / budget.max(1))
}

/// Microsoft 365 usage reports: 14 requests per 10 minutes per app per tenant.
const REPORTS_PER_WINDOW: u64 = 14;

impl Windows {
    /// Charges one usage-report request; its window is 60 RU windows (10 min at Graph's pace).
    pub fn charge_report(&mut self, knobs: &Knobs, app: &str) -> Charge {
        let len = Duration::from_millis(knobs.throttle_window_ms.max(1)) * 60;
        match take(&mut self.reports, app, len, 1, REPORTS_PER_WINDOW) {
            Ok(pct) => Charge::Ok(pct),
            Err(wait) => Charge::Throttled(wait),
        }
    }

    /// Charges `cost` RU (and one write when `write`) to `app`.
    pub fn charge(
        &mut self,
        knobs: &Knobs,
        users: usize,
        app: &str,
        cost: u64,
        write: bool,
    ) -> Charge {
        let ru_len = Duration::from_millis(knobs.throttle_window_ms.max(1));
        let budget = knobs.ru_per_10s.unwrap_or_else(|| default_ru_budget(users));
        if write
            && let Err(wait) = take(&mut self.writes, app, ru_len * 15, 1, knobs.writes_per_150s)
        {
            return Charge::Throttled(wait);
        }
        match take(&mut self.ru, app, ru_len, cost, budget) {
            Ok(pct) => Charge::Ok(pct),
            Err(wait) => Charge::Throttled(wait),
        }
    }
}

/// `Retry-After` seconds for a wait: whole seconds (rounded up) for waits of a second or more,
/// else the fraction, so shortened test windows do not wait a full second.
pub(crate) fn retry_after_secs(wait: Duration) -> f64 {
    let s = wait.as_secs_f64();
    if s >= 1.0 {
        s.ceil()
    } else {
        (s * 1000.0).ceil() / 1000.0
    }
}
