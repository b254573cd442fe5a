//! The sync function against the local stack: moto (DynamoDB, SQS, Secrets Manager) through the
//! real AWS SDK clients, and the Graph simulator through the real Graph client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test or example reports by panicking

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use graph_sim::{Knobs, Mutation, SimConfig, TenantSpec};
use lifecycle::TenantId;
use lifecycle::model::{LastSignIn, SyncRunStatus};
use support::{Local, fast_settings, truth_memberships};
use sync::Settings;

fn tenant_id(local: &Local, index: usize) -> TenantId {
    TenantId::parse(&local.sim().tenants()[index].tenant_id).expect("tenant id")
}

/// Asserts the store holds exactly the simulator's live accounts, groups, memberships and SKUs,
/// and that a sample of accounts carries the right name, state and licenses.
async fn assert_store_matches_truth(local: &Local, index: usize) {
    let tenant = tenant_id(local, index);
    let truth = local.sim().truth(tenant.as_str()).expect("truth");
    let stored = local.stored(&tenant).await;
    let truth_users: BTreeSet<String> = truth.users.iter().map(|u| u.id.clone()).collect();
    assert_eq!(stored.live_accounts(), truth_users, "live accounts");
    let truth_groups: BTreeSet<String> = truth.groups.iter().map(|g| g.id.clone()).collect();
    assert_eq!(stored.live_groups(), truth_groups, "live groups");
    assert_eq!(stored.memberships, truth_memberships(&truth), "memberships");
    let truth_skus: BTreeSet<String> = truth.skus.iter().map(|s| s.sku_id.clone()).collect();
    assert_eq!(
        stored.skus.keys().cloned().collect::<BTreeSet<_>>(),
        truth_skus,
        "SKUs"
    );
    for sku in &truth.skus {
        let stored_sku = &stored.skus[&sku.sku_id];
        assert_eq!(
            i64::from(stored_sku.consumed),
            sku.consumed,
            "consumed seats of {}",
            sku.sku_part_number
        );
        assert_eq!(i64::from(stored_sku.enabled), sku.enabled);
    }
    for user in truth.users.iter().step_by(37) {
        let account = &stored.accounts[&user.id];
        assert_eq!(account.upn.as_str(), user.user_principal_name);
        assert_eq!(account.display_name, user.display_name);
        assert_eq!(account.enabled, user.account_enabled);
        assert_eq!(account.user_type, user.user_type);
        assert_eq!(account.on_premises_synced, user.on_premises_sync_enabled);
        assert_eq!(
            account
                .usage_location
                .as_ref()
                .map(|c| c.as_str().to_owned()),
            user.usage_location
        );
        let skus: BTreeSet<String> = account
            .licenses
            .iter()
            .map(|l| l.sku_id.to_string())
            .collect();
        assert_eq!(
            skus,
            user.sku_ids.iter().cloned().collect::<BTreeSet<_>>(),
            "licenses of {}",
            user.id
        );
    }
}

