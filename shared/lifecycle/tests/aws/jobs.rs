//! The SQS jobs runner against a real table in moto: what happens to malformed messages, jobs for
//! unknown or read-only tenants, duplicate deliveries, transient failures and FIFO order.

use std::sync::Mutex;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use futures::future::BoxFuture;
use lifecycle::model::{
    AccountRef, ConnectionMode, Job, JobKind, JobRecord, JobStatus, JobStep, OffboardJob,
    OffboardPolicy, StepOutcome, TenantConnection,
};
use lifecycle::store::keys;
use lifecycle::{
    Config, Invocation, JobError, JobHandler, JobId, JobProgress, Platform, StoreError, TenantId,
    run_sqs_jobs, run_sqs_jobs_within,
};
use local_aws::subscriber::Subscriber;
use serde_json::json;

use super::{connection, spawn, store, tenant};

#[path = "jobs/handback.rs"]
mod handback;

/// A worker that records which jobs it ran and fails transiently once when told to.
#[derive(Default)]
struct Worker {
    ran: Mutex<Vec<JobId>>,
    abandoned: Mutex<Vec<JobId>>,
    fail_once_after_first_step: bool,
    /// Removes the job's tenant (as `DELETE /tenants/{id}` does) after the first step.
    remove_tenant_while_running: Option<Platform>,
    /// How long each job takes besides its writes.
    takes: Option<std::time::Duration>,
    /// After the first step, hands the job back with this error instead of finishing it.
    hand_back_after_first_step: Option<JobError>,
    /// Before any step, on every delivery, hands the job back with this error.
    hand_back_every_time: Option<JobError>,
    /// Run once right after the first step: another delivery of the job, run to its end.
    meanwhile: Option<Box<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>>,
}

impl JobHandler for Worker {
    fn run<'a>(
        &'a self,
        job: &'a Job,
        _tenant: &'a TenantConnection,
        progress: &'a mut JobProgress,
    ) -> BoxFuture<'a, Result<JobStatus, JobError>> {
        Box::pin(async move {
            self.ran.lock().expect("lock").push(job.job_id.clone());
            if let Some(takes) = self.takes {
                tokio::time::sleep(takes).await;
            }
            if let Some(error) = &self.hand_back_every_time {
                return Err(error.clone());
            }
            if progress.finished_step("first").is_none() {
                progress.step(step("first")).await?;
                if let Some(meanwhile) = &self.meanwhile {
                    meanwhile().await;
                }
                if let Some(platform) = &self.remove_tenant_while_running {
                    remove(platform, &job.tenant_id).await;
                }
                if self.fail_once_after_first_step {
                    return Err(JobError::transient("Graph answered 503"));
                }
                if let Some(error) = &self.hand_back_after_first_step {
                    return Err(error.clone());
                }
            }
            progress.step(step("second")).await?;
            Ok(JobStatus::Succeeded)
        })
    }

    fn abandon<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.abandoned
                .lock()
                .expect("lock")
                .push(job.job_id.clone())
        })
    }
}

/// What `DELETE /tenants/{id}` does to the table: the connection marked removed, every item
/// deleted, the connection last.
async fn remove(platform: &Platform, tenant: &TenantId) {
    let connection = platform
        .tenant(tenant)
        .await
        .expect("read")
        .expect("connected");
    platform.mark_removed(&connection).await.expect("marked");
    platform.store.delete_tenant(tenant).await.expect("deleted");
    platform
        .store
        .delete(&keys::tenant_meta(tenant))
        .await
        .expect("connection deleted");
}

fn step(name: &str) -> JobStep {
    JobStep {
        name: name.into(),
        outcome: StepOutcome::Done,
        graph_request_id: None,
        detail: None,
        at: None,
        observed: Vec::new(),
        not_done: Vec::new(),
    }
}

fn config() -> Config {
    Config::from_vars(|name| {
        Some(match name {
            "TABLE_NAME" => super::TABLE.to_owned(),
            "EVENT_BUS_NAME" => "default".to_owned(),
            "GRAPH_BASE_URL" => "http://127.0.0.1:9/v1.0".to_owned(),
            name if name.ends_with("_URL") || name.ends_with("ORIGINS") => {
                "http://127.0.0.1:9".to_owned()
            }
            _ => "unused".to_owned(),
        })
    })
    .expect("config")
}

