//! The license refresh against the real parts: the table and queues of infra/template.yaml in moto
//! (through the devstack) and the Graph simulator over HTTP, its admin truth as the reference.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test or example reports by panicking

use std::collections::BTreeSet;

use std::time::SystemTime;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use devstack::{GraphSource, Registry, Stack, StackOptions, Template, template_path};
use futures::TryStreamExt as _;
use graph_sim::{ConsentChange, LatencyModel, SimConfig, TenantSpec, Truth};
use license_refresh::{App, schedule};
use lifecycle::license_report::{self as report, ReportOptions};
use lifecycle::model::{
    Account, AssignedLicense, ConnectionMode, ConnectionStatus, Job, JobKind, JobRecord, JobStatus,
    LastSignIn, LicenseRefreshJob, TenantAuth, TenantConnection,
};
use lifecycle::store::keys;
use lifecycle::{AccountId, Function, Invocation, JobId, OrgId, Platform, SkuId, TenantId, Upn};
use serde_json::json;

struct Env {
    stack: Stack,
    platform: Platform,
    app: App,
    /// One connected tenant per simulated tenant, in the simulator's order.
    tenants: Vec<TenantConnection>,
}

impl Env {
    /// A P1 tenant and a tenant without P1, both connected read-only with consent (a license
    /// refresh only reads).
    async fn start() -> Env {
        let mut without_p1 = TenantSpec::new(30, 6);
        without_p1.has_p1 = false;
        Env::with_tenants(vec![TenantSpec::new(50, 8), without_p1]).await
    }

    /// The stack with these simulated tenants, each connected read-only with consent.
    async fn with_tenants(specs: Vec<TenantSpec>) -> Env {
        let sim = SimConfig {
            seed: 7,
            port: 0,
            tenants: specs,
        };
        let template = Template::load(&template_path()).expect("infra/template.yaml loads");
        let mut options = StackOptions::new(template, GraphSource::Simulator(sim));
        options.registry = Registry::empty();
        let stack = Stack::start(options).await.expect("the local stack starts");
        let platform = Platform::new(stack.config().clone(), stack.sdk_config()).expect("platform");
        let mut tenants = Vec::new();
        for info in stack.sim().expect("sim").tenants() {
            // Read-only connections consent to the platform's read-only app.
            let read_app = stack.sim().expect("sim").platform_read_app();
            stack
                .sim()
                .expect("sim")
                .consent(
                    &info.tenant_id,
                    &ConsentChange {
                        granted: true,
                        roles: Vec::new(),
                        client_id: Some(read_app.client_id),
                    },
                )
                .expect("consent");
            let tenant = TenantConnection {
                tenant_id: TenantId::parse(&info.tenant_id).expect("tenant id"),
                org_id: OrgId::parse("org-licenses").expect("org"),
                display_name: info.display_name.clone(),
                verified_domains: Vec::new(),
                mode: ConnectionMode::Read,
                auth: TenantAuth::Consent,
                status: ConnectionStatus::Connected,
                consented_at: Utc::now(),
                last_sync: None,
                next_sync_due: None,
                sync_interval_minutes: TenantConnection::DEFAULT_SYNC_INTERVAL_MINUTES,
                options: Default::default(),
                has_p1: None,
                generation: None,
            };
            let tenant = platform
                .connect_tenant(&tenant)
                .await
                .expect("tenant saved");
            tenants.push(tenant);
        }
        // The function's own credentials: only its template policy, as its role in AWS.
        let function_aws = stack
            .function_sdk_config("LicenseRefreshFunction")
            .expect("the template has the function");
        let app = App::new(stack.config().clone(), function_aws).expect("app");
        Env {
            stack,
            platform,
            app,
            tenants,
        }
    }

    fn truth(&self, tenant: &TenantConnection) -> Truth {
        self.stack
            .sim()
            .expect("sim")
            .truth(tenant.tenant_id.as_str())
            .expect("truth")
    }

