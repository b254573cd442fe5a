//! Many tenants at once: twenty tenants of different sizes connected to one stack, each sent
//! every job kind at the same moment (sync, onboarding, offboarding, license refresh), with the
//! same job ids in every tenant, and one tenant throttled hard by Graph. The stack's own SQS
//! pollers run the functions side by side, as Lambda's event sources do.
//!
//! Checked per tenant: every job succeeded, the subscriber got exactly one completion event per
//! job naming that tenant (none crossed over), and after a last sync the store equals the tenant.
//! The tenants are those issue 16 names: the first of `PROOF_LARGEST` accounts (100,000 in the
//! issue; 5,000 unless set, so that `make proof` stays within the hour on two cores), the other
//! nineteen from 50 to 5,000, spaced evenly on a log scale (most tenants are small). Ignored in
//! `make test`; `make proof` runs it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use devstack::{GraphSource, Stack, StackOptions, Template, template_path};
use graph_sim::{SimConfig, TenantSpec, Truth};
use lifecycle::model::{Account, Job, JobRecord, JobStatus, Membership, SyncRunStatus};
use lifecycle::store::keys;
use lifecycle::{Platform, TenantId};
use serde_json::{Value, json};

const TENANTS: usize = 20;

/// Accounts of the largest tenant unless `PROOF_LARGEST` says otherwise.
const LARGEST: usize = 5_000;

/// Accounts of tenant `index`: the first `PROOF_LARGEST` (or [`LARGEST`]), the others 50 to
/// 5,000, spaced evenly on a log scale.
fn size(index: usize) -> usize {
    if index == 0 {
        return std::env::var("PROOF_LARGEST")
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(LARGEST);
    }
    let step = (index - 1) as f64 / (TENANTS - 2) as f64;
    (50.0 * 100f64.powf(step)).round() as usize
}

struct Tenant {
    id: TenantId,
    domain: String,
}

async fn connect(stack: &Stack, platform: &Platform, index: usize) -> Tenant {
    let info = e2e::connect_by_consent(stack, platform, &format!("org-{index}"), index).await;
    Tenant {
        id: TenantId::parse(&info.tenant_id).expect("tenant id"),
        domain: info.default_domain,
    }
}

/// The same three jobs for every tenant (same ids: a job id is only unique within its tenant).
fn jobs(tenant: &Tenant, truth: &Truth) -> Vec<(&'static str, Job)> {
    let group = truth
        .groups
        .iter()
        .find(|g| g.kind == "security")
        .map(|g| g.id.clone())
        .expect("a security group");
    let leaver = truth
        .users
        .iter()
        .find(|u| {
            u.account_enabled
                && u.user_type == "Member"
                && !u.on_premises_sync_enabled
                && !truth.roles.iter().any(|r| r.member_ids.contains(&u.id))
        })
        .expect("a member to offboard");
    let job = |value: Value| serde_json::from_value::<Job>(value).expect("a job");
    vec![
        (
            "OnboardingQueue",
            job(json!({
                "job_id": "joiner", "tenant_id": tenant.id, "type": "onboard",
                "given_name": "Many", "surname": "Tenants", "display_name": "Many Tenants",
                "mail_nickname": "many.tenants",
                "user_principal_name": format!("many.tenants@{}", tenant.domain),
                "usage_location": "US", "password": {"source": "generate"}, "groups": [group],
            })),
        ),
        (
            "OffboardingQueue",
            job(json!({
                "job_id": "leaver", "tenant_id": tenant.id, "type": "offboard",
                "account": leaver.id, "policy": "keep_disabled",
            })),
        ),
        (
            "LicenseRefreshQueue",
            job(json!({"job_id": "licenses", "tenant_id": tenant.id, "type": "license_refresh"})),
        ),
    ]
}

