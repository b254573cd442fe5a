//! One sync run per tenant at a time: two runs requested together, the schedule, a delivery that
//! died after recording its end, a tenant removed between two pages, one message delivered twice.

use std::time::Duration;

use graph_sim::SimConfig;
use lifecycle::model::SyncRunStatus;

use crate::assert_store_matches_truth;
use crate::support::{self, Local, fast_settings};

#[tokio::test]
async fn given_two_sync_jobs_for_one_tenant_when_delivered_together_then_one_runs_and_the_other_waits()
 {
    // GIVEN two sync runs requested for one tenant
    let mut local = Local::start(SimConfig::single(400, 10), fast_settings()).await;
    let tenant = local.connect(0).await.tenant_id;
    let first = local.request(&tenant, false).await;
    let second = local.request(&tenant, false).await;
    let mut messages = local.receive(10, 1).await;
    while messages.len() < 2 {
        messages.extend(local.receive(10, 1).await);
    }

    // WHEN both jobs are delivered at the same time to two invocations
    let (one, two) = (
        support::sqs_event(&messages[..1]),
        support::sqs_event(&messages[1..2]),
    );
    // Boxed, as the Lambda runtime boxes each invocation: two debug-build handler futures side by
    // side overflow a test thread's stack.
    let (a, b) = tokio::join!(
        Box::pin(local.app.handle(one)),
        Box::pin(local.app.handle(two))
    );
    for response in [a, b] {
        let response = response.expect("the function answers");
        assert_eq!(response["batchItemFailures"], serde_json::json!([]));
    }
    for message in &messages {
        local
            .platform()
            .queue
            .delete(&local.queue_url, &message.receipt_handle)
            .await
            .expect("delete");
    }

    // THEN exactly one run synced; the other is still queued, its job back on the queue
    let (first_run, second_run) = (
        local.run(&tenant, &first).await,
        local.run(&tenant, &second).await,
    );
    let mut statuses = [first_run.status, second_run.status];
    statuses.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(statuses, [SyncRunStatus::Ok, SyncRunStatus::Queued]);
    // AND once the queue is drained the waiting run syncs too, after the first ended
    local.drain().await;
    let (first_run, second_run) = (
        local.run(&tenant, &first).await,
        local.run(&tenant, &second).await,
    );
    assert_eq!(
        (first_run.status, second_run.status),
        (SyncRunStatus::Ok, SyncRunStatus::Ok)
    );
    let (earlier, later) = if first_run.ended_at <= second_run.ended_at {
        (first_run, second_run)
    } else {
        (second_run, first_run)
    };
    assert!(
        earlier.ended_at.expect("ended") <= later.started_at,
        "the runs overlapped"
    );
    assert_store_matches_truth(&local, 0).await;
}

#[tokio::test]
async fn given_tenants_due_not_due_and_disconnected_when_the_schedule_fires_then_only_the_due_one_is_queued()
 {
    // GIVEN three connected tenants: one due, one needing reconnection, one not due yet
    let mut local = Local::start(SimConfig::demo(), fast_settings()).await;
    let now = chrono::Utc::now();
    let mut due = local.connect(0).await;
    due.next_sync_due = Some(now - chrono::Duration::minutes(5));
    local.platform().save_tenant(&due).await.expect("save");
    let mut disconnected = local.connect(1).await;
    disconnected.status = lifecycle::model::ConnectionStatus::NeedsReconnection {
        reason: "consent revoked".into(),
    };
    local
        .platform()
        .save_tenant(&disconnected)
        .await
        .expect("save");
    let mut later = local.connect(2).await;
    later.next_sync_due = Some(now + chrono::Duration::minutes(30));
    local.platform().save_tenant(&later).await.expect("save");

    // WHEN the hourly schedule fires, twice in a row
    let event = serde_json::json!({"version":"0","id":"e-1","detail-type":"Scheduled Event",
        "source":"aws.events","account":"123456789012","time":now,"region":"us-east-1",
        "resources":[],"detail":{}});
    let first = local.app.handle(event.clone()).await.expect("fan-out");
    let second = local.app.handle(event).await.expect("fan-out");

    // THEN the first queued the due tenant only, and the second nothing
    assert_eq!(first["queued"], 1, "{first}");
    assert_eq!(first["not_connected"], 1);
    assert_eq!(first["not_due"], 1);
    assert_eq!(second["queued"], 0, "{second}");
    let shown = local
        .platform()
        .tenant(&due.tenant_id)
        .await
        .expect("read")
        .expect("tenant");
    let last = shown.last_sync.expect("queued run shown");
    assert_eq!(last.status, SyncRunStatus::Queued);
    assert!(shown.next_sync_due.expect("due") > now);
    // AND the queued job syncs the tenant
    local.drain().await;
    assert_eq!(
        local.run(&due.tenant_id, &last.sync_run_id).await.status,
        SyncRunStatus::Ok
    );
    let untouched = local
        .platform()
        .tenant(&disconnected.tenant_id)
        .await
        .expect("read")
        .expect("tenant");
    assert!(untouched.last_sync.is_none());
}

