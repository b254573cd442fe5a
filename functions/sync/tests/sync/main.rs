//! The sync function against the local stack: moto (DynamoDB, SQS, Secrets Manager) through the
//! real AWS SDK clients, and the Graph simulator through the real Graph client.
//!
//! Here: the store mirrors the tenant (a new tenant, a delta, an expired delta link, a short
//! budget, a resync's sweep). `runs.rs`: one run per tenant at a time (leases, the schedule, a
//! delivery that died, a tenant removed mid-run). `faults.rs`: Graph refusing or throttling.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test or example reports by panicking

mod faults;
mod runs;
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use graph_sim::{Knobs, Mutation, SimConfig, TenantSpec};
use lifecycle::TenantId;
use lifecycle::model::{LastSignIn, SyncRunStatus};
use support::{Local, fast_settings, truth_memberships};

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
async fn given_a_group_whose_members_come_whole_in_one_page_of_many_parts_when_synced_then_its_items_are_written_about_once()
 {
    // GIVEN a tenant of 1,000 accounts whose largest group has them all as members, sent whole
    // in one delta page, and a Graph client that hands a page on in parts of 100 changes (as it
    // hands on 200,000 members in parts of 5,000)
    let mut local = Local::start(SimConfig::single(1_000, 4), fast_settings())
        .await
        .with_delta_parts(100);
    let tenant = local.connect(0).await.tenant_id;
    local
        .sim()
        .grow_group(tenant.as_str(), 1_000)
        .expect("a group of every account");
    local
        .sim()
        .update_knobs(tenant.as_str(), |k| k.delta_member_refs = Some(usize::MAX))
        .expect("knobs");

    // WHEN the tenant syncs
    let run = local.sync(&tenant, false).await;

    // THEN the store holds exactly the tenant's memberships, counted once each
    assert_eq!(run.status, SyncRunStatus::Ok, "{:?}", run.error);
    assert_store_matches_truth(&local, 0).await;
    let truth = local.sim().truth(tenant.as_str()).expect("truth");
    let memberships = truth_memberships(&truth).len() as u64;
    assert_eq!(run.counts.memberships.added, memberships);
    // AND the members' items were written about once each, the page's parts together: at most
    // one write unit per four memberships (written part by part, each part fell all over the
    // group's items and rewrote them: about one unit per membership)
    let units: u64 = local.reports.iter().map(|r| r.membership_write_units).sum();
    assert!(
        units * 4 <= memberships,
        "{units} write units for {memberships} memberships"
    );
}
