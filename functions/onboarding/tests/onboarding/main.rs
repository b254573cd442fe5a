//! Onboard and update-memberships jobs end to end on real parts: moto with the real AWS SDK
//! clients, the Graph simulator with the real Graph client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test or example reports by panicking

#[path = "../support/mod.rs"]
mod support;

// The memberships, start-time and queue tests, on the same helpers (`use super::*`).
mod memberships;
mod queue;
mod start_time;

use std::time::Duration;

use chrono::Utc;
use futures::TryStreamExt as _;
use graph_sim::TruthSku;
use lifecycle::model::{ConnectionMode, JobRecord, JobStatus, JobStep, StepOutcome};
use lifecycle::{Function as _, Invocation};
use serde_json::{Value, json};
use support::World;

const PASSWORD: &str = "Welcome-2025!x";

fn step<'a>(record: &'a JobRecord, name: &str) -> &'a JobStep {
    record
        .steps
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no step {name} in {:#?}", record.steps))
}

fn error_of(record: &JobRecord) -> &str {
    record.error.as_deref().unwrap_or_default()
}

fn sku(world: &World, part: &str) -> TruthSku {
    world
        .truth()
        .skus
        .into_iter()
        .find(|s| s.sku_part_number == part)
        .unwrap_or_else(|| panic!("the simulator has no SKU {part}"))
}

/// Runs `job` (whose password the API would have stored) and expects validation to refuse it
/// with `message`, with no write in the tenant.
async fn expect_refused(world: &World, job: Value, message: &str) -> JobRecord {
    let writes = world.writes();
    let record = world.run(&job).await;
    assert_eq!(record.status, JobStatus::Failed, "{record:#?}");
    assert!(
        error_of(&record).contains(message),
        "error {:?} lacks {message:?}",
        error_of(&record)
    );
    assert_eq!(world.writes(), writes, "a refused job wrote to the tenant");
    record
}

// ------------------------------------------------------------------ onboarding

#[tokio::test]
async fn given_10_groups_and_2_licenses_when_onboarded_then_everything_is_applied_in_3_write_round_trips()
 {
    // GIVEN
    let world = World::start().await;
    let secret = world.put_password("j-full", PASSWORD).await;
    let groups: Vec<String> = world
        .assignable_groups()
        .await
        .into_iter()
        .take(10)
        .map(|g| g.id)
        .collect();
    assert_eq!(groups.len(), 10, "the simulator has 10 assignable groups");
    let mut job = world.onboard_job("j-full", "adele", &secret);
    job["groups"] = json!(groups);
    job["licenses"] = json!(["SPE_E3", sku(&world, "EMS").sku_id]);
    let before = world.sim().stats();

    // WHEN
    let record = world.run(&job).await;

    // THEN
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    let upn = format!("adele@{}", world.tenant.default_domain);
    let account = world.user(&upn).expect("account created");
    assert_eq!(account.usage_location.as_deref(), Some("US"));
    let mut skus = account.sku_ids.clone();
    skus.sort();
    let mut expected = vec![sku(&world, "SPE_E3").sku_id, sku(&world, "EMS").sku_id];
    expected.sort();
    assert_eq!(skus, expected);
    let mut member_of: Vec<String> = world
        .groups_of(&account.id)
        .into_iter()
        .map(|g| g.id)
        .collect();
    member_of.sort();
    let mut wanted = groups.clone();
    wanted.sort();
    assert_eq!(member_of, wanted);

    for name in ["create_account", "assign_licenses"] {
        let s = step(&record, name);
        assert_eq!(s.outcome, StepOutcome::Done);
        assert!(s.graph_request_id.is_some(), "{name} has no request-id");
    }
    for group in &groups {
        let s = step(&record, &format!("add_group:{group}"));
        assert_eq!(s.outcome, StepOutcome::Done);
        assert!(s.graph_request_id.is_some());
    }

    // Round trips: one validation $batch, then POST /users, one assignLicense, one $batch.
    let after = world.sim().stats();
    let delta = |route: &str| {
        after.by_route.get(route).copied().unwrap_or(0)
            - before.by_route.get(route).copied().unwrap_or(0)
    };
    assert_eq!(delta("POST /v1.0/$batch"), 2, "{:#?}", after.by_route);
    assert_eq!(delta("POST /v1.0/users"), 1);
    assert_eq!(delta("POST /v1.0/users/{id}/assignLicense"), 1);
    assert_eq!(delta("POST /v1.0/groups/{id}/members/$ref"), 10);
    let http_round_trips = delta("POST /v1.0/$batch")
        + delta("POST /v1.0/users")
        + delta("POST /v1.0/users/{id}/assignLicense");
    assert_eq!(
        http_round_trips - 1,
        3,
        "write round trips after the validation $batch"
    );
    // Every other Graph request was inside a $batch: validation (domains, SKUs, UPN, 10 groups)
    // and the 10 member adds.
    let tokens = after.tokens_issued - before.tokens_issued;
    assert_eq!(
        after.requests - before.requests - tokens,
        2 + 1 + 1 + 13 + 10
    );
}