#[tokio::test]
async fn given_a_new_tenant_when_synced_then_the_store_equals_the_simulators_ground_truth() {
    // GIVEN a connected tenant of 300 accounts and 30 groups, never synced, that Graph answers
    // in pages of 100
    let mut local = Local::start(SimConfig::single(300, 30), fast_settings()).await;
    let tenant = local.connect(0).await.tenant_id;
    local.page_by(&tenant, 100);

    // WHEN a sync runs
    let run = local.sync(&tenant, false).await;

    // THEN it is recorded OK as a full run that added every object
    assert_eq!(run.status, SyncRunStatus::Ok, "{:?}", run.error);
    assert!(run.full);
    assert!(run.ended_at.is_some());
    let truth = local.sim().truth(tenant.as_str()).expect("truth");
    assert_eq!(run.counts.accounts.added, truth.users.len() as u64);
    assert_eq!(run.counts.groups.added, truth.groups.len() as u64);
    assert_eq!(
        run.counts.memberships.added,
        truth_memberships(&truth).len() as u64
    );
    assert!(run.graph.requests > 0);
    // AND the store holds exactly the tenant's objects
    assert_store_matches_truth(&local, 0).await;
    // AND no account's last sign-in is read by the sync: the license refresh reads it
    let stored = local.stored(&tenant).await;
    assert!(
        stored
            .accounts
            .values()
            .all(|account| account.last_sign_in == not_read_yet())
    );
    // AND licenses inherited from a group name that group, of which the account is a member
    let inherited: Vec<(String, String)> = stored
        .accounts
        .values()
        .flat_map(|a| {
            a.licenses
                .iter()
                .filter_map(|l| l.assigned_by_group.as_ref())
                .map(|g| (g.to_string(), a.id.to_string()))
        })
        .collect();
    assert!(!inherited.is_empty(), "some licenses come from a group");
    let memberships = truth_memberships(&truth);
    for pair in &inherited {
        assert!(
            memberships.contains(pair),
            "{pair:?} inherits from a group it is not in"
        );
    }
    // AND the tenant shows its name, domains, last sync and next sync due
    let connection = local
        .platform()
        .tenant(&tenant)
        .await
        .expect("read")
        .expect("tenant");
    let info = &local.sim().tenants()[0];
    assert_eq!(connection.display_name, info.display_name);
    let domains: BTreeSet<String> = connection
        .verified_domains
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(
        domains,
        info.verified_domains
            .iter()
            .map(|d| d.to_lowercase())
            .collect()
    );
    // (whether it has P1 is the license refresh's to learn, as it reads sign-in activity)
    assert_eq!(connection.has_p1, None);
    let last = connection.last_sync.expect("last sync");
    assert_eq!((last.sync_run_id, last.status), (run.id, SyncRunStatus::Ok));
    assert!(connection.next_sync_due.expect("next sync due") > chrono::Utc::now());
}

#[tokio::test]
async fn given_a_synced_tenant_when_it_changes_then_a_delta_sync_applies_exactly_the_changes() {
    // GIVEN a tenant synced once (answered in pages of 100)
    let mut local = Local::start(SimConfig::single(350, 30), fast_settings()).await;
    let tenant = local.connect(0).await.tenant_id;
    local.page_by(&tenant, 100);
    let first = local.sync(&tenant, false).await;
    assert_eq!(first.status, SyncRunStatus::Ok, "{:?}", first.error);
    let before = local.sim().truth(tenant.as_str()).expect("truth");

    // WHEN accounts are added and deleted and memberships change, and the tenant syncs again
    let report = local
        .sim()
        .mutate(
            tenant.as_str(),
            &Mutation {
                add_users: 15,
                update_users: 0,
                delete_users: 10,
                add_memberships: 40,
                remove_memberships: 25,
            },
        )
        .expect("mutate");
    let after = local.sim().truth(tenant.as_str()).expect("truth");
    let stored_before = local.stored(&tenant).await;
    let second = local.sync(&tenant, false).await;

    // THEN the second run is a delta run that counted exactly the changes
    assert_eq!(second.status, SyncRunStatus::Ok, "{:?}", second.error);
    assert!(!second.full);
    assert_eq!(
        second.counts.accounts.added,
        report.added_users.len() as u64
    );
    assert_eq!(
        second.counts.accounts.removed,
        report.deleted_users.len() as u64
    );
    // (no account was edited, yet one that joined or left a licensed group changed: its
    // licenses follow the group; the count is the accounts the store now holds otherwise)
    let (stored_was, stored_is) = (stored_before, local.stored(&tenant).await);
    let changed = stored_is
        .accounts
        .iter()
        .filter(|(id, account)| {
            !account.deleted
                && stored_was
                    .accounts
                    .get(*id)
                    .is_some_and(|was| was != *account)
        })
        .count();
    assert_eq!(second.counts.accounts.changed, changed as u64);
    let (was, is) = (truth_memberships(&before), truth_memberships(&after));
    assert_eq!(
        second.counts.memberships.added,
        is.difference(&was).count() as u64
    );
    assert_eq!(
        second.counts.memberships.removed,
        was.difference(&is).count() as u64
    );
    // AND cost a delta page per resource besides the organization and SKUs, not a full read
    assert!(
        second.graph.requests <= 5 && second.graph.requests < first.graph.requests,
        "{} vs {}",
        second.graph.requests,
        first.graph.requests
    );
    // AND the store equals the ground truth, deleted accounts kept as marked deleted
    assert_store_matches_truth(&local, 0).await;
    let stored = local.stored(&tenant).await;
    for deleted in &report.deleted_users {
        assert!(stored.accounts[deleted].deleted, "{deleted} marked deleted");
    }
}

