//! Graph refusing or throttling a sync: a wrong client secret, throttling that outlasts every
//! delivery, a usage report throttled for minutes, six waits in a row.

use std::time::Duration;

use graph_sim::{Knobs, SimConfig};
use lifecycle::model::SyncRunStatus;
use sync::Settings;

use crate::assert_store_matches_truth;
use crate::support::{self, Local, fast_settings};

#[tokio::test]
async fn given_a_wrong_client_secret_when_syncing_then_the_run_fails_with_the_reason_and_the_tenant_needs_reconnection()
 {
    // GIVEN a tenant whose stored client secret is wrong
    let mut local = Local::start(SimConfig::single(50, 3), fast_settings()).await;
    let tenant = local.connect(0).await;
    let info = &local.sim().tenants()[0];
    local
        .platform()
        .vault
        .put_app_credential(
            &tenant.tenant_id,
            &lifecycle::AppCredential {
                client_id: info.own_app.client_id.clone(),
                client_secret: "not-the-secret".to_owned().into(),
            },
        )
        .await
        .expect("credential replaced");

    // WHEN it syncs
    let run = local.sync(&tenant.tenant_id, false).await;

    // THEN the run failed saying what to do, and the tenant is marked for reconnection
    assert_eq!(run.status, SyncRunStatus::Failed);
    let error = run.error.expect("error recorded");
    assert!(error.contains("Reconnect the tenant"), "{error}");
    assert!(!error.contains("not-the-secret"));
    let shown = local
        .platform()
        .tenant(&tenant.tenant_id)
        .await
        .expect("read")
        .expect("tenant");
    assert!(
        matches!(
            shown.status,
            lifecycle::model::ConnectionStatus::NeedsReconnection { .. }
        ),
        "{:?}",
        shown.status
    );
    assert_eq!(
        shown.last_sync.expect("shown").status,
        SyncRunStatus::Failed
    );
}

#[tokio::test]
async fn given_graph_throttling_that_outlasts_every_delivery_when_the_last_one_gives_up_then_the_run_ends_failed_and_the_tenant_can_sync_again()
 {
    // GIVEN a tenant whose Graph answers every request 429, for longer than the sync's deliveries
    let mut local = Local::start(SimConfig::single(40, 4), fast_settings()).await;
    let tenant = local.connect(0).await.tenant_id;
    local
        .sim()
        .update_knobs(tenant.as_str(), |k: &mut Knobs| {
            k.fail_rate_429 = 1.0;
            k.retry_after_s = 0.01;
        })
        .expect("knobs");

    // WHEN a sync is requested and its job is delivered until SQS would give up on it
    let run = local.request(&tenant, false).await;
    local.drain().await;

    // THEN the run ended failed, naming the throttling and the deliveries, not left "syncing"
    let ended = local.run(&tenant, &run).await;
    assert_eq!(ended.status, SyncRunStatus::Failed, "{ended:?}");
    let error = ended.error.clone().unwrap_or_default();
    assert!(error.contains("gave up after 5 deliveries"), "{error}");
    assert!(error.contains("429"), "{error}");
    // AND the tenant shows it, and once Graph answers again a new sync runs (no lease or pending
    // run left behind)
    let connection = local
        .platform()
        .tenant(&tenant)
        .await
        .expect("read")
        .expect("tenant");
    assert_eq!(
        connection.last_sync.map(|s| s.status),
        Some(SyncRunStatus::Failed)
    );
    local
        .sim()
        .update_knobs(tenant.as_str(), |k: &mut Knobs| k.fail_rate_429 = 0.0)
        .expect("knobs");
    let next = local.sync(&tenant, false).await;
    assert_eq!(next.status, SyncRunStatus::Ok, "{:?}", next.error);
    assert_store_matches_truth(&local, 0).await;
}

