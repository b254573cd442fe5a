//! The demo's "choose what to sync" step: the tenant's sync settings narrowed (no guests, no
//! disabled accounts, no mailbox usage, every 4 hours), the full run that change queues, the
//! accounts the store keeps then, and the defaults restored (a full run brings everyone back).

use anyhow::Context;
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::demo::{Demo, Outcome, demo_tenant, describe_run, finished_run, get_json, send};

/// How many accounts the API lists for the tenant (one page of up to 1,000).
async fn account_count(demo: &Demo, tenant_id: &str) -> anyhow::Result<usize> {
    let (_, page) = get_json(demo, &format!("/tenants/{tenant_id}/accounts?limit=1000")).await?;
    Ok(page["accounts"].as_array().map_or(0, Vec::len))
}

/// Puts `settings`, waits for the full run the change queues, and says what happened.
async fn change(
    demo: &Demo,
    tenant_id: &str,
    settings: Value,
    lines: &mut Vec<String>,
) -> anyhow::Result<()> {
    let path = format!("/tenants/{tenant_id}/sync-settings");
    let (status, stored) = send(demo, reqwest::Method::PUT, &path, Some(settings.clone())).await?;
    if status != 200 {
        anyhow::bail!("PUT {path} answered {status}: {stored}");
    }
    let run_id = stored["sync_run_id"]
        .as_str()
        .context("the change queued no full run")?;
    lines.push(format!(
        "PUT {path} {settings} -> 200, every {} min, full run {run_id} queued",
        stored["interval_minutes"]
    ));
    let run = crate::demo::progress(
        "the full run applies the settings",
        finished_run(demo, tenant_id, run_id),
    )
    .await?;
    lines.push(format!("  run {}", describe_run(&run)));
    lines.push(format!(
        "  GET /tenants/{tenant_id}/accounts -> {} accounts",
        account_count(demo, tenant_id).await?
    ));
    Ok(())
}

pub(crate) fn sync_settings(demo: &Demo) -> BoxFuture<'_, anyhow::Result<Outcome>> {
    Box::pin(async move {
        let tenant_id = demo_tenant(demo)?;
        let path = format!("/tenants/{tenant_id}/sync-settings");
        let (_, defaults) = get_json(demo, &path).await?;
        let mut lines = vec![format!(
            "GET {path} -> kinds {}, accounts {}, every {} min; {} accounts stored",
            defaults["kinds"],
            defaults["accounts"],
            defaults["interval_minutes"],
            account_count(demo, &tenant_id).await?
        )];
        let (status, refused) = send(
            demo,
            reqwest::Method::PUT,
            &path,
            Some(json!({"interval_minutes": 5})),
        )
        .await?;
        lines.push(format!(
            "PUT {path} {{\"interval_minutes\":5}} -> {status} {} ({})",
            refused["error"]["field"].as_str().unwrap_or("?"),
            refused["error"]["message"].as_str().unwrap_or("?")
        ));
        change(
            demo,
            &tenant_id,
            json!({"kinds": {"mailboxes": false},
                   "accounts": {"exclude_guests": true, "exclude_disabled": true},
                   "interval_minutes": 240}),
            &mut lines,
        )
        .await?;
        change(demo, &tenant_id, json!({}), &mut lines).await?;
        Ok(Outcome::Done(lines))
    })
}
