//! Scheduled leave, cancellation and bulk jobs on the whole local stack (moto, the Graph
//! simulator, every function of infra/template.yaml under its own IAM policy), through the HTTP
//! API; the schedule that releases parked jobs is invoked with the EventBridge event it would get
//! at a later time (the stack's clock cannot be moved days ahead).

use chrono::{Duration, Utc};
use e2e::orgs::World;
use lifecycle::JobId;
use lifecycle::model::{JobRecord, JobStatus, StepOutcome};
use serde_json::{Value, json};

fn step_outcome(record: &JobRecord, name: &str) -> Option<StepOutcome> {
    record
        .steps
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.outcome)
}

#[tokio::test]
async fn given_an_offboarding_with_a_leave_date_when_the_schedule_runs_at_that_date_then_it_runs_then_and_not_before()
 {
    // GIVEN an account of alpha's tenant that may sign in
    let world = World::start().await;
    let upn = world.members(&world.alpha, 1).remove(0);
    let leave = Utc::now() + Duration::days(2);

    // WHEN its offboarding is submitted with the leave date two days ahead
    let (status, answer) = world
        .alpha
        .submit(
            json!({"job_id": "j-leave", "type": "offboard", "account": upn,
                       "start_at": leave.to_rfc3339()}),
        )
        .await;

    // THEN it is accepted, says when it runs, and is parked: queued, nothing done in the tenant
    assert_eq!(status, 202, "{answer}");
    assert!(answer["start_at"].is_string(), "{answer}");
    let parked = world
        .record_when(&world.alpha, "j-leave", "the leave to be parked", |r| {
            step_outcome(r, "wait_for_start") == Some(StepOutcome::Pending)
        })
        .await;
    assert_eq!(parked.status, JobStatus::Queued, "{parked:?}");
    assert_eq!(world.parked().await.len(), 1);
    assert!(
        world.enabled(&world.alpha, &upn),
        "offboarded before its date"
    );
    // AND a schedule run before the date sends nothing
    assert_eq!(world.schedule_runs_at(leave - Duration::hours(1)).await, 0);
    assert!(world.enabled(&world.alpha, &upn));

    // WHEN the schedule runs just after the leave date
    let sent = world.schedule_runs_at(leave + Duration::minutes(1)).await;

    // THEN it sends the job, which runs: sign-in blocked, the job succeeded, nothing left parked
    assert_eq!(sent, 1);
    let record = world
        .record_when(&world.alpha, "j-leave", "the leave to run", |r| {
            r.status.is_finished()
        })
        .await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    assert_eq!(
        step_outcome(&record, "wait_for_start"),
        Some(StepOutcome::Done)
    );
    assert!(
        !world.enabled(&world.alpha, &upn),
        "still enabled after its leave date"
    );
    assert!(world.parked().await.is_empty());
    assert_eq!(world.schedule_runs_at(leave + Duration::days(3)).await, 0);
}

