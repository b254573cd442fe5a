//! Job latency under Graph's modelled latency: the time from `POST /tenants/{id}/jobs` to a
//! finished onboarding and offboarding, 100 jobs over 10 tenants sent at once (#18).
//!
//! The whole local stack runs (the API behind its HTTP front, moto, the functions of
//! infra/template.yaml with their SQS event sources) against the Graph simulator with
//! [`LatencyModel::graph`] on every tenant. Lambda runs several invocations per SQS event source
//! at once (on a FIFO queue, one per message group with messages ready), so the devstack runs
//! `--pollers` (default 10) per source; SQS (moto) keeps each message group's order.
//!
//! Each tenant is first synced (so an offboarding finds the stored account, as in production),
//! then sent 5 onboardings (2 groups and 1 license each, a generated password) and 5
//! offboardings (delete) of members, all 100 at once through the HTTP API. A job's latency is
//! its record's `completed_at` minus the moment its POST was sent. Nothing is asserted: it
//! measures and prints.
//!
//! ```sh
//! cargo run -p e2e --example bench_jobs [-- --tenants 10 --jobs-per-tenant 10 --pollers 10 --users 200]
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use devstack::{GraphSource, Stack, StackOptions, Template, template_path};
use graph_sim::{LatencyModel, SimConfig, TenantSpec};
use lifecycle::model::{JobRecord, JobStatus};
use lifecycle::store::keys;
use lifecycle::{JobId, Platform, TenantId};
use serde_json::json;

struct Options {
    tenants: usize,
    jobs_per_tenant: usize,
    pollers: usize,
    users: usize,
}

fn options() -> Options {
    let mut options = Options {
        tenants: 10,
        jobs_per_tenant: 10,
        pollers: 10,
        users: 200,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse().ok());
        match (pair[0].as_str(), value) {
            ("--tenants", Some(v)) => options.tenants = v,
            ("--jobs-per-tenant", Some(v)) => options.jobs_per_tenant = v,
            ("--pollers", Some(v)) => options.pollers = v,
            ("--users", Some(v)) => options.users = v,
            (flag, _) => panic!(
                "unknown or incomplete option {flag}: use --tenants N --jobs-per-tenant N --pollers N --users N"
            ),
        }
    }
    options
}

/// One job sent: its tenant, id, kind and when its POST left.
struct Sent {
    tenant: TenantId,
    job_id: String,
    kind: &'static str,
    at: DateTime<Utc>,
}

