//! The devstack runs what the template declares: HTTP routes, SQS event sources with partial batch
//! failures and dead-letter queues, schedules. Driven through HTTP and SQS only.

use std::collections::HashMap;
use std::convert::Infallible;

use aws_sdk_sqs::types::QueueAttributeName;
use devstack::{GraphSource, Registry, Stack, StackOptions};
use e2e::{
    Recorder, RecordingFunction, RecordingWorker, SCHEDULED_CODE_URI, WORKER_CODE_URI, eventually,
    template_with_fixtures,
};
use graph_sim::SimConfig;
use serde_json::{Value, json};

struct Running {
    stack: Stack,
    worker: Recorder,
    scheduled: Recorder,
    sqs: aws_sdk_sqs::Client,
    http: reqwest::Client,
}

async fn start(time_scale: f64) -> Running {
    let worker = RecordingWorker::default();
    let scheduled = RecordingFunction::default();
    let (worker_recorder, scheduled_recorder) =
        (worker.recorder.clone(), scheduled.recorder.clone());
    let mut options = StackOptions::new(
        template_with_fixtures(),
        GraphSource::Simulator(SimConfig::single(5, 2)),
    );
    options.registry = Registry::standard()
        .register(WORKER_CODE_URI, move |_, _| {
            Ok::<_, Infallible>(worker.clone())
        })
        .register(SCHEDULED_CODE_URI, move |_, _| {
            Ok::<_, Infallible>(scheduled.clone())
        });
    options.time_scale = time_scale;
    let stack = Stack::start(options).await.expect("the stack starts");
    let sqs = aws_sdk_sqs::Client::new(stack.sdk_config());
    Running {
        http: e2e::api_client(&stack, "org-devstack"),
        stack,
        worker: worker_recorder,
        scheduled: scheduled_recorder,
        sqs,
    }
}

impl Running {
    fn queue(&self, logical_id: &str) -> String {
        self.stack
            .queue_url(logical_id)
            .unwrap_or_else(|| panic!("{logical_id} provisioned"))
            .to_owned()
    }