#[tokio::test]
async fn given_a_run_whose_delivery_died_after_recording_its_end_when_delivered_again_then_its_lease_and_pending_claim_are_let_go()
 {
    // GIVEN a synced tenant whose run was recorded ended, but whose delivery died before it let
    // go of the tenant's lease and pending claim and showed the end on the tenant
    let mut local = Local::start(SimConfig::single(40, 4), fast_settings()).await;
    let tenant = local.connect(0).await.tenant_id;
    let run = local.sync(&tenant, false).await;
    assert_eq!(run.status, SyncRunStatus::Ok, "{:?}", run.error);
    let platform = local.platform().clone();
    let held = platform
        .store
        .acquire_lease(&tenant, run.id.as_str(), Duration::from_secs(900))
        .await
        .expect("lease");
    assert!(matches!(held, lifecycle::LeaseOutcome::Acquired(_)));
    let pending = lifecycle::sync_runs::PendingSync {
        sync_run_id: run.id.clone(),
        full: false,
        queued_at: chrono::Utc::now(),
    };
    let claim = lifecycle::store::keys::pending_sync(&tenant);
    platform.store.put(&claim, &pending).await.expect("claim");

    // WHEN its job is delivered again (the redelivery of the dead invocation)
    let job = lifecycle::model::Job::new(
        tenant.clone(),
        lifecycle::model::JobKind::Sync(lifecycle::model::SyncJob {
            sync_run_id: run.id.clone(),
            full: false,
            resume: None,
        }),
    );
    platform
        .queue
        .send_job(&local.queue_url, &job)
        .await
        .expect("sent");
    local.drain().await;

    // THEN the lease is free for the next run and the pending claim is gone, so the tenant's next
    // sync request queues a run at once instead of merging into the ended one
    let next = platform
        .store
        .acquire_lease(&tenant, "the-next-run", Duration::from_secs(900))
        .await
        .expect("lease");
    assert!(
        matches!(next, lifecycle::LeaseOutcome::Acquired(_)),
        "{next:?}"
    );
    let claim: Option<lifecycle::sync_runs::PendingSync> =
        platform.store.get(&claim).await.expect("claim read");
    assert_eq!(claim, None);
}

#[tokio::test]
async fn given_a_sync_between_two_pages_when_its_tenant_is_removed_and_connected_again_then_it_writes_nothing_more_under_the_new_connection()
 {
    // GIVEN a tenant of two users pages, and a sync whose AWS requests pass a hook: once its
    // first items are written, just before it next reads the tenant's connection, the tenant is
    // removed (marked, its items deleted, its connection deleted) and connected again (a new
    // generation)
    let mut local = Local::start(SimConfig::single(1_200, 6), fast_settings()).await;
    let first = local.connect(0).await;
    let tenant = first.tenant_id.clone();
    let admin = local.platform().clone();
    let writes_seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let meta_of = format!("T#{}", tenant.as_str());
    let hook: local_aws::hook::Hook = {
        let (writes_seen, fired, first) = (writes_seen.clone(), fired.clone(), first.clone());
        std::sync::Arc::new(move |request: &local_aws::hook::Request| {
            if request.target == "DynamoDB_20120810.BatchWriteItem" {
                writes_seen.store(true, std::sync::atomic::Ordering::SeqCst);
                return None;
            }
            let reads_connection = request.target == "DynamoDB_20120810.GetItem"
                && request.body.contains("\"META\"")
                && request.body.contains(&meta_of);
            if !reads_connection
                || !writes_seen.load(std::sync::atomic::Ordering::SeqCst)
                || fired.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                return None;
            }
            let (admin, first) = (admin.clone(), first.clone());
            // (a task of its own: polled inside the function's request, the admin's calls
            // would outgrow the test thread's stack)
            let removal = tokio::spawn(async move {
                assert!(admin.mark_removed(&first).await.expect("marked removed"));
                admin
                    .store
                    .delete_tenant(&first.tenant_id)
                    .await
                    .expect("items deleted");
                admin
                    .store
                    .delete(&lifecycle::store::keys::tenant_meta(&first.tenant_id))
                    .await
                    .expect("connection deleted");
                // The sync's other chain may be sweeping the removal it met: a connection is
                // refused until the sweep ends ("connect again in a moment"), so ask again.
                for _ in 0..100 {
                    match admin.connect_tenant(&first).await {
                        Err(lifecycle::StoreError::TenantExists { .. }) => {
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                        connected => {
                            connected.expect("connected again");
                            return;
                        }
                    }
                }
                panic!("the tenant could not be connected again within 10 s");
            });
            Some(Box::pin(async move {
                removal.await.expect("the removal and reconnection ran");
            }) as local_aws::hook::Interleaving)
        })
    };
    local.app = local.hooked_app(fast_settings(), hook);

    // WHEN a sync of the first connection runs (its job delivered until the queue is empty)
    let run = local.request(&tenant, false).await;
    local.drain().await;

    // THEN the removal and reconnection happened between its pages
    assert!(
        fired.load(std::sync::atomic::Ordering::SeqCst),
        "the hook never fired"
    );
    let second = local
        .platform()
        .tenant(&tenant)
        .await
        .expect("read")
        .expect("connected again");
    assert_ne!(second.generation, first.generation);
    // AND the old connection's sync wrote no account, group, membership or SKU after it: the
    // new connection's store is empty until its own first sync
    let stored = local.stored(&tenant).await;
    assert_eq!(
        (
            stored.accounts.len(),
            stored.groups.len(),
            stored.memberships.len(),
            stored.skus.len()
        ),
        (0, 0, 0, 0),
        "items written under the new connection by the old one's sync"
    );
    // AND the new connection shows no sync of the old one, and the old run left no record
    assert_eq!(second.last_sync, None);
    let key = lifecycle::sync_runs::run_key(&tenant, &run).expect("run key");
    let old_run: Option<lifecycle::model::SyncRun> =
        local.platform().store.get(&key).await.expect("read");
    assert_eq!(old_run.map(|r| r.status), None);
}

