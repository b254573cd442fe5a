//! The hostile-organization suite: one test per attack of one platform organization on another
//! (or of concurrent callers on one job), on the whole local stack (moto, the Graph simulator,
//! every function of infra/template.yaml), through the HTTP API only. Each attack succeeded
//! before the fix it names; README's "Authentication and tenant isolation" lists them.
//!
//! Two organizations, `alpha` and `beta`, each with its own tenant (the simulator's second and
//! third), connected read/write by admin consent.

use devstack::Stack;
use e2e::eventually;
use e2e::orgs::World;
use lifecycle::model::JobRecord;
use lifecycle::store::keys;
use lifecycle::{JobId, Platform, TenantId};
use serde_json::{Value, json};

#[tokio::test]
async fn given_another_orgs_parked_onboarding_when_an_attacker_reuses_its_job_id_then_the_generated_password_is_not_theirs_to_take()
 {
    // GIVEN alpha's onboarding "j-shared" with a generated password, parked until tomorrow
    let world = World::start().await;
    let (status, answer) = world
        .alpha
        .submit(
            world
                .alpha
                .onboard("j-shared", "ada", json!({"source": "generate"}), true),
        )
        .await;
    assert_eq!(status, 202, "{answer}");

    // WHEN beta submits any job under the same id in its own tenant and asks for "its" password
    let (status, answer) = world
        .beta
        .submit(json!({"job_id": "j-shared", "type": "license_refresh"}))
        .await;
    assert_eq!(status, 202, "{answer}");
    let (status, answer) = world
        .beta
        .call(
            reqwest::Method::GET,
            "/tenants/{tenant}/jobs/j-shared/password",
            None,
        )
        .await;

    // THEN beta gets nothing, and alpha still picks up its own password, once
    assert_eq!(status, 404, "beta read alpha's password: {answer}");
    let (status, answer) = world
        .alpha
        .call(
            reqwest::Method::GET,
            "/tenants/{tenant}/jobs/j-shared/password",
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let password = answer["password"].as_str().expect("a password").to_owned();
    let used = world
        .secret(&world.platform.vault.onboarding_password_name(
            &world.alpha.tenant_id,
            &JobId::parse("j-shared").expect("id"),
        ))
        .await;
    assert_eq!(used.as_deref(), Some(password.as_str()));
}

#[tokio::test]
async fn given_another_orgs_parked_onboarding_when_an_attacker_submits_the_same_job_id_with_a_password_then_the_victims_password_is_unchanged()
 {
    // GIVEN alpha's onboarding "j-shared" with its password, parked until tomorrow
    let world = World::start().await;
    let (status, answer) = world
        .alpha
        .submit(world.alpha.onboard(
            "j-shared",
            "ada",
            json!({"source": "value", "value": "Alpha-Pa55word!"}),
            true,
        ))
        .await;
    assert_eq!(status, 202, "{answer}");
    let parked = world
        .record_when(&world.alpha, "j-shared", "alpha's job to be parked", |r| {
            r.steps.iter().any(|s| s.name == "wait_for_start")
        })
        .await;

    // WHEN beta submits an onboarding under the same id, with a password it knows
    let (status, answer) = world
        .beta
        .submit(world.beta.onboard(
            "j-shared",
            "eve",
            json!({"source": "value", "value": "Beta-Kn0wn-Pa55!"}),
            true,
        ))
        .await;
    assert_eq!(status, 202, "{answer}");

    // THEN the secret alpha's job reads still holds alpha's password
    let Some(lifecycle::model::Job {
        kind: lifecycle::model::JobKind::Onboard(onboard),
        ..
    }) = parked.job
    else {
        panic!("alpha's record keeps its onboard job");
    };
    let lifecycle::model::PasswordSource::Secret { secret_id } = onboard.password else {
        panic!("a password travels as its secret's name");
    };
    assert_eq!(
        world.secret(&secret_id).await.as_deref(),
        Some("Alpha-Pa55word!"),
        "beta overwrote alpha's new hire's password"
    );
}

#[tokio::test]
async fn given_another_orgs_queued_job_when_an_attacker_sends_the_same_job_id_first_then_both_jobs_run()
 {
    // GIVEN beta sends a job "j-same" first (a dry run: validated, nothing written)
    let world = World::start().await;
    let (status, answer) = world
        .beta
        .submit(
            world
                .beta
                .onboard("j-same", "eve", json!({"source": "generate"}), false)
                .as_object()
                .map(|job| {
                    let mut job = job.clone();
                    job.insert("dry_run".into(), json!(true));
                    Value::Object(job)
                })
                .expect("an object"),
        )
        .await;
    assert_eq!(status, 202, "{answer}");

    // WHEN alpha sends its own job under the same id within SQS's 5-minute deduplication window
    let mut job = world
        .alpha
        .onboard("j-same", "ada", json!({"source": "generate"}), false);
    job["dry_run"] = json!(true);
    let (status, answer) = world.alpha.submit(job).await;
    assert_eq!(status, 202, "{answer}");

    // THEN both run on the onboarding FIFO queue: neither is dropped as the other's duplicate
    for org in [&world.beta, &world.alpha] {
        let record = world
            .record_when(org, "j-same", "the job to finish", |r| {
                r.status.is_finished()
            })
            .await;
        assert!(record.dry_run, "{record:?}");
    }
    drop(world.stack);
}

#[tokio::test]
async fn given_twenty_concurrent_submissions_of_one_job_id_with_different_passwords_then_exactly_one_wins_and_its_password_is_used()
 {
    // GIVEN 20 callers of one organization with one job id and 20 passwords
    let world = World::start().await;
    let org = &world.alpha;
    let submissions = (0..20).map(|n| {
        let password = format!("Racer-{n:02}-Pa55!");
        let job = org.onboard(
            "j-race",
            "racer",
            json!({"source": "value", "value": password}),
            true,
        );
        async move { (password, org.submit(job).await) }
    });

    // WHEN they all submit at once
    let answers = futures::future::join_all(submissions).await;

    // THEN exactly one is accepted (202), every other one is told the id is taken (409)
    let winners: Vec<&String> = answers
        .iter()
        .filter(|(_, (status, _))| *status == 202)
        .map(|(password, _)| password)
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(_, (status, _))| *status == 202 || *status == 409),
        "{answers:?}"
    );
    // AND the job's password secret (the only one its worker reads) holds the winner's password
    let name = world
        .platform
        .vault
        .onboarding_password_name(&org.tenant_id, &JobId::parse("j-race").expect("id"));
    assert_eq!(world.secret(&name).await.as_ref(), Some(winners[0]));
    let parked = world
        .record_when(org, "j-race", "the job to be validated and parked", |r| {
            r.steps.iter().any(|s| s.name == "wait_for_start")
        })
        .await;
    assert!(
        parked
            .steps
            .iter()
            .all(|s| s.outcome != lifecycle::model::StepOutcome::Failed),
        "{parked:?}"
    );
}