#[tokio::test]
async fn given_a_parked_leave_when_cancelled_then_it_never_runs_and_only_its_org_can_cancel_it() {
    // GIVEN alpha's parked leave of an account, and a parked onboarding with a generated password
    let world = World::start().await;
    let upn = world.members(&world.alpha, 1).remove(0);
    let leave = Utc::now() + Duration::days(2);
    let (status, answer) = world
        .alpha
        .submit(
            json!({"job_id": "j-leave", "type": "offboard", "account": upn,
                       "start_at": leave.to_rfc3339()}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let (status, answer) = world
        .alpha
        .submit(
            json!({"job_id": "j-hire", "type": "onboard", "given_name": "New",
                       "surname": "Hire", "display_name": "New Hire", "mail_nickname": "newhire",
                       "user_principal_name": format!("newhire@{}", world.alpha.domain),
                       "usage_location": "US", "password": {"source": "generate"},
                       "start_at": leave.to_rfc3339()}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    for job_id in ["j-leave", "j-hire"] {
        world
            .record_when(&world.alpha, job_id, "the job to be parked", |r| {
                step_outcome(r, "wait_for_start") == Some(StepOutcome::Pending)
            })
            .await;
    }
    let hire = JobId::parse("j-hire").expect("id");
    let vault = &world.platform.vault;
    let secrets = [
        vault.onboarding_password_name(&world.alpha.tenant_id, &hire),
        vault.generated_password_name(&world.alpha.tenant_id, &hire),
    ];
    for name in &secrets {
        assert!(vault.get_secret(name).await.is_ok(), "{name} stored");
    }

    // AND a leave dated more than a year ahead is refused, naming the field
    let (status, answer) = world
        .alpha
        .submit(json!({"type": "offboard", "account": upn,
                       "start_at": (Utc::now() + Duration::days(400)).to_rfc3339()}))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("start_at")),
        "{answer}"
    );

    // WHEN beta tries to cancel it, in its own tenant and in alpha's
    let (in_own, _) = world.beta.cancel("j-leave").await;
    let (in_alphas, _) = world
        .beta
        .call(
            reqwest::Method::DELETE,
            &format!("/tenants/{}/jobs/j-leave", world.alpha.tenant_id),
            None,
        )
        .await;

    // THEN both are 404 and the leave is still parked
    assert_eq!((in_own, in_alphas), (404, 404));
    assert_eq!(world.parked().await.len(), 2);

    // WHEN alpha cancels both, and cancels the leave once more
    let (status, answer) = world.alpha.cancel("j-leave").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "cancelled", "{answer}");
    let (status, answer) = world.alpha.cancel("j-hire").await;
    assert_eq!(status, 200, "{answer}");
    let (again, answer) = world.alpha.cancel("j-leave").await;
    assert_eq!(
        again, 200,
        "cancelling twice is the same cancellation: {answer}"
    );

    // THEN nothing is parked, the onboarding's passwords are gone, the schedule sends nothing at
    // the date, and the account can still sign in
    assert!(world.parked().await.is_empty());
    for name in &secrets {
        assert!(vault.get_secret(name).await.is_err(), "{name} left behind");
    }
    assert_eq!(
        world.schedule_runs_at(leave + Duration::minutes(1)).await,
        0
    );
    let (_, record) = world
        .alpha
        .call(reqwest::Method::GET, "/tenants/{tenant}/jobs/j-leave", None)
        .await;
    assert_eq!(record["status"], "cancelled", "{record}");
    assert!(world.enabled(&world.alpha, &upn));
    // AND its receipt says it was cancelled, with a digest that matches
    let (status, receipt) = world
        .alpha
        .call(
            reqwest::Method::GET,
            "/tenants/{tenant}/jobs/j-leave/receipt",
            None,
        )
        .await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["digest"]["matches"], true, "{receipt}");

    // WHEN a job that has already run is cancelled
    let (status, answer) = world
        .alpha
        .submit(json!({"job_id": "j-now", "type": "offboard", "account": upn, "dry_run": true}))
        .await;
    assert_eq!(status, 202, "{answer}");
    world
        .record_when(&world.alpha, "j-now", "the dry run to end", |r| {
            r.status.is_finished()
        })
        .await;
    let (status, answer) = world.alpha.cancel("j-now").await;

    // THEN 409 names its state
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("succeeded")),
        "{answer}"
    );
}

