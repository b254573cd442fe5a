//! `devstack demo`: starts the local stack and walks through every capability, one step each.
//!
//! [`STEPS`] is the table: a title and an async function. A capability that lands replaces its
//! step's body (or adds a step); a step whose capability has not landed returns
//! [`Outcome::NotLanded`] and the demo says so plainly. The demo fails (exit 1) only when a step
//! that has landed fails.

use std::future::Future;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use devstack::Stack;
use futures::future::BoxFuture;
use serde_json::Value;

/// What a step reports.
pub(crate) enum Outcome {
    /// Done; the lines say what happened.
    Done(Vec<String>),
    /// The capability is not built yet; the text names it. (Every step has landed today; the
    /// variant stays for the next capability.)
    #[allow(dead_code)]
    NotLanded(&'static str),
}

/// What steps hand to later steps (the connected tenant, the onboarded account, ...).
#[derive(Debug, Default)]
pub(crate) struct DemoState {
    /// The simulated tenant the demo connects and works with.
    pub tenant_id: Option<String>,
}

/// The running stack and what the steps share.
pub(crate) struct Demo {
    pub stack: Stack,
    pub http: reqwest::Client,
    pub state: Mutex<DemoState>,
}

type Step = for<'a> fn(&'a Demo) -> BoxFuture<'a, anyhow::Result<Outcome>>;

/// The platform organization the demo acts for (the org claim of its token).
pub(crate) const DEMO_ORG: &str = "demo";

/// The walk-through, in order.
const STEPS: &[(&str, Step)] = &[
    ("The HTTP API answers", health),
    ("The simulated Microsoft 365 tenants", tenants),
    ("Connect a tenant (admin consent)", crate::connect::connect),
    ("Sync the tenant", sync),
    ("Accounts and licenses", accounts_and_licenses),
    ("Choose what to sync", crate::choices::sync_settings),
    (
        "Match the platform's people to accounts",
        crate::choices::match_people,
    ),
    ("Onboard an account", onboard),
    (
        "A passwordless joiner (Temporary Access Pass)",
        crate::passwordless::passwordless_joiner,
    ),
    (
        "Move an account; leave and return (update_account, set_sign_in)",
        crate::mover::move_account,
    ),
    (
        "Provision a group (create_group, set_group_members, update_group, delete_group)",
        crate::groups::provision_group,
    ),
    ("Offboard an account", crate::offboard::offboard),
    (
        "Scheduled leave, cancelled; a list of jobs",
        crate::scheduled::scheduled_leave_and_list,
    ),
    ("Refresh licenses", license_refresh),
    ("Remove the tenant", remove),
];

pub(crate) async fn run() -> anyhow::Result<()> {
    println!("m365-lifecycle demo: the whole system on this machine\n");
    let started = Instant::now();
    let stack = progress(
        "starting moto, the Graph simulator and the functions of infra/template.yaml",
        crate::start(0, 1.0),
    )
    .await?;
    println!("  HTTP API   {}", stack.api_url());
    println!("  AWS (moto) {}", stack.moto_endpoint());
    println!("  Graph      {}", stack.graph_base_url());
    // The demo calls the API as a platform service of organization "demo" would: with a bearer
    // token of the local issuer (the template's JWT authorizer checks it).
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {}", stack.token(DEMO_ORG)))
            .context("the token is not a header value")?,
    );
    println!("  Token      for org {DEMO_ORG} (Authorization: Bearer ...)");
    let demo = Demo {
        http: reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .context("HTTP client")?,
        stack,
        state: Mutex::new(DemoState::default()),
    };

    let (mut done, mut not_landed, mut failed) = (0, 0, 0);
    for (i, (title, step)) in STEPS.iter().enumerate() {
        println!("\n[{}/{}] {title}", i + 1, STEPS.len());
        match step(&demo).await {
            Ok(Outcome::Done(lines)) => {
                done += 1;
                for line in lines {
                    println!("      {line}");
                }
            }
            Ok(Outcome::NotLanded(what)) => {
                not_landed += 1;
                println!("      not landed yet: {what}");
            }
            Err(error) => {
                failed += 1;
                println!("      FAILED: {error:#}");
            }
        }
    }
    println!(
        "\n{done} steps done, {not_landed} not landed yet, {failed} failed ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    demo.stack.shutdown().await;
    if failed > 0 {
        anyhow::bail!("{failed} demo step(s) failed");
    }
    Ok(())
}