/// Where the store's picture of `tenant` differs from the simulator's truth.
async fn store_differs(platform: &Platform, truth: &Truth, tenant: &TenantId) -> Vec<String> {
    use futures::TryStreamExt as _;
    let store = &platform.store;
    let mut wrong = Vec::new();
    let mut live = BTreeMap::new();
    for partition in keys::account_partitions(tenant) {
        let accounts: Vec<Account> = store
            .query(&partition, None)
            .try_collect()
            .await
            .expect("accounts");
        live.extend(
            accounts
                .into_iter()
                .filter(|a| !a.deleted)
                .map(|a| (a.id.to_string(), a)),
        );
    }
    let users: BTreeSet<&String> = truth.users.iter().map(|u| &u.id).collect();
    if live.keys().collect::<BTreeSet<_>>() != users {
        wrong.push(format!(
            "{tenant}: {} live accounts stored, {} in the tenant",
            live.len(),
            users.len()
        ));
    }
    for user in &truth.users {
        if let Some(account) = live.get(&user.id)
            && account.enabled != user.account_enabled
        {
            wrong.push(format!(
                "{tenant}: account {} enabled={} stored, {} in the tenant",
                user.id, account.enabled, user.account_enabled
            ));
        }
    }
    let stored: Vec<Membership> = store
        .memberships(tenant)
        .try_collect()
        .await
        .expect("memberships");
    let memberships: BTreeSet<(String, String)> = stored
        .into_iter()
        .map(|m| (m.group_id.to_string(), m.account_id.to_string()))
        .collect();
    let truth_memberships: BTreeSet<(String, String)> = truth
        .groups
        .iter()
        .flat_map(|g| g.member_ids.iter().map(|m| (g.id.clone(), m.clone())))
        .collect();
    if memberships != truth_memberships {
        wrong.push(format!("{tenant}: memberships differ"));
    }
    wrong
}

/// Queues a sync of every tenant and waits until each run has ended.
async fn sync_all(platform: &Platform, tenants: &[Tenant], full: bool) -> Vec<String> {
    let mut runs = Vec::new();
    for tenant in tenants {
        let connection = platform
            .tenant(&tenant.id)
            .await
            .expect("read")
            .expect("tenant");
        let run =
            lifecycle::sync_runs::request_sync(platform, &connection, full, chrono::Utc::now())
                .await
                .expect("sync queued");
        runs.push((tenant.id.clone(), run.id));
    }
    let mut wrong = Vec::new();
    for (tenant, run) in runs {
        let ended = e2e::eventually_within(&format!("the sync of {tenant}"), PATIENCE, || async {
            lifecycle::sync_runs::find_run(&platform.store, &tenant, &run)
                .await
                .expect("run read")
                .map(|(_, run)| run)
                .filter(|run| run.status.is_finished())
        })
        .await;
        if ended.status != SyncRunStatus::Ok {
            wrong.push(format!(
                "{tenant}: sync ended {:?}: {:?}",
                ended.status, ended.error
            ));
        }
    }
    wrong
}

/// How long the whole stack may take for one wave of work (a guard against a hang, not a
/// figure: a debug build syncs a 100,000-account tenant into moto in minutes).
const PATIENCE: Duration = Duration::from_secs(3_600);