#[tokio::test]
async fn given_an_expired_delta_link_when_syncing_then_a_full_resync_also_removes_what_vanished() {
    // GIVEN a synced tenant whose delta links then expire, while accounts are deleted
    let mut local = Local::start(SimConfig::single(250, 20), fast_settings()).await;
    let tenant = local.connect(0).await.tenant_id;
    local.page_by(&tenant, 100);
    local.sync(&tenant, false).await;
    let report = local
        .sim()
        .mutate(
            tenant.as_str(),
            &Mutation {
                delete_users: 7,
                add_users: 3,
                ..Mutation::default()
            },
        )
        .expect("mutate");
    local
        .sim()
        .update_knobs(tenant.as_str(), |k: &mut Knobs| {
            k.expire_delta_tokens = true
        })
        .expect("knobs");

    // WHEN the tenant syncs
    let run = local.sync(&tenant, false).await;

    // THEN Graph's 410 turned the run into a full resync that found every change
    assert_eq!(run.status, SyncRunStatus::Ok, "{:?}", run.error);
    assert!(run.full);
    assert_eq!(
        run.counts.accounts.removed,
        report.deleted_users.len() as u64
    );
    assert_eq!(run.counts.accounts.added, report.added_users.len() as u64);
    assert_store_matches_truth(&local, 0).await;
}

#[tokio::test]
async fn given_a_tenant_without_p1_when_synced_then_the_run_is_ok_and_reads_no_sign_in_activity() {
    // GIVEN a tenant without Entra ID P1
    let sim = SimConfig {
        seed: 7,
        port: 0,
        tenants: vec![TenantSpec {
            has_p1: false,
            ..TenantSpec::new(120, 6)
        }],
    };
    let mut local = Local::start(sim, fast_settings()).await;
    let tenant = local.connect(0).await.tenant_id;
    let users_reads_before = users_list_reads(&local);

    // WHEN it syncs
    let run = local.sync(&tenant, false).await;

    // THEN the run is OK, not failed or partial
    assert_eq!(run.status, SyncRunStatus::Ok, "{:?}", run.error);
    // AND it asked Graph for no sign-in activity (the license refresh is its only reader)
    assert_eq!(users_list_reads(&local), users_reads_before);
    // AND every account says its last sign-in is not read yet
    let stored = local.stored(&tenant).await;
    assert!(!stored.accounts.is_empty());
    for account in stored.accounts.values() {
        assert_eq!(account.last_sign_in, not_read_yet());
    }
    assert_store_matches_truth(&local, 0).await;
}

/// What a new account's last sign-in says until the license refresh reads it.
fn not_read_yet() -> LastSignIn {
    LastSignIn::NotAvailable {
        reason: "not read yet: read by the next license refresh".into(),
    }
}

/// `GET /users` requests the simulator answered (a read with `signInActivity` is one; the sync's
/// reads are delta queries).
fn users_list_reads(local: &Local) -> u64 {
    local
        .sim()
        .stats()
        .by_route
        .iter()
        .filter(|(route, _)| route.starts_with("GET") && route.ends_with("/users"))
        .map(|(_, count)| *count)
        .sum()
}

