//! Tracing set-up: JSON lines in Lambda (CloudWatch Logs Insights queries the fields), readable
//! text locally.
//!
//! Structured fields carry the identifiers, never interpolated strings, so logs can be filtered by
//! tenant or job. The field names, used by every crate of the bundle:
//!
//! | field          | value                                   |
//! |----------------|-----------------------------------------|
//! | `tenant_id`    | [`TenantId`](crate::TenantId)           |
//! | `job_id`       | [`JobId`](crate::JobId)                 |
//! | `sync_run_id`  | [`SyncRunId`](crate::SyncRunId)         |
//!
//! e.g. `#[tracing::instrument(skip(deps), fields(tenant_id = %job.tenant_id, job_id = %job.job_id))]`.
//! Secrets never go into a field: they are `secrecy::SecretString`, whose `Debug` is redacted.

use tracing_subscriber::EnvFilter;

/// Field name of a tenant id in spans and events.
pub const TENANT_ID: &str = "tenant_id";
/// Field name of a job id in spans and events.
pub const JOB_ID: &str = "job_id";
/// Field name of a sync-run id in spans and events.
pub const SYNC_RUN_ID: &str = "sync_run_id";

/// Installs the global subscriber once; later calls (a second handler in the same process, tests)
/// do nothing.
///
/// The filter comes from `RUST_LOG`, else `AWS_LAMBDA_LOG_LEVEL` (set by Lambda's advanced logging
/// controls), else `info`. Output is JSON when `AWS_LAMBDA_FUNCTION_NAME` is set (inside Lambda),
/// human-readable text otherwise.
pub fn init() {
    init_with_default("info");
}

/// [`init`] with another filter for when neither variable is set (the demo prints its own story
/// and keeps the functions' logs to warnings).
pub fn init_with_default(default_filter: &str) {
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let filter = filter_from(
        std::env::var("RUST_LOG").ok(),
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok(),
        default_filter,
    );
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // try_init fails only when a subscriber is already installed, which is the idempotence we want.
    let _ = if in_lambda {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_ansi(false)
            .without_time() // CloudWatch stamps every line itself
            .try_init()
    } else {
        builder.with_target(false).try_init()
    };
}

fn filter_from(
    rust_log: Option<String>,
    lambda_level: Option<String>,
    default_filter: &str,
) -> EnvFilter {
    [
        rust_log,
        lambda_level.map(|level| level.to_ascii_lowercase()),
    ]
    .into_iter()
    .flatten()
    .filter(|directives| !directives.trim().is_empty())
    .find_map(|directives| EnvFilter::try_new(directives).ok())
    .unwrap_or_else(|| EnvFilter::new(default_filter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_no_variables_when_filtering_then_info() {
        assert_eq!(filter_from(None, None, "info").to_string(), "info");
    }

    #[test]
    fn given_rust_log_and_lambda_level_when_filtering_then_rust_log_wins() {
        let filter = filter_from(Some("debug".into()), Some("ERROR".into()), "info");
        assert_eq!(filter.to_string(), "debug");
    }

    #[test]
    fn given_only_the_lambda_level_when_filtering_then_it_is_used_lowercase() {
        assert_eq!(
            filter_from(None, Some("WARN".into()), "info").to_string(),
            "warn"
        );
    }

    #[test]
    fn given_init_twice_when_called_then_no_panic() {
        init();
        init();
    }

    #[test]
    fn given_no_variables_and_a_quiet_default_when_filtering_then_the_default() {
        assert_eq!(filter_from(None, None, "warn").to_string(), "warn");
    }
}
