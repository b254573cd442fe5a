//! Proof under faults: every job kind is killed at each of its failure points in turn, before and
//! after the write, then redelivered as SQS does until it ends; the tenant, the job record and
//! the Graph request log must then say the job was done once, as asked.
//!
//! The failure points are not listed here: the clean run of a job counts them through the hooks
//! of the AWS SDK client and of the Graph client (every write to DynamoDB, SQS, Secrets Manager,
//! EventBridge and Graph is one), so a step added to a worker is covered without touching this
//! file. `PROOF=full` (make proof) crashes at every point; the default (make test) at every
//! fifth point, each way, and always at the first and the last. The scenarios that take tens of
//! seconds even sampled (AWS faults, the full sync, the delta sync with 410s, the restore, the
//! duplicates) are ignored by `make test` and run by `make proof` (`--include-ignored`).
//!
//! Every run also reads the completion events a subscriber got (an EventBridge rule on the bus
//! to a queue, as a customer would subscribe): each finished job puts one, with the record's
//! status and no secret in it. Delivery is at least once by design (the event goes out before
//! the record is written, so a crash in between puts it again on redelivery); a second event is
//! accepted only for a kill in that window, and the table counts them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use devstack::{GraphSource, Stack, StackOptions, Template, template_path};
use e2e::faults::{
    Crash, CrashSwitch, Deliveries, Moment, deliver_all, deliver_all_with, hooked_registry,
    sim_routes,
};
use graph_sim::{SimConfig, Truth, TruthUser};
use lifecycle::model::{Account, Group, Job, JobRecord, JobStatus, Membership, Sku, SyncRunStatus};
use lifecycle::store::keys;
use lifecycle::{Platform, TenantId};
use serde_json::{Value, json};

mod runs;
mod table;
mod world;

use table::{Case, Check, Outcome, Row, Sample, report, sampled};
use world::{World, start, start_with};

fn onboard_case(world: &World, index: usize, groups: &[String], skus: &[String]) -> Case {
    let nickname = format!("crash{index}");
    let upn = format!("{nickname}@{}", world.domain);
    Case {
        job: json!({
            "job_id": format!("onboard-{index}"), "tenant_id": world.tenant_id, "type": "onboard",
            "given_name": "Crash", "surname": "Test", "display_name": format!("Crash Test {index}"),
            "mail_nickname": nickname, "user_principal_name": upn, "usage_location": "US",
            "password": {"source": "generate"},
            "groups": groups, "licenses": skus,
        }),
        function: "OnboardingFunction",
        queue: "OnboardingQueue",
        check: Check::Onboarded {
            upn,
            skus: skus.iter().cloned().collect(),
            groups: groups.iter().cloned().collect(),
        },
    }
}

#[tokio::test]
async fn given_an_onboarding_with_groups_and_a_license_when_killed_at_each_failure_point_then_one_account_is_made_as_asked()
 {
    // GIVEN a connected tenant, two of its groups and two of its SKUs
    let world = start_with(60).await;
    let groups = world.groups(2);
    // (the SKU with units for every run of the full matrix)
    let skus = vec![world.sku("FLOW_FREE")];

    // WHEN an onboarding runs clean, then once killed at each failure point (before and after)
    // and redelivered until it ends
    let row = world
        .matrix("onboard (2 groups, 1 license)", |world, index| {
            onboard_case(world, index, &groups, &skus)
        })
        .await;

    // THEN every run made one account, with its licenses and groups, in one POST /users and
    // one assignLicense, and the job succeeded
    report(&row);
}

/// Users for the runs of one matrix (a clean run and two per point at most).
fn take_users(world: &World, sku: &str, group: &str) -> Vec<TruthUser> {
    let users = world.members(sku, group);
    println!("  {} accounts of one shape for the runs", users.len());
    assert!(
        users.len() >= 12,
        "only {} accounts of one shape",
        users.len()
    );
    users
}

