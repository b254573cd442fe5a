//! The demo's scheduled-leave and job-list step: an offboarding dated next month shown parked (and
//! in its dry run, when it would run), then cancelled; three offboardings and one bad job sent as
//! one list, each answered and run on its own.

use anyhow::Context;
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::demo::{Demo, Outcome, demo_tenant, finished_job, get_json, send};

/// How long the demo waits for the parked job to show.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

pub(crate) fn scheduled_leave_and_list(demo: &Demo) -> BoxFuture<'_, anyhow::Result<Outcome>> {
    Box::pin(async move {
        let tenant_id = demo_tenant(demo)?;
        let sim = demo
            .stack
            .sim()
            .context("scheduled leave is shown on the simulator")?;
        let members: Vec<String> = sim
            .truth(&tenant_id)?
            .users
            .iter()
            .filter(|u| {
                u.account_enabled
                    && u.user_type == "Member"
                    && !u.user_principal_name.starts_with("admin@")
            })
            .map(|u| u.user_principal_name.clone())
            .take(4)
            .collect();
        let [leaver, rest @ ..] = members.as_slice() else {
            anyhow::bail!("no member account to offboard");
        };
        let leave = chrono::Utc::now() + chrono::Duration::days(30);
        let leave_at = leave.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let jobs = format!("/tenants/{tenant_id}/jobs");
        let mut lines = Vec::new();

        // The dry run says when it would run.
        let (_, dry) = send(
            demo,
            reqwest::Method::POST,
            &jobs,
            Some(json!({"type": "offboard", "account": leaver, "start_at": leave_at, "dry_run": true})),
        )
        .await?;
        let dry = finished_job(demo, dry["status_url"].as_str().unwrap_or_default()).await?;
        let when = step_detail(&dry, "wait_for_start").unwrap_or("?");
        lines.push(format!(
            "dry run of the leave of {leaver} -> {}: {when}",
            text(&dry["status"])
        ));

        // The real one is parked, then cancelled.
        let (code, accepted) = send(
            demo,
            reqwest::Method::POST,
            &jobs,
            Some(json!({"type": "offboard", "account": leaver, "start_at": leave_at})),
        )
        .await?;
        if code != 202 {
            anyhow::bail!("POST {jobs} answered {code}: {accepted}");
        }
        let status_url = accepted["status_url"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        lines.push(format!(
            "POST {jobs} (offboard, start_at {leave_at}) -> {code}, job {}",
            text(&accepted["job_id"])
        ));
        let parked = parked_record(demo, &status_url).await?;
        lines.push(format!(
            "  parked: status {}, wait_for_start {}: {}",
            text(&parked["status"]),
            text(&step(&parked, "wait_for_start")["outcome"]),
            step_detail(&parked, "wait_for_start").unwrap_or("?")
        ));
        let (code, cancelled) = send(demo, reqwest::Method::DELETE, &status_url, None).await?;
        lines.push(format!(
            "DELETE {status_url} -> {code}, status {}",
            text(&cancelled["status"])
        ));
        if code != 200 || cancelled["status"] != "cancelled" {
            anyhow::bail!("the cancellation answered {code}: {cancelled}");
        }
        let (code, again) = send(demo, reqwest::Method::DELETE, &status_url, None).await?;
        lines.push(format!(
            "  again -> {code} (the same cancellation), status {}",
            text(&again["status"])
        ));

        // A list of jobs: three offboardings (dry runs, so the tenant keeps its accounts for the
        // steps after this one) and one bad job.
        let mut list: Vec<Value> = rest
            .iter()
            .map(|upn| json!({"type": "offboard", "account": upn, "dry_run": true}))
            .collect();
        list.push(
            json!({"type": "offboard", "account": leaver, "policy": "shred", "dry_run": true}),
        );
        let (code, answer) = send(
            demo,
            reqwest::Method::POST,
            &jobs,
            Some(json!({"jobs": list})),
        )
        .await?;
        lines.push(format!(
            "POST {jobs} {{\"jobs\":[{} jobs]}} -> {code}: accepted {}, refused {}",
            list.len(),
            answer["accepted"],
            answer["refused"]
        ));
        for result in answer["results"].as_array().into_iter().flatten() {
            match result["error"]["message"].as_str() {
                Some(message) => lines.push(format!(
                    "  [{}] {} {message}",
                    result["index"], result["http_status"]
                )),
                None => {
                    let url = result["status_url"].as_str().unwrap_or_default();
                    let record = finished_job(demo, url).await?;
                    lines.push(format!(
                        "  [{}] {} job {} -> {}",
                        result["index"],
                        result["http_status"],
                        text(&result["job_id"]),
                        text(&record["status"])
                    ));
                }
            }
        }
        if code != 207 || answer["refused"] != 1 {
            anyhow::bail!("the list answered {code}: {answer}");
        }
        Ok(Outcome::Done(lines))
    })
}

/// The record at `status_url` once its `wait_for_start` step is pending (the job is parked).
async fn parked_record(demo: &Demo, status_url: &str) -> anyhow::Result<Value> {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let (_, record) = get_json(demo, status_url).await?;
        if step(&record, "wait_for_start")["outcome"] == "pending" {
            return Ok(record);
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!("job {status_url} not parked after {PATIENCE:?}: {record}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn step<'a>(record: &'a Value, name: &str) -> &'a Value {
    record["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["name"] == name))
        .unwrap_or(&Value::Null)
}

fn step_detail<'a>(record: &'a Value, name: &str) -> Option<&'a str> {
    step(record, name)["detail"].as_str()
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("?")
}
