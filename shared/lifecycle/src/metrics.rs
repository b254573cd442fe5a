//! CloudWatch metrics in the Embedded Metric Format (EMF): one JSON line on stdout per event,
//! which CloudWatch Logs turns into metrics without an API call (no `cloudwatch:PutMetricData`
//! permission, no latency on the request path). The alarms of infra/template.yaml watch these
//! names; a test there checks every alarm's metric is one of [`NAMES`].
//!
//! Only inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` set) do the lines go to stdout; locally they go
//! to the log at debug level, so the demo and tests stay readable.
//!
//! Tenant and job ids are properties of the line, not dimensions: searchable in Logs Insights
//! (`filter TenantId = "…"`) without a metric (and its cost) per tenant.
//!
//! Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::model::{JobRecord, SyncRun, SyncRunStatus};

/// The CloudWatch namespace of every metric of the bundle.
pub const NAMESPACE: &str = "m365-lifecycle";

/// A job ended; dimensions `JobType` and `Status`.
pub const JOBS_FINISHED: &str = "JobsFinished";
/// A sync run ended (any status).
pub const SYNC_RUNS: &str = "SyncRuns";
/// A sync run ended failed.
pub const SYNC_RUNS_FAILED: &str = "SyncRunsFailed";
/// Seconds from a sync run's start to its end.
pub const SYNC_DURATION: &str = "SyncDurationSeconds";
/// Accounts, groups, memberships and licenses a sync run created, updated or deleted.
pub const SYNC_ITEMS_CHANGED: &str = "SyncItemsChanged";
/// Graph requests of a sync run, its retries, and its 429 answers.
pub const GRAPH_REQUESTS: &str = "GraphRequests";
pub const GRAPH_RETRIES: &str = "GraphRetries";
pub const GRAPH_THROTTLED: &str = "GraphThrottled";
/// Minutes the most overdue connected tenant's sync is past due, read by the fan-out (every 15
/// minutes).
pub const SYNC_OVERDUE_MINUTES: &str = "SyncOverdueMinutes";

/// Every metric name the bundle emits.
pub const NAMES: [&str; 9] = [
    JOBS_FINISHED,
    SYNC_RUNS,
    SYNC_RUNS_FAILED,
    SYNC_DURATION,
    SYNC_ITEMS_CHANGED,
    GRAPH_REQUESTS,
    GRAPH_RETRIES,
    GRAPH_THROTTLED,
    SYNC_OVERDUE_MINUTES,
];

/// CloudWatch units used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
    None,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Seconds => "Seconds",
            Self::None => "None",
        }
    }
}

/// One EMF line: metric values under one dimension set, plus properties for Logs Insights.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricLine {
    dimensions: Vec<(&'static str, String)>,
    values: Vec<(&'static str, Unit, f64)>,
    properties: Vec<(&'static str, Value)>,
}

impl MetricLine {
    /// A line whose metrics carry `dimensions` (empty: metrics without dimensions).
    pub fn new(dimensions: Vec<(&'static str, String)>) -> Self {
        Self {
            dimensions,
            values: Vec::new(),
            properties: Vec::new(),
        }
    }

    /// Adds a metric value.
    pub fn value(mut self, name: &'static str, unit: Unit, value: f64) -> Self {
        self.values.push((name, unit, value));
        self
    }

    /// Adds a property (searchable in the logs, not a metric).
    pub fn property(mut self, name: &'static str, value: impl Into<Value>) -> Self {
        self.properties.push((name, value.into()));
        self
    }

    /// The line as EMF JSON, stamped `at`.
    pub fn to_json(&self, at: DateTime<Utc>) -> Value {
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [self.dimensions.iter().map(|(name, _)| *name).collect::<Vec<_>>()],
                    "Metrics": self.values.iter()
                        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
                        .collect::<Vec<_>>(),
                }],
            }),
        );
        for (name, value) in &self.dimensions {
            root.insert((*name).into(), json!(value));
        }
        for (name, value) in &self.properties {
            root.insert((*name).into(), value.clone());
        }
        for (name, _, value) in &self.values {
            root.insert((*name).into(), json!(value));
        }
        Value::Object(root)
    }

    /// Writes the line: to stdout inside Lambda, to the debug log elsewhere.
    pub fn emit(&self) {
        let line = self.to_json(Utc::now()).to_string();
        if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
            println!("{line}");
        } else {
            tracing::debug!(emf = %line, "metrics");
        }
    }
}