#[tokio::test]
async fn given_a_leave_less_than_ten_minutes_away_when_cancelled_while_it_waits_on_the_queue_then_it_is_cancelled_with_nothing_written()
 {
    // GIVEN alpha's leave of an account three minutes from now, which the offboarding worker
    // has already received once (it waits on the queue, not parked: the start is near)
    let world = World::start().await;
    let upn = world.members(&world.alpha, 1).remove(0);
    let leave = Utc::now() + Duration::minutes(3);
    let (status, answer) = world
        .alpha
        .submit(
            json!({"job_id": "j-soon", "type": "offboard", "account": upn,
                       "start_at": leave.to_rfc3339()}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let waiting = world
        .record_when(
            &world.alpha,
            "j-soon",
            "the worker to receive the leave",
            |r| r.error.is_some() || !r.steps.is_empty(),
        )
        .await;
    assert_eq!(waiting.status, JobStatus::Queued, "{waiting:?}");
    assert_eq!(
        step_outcome(&waiting, "wait_for_start"),
        Some(StepOutcome::Pending),
        "{waiting:?}"
    );
    assert!(
        world.parked().await.is_empty(),
        "a near leave is not parked"
    );

    // WHEN alpha cancels it before its start time
    let (status, answer) = world.alpha.cancel("j-soon").await;

    // THEN it is cancelled (not 409 "running"), nothing was written in the tenant, and the
    // account may still sign in
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "cancelled", "{answer}");
    let record = world
        .record_when(&world.alpha, "j-soon", "the cancellation", |r| {
            r.status == JobStatus::Cancelled
        })
        .await;
    assert!(
        record.steps.iter().all(|s| s.graph_request_id.is_none()),
        "{record:?}"
    );
    assert!(world.enabled(&world.alpha, &upn));
}

#[tokio::test]
async fn given_scheduled_leaves_that_cannot_run_when_submitted_then_each_is_refused_naming_its_field_and_nothing_is_kept()
 {
    // GIVEN alpha's tenant, and beta's tenant whose consent lacks the permission to delete
    // authentication methods (UserAuthenticationMethod.ReadWrite.All)
    let world = World::start().await;
    let sim = world.stack.sim().expect("simulator");
    let roles: Vec<String> = [
        "User.Read.All",
        "Group.Read.All",
        "GroupMember.Read.All",
        "Organization.Read.All",
        "Domain.Read.All",
        "User.ReadWrite.All",
        "User.EnableDisableAccount.All",
        "User.DeleteRestore.All",
        "User.RevokeSessions.All",
        "LicenseAssignment.ReadWrite.All",
        "GroupMember.ReadWrite.All",
    ]
    .map(str::to_owned)
    .to_vec();
    sim.consent(
        world.beta.tenant_id.as_str(),
        &graph_sim::ConsentChange {
            granted: true,
            roles,
            client_id: None,
        },
    )
    .expect("consent narrowed");
    let leave = (Utc::now() + Duration::days(2)).to_rfc3339();
    let ghost = format!("nobody-here@{}", world.alpha.domain);

    // WHEN alpha schedules the leave of an account its tenant does not have
    let (status, answer) = world
        .alpha
        .submit(
            json!({"job_id": "j-ghost", "type": "offboard", "account": ghost,
                       "start_at": leave}),
        )
        .await;

    // THEN it is refused at once, naming the field, and nothing of it is recorded or parked
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["field"], "account", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not found")),
        "{answer}"
    );
    let (status, _) = world
        .alpha
        .call(reqwest::Method::GET, "/tenants/{tenant}/jobs/j-ghost", None)
        .await;
    assert_eq!(status, 404);

    // WHEN beta schedules a leave asking to remove the account's authentication methods
    let upn = world.members(&world.beta, 1).remove(0);
    let (status, answer) = world
        .beta
        .submit(
            json!({"job_id": "j-methods", "type": "offboard", "account": upn,
                       "start_at": leave, "remove_authentication_methods": true}),
        )
        .await;

    // THEN it is refused naming the option and the permission it lacks
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        answer["error"]["field"], "remove_authentication_methods",
        "{answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("UserAuthenticationMethod.ReadWrite.All")),
        "{answer}"
    );

    // AND the same leave without that option is accepted and parked; nothing else is
    let (status, answer) = world
        .beta
        .submit(
            json!({"job_id": "j-plain", "type": "offboard", "account": upn,
                       "start_at": leave}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    world
        .record_when(&world.beta, "j-plain", "the leave to be parked", |r| {
            step_outcome(r, "wait_for_start") == Some(StepOutcome::Pending)
        })
        .await;
    assert_eq!(world.parked().await.len(), 1);
}

#[tokio::test]
async fn given_fifty_offboardings_with_three_bad_ones_when_sent_as_one_list_then_forty_seven_run_and_three_errors_name_their_field()
 {
    // GIVEN 47 accounts of alpha's tenant and three bad offboardings among them
    let world = World::start().await;
    let upns = world.members(&world.alpha, 47);
    let mut jobs: Vec<Value> = upns
        .iter()
        .map(|upn| json!({"type": "offboard", "account": upn}))
        .collect();
    let bad = [
        (5, json!({"type": "offboard"}), "account"),
        (
            20,
            json!({"type": "offboard", "account": upns[0], "policy": "shred"}),
            "policy",
        ),
        (
            40,
            json!({"type": "offboard", "account": upns[1],
                   "start_at": (Utc::now() - Duration::days(3)).to_rfc3339()}),
            "start_at",
        ),
    ];
    for (index, job, _) in &bad {
        jobs.insert(*index, job.clone());
    }
    assert_eq!(jobs.len(), 50);

    // WHEN they are sent as one list
    let (status, answer) = world.alpha.submit(json!({ "jobs": jobs })).await;

    // THEN one result per job, in order: 47 accepted, 3 refused naming their field
    assert_eq!(status, 207, "{answer}");
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), 50);
    assert_eq!(
        (answer["accepted"].as_u64(), answer["refused"].as_u64()),
        (Some(47), Some(3))
    );
    for (index, result) in results.iter().enumerate() {
        assert_eq!(result["index"], index);
        match bad.iter().find(|(at, _, _)| *at == index) {
            Some((_, _, field)) => {
                assert_eq!(result["http_status"], 400, "{result}");
                let message = result["error"]["message"].as_str().unwrap_or_default();
                assert!(
                    message.contains(field),
                    "jobs[{index}] names {field}: {result}"
                );
                assert!(result.get("job_id").is_none(), "{result}");
            }
            None => assert_eq!(result["http_status"], 202, "{result}"),
        }
    }

    // AND every accepted job runs on its own: all 47 accounts are blocked
    for result in results.iter().filter(|r| r["http_status"] == 202) {
        let job_id = result["job_id"].as_str().expect("a job id");
        let record = world
            .record_when(&world.alpha, job_id, "the offboarding to end", |r| {
                r.status.is_finished()
            })
            .await;
        assert_ne!(record.status, JobStatus::Failed, "{record:#?}");
    }
    for upn in &upns {
        assert!(
            !world.enabled(&world.alpha, upn),
            "{upn} was not offboarded"
        );
    }
}