#[tokio::test]
async fn given_membership_updates_when_killed_at_each_failure_point_then_each_account_gets_its_group_and_one_license_assignment()
 {
    // GIVEN a connected tenant, a group and a SKU, and accounts in neither
    let world = start().await;
    let group = world.groups(1).remove(0);
    let sku = world.sku("FLOW_FREE");
    let users = take_users(&world, &sku, &group);

    // WHEN each account's update (add the group, assign the license) runs clean or is killed at
    // a failure point and redelivered until it ends
    let row = world
        .matrix("update memberships (1 group, 1 license)", |world, index| {
            let user = &users[index % users.len()];
            Case {
                job: json!({
                    "job_id": format!("members-{index}"), "tenant_id": world.tenant_id,
                    "type": "update_memberships", "account": user.user_principal_name,
                    "add_groups": [group], "assign_licenses": [sku],
                }),
                function: "OnboardingFunction",
                queue: "OnboardingQueue",
                check: Check::Memberships {
                    user_id: user.id.clone(),
                    group: group.clone(),
                    sku: sku.clone(),
                },
            }
        })
        .await;

    // THEN each account is in the group with the license, assigned once, and the job succeeded
    report(&row);
}

#[tokio::test]
#[ignore = "make proof runs it"]
async fn given_account_updates_when_killed_at_each_failure_point_then_each_account_has_the_name_asked()
 {
    // GIVEN a connected tenant and its accounts
    let world = start().await;
    let users = take_users(&world, "none", "none");

    // WHEN each account's update (a new display name) runs clean or is killed at a failure
    // point and redelivered until it ends
    let row = world
        .matrix("update account (display name)", |world, index| {
            let user = &users[index % users.len()];
            let display_name = format!("Renamed {index}");
            Case {
                job: json!({
                    "job_id": format!("update-{index}"), "tenant_id": world.tenant_id,
                    "type": "update_account", "account": user.id,
                    "display_name": display_name,
                }),
                function: "OnboardingFunction",
                queue: "OnboardingQueue",
                check: Check::Updated {
                    user_id: user.id.clone(),
                    display_name,
                },
            }
        })
        .await;

    // THEN each account has the name asked, in the tenant and in the store where stored, and
    // the job succeeded
    report(&row);
}

async fn offboard_matrix(policy: &str) {
    // GIVEN a connected tenant and licensed accounts in groups
    let world = start().await;
    let users = take_users(&world, "none", "none");

    // WHEN each account's offboarding runs clean or is killed at a failure point and
    // redelivered until it ends
    let delete = policy == "delete";
    let row = world
        .matrix(&format!("offboard ({policy})"), |world, index| {
            let user = &users[index % users.len()];
            Case {
                job: json!({
                    "job_id": format!("offboard-{index}"), "tenant_id": world.tenant_id,
                    "type": "offboard", "account": user.id, "policy": policy,
                }),
                function: "OffboardingFunction",
                queue: "OffboardingQueue",
                check: Check::Offboarded {
                    user_id: user.id.clone(),
                    delete,
                },
            }
        })
        .await;

    // THEN each account ends deleted (one DELETE) or disabled without licenses or groups, and
    // the job succeeded
    report(&row);
}

#[tokio::test]
async fn given_offboardings_that_delete_when_killed_at_each_failure_point_then_each_account_is_deleted_once()
 {
    offboard_matrix("delete").await;
}

#[tokio::test]
async fn given_offboardings_that_keep_disabled_when_killed_at_each_failure_point_then_each_account_is_disabled_without_licenses_or_groups()
 {
    offboard_matrix("keep_disabled").await;
}

#[tokio::test]
async fn given_a_license_refresh_when_killed_at_each_failure_point_then_the_stored_skus_equal_the_tenant()
 {
    // GIVEN a connected tenant
    let world = start_with(60).await;

    // WHEN its license refresh runs clean or is killed at a failure point and redelivered
    let row = world
        .matrix("license refresh", |world, index| Case {
            job: json!({
                "job_id": format!("refresh-{index}"), "tenant_id": world.tenant_id,
                "type": "license_refresh",
            }),
            function: "LicenseRefreshFunction",
            queue: "LicenseRefreshQueue",
            check: Check::Refreshed,
        })
        .await;

    // THEN the stored SKUs equal the tenant's and the job succeeded
    report(&row);
}

