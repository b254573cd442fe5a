//! The demo's offboarding step: the licensed member in the most groups offboarded with three
//! opt-in options, and what Graph and the platform show afterwards.

use anyhow::Context;
use futures::future::BoxFuture;

use crate::demo::{Demo, Outcome, demo_tenant, receipt_summary, run_job, send};

pub(crate) fn offboard(demo: &Demo) -> BoxFuture<'_, anyhow::Result<Outcome>> {
    Box::pin(async move {
        let tenant_id = demo_tenant(demo)?;
        let sim = demo
            .stack
            .sim()
            .context("offboarding is shown on the simulator")?;
        let truth = sim.truth(&tenant_id)?;
        // The licensed member in the most groups: the most to undo.
        let target = truth
            .users
            .iter()
            .filter(|u| u.account_enabled && u.user_type == "Member" && u.sku_ids.len() >= 2)
            .max_by_key(|u| {
                truth
                    .groups
                    .iter()
                    .filter(|g| g.member_ids.contains(&u.id))
                    .count()
            })
            .context("no licensed member account")?
            .clone();
        let groups_before = truth
            .groups
            .iter()
            .filter(|g| g.member_ids.contains(&target.id))
            .count();
        // Three opt-in options: registered devices and enterprise app access go too, and the
        // mailbox answers with an automatic reply (the person's own is kept in the snapshot).
        let job = serde_json::json!({
            "type": "offboard", "account": target.user_principal_name, "policy": "delete",
            "remove_authentication_methods": true, "remove_app_role_assignments": true,
            "automatic_reply": {"internal_message": "I have left the company; please write to hr@contoso.com"}
        });
        let record = run_job(demo, &tenant_id, job).await?;
        let status = record["status"].as_str().unwrap_or("?").to_owned();
        let mut lines = vec![format!(
            "offboard {} ({} groups, {} licenses; policy delete) -> {status}",
            target.user_principal_name,
            groups_before,
            target.sku_ids.len()
        )];
        if status != "succeeded" {
            anyhow::bail!("the offboarding ended {status}: {}", record["error"]);
        }
        let after = sim.truth(&tenant_id)?;
        let reply_status = |truth: &graph_sim::Truth| {
            truth
                .users
                .iter()
                .find(|u| u.id == target.id)
                .and_then(|u| u.automatic_reply.clone())
                .map_or_else(|| "disabled (never set)".to_owned(), |(status, _)| status)
        };
        lines.push(format!(
            "simulator: in deleted items {}, still member of {} group(s)",
            after.deleted_user_ids.contains(&target.id),
            after
                .groups
                .iter()
                .filter(|g| g.member_ids.contains(&target.id))
                .count()
        ));

        // The receipt: who, when, each step with its request-id and read-back, what was not done.
        let job_id = record["job_id"].as_str().unwrap_or_default().to_owned();
        let (code, receipt) = send(
            demo,
            reqwest::Method::GET,
            &format!("/tenants/{tenant_id}/jobs/{job_id}/receipt"),
            None,
        )
        .await?;
        if code != 200 {
            anyhow::bail!("receipt answered {code}: {receipt}");
        }
        lines.extend(receipt_summary(&receipt));
        // One call gives back what the snapshot holds, and sign-in with enable: true.
        let (code, restored) = send(
            demo,
            reqwest::Method::POST,
            &format!("/tenants/{tenant_id}/accounts/{}/restore", target.id),
            Some(serde_json::json!({"enable": true})),
        )
        .await?;
        if code != 200 {
            anyhow::bail!("restore answered {code}: {restored}");
        }
        lines.push(format!(
            "POST .../accounts/{}/restore {{\"enable\": true}} -> {code}; complete: {}",
            target.id, restored["complete"]
        ));
        for step in restored["steps"].as_array().into_iter().flatten() {
            lines.push(format!(
                "  {:<23} {:<8} request-id {}",
                step["name"].as_str().unwrap_or_default(),
                step["outcome"].as_str().unwrap_or("?"),
                step["graph_request_id"].as_str().unwrap_or("-")
            ));
        }
        let back = sim.truth(&tenant_id)?;
        let account = back.users.iter().find(|u| u.id == target.id);
        let groups_back = back
            .groups
            .iter()
            .filter(|g| g.member_ids.contains(&target.id))
            .count();
        lines.push(format!(
            "simulator: back in the tenant {}, sign-in enabled {}, in {groups_back} of {groups_before} group(s), {} of {} license(s)",
            account.is_some(),
            account.is_some_and(|u| u.account_enabled),
            account.map_or(0, |u| u.sku_ids.len()),
            target.sku_ids.len()
        ));
        // Removed devices and app access stay removed: a restore cannot re-register them.
        lines.push(format!(
            "simulator: authentication methods besides the password {} before, {} now; app role assignments {} before, {} now",
            target.auth_methods.len(),
            account.map_or(0, |u| u.auth_methods.len()),
            target.app_role_assignment_ids.len(),
            account.map_or(0, |u| u.app_role_assignment_ids.len())
        ));
        // The person's own automatic reply is back (the offboarding's was on meanwhile: its
        // `set_automatic_reply` step above).
        lines.push(format!(
            "simulator: automatic reply {} before the offboarding, {} after the restore",
            target
                .automatic_reply
                .clone()
                .map_or_else(|| "disabled (never set)".to_owned(), |(status, _)| status),
            reply_status(&back)
        ));
        Ok(Outcome::Done(lines))
    })
}