/// A moto server with the table, and the platform over it (no Graph call is made here).
async fn platform() -> (super::Local, Platform) {
    let local = spawn().await;
    store(&local).await;
    let platform = Platform::new(config(), &local.moto.sdk_config().await).expect("platform");
    (local, platform)
}

fn event(queue: &str, bodies: &[String]) -> SqsEvent {
    event_delivered(queue, bodies, 1)
}

fn event_delivered(queue: &str, bodies: &[String], deliveries: u32) -> SqsEvent {
    let records: Vec<_> = bodies
        .iter()
        .enumerate()
        .map(|(n, body)| {
            json!({"messageId": format!("m{n}"), "receiptHandle": "r", "body": body,
                   "attributes": {"ApproximateReceiveCount": deliveries.to_string()},
                   "eventSource": "aws:sqs", "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{queue}")})
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("sqs event")
}

fn offboard(tenant_id: &TenantId) -> Job {
    Job {
        job_id: JobId::new(),
        tenant_id: tenant_id.clone(),
        dry_run: false,
        kind: JobKind::Offboard(OffboardJob {
            policy: OffboardPolicy::KeepDisabled,
            ..OffboardJob::new(AccountRef::parse("adele@contoso.com").expect("account"))
        }),
    }
}

fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|failure| failure.item_identifier.clone())
        .collect()
}

async fn record(platform: &Platform, job: &Job) -> JobRecord {
    platform
        .store
        .get(&keys::job(&job.tenant_id, &job.job_id))
        .await
        .expect("read record")
        .expect("a job record")
}

