//! The demo's mover step: a licensed account changes job, department, office, manager and
//! country and is renamed (`update_account`: a dry run first, then the job, then the synced
//! account as the API shows it), then goes on leave and comes back (`set_sign_in`).

use anyhow::Context;
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::demo::{Demo, Outcome, demo_tenant, get_json, run_job};

/// The step lines of a finished job, checks left out.
pub(crate) fn step_lines(record: &Value) -> Vec<String> {
    record["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|step| {
            !step["name"]
                .as_str()
                .unwrap_or_default()
                .starts_with("check:")
        })
        .map(|step| {
            format!(
                "  {:<22} {:<8} {}",
                step["name"].as_str().unwrap_or("?"),
                step["outcome"].as_str().unwrap_or("?"),
                step["detail"].as_str().unwrap_or("")
            )
        })
        .collect()
}

pub(crate) fn ended(record: &Value, what: &str) -> anyhow::Result<()> {
    match record["status"].as_str() {
        Some("succeeded") => Ok(()),
        other => anyhow::bail!("{what} ended {}: {}", other.unwrap_or("?"), record["error"]),
    }
}

pub(crate) fn move_account(demo: &Demo) -> BoxFuture<'_, anyhow::Result<Outcome>> {
    Box::pin(async move {
        let tenant_id = demo_tenant(demo)?;
        let sim = demo
            .stack
            .sim()
            .context("the mover is shown on the simulator")?;
        let info = sim
            .tenants()
            .into_iter()
            .find(|t| t.tenant_id == tenant_id)
            .context("the connected tenant is not simulated")?;
        let truth = sim.truth(&tenant_id)?;
        let members: Vec<_> = truth
            .users
            .iter()
            .filter(|u| {
                u.account_enabled
                    && u.user_type == "Member"
                    && !u.on_premises_sync_enabled
                    && !u.user_principal_name.starts_with("admin@")
            })
            .collect();
        // One license, so the offboarding step's account (two or more) is another.
        let mover = members
            .iter()
            .find(|u| u.sku_ids.len() == 1)
            .context("no cloud member with one license")?;
        let manager = members
            .iter()
            .find(|u| u.id != mover.id)
            .context("no second member to be the manager")?;
        let new_upn = format!("demo.moved@{}", info.default_domain);
        let location = if mover.usage_location.as_deref() == Some("DE") {
            "FR"
        } else {
            "DE"
        };
        let mut job = json!({
            "type": "update_account", "dry_run": true, "account": mover.user_principal_name,
            "display_name": mover.display_name, "job_title": "Head of Logistics",
            "department": "Logistics", "office_location": "Building 4",
            "employee_id": "E-10442", "usage_location": location,
            "manager": manager.user_principal_name, "user_principal_name": new_upn
        });
        let mut lines = vec![format!(
            "update_account {} -> {new_upn}: new job, department, office, employee id, country {location}, manager {}",
            mover.user_principal_name, manager.user_principal_name
        )];
        let dry = run_job(demo, &tenant_id, job.clone()).await?;
        ended(&dry, "the dry run")?;
        lines.push(
            "dry run: nothing written; plan (the unchanged display name is not sent):".into(),
        );
        for call in dry["plan"].as_array().into_iter().flatten() {
            lines.push(format!("  {}", call["detail"].as_str().unwrap_or("?")));
        }
        job["dry_run"] = Value::Bool(false);
        let record = run_job(demo, &tenant_id, job).await?;
        lines.push(format!(
            "run -> {}",
            record["status"].as_str().unwrap_or("?")
        ));
        lines.extend(step_lines(&record));
        ended(&record, "the mover")?;
        let (_, stored) =
            get_json(demo, &format!("/tenants/{tenant_id}/accounts/{}", mover.id)).await?;
        lines.push(format!(
            "GET .../accounts/{} -> upn {}, usage location {}",
            mover.id,
            stored["upn"].as_str().unwrap_or("?"),
            stored["usage_location"].as_str().unwrap_or("?")
        ));

        for (sign_in, revoke) in [("blocked", true), ("allowed", false)] {
            let record = run_job(
                demo,
                &tenant_id,
                json!({"type": "set_sign_in", "account": new_upn, "sign_in": sign_in,
                       "revoke_sessions": revoke}),
            )
            .await?;
            lines.push(format!(
                "set_sign_in {sign_in}{} -> {}",
                if revoke { ", revoke sessions" } else { "" },
                record["status"].as_str().unwrap_or("?")
            ));
            lines.extend(
                step_lines(&record)
                    .into_iter()
                    .filter(|line| !line.trim_start().starts_with("validate")),
            );
            ended(&record, "set_sign_in")?;
        }
        Ok(Outcome::Done(lines))
    })
}
