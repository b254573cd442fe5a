//! The demo's group provisioning step: a Microsoft 365 group is created with an owner (a dry
//! run first), given 25 members in one desired-state job, then 10 of them plus 5 others (only
//! the difference is sent, in `$batch` requests of 20), renamed, and deleted.

use anyhow::Context;
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::demo::{Demo, Outcome, demo_tenant, run_job};
use crate::mover::{ended, step_lines};

/// The step lines of a finished job without its checks and validation.
fn lines_of(record: &Value) -> Vec<String> {
    step_lines(record)
        .into_iter()
        .filter(|line| !line.trim_start().starts_with("validate"))
        .collect()
}

pub(crate) fn provision_group(demo: &Demo) -> BoxFuture<'_, anyhow::Result<Outcome>> {
    Box::pin(async move {
        let tenant_id = demo_tenant(demo)?;
        let sim = demo
            .stack
            .sim()
            .context("group provisioning is shown on the simulator")?;
        let truth = sim.truth(&tenant_id)?;
        let people: Vec<_> = truth
            .users
            .iter()
            .filter(|u| u.user_type == "Member" && !u.user_principal_name.starts_with("admin@"))
            .collect();
        anyhow::ensure!(people.len() >= 31, "the demo tenant has too few accounts");
        let owner = &people[0].user_principal_name;
        let create = json!({"type": "create_group", "group_type": "microsoft365",
            "display_name": "Demo Project Falcon", "mail_nickname": "demo-falcon",
            "description": "Made by make demo", "owners": [owner]});
        let mut lines = vec![format!(
            "create_group Demo Project Falcon (Microsoft 365, demo-falcon), owner {owner}"
        )];
        let mut dry = create.clone();
        dry["dry_run"] = Value::Bool(true);
        let record = run_job(demo, &tenant_id, dry).await?;
        ended(&record, "the dry run")?;
        lines.push("dry run: nothing written; plan:".into());
        for call in record["plan"].as_array().into_iter().flatten() {
            lines.push(format!("  {}", call["detail"].as_str().unwrap_or("?")));
        }
        let record = run_job(demo, &tenant_id, create).await?;
        ended(&record, "create_group")?;
        lines.extend(lines_of(&record));
        let group = sim
            .truth(&tenant_id)?
            .groups
            .into_iter()
            .find(|g| g.display_name == "Demo Project Falcon")
            .context("the created group is not in the tenant")?;

        let first: Vec<&str> = people[1..26].iter().map(|u| u.id.as_str()).collect();
        let mut second: Vec<&str> = people[1..11].iter().map(|u| u.id.as_str()).collect();
        second.extend(
            people[26..31]
                .iter()
                .map(|u| u.user_principal_name.as_str()),
        );
        for (what, members) in [("25 accounts", first), ("10 of them and 5 others", second)] {
            let batches = sim
                .stats()
                .by_route
                .get("POST /v1.0/$batch")
                .copied()
                .unwrap_or(0);
            let record = run_job(
                demo,
                &tenant_id,
                json!({"type": "set_group_members", "group": group.id, "members": members}),
            )
            .await?;
            ended(&record, "set_group_members")?;
            let sent = sim
                .stats()
                .by_route
                .get("POST /v1.0/$batch")
                .copied()
                .unwrap_or(0)
                - batches;
            lines.push(format!(
                "set_group_members to {what} -> {sent} $batch requests (look-ups and changes)"
            ));
            lines.extend(lines_of(&record));
        }
        for (kind, fields) in [
            (
                "update_group",
                json!({"group": group.id, "display_name": "Demo Project Falcon (EMEA)"}),
            ),
            ("delete_group", json!({"group": group.id})),
        ] {
            let mut job = fields;
            job["type"] = json!(kind);
            let record = run_job(demo, &tenant_id, job).await?;
            ended(&record, kind)?;
            lines.push(format!(
                "{kind} -> {}",
                record["status"].as_str().unwrap_or("?")
            ));
            lines.extend(lines_of(&record));
        }
        Ok(Outcome::Done(lines))
    })
}