#[tokio::test]
async fn given_a_malformed_message_when_run_then_it_is_left_for_redelivery_and_the_dlq() {
    // GIVEN a runner and a message that is not a job
    let (_local, platform) = platform().await;
    let worker = Worker::default();
    // WHEN the batch runs
    let response = run_sqs_jobs(&platform, event("jobs", &["{\"type\":".into()]), &worker).await;
    // THEN the message is reported failed (SQS redelivers it, then moves it to the DLQ)
    assert_eq!(failed_ids(&response), vec!["m0"]);
    assert!(worker.ran.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn given_a_job_for_an_unknown_tenant_when_run_then_it_is_dropped_without_writing_anything() {
    let (_local, platform) = platform().await;
    let worker = Worker::default();
    // GIVEN a job for a tenant that is not connected (never, or removed)
    let job = offboard(&tenant(404));
    // WHEN it runs
    let body = serde_json::to_string(&job).expect("json");
    let response = run_sqs_jobs(&platform, event("offboarding.fifo", &[body]), &worker).await;
    // THEN it is not redelivered, the worker never ran, and nothing of the tenant was written
    // (a record would put data back under a removed tenant); the worker deleted what only it
    // knows of
    assert!(failed_ids(&response).is_empty());
    let stored: Option<JobRecord> = platform
        .store
        .get(&keys::job(&job.tenant_id, &job.job_id))
        .await
        .expect("read record");
    assert!(stored.is_none(), "{stored:?}");
    assert!(worker.ran.lock().expect("lock").is_empty());
    assert_eq!(
        *worker.abandoned.lock().expect("lock"),
        vec![job.job_id.clone()]
    );
}

#[tokio::test]
async fn given_a_tenant_removed_while_its_job_runs_when_the_job_ends_then_nothing_of_it_remains() {
    let (_local, platform) = platform().await;
    // GIVEN a connected tenant whose job removes the tenant's connection (as DELETE does) in
    // the middle of its run, after its record was written
    let tenant = connection(&tenant(21));
    platform.connect_tenant(&tenant).await.expect("save tenant");
    let worker = Worker {
        remove_tenant_while_running: Some(platform.clone()),
        ..Worker::default()
    };
    let job = offboard(&tenant.tenant_id);
    // WHEN the job runs to its end
    let body = serde_json::to_string(&job).expect("json");
    let response = run_sqs_jobs(&platform, event("offboarding.fifo", &[body]), &worker).await;
    // THEN it is not redelivered, and no item of the tenant remains: not its job record, not
    // the connection, not its index entry
    assert!(failed_ids(&response).is_empty());
    for partition in lifecycle::store::keys::all_tenant_partitions(&tenant.tenant_id) {
        let left: Vec<lifecycle::Key> =
            futures::TryStreamExt::try_collect(platform.store.query_keys(&partition, None))
                .await
                .expect("query");
        assert!(left.is_empty(), "{partition}: {left:?}");
    }
    assert!(
        platform
            .store
            .get::<lifecycle::model::TenantIndexEntry>(&keys::tenant_index_entry(&tenant.tenant_id))
            .await
            .expect("read")
            .is_none()
    );
}

#[tokio::test]
async fn given_a_removed_tenant_when_a_late_writer_saves_its_connection_then_it_is_refused() {
    let (_local, platform) = platform().await;
    // GIVEN a connection read by a worker, then the tenant removed (connection and index gone)
    let tenant = connection(&tenant(22));
    platform.connect_tenant(&tenant).await.expect("save tenant");
    let read_before = platform
        .tenant(&tenant.tenant_id)
        .await
        .expect("read")
        .expect("connected");
    assert!(platform.mark_removed(&read_before).await.expect("marked"));
    // WHEN the worker saves what it read while the removal runs, and again once it has ended
    let while_removing = platform.save_tenant(&read_before).await;
    platform
        .store
        .delete(&keys::tenant_meta(&tenant.tenant_id))
        .await
        .expect("connection deleted");
    platform
        .store
        .delete_tenant(&tenant.tenant_id)
        .await
        .expect("swept");
    let after_removal = platform.save_tenant(&read_before).await;
    // THEN both are refused, and the tenant stays removed: no connection, no index entry
    assert!(
        matches!(while_removing, Err(StoreError::TenantGone { .. })),
        "{while_removing:?}"
    );
    assert!(
        matches!(after_removal, Err(StoreError::TenantGone { .. })),
        "{after_removal:?}"
    );
    assert!(
        platform
            .tenant(&tenant.tenant_id)
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        platform
            .store
            .get::<lifecycle::model::TenantIndexEntry>(&keys::tenant_index_entry(&tenant.tenant_id))
            .await
            .expect("read")
            .is_none()
    );
    // AND a new connection starts where there is none
    platform
        .connect_tenant(&tenant)
        .await
        .expect("connected again");
    assert!(
        matches!(
            platform.connect_tenant(&tenant).await,
            Err(StoreError::TenantExists { .. })
        ),
        "a second new connection over a live one is refused"
    );
}

#[tokio::test]
async fn given_a_read_only_tenant_when_a_write_job_arrives_then_it_is_refused_without_running() {
    let (_local, platform) = platform().await;
    // GIVEN a tenant connected read-only
    let mut tenant = connection(&tenant(7));
    tenant.mode = ConnectionMode::Read;
    platform.connect_tenant(&tenant).await.expect("save tenant");
    let worker = Worker::default();
    let job = offboard(&tenant.tenant_id);
    // WHEN an offboard job arrives on the queue
    let body = serde_json::to_string(&job).expect("json");
    let response = run_sqs_jobs(&platform, event("offboarding.fifo", &[body]), &worker).await;
    // THEN it is failed with a reason that says how to fix it, and the worker never ran
    assert!(failed_ids(&response).is_empty());
    let record = record(&platform, &job).await;
    assert_eq!(record.status, JobStatus::Failed);
    assert!(
        record
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("read-only"),
        "{record:?}"
    );
    assert!(worker.ran.lock().expect("lock").is_empty());
    // AND the worker was told, so it can delete what only it knows about
    assert_eq!(
        *worker.abandoned.lock().expect("lock"),
        vec![job.job_id.clone()]
    );
}

#[tokio::test]
async fn given_the_last_delivery_when_it_fails_transiently_then_the_job_is_failed_for_good() {
    let (_local, platform) = platform().await;
    let tenant = connection(&tenant(12));
    platform.connect_tenant(&tenant).await.expect("save tenant");
    let failing = Worker {
        fail_once_after_first_step: true,
        ..Worker::default()
    };
    let job = offboard(&tenant.tenant_id);
    let body = serde_json::to_string(&job).expect("json");
    // GIVEN SQS delivers the job for the last time before its dead-letter queue
    let last = event_delivered("offboarding.fifo", &[body], lifecycle::MAX_DELIVERIES);
    // WHEN it fails transiently once more
    let response = run_sqs_jobs(&platform, last, &failing).await;
    // THEN the record says it gave up, the worker cleans up, and SQS still moves it to the DLQ
    assert_eq!(failed_ids(&response), vec!["m0"]);
    let record = record(&platform, &job).await;
    assert_eq!(record.status, JobStatus::Failed);
    assert!(
        record
            .error
            .as_deref()
            .unwrap_or_default()
            .starts_with("gave up after 5 deliveries"),
        "{record:?}"
    );
    assert_eq!(
        *failing.abandoned.lock().expect("lock"),
        vec![job.job_id.clone()]
    );
}

#[tokio::test]
async fn given_a_job_delivered_twice_when_run_then_the_worker_runs_it_once() {
    let (_local, platform) = platform().await;
    let tenant = connection(&tenant(8));
    platform.connect_tenant(&tenant).await.expect("save tenant");
    let worker = Worker::default();
    let job = offboard(&tenant.tenant_id);
    let body = serde_json::to_string(&job).expect("json");
    // GIVEN the job ran once
    run_sqs_jobs(
        &platform,
        event("offboarding.fifo", std::slice::from_ref(&body)),
        &worker,
    )
    .await;
    // WHEN SQS delivers it again
    let response = run_sqs_jobs(&platform, event("offboarding.fifo", &[body]), &worker).await;
    // THEN the second delivery is skipped and the record stays succeeded
    assert!(failed_ids(&response).is_empty());
    assert_eq!(worker.ran.lock().expect("lock").len(), 1);
    assert_eq!(record(&platform, &job).await.status, JobStatus::Succeeded);
}

#[tokio::test]
async fn given_a_transient_failure_when_redelivered_then_the_job_resumes_after_its_done_steps() {
    let (_local, platform) = platform().await;
    let tenant = connection(&tenant(9));
    platform.connect_tenant(&tenant).await.expect("save tenant");
    let failing = Worker {
        fail_once_after_first_step: true,
        ..Worker::default()
    };
    let job = offboard(&tenant.tenant_id);
    let body = serde_json::to_string(&job).expect("json");
    // GIVEN a delivery that did its first step and then hit a 503
    let response = run_sqs_jobs(
        &platform,
        event("offboarding.fifo", std::slice::from_ref(&body)),
        &failing,
    )
    .await;
    assert_eq!(failed_ids(&response), vec!["m0"]);
    let interrupted = record(&platform, &job).await;
    assert_eq!(interrupted.status, JobStatus::Running);
    assert!(
        interrupted
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("will retry")
    );
    // WHEN SQS redelivers it
    let healthy = Worker::default();
    let response = run_sqs_jobs(&platform, event("offboarding.fifo", &[body]), &healthy).await;
    // THEN it finishes, with the first step done once and the second step added
    assert!(failed_ids(&response).is_empty());
    let finished = record(&platform, &job).await;
    assert_eq!(finished.status, JobStatus::Succeeded);
    let names: Vec<_> = finished.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["first", "second"]);
}

#[tokio::test]
async fn given_a_fifo_batch_when_the_first_job_fails_then_the_later_ones_wait_too() {
    let (_local, platform) = platform().await;
    let tenant = connection(&tenant(10));
    platform.connect_tenant(&tenant).await.expect("save tenant");
    let failing = Worker {
        fail_once_after_first_step: true,
        ..Worker::default()
    };
    let bodies: Vec<String> = (0..3)
        .map(|_| serde_json::to_string(&offboard(&tenant.tenant_id)).expect("json"))
        .collect();
    // WHEN the first of three FIFO messages fails transiently
    let response = run_sqs_jobs(&platform, event("offboarding.fifo", &bodies), &failing).await;
    // THEN all three are reported, so none overtakes the first
    assert_eq!(failed_ids(&response), vec!["m0", "m1", "m2"]);
    assert_eq!(failing.ran.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn given_a_removed_tenant_when_a_job_arrives_then_nothing_is_written_under_it() {
    let (_local, platform) = platform().await;
    // GIVEN a tenant whose removal is under way
    let mut tenant = connection(&tenant(11));
    tenant.status = lifecycle::model::ConnectionStatus::Removed;
    platform.connect_tenant(&tenant).await.expect("save tenant");
    let worker = Worker::default();
    let job = offboard(&tenant.tenant_id);
    // WHEN a job that was already queued arrives
    let body = serde_json::to_string(&job).expect("json");
    let response = run_sqs_jobs(&platform, event("offboarding.fifo", &[body]), &worker).await;
    // THEN it is consumed without running and leaves no record behind
    assert!(failed_ids(&response).is_empty());
    assert!(worker.ran.lock().expect("lock").is_empty());
    let record: Option<JobRecord> = platform
        .store
        .get(&keys::job(&job.tenant_id, &job.job_id))
        .await
        .expect("read");
    assert_eq!(record, None);
}

/// A queue subscribed to this bundle's events through a rule, as a service would be.
async fn subscribe(local: &super::Local) -> Subscriber {
    let config = local.moto.sdk_config().await;
    Subscriber::start(&config, "subscriber", None, lifecycle::events::SOURCE).await
}

#[tokio::test]
async fn given_a_subscriber_when_a_job_finishes_then_it_receives_the_completion_event() {
    let (local, platform) = platform().await;
    // GIVEN a service subscribed to this bundle's events through a rule and a queue
    let subscriber = subscribe(&local).await;
    let tenant = connection(&tenant(13));
    platform.connect_tenant(&tenant).await.expect("save tenant");
    let job = offboard(&tenant.tenant_id);
    // WHEN the job runs to the end
    let body = serde_json::to_string(&job).expect("json");
    run_sqs_jobs(
        &platform,
        event("offboarding.fifo", &[body]),
        &Worker::default(),
    )
    .await;
    // THEN the subscriber receives one event naming the job, its status and its steps
    let events = subscriber.events(Duration::from_secs(2)).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["detail-type"], lifecycle::events::JOB_FINISHED);
    assert_eq!(event["detail"]["job_id"], job.job_id.to_string());
    assert_eq!(event["detail"]["type"], "offboard");
    assert_eq!(event["detail"]["status"], "succeeded");
    assert_eq!(event["detail"]["steps"][1]["name"], "second");
}

#[tokio::test]
async fn given_too_little_time_left_in_the_invocation_when_a_batch_runs_then_no_job_starts_and_all_are_redelivered()
 {
    let (_local, platform) = platform().await;
    // GIVEN a connected tenant, two jobs for it, and an invocation 2 s before its deadline
    let tenant = connection(&tenant(9));
    platform.connect_tenant(&tenant).await.expect("save tenant");
    let worker = Worker::default();
    let bodies: Vec<String> = (0..2)
        .map(|_| serde_json::to_string(&offboard(&tenant.tenant_id)).expect("json"))
        .collect();
    let invocation = Invocation::with_timeout(std::time::Duration::from_secs(2));

    // WHEN the batch runs within that invocation
    let response =
        run_sqs_jobs_within(&platform, event("jobs", &bodies), &worker, &invocation).await;

    // THEN no job was started (none left `running` when Lambda cuts the invocation off), and both
    // messages are reported for redelivery to a fresh invocation
    assert!(worker.ran.lock().expect("lock").is_empty());
    assert_eq!(failed_ids(&response), vec!["m0", "m1"]);
}

#[tokio::test]
async fn given_ample_time_in_the_invocation_when_a_batch_runs_then_every_job_runs() {
    let (_local, platform) = platform().await;
    // GIVEN a connected tenant, two jobs for it, and an invocation with 15 minutes left
    let tenant = connection(&tenant(10));
    platform.connect_tenant(&tenant).await.expect("save tenant");
    let worker = Worker::default();
    let bodies: Vec<String> = (0..2)
        .map(|_| serde_json::to_string(&offboard(&tenant.tenant_id)).expect("json"))
        .collect();
    let invocation = Invocation::with_timeout(std::time::Duration::from_secs(900));

    // WHEN the batch runs within that invocation
    let response =
        run_sqs_jobs_within(&platform, event("jobs", &bodies), &worker, &invocation).await;

    // THEN both jobs ran and nothing is redelivered
    assert_eq!(worker.ran.lock().expect("lock").len(), 2);
    assert!(failed_ids(&response).is_empty());
}

#[tokio::test]
async fn given_a_job_cancelled_while_on_its_queue_when_delivered_then_the_worker_never_runs_it() {
    // GIVEN a job whose record was cancelled after it was queued
    let (_local, platform) = platform().await;
    let tenant = connection(&tenant(9));
    platform.connect_tenant(&tenant).await.expect("save tenant");
    let worker = Worker::default();
    let job = offboard(&tenant.tenant_id);
    let key = keys::job(&job.tenant_id, &job.job_id);
    let mut cancelled = JobRecord::queued(&job, chrono::Utc::now());
    cancelled.status = JobStatus::Cancelled;
    platform.store.put(&key, &cancelled).await.expect("record");

    // WHEN its message arrives
    let body = serde_json::to_string(&job).expect("json");
    let response = run_sqs_jobs(&platform, event("offboarding.fifo", &[body]), &worker).await;

    // THEN it is deleted unrun and stays cancelled
    assert!(failed_ids(&response).is_empty());
    assert!(worker.ran.lock().expect("lock").is_empty());
    assert_eq!(record(&platform, &job).await.status, JobStatus::Cancelled);
}

/// A worker whose delivery, right after its first step, is overtaken by a second delivery of the
/// same message (its visibility ran out, or SQS delivered it twice) that runs the job to its end.
fn overtaken_worker(platform: &Platform, job: &Job) -> Worker {
    let platform = platform.clone();
    let body = serde_json::to_string(job).expect("json");
    Worker {
        meanwhile: Some(Box::new(move || {
            let (platform, body) = (platform.clone(), body.clone());
            Box::pin(async move {
                let again = event_delivered("offboarding.fifo", &[body], 2);
                let response = run_sqs_jobs(&platform, again, &Worker::default()).await;
                assert!(
                    failed_ids(&response).is_empty(),
                    "the second delivery ends the job"
                );
            })
        })),
        ..Worker::default()
    }
}

#[tokio::test]
async fn given_a_second_delivery_that_ends_a_job_while_the_first_runs_when_the_first_goes_on_then_it_writes_nothing_and_one_event_is_put()
 {
    let (local, platform) = platform().await;
    let subscriber = subscribe(&local).await;
    let tenant = connection(&tenant(24));
    platform.connect_tenant(&tenant).await.expect("save tenant");
    // GIVEN two jobs whose first delivery, after its first step, is overtaken by a second
    // delivery that runs the job to its end; then the first goes on, one to its last step and
    // its end, the other to a transient failure (Graph 503) it would note on the record
    let finishing = offboard(&tenant.tenant_id);
    let failing = offboard(&tenant.tenant_id);
    let goes_on = overtaken_worker(&platform, &finishing);
    let fails = Worker {
        fail_once_after_first_step: true,
        ..overtaken_worker(&platform, &failing)
    };

    // WHEN the first deliveries run
    let body = |job: &Job| vec![serde_json::to_string(job).expect("json")];
    let finished = run_sqs_jobs(
        &platform,
        event("offboarding.fifo", &body(&finishing)),
        &goes_on,
    );
    let failed = run_sqs_jobs(
        &platform,
        event("offboarding.fifo", &body(&failing)),
        &fails,
    );
    let (finished, failed) = (finished.await, failed.await);

    // THEN each first delivery stops there: its message is deleted (the second delivery owned
    // the job), nothing is abandoned, the job is not failed
    assert!(failed_ids(&finished).is_empty());
    assert!(failed_ids(&failed).is_empty());
    assert!(goes_on.abandoned.lock().expect("lock").is_empty());
    assert!(fails.abandoned.lock().expect("lock").is_empty());
    // AND each stored record is the one the second delivery ended: succeeded, its steps once
    // each, never turned back to `running` nor given the late retry note
    for job in [&finishing, &failing] {
        let stored = record(&platform, job).await;
        assert_eq!(stored.status, JobStatus::Succeeded, "{stored:?}");
        assert_eq!(stored.error, None);
        let steps: Vec<&str> = stored.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(steps, ["first", "second"]);
        assert!(!stored.announce_pending);
    }
    // AND exactly one completion event per job was put, the second delivery's
    let events = subscriber.events(Duration::from_secs(2)).await;
    let mut announced: Vec<String> = events
        .iter()
        .map(|event| {
            assert_eq!(event["detail"]["status"], "succeeded");
            event["detail"]["job_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    announced.sort();
    let mut expected = vec![finishing.job_id.to_string(), failing.job_id.to_string()];
    expected.sort();
    assert_eq!(announced, expected);
}

#[tokio::test]
async fn given_a_queued_record_when_a_cancel_and_a_start_race_then_exactly_one_wins() {
    // GIVEN a queued job record, read by the API's cancel and by a delivery of the job
    let (_local, platform) = platform().await;
    let job = offboard(&tenant(10));
    let queued = JobRecord::queued(&job, chrono::Utc::now());
    platform
        .store
        .put_new_job_record(&queued)
        .await
        .expect("record");
    let mut cancelled = queued.clone();
    cancelled.status = JobStatus::Cancelled;
    let mut running = queued.clone();
    running.status = JobStatus::Running;

    // WHEN the cancellation lands first, then the worker's start, each over the record it read
    let cancel = platform
        .store
        .put_job_record_revised(&mut cancelled)
        .await
        .expect("cancel");
    let start = platform
        .store
        .put_job_record_revised(&mut running)
        .await
        .expect("start");

    // THEN the cancellation won and the start wrote nothing
    assert!(cancel && !start);
    assert_eq!(record(&platform, &job).await.status, JobStatus::Cancelled);
    // AND the other way round the start wins and the cancel of a running job writes nothing
    let other = offboard(&tenant(10));
    let queued = JobRecord::queued(&other, chrono::Utc::now());
    platform
        .store
        .put_new_job_record(&queued)
        .await
        .expect("record");
    let (mut cancelled, mut running) = (queued.clone(), queued);
    cancelled.status = JobStatus::Cancelled;
    running.status = JobStatus::Running;
    assert!(
        platform
            .store
            .put_job_record_revised(&mut running)
            .await
            .expect("start")
    );
    assert!(
        !platform
            .store
            .put_job_record_revised(&mut cancelled)
            .await
            .expect("cancel of a running job")
    );
    assert_eq!(record(&platform, &other).await.status, JobStatus::Running);
}

#[tokio::test]
async fn given_a_late_workers_sweep_of_a_removed_tenant_when_the_tenant_is_connected_again_meanwhile_then_the_new_connections_data_survives()
 {
    let (local, platform) = platform().await;
    // GIVEN a removed tenant (connection gone) whose late worker sweeps it, through a hook that
    // reconnects the tenant and writes an account of the new connection just before the
    // sweep's first Query
    let tenant = connection(&tenant(23));
    let tenant_id = tenant.tenant_id.clone();
    let admin = platform.clone();
    let outcome = std::sync::Arc::new(Mutex::new(None));
    let seen = outcome.clone();
    let fired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hook: local_aws::hook::Hook =
        std::sync::Arc::new(move |request: &local_aws::hook::Request| {
            if request.target != "DynamoDB_20120810.Query"
                || fired.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                return None;
            }
            let (admin, tenant, seen) = (admin.clone(), tenant.clone(), seen.clone());
            let reconnect = tokio::spawn(async move {
                let connected = admin.connect_tenant(&tenant).await;
                if connected.is_ok() {
                    admin
                        .store
                        .put(
                            &keys::account(&tenant.tenant_id, &super::account_id(1)),
                            &super::account(1),
                        )
                        .await
                        .expect("the new connection's account");
                }
                *seen.lock().expect("lock") = Some(connected);
            });
            Some(Box::pin(async move {
                reconnect.await.expect("the reconnection ran");
            }) as local_aws::hook::Interleaving)
        });
    let sweeper = Platform::new(
        config(),
        &local_aws::hook::before(&local.moto.sdk_config().await, hook),
    )
    .expect("platform");

    // WHEN the late worker sweeps
    let swept = Box::pin(sweeper.sweep_if_removed(&tenant_id))
        .await
        .expect("sweep");

    // THEN the reconnection made during the sweep is refused as "being removed" (so no new
    // connection can lose data to it), and once the sweep is over the tenant connects again and
    // keeps what it writes
    assert!(swept);
    let during = outcome.lock().expect("lock").take().expect("the hook ran");
    assert!(
        matches!(during, Err(StoreError::TenantExists { .. })),
        "a reconnection was accepted while a sweep was deleting the tenant: {during:?}"
    );
    let again = connection(&tenant_id);
    platform
        .connect_tenant(&again)
        .await
        .expect("connects once the sweep is over");
    let account = keys::account(&tenant_id, &super::account_id(1));
    platform
        .store
        .put(&account, &super::account(1))
        .await
        .expect("account");
    assert!(
        !platform
            .sweep_if_removed(&tenant_id)
            .await
            .expect("no sweep")
    );
    assert!(
        platform
            .store
            .get::<lifecycle::model::Account>(&account)
            .await
            .expect("read")
            .is_some(),
        "the new connection's account was deleted"
    );
}

#[tokio::test]
async fn given_a_sync_request_that_read_the_tenant_when_the_tenant_is_removed_and_connected_again_before_it_saves_then_the_new_connection_is_not_overwritten()
 {
    let (local, _) = platform().await;
    let sync_queue = local
        .clients
        .sqs
        .create_queue()
        .queue_name("sync")
        .send()
        .await
        .expect("sync queue")
        .queue_url
        .expect("queue url");
    let config = || {
        let mut config = config();
        config.sync_queue_url = sync_queue.clone();
        config
    };
    let admin = Platform::new(config(), &local.moto.sdk_config().await).expect("platform");
    // GIVEN a tenant connected by one organization, read by a sync request (the API's
    // `POST /sync`), and a hook that, just before the request queues its run, removes the
    // tenant (as `DELETE /tenants/{id}` does) and lets another organization connect it
    let first = admin
        .connect_tenant(&connection(&tenant(24)))
        .await
        .expect("connected");
    let tenant_id = first.tenant_id.clone();
    let mut second = connection(&tenant_id);
    second.org_id = lifecycle::OrgId::parse("globex").expect("org");
    second.display_name = "Contoso, connected again".into();
    let fired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (hooked_admin, reconnection) = (admin.clone(), second.clone());
    let hook: local_aws::hook::Hook =
        std::sync::Arc::new(move |request: &local_aws::hook::Request| {
            if request.target != "AmazonSQS.SendMessage"
                || fired.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                return None;
            }
            let (admin, second) = (hooked_admin.clone(), reconnection.clone());
            let interleaving = tokio::spawn(async move {
                remove(&admin, &second.tenant_id).await;
                admin
                    .connect_tenant(&second)
                    .await
                    .expect("connected again");
            });
            Some(Box::pin(async move {
                interleaving
                    .await
                    .expect("the removal and reconnection ran");
            }) as local_aws::hook::Interleaving)
        });
    let late = Platform::new(
        config(),
        &local_aws::hook::before(&local.moto.sdk_config().await, hook),
    )
    .expect("platform");

    // WHEN the late request goes on and saves the connection it read
    let requested =
        lifecycle::sync_runs::request_sync(&late, &first, false, chrono::Utc::now()).await;

    // THEN its save is refused, and the tenant keeps the new organization's connection (and its
    // index entry) as that connection wrote it
    assert!(
        matches!(
            requested,
            Err(lifecycle::sync_runs::RequestError::Store(
                StoreError::TenantGone { .. }
            ))
        ),
        "{requested:?}"
    );
    let stored = admin
        .tenant(&tenant_id)
        .await
        .expect("read")
        .expect("the new connection");
    assert_eq!(
        stored.org_id.to_string(),
        "globex",
        "the old organization's record overwrote the new connection"
    );
    assert_eq!(stored.display_name, "Contoso, connected again");
    assert!(stored.last_sync.is_none(), "{:?}", stored.last_sync);
    let index = admin
        .store
        .get::<lifecycle::model::TenantIndexEntry>(&keys::tenant_index_entry(&tenant_id))
        .await
        .expect("read")
        .expect("index entry");
    assert_eq!(index.org_id.to_string(), "globex");
}