    /// Stores every account of the tenant as a sync would, before any sign-in is known.
    async fn store_accounts(&self, tenant: &TenantConnection) {
        self.store_accounts_signed_in(tenant, &std::collections::HashMap::new())
            .await;
    }

    /// Stores every account of the tenant, with the last sign-in of `known` (by id) or never.
    async fn store_accounts_signed_in(
        &self,
        tenant: &TenantConnection,
        known: &std::collections::HashMap<String, LastSignIn>,
    ) {
        let truth = self.truth(tenant);
        let accounts = truth.users.iter().map(|user| {
            let account = Account {
                id: AccountId::parse(&user.id).expect("id"),
                upn: Upn::parse(&user.user_principal_name).expect("upn"),
                display_name: user.display_name.clone(),
                enabled: user.account_enabled,
                usage_location: None,
                user_type: user.user_type.clone(),
                on_premises_synced: user.on_premises_sync_enabled,
                licenses: user
                    .sku_ids
                    .iter()
                    .map(|sku| AssignedLicense {
                        sku_id: SkuId::parse(sku).expect("sku"),
                        assigned_by_group: None,
                    })
                    .collect(),
                last_sign_in: known.get(&user.id).cloned().unwrap_or(LastSignIn::Never),
                mailbox: None,
                deleted: false,
                profile: Default::default(),
            };
            (keys::account(&tenant.tenant_id, &account.id), account)
        });
        self.platform
            .store
            .batch_put(accounts)
            .await
            .expect("accounts stored");
    }

    async fn refresh(
        &self,
        tenant: &TenantConnection,
        inactive_after_days: Option<u32>,
    ) -> JobRecord {
        let job = refresh_job(tenant, inactive_after_days);
        let body = serde_json::to_string(&job).expect("json");
        self.deliver(&body).await;
        self.platform
            .store
            .get(&keys::job(&job.tenant_id, &job.job_id))
            .await
            .expect("read record")
            .expect("a job record")
    }

    /// Delivers `body` to the worker as one SQS message; it must not be left for redelivery.
    async fn deliver(&self, body: &str) {
        let event: SqsEvent = serde_json::from_value(json!({"Records": [{
            "messageId": "m-1", "receiptHandle": "r", "body": body, "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:license-refresh"
        }]}))
        .expect("event");
        let response = self.app.handle_jobs(event).await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
    }

    async fn report(&self, tenant: &TenantConnection, days: u32) -> report::LicenseReport {
        let stored = self
            .platform
            .tenant(&tenant.tenant_id)
            .await
            .expect("read tenant")
            .expect("tenant");
        let mut options = ReportOptions::at(Utc::now());
        options.inactive_after_days = days;
        options.limit = 10_000;
        report::build(&self.platform.store, &stored, options)
            .await
            .expect("report")
    }
}

fn refresh_job(tenant: &TenantConnection, inactive_after_days: Option<u32>) -> Job {
    Job {
        job_id: JobId::new(),
        tenant_id: tenant.tenant_id.clone(),
        dry_run: false,
        kind: JobKind::LicenseRefresh(LicenseRefreshJob {
            inactive_after_days,
        }),
    }
}

fn detail<'r>(record: &'r JobRecord, name: &str) -> &'r str {
    record
        .steps
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| s.detail.as_deref())
        .unwrap_or_else(|| panic!("step {name} in {record:#?}"))
}

