//! Lifecycle writes and `$batch` against the simulator.

use futures::TryStreamExt as _;
use graph::{
    AssignedLicense, BatchRequest, GraphError, NewUser, PasswordProfile, SecretString, TenantGraph,
    UserPatch,
};

use crate::support::Sim;

fn new_user(nickname: &str, domain: &str) -> NewUser {
    NewUser {
        account_enabled: true,
        display_name: format!("Test {nickname}"),
        mail_nickname: nickname.to_owned(),
        user_principal_name: format!("{nickname}@{domain}"),
        password_profile: PasswordProfile::temporary(SecretString::from("Tq8#vW2!xLp9")),
        given_name: Some("Test".into()),
        surname: Some(nickname.to_owned()),
        usage_location: None,
        job_title: None,
        department: None,
        on_premises_immutable_id: None,
    }
}

async fn create(graph: &TenantGraph, user: &NewUser) -> String {
    let receipt = graph
        .create_user(user)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        receipt.request_id.is_some(),
        "writes return Graph's request-id"
    );
    receipt.value.id
}

#[tokio::test]
async fn given_new_account_when_created_then_it_reads_back_and_a_duplicate_upn_is_recognised() {
    // GIVEN a tenant and a new account on its default verified domain
    let sim = Sim::start(20, 2, true).await;
    let graph = sim.graph();
    let user = new_user("ada.lovelace", &sim.tenant.default_domain);
    // WHEN it is created, read back, then created again
    let id = create(&graph, &user).await;
    let read = graph.user(&id).await.unwrap_or_else(|e| panic!("{e}"));
    let again = graph.create_user(&user).await;
    // THEN it exists as sent, and the second attempt is a recognised duplicate UPN
    assert_eq!(
        read.user_principal_name.as_deref(),
        Some(user.user_principal_name.as_str())
    );
    assert_eq!(read.account_enabled, Some(true));
    match again {
        Err(error) => assert!(error.is_duplicate_upn(), "{error}"),
        Ok(receipt) => panic!("duplicate accepted: {receipt:?}"),
    }
}

#[tokio::test]
async fn given_upn_on_unverified_domain_when_created_then_the_domain_error_is_recognised() {
    // GIVEN an unverified domain of the tenant
    let sim = Sim::start(20, 2, true).await;
    let domain = sim
        .tenant
        .unverified_domains
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("an unverified domain"));
    // WHEN an account is created on it
    let result = sim.graph().create_user(&new_user("grace", &domain)).await;
    // THEN the error is the documented unverified-domain 400
    match result {
        Err(error) => assert!(
            error.is_unverified_upn_domain() && !error.is_duplicate_upn(),
            "{error}"
        ),
        Ok(receipt) => panic!("accepted: {receipt:?}"),
    }
}

#[tokio::test]
async fn given_account_without_usage_location_when_licensed_then_error_until_location_is_set() {
    // GIVEN a new account without usage location and a SKU with free units
    let sim = Sim::start(20, 2, true).await;
    let graph = sim.graph();
    let id = create(&graph, &new_user("alan", &sim.tenant.default_domain)).await;
    let skus: Vec<_> = graph
        .subscribed_skus()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sku = skus
        .iter()
        .find(|s| s.available_units() > 0)
        .unwrap_or_else(|| panic!("a free SKU"));
    let add = [AssignedLicense::sku(sku.sku_id.clone())];
    // WHEN a license is assigned, then the location set and the license assigned again
    let first = graph.assign_license(&id, &add, &[]).await;
    let patch = UserPatch {
        usage_location: Some("GB".into()),
        ..UserPatch::default()
    };
    graph
        .update_user(&id, &patch)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let second = graph.assign_license(&id, &add, &[]).await;
    // THEN the first fails with the usage-location error and the second holds
    match first {
        Err(error) => assert!(error.is_missing_usage_location(), "{error}"),
        Ok(receipt) => panic!("accepted: {receipt:?}"),
    }
    second.unwrap_or_else(|e| panic!("{e}"));
    let user = graph.user(&id).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(user.usage_location.as_deref(), Some("GB"));
    assert_eq!(
        user.assigned_licenses
            .iter()
            .map(|l| l.sku_id.as_str())
            .collect::<Vec<_>>(),
        vec![sku.sku_id.as_str()]
    );
}

