//! `GET /tenants/{tenant_id}/jobs/{job_id}/receipt`: the receipt of a finished job
//! ([`lifecycle::receipt`]) — who asked, when, each step with its Graph request-id and read-back,
//! what could not be done and why — as JSON, or as a printable HTML page with `Accept: text/html`.
//! The answer carries the SHA-256 digest of the receipt's canonical JSON and the digest kept with
//! the job record when it ended, and whether they match.
//!
//! Tenant-scoped like every route: the router has checked that the tenant is the caller's, and
//! the job is read under that tenant's key only (another organization's job is a 404).

use std::fmt::Write as _;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use http::header;
use lifecycle::http::{escape_html as escape, html_response, json_response, path_param};
use lifecycle::receipt::{Observed, Receipt};
use lifecycle::{JobId, Store, TenantId};
use serde::Serialize;

use crate::{Answer, answer};

/// How the digest was made and whether it matches the one kept with the job record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DigestCheck {
    pub algorithm: &'static str,
    pub of: &'static str,
    /// The digest of this receipt.
    pub value: String,
    /// The digest kept with the job record when the job ended.
    pub recorded: Option<String>,
    pub matches: bool,
}

/// The JSON answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ReceiptAnswer {
    pub receipt: Receipt,
    pub digest: DigestCheck,
}

/// `GET /tenants/{tenant_id}/jobs/{job_id}/receipt`: 200 (JSON, or HTML with `Accept: text/html`);
/// 404 for an unknown job; 409 while the job has not ended.
#[tracing::instrument(skip_all, fields(tenant_id = %path_param(request, "tenant_id"), job_id = %path_param(request, "job_id")))]
pub async fn receipt(store: &Store, request: &ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    match try_receipt(store, request).await {
        Ok(answer) | Err(answer) => *answer,
    }
}

async fn try_receipt(store: &Store, request: &ApiGatewayV2httpRequest) -> Result<Answer, Answer> {
    let tenant_id = TenantId::parse(path_param(request, "tenant_id"))
        .map_err(|error| answer(400, "bad_request", error))?;
    let job_id = JobId::parse(path_param(request, "job_id"))
        .map_err(|error| answer(400, "bad_request", format!("job_id: {error}")))?;
    let record = store
        .job_record(&tenant_id, &job_id)
        .await
        .map_err(|error| {
            tracing::error!(%error, "job record not readable");
            answer(
                503,
                "unavailable",
                "the store could not be read; try again later",
            )
        })?
        .ok_or_else(|| {
            answer(
                404,
                "not_found",
                format!("job {job_id} is not known for tenant {tenant_id}"),
            )
        })?;
    if !record.status.is_finished() {
        return Err(answer(
            409,
            "not_finished",
            format!(
                "job {job_id} has not ended yet: a receipt is issued when it ends; ask again later"
            ),
        ));
    }
    let receipt = Receipt::issued(&record);
    let value = receipt.digest();
    let digest = DigestCheck {
        algorithm: "SHA-256",
        of: "the canonical JSON of `receipt`: object keys sorted, no whitespace, UTF-8",
        matches: record.receipt_digest.as_deref() == Some(value.as_str()),
        recorded: record.receipt_digest.clone(),
        value,
    };
    let body = ReceiptAnswer { receipt, digest };
    Ok(Box::new(if wants_html(request) {
        html_response(200, render(&body))
    } else {
        json_response(200, &body)
    }))
}

/// Whether the caller asked for HTML (`Accept` naming `text/html`).
fn wants_html(request: &ApiGatewayV2httpRequest) -> bool {
    request
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept.split(',').any(|part| {
                part.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .eq_ignore_ascii_case("text/html")
            })
        })
}

fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The printable page: every value escaped.
fn render(body: &ReceiptAnswer) -> String {
    let r = &body.receipt;
    let mut html = String::new();
    let row = |html: &mut String, label: &str, value: &str| {
        let _ = write!(
            html,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(label),
            escape(value)
        );
    };
    html.push_str("<table class=\"facts\">");
    row(&mut html, "Tenant", &r.tenant_id);
    row(&mut html, "Job", &format!("{} ({})", r.job_id, r.job_type));
    if let Some(account) = &r.account {
        row(&mut html, "Account", account);
    }
    if let Some(policy) = &r.policy {
        row(&mut html, "Policy", policy);
    }
    let who = r.submitted_by.as_ref().map_or_else(
        || "a platform service, on the queue directly".to_owned(),
        |s| match &s.subject {
            Some(subject) => format!("{subject} (organization {})", s.org_id),
            None => format!("organization {}", s.org_id),
        },
    );
    row(&mut html, "Requested by", &who);
    row(&mut html, "Accepted", &r.accepted_at.to_rfc3339());
    row(
        &mut html,
        "Ended",
        &r.completed_at
            .map_or_else(|| "-".to_owned(), |at| at.to_rfc3339()),
    );
    row(&mut html, "Outcome", &json_text(&r.status));
    if r.dry_run {
        row(&mut html, "Dry run", "yes: nothing was written");
    }
    if let Some(error) = &r.error {
        row(&mut html, "Error", error);
    }
    if let Some(before) = &r.before {
        row(&mut html, "Before", before);
    }
    html.push_str("</table><h2>Steps</h2><table class=\"steps\"><tr><th>Step</th><th>Outcome</th><th>When</th><th>Graph request-id</th><th>What happened</th><th>Read back from Graph</th></tr>");
    for step in &r.steps {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            escape(&step.name),
            escape(&json_text(&step.outcome)),
            escape(&step.at.map_or_else(String::new, |at| at.to_rfc3339())),
            escape(step.graph_request_id.as_deref().unwrap_or("-")),
            escape(step.detail.as_deref().unwrap_or_default()),
            step.observed
                .iter()
                .map(|o| escape(&observed_text(o)))
                .collect::<Vec<_>>()
                .join("<br>"),
        );
    }
    html.push_str("</table>");
    if !r.not_done.is_empty() {
        html.push_str("<h2>Not done, and why</h2><ul>");
        for item in &r.not_done {
            let _ = write!(
                html,
                "<li><b>{}</b>: {}</li>",
                escape(&item.step),
                escape(&item.reason)
            );
        }
        html.push_str("</ul>");
    }
    let d = &body.digest;
    let _ = write!(
        html,
        "<h2>Digest</h2><p>{} of {}: <code>{}</code><br>kept with the job record: <code>{}</code> — {}</p>",
        escape(d.algorithm),
        escape(d.of),
        escape(&d.value),
        escape(d.recorded.as_deref().unwrap_or("none")),
        if d.matches {
            "matches"
        } else {
            "DOES NOT MATCH"
        }
    );
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\">\
<title>Receipt of job {}</title><style>{STYLE}</style></head><body><h1>Receipt of job {}</h1>{html}\
<footer>{}</footer></body></html>",
        escape(&r.job_id),
        escape(&r.job_id),
        escape(r.receipt)
    )
}

const STYLE: &str = "body{font:14px/1.5 system-ui,'Segoe UI',Roboto,sans-serif;color:#1f2933;margin:32px}\
h1{font-size:22px}h2{font-size:17px;margin-top:24px}table{border-collapse:collapse;width:100%}\
th,td{border:1px solid #cbd2d9;padding:6px 8px;text-align:left;vertical-align:top}\
table.facts th{width:160px;background:#f5f7fa}code{font-size:12px}footer{margin-top:24px;color:#616e7c}\
@media print{body{margin:0}}";

/// One read-back for a person: `property = value (request-id …)`.
fn observed_text(observed: &Observed) -> String {
    match observed {
        Observed::Read(read) => format!(
            "{} = {} (request-id {})",
            read.property,
            read.value,
            read.graph_request_id.as_deref().unwrap_or("-")
        ),
        Observed::Text(text) => text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_markup_in_a_value_when_escaped_then_it_is_inert() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }
}
