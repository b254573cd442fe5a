//! The mover's jobs end to end on real parts (moto with the real AWS SDK clients under the
//! function's template policy, the Graph simulator with the real Graph client):
//! `update_account` and `set_sign_in`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test reports by panicking

mod support;

use graph_sim::{SimConfig, TenantSpec, TruthUser};
use lifecycle::model::{
    Account, ConnectionMode, JobRecord, JobStatus, JobStep, LastSignIn, StepOutcome,
};
use lifecycle::{AccountId, Upn, UsageLocation};
use serde_json::{Value, json};
use support::World;

fn step<'a>(record: &'a JobRecord, name: &str) -> &'a JobStep {
    record
        .steps
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no step {name} in {:#?}", record.steps))
}

fn detail(record: &JobRecord, name: &str) -> String {
    step(record, name).detail.clone().unwrap_or_default()
}

/// Two tenants: the first connected to the platform, the second another organization's.
async fn two_tenants() -> World {
    let sim = SimConfig {
        seed: 42,
        port: 0,
        tenants: vec![TenantSpec::new(40, 6), TenantSpec::new(10, 2)],
    };
    World::with_sim(ConnectionMode::ReadWrite, sim).await
}

/// Cloud members (not guests, not synced from on-premises) of the connected tenant, with a
/// license (so a usage location move names licenses) first.
fn cloud_members(world: &World) -> Vec<TruthUser> {
    let mut members: Vec<TruthUser> = world
        .truth()
        .users
        .into_iter()
        .filter(|u| u.user_type == "Member" && !u.on_premises_sync_enabled)
        .filter(|u| !u.user_principal_name.starts_with("admin@"))
        .collect();
    members.sort_by_key(|u| u.sku_ids.is_empty());
    members
}

/// Stores `user` as a sync would have, so the job's update of the synced account shows.
async fn store_as_synced(world: &World, user: &TruthUser) {
    let account = Account {
        id: AccountId::parse(&user.id).unwrap(),
        upn: Upn::parse(&user.user_principal_name).unwrap(),
        display_name: user.display_name.clone(),
        enabled: user.account_enabled,
        usage_location: user
            .usage_location
            .as_deref()
            .map(|c| UsageLocation::parse(c).unwrap()),
        user_type: user.user_type.clone(),
        on_premises_synced: false,
        licenses: Vec::new(),
        last_sign_in: LastSignIn::Never,
        mailbox: None,
        deleted: false,
        profile: Default::default(),
    };
    world
        .platform()
        .store
        .put_account(&world.tenant_id, &account)
        .await
        .unwrap();
}

async fn stored(world: &World, id: &str) -> Account {
    world
        .platform()
        .store
        .account(&world.tenant_id, &AccountId::parse(id).unwrap())
        .await
        .unwrap()
        .expect("the account is stored")
}

/// The account as Graph answers it, with the mover's properties.
async fn graph_user(world: &World, id: &str) -> graph::User {
    let mut answers = world
        .graph
        .look_up(vec![graph::BatchRequest::get_user(
            "u",
            id,
            "id,userPrincipalName,displayName,jobTitle,department,officeLocation,employeeId,usageLocation,mail",
        )])
        .await
        .unwrap();
    answers.optional("u").unwrap().expect("the account exists")
}

fn update(world: &World, job_id: &str, account: &str, fields: Value) -> Value {
    let mut job = json!({"job_id": job_id, "tenant_id": world.tenant.tenant_id,
        "type": "update_account", "account": account});
    for (name, value) in fields.as_object().unwrap() {
        job[name] = value.clone();
    }
    job
}

