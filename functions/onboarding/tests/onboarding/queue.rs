//! The onboarding queue's order (FIFO per tenant) and its dead-letter queue, delivered as
//! Lambda's SQS event source does.

use super::*;
use local_aws::subscriber::Subscriber;

/// The `BatchSize` of the onboarding queue's event source in infra/template.yaml.
fn template_batch_size(world: &World) -> i32 {
    let spec = world
        .stack
        .template()
        .function("OnboardingFunction")
        .expect("the template has the function");
    spec.events
        .iter()
        .find_map(|event| match &event.source {
            devstack::template::EventSource::Sqs { batch_size, .. } => {
                i32::try_from(*batch_size).ok()
            }
            _ => None,
        })
        .expect("the function has an SQS event source")
}

/// Delivers the onboarding queue's messages to the function as Lambda's SQS event source does:
/// batches of the template's `BatchSize`, the messages reported failed visible again at once, the
/// others deleted; until a receive finds nothing (at most `rounds` receives).
async fn deliver_like_the_event_source(world: &World, queue_url: &str, rounds: usize) {
    let queue = lifecycle::Queue::new(aws_sdk_sqs::Client::new(&world.sdk));
    let batch_size = template_batch_size(world);
    for _ in 0..rounds {
        let messages = queue
            .receive(queue_url, batch_size, 0, 30)
            .await
            .expect("receive");
        if messages.is_empty() {
            return;
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                json!({"messageId": m.message_id, "receiptHandle": m.receipt_handle,
                       "body": m.body, "attributes": m.attributes, "messageAttributes": {},
                       "eventSource": "aws:sqs", "eventSourceARN": support::QUEUE_ARN,
                       "awsRegion": "us-east-1"})
            })
            .collect();
        let answer = world
            .app
            .invoke(
                json!({ "Records": records }),
                Invocation::with_timeout(Duration::from_secs(30)),
            )
            .await
            .expect("the function answers");
        let failed: Vec<&str> = answer["batchItemFailures"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["itemIdentifier"].as_str())
            .collect();
        for message in &messages {
            if failed.contains(&message.message_id.as_str()) {
                queue
                    .change_visibility(queue_url, &message.receipt_handle, 0)
                    .await
                    .expect("visible again");
            } else {
                queue
                    .delete(queue_url, &message.receipt_handle)
                    .await
                    .expect("deleted");
            }
        }
    }
}

