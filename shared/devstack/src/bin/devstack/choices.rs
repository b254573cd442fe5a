//! The demo's "choose what to sync" step: the tenant's sync settings narrowed (no guests, no
//! disabled accounts, no mailbox usage, every 4 hours), the full run that change queues, the
//! accounts the store keeps then, and the defaults restored (a full run brings everyone back);
//! and the matching step: the platform's people matched to accounts, one match confirmed.

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

/// The demo's matching step: three of the platform's people (one by address, one by a name one
/// letter off, one unknown) matched to the tenant's accounts, and the near one confirmed.
pub(crate) fn match_people(demo: &Demo) -> BoxFuture<'_, anyhow::Result<Outcome>> {
    Box::pin(async move {
        let tenant_id = demo_tenant(demo)?;
        let (_, page) = get_json(demo, &format!("/tenants/{tenant_id}/accounts?limit=5")).await?;
        let accounts = page["accounts"].as_array().cloned().unwrap_or_default();
        let (Some(first), Some(second)) = (accounts.first(), accounts.get(1)) else {
            anyhow::bail!("the tenant has fewer than two synced accounts");
        };
        let mut near_name = second["display_name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        near_name.pop();
        let people = json!({"people": [
            {"id": "crm-1001", "name": "Whatever The CRM Says",
             "emails": [first["upn"].as_str().unwrap_or_default().to_uppercase()]},
            {"id": "crm-1002", "name": near_name, "emails": []},
            {"id": "crm-1003", "name": "Nobody Atall", "emails": ["nobody@example.com"]}
        ]});
        let path = format!("/tenants/{tenant_id}/matches");
        let (status, report) = send(demo, reqwest::Method::POST, &path, Some(people)).await?;
        if status != 200 {
            anyhow::bail!("POST {path} answered {status}: {report}");
        }
        let mut lines = vec![format!("POST {path} (3 people) -> 200")];
        for m in report["matches"].as_array().into_iter().flatten() {
            let best = &m["suggestions"][0];
            lines.push(format!(
                "  {:<9} {:<9} {}",
                m["person_id"].as_str().unwrap_or("?"),
                m["status"].as_str().unwrap_or("?"),
                match m["status"].as_str() {
                    Some("exact") => format!(
                        "{} (by {})",
                        m["account"]["upn"].as_str().unwrap_or("?"),
                        m["matched_by"].as_str().unwrap_or("?")
                    ),
                    Some("suggested") => format!(
                        "{} ({}), score {}",
                        best["account"]["upn"].as_str().unwrap_or("?"),
                        best["account"]["display_name"].as_str().unwrap_or("?"),
                        best["score"]
                    ),
                    _ => "no account".to_owned(),
                }
            ));
        }
        lines.push(format!(
            "  accounts matched to nobody: {}",
            report["unmatched_accounts_total"]
        ));
        let suggested = report["matches"][1]["suggestions"][0]["account"]["id"]
            .as_str()
            .context("no suggestion for the near name")?
            .to_owned();
        let confirm = format!("/tenants/{tenant_id}/matches/crm-1002");
        let (status, confirmed) = send(
            demo,
            reqwest::Method::PUT,
            &confirm,
            Some(json!({"account_id": suggested})),
        )
        .await?;
        lines.push(format!(
            "PUT {confirm} {{\"account_id\":\"{suggested}\"}} -> {status} {}",
            confirmed["status"].as_str().unwrap_or("?")
        ));
        let (_, listed) = get_json(demo, &path).await?;
        lines.push(format!(
            "GET {path} -> {} confirmed match(es)",
            listed["matches"].as_array().map_or(0, Vec::len)
        ));
        Ok(Outcome::Done(lines))
    })
}
