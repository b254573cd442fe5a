//! Group provisioning end to end on real parts (moto with the real AWS SDK clients under the
//! function's template policy, the Graph simulator with the real Graph client): create, rename,
//! desired-state members in the fewest `$batch` requests, delete, and the refusals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test reports by panicking

mod support;

use futures::TryStreamExt as _;
use graph_sim::{SimConfig, TenantSpec, TruthGroup};
use lifecycle::GroupId;
use lifecycle::model::{ConnectionMode, JobRecord, JobStatus, StepOutcome};
use lifecycle::store::keys;
use serde_json::{Value, json};
use support::World;

/// Two tenants: the first connected to the platform, the second another organization's.
async fn two_tenants() -> World {
    let sim = SimConfig {
        seed: 17,
        port: 0,
        tenants: vec![TenantSpec::new(70, 8), TenantSpec::new(10, 3)],
    };
    World::with_sim(ConnectionMode::ReadWrite, sim).await
}

fn job(world: &World, job_id: &str, kind: &str, fields: Value) -> Value {
    let mut job = json!({"job_id": job_id, "tenant_id": world.tenant.tenant_id, "type": kind});
    for (name, value) in fields.as_object().unwrap() {
        job[name] = value.clone();
    }
    job
}

fn detail(record: &JobRecord, name: &str) -> String {
    record
        .steps
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| s.detail.clone())
        .unwrap_or_else(|| panic!("no step {name} in {:#?}", record.steps))
}

fn group_named(world: &World, nickname_display: &str) -> Vec<TruthGroup> {
    world
        .truth()
        .groups
        .into_iter()
        .filter(|g| g.display_name == nickname_display)
        .collect()
}

/// Cloud member accounts of the connected tenant (not the admin).
fn accounts(world: &World) -> Vec<(String, String)> {
    world
        .truth()
        .users
        .into_iter()
        .filter(|u| u.user_type == "Member" && !u.user_principal_name.starts_with("admin@"))
        .map(|u| (u.id, u.user_principal_name))
        .collect()
}

#[tokio::test]
async fn given_a_group_when_created_renamed_given_members_and_deleted_then_graph_and_the_store_follow_in_the_fewest_batches_and_refused_jobs_write_nothing()
 {
    // GIVEN a connected tenant and some of its accounts
    let world = two_tenants().await;
    let people = accounts(&world);
    assert!(
        people.len() >= 55,
        "the tenant has {} accounts",
        people.len()
    );
    let owner = &people[0];
    let create = job(
        &world,
        "g-create",
        "create_group",
        json!({"group_type": "microsoft365", "display_name": "Finance Approvers",
               "mail_nickname": "finance-approvers", "description": "Invoices over 10k",
               "owners": [owner.1]}),
    );

    // WHEN it is first asked as a dry run, THEN nothing is written and the plan is recorded
    let writes = world.writes();
    let mut dry = create.clone();
    dry["job_id"] = json!("g-create-dry");
    dry["dry_run"] = json!(true);
    let record = world.run(&dry).await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    assert!(detail(&record, "plan:1").starts_with("POST /groups: create Microsoft 365 group"));
    assert_eq!(world.writes(), writes);

    // WHEN the group is created, and the same create arrives again as another job
    let record = world.run(&create).await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    let mut again = create.clone();
    again["job_id"] = json!("g-create-again");
    let repeat = world.run(&again).await;

    // THEN Graph holds exactly one such group, owned by the owner, and the store holds it
    let made = group_named(&world, "Finance Approvers");
    assert_eq!(made.len(), 1, "one group, not two: {made:#?}");
    let group = made[0].clone();
    assert_eq!(made[0].kind, "unified");
    assert_eq!(made[0].owner_ids, vec![owner.0.clone()]);
    assert!(detail(&record, "create_group").contains(&group.id));
    assert!(
        repeat
            .steps
            .iter()
            .any(|s| s.name == "create_group" && s.outcome == StepOutcome::Skipped),
        "{repeat:#?}"
    );
    let group_id = GroupId::parse(&group.id).unwrap();
    let stored = || async {
        world
            .platform()
            .store
            .get::<lifecycle::model::Group>(&keys::group(&world.tenant_id, &group_id))
            .await
            .unwrap()
    };
    assert_eq!(stored().await.unwrap().display_name, "Finance Approvers");

    // WHEN it is renamed
    let record = world
        .run(&job(
            &world,
            "g-rename",
            "update_group",
            json!({"group": group.id, "display_name": "Finance Approvers (EMEA)"}),
        ))
        .await;
    // THEN Graph and the store carry the new name
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    assert_eq!(group_named(&world, "Finance Approvers (EMEA)").len(), 1);
    assert_eq!(
        stored().await.unwrap().display_name,
        "Finance Approvers (EMEA)"
    );

    // WHEN its members are set to 30 accounts (by id), then to 10 of those plus 15 others (by
    // user principal name): 35 changes
    let first: Vec<&str> = people[1..31].iter().map(|(id, _)| id.as_str()).collect();
    let record = world
        .run(&job(
            &world,
            "g-members-1",
            "set_group_members",
            json!({"group": group.id, "members": first}),
        ))
        .await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    let (batches, adds, removes) = (
        world.route("POST /v1.0/$batch"),
        world.route("POST /v1.0/groups/{id}/members/$ref"),
        world.route("DELETE /v1.0/groups/{id}/members/{id}/$ref"),
    );
    let mut second: Vec<String> = people[1..11].iter().map(|(id, _)| id.clone()).collect();
    second.extend(people[31..46].iter().map(|(_, upn)| upn.clone()));
    let members = job(
        &world,
        "g-members-2",
        "set_group_members",
        json!({"group": group.id, "members": second}),
    );
    let record = world.run(&members).await;

    // THEN Graph's members are exactly the wanted ones, reached with 15 adds and 20 removes in
    // two write batches (35 changes / 20) and one look-up batch (the 15 newcomers only)
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    let wanted: std::collections::BTreeSet<String> = people[1..11]
        .iter()
        .chain(&people[31..46])
        .map(|(id, _)| id.clone())
        .collect();
    let now = group_named(&world, "Finance Approvers (EMEA)")[0].clone();
    let now_members: std::collections::BTreeSet<String> = now.member_ids.into_iter().collect();
    assert_eq!(now_members, wanted);
    assert_eq!(
        world.route("POST /v1.0/groups/{id}/members/$ref") - adds,
        15
    );
    assert_eq!(
        world.route("DELETE /v1.0/groups/{id}/members/{id}/$ref") - removes,
        20
    );
    assert_eq!(
        world.route("POST /v1.0/$batch") - batches,
        3,
        "2 write batches + 1 look-up"
    );
    assert!(detail(&record, "change_members:1").starts_with("added 15, removed 5"));
    assert!(detail(&record, "read_back").contains("the wanted ones"));
    // AND the store holds exactly those memberships
    let stored_members: std::collections::BTreeSet<String> = world
        .platform()
        .store
        .group_members(&world.tenant_id, &group_id)
        .map_ok(|m| m.account_id.to_string())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(stored_members, wanted);

    // WHEN the same wanted list is asked again, THEN nothing is written
    let writes = world.writes();
    let mut again = members.clone();
    again["job_id"] = json!("g-members-3");
    assert_eq!(world.run(&again).await.status, JobStatus::Succeeded);
    assert_eq!(world.writes(), writes);

    // WHEN the group is deleted, THEN Graph and the store no longer have it or its memberships
    let record = world
        .run(&job(
            &world,
            "g-delete",
            "delete_group",
            json!({"group": group.id}),
        ))
        .await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    assert!(world.truth().groups.iter().all(|g| g.id != group.id));
    assert!(stored().await.is_none());
    let memberships_left = world
        .platform()
        .store
        .query_keys(
            &keys::group_members_partition(&world.tenant_id, &group_id),
            Some(&keys::group_members_prefix(&group_id)),
        )
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert!(memberships_left.is_empty(), "{memberships_left:?}");

    refused_jobs_write_nothing(&world).await;
}