#[tokio::test]
async fn given_a_p1_tenant_when_refreshed_then_sku_totals_equal_the_simulator_and_inactive_accounts_are_flagged()
 {
    // GIVEN a P1 tenant whose accounts the platform stores (no sign-in known yet)
    let env = Env::start().await;
    let tenant = &env.tenants[0];
    env.store_accounts(tenant).await;

    // WHEN its license refresh runs with a 60-day threshold
    let record = env.refresh(tenant, Some(60)).await;

    // THEN the job succeeded in three recorded steps
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    assert!(detail(&record, "last_sign_in").starts_with("last sign-in read for"));

    // ... the report's SKU numbers are the simulator's
    let truth = env.truth(tenant);
    let report = env.report(tenant, 60).await;
    let ours: BTreeSet<_> = report
        .skus
        .iter()
        .map(|s| {
            (
                s.sku_id.clone(),
                s.part_number.clone(),
                i64::from(s.enabled),
                i64::from(s.suspended),
                i64::from(s.warning),
                i64::from(s.consumed),
            )
        })
        .collect();
    let theirs: BTreeSet<_> = truth
        .skus
        .iter()
        .map(|s| {
            (
                s.sku_id.to_lowercase(),
                s.sku_part_number.clone(),
                s.enabled,
                s.suspended,
                s.warning,
                s.consumed,
            )
        })
        .collect();
    assert_eq!(ours, theirs);
    let unused: i64 = truth
        .skus
        .iter()
        .map(|s| (s.enabled - s.consumed).max(0))
        .sum();
    assert_eq!(i64::try_from(report.totals.unused).expect("fits"), unused);
    assert!(report.sign_in_activity.available);

    // ... and the licensed accounts without a sign-in for 60 days are flagged, with last sign-in
    let now = Utc::now().timestamp();
    let cutoff = now - 60 * 86_400;
    let flagged: BTreeSet<_> = report
        .inactive_accounts
        .iter()
        .map(|a| a.account_id.clone())
        .collect();
    assert_eq!(report.inactive_total, flagged.len());
    let mut checked = 0;
    for user in truth.users.iter().filter(|u| !u.sku_ids.is_empty()) {
        match user.last_sign_in {
            // The report takes the latest of interactive and non-interactive sign-ins, up to a day
            // after the interactive one the truth gives: accounts within a day of the cutoff are
            // left out of the comparison.
            Some(at) if at > cutoff - 86_400 && at <= cutoff => continue,
            Some(at) if at > cutoff => assert!(!flagged.contains(&user.id), "{user:?}"),
            _ => assert!(flagged.contains(&user.id), "{user:?}"),
        }
        checked += 1;
    }
    assert!(
        checked > 10,
        "too few licensed accounts compared: {checked}"
    );
    assert!(
        !flagged.is_empty(),
        "the simulated tenant has inactive licensed accounts"
    );
    let oldest = &report.inactive_accounts[0];
    assert!(
        oldest
            .last_sign_in
            .is_none_or(|at| at < DateTime::from_timestamp(cutoff, 0).expect("time"))
    );
    assert!(
        detail(&record, "inactive_accounts").contains("without a sign-in for more than 60 days")
    );
    let stored_tenant = env
        .platform
        .tenant(&tenant.tenant_id)
        .await
        .expect("read")
        .expect("tenant");
    assert_eq!(stored_tenant.has_p1, Some(true));
    env.stack.shutdown().await;
}

#[tokio::test]
async fn given_a_tenant_without_p1_when_refreshed_then_last_sign_in_is_not_available_and_the_job_succeeds()
 {
    // GIVEN a tenant without Entra ID P1, its accounts stored
    let env = Env::start().await;
    let tenant = &env.tenants[1];
    env.store_accounts(tenant).await;

    // WHEN its license refresh runs
    let record = env.refresh(tenant, None).await;

    // THEN it succeeded, saying last sign-in is not available (not an error)
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    assert!(
        detail(&record, "last_sign_in").starts_with("not available: needs Entra ID P1"),
        "{record:#?}"
    );
    // ... the accounts say so, the tenant is known to lack P1, and the report says so too
    let truth = env.truth(tenant);
    let any = AccountId::parse(&truth.users[0].id).expect("id");
    let account: Account = env
        .platform
        .store
        .get(&keys::account(&tenant.tenant_id, &any))
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(
        account.last_sign_in,
        LastSignIn::NotAvailable {
            reason: "needs Entra ID P1".into()
        }
    );
    let report = env.report(tenant, 90).await;
    assert!(!report.sign_in_activity.available);
    assert_eq!(
        report.sign_in_activity.reason.as_deref(),
        Some("not available: needs Entra ID P1")
    );
    assert!(report.inactive_accounts.is_empty());
    assert_eq!(report.skus.len(), truth.skus.len());
    env.stack.shutdown().await;
}