#[tokio::test]
async fn given_a_usage_report_throttled_for_minutes_when_the_sync_meets_it_then_its_message_waits_out_retry_after_and_a_later_delivery_finishes_the_run()
 {
    // GIVEN a tenant whose app has spent its usage-report budget (14 reports per window), the
    // window set to 7 minutes, so Graph answers the next report 429 with Retry-After: 420
    let mut local = Local::start(SimConfig::single(40, 4), fast_settings()).await;
    let connection = local.connect(0).await;
    let tenant = connection.tenant_id.clone();
    local
        .sim()
        .update_knobs(tenant.as_str(), |k: &mut Knobs| {
            k.throttle_window_ms = 7_000
        })
        .expect("knobs");
    let graph = local
        .platform()
        .tenant_graph(&connection)
        .await
        .expect("graph");
    for _ in 0..14 {
        graph
            .mailbox_usage(graph::MailboxUsagePeriod::D7)
            .await
            .expect("a report within the budget");
    }
    let refused = graph
        .mailbox_usage(graph::MailboxUsagePeriod::D7)
        .await
        .expect_err("the budget is spent");
    assert_eq!(refused.retry_after(), Some(Duration::from_secs(420)));

    // WHEN a sync is requested and its job delivered
    let run = local.request(&tenant, false).await;
    let messages = local.receive(1, 1).await;
    assert_eq!(messages.len(), 1);
    let answer = local
        .app
        .handle(support::sqs_event(&messages))
        .await
        .expect("the function answers");

    // THEN the job is handed back as a fresh message (this one is done, so the wait uses up no
    // delivery), and stays away past the retry delay (1 s here): it comes back when Graph's wait
    // has passed, not every retry delay until the deliveries run out
    assert_eq!(answer["batchItemFailures"], serde_json::json!([]));
    local
        .platform()
        .queue
        .delete(&local.queue_url, &messages[0].receipt_handle)
        .await
        .expect("deleted, as Lambda does after a success");
    assert!(
        local.receive(1, 3).await.is_empty(),
        "the job came back before Retry-After"
    );
    // AND the run is still syncing and says why and until when
    let waiting = local.run(&tenant, &run).await;
    assert_eq!(waiting.status, SyncRunStatus::Syncing);
    let reason = waiting.error.clone().unwrap_or_default();
    // (Graph's Retry-After counts down what is left of the 420 s window: on a loaded machine a
    // few seconds pass before the sync asks for the report)
    let wait: Option<u64> = reason
        .split("wait ")
        .nth(1)
        .and_then(|rest| rest.split(" s (Retry-After)").next())
        .and_then(|seconds| seconds.parse().ok());
    assert!(
        wait.is_some_and(|seconds| (360..=420).contains(&seconds)),
        "{reason}"
    );

    // WHEN Graph's window has passed (shortened now) and the job comes back (sent here as SQS
    // delivers the delayed copy after 420 s)
    local
        .sim()
        .update_knobs(tenant.as_str(), |k: &mut Knobs| k.throttle_window_ms = 1)
        .expect("knobs");
    let job = lifecycle::model::Job::from_json(&messages[0].body).expect("the job");
    local
        .platform()
        .queue
        .send_job(&local.queue_url, &job)
        .await
        .expect("sent");
    local.drain().await;

    // THEN a later delivery finished the run, the waiting reason gone, the store equal to the
    // tenant
    let ended = local.run(&tenant, &run).await;
    assert_eq!(ended.status, SyncRunStatus::Ok, "{:?}", ended.error);
    assert_eq!(ended.error, None);
    assert_store_matches_truth(&local, 0).await;
}

#[tokio::test]
async fn given_graph_asking_a_sync_to_wait_six_times_in_a_row_when_each_wait_is_handed_back_then_no_delivery_is_used_up_and_the_run_finishes()
 {
    // GIVEN a tenant whose Graph answers every request 429 with a Retry-After (1 s) longer than
    // the sync's retry delay (none here) and than its invocation can wait (a 5 s budget leaves no
    // time for Graph retries)
    let settings = Settings {
        retry_delay: Duration::ZERO,
        budget: Duration::from_secs(5),
        ..fast_settings()
    };
    let mut local = Local::start(SimConfig::single(40, 4), settings).await;
    let tenant = local.connect(0).await.tenant_id;
    local
        .sim()
        .update_knobs(tenant.as_str(), |k: &mut Knobs| {
            k.fail_rate_429 = 1.0;
            k.retry_after_s = 1.0;
        })
        .expect("knobs");

    // WHEN a sync is requested and its job meets that throttle six times in a row, each
    // delivery handled as Lambda does (SQS counts every receive; five is the queue's limit)
    let run = local.request(&tenant, false).await;
    let mut receive_counts = Vec::new();
    for round in 1..=6 {
        let messages = local.receive(1, 10).await;
        assert_eq!(messages.len(), 1, "round {round}: the job came back");
        receive_counts.push(messages[0].receive_count());
        local.deliver_as_lambda(messages).await;
        // THEN after each the run still waits, saying why (it did not give up)
        let waiting = local.run(&tenant, &run).await;
        assert_eq!(
            waiting.status,
            SyncRunStatus::Syncing,
            "round {round}: {waiting:?}"
        );
        let reason = waiting.error.unwrap_or_default();
        assert!(reason.contains("(Retry-After)"), "round {round}: {reason}");
    }
    // AND the job came back each time as a fresh message: no delivery used up
    assert_eq!(
        receive_counts,
        vec![1; 6],
        "receive counts of the job's deliveries"
    );

    // WHEN Graph answers again
    local
        .sim()
        .update_knobs(tenant.as_str(), |k: &mut Knobs| k.fail_rate_429 = 0.0)
        .expect("knobs");
    local.drain().await;

    // THEN the run finished, the store equal to the tenant
    let ended = local.run(&tenant, &run).await;
    assert_eq!(ended.status, SyncRunStatus::Ok, "{:?}", ended.error);
    assert_eq!(ended.error, None);
    assert_store_matches_truth(&local, 0).await;
}