/// Jobs Graph would refuse, or naming another organization's objects: each fails with the
/// reason and writes nothing (run on the stack of the test above: one stack, less test time).
async fn refused_jobs_write_nothing(world: &World) {
    // GIVEN a dynamic group of the tenant, an account and a group of another organization
    let dynamic = world
        .truth()
        .groups
        .into_iter()
        .find(|g| g.kind.starts_with("dynamic"))
        .expect("the simulated tenant has a dynamic group");
    let other_id = world.sim().tenants()[1].tenant_id.clone();
    let other = world.sim().truth(&other_id).unwrap();
    let foreign_user = other.users[0].user_principal_name.clone();
    let foreign_group = other.groups[0].id.clone();
    let taken = world.truth().groups[0].clone();
    let writes = world.writes();

    let cases = [
        (
            job(
                world,
                "r-1",
                "set_group_members",
                json!({"group": dynamic.id, "members": []}),
            ),
            "has dynamic membership",
        ),
        (
            job(
                world,
                "r-2",
                "delete_group",
                json!({"group": foreign_group}),
            ),
            "no group",
        ),
        (
            job(
                world,
                "r-3",
                "create_group",
                json!({"group_type": "security",
                "display_name": "Ops", "mail_nickname": "ops-team", "owners": [foreign_user]}),
            ),
            "owners not found in this tenant",
        ),
        (
            job(
                world,
                "r-4",
                "update_group",
                json!({"group": dynamic.id, "display_name": "x"}),
            ),
            "has dynamic membership",
        ),
    ];
    for (job, reason) in cases {
        // WHEN each is run
        let record = world.run(&job).await;
        // THEN it fails with the reason and nothing is written in Graph
        assert_eq!(record.status, JobStatus::Failed, "{job}: {record:#?}");
        let error = record.error.clone().unwrap_or_default();
        assert!(error.contains(reason), "{job}: {error}");
    }
    // AND a nickname another group holds is refused, naming the group
    let nickname = world
        .graph
        .group(&taken.id)
        .await
        .unwrap()
        .and_then(|g| g.mail_nickname)
        .unwrap();
    let record = world
        .run(&job(
            world,
            "r-5",
            "create_group",
            json!({"group_type": "security",
            "display_name": "Someone else's", "mail_nickname": nickname}),
        ))
        .await;
    assert_eq!(record.status, JobStatus::Failed);
    assert!(record.error.unwrap_or_default().contains(&taken.id));
    assert_eq!(world.writes(), writes, "no job wrote anything");
}
