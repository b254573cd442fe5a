//! Restoring an offboarded account from its snapshot: what the offboarding took away, and what
//! changed since, comes back as the snapshot holds it.

use super::*;

#[tokio::test]
async fn given_an_offboarded_account_whose_manager_and_usage_location_changed_when_restored_then_both_its_disabled_plans_and_its_own_automatic_reply_come_back_from_the_snapshot()
 {
    // GIVEN a licensed account with a manager, a usage location, a direct license with a
    // service plan turned off and its own scheduled automatic reply (for contacts only), offboarded
    // (keep disabled) with the offboarding's automatic reply
    let env = Env::start(ConnectionMode::ReadWrite).await;
    let before = env.truth();
    let target = before
        .users
        .iter()
        .filter(|u| u.account_enabled && u.user_type == "Member" && !u.on_premises_sync_enabled)
        .filter(|u| u.manager_id.is_some() && u.usage_location.is_some())
        .filter(|u| !u.disabled_plans.is_empty())
        .max_by_key(|u| u.sku_ids.len())
        .cloned()
        .expect("a licensed member with a manager");
    let graph = env
        .platform
        .tenant_graph(&env.tenant)
        .await
        .expect("a Graph handle");
    let own_reply = json!({
        "status": "scheduled",
        "externalAudience": "contactsOnly",
        "internalReplyMessage": "On holiday until the 3rd; Megan covers for me.",
        "externalReplyMessage": "I am away until January 3rd.",
        "scheduledStartDateTime": { "dateTime": "2026-12-20T08:00:00", "timeZone": "UTC" },
        "scheduledEndDateTime": { "dateTime": "2027-01-03T08:00:00", "timeZone": "UTC" },
    });
    let mailbox = format!("/users/{}/mailboxSettings", target.id);
    let set = graph
        .batch(vec![
            graph::BatchRequest::new("own", graph::Method::PATCH, &mailbox)
                .with_body(json!({ "automaticRepliesSetting": own_reply })),
        ])
        .await
        .expect("batch");
    assert!(set.iter().all(|o| o.result.is_ok()), "{set:?}");
    let mut job = env.job(&target.id, OffboardPolicy::KeepDisabled);
    if let JobKind::Offboard(spec) = &mut job.kind {
        spec.automatic_reply = Some(AutomaticReply {
            internal_message: "This person has left; write to hr@contoso.com".into(),
            external_message: None,
        });
    }
    assert!(env.deliver(&job).await.batch_item_failures.is_empty());
    let record = env.record(&job).await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    // ... whose snapshot (shown in the receipt) names the reply it had before
    let snapshot_step = step(&record, "snapshot").detail.clone().unwrap_or_default();
    assert!(
        snapshot_step.contains("automatic reply before: status=scheduled from 2026-12-20T08:00:00 to 2027-01-03T08:00:00 (UTC), externalAudience=contactsOnly"),
        "{snapshot_step}"
    );
    assert_eq!(
        user(&env.truth(), &target.id)
            .and_then(|u| u.automatic_reply.clone())
            .map(|(status, _)| status)
            .as_deref(),
        Some("alwaysEnabled")
    );
    // ... and since then someone removed its manager and moved its usage location
    let elsewhere = if target.usage_location.as_deref() == Some("NO") {
        "SE"
    } else {
        "NO"
    };
    graph
        .update_user(
            &target.id,
            &graph::UserPatch {
                usage_location: Some(elsewhere.into()),
                ..graph::UserPatch::default()
            },
        )
        .await
        .expect("usage location moved");
    let removed = graph
        .batch(vec![graph::BatchRequest::new(
            "manager",
            graph::Method::DELETE,
            format!("/users/{}/manager/$ref", target.id),
        )])
        .await
        .expect("batch");
    assert!(removed.iter().all(|o| o.result.is_ok()), "{removed:?}");
    let moved = user(&env.truth(), &target.id).cloned().expect("there");
    assert_eq!(moved.manager_id, None);
    assert_eq!(moved.usage_location.as_deref(), Some(elsewhere));

    // WHEN it is restored
    let report = lifecycle::offboarding::restore::restore(
        &env.platform,
        &graph,
        &env.tenant.tenant_id,
        &AccountId::parse(&target.id).expect("id"),
        lifecycle::offboarding::restore::RestoreOptions::default(),
    )
    .await
    .expect("restored");

    // THEN usage location (before the licenses) and manager are the snapshot's again, each step
    // done with its read-back, and the licenses are back
    let names: Vec<&str> = report.steps.iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "undelete",
            "set_usage_location",
            "set_manager",
            "add_groups",
            "assign_licenses",
            "restore_automatic_reply",
            "enable_sign_in"
        ]
    );
    let reply_step = &report.steps[5];
    assert_eq!(reply_step.outcome, StepOutcome::Done, "{reply_step:?}");
    assert!(reply_step.detail.contains("read-back"), "{reply_step:?}");
    for s in &report.steps[1..3] {
        assert_eq!(s.outcome, StepOutcome::Done, "{s:?}");
        assert!(s.detail.contains("read-back"), "{s:?}");
    }
    let after = user(&env.truth(), &target.id).cloned().expect("there");
    assert_eq!(after.manager_id, target.manager_id);
    assert_eq!(after.usage_location, target.usage_location);
    assert_eq!(
        after.sku_ids.iter().collect::<BTreeSet<_>>(),
        target.sku_ids.iter().collect::<BTreeSet<_>>()
    );
    // ... each with exactly the service plans that were turned off before
    assert_eq!(after.disabled_plans, target.disabled_plans);
    // ... and the mailbox answers with the person's own reply again, not the offboarding's
    let read = graph
        .batch(vec![graph::BatchRequest::new(
            "read",
            graph::Method::GET,
            &mailbox,
        )])
        .await
        .expect("batch")
        .pop()
        .expect("one answer")
        .result
        .expect("mailbox settings read");
    let setting = &read.body.expect("a body")["automaticRepliesSetting"];
    assert_eq!(setting, &own_reply);
    env.stack.shutdown().await;
}