/// Runs a long step, printing a dot every second so the user sees it is alive.
pub(crate) async fn progress<T>(label: &str, work: impl Future<Output = T>) -> T {
    print!("  {label} ");
    let _ = std::io::stdout().flush();
    let started = Instant::now();
    let mut work = std::pin::pin!(work);
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.tick().await;
    let value = loop {
        tokio::select! {
            value = &mut work => break value,
            _ = ticks.tick() => {
                print!(".");
                let _ = std::io::stdout().flush();
            }
        }
    };
    println!(" done ({:.1} s)", started.elapsed().as_secs_f64());
    value
}

pub(crate) async fn get_json(demo: &Demo, path: &str) -> anyhow::Result<(u16, Value)> {
    send(demo, reqwest::Method::GET, path, None).await
}

fn health(demo: &Demo) -> BoxFuture<'_, anyhow::Result<Outcome>> {
    Box::pin(async move {
        let (status, body) = get_json(demo, "/health").await?;
        if status != 200 {
            anyhow::bail!("GET /health answered {status}: {body}");
        }
        Ok(Outcome::Done(vec![format!(
            "GET /health -> {status} {body}"
        )]))
    })
}

fn tenants(demo: &Demo) -> BoxFuture<'_, anyhow::Result<Outcome>> {
    Box::pin(async move {
        let Some(sim) = demo.stack.sim() else {
            return Ok(Outcome::Done(vec![format!(
                "an external Graph is in use ({}); no simulated tenants",
                demo.stack.graph_base_url()
            )]));
        };
        let tenants = sim.tenants();
        let mut lines = Vec::with_capacity(tenants.len());
        for tenant in &tenants {
            lines.push(format!(
                "{:<28} {}  {:<24} {:>3} users {:>3} groups  P1: {}{}",
                tenant.display_name,
                tenant.tenant_id,
                tenant.default_domain,
                tenant.users,
                tenant.groups,
                if tenant.has_p1 { "yes" } else { "no" },
                if tenant.customers.is_empty() {
                    String::new()
                } else {
                    format!("  (GDAP partner of {} tenants)", tenant.customers.len())
                }
            ));
        }
        if let (Ok(mut state), Some(first)) = (
            demo.state.lock(),
            tenants.iter().find(|t| t.customers.is_empty()),
        ) {
            state.tenant_id = Some(first.tenant_id.clone());
        }
        Ok(Outcome::Done(lines))
    })
}