#[tokio::test]
async fn given_an_unverified_domain_when_onboarded_then_the_error_lists_the_verified_domains() {
    let world = World::start().await;
    let secret = world.put_password("j-domain", PASSWORD).await;
    let mut job = world.onboard_job("j-domain", "adele", &secret);
    let unverified = world
        .tenant
        .unverified_domains
        .first()
        .cloned()
        .unwrap_or_else(|| "fabrikam.example".into());
    job["user_principal_name"] = json!(format!("adele@{unverified}"));
    let record = expect_refused(&world, job, "is not a verified domain of the tenant").await;
    for domain in &world.tenant.verified_domains {
        assert!(
            error_of(&record).contains(domain.as_str()),
            "{}",
            error_of(&record)
        );
    }
}

#[tokio::test]
async fn given_a_license_without_unused_units_when_onboarded_then_the_error_names_the_sku_and_its_counts()
 {
    let world = World::start().await;
    let secret = world.put_password("j-full-sku", PASSWORD).await;
    let full = sku(&world, "POWER_BI_PRO");
    let mut job = world.onboard_job("j-full-sku", "adele", &secret);
    job["licenses"] = json!(["POWER_BI_PRO"]);
    expect_refused(
        &world,
        job,
        &format!(
            "license POWER_BI_PRO ({}) has no unused units: {} enabled, {} consumed",
            full.sku_id, full.enabled, full.consumed
        ),
    )
    .await;
}

#[tokio::test]
async fn given_a_license_the_tenant_does_not_have_when_onboarded_then_the_error_lists_the_subscribed_ones()
 {
    let world = World::start().await;
    let secret = world.put_password("j-no-sku", PASSWORD).await;
    let mut job = world.onboard_job("j-no-sku", "adele", &secret);
    job["licenses"] = json!(["DYN365_ENTERPRISE_PLAN1"]);
    expect_refused(
        &world,
        job,
        "license DYN365_ENTERPRISE_PLAN1 is not subscribed in this tenant (subscribed: ",
    )
    .await;
}

#[tokio::test]
async fn given_a_taken_upn_when_onboarded_then_the_error_names_the_account_holding_it() {
    let world = World::start().await;
    let secret = world.put_password("j-taken", PASSWORD).await;
    let taken = world
        .truth()
        .users
        .into_iter()
        .find(|u| u.user_type == "Member")
        .expect("a member");
    let mut job = world.onboard_job("j-taken", "adele", &secret);
    job["user_principal_name"] = json!(taken.user_principal_name);
    expect_refused(
        &world,
        job,
        &format!("is already taken by account {}", taken.id),
    )
    .await;
}

#[tokio::test]
async fn given_a_missing_group_when_onboarded_then_the_error_names_it() {
    let world = World::start().await;
    let secret = world.put_password("j-no-group", PASSWORD).await;
    let mut job = world.onboard_job("j-no-group", "adele", &secret);
    job["groups"] = json!(["0b9f1c2e-0000-4000-8000-000000000001"]);
    expect_refused(
        &world,
        job,
        "group 0b9f1c2e-0000-4000-8000-000000000001 does not exist in the tenant",
    )
    .await;
}