/// The line of a job that ended.
pub fn job_finished(record: &JobRecord) -> MetricLine {
    let status = serde_json::to_value(record.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    MetricLine::new(vec![
        ("JobType", record.job_type.clone()),
        ("Status", status),
    ])
    .value(JOBS_FINISHED, Unit::Count, 1.0)
    .property("TenantId", record.tenant_id.as_str())
    .property("JobId", record.job_id.as_str())
    .property("DryRun", record.dry_run)
}

/// The line of a sync run that ended.
pub fn sync_run_ended(run: &SyncRun) -> MetricLine {
    let ended = run.ended_at.unwrap_or_else(Utc::now);
    let seconds = (ended - run.started_at).num_milliseconds().max(0) as f64 / 1000.0;
    let counts = &run.counts;
    let changed = [
        &counts.accounts,
        &counts.groups,
        &counts.memberships,
        &counts.licenses,
    ]
    .iter()
    .map(|c| c.added + c.changed + c.removed)
    .sum::<u64>();
    let failed = if run.status == SyncRunStatus::Failed {
        1.0
    } else {
        0.0
    };
    MetricLine::new(Vec::new())
        .value(SYNC_RUNS, Unit::Count, 1.0)
        .value(SYNC_RUNS_FAILED, Unit::Count, failed)
        .value(SYNC_DURATION, Unit::Seconds, seconds)
        .value(SYNC_ITEMS_CHANGED, Unit::Count, changed as f64)
        .value(GRAPH_REQUESTS, Unit::Count, run.graph.requests as f64)
        .value(GRAPH_RETRIES, Unit::Count, run.graph.retries as f64)
        .value(GRAPH_THROTTLED, Unit::Count, run.graph.throttled as f64)
        .property("TenantId", run.tenant_id.as_str())
        .property("SyncRunId", run.id.as_str())
        .property("Full", run.full)
}

/// The line of a fan-out (every 15 minutes): how far past due the most overdue connected tenant is.
pub fn sync_overdue(minutes: i64, tenant: Option<&str>) -> MetricLine {
    let line =
        MetricLine::new(Vec::new()).value(SYNC_OVERDUE_MINUTES, Unit::None, minutes.max(0) as f64);
    match tenant {
        Some(tenant) => line.property("TenantId", tenant),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_line_when_rendered_then_it_follows_the_embedded_metric_format() {
        // GIVEN a line with one dimension, two values and a property
        let line = MetricLine::new(vec![("JobType", "offboard".into())])
            .value(JOBS_FINISHED, Unit::Count, 1.0)
            .value(SYNC_DURATION, Unit::Seconds, 2.5)
            .property("TenantId", "72f988bf-86f1-41af-91ab-2d7cd011db47");
        let at = DateTime::parse_from_rfc3339("2026-12-06T08:00:00Z")
            .expect("time")
            .with_timezone(&Utc);

        // WHEN it is rendered
        let json = line.to_json(at);

        // THEN the _aws directive names namespace, dimension set and metrics with units, and
        // every dimension, value and property is a root member (as EMF requires)
        let directive = &json["_aws"];
        assert_eq!(directive["Timestamp"], json!(1_796_544_000_000_i64));
        let metrics = &directive["CloudWatchMetrics"][0];
        assert_eq!(metrics["Namespace"], json!(NAMESPACE));
        assert_eq!(metrics["Dimensions"], json!([["JobType"]]));
        assert_eq!(
            metrics["Metrics"],
            json!([{"Name": "JobsFinished", "Unit": "Count"}, {"Name": "SyncDurationSeconds", "Unit": "Seconds"}])
        );
        assert_eq!(json["JobType"], json!("offboard"));
        assert_eq!(json["JobsFinished"], json!(1.0));
        assert_eq!(json["SyncDurationSeconds"], json!(2.5));
        assert_eq!(
            json["TenantId"],
            json!("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
    }

    #[test]
    fn given_a_line_without_dimensions_then_its_dimension_set_is_empty() {
        // GIVEN/WHEN an overdue reading
        let json = sync_overdue(135, None).to_json(Utc::now());

        // THEN the metric has no dimension (one alarm watches it) and the value is the minutes
        assert_eq!(
            json["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
        assert_eq!(json[SYNC_OVERDUE_MINUTES], json!(135.0));
    }
}