#[tokio::main]
async fn main() {
    let options = options();
    let started = Instant::now();
    let sim = SimConfig {
        seed: 18,
        port: 0,
        tenants: (0..options.tenants)
            .map(|_| TenantSpec::new(options.users, 8))
            .collect(),
    };
    let template = Template::load(&template_path()).expect("infra/template.yaml loads");
    let mut stack_options = StackOptions::new(template, GraphSource::Simulator(sim));
    stack_options.pollers = options.pollers;
    let stack = Stack::start(stack_options).await.expect("the stack starts");
    let platform = Platform::new(stack.config().clone(), stack.sdk_config()).expect("platform");
    let simulator = stack.sim().expect("the simulator runs");

    // GIVEN ten connected, synced tenants, Graph answering with its modelled latency
    let mut tenants = Vec::new();
    for index in 0..options.tenants {
        let info = e2e::connect_by_consent(&stack, &platform, &format!("org-{index}"), index).await;
        simulator
            .update_knobs(&info.tenant_id, |k| k.latency = Some(LatencyModel::graph()))
            .expect("knobs");
        tenants.push((index, info));
    }
    let mut runs = Vec::new();
    for (_, info) in &tenants {
        let tenant = TenantId::parse(&info.tenant_id).expect("tenant id");
        let connection = platform
            .tenant(&tenant)
            .await
            .expect("read")
            .expect("tenant");
        let run = lifecycle::sync_runs::request_sync(&platform, &connection, true, Utc::now())
            .await
            .expect("sync queued");
        runs.push((tenant, run.id));
    }
    for (tenant, run) in &runs {
        e2e::eventually_within("the first sync", Duration::from_secs(900), || async {
            lifecycle::sync_runs::find_run(&platform.store, tenant, run)
                .await
                .expect("run read")
                .filter(|(_, run)| run.status.is_finished())
        })
        .await;
    }
    let synced_after = started.elapsed();
    let before = simulator.stats();

    // WHEN each tenant is sent 5 onboardings and 5 offboardings at once through the HTTP API
    let api = stack.api_url();
    let mut posts = Vec::new();
    for (index, info) in &tenants {
        let truth = simulator.truth(&info.tenant_id).expect("truth");
        let groups: Vec<String> = truth
            .groups
            .iter()
            .filter(|g| g.kind == "unified")
            .take(2)
            .map(|g| g.id.clone())
            .collect();
        let license = truth
            .skus
            .iter()
            .filter(|s| s.enabled > s.consumed + options.jobs_per_tenant as i64)
            .map(|s| s.sku_part_number.clone())
            .find(|part| part != "FLOW_FREE")
            .unwrap_or_else(|| "FLOW_FREE".to_owned());
        let leavers: Vec<&graph_sim::TruthUser> = truth
            .users
            .iter()
            .filter(|u| {
                u.account_enabled
                    && u.user_type == "Member"
                    && !u.on_premises_sync_enabled
                    && !u.user_principal_name.starts_with("admin@")
                    && !truth.roles.iter().any(|r| r.member_ids.contains(&u.id))
            })
            .collect();
        let client = e2e::api_client(&stack, &format!("org-{index}"));
        for n in 0..options.jobs_per_tenant {
            let (kind, body) = if n % 2 == 0 {
                let nickname = format!("bench.joiner{n}");
                (
                    "onboard",
                    json!({"type": "onboard", "job_id": format!("joiner-{n}"),
                        "given_name": "Bench", "surname": format!("Joiner {n}"),
                        "display_name": format!("Bench Joiner {n}"), "mail_nickname": nickname,
                        "user_principal_name": format!("{nickname}@{}", info.default_domain),
                        "usage_location": "US", "groups": groups, "licenses": [license],
                        "password": {"source": "generate"}}),
                )
            } else {
                let leaver = leavers.get(n / 2).expect("enough members to offboard");
                (
                    "offboard",
                    json!({"type": "offboard", "job_id": format!("leaver-{n}"),
                        "account": leaver.id, "policy": "delete"}),
                )
            };
            let url = format!("{api}/tenants/{}/jobs", info.tenant_id);
            let tenant = TenantId::parse(&info.tenant_id).expect("tenant id");
            let job_id = body["job_id"].as_str().unwrap_or_default().to_owned();
            let client = client.clone();
            posts.push(tokio::spawn(async move {
                let at = Utc::now();
                let answer = client.post(url).json(&body).send().await;
                let status = answer.as_ref().map(|a| a.status().as_u16()).unwrap_or(0);
                assert_eq!(status, 202, "POST of {kind} {job_id}: {answer:?}");
                Sent {
                    tenant,
                    job_id,
                    kind,
                    at,
                }
            }));
        }
    }
    let mut sent = Vec::new();
    for post in posts {
        sent.push(post.await.expect("the POST task"));
    }

    // THEN each job's latency is its record's completed_at minus its POST
    let mut latencies: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    // From the job's first step to its end: its own time, without the wait in the queue.
    let mut running: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut unfinished: Vec<&Sent> = sent.iter().collect();
    let mut failed = Vec::new();
    let patience = Instant::now() + Duration::from_secs(1800);
    while !unfinished.is_empty() && Instant::now() < patience {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut still = Vec::new();
        for job in unfinished {
            let id = JobId::parse(&job.job_id).expect("job id");
            let record: Option<JobRecord> = platform
                .store
                .get(&keys::job(&job.tenant, &id))
                .await
                .expect("job read");
            match record {
                Some(record) if record.status.is_finished() => {
                    let ended = record.completed_at.unwrap_or(record.updated_at);
                    let seconds = (ended - job.at).num_milliseconds() as f64 / 1000.0;
                    latencies.entry(job.kind).or_default().push(seconds);
                    if let Some(first) = record.steps.iter().filter_map(|step| step.at).min() {
                        let own = (ended - first).num_milliseconds() as f64 / 1000.0;
                        running.entry(job.kind).or_default().push(own);
                    }
                    if record.status != JobStatus::Succeeded {
                        failed.push(format!(
                            "{} {}: {:?} {:?}",
                            job.tenant, job.job_id, record.status, record.error
                        ));
                    }
                }
                _ => still.push(job),
            }
        }
        unfinished = still;
    }
    let after = simulator.stats();

    println!(
        "job latency, POST /jobs to completed_at: {} tenants of {} accounts, {} jobs at once, {} invocations at once per SQS source, Graph latency model on",
        options.tenants,
        options.users,
        sent.len(),
        options.pollers
    );
    println!(
        "| job | jobs | p50 | p95 | max | the job's own time (first step to end), p50 / p95 |"
    );
    println!("|---|---|---|---|---|---|");
    for (kind, mut seconds) in latencies {
        seconds.sort_by(f64::total_cmp);
        let mut own = running.remove(kind).unwrap_or_default();
        own.sort_by(f64::total_cmp);
        println!(
            "| {kind} | {} | {:.1} s | {:.1} s | {:.1} s | {:.1} s / {:.1} s |",
            seconds.len(),
            percentile(&seconds, 0.50),
            percentile(&seconds, 0.95),
            seconds.last().copied().unwrap_or_default(),
            percentile(&own, 0.50),
            percentile(&own, 0.95),
        );
    }
    println!(
        "Graph requests for the jobs: {} ({} throttled); first syncs took {:.1} s; whole run {:.1} s",
        after.requests - before.requests,
        after.throttled - before.throttled,
        synced_after.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    if !unfinished.is_empty() {
        println!("{} job(s) did not finish in 30 minutes", unfinished.len());
    }
    for line in &failed {
        println!("not succeeded: {line}");
    }
    stack.shutdown().await;
}

/// The value at `fraction` of sorted `values` (nearest rank).
fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((fraction * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