#[tokio::test]
async fn given_a_dynamic_group_when_onboarded_then_the_error_says_members_follow_its_rule() {
    let world = World::start().await;
    let secret = world.put_password("j-dynamic", PASSWORD).await;
    let dynamic = world
        .truth()
        .groups
        .into_iter()
        .find(|g| g.kind.starts_with("dynamic"))
        .expect("a dynamic group");
    let mut job = world.onboard_job("j-dynamic", "adele", &secret);
    job["groups"] = json!([dynamic.id]);
    expect_refused(
        &world,
        job,
        &format!(
            "group {} ({}) has dynamic membership",
            dynamic.display_name, dynamic.id
        ),
    )
    .await;
}

#[tokio::test]
async fn given_a_weak_password_when_onboarded_then_the_error_names_the_rule_and_the_secret_is_deleted()
 {
    let world = World::start().await;
    let secret = world.put_password("j-weak", "alllowercase").await;
    let job = world.onboard_job("j-weak", "adele", &secret);
    let record = expect_refused(&world, job, "character classes").await;
    assert!(!error_of(&record).contains("alllowercase"));
    assert!(
        world
            .secrets()
            .await
            .iter()
            .all(|(name, _)| name != &secret),
        "the password secret outlived the failed job"
    );
}

#[tokio::test]
async fn given_a_read_only_tenant_when_onboarded_then_the_job_fails_without_any_graph_call() {
    let world = World::with_mode(ConnectionMode::Read).await;
    let secret = world.put_password("j-read", PASSWORD).await;
    let requests = world.sim().stats().requests;
    let record = world
        .run(&world.onboard_job("j-read", "adele", &secret))
        .await;
    assert_eq!(record.status, JobStatus::Failed);
    assert!(
        error_of(&record).contains("read-only"),
        "{}",
        error_of(&record)
    );
    assert_eq!(world.sim().stats().requests, requests);
    // AND the refused job's password secret is gone
    assert!(
        world
            .secrets()
            .await
            .iter()
            .all(|(name, _)| name != &secret),
        "the password secret of a refused job must be deleted"
    );
}

#[tokio::test]
async fn given_an_invalid_usage_location_when_delivered_then_the_job_is_recorded_failed_with_the_field_and_no_graph_call()
 {
    // GIVEN a job whose usage location is no ISO country
    let world = World::start().await;
    let secret = world.put_password("j-country", PASSWORD).await;
    let mut job = world.onboard_job("j-country", "adele", &secret);
    job["usage_location"] = json!("XX");
    let requests = world.sim().stats().requests;
    // WHEN it is delivered
    let failures = world.deliver(&[job]).await;
    // THEN it is not redelivered (nothing could fix it), it is recorded failed naming the field,
    // and Graph was never called
    assert!(failures.is_empty(), "{failures:?}");
    let record = world.record("j-country").await;
    assert_eq!(record.status, JobStatus::Failed, "{record:#?}");
    assert!(error_of(&record).contains("usage_location"), "{record:#?}");
    assert_eq!(world.sim().stats().requests, requests);
}

#[tokio::test]
async fn given_a_job_delivered_twice_when_run_then_one_account_exists() {
    // GIVEN
    let world = World::start().await;
    let secret = world.put_password("j-twice", PASSWORD).await;
    let job = world.onboard_job("j-twice", "twice", &secret);
    // WHEN: two deliveries in one batch, then a third later
    let failures = world.deliver(&[job.clone(), job.clone()]).await;
    assert!(failures.is_empty(), "{failures:?}");
    let record = world.run(&job).await;
    // THEN
    assert_eq!(record.status, JobStatus::Succeeded);
    let upn = format!("twice@{}", world.tenant.default_domain);
    let accounts = world
        .truth()
        .users
        .into_iter()
        .filter(|u| u.user_principal_name.eq_ignore_ascii_case(&upn))
        .count();
    assert_eq!(accounts, 1);
    assert_eq!(world.route("POST /v1.0/users"), 1);
}

