//! Dead-lettered jobs end failed, with their reason and completion event, on the real parts: the
//! table, queues and event bus of infra/template.yaml in moto (through the devstack), the
//! function running with only its template policy, and the Graph simulator over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test or example reports by panicking

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::Utc;
use dead_letters::App;
use devstack::{GraphSource, Registry, Stack, StackOptions, Template, template_path};
use graph_sim::SimConfig;
use lifecycle::events::SOURCE;
use lifecycle::model::{
    AccountRef, ConnectionMode, ConnectionStatus, Job, JobKind, JobRecord, JobStatus, OffboardJob,
    OffboardPolicy, SyncRun, SyncRunStatus, TenantAuth, TenantConnection,
};
use lifecycle::store::keys;
use lifecycle::sync_runs as runs;
use lifecycle::{JobId, OrgId, Platform, TenantId};
use local_aws::subscriber::Subscriber;
use serde_json::{Value, json};

/// How long the end-to-end test waits for five timed-out deliveries and the dead-letter function.
const PATIENCE: Duration = Duration::from_secs(240);

struct Env {
    stack: Stack,
    platform: Platform,
    tenant: TenantConnection,
}

impl Env {
    /// A stack of `template` with `registry`'s functions and one connected tenant.
    async fn start(template: Template, registry: Registry) -> Env {
        let mut options =
            StackOptions::new(template, GraphSource::Simulator(SimConfig::single(5, 2)));
        options.registry = registry;
        let stack = Stack::start(options).await.expect("the local stack starts");
        let sim = stack.sim().expect("the simulator runs");
        let info = sim.tenants().remove(0);
        sim.grant_consent(&info.tenant_id).expect("consent granted");
        let platform = Platform::new(stack.config().clone(), stack.sdk_config()).expect("platform");
        let tenant = TenantConnection {
            tenant_id: TenantId::parse(&info.tenant_id).expect("tenant id"),
            org_id: OrgId::parse("org-dead-letters").expect("org id"),
            display_name: info.display_name.clone(),
            verified_domains: Vec::new(),
            mode: ConnectionMode::ReadWrite,
            auth: TenantAuth::Consent,
            status: ConnectionStatus::Connected,
            consented_at: Utc::now(),
            last_sync: None,
            next_sync_due: None,
            sync_interval_minutes: TenantConnection::DEFAULT_SYNC_INTERVAL_MINUTES,
            options: Default::default(),
            has_p1: Some(info.has_p1),
            generation: None,
        };
        let tenant = platform
            .connect_tenant(&tenant)
            .await
            .expect("tenant saved");
        Env {
            stack,
            platform,
            tenant,
        }
    }

    /// The dead-letter function with its own credentials: only its template policy.
    fn app(&self) -> App {
        let aws = self
            .stack
            .function_sdk_config("DeadLetterFunction")
            .expect("the template has the dead-letter function");
        App::new(self.stack.config().clone(), aws).expect("app")
    }

    fn offboard(&self) -> Job {
        Job {
            job_id: JobId::new(),
            tenant_id: self.tenant.tenant_id.clone(),
            dry_run: false,
            kind: JobKind::Offboard(OffboardJob {
                policy: OffboardPolicy::KeepDisabled,
                ..OffboardJob::new(AccountRef::parse("leaver@contoso.com").expect("account ref"))
            }),
        }
    }

    async fn put_record(&self, record: &JobRecord) {
        self.platform
            .store
            .put(&keys::job(&record.tenant_id, &record.job_id), record)
            .await
            .expect("record written");
    }

    async fn record(&self, job: &Job) -> JobRecord {
        self.platform
            .store
            .get(&keys::job(&job.tenant_id, &job.job_id))
            .await
            .expect("read job record")
            .expect("a job record")
    }
}

