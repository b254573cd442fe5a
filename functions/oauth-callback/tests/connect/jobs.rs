//! Read-only enforced where jobs enter from the queue: a write job for a tenant connected
//! read-only by this flow is refused by the shared jobs runner with no Graph write.

use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use futures::future::BoxFuture;
use lifecycle::model::{
    AccountRef, Job, JobKind, JobRecord, JobStatus, OffboardJob, OffboardPolicy, TenantConnection,
};
use lifecycle::store::keys;
use lifecycle::{JobError, JobHandler, JobId, JobProgress, TenantId};

use crate::support::Harness;

/// Counts how often it is asked to run a job (it would write in the tenant).
#[derive(Default)]
struct Writer {
    runs: AtomicUsize,
}

impl JobHandler for Writer {
    fn run<'a>(
        &'a self,
        _job: &'a Job,
        _tenant: &'a TenantConnection,
        _progress: &'a mut JobProgress,
    ) -> BoxFuture<'a, Result<JobStatus, JobError>> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(JobStatus::Succeeded) })
    }
}

/// Graph requests other than reads that the simulator has served.
fn graph_writes(h: &Harness) -> u64 {
    h.sim()
        .stats()
        .by_route
        .iter()
        .filter(|(route, _)| route.contains("/v1.0") && !route.starts_with("GET"))
        .map(|(_, count)| count)
        .sum()
}

#[tokio::test]
async fn given_a_read_only_tenant_when_a_write_job_arrives_then_it_is_refused_without_running() {
    // GIVEN a tenant connected read-only through consent
    let h = Harness::start().await;
    let info = h.tenant(1);
    assert_eq!(h.connect_by_consent(1, "read", "acme").await.status(), 200);
    let tenant_id = TenantId::parse(&info.tenant_id).expect("id");
    let job = Job {
        job_id: JobId::new(),
        tenant_id: tenant_id.clone(),
        dry_run: false,
        kind: JobKind::Offboard(OffboardJob {
            policy: OffboardPolicy::KeepDisabled,
            ..OffboardJob::new(AccountRef::parse("adele@contoso.com").expect("account"))
        }),
    };
    let mut message = SqsMessage::default();
    message.message_id = Some("m-1".into());
    message.body = Some(serde_json::to_string(&job).expect("json"));
    let mut event = SqsEvent::default();
    event.records = vec![message];
    let writes_before = graph_writes(&h);

    // WHEN the job runner gets it
    let writer = Writer::default();
    let response = lifecycle::run_sqs_jobs(h.platform(), event, &writer).await;

    // THEN it is not retried, the handler never ran, and the record says why
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(writer.runs.load(Ordering::SeqCst), 0);
    let record: JobRecord = h
        .platform()
        .store
        .get(&keys::job(&tenant_id, &job.job_id))
        .await
        .expect("readable")
        .expect("recorded");
    assert_eq!(record.status, JobStatus::Failed);
    assert!(
        record
            .error
            .as_deref()
            .is_some_and(|e| e.contains("read-only")),
        "{record:?}"
    );
    assert_eq!(graph_writes(&h), writes_before, "no Graph write");
}