fn patched(world: &World, property: &str) -> u64 {
    world
        .sim()
        .stats()
        .patched_user_properties
        .get(property)
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn given_a_mover_when_updated_then_only_what_differs_is_sent_in_one_patch_and_the_synced_account_follows_graph()
 {
    // GIVEN a licensed cloud account, stored as a sync would have it, and a colleague
    let world = two_tenants().await;
    let members = cloud_members(&world);
    let (mover, colleague) = (&members[0], &members[1]);
    store_as_synced(&world, mover).await;
    let new_upn = format!("moved.person@{}", world.tenant.default_domain);
    let location = if mover.usage_location.as_deref() == Some("DE") {
        "FR"
    } else {
        "DE"
    };
    let job = update(
        &world,
        "j-move",
        &mover.user_principal_name,
        json!({
            "display_name": mover.display_name,
            "job_title": "Head of Moving", "department": "Logistics",
            "office_location": "Building 4", "employee_id": "E-10442",
            "usage_location": location, "manager": colleague.user_principal_name,
            "user_principal_name": new_upn
        }),
    );
    // ... and a dry run of the same change first
    let mut dry = job.clone();
    dry["job_id"] = json!("j-move-dry");
    dry["dry_run"] = json!(true);
    let writes = world.writes();
    let dry_record = world.run(&dry).await;
    assert_eq!(dry_record.status, JobStatus::Succeeded, "{dry_record:#?}");
    assert_eq!(world.writes(), writes, "a dry run wrote to the tenant");
    let plan = detail(&dry_record, "plan:1");
    assert!(
        plan.starts_with("PATCH /users/")
            && plan.contains(
                "set jobTitle, department, officeLocation, employeeId, usageLocation, userPrincipalName"
            ),
        "{plan}"
    );
    let display_name_before = patched(&world, "displayName");
    let patches_before = world.route("PATCH /v1.0/users/{id}");

    // WHEN the mover runs
    let record = world.run(&job).await;

    // THEN it succeeded with one PATCH carrying only what differs (not the unchanged display
    // name) and one manager change
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    assert_eq!(world.route("PATCH /v1.0/users/{id}") - patches_before, 1);
    assert_eq!(patched(&world, "displayName"), display_name_before);
    for property in [
        "jobTitle",
        "department",
        "officeLocation",
        "employeeId",
        "usageLocation",
        "userPrincipalName",
    ] {
        assert_eq!(patched(&world, property), 1, "{property}");
    }
    assert_eq!(world.route("PUT /v1.0/users/{id}/manager/$ref"), 1);
    assert!(step(&record, "update_profile").graph_request_id.is_some());
    // AND Graph holds the new values
    let after = graph_user(&world, &mover.id).await;
    assert_eq!(after.user_principal_name.as_deref(), Some(new_upn.as_str()));
    assert_eq!(after.job_title.as_deref(), Some("Head of Moving"));
    assert_eq!(after.employee_id.as_deref(), Some("E-10442"));
    assert_eq!(after.usage_location.as_deref(), Some(location));
    let truth = world.user(&new_upn).expect("renamed");
    assert_eq!(truth.manager_id.as_deref(), Some(colleague.id.as_str()));
    // AND the read-back judged it, and says what became of the old address
    let read_back = detail(&record, "read_back");
    assert_eq!(step(&record, "read_back").outcome, StepOutcome::Done);
    assert!(
        read_back.contains(&format!("old address {}", mover.user_principal_name)),
        "{read_back}"
    );
    // AND the licenses whose services follow the usage location were named
    let warning = detail(&record, "warning:1");
    assert!(warning.contains(&format!("to {location}")), "{warning}");
    // AND the synced account is what Graph answered, at once
    let synced = stored(&world, &mover.id).await;
    assert_eq!(synced.upn.as_str(), new_upn);
    // ... its job, department, office and employee id included
    assert_eq!(synced.profile.job_title.as_deref(), Some("Head of Moving"));
    assert_eq!(synced.profile.department.as_deref(), Some("Logistics"));
    assert_eq!(
        synced.profile.office_location.as_deref(),
        Some("Building 4")
    );
    assert_eq!(synced.profile.employee_id.as_deref(), Some("E-10442"));
    assert_eq!(
        synced.usage_location.map(|l| l.to_string()).as_deref(),
        Some(location)
    );
    assert_eq!(
        step(&record, "update_synced_account").outcome,
        StepOutcome::Done
    );

    // WHEN the same job is delivered again (SQS delivers twice)
    let patches = world.route("PATCH /v1.0/users/{id}");
    let again = world.run(&job).await;
    // THEN nothing is sent twice
    assert_eq!(again.status, JobStatus::Succeeded, "{again:#?}");
    assert_eq!(world.route("PATCH /v1.0/users/{id}"), patches);
    assert_eq!(world.route("PUT /v1.0/users/{id}/manager/$ref"), 1);
}

#[tokio::test]
async fn given_updates_graph_would_refuse_or_another_tenants_ids_when_run_then_each_is_refused_before_any_write()
 {
    // GIVEN an account of the connected tenant and an account of another organization's tenant
    let world = two_tenants().await;
    let members = cloud_members(&world);
    let account = &members[0];
    let other_tenant = world.sim().tenants().remove(1);
    let foreign = world
        .sim()
        .truth(&other_tenant.tenant_id)
        .unwrap()
        .users
        .remove(0);
    let unverified = world.tenant.unverified_domains[0].clone();
    let cases = [
        (
            update(
                &world,
                "j-domain",
                &account.user_principal_name,
                json!({"user_principal_name": format!("moved@{unverified}")}),
            ),
            format!("{unverified}, is not a verified domain of the tenant"),
        ),
        (
            update(
                &world,
                "j-taken",
                &account.user_principal_name,
                json!({"user_principal_name": members[1].user_principal_name, "job_title": "X"}),
            ),
            format!(
                "user principal name {} is already taken",
                members[1].user_principal_name
            ),
        ),
        (
            update(
                &world,
                "j-nobody",
                &account.user_principal_name,
                json!({"manager": "0b9f1c2e-0000-4000-8000-00000000dead"}),
            ),
            "manager 0b9f1c2e-0000-4000-8000-00000000dead does not exist in the tenant".to_owned(),
        ),
        (
            update(
                &world,
                "j-foreign-manager",
                &account.user_principal_name,
                json!({"manager": foreign.id}),
            ),
            format!("manager {} does not exist in the tenant", foreign.id),
        ),
        (
            update(
                &world,
                "j-foreign-account",
                &foreign.id,
                json!({"job_title": "Mole"}),
            ),
            format!("account {} does not exist in the tenant", foreign.id),
        ),
        (
            update(&world, "j-nothing", &account.user_principal_name, json!({})),
            "the job names nothing to change".to_owned(),
        ),
    ];
    let writes = world.writes();
    for (job, reason) in cases {
        // WHEN each runs
        let record = world.run(&job).await;
        // THEN it failed naming the reason
        assert_eq!(record.status, JobStatus::Failed, "{record:#?}");
        let error = record.error.clone().unwrap_or_default();
        assert!(error.contains(&reason), "{error} lacks {reason}");
    }
    // AND nothing was written in either tenant
    assert_eq!(world.writes(), writes, "a refused job wrote to a tenant");

    // WHEN a job names the other organization's tenant itself (not connected here)
    let mut foreign_job = update(
        &world,
        "j-foreign-tenant",
        &foreign.id,
        json!({"job_title": "Mole"}),
    );
    foreign_job["tenant_id"] = json!(other_tenant.tenant_id);
    let failures = world.deliver(&[foreign_job]).await;
    // THEN it is dropped without a write there
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(world.writes(), writes);
}

#[tokio::test]
async fn given_a_leave_of_absence_when_sign_in_is_blocked_and_later_allowed_then_graph_and_the_store_follow()
 {
    // GIVEN an enabled cloud account stored as synced
    let world = two_tenants().await;
    let account = cloud_members(&world)
        .into_iter()
        .find(|u| u.account_enabled)
        .expect("an enabled account");
    store_as_synced(&world, &account).await;
    let set = |job_id: &str, sign_in: &str, revoke: bool| {
        json!({"job_id": job_id, "tenant_id": world.tenant.tenant_id, "type": "set_sign_in",
            "account": account.user_principal_name, "sign_in": sign_in, "revoke_sessions": revoke})
    };

    // WHEN sign-in is blocked with sessions revoked (the leave starts)
    let blocked = world.run(&set("j-leave", "blocked", true)).await;

    // THEN Graph blocks it, the sessions are revoked, the read-back shows both and the store
    // follows; groups and licenses are untouched
    assert_eq!(blocked.status, JobStatus::Succeeded, "{blocked:#?}");
    assert!(
        !world
            .user(&account.user_principal_name)
            .unwrap()
            .account_enabled
    );
    assert_eq!(world.route("POST /v1.0/users/{id}/revokeSignInSessions"), 1);
    assert_eq!(step(&blocked, "read_back").outcome, StepOutcome::Done);
    assert!(detail(&blocked, "read_back").contains("accountEnabled false"));
    assert!(!stored(&world, &account.id).await.enabled);
    assert_eq!(
        world.user(&account.user_principal_name).unwrap().sku_ids,
        account.sku_ids
    );

    // WHEN it is blocked again, then allowed (the return)
    let again = world.run(&set("j-leave-2", "blocked", false)).await;
    let allowed = world.run(&set("j-return", "allowed", false)).await;

    // THEN the second block sends nothing and the return allows sign-in again
    assert_eq!(step(&again, "set_sign_in").outcome, StepOutcome::Skipped);
    assert_eq!(allowed.status, JobStatus::Succeeded, "{allowed:#?}");
    assert!(
        world
            .user(&account.user_principal_name)
            .unwrap()
            .account_enabled
    );
    assert!(stored(&world, &account.id).await.enabled);
    assert_eq!(world.route("PATCH /v1.0/users/{id}"), 2);
}

/// The stored account, if any.
async fn stored_or_not(world: &World, id: &str) -> Option<Account> {
    world
        .platform()
        .store
        .account(&world.tenant_id, &AccountId::parse(id).unwrap())
        .await
        .unwrap()
}

/// The stored memberships of `account` in the connected tenant's groups.
async fn stored_memberships_of(world: &World, account: &str) -> Vec<String> {
    use futures::TryStreamExt as _;
    let memberships: Vec<lifecycle::model::Membership> = world
        .platform()
        .store
        .memberships(&world.tenant_id)
        .try_collect()
        .await
        .unwrap();
    memberships
        .into_iter()
        .filter(|m| m.account_id.as_str() == account)
        .map(|m| m.group_id.to_string())
        .collect()
}

/// Stores the memberships Graph has of `user`, as a sync would have.
async fn store_memberships_as_synced(world: &World, user: &TruthUser) -> usize {
    let groups = world.groups_of(&user.id);
    for group in &groups {
        let group_id = lifecycle::GroupId::parse(&group.id).unwrap();
        let account_id = AccountId::parse(&user.id).unwrap();
        let membership = lifecycle::model::Membership {
            group_id,
            account_id,
        };
        world
            .platform()
            .store
            .add_memberships(&world.tenant_id, &[membership])
            .await
            .unwrap();
    }
    groups.len()
}

#[tokio::test]
async fn given_sync_settings_that_leave_blocked_accounts_out_when_a_job_blocks_one_then_its_read_back_leaves_the_store_with_its_memberships()
 {
    // GIVEN a tenant whose sync settings leave blocked accounts out, and two enabled cloud
    // members in groups, stored with their memberships as a sync would have them
    let world = World::with_sim(ConnectionMode::ReadWrite, SimConfig::single(12, 3)).await;
    let members: Vec<TruthUser> = cloud_members(&world)
        .into_iter()
        .filter(|u| u.account_enabled && !world.groups_of(&u.id).is_empty())
        .collect();
    let (leaver, colleague) = (&members[0], &members[1]);
    for user in [leaver, colleague] {
        store_as_synced(&world, user).await;
        assert!(store_memberships_as_synced(&world, user).await > 0);
    }
    let mut settings = world
        .platform()
        .store
        .sync_settings(&world.tenant_id)
        .await
        .unwrap();
    settings.settings.accounts.exclude_disabled = true;
    world
        .platform()
        .store
        .put_sync_settings(&settings)
        .await
        .unwrap();

    // WHEN a set_sign_in job blocks one of them
    let blocked = world
        .run(
            &json!({"job_id": "j-block", "tenant_id": world.tenant.tenant_id,
            "type": "set_sign_in", "account": leaver.user_principal_name,
            "sign_in": "blocked", "revoke_sessions": false}),
        )
        .await;

    // THEN Graph blocks it, and its read-back is not stored: the stored copy is gone with its
    // memberships, as the sync would leave it out; the colleague keeps account and memberships
    assert_eq!(blocked.status, JobStatus::Succeeded, "{blocked:#?}");
    assert!(
        !world
            .user(&leaver.user_principal_name)
            .unwrap()
            .account_enabled
    );
    assert_eq!(stored_or_not(&world, &leaver.id).await, None);
    assert_eq!(
        stored_memberships_of(&world, &leaver.id).await,
        Vec::<String>::new()
    );
    assert!(
        detail(&blocked, "update_synced_account").contains("removed from the store"),
        "{blocked:#?}"
    );
    assert!(stored_or_not(&world, &colleague.id).await.is_some());
    assert!(
        !stored_memberships_of(&world, &colleague.id)
            .await
            .is_empty()
    );

    // WHEN a stale stored copy of the blocked account is updated by a mover job
    store_as_synced(&world, leaver).await;
    let moved = world
        .run(&update(
            &world,
            "j-retitle",
            &leaver.user_principal_name,
            json!({"job_title": "On leave"}),
        ))
        .await;

    // THEN the job title is set in Graph, and the read-back (blocked, as Graph answers) leaves
    // the store again
    assert_eq!(moved.status, JobStatus::Succeeded, "{moved:#?}");
    assert_eq!(
        graph_user(&world, &leaver.id).await.job_title.as_deref(),
        Some("On leave")
    );
    assert_eq!(stored_or_not(&world, &leaver.id).await, None);
}