/// An SQS event from a dead-letter queue with one message per body.
fn dead_letters(bodies: &[String]) -> SqsEvent {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            json!({
                "messageId": format!("m-{i}"), "receiptHandle": format!("r-{i}"), "body": body,
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:m365-lifecycle-OffboardingDeadLetterQueue.fifo",
                "attributes": {"ApproximateReceiveCount": "1"}
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("sqs event")
}

/// Subscribes a queue to the bundle's completion events (a rule on the stack's bus).
async fn subscribe(stack: &Stack) -> Subscriber {
    let bus = &stack.config().event_bus_name;
    Subscriber::start(
        stack.sdk_config(),
        "dead-letter-subscriber",
        Some(bus),
        SOURCE,
    )
    .await
}

/// The completion events delivered to the subscriber queue since the last call (their `detail`).
async fn received_events(subscriber: &Subscriber) -> Vec<Value> {
    let events = subscriber.events(Duration::from_secs(1)).await;
    events
        .into_iter()
        .map(|event| event["detail"].clone())
        .collect()
}

#[tokio::test]
async fn given_dead_lettered_jobs_when_settled_then_unfinished_ones_fail_with_their_event_and_ended_or_foreign_records_are_untouched()
 {
    // GIVEN three offboard jobs in a dead-letter queue: one cut off while running, one that
    // failed transiently every time, one whose worker ended it on its last delivery; a fourth
    // whose id is taken by another job of the tenant; and an onboarding cut off while running,
    // whose initial password is still in Secrets Manager
    let template = Template::load(&template_path()).expect("infra/template.yaml loads");
    let env = Env::start(template, Registry::empty()).await;
    let subscriber = subscribe(&env.stack).await;
    let now = Utc::now();
    let cut_off = env.offboard();
    let mut record = JobRecord::queued(&cut_off, now);
    record.status = JobStatus::Running;
    env.put_record(&record).await;
    let throttled = env.offboard();
    let mut record = JobRecord::queued(&throttled, now);
    record.status = JobStatus::Running;
    record.error = Some(format!(
        "{}throttled by Microsoft Graph (retry after Some(60s))",
        lifecycle::RETRY_NOTE
    ));
    env.put_record(&record).await;
    let ended = env.offboard();
    let mut record = JobRecord::queued(&ended, now);
    record.status = JobStatus::Failed;
    record.error = Some("gave up after 5 deliveries: throttled".into());
    record.completed_at = Some(now);
    env.put_record(&record).await;
    let other = env.offboard();
    let mut reused = env.offboard();
    reused.job_id = other.job_id.clone();
    if let JobKind::Offboard(offboard) = &mut reused.kind {
        offboard.policy = OffboardPolicy::Delete;
    }
    let mut record = JobRecord::queued(&other, now);
    record.status = JobStatus::Running;
    env.put_record(&record).await;
    let joiner_id = JobId::new();
    let joiner: Job = serde_json::from_value(json!({
        "job_id": joiner_id.to_string(), "tenant_id": env.tenant.tenant_id.to_string(),
        "type": "onboard", "given_name": "Adele", "surname": "Vance",
        "display_name": "Adele Vance", "mail_nickname": "adele.vance",
        "user_principal_name": "adele.vance@contoso.com", "usage_location": "US",
        "password": {"source": "generate"}
    }))
    .expect("an onboard job");
    let mut record = JobRecord::queued(&joiner, now);
    record.status = JobStatus::Running;
    env.put_record(&record).await;
    env.platform
        .vault
        .create_onboarding_password(
            &env.tenant.tenant_id,
            &joiner_id,
            &secrecy::SecretString::from("Initial-Passw0rd!".to_owned()),
        )
        .await
        .expect("password stored");

    // WHEN the dead-letter function settles them
    let bodies: Vec<String> = [&cut_off, &throttled, &ended, &reused, &joiner]
        .iter()
        .map(|job| serde_json::to_string(job).expect("json"))
        .collect();
    let response = env.app().handle(dead_letters(&bodies)).await;

    // THEN every message is settled
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    // ... the job cut off at its timeout is failed, saying so
    let record = env.record(&cut_off).await;
    assert_eq!(record.status, JobStatus::Failed);
    let reason = record.error.clone().unwrap_or_default();
    assert!(
        reason.starts_with("dead-lettered after 5 deliveries: ")
            && reason.contains("Lambda timeout"),
        "{reason}"
    );
    assert!(record.completed_at.is_some());
    // ... the throttled one names its last known error
    let record = env.record(&throttled).await;
    assert_eq!(record.status, JobStatus::Failed);
    assert_eq!(
        record.error.as_deref(),
        Some(
            "dead-lettered after 5 deliveries: throttled by Microsoft Graph (retry after Some(60s)). Send the job again under a new job_id"
        )
    );
    // ... the ended one and the other job's record are as they were
    let record = env.record(&ended).await;
    assert_eq!(
        record.error.as_deref(),
        Some("gave up after 5 deliveries: throttled")
    );
    let record = env.record(&other).await;
    assert_eq!(record.status, JobStatus::Running);
    assert_eq!(record.job.as_ref(), Some(&other));
    // ... the onboarding is failed and its password secret is gone (secretsmanager:DeleteSecret
    // under the function's own policy), as when its worker fails it for good
    assert_eq!(env.record(&joiner).await.status, JobStatus::Failed);
    assert!(
        env.platform
            .vault
            .get_onboarding_password(&env.tenant.tenant_id, &joiner_id)
            .await
            .is_err(),
        "the dead-lettered onboarding's password secret is still there"
    );
    // ... and exactly the three failed jobs' completion events were put
    let mut events = Vec::new();
    for _ in 0..5 {
        events.extend(received_events(&subscriber).await);
        if events.len() >= 3 {
            break;
        }
    }
    let mut ids: Vec<String> = events
        .iter()
        .map(|detail| {
            assert_eq!(detail["status"], "failed", "{detail}");
            detail["job_id"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    ids.sort();
    let mut expected = vec![
        cut_off.job_id.to_string(),
        throttled.job_id.to_string(),
        joiner_id.to_string(),
    ];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(received_events(&subscriber).await.is_empty());
    env.stack.shutdown().await;
}

#[tokio::test]
async fn given_dead_lettered_sync_messages_when_settled_then_the_run_fails_even_when_the_message_is_malformed()
 {
    // GIVEN three sync runs left unfinished: one whose function was cut off while syncing (it
    // holds the tenant's pending-run claim, as every requested run does), one whose job message
    // is malformed (an unknown field), and one recorded before run ids carried their time (found
    // only by reading the tenant's sync log), all in the sync dead-letter queue
    let template = Template::load(&template_path()).expect("infra/template.yaml loads");
    let env = Env::start(template, Registry::empty()).await;
    let syncing = match runs::request_or_merge_sync(&env.platform, &env.tenant, false, Utc::now())
        .await
        .expect("sync requested")
    {
        runs::SyncRequest::Queued(run) => run,
        merged => panic!("the first request queues a run: {merged:?}"),
    };
    let pending = keys::pending_sync(&env.tenant.tenant_id);
    assert!(
        env.platform
            .store
            .get::<runs::PendingSync>(&pending)
            .await
            .expect("read claim")
            .is_some()
    );
    let key = runs::run_key(&env.tenant.tenant_id, &syncing.id).expect("run key");
    let mut run = syncing.clone();
    run.status = SyncRunStatus::Syncing;
    env.platform.store.put(&key, &run).await.expect("run saved");
    let malformed_run = runs::request_sync(&env.platform, &env.tenant, false, Utc::now())
        .await
        .expect("sync requested");
    let sync_body = |run: &SyncRun| {
        json!({"job_id": JobId::new().to_string(), "tenant_id": env.tenant.tenant_id.to_string(),
               "type": "sync", "sync_run_id": run.id.to_string(), "full": false})
    };
    let mut malformed = sync_body(&malformed_run);
    malformed["fulll"] = json!(true);
    let mut untimed = runs::queued_run(
        &env.tenant.tenant_id,
        lifecycle::SyncRunId::parse("run-without-its-time").expect("run id"),
        false,
        Utc::now() - chrono::Duration::minutes(30),
    );
    untimed.status = SyncRunStatus::Syncing;
    let untimed_key = keys::sync_run(&env.tenant.tenant_id, untimed.started_at, &untimed.id);
    env.platform
        .store
        .put(&untimed_key, &untimed)
        .await
        .expect("run saved");

    // WHEN the dead-letter function settles them
    let response = env
        .app()
        .handle(dead_letters(&[
            sync_body(&syncing).to_string(),
            malformed.to_string(),
            sync_body(&untimed).to_string(),
        ]))
        .await;

    // THEN both runs are failed in the sync log with their reason
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let stored = |run: &SyncRun| {
        let key = runs::run_key(&env.tenant.tenant_id, &run.id).expect("run key");
        let store = env.platform.store.clone();
        async move {
            store
                .get::<SyncRun>(&key)
                .await
                .expect("read run")
                .expect("run")
        }
    };
    let cut_off = stored(&syncing).await;
    assert_eq!(cut_off.status, SyncRunStatus::Failed);
    let reason = cut_off.error.unwrap_or_default();
    assert!(
        reason.starts_with("dead-lettered after 5 deliveries: ") && reason.contains("timeout"),
        "{reason}"
    );
    // ... and its pending-run claim is cleared, so the next request queues a new run
    assert!(
        env.platform
            .store
            .get::<runs::PendingSync>(&pending)
            .await
            .expect("read claim")
            .is_none(),
        "the dead-lettered run still holds the tenant's pending-run claim"
    );
    // ... the run without its time in its id is found in the sync log and failed
    let found: SyncRun = env
        .platform
        .store
        .get(&untimed_key)
        .await
        .expect("read run")
        .expect("run");
    assert_eq!(found.status, SyncRunStatus::Failed, "{found:?}");
    let refused = stored(&malformed_run).await;
    assert_eq!(refused.status, SyncRunStatus::Failed);
    let reason = refused.error.unwrap_or_default();
    assert!(
        reason.starts_with("the job is not valid: ") && reason.contains("fulll"),
        "{reason}"
    );
    // ... and the tenant's last sync (the latest run) shows it failed
    let tenant = env
        .platform
        .tenant(&env.tenant.tenant_id)
        .await
        .expect("read tenant")
        .expect("tenant");
    let last = tenant.last_sync.expect("last sync");
    assert_eq!(last.sync_run_id, malformed_run.id);
    assert_eq!(last.status, SyncRunStatus::Failed);
    env.stack.shutdown().await;
}

#[tokio::test]
async fn given_a_worker_cut_off_at_its_timeout_on_every_delivery_when_its_deliveries_run_out_then_the_job_ends_failed_with_its_event()
 {
    // GIVEN the real template and functions, the offboarding function's timeout at 11 s (just
    // above the 10 s it keeps in reserve before starting a job), and a Graph that answers each
    // request after 60 s, so every delivery is cut off mid-job
    let mut template = Template::load(&template_path()).expect("infra/template.yaml loads");
    let offboarding = template
        .functions
        .iter_mut()
        .find(|f| f.logical_id == "OffboardingFunction")
        .expect("the offboarding function");
    offboarding.timeout = Some(11);
    let env = Env::start(template, Registry::standard()).await;
    let subscriber = subscribe(&env.stack).await;
    env.stack
        .sim()
        .expect("sim")
        .update_knobs(env.tenant.tenant_id.as_str(), |knobs| {
            knobs.latency_ms = 60_000
        })
        .expect("knobs");
    let job = env.offboard();

    // WHEN the job is put on the offboarding queue
    env.platform
        .queue
        .send_job(&env.stack.config().offboarding_queue_url, &job)
        .await
        .expect("job sent");

    // THEN after 5 cut-off deliveries the job ends failed, saying why, with its completion event
    // (on this FIFO queue the runner ends it on the next delivery: the queue's maxReceiveCount
    // leaves room for waits for Graph, which these deliveries were not)
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut events = Vec::new();
    let record = loop {
        events.extend(received_events(&subscriber).await);
        let record = env
            .platform
            .store
            .get::<JobRecord>(&keys::job(&job.tenant_id, &job.job_id))
            .await
            .expect("read record");
        if let Some(record) = record.filter(|r| r.status.is_finished()) {
            break record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job did not end within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(record.status, JobStatus::Failed);
    let reason = record.error.clone().unwrap_or_default();
    assert!(
        reason.starts_with("gave up after 5 deliveries that ended without a result")
            && reason.contains("Lambda timeout"),
        "{reason}"
    );
    while events.is_empty() && tokio::time::Instant::now() < deadline {
        events.extend(received_events(&subscriber).await);
    }
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["job_id"], job.job_id.to_string());
    assert_eq!(events[0]["status"], "failed");
    assert_eq!(events[0]["error"], reason.as_str());
    assert_eq!(events[0]["account_may_still_have_access"], true);
    env.stack.shutdown().await;
}
