//! The license report and its refresh:
//! - `GET /tenants/{tenant_id}/licenses/report?inactive_after_days=90&limit=1000`: per-SKU seats
//!   (enabled, suspended, warning, consumed, unused, capability status), totals, and the licensed
//!   accounts without a sign-in for more than `inactive_after_days` days, with their last
//!   sign-in (seats to reclaim). Built from the stored SKUs and accounts; see
//!   [`lifecycle::license_report`].
//! - `POST /tenants/{tenant_id}/licenses/refresh` (optional body `{"inactive_after_days": 30}`):
//!   queues a license refresh now and answers 202 with its job id.
//!
//! (`GET /tenants/{tenant_id}/licenses`, the synced license assignments, is the sync's route.)

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use chrono::Utc;
use lifecycle::Platform;
use lifecycle::http::{body_text, json_response, path_param, query_param};
use lifecycle::license_report::{self as report, ReportOptions};
use lifecycle::model::{Job, JobKind, JobRecord, LicenseRefreshJob, TenantConnection};
use serde::Deserialize;

/// Longest inactivity threshold accepted (ten years).
const MAX_INACTIVE_AFTER_DAYS: u32 = 3650;
/// Most inactive accounts listed in one answer.
const MAX_LIMIT: usize = 10_000;

use crate::{Answer, answer, tenant_state};

fn unavailable(error: impl std::fmt::Display) -> Answer {
    tracing::error!(%error, "license route failed");
    answer(
        503,
        "unavailable",
        "the store could not be read; try again later",
    )
}

fn number<T>(
    request: &ApiGatewayV2httpRequest,
    name: &str,
    range: std::ops::RangeInclusive<T>,
) -> Result<Option<T>, Answer>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    let Some(raw) = query_param(request, name) else {
        return Ok(None);
    };
    match raw.parse::<T>() {
        Ok(value) if range.contains(&value) => Ok(Some(value)),
        _ => Err(answer(
            400,
            "bad_request",
            format!(
                "{name} must be a whole number from {} to {}, got {raw:?}",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// `GET /tenants/{tenant_id}/licenses/report`.
#[tracing::instrument(skip_all, fields(tenant_id = %path_param(request, "tenant_id")))]
pub async fn report(
    platform: &Platform,
    request: &ApiGatewayV2httpRequest,
    tenant: &TenantConnection,
) -> ApiGatewayV2httpResponse {
    match try_report(platform, request, tenant).await {
        Ok(answer) | Err(answer) => *answer,
    }
}

async fn try_report(
    platform: &Platform,
    request: &ApiGatewayV2httpRequest,
    tenant: &TenantConnection,
) -> Result<Answer, Answer> {
    let tenant = tenant_state::live(tenant)?;
    let mut options = ReportOptions::at(Utc::now());
    if let Some(days) = number(request, "inactive_after_days", 1..=MAX_INACTIVE_AFTER_DAYS)? {
        options.inactive_after_days = days;
    }
    if let Some(limit) = number(request, "limit", 0..=MAX_LIMIT)? {
        options.limit = limit;
    }
    let report = report::build(&platform.store, tenant, options)
        .await
        .map_err(unavailable)?;
    Ok(Box::new(json_response(200, &report)))
}

/// The optional body of `POST /tenants/{tenant_id}/licenses/refresh`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshRequest {
    /// Days without a sign-in after which a licensed account counts as inactive.
    #[serde(default)]
    inactive_after_days: Option<u32>,
}

/// `POST /tenants/{tenant_id}/licenses/refresh`: 202 with the job id; 409 when the tenant needs
/// reconnection.
#[tracing::instrument(skip_all, fields(tenant_id = %path_param(request, "tenant_id")))]
pub async fn refresh(
    platform: &Platform,
    request: &ApiGatewayV2httpRequest,
    tenant: &TenantConnection,
) -> ApiGatewayV2httpResponse {
    match try_refresh(platform, request, tenant).await {
        Ok(answer) | Err(answer) => *answer,
    }
}

async fn try_refresh(
    platform: &Platform,
    request: &ApiGatewayV2httpRequest,
    tenant: &TenantConnection,
) -> Result<Answer, Answer> {
    let tenant = tenant_state::connected(tenant)?;
    lifecycle::http::require_json(request)?;
    let text = body_text(request).map_err(|message| answer(400, "bad_request", message))?;
    let body: RefreshRequest = if text.trim().is_empty() {
        RefreshRequest::default()
    } else {
        serde_json::from_str(&text).map_err(|error| {
            answer(
                400,
                "bad_request",
                format!("the JSON body is not valid: {error}"),
            )
        })?
    };
    if let Some(days) = body.inactive_after_days
        && !(1..=MAX_INACTIVE_AFTER_DAYS).contains(&days)
    {
        return Err(answer(
            400,
            "bad_request",
            format!("inactive_after_days must be from 1 to {MAX_INACTIVE_AFTER_DAYS}, got {days}"),
        ));
    }
    let job = Job::new(
        tenant.tenant_id.clone(),
        JobKind::LicenseRefresh(LicenseRefreshJob {
            inactive_after_days: body.inactive_after_days,
        }),
    );
    platform
        .store
        .put_new_job_record(&JobRecord::queued(&job, Utc::now()))
        .await
        .map_err(unavailable)?;
    if let Err(error) = platform
        .queue
        .send_job(&platform.config.license_refresh_queue_url, &job)
        .await
    {
        // Nothing was queued: leave no record claiming otherwise.
        let _ = platform
            .store
            .delete_job_record(&job.tenant_id, &job.job_id)
            .await;
        tracing::error!(%error, "license refresh could not be queued");
        return Err(answer(
            503,
            "unavailable",
            "the license refresh could not be queued; try again later",
        ));
    }
    Ok(Box::new(json_response(
        202,
        &crate::answers::RefreshQueued {
            status_url: format!("/tenants/{}/jobs/{}", job.tenant_id, job.job_id),
            report_url: format!("/tenants/{}/licenses/report", job.tenant_id),
            job_id: job.job_id,
            status: lifecycle::model::JobStatus::Queued,
        },
    )))
}
