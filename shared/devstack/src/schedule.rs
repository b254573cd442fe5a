//! EventBridge schedules: each function's `Schedule` event fires on its rate (optionally sped up),
//! and any schedule can be fired once on demand (demo, tests, `POST /_devstack/schedules/{fn}/fire`).

use std::time::Duration;

use serde_json::{Value, json};
use thiserror::Error;
use tokio::task::JoinSet;

use crate::functions::{Functions, InvokeError};
use crate::provision::ACCOUNT_ID;
use crate::template::{EventSource, ScheduleExpression};

/// Why a schedule could not be fired.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ScheduleError {
    #[error("no function {function} in the template")]
    UnknownFunction { function: String },
    #[error("function {function} has no Schedule event in the template")]
    NoSchedule { function: String },
}

/// One schedule event delivered, and what the function made of it.
#[derive(Debug)]
pub struct Fired {
    /// The event's name in the template (`Events.<name>`).
    pub event: String,
    pub outcome: Result<Value, InvokeError>,
}

/// The schedules of every function.
#[derive(Clone)]
pub struct Schedules {
    functions: Functions,
    region: String,
    stack_name: String,
}

impl Schedules {
    pub(crate) fn new(functions: Functions, region: String, stack_name: String) -> Schedules {
        Schedules {
            functions,
            region,
            stack_name,
        }
    }

    /// Fires every schedule event of one function once, now, and waits for the invocations.
    pub async fn fire(&self, function: &str) -> Result<Vec<Fired>, ScheduleError> {
        let deployed =
            self.functions
                .get(function)
                .ok_or_else(|| ScheduleError::UnknownFunction {
                    function: function.to_owned(),
                })?;
        let events: Vec<(String, Option<String>)> = deployed
            .spec
            .events
            .iter()
            .filter_map(|e| match &e.source {
                EventSource::Schedule { input, .. } => Some((e.name.clone(), input.clone())),
                _ => None,
            })
            .collect();
        if events.is_empty() {
            return Err(ScheduleError::NoSchedule {
                function: function.to_owned(),
            });
        }
        let mut fired = Vec::with_capacity(events.len());
        for (event, input) in events {
            let payload = self.event(function, &event, input.as_deref());
            let outcome = self.functions.invoke(function, payload).await;
            fired.push(Fired { event, outcome });
        }
        Ok(fired)
    }

    /// Starts one timer per enabled `rate(...)` schedule; `time_scale` 60 turns an hour into a
    /// minute. `cron(...)` schedules fire only on demand locally.
    pub(crate) fn spawn_timers(&self, time_scale: f64, tasks: &mut JoinSet<()>) {
        for deployed in self.functions.iter() {
            if deployed.handler.is_none() {
                continue;
            }
            for event in &deployed.spec.events {
                let EventSource::Schedule {
                    expression: ScheduleExpression::Rate(rate),
                    enabled: true,
                    input,
                } = &event.source
                else {
                    continue;
                };
                let period = scaled(*rate, time_scale);
                let this = self.clone();
                let function = deployed.spec.logical_id.clone();
                let name = event.name.clone();
                let input = input.clone();
                tasks.spawn(async move {
                    let mut ticks = tokio::time::interval(period);
                    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    // EventBridge fires a rate schedule one period after the rule is created.
                    ticks.tick().await;
                    loop {
                        ticks.tick().await;
                        let payload = this.event(&function, &name, input.as_deref());
                        if let Err(error) = this.functions.invoke(&function, payload).await {
                            tracing::warn!(%function, event = %name, %error, "scheduled invocation failed");
                        }
                    }
                });
            }
        }
    }

    /// The EventBridge "Scheduled Event", or the rule's constant `Input` when the template sets one.
    fn event(&self, function: &str, event: &str, input: Option<&str>) -> Value {
        if let Some(input) = input
            && let Ok(value) = serde_json::from_str(input)
        {
            return value;
        }
        json!({
            "version": "0",
            "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "region": self.region,
            "resources": [format!(
                "arn:aws:events:{}:{ACCOUNT_ID}:rule/{}-{function}{event}",
                self.region, self.stack_name
            )],
            "detail": {}
        })
    }
}

/// The period of a rate divided by the time scale, never below 10 ms so a huge scale cannot spin.
fn scaled(rate: Duration, time_scale: f64) -> Duration {
    let scale = if time_scale.is_finite() && time_scale > 0.0 {
        time_scale
    } else {
        1.0
    };
    rate.div_f64(scale).max(Duration::from_millis(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_time_scale_when_scaling_an_hour_then_the_period_shrinks_and_bad_scales_are_ignored()
    {
        let hour = Duration::from_secs(3600);
        assert_eq!(scaled(hour, 60.0), Duration::from_secs(60));
        assert_eq!(scaled(hour, 0.0), hour);
        assert_eq!(scaled(hour, f64::NAN), hour);
        assert_eq!(scaled(hour, 1e12), Duration::from_millis(10));
    }
}
