//! The one retry policy every Graph and token request goes through, and the project's one
//! backoff: the store's retry of DynamoDB's unprocessed batch items uses [`RetryPolicy`] too (this
//! crate knows nothing of AWS; the policy is plain numbers).
//!
//! Microsoft's guidance [learn: graph/throttling]: on 429 (and 503) wait `Retry-After` when it is
//! given; otherwise back off exponentially. We use "full jitter" (a uniform delay between zero
//! and the exponential cap) so that many workers throttled at once do not retry in lockstep.

use std::time::{Duration, SystemTime};

use chrono::DateTime;

/// How often and how long a request is retried. One value is shared by every call of a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts per request, the first one included (at least 1).
    pub max_attempts: u32,
    /// Overall time budget per request, retries and waits included; a wait that would end past
    /// it is not started and the last error is returned instead.
    pub deadline: Duration,
    /// The backoff cap of the first retry; doubles with each further retry.
    pub base_delay: Duration,
    /// Upper bound of one backoff wait (not of a `Retry-After` wait, which Graph dictates).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts within 5 minutes (a third of the 15-minute Lambda limit, so a sync can still
    /// checkpoint), backoff from 0.5 s up to 30 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            deadline: Duration::from_secs(300),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// Time kept back from an invocation's deadline: a request is not retried into the last seconds,
/// so the caller still has time to record the failure and leave the job for redelivery.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

impl RetryPolicy {
    /// This policy for a request that must end by `deadline` (the Lambda invocation's): its
    /// budget is at most the time left less [`DEADLINE_MARGIN`], so a `Retry-After` (or backoff)
    /// that would end past it is not waited for and the call fails with its last error (throttled:
    /// retryable, so the job's message is delivered again later) instead of Lambda cutting the
    /// invocation off mid-sleep.
    pub fn until(&self, deadline: SystemTime) -> RetryPolicy {
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .saturating_sub(DEADLINE_MARGIN);
        RetryPolicy {
            deadline: self.deadline.min(left),
            ..self.clone()
        }
    }

    /// The wait before attempt `attempt + 1` after attempt number `attempt` (1-based) failed
    /// retryably, or `None` when attempts or the deadline are spent. `retry_after` is what the
    /// server asked for; `elapsed` is the time spent on this request so far.
    pub fn next_delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        elapsed: Duration,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let delay = retry_after.unwrap_or_else(|| self.backoff(attempt));
        if elapsed.saturating_add(delay) > self.deadline {
            return None;
        }
        Some(delay)
    }

    /// Full-jitter exponential backoff: uniform in `[0, min(max_delay, base_delay * 2^(attempt-1))]`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let cap = self
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        let cap_micros = u64::try_from(cap.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(fastrand::u64(0..=cap_micros))
    }
}

/// Reads a `Retry-After` value: integer or fractional seconds (`"2"`, `"0.25"`), or an HTTP date.
/// Anything else (negative, NaN, garbage) is ignored so that backoff applies instead.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::try_from_secs_f64(seconds).ok())
            .flatten();
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_retry_after_forms_when_parsed_then_integer_fraction_and_date_are_understood() {
        // GIVEN / WHEN / THEN
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 0.25 "),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("NaN"), None);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn given_an_invocation_deadline_when_the_policy_is_bound_to_it_then_no_wait_ends_past_it() {
        // GIVEN the default policy (5-minute budget) and an invocation with 30 s left
        let policy = RetryPolicy::default().until(SystemTime::now() + Duration::from_secs(30));
        // WHEN Graph asks for 60 s, or for 10 s
        // THEN the 60 s wait is refused (it would pass the deadline), the 10 s one is kept
        assert!(policy.deadline <= Duration::from_secs(25));
        assert_eq!(
            policy.next_delay(1, Some(Duration::from_secs(60)), Duration::ZERO),
            None
        );
        assert_eq!(
            policy.next_delay(1, Some(Duration::from_secs(10)), Duration::ZERO),
            Some(Duration::from_secs(10))
        );
        // ... and a deadline already passed leaves no retry at all
        let spent = RetryPolicy::default().until(SystemTime::now());
        assert_eq!(
            spent.next_delay(1, Some(Duration::from_millis(1)), Duration::ZERO),
            None
        );
    }

    #[test]
    fn given_policy_when_attempts_or_deadline_are_spent_then_no_more_delay() {
        // GIVEN a policy of 3 attempts within 10 s
        let policy = RetryPolicy {
            max_attempts: 3,
            deadline: Duration::from_secs(10),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        // WHEN / THEN: Retry-After is honoured, attempts and deadline stop retries
        assert_eq!(
            policy.next_delay(1, Some(Duration::from_secs(2)), Duration::ZERO),
            Some(Duration::from_secs(2))
        );
        assert_eq!(policy.next_delay(3, None, Duration::ZERO), None);
        assert_eq!(
            policy.next_delay(1, Some(Duration::from_secs(5)), Duration::from_secs(6)),
            None
        );
        for attempt in 1..10 {
            assert!(policy.backoff(attempt) <= Duration::from_secs(1));
        }
    }
}
