//! Onboardings with a start time: validated at once, the account created only when it is due.

use super::*;

#[tokio::test]
async fn given_a_start_time_tomorrow_when_run_then_it_is_validated_now_and_the_account_is_created_only_when_the_schedule_finds_it_due()
 {
    // GIVEN
    let world = World::start().await;
    let secret = world.put_password("j-later", PASSWORD).await;
    let start = Utc::now() + chrono::Duration::days(1);
    let mut job = world.onboard_job("j-later", "later", &secret);
    job["start_at"] = json!(start);
    job["licenses"] = json!(["SPE_E3"]);
    let upn = format!("later@{}", world.tenant.default_domain);

    // WHEN: delivered today
    let record = world.run(&job).await;

    // THEN: validated and parked, no account, the password kept for the day
    assert_eq!(record.status, JobStatus::Queued, "{record:#?}");
    assert_eq!(record.completed_at, None);
    assert_eq!(
        step(&record, "wait_for_start").outcome,
        StepOutcome::Pending
    );
    assert_eq!(step(&record, "validate").outcome, StepOutcome::Done);
    assert!(world.user(&upn).is_none());
    assert!(
        world
            .secrets()
            .await
            .iter()
            .any(|(name, _)| name == &secret)
    );
    let sent = onboarding::schedule::send_due(world.platform(), Utc::now())
        .await
        .expect("schedule");
    assert_eq!(sent, 0, "sent before its start time");

    // WHEN: the schedule runs after the start time and the job comes back from the queue
    let sent =
        onboarding::schedule::send_due(world.platform(), start + chrono::Duration::minutes(1))
            .await
            .expect("schedule");
    assert_eq!(sent, 1);
    let queued = world.queued_jobs().await;
    assert_eq!(queued.len(), 1);
    assert!(!queued[0].to_string().contains(PASSWORD));
    assert_eq!(queued[0]["job_id"], "j-later");
    // The worker reads the real clock, which a test cannot move a day ahead: the job comes back
    // as sent, with its start time set to a minute ago, as it is when the day has come. The
    // accepted job in its record moves with it: a body that differs from the accepted one under
    // the same id is refused as another job (hostile-organization rule).
    let mut due = queued[0].clone();
    due["start_at"] = json!(Utc::now() - chrono::Duration::minutes(1));
    let mut parked = world.record("j-later").await;
    parked.job = Some(lifecycle::model::Job::from_value(due.clone()).expect("the due job parses"));
    world.save_record(&parked).await;
    let record = world.run(&due).await;

    // THEN
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    assert_eq!(step(&record, "wait_for_start").outcome, StepOutcome::Done);
    let account = world.user(&upn).expect("account created at its start time");
    assert_eq!(account.sku_ids, vec![sku(&world, "SPE_E3").sku_id]);
    let again = onboarding::schedule::send_due(world.platform(), start + chrono::Duration::days(2))
        .await
        .expect("schedule");
    assert_eq!(again, 0, "a parked job is sent once");
}

#[tokio::test]
async fn given_a_start_time_minutes_away_when_run_then_the_message_is_handed_back_without_any_graph_call()
 {
    let world = World::start().await;
    let secret = world.put_password("j-soon", PASSWORD).await;
    let mut job = world.onboard_job("j-soon", "soon", &secret);
    job["start_at"] = json!(Utc::now() + chrono::Duration::minutes(3));
    let requests = world.sim().stats().requests;
    let failures = world.deliver(&[job]).await;
    assert_eq!(
        failures.len(),
        1,
        "redelivered after the visibility timeout"
    );
    assert_eq!(world.sim().stats().requests, requests);
    // (still queued, so it can be cancelled until its start time)
    let record = world.record("j-soon").await;
    assert_eq!(record.status, JobStatus::Queued, "{record:#?}");
    let wait = step(&record, "wait_for_start");
    assert_eq!(wait.outcome, StepOutcome::Pending, "{record:#?}");
    assert!(
        wait.detail
            .as_deref()
            .unwrap_or_default()
            .contains("not before"),
        "{record:#?}"
    );
}