#[tokio::test]
async fn given_a_job_queued_behind_a_message_of_its_account_that_always_fails_when_that_message_is_dead_lettered_then_the_job_still_runs()
 {
    // GIVEN the template's onboarding FIFO queue (15 receives, then its dead-letter queue) holding,
    // in one account's message group, a message that fails on every delivery (no job can be read
    // from it) and behind it a valid onboarding of that account
    let world = World::start().await;
    let queue_url = world
        .stack
        .queue_url("OnboardingQueue")
        .expect("the onboarding queue")
        .to_owned();
    let dead_letters = world
        .stack
        .queue_url("OnboardingDeadLetterQueue")
        .expect("its dead-letter queue")
        .to_owned();
    let secret = world.put_password("j-behind", PASSWORD).await;
    let job = world.onboard_job("j-behind", "behind", &secret);
    let group = lifecycle::queue::message_group_id(
        &lifecycle::model::Job::from_json(&job.to_string()).expect("a job"),
    );
    let sqs = aws_sdk_sqs::Client::new(&world.sdk);
    for (body, deduplication) in [
        (r#"{"not":"a job"}"#.to_owned(), "d-broken"),
        (job.to_string(), "d-behind"),
    ] {
        sqs.send_message()
            .queue_url(&queue_url)
            .message_body(body)
            .message_group_id(&group)
            .message_deduplication_id(deduplication)
            .send()
            .await
            .expect("sent");
    }

    // WHEN the event source delivers the queue until it is empty
    deliver_like_the_event_source(&world, &queue_url, 25).await;

    // THEN only the failing message was dead-lettered; the onboarding behind it ran, once the
    // failing one had left the group, and created the account
    let dead: Vec<String> = lifecycle::Queue::new(sqs.clone())
        .receive(&dead_letters, 10, 0, 30)
        .await
        .expect("receive")
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(
        dead,
        vec![r#"{"not":"a job"}"#.to_owned()],
        "dead-lettered: {dead:?}"
    );
    let record = world.record("j-behind").await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    assert!(
        world
            .user(&format!("behind@{}", world.tenant.default_domain))
            .is_some(),
        "the account was not created"
    );
}

/// Subscribes a queue to the bundle's completion events (a rule on the stack's bus).
async fn subscribe_to_events(world: &World) -> Subscriber {
    let bus = &world.stack.config().event_bus_name;
    let name = "onboarding-subscriber";
    Subscriber::start(&world.sdk, name, Some(bus), lifecycle::events::SOURCE).await
}

#[tokio::test]
async fn given_a_passwordless_joiner_when_onboarded_then_the_temporary_access_pass_is_handed_back_once_and_stored_nowhere()
 {
    // GIVEN an onboarding that asks for a Temporary Access Pass (one sign-in, 120 minutes)
    // instead of a password, and a subscriber to the completion events
    let world = World::start().await;
    let subscriber = subscribe_to_events(&world).await;
    let mut job = world.onboard_job("j-tap", "tap", "unused");
    job["password"] =
        json!({"source": "temporary_access_pass", "lifetime_minutes": 120, "one_time_use": true});

    // WHEN it runs, and is delivered again
    let record = world.run(&job).await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:#?}");
    assert!(world.deliver(std::slice::from_ref(&job)).await.is_empty());

    // THEN Graph holds one pass for the new account, with the asked terms
    let upn = format!("tap@{}", world.tenant.default_domain);
    let account = world.user(&upn).expect("the account exists");
    let passes = world
        .graph
        .temporary_access_pass_ids(&account.id)
        .await
        .expect("passes listed");
    assert_eq!(passes.len(), 1, "one pass, not one per delivery");
    let detail = record
        .steps
        .iter()
        .find(|s| s.name == "temporary_access_pass")
        .and_then(|s| s.detail.clone())
        .expect("the pass step");
    assert!(
        detail.contains("120 minutes") && detail.contains("one sign-in"),
        "{detail}"
    );
    // AND the pass is handed back once through the job's hand-over
    let job_id = lifecycle::JobId::parse("j-tap").expect("id");
    let store = &world.platform().store;
    assert!(
        store
            .take_password_handover(&world.tenant_id, &job_id)
            .await
            .expect("store")
            .is_some()
    );
    let vault = &world.platform().vault;
    let pass = vault
        .take_generated_password(&world.tenant_id, &job_id)
        .await
        .expect("handed back");
    let pass = secrecy::ExposeSecret::expose_secret(&pass).to_owned();
    assert!(pass.len() >= 8, "a pass was handed back");
    assert!(matches!(
        vault
            .take_generated_password(&world.tenant_id, &job_id)
            .await,
        Err(lifecycle::VaultError::NotFound { .. })
    ));
    // AND it is in no log line, table item, secret or completion event
    let logs = support::logs().text();
    assert!(logs.contains("j-tap"), "the log capture works");
    assert!(!logs.contains(&pass), "the pass is in a log line");
    assert!(
        !world.table_dump().await.contains(&pass),
        "the pass is in the table"
    );
    assert!(
        world
            .secrets()
            .await
            .iter()
            .all(|(_, value)| !value.contains(&pass))
    );
    let bodies = subscriber.bodies(Duration::from_secs(0)).await;
    assert!(
        bodies.iter().any(|b| b.contains("j-tap")),
        "the completion event arrived: {bodies:?}"
    );
    assert!(
        bodies.iter().all(|b| !b.contains(&pass)),
        "the pass is in an event"
    );
}