#[tokio::test]
async fn given_a_tenant_removed_while_its_onboarding_runs_when_the_job_ends_then_nothing_of_the_tenant_remains()
 {
    // GIVEN an onboarding of a tenant whose Graph answers take a second each (the job is still
    // running when the tenant goes)
    let world = World::start().await;
    let secret = world.put_password("j-removed", PASSWORD).await;
    let job = world.onboard_job("j-removed", "removed", &secret);
    world
        .sim()
        .update_knobs(world.tenant_id.as_str(), |knobs| knobs.latency_ms = 1_000)
        .expect("knobs");
    // The test's own reads and writes use the administrator, not the function's policy.
    let admin =
        lifecycle::Platform::new(world.stack.config().clone(), &world.sdk).expect("platform");
    let job_key = lifecycle::store::keys::job(
        &world.tenant_id,
        &lifecycle::JobId::parse("j-removed").expect("id"),
    );

    // WHEN the job runs and, once its record says running, the tenant is removed (its connection
    // marked removed, as the API's removal does before it deletes the tenant's items)
    let removal = async {
        for _ in 0..600 {
            let record: Option<JobRecord> = admin.store.get(&job_key).await.expect("read");
            if record.is_some_and(|r| r.status == JobStatus::Running) {
                let mut tenant = admin
                    .tenant(&world.tenant_id)
                    .await
                    .expect("read tenant")
                    .expect("tenant");
                tenant.status = lifecycle::model::ConnectionStatus::Removed;
                admin
                    .save_tenant(&tenant)
                    .await
                    .expect("tenant marked removed");
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the job never showed running");
    };
    let (failures, ()) = tokio::join!(world.deliver(std::slice::from_ref(&job)), removal);

    // THEN the message is settled (nothing to redeliver) and the worker swept what it wrote
    // (Platform::sweep_if_removed, BatchWriteItem under the function's own policy): no job record,
    // no item of the tenant but its connection marked removed (the API's removal deletes that
    // last), and the password secret is gone
    assert!(failures.is_empty(), "{failures:?}");
    let record: Option<JobRecord> = admin.store.get(&job_key).await.expect("read");
    assert!(
        record.is_none(),
        "the job record outlived the removal: {record:?}"
    );
    let scan = aws_sdk_dynamodb::Client::new(&world.sdk)
        .scan()
        .table_name(&world.platform().config.table_name)
        .send()
        .await
        .expect("scan");
    let connection = format!("T#{}", world.tenant_id);
    let left: Vec<String> = scan
        .items()
        .iter()
        .filter(|item| format!("{item:?}").contains(world.tenant_id.as_str()))
        .filter_map(|item| {
            let pk = item.get("pk").and_then(|v| v.as_s().ok())?;
            let sk = item.get("sk").and_then(|v| v.as_s().ok())?;
            (!(pk == &connection && sk == "META")).then(|| format!("{pk} / {sk}"))
        })
        .collect();
    assert!(
        left.is_empty(),
        "items of the removed tenant remain: {left:?}"
    );
    assert!(
        !world
            .secrets()
            .await
            .iter()
            .any(|(name, _)| name == &secret),
        "the password secret outlived the removal"
    );
}

/// A record as an earlier delivery left it: validated, and (when `created`) with the account
/// created, then the Lambda died.
async fn crashed_record(world: &World, job: &Value, created: Option<&str>) {
    let parsed: lifecycle::model::Job = serde_json::from_value(job.clone()).expect("job");
    let mut record = JobRecord::queued(&parsed, Utc::now());
    record.status = JobStatus::Running;
    record.steps.push(JobStep {
        name: "validate".into(),
        outcome: StepOutcome::Done,
        graph_request_id: None,
        detail: Some("checks passed".into()),
        at: Some(Utc::now()),
        observed: Vec::new(),
        not_done: Vec::new(),
    });
    if let Some(id) = created {
        record.steps.push(JobStep {
            name: "create_account".into(),
            outcome: StepOutcome::Done,
            graph_request_id: Some("r-1".into()),
            detail: Some(format!("created account {id}")),
            at: Some(Utc::now()),
            observed: Vec::new(),
            not_done: Vec::new(),
        });
    }
    world
        .platform()
        .store
        .put(
            &lifecycle::store::keys::job(&parsed.tenant_id, &parsed.job_id),
            &record,
        )
        .await
        .expect("record");
}

async fn create_directly(world: &World, job: &Value) -> String {
    let user = graph::NewUser {
        account_enabled: true,
        display_name: job["display_name"].as_str().unwrap_or_default().into(),
        mail_nickname: job["mail_nickname"].as_str().unwrap_or_default().into(),
        user_principal_name: job["user_principal_name"]
            .as_str()
            .unwrap_or_default()
            .into(),
        password_profile: graph::PasswordProfile::temporary(PASSWORD.to_owned().into()),
        given_name: None,
        surname: None,
        usage_location: Some("US".into()),
        job_title: None,
        department: None,
        on_premises_immutable_id: None,
    };
    world
        .graph
        .create_user(&user)
        .await
        .expect("created")
        .value
        .id
}

#[tokio::test]
async fn given_a_crash_after_the_account_was_created_when_redelivered_then_licenses_and_groups_follow_on_the_same_account()
 {
    // GIVEN: the account exists and the record says so; licenses and groups are not done
    let world = World::start().await;
    let secret = world.put_password("j-crash", PASSWORD).await;
    let groups: Vec<String> = world
        .assignable_groups()
        .await
        .into_iter()
        .take(3)
        .map(|g| g.id)
        .collect();
    let mut job = world.onboard_job("j-crash", "crash", &secret);
    job["groups"] = json!(groups);
    job["licenses"] = json!(["SPE_E3"]);
    let id = create_directly(&world, &job).await;
    crashed_record(&world, &job, Some(&id)).await;
    let creates = world.route("POST /v1.0/users");

    // WHEN
    let record = world.run(&job).await;

    // THEN
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    assert_eq!(world.route("POST /v1.0/users"), creates, "no second create");
    let account = world
        .user(job["user_principal_name"].as_str().unwrap_or_default())
        .expect("account");
    assert_eq!(account.id, id);
    assert_eq!(account.sku_ids, vec![sku(&world, "SPE_E3").sku_id]);
    assert_eq!(world.groups_of(&id).len(), 3);
    assert!(
        world
            .secrets()
            .await
            .iter()
            .all(|(name, _)| name != &secret),
        "the password secret outlived the account's creation"
    );
}

#[tokio::test]
async fn given_a_crash_between_create_and_its_record_when_redelivered_then_the_account_is_found_by_upn_not_created_again()
 {
    // GIVEN: validated, the account exists, but the create step was never recorded
    let world = World::start().await;
    let secret = world.put_password("j-lost", PASSWORD).await;
    let mut job = world.onboard_job("j-lost", "lost", &secret);
    job["licenses"] = json!(["SPE_E3"]);
    let id = create_directly(&world, &job).await;
    crashed_record(&world, &job, None).await;
    let creates = world.route("POST /v1.0/users");

    // WHEN
    let record = world.run(&job).await;

    // THEN
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    assert_eq!(world.route("POST /v1.0/users"), creates);
    assert!(
        step(&record, "create_account")
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains(&id)
    );
    let account = world
        .user(job["user_principal_name"].as_str().unwrap_or_default())
        .expect("account");
    assert_eq!(account.sku_ids, vec![sku(&world, "SPE_E3").sku_id]);
}

#[tokio::test]
async fn given_a_finished_job_when_scanned_then_the_password_is_in_no_log_line_table_item_or_secret()
 {
    // GIVEN
    let world = World::start().await;
    let password = "Zq7!unique-Pa55word-scan";
    let secret = world.put_password("j-scan", password).await;
    let mut job = world.onboard_job("j-scan", "scan", &secret);
    job["licenses"] = json!(["SPE_E3"]);
    // WHEN
    let record = world.run(&job).await;
    // THEN
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    let logs = support::logs().text();
    assert!(logs.contains("j-scan"), "the log capture works");
    assert!(!logs.contains(password), "the password is in a log line");
    assert!(
        !world.table_dump().await.contains(password),
        "the password is in the table"
    );
    let secrets = world.secrets().await;
    assert!(
        secrets.iter().all(|(_, value)| !value.contains(password)),
        "the password is in a secret"
    );
    assert!(secrets.iter().all(|(name, _)| name != &secret));
}

#[tokio::test]
async fn given_a_template_account_when_onboarded_then_its_groups_and_direct_licenses_are_copied() {
    // GIVEN: a template with direct licenses and assignable groups
    let world = World::start().await;
    let truth = world.truth();
    let assignable: Vec<String> = world
        .assignable_groups()
        .await
        .into_iter()
        .map(|g| g.id)
        .collect();
    let template = truth
        .users
        .iter()
        .filter(|u| !u.sku_ids.is_empty() && u.user_type == "Member")
        .filter(|u| {
            u.sku_ids.iter().all(|id| {
                truth
                    .skus
                    .iter()
                    .any(|s| &s.sku_id == id && s.enabled > s.consumed)
            })
        })
        .max_by_key(|u| {
            truth
                .groups
                .iter()
                .filter(|g| assignable.contains(&g.id) && g.member_ids.contains(&u.id))
                .count()
        })
        .expect("a licensed member")
        .clone();
    let template_groups: Vec<String> = world
        .groups_of(&template.id)
        .into_iter()
        .filter(|g| assignable.contains(&g.id))
        .map(|g| g.id)
        .collect();
    assert!(!template_groups.is_empty());
    let direct: Vec<String> = world
        .graph
        .users_with_license_states()
        .try_filter(|u| futures::future::ready(u.id == template.id))
        .try_collect::<Vec<_>>()
        .await
        .expect("license states")
        .into_iter()
        .flat_map(|u| u.license_assignment_states)
        .filter(|s| s.is_direct())
        .filter_map(|s| s.sku_id)
        .collect();
    assert!(!direct.is_empty(), "the template has a direct license");
    let secret = world.put_password("j-copy", PASSWORD).await;
    let mut job = world.onboard_job("j-copy", "copy", &secret);
    job["copy_from"] = json!(template.user_principal_name);

    // WHEN
    let record = world.run(&job).await;

    // THEN
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    let account = world
        .user(&format!("copy@{}", world.tenant.default_domain))
        .expect("account");
    let mut copied_groups: Vec<String> = world
        .groups_of(&account.id)
        .into_iter()
        .map(|g| g.id)
        .collect();
    copied_groups.sort();
    let mut wanted = template_groups.clone();
    wanted.sort();
    assert_eq!(copied_groups, wanted);
    for sku_id in &direct {
        assert!(account.sku_ids.contains(sku_id), "{sku_id} not copied");
    }
}

#[tokio::test]
async fn given_a_dry_run_when_run_then_every_check_and_the_plan_are_recorded_and_nothing_is_written()
 {
    // GIVEN
    let world = World::start().await;
    let secret = world.put_password("j-dry", PASSWORD).await;
    let groups: Vec<String> = world
        .assignable_groups()
        .await
        .into_iter()
        .take(2)
        .map(|g| g.id)
        .collect();
    let mut job = world.onboard_job("j-dry", "dry", &secret);
    job["dry_run"] = json!(true);
    job["groups"] = json!(groups);
    job["licenses"] = json!(["SPE_E3"]);
    let writes = world.writes();
    // WHEN
    let record = world.run(&job).await;
    // THEN
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    assert_eq!(world.writes(), writes);
    assert!(
        world
            .user(&format!("dry@{}", world.tenant.default_domain))
            .is_none()
    );
    let checks: Vec<&JobStep> = record
        .steps
        .iter()
        .filter(|s| s.name.starts_with("check:"))
        .collect();
    for rule in [
        "read_write_mode",
        "password",
        "upn_domain",
        "usage_location",
        "upn_available",
        "license",
        "group",
    ] {
        assert!(
            checks.iter().any(|s| s.name.ends_with(&format!(":{rule}"))),
            "no check {rule}"
        );
    }
    let plan: Vec<&str> = record
        .steps
        .iter()
        .filter(|s| s.name.starts_with("plan:"))
        .map(|s| s.detail.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(plan.len(), 3, "{plan:?}");
    assert!(plan[0].starts_with("POST /users: create account dry@"));
    assert!(plan[1].contains("assignLicense: assign SPE_E3"));
    assert!(plan[2].starts_with("POST /$batch: add the account to"));
    assert!(
        world
            .secrets()
            .await
            .iter()
            .all(|(name, _)| name != &secret)
    );
}

#[tokio::test]
async fn given_a_generated_password_when_onboarded_then_it_is_handed_back_once_by_reference() {
    let world = World::start().await;
    let mut job = world.onboard_job("j-gen", "gen", "unused");
    job["password"] = json!({"source": "generate"});
    let record = world.run(&job).await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    let job_id = lifecycle::JobId::parse("j-gen").expect("id");
    let vault = &world.platform().vault;
    let handed = vault
        .take_generated_password(&world.tenant_id, &job_id)
        .await
        .expect("handed back");
    assert_eq!(lifecycle::password::check(&handed), Ok(()));
    assert!(
        matches!(
            vault
                .take_generated_password(&world.tenant_id, &job_id)
                .await,
            Err(lifecycle::VaultError::NotFound { .. })
        ),
        "handed back twice"
    );
    assert!(
        world
            .secrets()
            .await
            .iter()
            .all(|(name, _)| !name.contains("j-gen"))
    );
}

#[tokio::test]
async fn given_a_generated_password_nobody_takes_when_its_hand_over_expires_then_the_schedule_deletes_its_secret()
 {
    // GIVEN: an onboarding whose generated password waits to be handed back, and is never taken
    let world = World::start().await;
    let mut job = world.onboard_job("j-untaken", "untaken", "unused");
    job["password"] = json!({"source": "generate"});
    let record = world.run(&job).await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    let held = |secrets: &[(String, String)]| {
        secrets
            .iter()
            .any(|(name, _)| name.ends_with("j-untaken/generated-password"))
    };
    assert!(
        held(&world.secrets().await),
        "the hand-over secret was made"
    );
    let tick = |at: chrono::DateTime<Utc>| json!({"detail-type": "Scheduled Event", "source": "aws.events", "time": at.to_rfc3339()});

    // WHEN: the function's schedule ticks within the 24 h hand-over, then after it
    let within = world
        .app
        .invoke(
            tick(Utc::now() + chrono::Duration::hours(23)),
            Invocation::with_timeout(Duration::from_secs(60)),
        )
        .await
        .expect("schedule within the hand-over");
    let kept = held(&world.secrets().await);
    let after = world
        .app
        .invoke(
            tick(Utc::now() + chrono::Duration::hours(25)),
            Invocation::with_timeout(Duration::from_secs(60)),
        )
        .await
        .expect("schedule after the hand-over");

    // THEN: the password is kept while it may be taken, and deleted (secret and hand-over item)
    // once it no longer may
    assert_eq!(within["expired_password_handovers"], 0, "{within}");
    assert!(kept, "a password still within its hand-over was deleted");
    assert_eq!(after["expired_password_handovers"], 1, "{after}");
    assert!(
        !held(&world.secrets().await),
        "an expired, untaken generated password is still in Secrets Manager"
    );
    let job_id = lifecycle::JobId::parse("j-untaken").expect("id");
    let handover: Option<lifecycle::model::PasswordHandover> = world
        .platform()
        .store
        .get(&lifecycle::store::keys::password_handover(
            &world.tenant_id,
            &job_id,
        ))
        .await
        .expect("read");
    assert_eq!(handover, None, "the expired hand-over item remains");
}