#[tokio::test]
async fn given_graph_throttling_5xx_and_expired_tokens_when_an_onboarding_is_killed_at_each_failure_point_then_one_account_is_made_as_asked()
 {
    // GIVEN a tenant whose Graph answers 10 % of requests 429 and 5 % 503/504 (Retry-After
    // 50 ms), and whose access tokens all expire as each run starts
    let mut world = start_with(60).await;
    world
        .stack
        .sim()
        .expect("sim")
        .update_knobs(world.tenant_id.as_str(), |k| {
            k.fail_rate_429 = 0.10;
            k.fail_rate_5xx = 0.05;
            k.retry_after_s = 0.05;
        })
        .expect("knobs");
    world.graph_faults = true;
    let groups = world.groups(2);
    let skus = vec![world.sku("FLOW_FREE")];

    // WHEN an onboarding runs clean, then killed at each failure point and redelivered
    let row = world
        .matrix(
            "onboard under Graph 429/5xx and expired tokens",
            |world, index| onboard_case(world, index, &groups, &skus),
        )
        .await;

    // THEN every run made one account with its groups and license, and the job succeeded
    report(&row);
}

#[tokio::test]
#[ignore = "tens of seconds even sampled: make proof runs it"]
async fn given_aws_throttling_and_internal_errors_when_an_onboarding_is_killed_at_each_failure_point_then_one_account_is_made_as_asked()
 {
    // GIVEN a connected tenant, and AWS answering 8 % of the functions' calls with its
    // throttling and internal errors: DynamoDB ProvisionedThroughputExceeded, ThrottlingException
    // and 5xx, SQS and Secrets Manager ThrottlingException/InternalFailure/ServiceUnavailable,
    // EventBridge failed puts (whole, or the entry refused in a 200)
    let mut world = start_with(60).await;
    world.switch.set_aws_fault_rate(0.08);
    world.aws_faults = true;
    // (the SDK's back-off between its retries takes time: make test samples three points)
    world.sample = Sample::Every(12);
    let groups = world.groups(2);
    let skus = vec![world.sku("FLOW_FREE")];

    // WHEN an onboarding runs clean, then killed at each failure point and redelivered
    let row = world
        .matrix("onboard under AWS throttling and 5xx", |world, index| {
            onboard_case(world, index, &groups, &skus)
        })
        .await;

    // THEN every run made one account with its groups and license, in one POST /users and one
    // assignLicense, the job succeeded, and its completion event said so
    assert!(row.aws_faults > 0, "no AWS fault was injected");
    report(&row);
}

/// A sync matrix: every run first changes the tenant (an account deleted, one added, a
/// membership added and one removed), so each run has changes to find and the sweep to do.
async fn sync_matrix(world: &World, scenario: &str, full: bool) -> Row {
    // The matrix syncs the tenant dozens of times in ten minutes, more than Graph's usage-report
    // limit allows (14 reports per 10 minutes per app: its 429s would outlast the deliveries).
    // Graph's windows are shortened 100 times, so the scenario is about kills and 410s;
    // throttling has its own scenarios.
    world
        .stack
        .sim()
        .expect("sim")
        .update_knobs(world.tenant_id.as_str(), |k| k.throttle_window_ms = 100)
        .expect("knobs");
    world
        .matrix(scenario, |world, _| {
            world
                .stack
                .sim()
                .expect("sim")
                .mutate(
                    world.tenant_id.as_str(),
                    &graph_sim::Mutation {
                        add_users: 1,
                        delete_users: 1,
                        add_memberships: 1,
                        remove_memberships: 1,
                        update_users: 1,
                    },
                )
                .expect("the tenant changes");
            Case {
                job: Value::Null,
                function: "SyncFunction",
                queue: "SyncQueue",
                check: Check::Synced { full },
            }
        })
        .await
}

#[tokio::test]
#[ignore = "tens of seconds even sampled: make proof runs it"]
async fn given_a_full_sync_that_continues_page_after_page_when_killed_at_each_failure_point_then_the_store_equals_the_tenant()
 {
    // GIVEN a synced tenant of 1,000 accounts (two users pages: the rounds run side by side, so
    // a run continues only where a round has a page more) whose sync spends its budget on every
    // page, so each run is a chain of continuations (one invocation per page)
    let mut world = start_with(1_000).await;
    // (each run syncs the whole tenant: make test crashes at the first continuation only)
    world.sample = Sample::First("AmazonSQS.SendMessage");

    // WHEN the tenant changes and a full sync runs clean, then killed at each failure point
    // (before and after every page write, checkpoint, continuation sent, lease) and redelivered
    let row = sync_matrix(&world, "full sync over continuations", true).await;

    // THEN every run ended OK and left the store equal to the tenant
    report(&row);
}