#[tokio::test]
async fn given_an_account_whose_last_sign_in_the_refresh_stored_when_a_full_and_a_delta_sync_rewrite_it_then_last_sign_in_is_unchanged()
 {
    // GIVEN a synced tenant whose accounts carry a last sign-in the license refresh stored
    let mut local = Local::start(SimConfig::single(200, 4), fast_settings()).await;
    let tenant = local.connect(0).await.tenant_id;
    local.sync(&tenant, false).await;
    let refreshed = LastSignIn::At {
        at: chrono::DateTime::from_timestamp(1_000_000_000, 0).expect("time"),
    };
    let store = &local.platform().store;
    for account in local.stored(&tenant).await.accounts.into_values() {
        let key = lifecycle::store::keys::account(&tenant, &account.id);
        let account = lifecycle::model::Account {
            last_sign_in: refreshed.clone(),
            ..account
        };
        store.put(&key, &account).await.expect("refresh's write");
    }
    for full in [true, false] {
        // WHEN departments change in the tenant and a full (then a delta) sync rewrites accounts
        let changed = local
            .sim()
            .mutate(
                tenant.as_str(),
                &Mutation {
                    update_users: 20,
                    ..Mutation::default()
                },
            )
            .expect("mutate");
        let run = local.sync(&tenant, full).await;
        assert_eq!(run.status, SyncRunStatus::Ok, "{:?}", run.error);
        assert_eq!(run.full, full);
        assert!(run.counts.accounts.changed > 0, "accounts rewritten");

        // THEN the accounts the sync rewrote (and every other) keep the refresh's last sign-in
        let stored = local.stored(&tenant).await;
        for id in &changed.updated_users {
            assert!(stored.accounts[id].profile.department.is_some(), "{id}");
        }
        for account in stored.accounts.values() {
            assert_eq!(
                account.last_sign_in, refreshed,
                "{} (full {full})",
                account.id
            );
        }
    }
}

#[tokio::test]
async fn given_a_short_time_budget_when_syncing_then_continuations_finish_with_no_duplicate_or_missing_item()
 {
    // GIVEN a function whose budget is spent after every page
    let settings = sync::Settings {
        budget: Duration::ZERO,
        ..fast_settings()
    };
    let mut local = Local::start(SimConfig::single(350, 25), settings).await;
    let tenant = local.connect(0).await.tenant_id;
    local.page_by(&tenant, 100);

    // WHEN a sync runs
    let run = local.sync(&tenant, false).await;

    // THEN it took an invocation per page of its longest round (the users round's 4 pages of 100;
    // the rounds run side by side, each pausing after every page), each queueing the next, and
    // ended OK
    assert!(local.invocations >= 4, "{} invocations", local.invocations);
    assert_eq!(run.status, SyncRunStatus::Ok, "{:?}", run.error);
    // AND every object was counted once and stored once
    let truth = local.sim().truth(tenant.as_str()).expect("truth");
    assert_eq!(run.counts.accounts.added, truth.users.len() as u64);
    assert_eq!(
        run.counts.memberships.added,
        truth_memberships(&truth).len() as u64
    );
    assert_store_matches_truth(&local, 0).await;
    let stored = local.stored(&tenant).await;
    assert!(
        stored
            .accounts
            .values()
            .all(|account| account.last_sign_in == not_read_yet())
    );
}

#[tokio::test]
async fn given_a_resync_over_several_invocations_when_it_ends_then_the_sweep_removes_exactly_what_vanished()
 {
    // GIVEN a synced tenant (answered in pages of 100), accounts deleted and delta links
    // expired, and a tiny budget
    let mut local = Local::start(SimConfig::single(280, 15), fast_settings()).await;
    let tenant = local.connect(0).await.tenant_id;
    local.page_by(&tenant, 100);
    local.sync(&tenant, false).await;
    let report = local
        .sim()
        .mutate(
            tenant.as_str(),
            &Mutation {
                delete_users: 9,
                remove_memberships: 5,
                ..Mutation::default()
            },
        )
        .expect("mutate");
    local
        .sim()
        .update_knobs(tenant.as_str(), |k: &mut Knobs| {
            k.expire_delta_tokens = true
        })
        .expect("knobs");
    let mut local = local.with_settings(sync::Settings {
        budget: Duration::ZERO,
        ..fast_settings()
    });

    // WHEN the tenant syncs
    let invocations = local.invocations;
    let run = local.sync(&tenant, false).await;

    // THEN the full resync spanned an invocation per page of its longest round (the users
    // round's 3 pages of 100) and removed exactly the deleted accounts
    assert!(
        local.invocations - invocations >= 3,
        "{} invocations",
        local.invocations - invocations
    );
    assert_eq!(run.status, SyncRunStatus::Ok, "{:?}", run.error);
    assert!(run.full);
    assert_eq!(
        run.counts.accounts.removed,
        report.deleted_users.len() as u64
    );
    assert_eq!(run.counts.accounts.added, 0);
    assert_store_matches_truth(&local, 0).await;
}

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
                admin.connect_tenant(&first).await.expect("connected again");
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
    assert!(reason.contains("wait 420 s (Retry-After)"), "{reason}");

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