#[tokio::test]
async fn given_connected_and_disconnected_tenants_when_the_schedule_fires_then_one_refresh_is_queued_per_connected_tenant()
 {
    // GIVEN two connected tenants, one of which then needs reconnection
    let env = Env::start().await;
    env.platform
        .mark_needs_reconnection(&env.tenants[1], "consent revoked".into())
        .await
        .expect("marked");

    // WHEN the daily schedule fires (twice the same day)
    let first = env.app.handle_schedule().await.expect("fan-out");
    let second = env.app.handle_schedule().await.expect("fan-out");

    // THEN the connected tenant's refresh was queued, the other skipped
    assert_eq!((first.queued, first.not_connected, first.failed), (1, 1, 0));
    assert_eq!(second.queued, 1);
    let queue = env.stack.queue_url("LicenseRefreshQueue").expect("queue");
    let messages = env
        .platform
        .queue
        .receive(queue, 10, 1, 30)
        .await
        .expect("receive");
    let jobs: Vec<Job> = messages
        .iter()
        .map(|m| serde_json::from_str(&m.body).expect("a job"))
        .collect();
    assert!(!jobs.is_empty());
    // ... both firings carry the same job id, so the jobs runner runs the day's refresh once
    let ids: BTreeSet<_> = jobs.iter().map(|j| j.job_id.clone()).collect();
    assert_eq!(
        ids,
        BTreeSet::from([
            schedule::scheduled_job_id(&env.tenants[0].tenant_id, Utc::now()).expect("id")
        ])
    );
    assert!(jobs.iter().all(|j| j.tenant_id == env.tenants[0].tenant_id));
    env.stack.shutdown().await;
}

