//! The demo's passwordless joiner: an onboarding that asks for a Temporary Access Pass instead of
//! a password, the pass handed back once through the job's hand-over (its value never printed),
//! and the second pickup refused.

use anyhow::Context;
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::demo::{Demo, Outcome, demo_tenant, get_json, run_job};

pub(crate) fn passwordless_joiner(demo: &Demo) -> BoxFuture<'_, anyhow::Result<Outcome>> {
    Box::pin(async move {
        let tenant_id = demo_tenant(demo)?;
        let sim = demo
            .stack
            .sim()
            .context("the passwordless joiner is shown on the simulator")?;
        let domain = sim
            .tenants()
            .into_iter()
            .find(|t| t.tenant_id == tenant_id)
            .context("the connected tenant is not simulated")?
            .default_domain;
        let upn = format!("demo.passwordless@{domain}");
        let record = run_job(
            demo,
            &tenant_id,
            json!({
                "type": "onboard", "given_name": "Demo", "surname": "Passwordless",
                "display_name": "Demo Passwordless", "mail_nickname": "demo.passwordless",
                "user_principal_name": upn, "usage_location": "US",
                "password": {"source": "temporary_access_pass", "lifetime_minutes": 120,
                             "one_time_use": true}
            }),
        )
        .await?;
        let status = text(&record["status"]);
        let mut lines = vec![format!(
            "onboard {upn} with a Temporary Access Pass (120 minutes, one sign-in) -> {status}"
        )];
        for step in record["steps"].as_array().into_iter().flatten() {
            let name = step["name"].as_str().unwrap_or_default();
            if name.starts_with("check:") {
                continue;
            }
            lines.push(format!(
                "  {name:<32} {:<8} {}",
                text(&step["outcome"]),
                step["detail"].as_str().unwrap_or_default()
            ));
        }
        if status != "succeeded" {
            anyhow::bail!(
                "the passwordless onboarding ended {status}: {}",
                record["error"]
            );
        }

        let pickup = format!(
            "/tenants/{tenant_id}/jobs/{}/password",
            record["job_id"].as_str().unwrap_or_default()
        );
        let (first, handed) = get_json(demo, &pickup).await?;
        let length = handed["password"].as_str().map_or(0, str::len);
        let (second, _) = get_json(demo, &pickup).await?;
        lines.push(format!(
            "GET .../password -> {first}: the pass handed back once ({length} characters, not shown here); \
             again -> {second}"
        ));
        if first != 200 || length == 0 || second == 200 {
            anyhow::bail!("the pass was not handed back exactly once ({first}, then {second})");
        }
        lines.push(
            "the pass is in Graph's answer and the one-time hand-over only: no job record, step, log line or event holds it"
                .to_owned(),
        );
        Ok(Outcome::Done(lines))
    })
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("?")
}