#[tokio::test]
#[ignore = "tens of seconds even sampled: make proof runs it (it paid for the sync's new tests in make test)"]
async fn given_delta_links_that_expire_at_each_kill_when_a_delta_sync_is_killed_at_each_failure_point_then_the_store_equals_the_tenant()
 {
    // GIVEN a synced tenant whose delta links expire whenever the sync is killed, so the
    // redelivery resumes from a saved link that Graph answers 410 syncStateNotFound (a delta run
    // of this tenant is one invocation: its rounds run side by side, a page each, so make test
    // crashes at every sixth point rather than at a continuation)
    let mut world = start_with(60).await;
    world.expire_delta_on_kill = true;
    world.sample = Sample::Every(6);

    // WHEN the tenant changes and a delta sync runs clean, then killed at each failure point
    let row = sync_matrix(&world, "delta sync, 410 after each kill", false).await;

    // THEN every run ended OK (a full resync where Graph said 410) and the store equals the
    // tenant, what vanished swept
    assert!(row.gone > 0, "no run met Graph's 410");
    report(&row);
}

#[tokio::test]
#[ignore = "tens of seconds even sampled: make proof runs it"]
async fn given_offboarded_accounts_when_their_restore_through_the_api_is_killed_at_each_failure_point_and_asked_again_then_each_is_back_once_as_before()
 {
    // GIVEN a connected tenant and licensed accounts in groups, stored here (a first sync)
    let mut world = start_with(400).await;
    let users = take_users(&world, "none", "none");
    world
        .run(
            &Case {
                job: Value::Null,
                function: "SyncFunction",
                queue: "SyncQueue",
                check: Check::Synced { full: true },
            },
            None,
        )
        .await;
    world.sample = Sample::Every(4);

    // WHEN each account is offboarded (delete), then restored through the API with sign-in
    // enabled, clean or killed at a failure point, and asked again until answered
    let truth = world.truth();
    let row = world
        .matrix("restore (API, after offboard delete)", |world, index| {
            let user = &users[index % users.len()];
            Case {
                job: json!({
                    "job_id": format!("leave-{index}"), "tenant_id": world.tenant_id,
                    "type": "offboard", "account": user.id, "policy": "delete",
                }),
                function: "ApiFunction",
                queue: "OffboardingQueue",
                check: Check::Restored {
                    user_id: user.id.clone(),
                    groups: truth
                        .groups
                        .iter()
                        .filter(|g| g.member_ids.contains(&user.id))
                        .map(|g| g.id.clone())
                        .collect(),
                    skus: user.sku_ids.iter().cloned().collect(),
                },
            }
        })
        .await;

    // THEN each account is back, enabled, with the groups and licenses it had, from one undelete,
    // the API answered complete, and the stored account says what Graph says
    report(&row);
}

#[tokio::test]
#[ignore = "tens of seconds even sampled: make proof runs it"]
async fn given_every_message_delivered_twice_when_an_onboarding_is_killed_at_each_failure_point_then_one_account_is_made_and_one_event_put()
 {
    // GIVEN a connected tenant whose onboarding queue delivers every message twice (one after
    // the other: a FIFO queue redelivers a message whose delete failed)
    let mut world = start_with(60).await;
    world.twice = true;
    world.sample = Sample::Every(12);
    let groups = world.groups(2);
    let skus = vec![world.sku("FLOW_FREE")];

    // WHEN an onboarding runs clean, then killed at each failure point and redelivered
    let row = world
        .matrix("onboard, every message delivered twice", |world, index| {
            onboard_case(world, index, &groups, &skus)
        })
        .await;

    // THEN every run made one account in one POST /users and one assignLicense, and put one
    // completion event
    report(&row);
}

#[tokio::test]
#[ignore = "tens of seconds even sampled: make proof runs it"]
async fn given_every_sync_message_delivered_to_two_invocations_at_once_when_killed_at_a_continuation_then_the_store_equals_the_tenant()
 {
    // GIVEN a tenant whose sync queue (a standard queue) delivers every message to two
    // invocations at the same time
    let mut world = start_with(60).await;
    world.twice = true;
    world.sample = Sample::First("AmazonSQS.SendMessage");

    // WHEN the tenant changes and a delta sync runs clean, then killed at a failure point
    let row = sync_matrix(
        &world,
        "delta sync, every message to two invocations at once",
        false,
    )
    .await;

    // THEN every run ended OK and the store equals the tenant
    report(&row);
}