#[tokio::test]
async fn given_group_when_member_added_twice_and_removed_twice_then_idempotency_errors_are_recognised()
 {
    // GIVEN a new account and an assigned-membership security or Microsoft 365 group
    let sim = Sim::start(30, 10, true).await;
    let graph = sim.graph();
    let id = create(&graph, &new_user("edsger", &sim.tenant.default_domain)).await;
    let groups: Vec<_> = graph
        .groups()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let group = groups
        .iter()
        .find(|g| g.accepts_member_changes())
        .unwrap_or_else(|| panic!("a group"));
    // WHEN the account is added twice and removed twice
    let added = graph.add_group_member(&group.id, &id).await;
    let added_again = graph.add_group_member(&group.id, &id).await;
    let members: Vec<_> = graph
        .group_members(&group.id)
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let removed = graph.remove_group_member(&group.id, &id).await;
    let removed_again = graph.remove_group_member(&group.id, &id).await;
    // THEN the first of each works, and the second is the documented "already"/404 answer
    assert!(added.is_ok_and(|r| r.request_id.is_some()));
    assert!(members.iter().any(|m| m.id == id && m.is_user()));
    assert!(
        added_again
            .as_ref()
            .is_err_and(GraphError::is_member_already_present),
        "{added_again:?}"
    );
    assert!(removed.is_ok());
    assert!(
        removed_again.as_ref().is_err_and(GraphError::is_not_found),
        "{removed_again:?}"
    );
}

#[tokio::test]
async fn given_account_when_offboarded_and_restored_then_each_step_is_visible() {
    // GIVEN an account
    let sim = Sim::start(20, 2, true).await;
    let graph = sim.graph();
    let id = create(&graph, &new_user("barbara", &sim.tenant.default_domain)).await;
    // WHEN sign-in is blocked, sessions revoked, the account deleted and then restored
    graph
        .update_user(&id, &UserPatch::block_sign_in())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let blocked = graph.user(&id).await.unwrap_or_else(|e| panic!("{e}"));
    let revoked = graph
        .revoke_sign_in_sessions(&id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    graph
        .delete_user(&id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let gone = graph.user(&id).await;
    let deleted: Vec<_> = graph
        .deleted_users()
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let restored = graph
        .restore_deleted_item(&id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let back = graph.user(&id).await;
    // THEN each step shows: blocked, revoked, 404 while deleted and listed as deleted, back after restore
    assert_eq!(blocked.account_enabled, Some(false));
    assert!(revoked.value);
    assert!(
        gone.as_ref().is_err_and(GraphError::is_not_found),
        "{gone:?}"
    );
    assert!(
        deleted
            .iter()
            .any(|d| d.id == id && d.deleted_date_time.is_some())
    );
    assert_eq!(restored.value.id, id);
    assert!(back.is_ok(), "{back:?}");
}

#[tokio::test]
async fn given_batch_with_one_failing_step_when_sent_then_that_step_alone_fails() {
    // GIVEN 25 steps (two $batch requests): blocks of existing accounts and one of an unknown id
    let sim = Sim::start(40, 2, true).await;
    let graph = sim.graph();
    let truth = sim
        .handle
        .truth(sim.tenant_id())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut steps: Vec<BatchRequest> = truth
        .users
        .iter()
        .take(24)
        .enumerate()
        .map(|(i, u)| {
            BatchRequest::update_user(format!("s{i}"), &u.id, &UserPatch::block_sign_in())
        })
        .collect();
    steps.insert(
        10,
        BatchRequest::update_user(
            "missing",
            "00000000-0000-0000-0000-000000000404",
            &UserPatch::block_sign_in(),
        ),
    );
    // WHEN the batch is sent
    let outcomes = graph.batch(steps).await.unwrap_or_else(|e| panic!("{e}"));
    // THEN only the unknown account's step failed (404) and the others took effect
    assert_eq!(outcomes.len(), 25);
    for outcome in &outcomes {
        if outcome.id == "missing" {
            assert!(
                matches!(outcome.result, Err(GraphError::NotFound(_))),
                "{outcome:?}"
            );
        } else {
            assert_eq!(
                outcome.result.as_ref().map(|r| r.status).ok(),
                Some(204),
                "{outcome:?}"
            );
        }
    }
    assert_eq!(sim.served("POST /v1.0/$batch"), 2);
    let after = sim
        .handle
        .truth(sim.tenant_id())
        .unwrap_or_else(|e| panic!("{e}"));
    let blocked = after.users.iter().filter(|u| !u.account_enabled).count();
    assert!(blocked >= 24, "{blocked}");
}

#[tokio::test]
async fn given_batch_under_a_429_storm_when_sent_then_every_step_succeeds_after_retries() {
    // GIVEN a tenant answering 30 % of requests (inner ones too) with 429
    let sim = Sim::start(40, 2, true).await;
    let truth = sim
        .handle
        .truth(sim.tenant_id())
        .unwrap_or_else(|e| panic!("{e}"));
    sim.knobs(|k| {
        k.fail_rate_429 = 0.3;
        k.retry_after_s = 0.01;
    });
    let graph = sim.graph();
    let steps: Vec<BatchRequest> = truth
        .users
        .iter()
        .take(20)
        .enumerate()
        .map(|(i, u)| BatchRequest::revoke_sign_in_sessions(format!("r{i}"), &u.id))
        .collect();
    // WHEN the batch is sent
    let outcomes = graph.batch(steps).await.unwrap_or_else(|e| panic!("{e}"));
    // THEN every step succeeded and throttled steps were re-sent
    for outcome in &outcomes {
        assert!(outcome.result.is_ok(), "{outcome:?}");
    }
    assert!(graph.metrics().throttled > 0);
}