fn sync(demo: &Demo) -> BoxFuture<'_, anyhow::Result<Outcome>> {
    Box::pin(async move {
        let tenant_id = demo_tenant(demo)?;
        let (_, tenant) = get_json(demo, &format!("/tenants/{tenant_id}")).await?;
        let first_id = tenant["last_sync"]["sync_run_id"]
            .as_str()
            .context("the tenant shows no first sync")?
            .to_owned();
        let first = progress(
            "the first sync (queued at connect) runs on the sync queue",
            finished_run(demo, &tenant_id, &first_id),
        )
        .await?;
        let mut lines = vec![format!("first sync {}", describe_run(&first))];
        // Change the tenant in the simulator, then ask for a sync through the API.
        if let Some(sim) = demo.stack.sim() {
            let change = graph_sim::Mutation {
                add_users: 3,
                delete_users: 1,
                add_memberships: 5,
                remove_memberships: 2,
                ..graph_sim::Mutation::default()
            };
            let report = sim.mutate(&tenant_id, &change)?;
            lines.push(format!(
                "in the tenant: {} accounts added, {} deleted, {} memberships added, {} removed",
                report.added_users.len(),
                report.deleted_users.len(),
                report.added_memberships.len(),
                report.removed_memberships.len()
            ));
        }
        let url = format!("{}/tenants/{tenant_id}/sync", demo.stack.api_url());
        let response = demo.http.post(&url).send().await.context("POST sync")?;
        let status = response.status().as_u16();
        let queued: Value = response.json().await?;
        if status != 202 {
            anyhow::bail!("POST /tenants/{tenant_id}/sync answered {status}: {queued}");
        }
        let run_id = queued["sync_run_id"]
            .as_str()
            .context("no run id")?
            .to_owned();
        lines.push(format!(
            "POST /tenants/{tenant_id}/sync -> 202, run {run_id}"
        ));
        // A second request while that run is pending is merged into it: no second run.
        let again: Value = demo
            .http
            .post(&url)
            .send()
            .await
            .context("POST sync again")?
            .json()
            .await?;
        lines.push(format!(
            "POST /tenants/{tenant_id}/sync again -> {} run {}",
            if again["merged"] == true {
                "merged into the pending"
            } else {
                "queued"
            },
            again["sync_run_id"].as_str().unwrap_or("?")
        ));
        let second = progress(
            "the requested sync applies the changes (delta)",
            finished_run(demo, &tenant_id, &run_id),
        )
        .await?;
        lines.push(format!("requested sync {}", describe_run(&second)));
        let (_, log) = get_json(demo, &format!("/tenants/{tenant_id}/sync-runs")).await?;
        lines.push(format!(
            "GET /tenants/{tenant_id}/sync-runs -> {} runs; last sync {} at {}, next due {}",
            log["sync_runs"].as_array().map_or(0, Vec::len),
            log["last_sync"]["status"].as_str().unwrap_or("?"),
            log["last_sync"]["at"].as_str().unwrap_or("?"),
            log["next_sync_due"].as_str().unwrap_or("?")
        ));
        Ok(Outcome::Done(lines))
    })
}