/// Every item of `tenant` left in the table: its partitions, its index entry and its parked jobs.
async fn items_of(platform: &Platform, tenant: &TenantId) -> Vec<lifecycle::Key> {
    use futures::TryStreamExt as _;
    let mut left: Vec<lifecycle::Key> = Vec::new();
    for partition in keys::all_tenant_partitions(tenant) {
        let keys: Vec<lifecycle::Key> = platform
            .store
            .query_keys(&partition, None)
            .try_collect()
            .await
            .expect("the table answers");
        left.extend(keys);
    }
    let shared: Vec<lifecycle::Key> = platform
        .store
        .query_keys(&keys::scheduled_jobs(), None)
        .try_filter(|key| futures::future::ready(keys::is_scheduled_job_of(key, tenant)))
        .try_collect()
        .await
        .expect("the table answers");
    left.extend(shared);
    let index = keys::tenant_index_entry(tenant);
    if platform
        .store
        .get::<lifecycle::model::TenantIndexEntry>(&index)
        .await
        .expect("the table answers")
        .is_some()
    {
        left.push(index);
    }
    left
}

/// Messages on the queue, visible or being handled (0 and 0: nothing queued, nothing running).
async fn queue_depth(stack: &Stack, logical_id: &str) -> (u64, u64) {
    use aws_sdk_sqs::types::QueueAttributeName as Name;
    let url = stack.queue_url(logical_id).expect("the queue exists");
    let attributes = aws_sdk_sqs::Client::new(stack.sdk_config())
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(Name::ApproximateNumberOfMessages)
        .attribute_names(Name::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("SQS answers")
        .attributes
        .unwrap_or_default();
    let count = |name: &Name| {
        attributes
            .get(name)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (
        count(&Name::ApproximateNumberOfMessages),
        count(&Name::ApproximateNumberOfMessagesNotVisible),
    )
}

#[tokio::test]
async fn given_a_sync_and_a_parked_onboarding_in_flight_when_the_tenant_is_deleted_then_it_stays_removed_and_nothing_of_it_remains()
 {
    // GIVEN alpha's onboarding parked until tomorrow (its password waiting in a secret)
    let world = World::start().await;
    let org = &world.alpha;
    let (status, answer) = org
        .submit(org.onboard("j-parked", "ada", json!({"source": "generate"}), true))
        .await;
    assert_eq!(status, 202, "{answer}");
    world
        .record_when(org, "j-parked", "the job to be validated and parked", |r| {
            r.steps.iter().any(|s| s.name == "wait_for_start")
        })
        .await;
    let password = world
        .platform
        .vault
        .onboarding_password_name(&org.tenant_id, &JobId::parse("j-parked").expect("id"));
    assert!(
        world.secret(&password).await.is_some(),
        "the parked job's password is stored"
    );
    // AND a sync of alpha's tenant that has written its groups and is still reading (each
    // Graph answer of the tenant takes 8 s; the phases run side by side, and the users round,
    // which reads the mailbox usage report before its first page, is a request behind the
    // groups round, so the accounts are yet to come)
    world
        .stack
        .sim()
        .expect("simulator")
        .update_knobs(org.tenant_id.as_str(), |knobs| knobs.latency_ms = 8_000)
        .expect("knobs");
    let (status, answer) = org
        .call(reqwest::Method::POST, "/tenants/{tenant}/sync", None)
        .await;
    assert_eq!(status, 202, "{answer}");
    eventually("the sync to have written groups", || async {
        use futures::TryStreamExt as _;
        let mut found = Vec::new();
        for partition in keys::group_partitions(&org.tenant_id) {
            let keys: Vec<lifecycle::Key> = world
                .platform
                .store
                .query_keys(&partition, None)
                .try_collect()
                .await
                .ok()?;
            found.extend(keys);
        }
        (!found.is_empty()).then_some(())
    })
    .await;
    assert_ne!(
        queue_depth(&world.stack, "SyncQueue").await,
        (0, 0),
        "the sync is still running"
    );

    // WHEN alpha deletes the tenant while both are in flight
    let (status, answer) = org
        .call(reqwest::Method::DELETE, "/tenants/{tenant}", None)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_ne!(
        queue_depth(&world.stack, "SyncQueue").await,
        (0, 0),
        "the sync outlives the removal (it writes after DELETE has answered)"
    );

    // THEN once the sync has ended, the tenant stays removed: zero items of it remain (no
    // connection, index entry, run, account, group, job or parked job) and no onboarding secret
    eventually("the sync to end", || async {
        (queue_depth(&world.stack, "SyncQueue").await == (0, 0)).then_some(())
    })
    .await;
    let left = items_of(&world.platform, &org.tenant_id).await;
    assert!(
        left.is_empty(),
        "items of the removed tenant remain: {left:?}"
    );
    assert_eq!(
        world.secret(&password).await,
        None,
        "the parked job's password remains"
    );
    let (status, answer) = org
        .call(reqwest::Method::GET, "/tenants/{tenant}", None)
        .await;
    assert_eq!(status, 404, "the removed tenant came back: {answer}");
    // AND beta's tenant is untouched
    assert!(
        world
            .platform
            .tenant(&world.beta.tenant_id)
            .await
            .expect("the table answers")
            .is_some()
    );
}

#[tokio::test]
async fn given_tokens_without_the_write_or_admin_scope_when_they_change_a_tenant_then_403_and_a_read_only_token_still_reads()
 {
    // GIVEN alpha's tenant, a token of alpha that may only read, and one that may read and
    // write but not administer tenants
    let world = World::start().await;
    let org = &world.alpha;
    let as_scoped =
        |scopes: &[&str]| org.with_client(e2e::scoped_api_client(&world.stack, "alpha", scopes));
    let reader = as_scoped(&["lifecycle.read"]);
    let writer = as_scoped(&["lifecycle.read", "lifecycle.write"]);

    // WHEN the reader enqueues a job, requests a sync, deletes the tenant, starts a connection
    // and connects an own app; and the writer deletes the tenant and starts a connection
    let job = org.onboard("j-scoped", "ada", json!({"source": "generate"}), true);
    let mut refused = vec![
        reader.submit(job.clone()).await,
        reader
            .call(reqwest::Method::POST, "/tenants/{tenant}/sync", None)
            .await,
        reader
            .call(reqwest::Method::DELETE, "/tenants/{tenant}", None)
            .await,
        reader
            .call(reqwest::Method::GET, "/connect?mode=write", None)
            .await,
        reader
            .call(
                reqwest::Method::POST,
                "/tenants",
                Some(json!({"tenant_id": org.tenant_id, "client_id": "c", "client_secret": "s", "mode": "read"})),
            )
            .await,
    ];
    refused.push(
        writer
            .call(reqwest::Method::DELETE, "/tenants/{tenant}", None)
            .await,
    );
    refused.push(
        writer
            .call(reqwest::Method::GET, "/connect?mode=write", None)
            .await,
    );

    // THEN each is API Gateway's 403 and nothing changed: no job, the tenant still connected
    for (status, answer) in &refused {
        assert_eq!(*status, 403, "{answer}");
        assert_eq!(answer, &json!({"message": "Forbidden"}));
    }
    let record = world
        .platform
        .store
        .get::<JobRecord>(&keys::job(
            &org.tenant_id,
            &JobId::parse("j-scoped").expect("id"),
        ))
        .await
        .expect("the table answers");
    assert!(record.is_none(), "{record:?}");
    // AND the reader reads the tenant, and the writer enqueues the job
    let (status, answer) = reader
        .call(reqwest::Method::GET, "/tenants/{tenant}", None)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["tenant_id"], json!(org.tenant_id));
    let (status, answer) = writer.submit(job).await;
    assert_eq!(status, 202, "{answer}");
}