#[tokio::test]
async fn given_an_inactivity_threshold_of_999999999_days_on_the_queue_when_run_then_the_job_fails_with_the_range_and_nothing_panics()
 {
    // GIVEN a connected tenant and a refresh job another service put on the queue with a
    // threshold chrono cannot subtract from now
    let env = Env::start().await;
    let tenant = &env.tenants[0];
    env.store_accounts(tenant).await;

    // WHEN the worker runs it (before: a chrono overflow panic, until the DLQ)
    let record = env.refresh(tenant, Some(999_999_999)).await;

    // THEN the job is failed with the accepted range, and its message is not redelivered
    assert_eq!(record.status, JobStatus::Failed, "{record:#?}");
    let error = record.error.as_deref().unwrap_or_default();
    assert!(
        error.contains(
            "inactive_after_days is 999999999; expected a whole number of days from 1 to 3650"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn given_a_misspelt_field_on_the_queue_when_run_then_the_job_fails_naming_the_field_meant() {
    // GIVEN a refresh job whose sender misspelt inactive_after_days
    let env = Env::start().await;
    let tenant = &env.tenants[0];
    let job_id = JobId::new();
    let body = json!({"job_id": job_id, "tenant_id": tenant.tenant_id, "type": "license_refresh",
        "inactive_after_day": 30});

    // WHEN the worker runs it (before: the field was ignored and the job succeeded on 90 days)
    env.deliver(&body.to_string()).await;

    // THEN a failed record says which field was meant, and the message is not redelivered
    let record: JobRecord = env
        .platform
        .store
        .get(&keys::job(&tenant.tenant_id, &job_id))
        .await
        .expect("read record")
        .expect("a job record for the malformed message");
    assert_eq!(record.status, JobStatus::Failed, "{record:#?}");
    assert_eq!(record.job_type, "license_refresh");
    assert_eq!(
        record.error.as_deref(),
        Some(
            "the job is not valid: unknown field `inactive_after_day`; did you mean `inactive_after_days`?"
        )
    );
}

/// Delivers the messages of the license-refresh queue one by one as Lambda's SQS event source
/// does, each invocation ending `seconds` after it starts and cut off there (as Lambda cuts a
/// function off at its timeout: the message is then delivered again), until the queue is empty or
/// `rounds` invocations ran.
async fn deliver_from_queue(env: &Env, seconds: u64, rounds: usize) -> Delivered {
    let queue = env.stack.queue_url("LicenseRefreshQueue").expect("queue");
    let mut delivered = Delivered::default();
    while delivered.invocations < rounds {
        let messages = env
            .platform
            .queue
            .receive(queue, 1, 1, 60)
            .await
            .expect("receive");
        let Some(message) = messages.into_iter().next() else {
            break;
        };
        delivered.invocations += 1;
        let event = json!({"Records": [{
            "messageId": message.message_id, "receiptHandle": message.receipt_handle,
            "body": message.body, "eventSource": "aws:sqs",
            "attributes": {"ApproximateReceiveCount": message.receive_count().to_string()},
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:license-refresh"
        }]});
        let timeout = std::time::Duration::from_secs(seconds);
        let invocation = Invocation::new(
            format!("r-{}", delivered.invocations),
            SystemTime::now() + timeout,
        );
        let response =
            tokio::time::timeout(timeout, Function::invoke(&env.app, event, invocation)).await;
        match response {
            Ok(Ok(response)) => {
                let response: SqsBatchResponse =
                    serde_json::from_value(response).expect("a batch response");
                assert!(response.batch_item_failures.is_empty(), "{response:?}");
                env.platform
                    .queue
                    .delete(queue, &message.receipt_handle)
                    .await
                    .expect("delete");
            }
            // Cut off at its deadline, or failed: Lambda leaves the message for redelivery.
            _ => {
                delivered.cut_off += 1;
                env.platform
                    .queue
                    .change_visibility(queue, &message.receipt_handle, 0)
                    .await
                    .expect("visible again");
            }
        }
    }
    delivered
}

/// What [`deliver_from_queue`] did.
#[derive(Debug, Default)]
struct Delivered {
    invocations: usize,
    /// Invocations cut off at their deadline (or failed).
    cut_off: usize,
}

#[tokio::test]
async fn given_a_tenant_whose_sign_ins_take_longer_than_an_invocation_when_refreshed_then_later_invocations_continue_from_the_saved_page_and_the_job_succeeds_once()
 {
    // GIVEN a P1 tenant of 360 accounts (3 sign-in pages of 120), all stored, a quarter of them
    // with a last sign-in Graph no longer answers (they signed in since)
    let env = Env::with_tenants(vec![TenantSpec::new(360, 2)]).await;
    let tenant = &env.tenants[0];
    let served = served_sign_ins(&env, tenant).await;
    let known: std::collections::HashMap<String, LastSignIn> = served
        .iter()
        .enumerate()
        .filter(|(index, _)| index % 4 != 0)
        .map(|(_, (id, last))| (id.clone(), last.clone()))
        .collect();
    env.store_accounts_signed_in(tenant, &known).await;
    let stale = served
        .iter()
        .filter(|(id, last)| !known.contains_key(id) && *last != LastSignIn::Never)
        .count();
    assert!(
        stale > 10,
        "a quarter of the accounts that signed in are stale"
    );
    // ... and Graph's sign-in pages take 3 s each (Graph's sign-in store is slow)
    set_sign_in_latency(&env, tenant, 3_000);
    let pages_before = pages_read(&env);

    // WHEN its refresh job is queued and each invocation has 11 s (the runner starts a job only
    // with 10 s left; after a page of 3 s, less than 3 s + twice the page is left), the 3 pages
    // being 9 s of Graph's time
    let job = refresh_job(tenant, None);
    let queue = env.stack.queue_url("LicenseRefreshQueue").expect("queue");
    env.platform
        .queue
        .send_job(queue, &job)
        .await
        .expect("queued");
    let first = deliver_from_queue(&env, 11, 1).await;
    // ... and between two invocations a sync rewrites a stale account (a new name)
    let renamed = served
        .iter()
        .enumerate()
        .rev()
        .find(|(_, (id, last))| !known.contains_key(id) && *last != LastSignIn::Never)
        .map(|(_, (id, _))| AccountId::parse(id).expect("id"))
        .expect("a stale account");
    let mut account = env
        .platform
        .store
        .account(&tenant.tenant_id, &renamed)
        .await
        .expect("read")
        .expect("stored");
    account.display_name = "Renamed by a sync".into();
    env.platform
        .store
        .put_account(&tenant.tenant_id, &account)
        .await
        .expect("written");
    let rest = deliver_from_queue(&env, 11, 8).await;
    let invocations = first.invocations + rest.invocations;

    // THEN it took at least three invocations and the job succeeded, once: no message is left
    let record: JobRecord = env
        .platform
        .store
        .get(&keys::job(&tenant.tenant_id, &job.job_id))
        .await
        .expect("read record")
        .expect("a job record");
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    assert!(invocations >= 3, "{invocations} invocation(s): {record:#?}");
    let left = env
        .platform
        .queue
        .receive(queue, 10, 0, 1)
        .await
        .expect("receive");
    assert!(left.is_empty(), "{left:?}");
    // ... only the stale accounts were written
    let step = detail(&record, "last_sign_in");
    assert!(
        step.starts_with("last sign-in read for 360 account(s) in 3 page(s) over ")
            && step.ends_with(&format!("; {stale} stored account(s) updated")),
        "{record:#?}"
    );
    // ... and no sign-in page was read twice (3 pages, 3 reads), but for a page an invocation
    // was cut off in (Lambda's timeout; none is expected)
    let read = pages_read(&env) - pages_before;
    let cut_off = (first.cut_off + rest.cut_off) as u64;
    assert!(
        (3..=3 + cut_off).contains(&read),
        "{read} page reads, {cut_off} cut off"
    );
    // ... every stored account's last sign-in is what Graph answers
    set_sign_in_latency(&env, tenant, 0);
    let stored: std::collections::HashMap<String, Account> = env
        .platform
        .store
        .accounts(&tenant.tenant_id)
        .map_ok(|account| (account.id.as_str().to_owned(), account))
        .try_collect()
        .await
        .expect("accounts");
    assert_eq!(stored.len(), 360);
    for (id, last) in served_sign_ins(&env, tenant).await {
        assert_eq!(&stored[&id].last_sign_in, &last, "{id}");
    }
    // ... and the sync's write between two invocations is kept (the refresh wrote last sign-in
    // alone), with the account's last sign-in right
    assert_eq!(stored[renamed.as_str()].display_name, "Renamed by a sync");
    env.stack.shutdown().await;
}

#[tokio::test]
async fn given_a_store_too_slow_to_read_every_account_in_an_invocation_when_refreshed_then_the_inactive_accounts_are_counted_from_the_sign_in_pages_and_the_job_succeeds()
 {
    // GIVEN a P1 tenant of 240 accounts (two sign-in pages), all stored, none signed in yet
    let mut env = Env::with_tenants(vec![TenantSpec::new(240, 4)]).await;
    let tenant = env.tenants[0].clone();
    env.store_accounts(&tenant).await;
    // ... and a function whose reads of a whole partition of accounts take longer than its
    // invocation (as the report's read of 100,000 stored accounts did against the emulator)
    let whole_reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = whole_reads.clone();
    let hook: local_aws::hook::Hook = std::sync::Arc::new(move |request| {
        let reads_accounts = request.target.ends_with(".Query") && request.body.contains("#ACCT#");
        reads_accounts.then(|| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(tokio::time::sleep(std::time::Duration::from_secs(60)))
                as local_aws::hook::Interleaving
        })
    });
    let function_aws = env
        .stack
        .function_sdk_config("LicenseRefreshFunction")
        .expect("the template has the function");
    env.app = App::new(
        env.stack.config().clone(),
        &local_aws::hook::before(function_aws, hook),
    )
    .expect("app");

    // WHEN its refresh job (a 60-day threshold) is queued and each invocation has 11 s
    let job = refresh_job(&tenant, Some(60));
    let queue = env.stack.queue_url("LicenseRefreshQueue").expect("queue");
    env.platform
        .queue
        .send_job(queue, &job)
        .await
        .expect("queued");
    let delivered = deliver_from_queue(&env, 11, 8).await;

    // THEN the job succeeded without reading every stored account
    let record: JobRecord = env
        .platform
        .store
        .get(&keys::job(&tenant.tenant_id, &job.job_id))
        .await
        .expect("read record")
        .expect("a job record");
    assert_eq!(
        record.status,
        JobStatus::Succeeded,
        "{record:#?} {delivered:?}"
    );
    assert_eq!(
        whole_reads.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no Query of the account partitions"
    );
    // ... and its inactive-accounts step says what the report of the stored accounts says
    let report = env.report(&tenant, 60).await;
    assert!(report.inactive_total > 0, "{report:#?}");
    let step = detail(&record, "inactive_accounts");
    assert!(
        step.starts_with(&format!(
            "{} licensed account(s) without a sign-in for more than 60 days (seats to reclaim): ",
            report.inactive_total
        )),
        "{step}"
    );
    for named in report.inactive_accounts.iter().take(20) {
        assert!(step.contains(named.upn.as_str()), "{} in {step}", named.upn);
    }
    env.stack.shutdown().await;
}

/// Every account's last sign-in as Graph serves it, by lower-case id, in Graph's order.
async fn served_sign_ins(env: &Env, tenant: &TenantConnection) -> Vec<(String, LastSignIn)> {
    let graph = env.platform.tenant_graph(tenant).await.expect("graph");
    let users: Vec<graph::User> = graph
        .users_with_sign_in_activity()
        .try_collect()
        .await
        .expect("sign-ins");
    users
        .into_iter()
        .map(|user| {
            let last = match user
                .sign_in_activity
                .as_ref()
                .and_then(graph::SignInActivity::last_activity)
            {
                Some(at) => LastSignIn::At { at },
                None => LastSignIn::Never,
            };
            (user.id.to_ascii_lowercase(), last)
        })
        .collect()
}

/// Graph's time for a page of `signInActivity` (nothing else is slowed).
fn set_sign_in_latency(env: &Env, tenant: &TenantConnection, ms: u64) {
    let sim = env.stack.sim().expect("sim");
    let mut knobs = sim.knobs(tenant.tenant_id.as_str()).expect("knobs");
    knobs.latency = (ms > 0).then_some(LatencyModel {
        read_ms: 0,
        per_object_us: 0,
        delta_ms: 0,
        sign_in_activity_ms: ms,
        write_ms: 0,
        batch_step_ms: 0,
        token_ms: 0,
        jitter: 0.0,
    });
    sim.set_knobs(tenant.tenant_id.as_str(), knobs)
        .expect("knobs set");
}

/// Pages of `GET /users` the simulator served so far.
fn pages_read(env: &Env) -> u64 {
    let stats = env.stack.sim().expect("sim").stats();
    stats.by_route.get("GET /v1.0/users").copied().unwrap_or(0)
}