    /// Visible + in-flight messages of a queue.
    async fn messages_in(&self, logical_id: &str) -> u64 {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(self.queue(logical_id))
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .unwrap_or_default();
        [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .filter_map(|name| attributes.get(name)?.parse::<u64>().ok())
        .sum()
    }
}

fn bodies(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| r["body"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn given_the_stack_when_the_templates_routes_are_called_then_the_functions_answer() {
    // GIVEN the stack from the real template plus the test functions
    let running = start(1.0).await;
    let api = running.stack.api_url();

    // WHEN the real health route, a test route with a path parameter, an unknown route and the
    // route of a function that has not landed are called
    let health = running
        .http
        .get(format!("{api}/health"))
        .send()
        .await
        .expect("health");
    let health_status = health.status();
    let health: Value = health.json().await.expect("json");
    let echo = running
        .http
        .post(format!("{api}/test/echo/alice%20b?x=1"))
        .header("content-type", "application/json")
        .body(r#"{"hello":"world"}"#)
        .send()
        .await
        .expect("echo");
    let echo_status = echo.status();
    let echo: Value = echo.json().await.expect("json");
    let unknown = running
        .http
        .get(format!("{api}/nope"))
        .send()
        .await
        .expect("unknown");
    let unbuilt = running
        .http
        .get(format!("{api}/test/unbuilt"))
        .send()
        .await
        .expect("unbuilt");
    let unbuilt_status = unbuilt.status();
    let unbuilt: Value = unbuilt.json().await.expect("json");

    // THEN each answers as API Gateway + the function would
    assert_eq!(health_status, 200, "{health}");
    assert_eq!(health["status"], "ok");
    assert_eq!(echo_status, 201);
    assert_eq!(echo["routeKey"], "POST /test/echo/{name}");
    assert_eq!(echo["pathParameters"]["name"], "alice b");
    assert_eq!(echo["body"], r#"{"hello":"world"}"#);
    assert_eq!(
        echo["claims"]["org_id"], "org-devstack",
        "the JWT authorizer hands the token's claims to the function: {echo}"
    );
    assert_eq!(unknown.status(), 404);
    assert_eq!(unbuilt_status, 501, "{unbuilt}");
    assert!(
        unbuilt["message"]
            .as_str()
            .is_some_and(|m| m.contains("TestUnbuiltFunction") && m.contains("not landed")),
        "{unbuilt}"
    );
    running.stack.shutdown().await;
}

#[tokio::test]
async fn given_a_job_on_a_queue_when_the_worker_succeeds_then_it_is_delivered_once_and_deleted() {
    // GIVEN the stack with a worker on TestJobQueue
    let running = start(1.0).await;

    // WHEN a job is put on the queue
    running
        .sqs
        .send_message()
        .queue_url(running.queue("TestJobQueue"))
        .message_body(r#"{"job":"ok-1"}"#)
        .send()
        .await
        .expect("sent");

    // THEN the worker gets it as an SQS event record and the queue ends empty
    let records = eventually("the worker to get the job", || async {
        let records = running.worker.records();
        (!records.is_empty()).then_some(records)
    })
    .await;
    let record = &records[0];
    assert_eq!(record["body"], r#"{"job":"ok-1"}"#);
    assert_eq!(record["eventSource"], "aws:sqs");
    assert_eq!(
        record["eventSourceARN"].as_str(),
        running
            .stack
            .provisioned()
            .queue_arn("TestJobQueue")
            .as_deref()
    );
    assert_eq!(record["attributes"]["ApproximateReceiveCount"], "1");
    eventually("the handled job to be deleted", || async {
        (running.messages_in("TestJobQueue").await == 0).then_some(())
    })
    .await;
    assert_eq!(running.worker.records().len(), 1, "delivered exactly once");
    running.stack.shutdown().await;
}

#[tokio::test]
async fn given_a_batch_with_one_failing_job_when_handled_then_only_that_job_is_retried_and_ends_in_the_dlq()
 {
    // GIVEN the stack; TestJobQueue redrives to its DLQ after 5 receives
    let running = start(1.0).await;
    let queue = running.queue("TestJobQueue");

    // WHEN a good job and a job the worker reports as failed are put on the queue
    for body in [r#"{"job":"good"}"#, r#"{"job":"will-fail"}"#] {
        running
            .sqs
            .send_message()
            .queue_url(&queue)
            .message_body(body)
            .send()
            .await
            .expect("sent");
    }

    // THEN the failing job lands in the dead-letter queue ...
    let dlq = running.queue("TestJobDeadLetterQueue");
    let dead = eventually("the failing job to reach the DLQ", || async {
        let received = running
            .sqs
            .receive_message()
            .queue_url(&dlq)
            .wait_time_seconds(1)
            .send()
            .await
            .ok()?;
        received.messages.filter(|m| !m.is_empty())
    })
    .await;
    assert_eq!(dead[0].body.as_deref(), Some(r#"{"job":"will-fail"}"#));
    // ... after exactly maxReceiveCount deliveries, while the good job was delivered once
    let seen = bodies(&running.worker.records());
    let count = |body: &str| seen.iter().filter(|b| b.as_str() == body).count();
    assert_eq!(count(r#"{"job":"will-fail"}"#), 5, "{seen:?}");
    assert_eq!(count(r#"{"job":"good"}"#), 1, "{seen:?}");
    let receive_counts: Vec<Value> = running
        .worker
        .records()
        .iter()
        .filter(|r| r["body"] == r#"{"job":"will-fail"}"#)
        .map(|r| r["attributes"]["ApproximateReceiveCount"].clone())
        .collect();
    assert_eq!(
        receive_counts,
        vec![json!("1"), json!("2"), json!("3"), json!("4"), json!("5")]
    );
    assert_eq!(running.messages_in("TestJobQueue").await, 0);
    running.stack.shutdown().await;
}

#[tokio::test]
async fn given_fifo_jobs_of_one_group_when_delivered_then_the_worker_sees_them_in_order_with_group_and_dedup_id()
 {
    // GIVEN the stack with a worker on the FIFO TestOrderedQueue
    let running = start(1.0).await;
    let queue = running.queue("TestOrderedQueue");

    // WHEN six jobs of one group (tenant + account) are sent in order
    let sent: Vec<String> = (1..=6).map(|i| format!(r#"{{"step":{i}}}"#)).collect();
    for (i, body) in sent.iter().enumerate() {
        running
            .sqs
            .send_message()
            .queue_url(&queue)
            .message_body(body)
            .message_group_id("tenant-1#account-1")
            .message_deduplication_id(format!("job-{i}"))
            .send()
            .await
            .expect("sent");
    }

    // THEN they arrive in the order sent, each with its group and deduplication id
    let records = eventually("all six jobs to be delivered", || async {
        let records = running.worker.records();
        (records.len() >= 6).then_some(records)
    })
    .await;
    assert_eq!(bodies(&records), sent);
    let groups: HashMap<String, usize> = records.iter().fold(HashMap::new(), |mut m, r| {
        *m.entry(
            r["attributes"]["MessageGroupId"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        )
        .or_default() += 1;
        m
    });
    assert_eq!(
        groups,
        HashMap::from([("tenant-1#account-1".to_owned(), 6)])
    );
    assert_eq!(records[0]["attributes"]["MessageDeduplicationId"], "job-0");
    eventually("the FIFO queue to be empty", || async {
        (running.messages_in("TestOrderedQueue").await == 0).then_some(())
    })
    .await;
    running.stack.shutdown().await;
}

#[tokio::test]
async fn given_a_schedule_when_fired_on_demand_then_the_function_gets_an_eventbridge_scheduled_event()
 {
    // GIVEN the stack at real time (the hourly schedule will not fire by itself during the test)
    let running = start(1.0).await;

    // WHEN the schedule is fired through the admin route
    let fired = running
        .http
        .post(format!(
            "{}/_devstack/schedules/TestScheduledFunction/fire",
            running.stack.api_url()
        ))
        .send()
        .await
        .expect("fire");
    let status = fired.status();
    let fired: Value = fired.json().await.expect("json");

    // THEN the function got exactly one EventBridge scheduled event, and its answer is reported
    assert_eq!(status, 200, "{fired}");
    assert_eq!(fired["fired"][0]["event"], "Hourly");
    assert_eq!(fired["fired"][0]["response"], json!({"ok": true}));
    let events = running.scheduled.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["detail-type"], "Scheduled Event");
    assert_eq!(events[0]["source"], "aws.events");
    assert!(
        events[0]["resources"][0]
            .as_str()
            .is_some_and(|arn| arn.starts_with("arn:aws:events:")
                && arn.contains("TestScheduledFunctionHourly")),
        "{}",
        events[0]
    );
    let missing = running
        .http
        .post(format!(
            "{}/_devstack/schedules/ApiFunction/fire",
            running.stack.api_url()
        ))
        .send()
        .await
        .expect("fire");
    assert_eq!(missing.status(), 422, "ApiFunction has no schedule");
    running.stack.shutdown().await;
}

#[tokio::test]
async fn given_a_sped_up_clock_when_time_passes_then_the_hourly_schedule_fires_by_itself() {
    // GIVEN the stack with time running 36,000 times faster (an hour every 100 ms)
    let running = start(36_000.0).await;

    // WHEN nothing but time happens
    // THEN the hourly schedule fires repeatedly on its own
    eventually("the schedule to fire three times", || async {
        (running.scheduled.events().len() >= 3).then_some(())
    })
    .await;
    assert!(
        running
            .scheduled
            .events()
            .iter()
            .all(|e| e["detail-type"] == "Scheduled Event")
    );
    running.stack.shutdown().await;
}

#[tokio::test]
async fn given_the_simulator_when_the_stack_starts_then_functions_point_at_it_and_the_platform_secret_is_seeded()
 {
    // GIVEN / WHEN the stack starts with the Graph simulator
    let running = start(1.0).await;
    let sim = running.stack.sim().expect("the simulator runs");
    let config = running.stack.config();

    // THEN the functions' configuration names the simulator, the local API and the platform app
    assert_eq!(config.graph_base_url, sim.graph_base_url());
    assert_eq!(config.login_base_url, sim.login_base_url());
    assert_eq!(config.public_base_url, running.stack.api_url());
    assert_eq!(config.platform_app_client_id, sim.platform_app().client_id);
    // ... and Secrets Manager holds the platform app's secret under PLATFORM_APP_SECRET_ID
    let secret = aws_sdk_secretsmanager::Client::new(running.stack.sdk_config())
        .get_secret_value()
        .secret_id(&config.platform_app_secret_id)
        .send()
        .await
        .expect("the platform app secret");
    assert_eq!(
        secret.secret_string.as_deref(),
        Some(sim.platform_app().client_secret.as_str())
    );
    // ... and the read-only platform app likewise
    let read_app = config
        .platform_read_app
        .as_ref()
        .expect("the read-only platform app is configured");
    assert_eq!(read_app.client_id, sim.platform_read_app().client_id);
    let read_secret = aws_sdk_secretsmanager::Client::new(running.stack.sdk_config())
        .get_secret_value()
        .secret_id(&read_app.secret_id)
        .send()
        .await
        .expect("the read-only platform app secret");
    assert_eq!(
        read_secret.secret_string.as_deref(),
        Some(sim.platform_read_app().client_secret.as_str())
    );
    running.stack.shutdown().await;
}

#[tokio::test]
async fn given_payloads_over_6_mb_when_a_function_is_invoked_then_lambda_refuses_the_request_and_fails_the_response()
 {
    // GIVEN the stack with the echo function (it answers with the body it was given)
    let running = start(1.0).await;
    let api = running.stack.api_url();
    let echo = format!("{api}/test/echo/big");

    // WHEN a 7 MB body is posted through the front, and a 2 MB body of quotes (the echo's answer,
    // escaped twice, is over 6 MB) is posted
    let too_big = running
        .http
        .post(&echo)
        .header("content-type", "application/json")
        .body(format!("\"{}\"", "a".repeat(7 * 1024 * 1024)))
        .send()
        .await
        .expect("answer");
    let big_answer = running
        .http
        .post(&echo)
        .header("content-type", "text/plain")
        .body("\"".repeat(2 * 1024 * 1024))
        .send()
        .await
        .expect("answer");
    let fits = running
        .http
        .post(&echo)
        .header("content-type", "text/plain")
        .body("a".repeat(1024 * 1024))
        .send()
        .await
        .expect("answer");

    // THEN the 7 MB request is refused with 413 as API Gateway does, the over-size answer is a
    // failed invocation (500), and a 1 MB body is echoed
    assert_eq!(too_big.status(), 413);
    assert_eq!(big_answer.status(), 500);
    assert_eq!(fits.status(), 201);
    running.stack.shutdown().await;
}