#[tokio::test]
async fn given_one_runs_message_delivered_to_two_invocations_at_once_when_both_run_then_one_syncs_and_the_other_waits_and_a_dead_holders_run_is_carried_on()
 {
    // GIVEN a requested sync whose message SQS hands to two invocations at once (a standard
    // queue delivers at least once)
    let mut local = Local::start(SimConfig::single(60, 4), fast_settings()).await;
    let tenant = local.connect(0).await.tenant_id;
    let run = local.request(&tenant, false).await;
    let messages = local.receive(1, 1).await;
    assert_eq!(messages.len(), 1);
    let event = support::sqs_event(&messages);

    // WHEN both invocations run it
    let (a, b) = tokio::join!(
        // Boxed, as the Lambda runtime boxes each invocation (see above).
        Box::pin(local.app.handle_reporting(event.clone())),
        Box::pin(local.app.handle_reporting(event))
    );
    let (a, b) = (a.expect("answers"), b.expect("answers"));

    // THEN only one of them synced (one engine run: the work is not done twice), and neither
    // reported a failure
    assert_eq!(
        a.1.len() + b.1.len(),
        1,
        "sync invocations that ran the engine"
    );
    assert_eq!(a.0["batchItemFailures"], serde_json::json!([]));
    assert_eq!(b.0["batchItemFailures"], serde_json::json!([]));
    local
        .platform()
        .queue
        .delete(&local.queue_url, &messages[0].receipt_handle)
        .await
        .expect("delete");
    // AND the run ended OK with the store equal to the tenant, and the waiting copy, delivered
    // after it, is dropped
    local.drain().await;
    let ended = local.run(&tenant, &run).await;
    assert_eq!(ended.status, SyncRunStatus::Ok, "{:?}", ended.error);
    assert_store_matches_truth(&local, 0).await;

    // GIVEN a second run one of whose deliveries holds the tenant's lease for 4 s more (alive or
    // dead: a live one would renew it)
    let second = local.request(&tenant, false).await;
    let holder = format!("{second}/another-delivery");
    let held = local
        .platform()
        .store
        .acquire_lease(&tenant, &holder, Duration::from_secs(4))
        .await
        .expect("lease");
    assert!(matches!(held, lifecycle::LeaseOutcome::Acquired(_)));

    // WHEN the run's message is delivered, and again each time it comes back, as Lambda does,
    // until the run ends
    let mut deliveries = Vec::new();
    while local.run(&tenant, &second).await.status != SyncRunStatus::Ok && deliveries.len() < 10 {
        let messages = local.receive(1, 10).await;
        assert_eq!(messages.len(), 1, "the waiting copy came back");
        deliveries.push(messages[0].receive_count());
        local.deliver_as_lambda(messages).await;
    }

    // THEN the copy waited for the lease's end, not the wait delay (1 s): it came back once, after
    // the lease expired, and carried the run on; each delivery was its message's first (the wait
    // used up no delivery)
    assert_eq!(
        deliveries,
        vec![1, 1],
        "receive counts of the copy's deliveries"
    );
    let ended = local.run(&tenant, &second).await;
    assert_eq!(ended.status, SyncRunStatus::Ok, "{:?}", ended.error);
    assert_store_matches_truth(&local, 0).await;
}