/// Writes the job's record as the API does when the job is submitted, at `at`.
async fn submit_at(world: &World, job: &Job, at: chrono::DateTime<chrono::Utc>) {
    world
        .platform
        .store
        .put_new(
            &keys::job(&job.tenant_id, &job.job_id),
            &JobRecord::queued(job, at),
        )
        .await
        .expect("the record written at submission");
}

/// Sends the job to the onboarding queue and delivers what the queue holds.
async fn deliver(world: &World, job: &Job) {
    let queue = world.stack.queue_url("OnboardingQueue").expect("queue");
    world
        .platform
        .queue
        .send_job(queue, job)
        .await
        .expect("sent");
    deliver_all(&world.stack, &["OnboardingFunction"], &world.switch).await;
}

#[tokio::test]
async fn given_two_updates_of_one_account_when_the_older_is_delivered_after_the_newer_ran_then_it_is_refused_as_superseded_and_the_account_keeps_what_the_newer_asked()
 {
    // GIVEN an account outside a group and two updates of it, submitted in this order (their
    // records written at submission, as the API does): the older adds the group, the newer
    // takes it out again
    let world = start_with(60).await;
    let group = world.groups(1).remove(0);
    let user = world.members("none", &group).remove(0);
    let update = |job_id: &str, change: &str| -> Job {
        serde_json::from_value(json!({
            "job_id": job_id, "tenant_id": world.tenant_id, "type": "update_memberships",
            "account": user.user_principal_name, change: [group],
        }))
        .expect("a job")
    };
    let (older, newer) = (
        update("older-add", "add_groups"),
        update("newer-remove", "remove_groups"),
    );
    let submitted = chrono::Utc::now() - chrono::Duration::seconds(10);
    for (job, at) in [
        (&older, submitted),
        (&newer, submitted + chrono::Duration::seconds(1)),
    ] {
        submit_at(&world, job, at).await;
    }
    let in_group = || {
        world
            .truth()
            .groups
            .iter()
            .any(|g| g.id == group && g.member_ids.contains(&user.id))
    };

    // WHEN the newer job is delivered and runs, and only then the older one (a dead-letter
    // redrive, or a resend, brings it late)
    for job in [&newer, &older] {
        deliver(&world, job).await;
    }

    // THEN the newer job succeeded, the older one failed as superseded without a Graph write,
    // and the account is outside the group, as the newer job asked
    let newer_record = world.record(&newer).await.expect("newer record");
    assert_eq!(
        newer_record.status,
        JobStatus::Succeeded,
        "{newer_record:?}"
    );
    let older_record = world.record(&older).await.expect("older record");
    assert_eq!(older_record.status, JobStatus::Failed, "{older_record:?}");
    let reason = older_record.error.clone().unwrap_or_default();
    assert!(reason.contains("superseded: job newer-remove"), "{reason}");
    assert!(
        !in_group(),
        "the older job put the account back in the group"
    );

    // WHEN a job submitted after both asks for the group again
    let latest = update("latest-add", "add_groups");
    deliver(&world, &latest).await;

    // THEN it runs: only older jobs are refused
    let latest_record = world.record(&latest).await.expect("latest record");
    assert_eq!(
        latest_record.status,
        JobStatus::Succeeded,
        "{latest_record:?}"
    );
    assert!(in_group());

    // GIVEN a removal, and then a dry run of the same removal, submitted after all of those
    let base = chrono::Utc::now();
    let removal = update("real-remove", "remove_groups");
    let mut dry_run = update("dry-remove", "remove_groups");
    dry_run.dry_run = true;
    for (job, at) in [
        (&removal, base + chrono::Duration::seconds(1)),
        (&dry_run, base + chrono::Duration::seconds(2)),
    ] {
        submit_at(&world, job, at).await;
    }

    // WHEN the dry run is delivered and runs first, and then the removal
    for job in [&dry_run, &removal] {
        deliver(&world, job).await;
    }

    // THEN the removal runs: a dry run changed nothing, so it supersedes nothing
    let removal_record = world.record(&removal).await.expect("removal record");
    assert_eq!(
        removal_record.status,
        JobStatus::Succeeded,
        "{removal_record:?}"
    );
    assert!(!in_group(), "the removal did not run after a dry run of it");
}