/// Waits (up to 120 s) until the sync run has ended, and returns it.
pub(crate) async fn finished_run(
    demo: &Demo,
    tenant_id: &str,
    run_id: &str,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, log) = get_json(demo, &format!("/tenants/{tenant_id}/sync-runs?limit=50")).await?;
        let run = log["sync_runs"]
            .as_array()
            .and_then(|runs| runs.iter().find(|run| run["id"] == run_id))
            .cloned();
        if let Some(run) = run
            && matches!(run["status"].as_str(), Some("ok" | "partial" | "failed"))
        {
            if run["status"] == "failed" {
                anyhow::bail!("sync run {run_id} failed: {}", run["error"]);
            }
            return Ok(run);
        }
        if Instant::now() > deadline {
            anyhow::bail!("sync run {run_id} did not end within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// One line about a finished run: status, kind, counts, Graph cost, duration.
pub(crate) fn describe_run(run: &Value) -> String {
    let counts = &run["counts"];
    let kind = |name: &str| {
        let c = &counts[name];
        format!("{name} +{} ~{} -{}", c["added"], c["changed"], c["removed"])
    };
    let seconds = match (
        run["started_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()),
        run["ended_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()),
    ) {
        (Some(start), Some(end)) => (end - start).num_milliseconds() as f64 / 1000.0,
        _ => 0.0,
    };
    format!(
        "{} ({}, {seconds:.1} s): {}, {}, {}, {}; Graph requests {}, retries {}, throttled {}",
        run["status"].as_str().unwrap_or("?"),
        if run["full"] == true { "full" } else { "delta" },
        kind("accounts"),
        kind("groups"),
        kind("memberships"),
        kind("licenses"),
        run["graph"]["requests"],
        run["graph"]["retries"],
        run["graph"]["throttled"]
    )
}

fn accounts_and_licenses(demo: &Demo) -> BoxFuture<'_, anyhow::Result<Outcome>> {
    Box::pin(async move {
        let tenant_id = demo_tenant(demo)?;
        let mut lines = Vec::new();
        let (status, page) =
            get_json(demo, &format!("/tenants/{tenant_id}/accounts?limit=5")).await?;
        if status != 200 {
            anyhow::bail!("GET accounts answered {status}: {page}");
        }
        lines.push(format!(
            "GET /tenants/{tenant_id}/accounts?limit=5 -> {status}, next_cursor {}",
            page["next_cursor"].as_str().unwrap_or("(none)")
        ));
        for account in page["accounts"].as_array().into_iter().flatten() {
            let licenses: Vec<String> = account["licenses"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|l| match l["assigned_by_group"].as_str() {
                    Some(group) => format!(
                        "{} (from group {group})",
                        l["sku_id"].as_str().unwrap_or("?")
                    ),
                    None => l["sku_id"].as_str().unwrap_or("?").to_owned(),
                })
                .collect();
            let sign_in = match account["last_sign_in"]["state"].as_str() {
                Some("at") => account["last_sign_in"]["at"]
                    .as_str()
                    .unwrap_or("?")
                    .to_owned(),
                Some("not_available") => format!(
                    "not available: {}",
                    account["last_sign_in"]["reason"].as_str().unwrap_or("?")
                ),
                other => other.unwrap_or("?").to_owned(),
            };
            lines.push(format!(
                "  {:<40} {:<8} licenses [{}], last sign-in {sign_in}",
                account["upn"].as_str().unwrap_or("?"),
                if account["enabled"] == true {
                    "enabled"
                } else {
                    "blocked"
                },
                licenses.join(", ")
            ));
        }
        let (_, groups) =
            get_json(demo, &format!("/tenants/{tenant_id}/groups?limit=1000")).await?;
        lines.push(format!(
            "GET /tenants/{tenant_id}/groups -> {} groups",
            groups["groups"].as_array().map_or(0, Vec::len)
        ));
        // A group's members, a page at a time, each with its account.
        let group_id = groups["groups"][0]["id"].as_str().unwrap_or_default();
        let (status, members) = get_json(
            demo,
            &format!("/tenants/{tenant_id}/groups/{group_id}/members?limit=3"),
        )
        .await?;
        lines.push(format!(
            "GET /tenants/{tenant_id}/groups/{group_id}/members?limit=3 -> {status}: {} of {}{}",
            groups["groups"][0]["display_name"].as_str().unwrap_or("?"),
            members["members"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| m["upn"].as_str().unwrap_or("(account not stored)"))
                .collect::<Vec<_>>()
                .join(", "),
            if members["next_cursor"].is_string() {
                ", … (next_cursor for the next page)"
            } else {
                ""
            }
        ));
        // Each account and group carries its links to the admin centers.
        for (kind, object) in [
            ("account", &page["accounts"][0]),
            ("group", &groups["groups"][0]),
        ] {
            lines.push(format!(
                "  {kind} {} in the Entra admin center: {}",
                object["display_name"].as_str().unwrap_or("?"),
                object["links"]["entra_admin_center"]
                    .as_str()
                    .unwrap_or("?")
            ));
            lines.push(format!(
                "  {kind} {} in the Microsoft 365 admin center: {}",
                object["display_name"].as_str().unwrap_or("?"),
                object["links"]["microsoft_365_admin_center"]
                    .as_str()
                    .unwrap_or("?")
            ));
        }
        let (status, licenses) = get_json(demo, &format!("/tenants/{tenant_id}/licenses")).await?;
        lines.push(format!(
            "GET /tenants/{tenant_id}/licenses -> {status}: {} seats, {} consumed, {} unused",
            licenses["totals"]["enabled"],
            licenses["totals"]["consumed"],
            licenses["totals"]["unused"]
        ));
        for sku in licenses["skus"].as_array().into_iter().flatten() {
            lines.push(format!(
                "  {:<28} {:>5} / {:<5} consumed, {:>4} unused, {}",
                sku["part_number"].as_str().unwrap_or("?"),
                sku["consumed"],
                sku["enabled"],
                sku["unused"],
                sku["capability_status"].as_str().unwrap_or("?")
            ));
        }
        Ok(Outcome::Done(lines))
    })
}

/// Sends a job to the API and waits (up to 60 s) until its record says it ended.
pub(crate) async fn run_job(demo: &Demo, tenant_id: &str, job: Value) -> anyhow::Result<Value> {
    let api = demo.stack.api_url();
    let response = demo
        .http
        .post(format!("{api}/tenants/{tenant_id}/jobs"))
        .json(&job)
        .send()
        .await
        .context("POST /tenants/{tenant_id}/jobs")?;
    let status = response.status().as_u16();
    let accepted: Value = response.json().await?;
    if status != 202 {
        anyhow::bail!("POST /tenants/{tenant_id}/jobs answered {status}: {accepted}");
    }
    let status_url = accepted["status_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, record) = get_json(demo, &status_url).await?;
        let state = record["status"].as_str().unwrap_or_default();
        if matches!(
            state,
            "succeeded" | "completed_with_errors" | "failed" | "cancelled"
        ) {
            return Ok(record);
        }
        if Instant::now() > deadline {
            anyhow::bail!("job {status_url} still {state} after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn onboard(demo: &Demo) -> BoxFuture<'_, anyhow::Result<Outcome>> {
    Box::pin(async move {
        let tenant_id = demo_tenant(demo)?;
        let sim = demo
            .stack
            .sim()
            .context("onboarding is shown on the simulator")?;
        let info = sim
            .tenants()
            .into_iter()
            .find(|t| t.tenant_id == tenant_id)
            .context("the connected tenant is not simulated")?;
        let truth = sim.truth(&tenant_id)?;
        let groups: Vec<String> = truth
            .groups
            .iter()
            .filter(|g| g.kind == "unified")
            .take(3)
            .map(|g| g.id.clone())
            .collect();
        let license = truth
            .skus
            .iter()
            .find(|s| s.enabled > s.consumed && s.sku_part_number != "FLOW_FREE")
            .map(|s| s.sku_part_number.clone())
            .context("no SKU with a free unit")?;
        let upn = format!("demo.onboarded@{}", info.default_domain);
        let mut job = serde_json::json!({
            "type": "onboard", "dry_run": true,
            "given_name": "Demo", "surname": "Onboarded", "display_name": "Demo Onboarded",
            "mail_nickname": "demo.onboarded", "user_principal_name": upn,
            "usage_location": "US", "job_title": "Engineer", "department": "R&D",
            "groups": groups, "licenses": [license],
            "password": {"source": "generate"}
        });
        let mut lines = Vec::new();
        let dry = run_job(demo, &tenant_id, job.clone()).await?;
        lines.push(format!(
            "dry run -> {}: {} checks passed, nothing written; plan:",
            dry["status"].as_str().unwrap_or("?"),
            dry["checks"]
                .as_array()
                .map_or(0, |c| c.iter().filter(|c| c["outcome"] == "done").count())
        ));
        for call in dry["plan"].as_array().into_iter().flatten() {
            lines.push(format!("  {}", call["detail"].as_str().unwrap_or("?")));
        }
        job["dry_run"] = Value::Bool(false);
        let record = run_job(demo, &tenant_id, job).await?;
        let status = record["status"].as_str().unwrap_or("?").to_owned();
        lines.push(format!("onboard {upn} -> {status}"));
        for step in record["steps"].as_array().into_iter().flatten() {
            let name = step["name"].as_str().unwrap_or_default();
            if name.starts_with("check:") {
                continue;
            }
            lines.push(format!(
                "  {name:<48} {:<8} request-id {}",
                step["outcome"].as_str().unwrap_or("?"),
                step["graph_request_id"].as_str().unwrap_or("-")
            ));
        }
        let (handed, _) = get_json(
            demo,
            &format!(
                "/tenants/{tenant_id}/jobs/{}/password",
                record["job_id"].as_str().unwrap_or_default()
            ),
        )
        .await?;
        lines.push(format!(
            "generated temporary password handed back once: GET .../password -> {handed} (change at next sign-in)"
        ));
        if status != "succeeded" {
            anyhow::bail!("the onboarding ended {status}: {}", record["error"]);
        }
        Ok(Outcome::Done(lines))
    })
}

/// The connected tenant of the demo.
pub(crate) fn demo_tenant(demo: &Demo) -> anyhow::Result<String> {
    demo.state
        .lock()
        .ok()
        .and_then(|state| state.tenant_id.clone())
        .context("no connected tenant")
}

/// Waits (up to 60 s) until the job record at `status_url` says the job ended.
pub(crate) async fn finished_job(demo: &Demo, status_url: &str) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, record) = get_json(demo, status_url).await?;
        let state = record["status"].as_str().unwrap_or_default();
        if matches!(
            state,
            "succeeded" | "completed_with_errors" | "failed" | "cancelled"
        ) {
            return Ok(record);
        }
        if Instant::now() > deadline {
            anyhow::bail!("job {status_url} still {state} after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) async fn send(
    demo: &Demo,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    let url = format!("{}{path}", demo.stack.api_url());
    let mut request = demo.http.request(method.clone(), &url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("{method} {url}"))?;
    let status = response.status().as_u16();
    let body = response
        .json()
        .await
        .with_context(|| format!("{method} {url}: the answer is not JSON"))?;
    Ok((status, body))
}

/// One read-back of a receipt step: `property=value (request-id …)` (a v1 receipt's text as is).
fn observation(observed: &Value) -> String {
    match observed {
        Value::String(text) => text.clone(),
        read => format!(
            "{}={} (request-id {})",
            read["property"].as_str().unwrap_or("?"),
            read["value"],
            read["graph_request_id"].as_str().unwrap_or("-")
        ),
    }
}

/// The lines of a job receipt worth showing: who, when, each step with its request-id, what was
/// not done and why, and whether the digest matches the one kept with the job record.
pub(crate) fn receipt_summary(answer: &Value) -> Vec<String> {
    let receipt = &answer["receipt"];
    let who = &receipt["submitted_by"];
    let mut lines = vec![format!(
        "GET .../jobs/{}/receipt -> requested by {} (organization {}), accepted {}, ended {}, {}",
        receipt["job_id"].as_str().unwrap_or_default(),
        who["subject"].as_str().unwrap_or("-"),
        who["org_id"].as_str().unwrap_or("-"),
        receipt["accepted_at"].as_str().unwrap_or("-"),
        receipt["completed_at"].as_str().unwrap_or("-"),
        receipt["status"].as_str().unwrap_or("?")
    )];
    for step in receipt["steps"].as_array().into_iter().flatten() {
        let observed = step["observed"]
            .as_array()
            .map(|o| o.iter().map(observation).collect::<Vec<_>>().join("; "))
            .unwrap_or_default();
        lines.push(format!(
            "  {:<29} {:<8} request-id {}",
            step["name"].as_str().unwrap_or_default(),
            step["outcome"].as_str().unwrap_or("?"),
            step["graph_request_id"].as_str().unwrap_or("-"),
        ));
        if !observed.is_empty() {
            lines.push(format!("      observed: {observed}"));
        }
        // What to know first, and what was kept to restore: shown whole.
        if matches!(step["name"].as_str(), Some("preflight" | "snapshot")) {
            lines.push(format!(
                "      {}",
                step["detail"].as_str().unwrap_or_default()
            ));
        }
    }
    for item in receipt["not_done"].as_array().into_iter().flatten() {
        lines.push(format!(
            "  not done ({}): {}",
            item["step"].as_str().unwrap_or_default(),
            item["reason"].as_str().unwrap_or_default()
        ));
    }
    lines.push(format!(
        "  digest SHA-256 {} kept with the job record: matches {}",
        answer["digest"]["value"].as_str().unwrap_or("-"),
        answer["digest"]["matches"]
    ));
    lines
}

fn license_refresh(demo: &Demo) -> BoxFuture<'_, anyhow::Result<Outcome>> {
    Box::pin(async move {
        let tenant_id = demo_tenant(demo)?;
        let (code, accepted) = send(
            demo,
            reqwest::Method::POST,
            &format!("/tenants/{tenant_id}/licenses/refresh"),
            Some(serde_json::json!({"inactive_after_days": 60})),
        )
        .await?;
        if code != 202 {
            anyhow::bail!("POST .../licenses/refresh answered {code}: {accepted}");
        }
        let record =
            finished_job(demo, accepted["status_url"].as_str().unwrap_or_default()).await?;
        let status = record["status"].as_str().unwrap_or("?").to_owned();
        let mut lines = vec![format!("POST .../licenses/refresh -> {code}; job {status}")];
        for step in record["steps"].as_array().into_iter().flatten() {
            lines.push(format!(
                "  {:<18} {}",
                step["name"].as_str().unwrap_or_default(),
                step["detail"].as_str().unwrap_or_default()
            ));
        }
        if status != "succeeded" {
            anyhow::bail!("the license refresh ended {status}: {}", record["error"]);
        }
        let (code, report) = get_json(
            demo,
            &format!("/tenants/{tenant_id}/licenses/report?inactive_after_days=60&limit=5"),
        )
        .await?;
        if code != 200 {
            anyhow::bail!("GET .../licenses/report answered {code}: {report}");
        }
        lines.push(format!("GET .../licenses/report -> {code}"));
        lines.push(format!(
            "  {:<24} {:>7} {:>8} {:>6} {:>9}  status",
            "SKU", "enabled", "consumed", "unused", "suspended"
        ));
        for sku in report["skus"].as_array().into_iter().flatten() {
            lines.push(format!(
                "  {:<24} {:>7} {:>8} {:>6} {:>9}  {}",
                sku["part_number"].as_str().unwrap_or("?"),
                sku["enabled"].to_string(),
                sku["consumed"].to_string(),
                sku["unused"].to_string(),
                sku["suspended"].to_string(),
                sku["capability_status"].as_str().unwrap_or("?")
            ));
        }
        let totals = &report["totals"];
        lines.push(format!(
            "  total: {} seats enabled, {} consumed, {} unused",
            totals["enabled"], totals["consumed"], totals["unused"]
        ));
        lines.push(format!(
            "  {} licensed account(s) without a sign-in for more than 60 days; the longest inactive:",
            report["inactive_total"]
        ));
        for account in report["inactive_accounts"].as_array().into_iter().flatten() {
            lines.push(format!(
                "    {:<40} last sign-in {}",
                account["upn"].as_str().unwrap_or("?"),
                account["last_sign_in"].as_str().unwrap_or("never")
            ));
        }
        Ok(Outcome::Done(lines))
    })
}

fn remove(demo: &Demo) -> BoxFuture<'_, anyhow::Result<Outcome>> {
    Box::pin(async move {
        let tenant_id = demo_tenant(demo)?;
        let path = format!("/tenants/{tenant_id}");
        let (code, removed) = send(demo, reqwest::Method::DELETE, &path, None).await?;
        if code != 200 {
            anyhow::bail!("DELETE {path} answered {code}: {removed}");
        }
        let deleted = &removed["deleted"];
        let mut lines = vec![
            format!("DELETE /tenants/{tenant_id} -> {code}"),
            format!(
                "  deleted here: {} items ({} accounts, {} groups, {} memberships, {} SKUs, {} sync runs, {} jobs, {} offboarding snapshots, {} parked jobs, {} connection items, {} index entry)",
                deleted["total"],
                deleted["accounts"],
                deleted["groups"],
                deleted["memberships"],
                deleted["skus"],
                deleted["sync_runs"],
                deleted["jobs"],
                deleted["snapshots"],
                deleted["parked_jobs"],
                deleted["connection"],
                deleted["index_entry"]
            ),
            format!("  secrets deleted: {}", removed["secrets_deleted"]),
            format!(
                "  access revoked: {}; {}",
                removed["access"]["revoked"],
                removed["access"]["detail"].as_str().unwrap_or_default()
            ),
        ];
        if let Some(step) = removed["access"]["manual_step"].as_str() {
            lines.push(format!("  the tenant's admin: {step}"));
        }
        let (again, _) = send(demo, reqwest::Method::DELETE, &path, None).await?;
        lines.push(format!("DELETE again -> {again} (nothing left)"));
        Ok(Outcome::Done(lines))
    })
}
