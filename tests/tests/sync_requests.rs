//! Sync requests merge: while a run of a tenant is queued or running, `POST /tenants/{id}/sync`
//! answers that run instead of queueing another. Driven through the HTTP API of the local stack
//! (the real API function under its own IAM policy, moto, the template's queues); the sync queue's
//! consumer is a recording worker, so what was queued is exactly what it receives.

use std::convert::Infallible;

use devstack::{GraphSource, Registry, Stack, StackOptions, Template, template_path};
use e2e::{RecordingWorker, eventually};
use graph_sim::SimConfig;
use lifecycle::Platform;
use serde_json::{Value, json};

/// Concurrent requests of the test.
const REQUESTS: usize = 200;

#[tokio::test]
async fn given_200_concurrent_sync_requests_when_answered_then_one_run_is_queued_and_every_answer_names_it()
 {
    // GIVEN a connected tenant, and the sync queue consumed by a worker that records each job
    let worker = RecordingWorker::default();
    let recorder = worker.recorder.clone();
    let template = Template::load(&template_path()).expect("infra/template.yaml loads");
    let mut options = StackOptions::new(template, GraphSource::Simulator(SimConfig::single(5, 2)));
    options.registry = Registry::standard().register("functions/sync", move |_, _| {
        Ok::<_, Infallible>(worker.clone())
    });
    let stack = Stack::start(options).await.expect("the stack starts");
    let platform = Platform::new(stack.config().clone(), stack.sdk_config()).expect("platform");
    let info = stack.sim().expect("simulator").tenants().remove(0);
    e2e::store_connection(
        &platform,
        &info,
        "org-sync",
        "read",
        json!({"kind": "consent"}),
    )
    .await;
    let http = e2e::api_client(&stack, "org-sync");
    let url = format!("{}/tenants/{}/sync", stack.api_url(), info.tenant_id);

    // WHEN 200 requests for a sync of the tenant arrive at once
    let answers = futures::future::join_all((0..REQUESTS).map(|_| {
        let request = http
            .post(&url)
            .header("content-type", "application/json")
            .body("{}");
        async move {
            let response = request.send().await.expect("the API answers");
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("a JSON answer");
            (status, body)
        }
    }))
    .await;

    // THEN every request is accepted and names the same run; all but one were merged into it
    assert!(
        answers.iter().all(|(status, _)| *status == 202),
        "{:?}",
        answers.iter().find(|(status, _)| *status != 202)
    );
    let run_ids: std::collections::BTreeSet<&str> = answers
        .iter()
        .filter_map(|(_, body)| body["sync_run_id"].as_str())
        .collect();
    assert_eq!(run_ids.len(), 1, "{run_ids:?}");
    let merged = answers
        .iter()
        .filter(|(_, body)| body["merged"] == true)
        .count();
    assert_eq!(merged, REQUESTS - 1);
    // ... the sync log holds that one run
    let log: Value = http
        .get(format!(
            "{}/tenants/{}/sync-runs",
            stack.api_url(),
            info.tenant_id
        ))
        .send()
        .await
        .expect("sync log")
        .json()
        .await
        .expect("JSON");
    let runs = log["sync_runs"].as_array().cloned().unwrap_or_default();
    assert_eq!(runs.len(), 1, "{log}");
    // ... and the sync worker receives that one job, and no other
    let run_id = run_ids
        .iter()
        .next()
        .copied()
        .unwrap_or_default()
        .to_owned();
    let delivered = eventually("the sync job to be delivered", || async {
        let records = recorder.records();
        (!records.is_empty()).then_some(records)
    })
    .await;
    let sqs = aws_sdk_sqs::Client::new(stack.sdk_config());
    let waiting = sqs
        .get_queue_attributes()
        .queue_url(stack.queue_url("SyncQueue").expect("sync queue"))
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .unwrap_or_default()
        .get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .cloned();
    assert_eq!(waiting.as_deref(), Some("0"));
    let delivered = recorder.records().len().max(delivered.len());
    assert_eq!(delivered, 1);
    let body: Value =
        serde_json::from_str(recorder.records()[0]["body"].as_str().unwrap_or_default())
            .expect("a job");
    assert_eq!(body["sync_run_id"], run_id.as_str());
    stack.shutdown().await;
}
