//! Update-memberships jobs: group and license changes of an existing account, each refusal
//! naming its cause.

use super::*;

fn update_job(world: &World, job_id: &str, account: &str) -> Value {
    json!({"job_id": job_id, "tenant_id": world.tenant.tenant_id, "type": "update_memberships", "account": account})
}

#[tokio::test]
async fn given_a_license_inherited_from_a_group_when_removed_directly_then_the_error_names_the_group()
 {
    // GIVEN: an account whose SKU comes only from a group
    let world = World::start().await;
    let users: Vec<graph::User> = world
        .graph
        .users_with_license_states()
        .try_collect()
        .await
        .expect("users");
    let (account, state) = users
        .iter()
        .find_map(|u| {
            let inherited = u
                .license_assignment_states
                .iter()
                .find(|s| !s.is_direct())?;
            let direct_too = u
                .license_assignment_states
                .iter()
                .any(|s| s.is_direct() && s.sku_id == inherited.sku_id);
            (!direct_too).then(|| (u.clone(), inherited.clone()))
        })
        .expect("an account with a group-inherited license only");
    let group_id = state.assigned_by_group.clone().unwrap_or_default();
    let group = world
        .truth()
        .groups
        .into_iter()
        .find(|g| g.id == group_id)
        .expect("group");
    let mut job = update_job(&world, "j-inherited", &account.id);
    job["remove_licenses"] = json!([state.sku_id]);
    // WHEN / THEN
    expect_refused(
        &world,
        job,
        &format!("comes from group {} ({})", group.display_name, group.id),
    )
    .await;
}

#[tokio::test]
async fn given_group_and_license_changes_when_run_then_they_are_applied_and_no_ops_skipped() {
    // GIVEN: a member account with no direct license
    let world = World::start().await;
    let truth = world.truth();
    let account = truth
        .users
        .iter()
        .find(|u| u.user_type == "Member" && u.sku_ids.is_empty() && u.usage_location.is_some())
        .expect("an unlicensed member")
        .clone();
    let assignable = world.assignable_groups().await;
    let current: Vec<String> = world
        .groups_of(&account.id)
        .into_iter()
        .filter(|g| assignable.iter().any(|a| a.id == g.id))
        .map(|g| g.id)
        .collect();
    let to_add: Vec<String> = assignable
        .iter()
        .filter(|g| !current.contains(&g.id))
        .take(2)
        .map(|g| g.id.clone())
        .collect();
    let mut job = update_job(&world, "j-update", &account.user_principal_name);
    job["add_groups"] = json!(to_add);
    job["remove_groups"] = json!(current.iter().take(1).collect::<Vec<_>>());
    job["assign_licenses"] = json!(["EMS"]);
    // WHEN
    let record = world.run(&job).await;
    // THEN
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    let after: Vec<String> = world
        .groups_of(&account.id)
        .into_iter()
        .map(|g| g.id)
        .collect();
    for id in &to_add {
        assert!(after.contains(id));
    }
    if let Some(removed) = current.first() {
        assert!(!after.contains(removed));
    }
    let skus = world
        .user(&account.user_principal_name)
        .expect("account")
        .sku_ids;
    assert!(skus.contains(&sku(&world, "EMS").sku_id), "{skus:?}");
    assert!(step(&record, "change_licenses").graph_request_id.is_some());
}

#[tokio::test]
async fn given_the_last_license_of_an_account_with_a_mailbox_when_removed_then_a_warning_says_the_mailbox_goes()
 {
    // GIVEN: an account with a mail address and exactly one direct license, no inherited one
    let world = World::start().await;
    let users: Vec<graph::User> = world
        .graph
        .users_with_license_states()
        .try_collect()
        .await
        .expect("users");
    let mails: std::collections::HashMap<String, Option<String>> = world
        .graph
        .users()
        .map_ok(|u| (u.id.clone(), u.mail.clone()))
        .try_collect()
        .await
        .expect("mail");
    let account = users
        .iter()
        .find(|u| {
            u.license_assignment_states.len() == 1
                && u.license_assignment_states[0].is_direct()
                && mails.get(&u.id).cloned().flatten().is_some()
        })
        .expect("a mailbox account with one direct license")
        .clone();
    let mut job = update_job(&world, "j-mailbox", &account.id);
    job["set_licenses"] = json!([]);
    // WHEN
    let record = world.run(&job).await;
    // THEN
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    let warning = step(&record, "warning:1");
    assert!(
        warning
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("mailbox"),
        "{warning:?}"
    );
    assert!(
        world
            .user(account.user_principal_name.as_deref().unwrap_or_default())
            .expect("account")
            .sku_ids
            .is_empty()
    );
}
