//! The license refresh of one large tenant, measured (README's sizing table): the Graph
//! simulator as its own process with `--users` accounts (100,000 by default), the local stack of
//! infra/template.yaml (moto as its own process), the tenant's accounts stored as a sync leaves
//! them, then one `license_refresh` job through the function's handler with its own IAM policy,
//! sent to the license-refresh queue and delivered from it as Lambda's event source does: each
//! invocation has `--deadline` seconds (the template's 900 by default) and is cut off there, and a
//! refresh that hands itself on is delivered again until the queue is empty. Prints the wall time
//! of the job, the invocations it took, its steps, the calls it made (Graph requests, DynamoDB
//! reads and writes, SQS messages) and the peak RSS of this process during it.
//!
//! ```text
//! cargo build -p graph-sim --bin graph-sim
//! cargo run -p license-refresh --example bench_refresh -- [--users 100000] [--deadline 900] \
//!     [--latency graph] [--sim target/debug/graph-sim]
//! ```
//! Nothing is asserted: it measures and prints.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test or example reports by panicking

use std::io::BufRead as _;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsBatchResponse;
use chrono::Utc;
use devstack::{GraphSource, Registry, Stack, StackOptions, Template, template_path};
use futures::TryStreamExt as _;
use license_refresh::App;
use lifecycle::model::{
    Account, AssignedLicense, ConnectionMode, ConnectionStatus, Job, JobKind, JobRecord,
    LastSignIn, LicenseRefreshJob, TenantAuth, TenantConnection,
};
use lifecycle::store::keys;
use lifecycle::{
    AccountId, AppCredential, Function, Invocation, JobId, OrgId, Platform, SkuId, TenantId, Upn,
};
use serde_json::{Value, json};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn arg(name: &str) -> Option<String> {
    let argv: Vec<String> = std::env::args().collect();
    argv.iter()
        .position(|a| a == name)
        .and_then(|i| argv.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> ExitCode {
    match bench().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench_refresh: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn bench() -> Result<(), BoxError> {
    let users: usize = arg("--users").map_or(Ok(100_000), |u| u.parse())?;
    let deadline = Duration::from_secs(arg("--deadline").map_or(Ok(900), |d| d.parse())?);
    let sim_bin = arg("--sim").unwrap_or_else(|| "target/debug/graph-sim".to_owned());
    eprintln!("starting the simulator ({users} accounts) and the local stack ...");
    let mut command = std::process::Command::new(&sim_bin);
    command.args([
        "--port",
        "0",
        "--users",
        &users.to_string(),
        "--groups",
        "50",
    ]);
    if let Some(latency) = arg("--latency") {
        command.args(["--latency", &latency]);
    }
    let mut child = command.stdout(Stdio::piped()).spawn()?;
    let mut ready = String::new();
    std::io::BufReader::new(child.stdout.take().ok_or("no simulator stdout")?)
        .read_line(&mut ready)?;
    let sim: Value = serde_json::from_str(&ready)?;
    let result = run(&sim, users, deadline).await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

async fn run(sim: &Value, users: usize, deadline: Duration) -> Result<(), BoxError> {
    let text = |value: &Value| {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or("simulator: missing field")
    };
    let tenant_info = &sim["tenants"][0];
    let template = Template::load(&template_path())?;
    let mut options = StackOptions::new(
        template,
        GraphSource::External {
            graph_base_url: text(&sim["graph_base_url"])?,
            login_base_url: text(&sim["login_base_url"])?,
            platform_app: None,
            platform_read_app: None,
        },
    );
    options.registry = Registry::empty();
    let stack = Stack::start(options).await?;
    let platform = Platform::new(stack.config().clone(), stack.sdk_config())?;
    let tenant_id = TenantId::parse(&text(&tenant_info["tenant_id"])?)?;
    let client_id = text(&tenant_info["own_app"]["client_id"])?;
    platform
        .vault
        .put_app_credential(
            &tenant_id,
            &AppCredential {
                client_id: client_id.clone(),
                client_secret: text(&tenant_info["own_app"]["client_secret"])?.into(),
            },
        )
        .await?;
    let tenant = TenantConnection {
        tenant_id: tenant_id.clone(),
        org_id: OrgId::parse("bench")?,
        display_name: "bench".into(),
        verified_domains: Vec::new(),
        mode: ConnectionMode::Read,
        auth: TenantAuth::OwnApp { client_id },
        status: ConnectionStatus::Connected,
        consented_at: Utc::now(),
        last_sync: None,
        next_sync_due: None,
        sync_interval_minutes: 60,
        options: Default::default(),
        has_p1: None,
        generation: None,
    };
    platform.connect_tenant(&tenant).await?;

    // The accounts as a sync leaves them (one Graph listing, then batch writes).
    let seeding = Instant::now();
    let graph = platform.tenant_graph(&tenant).await?;
    let listed: Vec<graph::User> = graph.users().try_collect().await?;
    let accounts: Vec<Account> = listed.iter().filter_map(account).collect();
    let licensed = accounts.iter().filter(|a| !a.licenses.is_empty()).count();
    let stored = accounts.len();
    for chunk in accounts.chunks(1_000) {
        platform
            .store
            .put_accounts(&tenant_id, chunk.to_vec())
            .await?;
    }
    eprintln!(
        "{stored} accounts stored ({licensed} licensed) in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    drop(listed);

    // One license refresh, through the function's handler under its own policy.
    let app = App::new(
        stack.config().clone(),
        stack
            .function_sdk_config("LicenseRefreshFunction")
            .ok_or("the template has no LicenseRefreshFunction")?,
    )?;
    let job = Job {
        job_id: JobId::new(),
        tenant_id: tenant_id.clone(),
        dry_run: false,
        kind: JobKind::LicenseRefresh(LicenseRefreshJob {
            inactive_after_days: None,
        }),
    };
    let queue = stack
        .queue_url("LicenseRefreshQueue")
        .ok_or("the template has no LicenseRefreshQueue")?;
    let graph_before = sim_requests(sim).await?;
    reset_peak_rss();
    let rss_before = peak_rss_mb();
    let started = Instant::now();
    platform.queue.send_job(queue, &job).await?;
    let mut invocations = Vec::new();
    let mut cut_off = 0;
    while let Some(message) = platform
        .queue
        .receive(queue, 1, 1, 6 * 900)
        .await?
        .into_iter()
        .next()
    {
        let event = json!({"Records": [{
            "messageId": message.message_id, "receiptHandle": message.receipt_handle,
            "body": message.body, "eventSource": "aws:sqs",
            "attributes": {"ApproximateReceiveCount": message.receive_count().to_string()},
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:license-refresh"
        }]});
        let invoked = Instant::now();
        let invocation = Invocation::with_timeout(deadline);
        match tokio::time::timeout(deadline, Function::invoke(&app, event, invocation)).await {
            Ok(Ok(response)) => {
                let response: SqsBatchResponse = serde_json::from_value(response)?;
                if response.batch_item_failures.is_empty() {
                    platform
                        .queue
                        .delete(queue, &message.receipt_handle)
                        .await?;
                } else {
                    platform
                        .queue
                        .change_visibility(queue, &message.receipt_handle, 0)
                        .await?;
                }
            }
            _ => {
                cut_off += 1;
                platform
                    .queue
                    .change_visibility(queue, &message.receipt_handle, 0)
                    .await?;
            }
        }
        invocations.push(invoked.elapsed().as_secs_f64());
        eprintln!(
            "invocation {}: {:.1} s",
            invocations.len(),
            invoked.elapsed().as_secs_f64()
        );
    }
    let wall = started.elapsed();
    let peak = peak_rss_mb();
    let graph_requests = sim_requests(sim).await? - graph_before;
    let record: JobRecord = platform
        .store
        .get(&keys::job(&tenant_id, &job.job_id))
        .await?
        .ok_or("no job record")?;
    println!(
        "license refresh of {users} accounts ({stored} stored, {licensed} licensed): {:?} in {:.1} s over {} invocation(s) of at most {} s ({cut_off} cut off); peak RSS {peak:.1} MB (before the job {rss_before:.1} MB); {graph_requests} Graph requests",
        record.status,
        wall.as_secs_f64(),
        invocations.len(),
        deadline.as_secs(),
    );
    for step in &record.steps {
        println!(
            "  {:<14} {:?}: {}",
            step.name,
            step.outcome,
            step.detail.as_deref().unwrap_or_default()
        );
    }
    println!(
        "{}",
        json!({"users": users, "stored": stored, "licensed": licensed, "status": record.status,
               "wall_s": wall.as_secs_f64(), "peak_rss_mb": peak, "deadline_s": deadline.as_secs(),
               "invocations_s": invocations, "cut_off": cut_off, "graph_requests": graph_requests})
    );
    stack.shutdown().await;
    Ok(())
}

/// Graph requests the simulator answered so far (`GET /_sim/stats`).
async fn sim_requests(sim: &Value) -> Result<u64, BoxError> {
    let base = sim["graph_base_url"]
        .as_str()
        .ok_or("simulator: no graph_base_url")?;
    let origin = base.trim_end_matches('/').trim_end_matches("/v1.0");
    let stats: Value = reqwest::get(format!("{origin}/_sim/stats"))
        .await?
        .json()
        .await?;
    stats["requests"]
        .as_u64()
        .ok_or_else(|| "no request count".into())
}

/// A listed user as the sync stores it (enough for the refresh: id, UPN, licenses).
fn account(user: &graph::User) -> Option<Account> {
    Some(Account {
        id: AccountId::parse(&user.id).ok()?,
        upn: Upn::parse(user.user_principal_name.as_deref()?).ok()?,
        display_name: user.display_name.clone().unwrap_or_default(),
        enabled: user.account_enabled.unwrap_or(true),
        usage_location: None,
        user_type: user.user_type.clone().unwrap_or_else(|| "Member".into()),
        on_premises_synced: user.on_premises_sync_enabled.unwrap_or(false),
        licenses: user
            .assigned_licenses
            .iter()
            .filter_map(|l| SkuId::parse(&l.sku_id).ok())
            .map(|sku_id| AssignedLicense {
                sku_id,
                assigned_by_group: None,
            })
            .collect(),
        last_sign_in: LastSignIn::Never,
        mailbox: None,
        deleted: false,
        profile: Default::default(),
    })
}

/// Resets this process's peak resident set (VmHWM) to the current one.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set of this process (VmHWM), in MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