#[tokio::test]
#[ignore = "minutes long: make proof runs it"]
async fn given_twenty_tenants_sent_every_job_kind_at_once_when_one_is_throttled_then_each_ends_as_asked_with_no_event_or_item_crossing_over()
 {
    // GIVEN twenty connected tenants of different sizes, one of them answered 429 on 30 % of its
    // Graph requests, and a subscriber to the completion events
    let started = Instant::now();
    let sim = SimConfig {
        seed: 16,
        port: 0,
        tenants: (0..TENANTS).map(|i| TenantSpec::new(size(i), 6)).collect(),
    };
    let template = Template::load(&template_path()).expect("infra/template.yaml loads");
    let mut options = StackOptions::new(template, GraphSource::Simulator(sim));
    options.time_scale = 1e-6;
    let stack = Stack::start(options).await.expect("the stack starts");
    let platform = Platform::new(stack.config().clone(), stack.sdk_config()).expect("platform");
    let subscriber = e2e::faults::subscribe(&stack).await;
    let mut tenants = Vec::new();
    for index in 0..TENANTS {
        tenants.push(connect(&stack, &platform, index).await);
    }
    let throttled = &tenants[TENANTS - 1];
    stack
        .sim()
        .expect("sim")
        .update_knobs(throttled.id.as_str(), |k| {
            k.fail_rate_429 = 0.3;
            k.retry_after_s = 0.2;
        })
        .expect("knobs");

    // WHEN every tenant is sent a full sync, an onboarding, an offboarding and a license refresh,
    // all at once
    let mut sent = Vec::new();
    for tenant in &tenants {
        let truth = stack
            .sim()
            .expect("sim")
            .truth(tenant.id.as_str())
            .expect("truth");
        for (queue, job) in jobs(tenant, &truth) {
            let url = stack.queue_url(queue).expect("queue");
            platform.queue.send_job(url, &job).await.expect("sent");
            sent.push(job);
        }
    }
    let mut wrong = sync_all(&platform, &tenants, true).await;
    for job in &sent {
        let record: JobRecord = e2e::eventually_within(
            &format!("job {} of {}", job.job_id, job.tenant_id),
            PATIENCE,
            || async {
                platform
                    .store
                    .get::<JobRecord>(&keys::job(&job.tenant_id, &job.job_id))
                    .await
                    .expect("job read")
                    .filter(|record| record.status.is_finished())
            },
        )
        .await;
        if record.status != JobStatus::Succeeded {
            wrong.push(format!(
                "{}: job {} ended {:?}: {:?}",
                job.tenant_id, job.job_id, record.status, record.error
            ));
        }
    }
    // ... and, once it all ended, each tenant syncs once more (delta)
    wrong.extend(sync_all(&platform, &tenants, false).await);

    // THEN every job succeeded, and each got exactly one completion event, naming its tenant
    let mut events: BTreeMap<(String, String), usize> = BTreeMap::new();
    for body in subscriber.bodies(Duration::ZERO).await {
        let event: Value = serde_json::from_str(&body).expect("an event is JSON");
        let key = (
            event["detail"]["tenant_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            event["detail"]["job_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        *events.entry(key).or_default() += 1;
    }
    let expected: BTreeMap<(String, String), usize> = sent
        .iter()
        .map(|job| ((job.tenant_id.to_string(), job.job_id.to_string()), 1))
        .collect();
    if events != expected {
        wrong.push(format!(
            "completion events by (tenant, job): {events:?}, expected one each of {expected:?}"
        ));
    }
    // ... and each tenant's store equals that tenant, nothing of another tenant in it
    for tenant in &tenants {
        let truth = stack
            .sim()
            .expect("sim")
            .truth(tenant.id.as_str())
            .expect("truth");
        wrong.extend(store_differs(&platform, &truth, &tenant.id).await);
    }
    let stats = stack.sim().expect("sim").stats();
    let events_seen: usize = events.values().sum();
    // (the proof table's columns: no kills here, every job and sync is one delivery at least)
    println!(
        "| {TENANTS} tenants ({}-{} accounts), every job kind at once, one at 30 % 429 | - | 0 | {} | {} | 0 | {} | {} | {events_seen} (0 repeated) | {} | {:.1} s |",
        (0..TENANTS).map(size).min().unwrap_or(0),
        (0..TENANTS).map(size).max().unwrap_or(0),
        sent.len() + 2 * TENANTS,
        stats.throttled,
        expected
            .keys()
            .filter(|key| !events.contains_key(*key))
            .count(),
        events.values().filter(|count| **count > 1).count(),
        if wrong.is_empty() { "yes" } else { "NO" },
        started.elapsed().as_secs_f64()
    );
    assert!(
        stats.throttled > 0,
        "the throttled tenant was never throttled"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    stack.shutdown().await;
}
