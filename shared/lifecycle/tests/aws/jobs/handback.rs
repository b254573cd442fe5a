//! A job that cannot finish in its delivery: sent again fresh when time runs short, handed back
//! when Graph asks it to wait (without using up a delivery), and failed once it waited a day.

use super::*;

#[tokio::test]
async fn given_a_standard_queue_batch_when_time_runs_short_after_its_first_job_then_the_others_are_sent_again_fresh_instead_of_counting_toward_the_dead_letter_queue()
 {
    let (local, _) = platform().await;
    let (queue_url, platform) = standard_queue(&local).await;
    // GIVEN a connected tenant and two of its jobs on a standard queue, each on its 4th delivery
    // (the 5th would dead-letter it), a worker whose job takes 0.6 s, and an invocation 10.5 s
    // before its deadline (a job starts only while 10 s are left)
    let tenant = connection(&tenant(25));
    platform.connect_tenant(&tenant).await.expect("connected");
    let jobs = [offboard(&tenant.tenant_id), offboard(&tenant.tenant_id)];
    let bodies: Vec<String> = jobs
        .iter()
        .map(|job| serde_json::to_string(job).expect("json"))
        .collect();
    let worker = Worker {
        takes: Some(std::time::Duration::from_millis(600)),
        ..Worker::default()
    };
    let invocation = Invocation::with_timeout(std::time::Duration::from_millis(10_500));

    // WHEN the batch runs within that invocation
    let response = run_sqs_jobs_within(
        &platform,
        event_delivered("jobs", &bodies, 4),
        &worker,
        &invocation,
    )
    .await;

    // THEN the first job ran; the second, never started, is not left to its 5th delivery but is
    // on the queue again as a new message (received once so far)
    assert_eq!(
        *worker.ran.lock().expect("lock"),
        vec![jobs[0].job_id.clone()]
    );
    assert!(
        failed_ids(&response).is_empty(),
        "{:?}",
        failed_ids(&response)
    );
    let again = platform
        .queue
        .receive(&queue_url, 10, 0, 30)
        .await
        .expect("receive");
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].receive_count(), 1);
    let sent: Job = serde_json::from_str(&again[0].body).expect("a job");
    assert_eq!(sent.job_id, jobs[1].job_id);
}

/// A standard queue "jobs" in `local`'s moto, and a platform whose offboarding jobs go there.
async fn standard_queue(local: &crate::Local) -> (String, Platform) {
    offboarding_queue(local, "jobs", false).await
}

/// The queue `name` (FIFO when `fifo`) in `local`'s moto, and a platform whose offboarding jobs
/// go there.
async fn offboarding_queue(local: &crate::Local, name: &str, fifo: bool) -> (String, Platform) {
    let mut request = local.clients.sqs.create_queue().queue_name(name);
    if fifo {
        request = request.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
    }
    let queue_url = request
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("queue url");
    let mut config = config();
    config.offboarding_queue_url = queue_url.clone();
    let platform = Platform::new(config, &local.moto.sdk_config().await).expect("platform");
    (queue_url, platform)
}

#[tokio::test]
async fn given_a_job_on_its_last_delivery_when_graph_asks_it_to_wait_longer_than_the_invocation_can_then_it_is_handed_back_fresh_not_failed()
 {
    let (local, _) = platform().await;
    let (queue_url, platform) = standard_queue(&local).await;
    // GIVEN a connected tenant's job on a standard queue, on its 5th delivery (the last before
    // its dead-letter queue), whose worker meets a 429 with Retry-After: 90 s after a first step
    let tenant = connection(&tenant(26));
    platform.connect_tenant(&tenant).await.expect("connected");
    let job = offboard(&tenant.tenant_id);
    let body = serde_json::to_string(&job).expect("json");
    let worker = throttled_for_90_s();

    // WHEN it runs
    let response = run_sqs_jobs(
        &platform,
        event_delivered("jobs", &[body], lifecycle::MAX_DELIVERIES),
        &worker,
    )
    .await;

    // THEN it is not failed: the message is done and the job waits on the queue as a fresh
    // message (delayed, so not visible yet), its record still running and saying why
    assert!(
        failed_ids(&response).is_empty(),
        "{:?}",
        failed_ids(&response)
    );
    let record = record(&platform, &job).await;
    assert_eq!(record.status, JobStatus::Running, "{record:?}");
    assert!(
        record
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("retry after 90s"),
        "{record:?}"
    );
    assert!(worker.abandoned.lock().expect("lock").is_empty());
    let attributes = platform
        .queue
        .client()
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .expect("attributes");
    let delayed = attributes
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        })
        .cloned();
    assert_eq!(delayed.as_deref(), Some("1"));
}

#[tokio::test]
async fn given_a_job_graph_has_kept_waiting_for_a_day_when_it_is_asked_to_wait_again_then_it_fails_saying_why()
 {
    let (local, _) = platform().await;
    let (_, platform) = standard_queue(&local).await;
    // GIVEN a connected tenant's job on a standard queue whose worker meets a 429 with
    // Retry-After: 90 s after a first step, every time
    let tenant = connection(&tenant(28));
    platform.connect_tenant(&tenant).await.expect("connected");
    let job = offboard(&tenant.tenant_id);
    let body = serde_json::to_string(&job).expect("json");
    run_sqs_jobs(
        &platform,
        event_delivered("jobs", std::slice::from_ref(&body), 1),
        &throttled_for_90_s(),
    )
    .await;
    let first = record(&platform, &job).await;
    assert_eq!(first.status, JobStatus::Running, "{first:?}");
    let since = first
        .waiting_since
        .expect("waiting since its first hand-back");
    // AND it was first handed back a day and a minute ago (and its step is to be done again,
    // so this worker meets Graph's 429 again)
    let a_day_ago = JobRecord {
        waiting_since: Some(since - chrono::TimeDelta::hours(24) - chrono::TimeDelta::minutes(1)),
        steps: Vec::new(),
        ..first
    };
    platform
        .store
        .put(&keys::job(&job.tenant_id, &job.job_id), &a_day_ago)
        .await
        .expect("record");

    // WHEN its handed-back message comes and Graph asks it to wait once more
    let worker = throttled_for_90_s();
    let response = run_sqs_jobs(&platform, event_delivered("jobs", &[body], 1), &worker).await;

    // THEN the job fails with the reason instead of coming back again, and its worker cleans up
    assert!(
        failed_ids(&response).is_empty(),
        "{:?}",
        failed_ids(&response)
    );
    let record = record(&platform, &job).await;
    assert_eq!(record.status, JobStatus::Failed, "{record:?}");
    let reason = record.error.unwrap_or_default();
    assert!(
        reason.starts_with("gave up: still waiting to go on 24 hours")
            && reason.contains("retry after 90s"),
        "{reason}"
    );
    assert_eq!(worker.abandoned.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn given_a_worker_that_hands_its_job_back_when_it_runs_then_the_job_comes_back_fresh_and_resumes_after_its_done_steps()
 {
    let (local, _) = platform().await;
    let (queue_url, platform) = standard_queue(&local).await;
    // GIVEN a connected tenant's job on a standard queue, on its 5th delivery, whose worker
    // stops after a first step and hands the job back for its next part (as a resumable job
    // does), at once
    let tenant = connection(&tenant(27));
    platform.connect_tenant(&tenant).await.expect("connected");
    let job = offboard(&tenant.tenant_id);
    let body = serde_json::to_string(&job).expect("json");
    let worker = Worker {
        hand_back_after_first_step: Some(JobError::later(
            "the next part runs in a fresh invocation",
            std::time::Duration::ZERO,
        )),
        ..Worker::default()
    };

    // WHEN it runs, and then its job comes back
    let response = run_sqs_jobs(
        &platform,
        event_delivered("jobs", &[body], lifecycle::MAX_DELIVERIES),
        &worker,
    )
    .await;
    assert!(
        failed_ids(&response).is_empty(),
        "{:?}",
        failed_ids(&response)
    );
    let again = platform
        .queue
        .receive(&queue_url, 10, 1, 30)
        .await
        .expect("receive");

    // THEN it came back as a fresh message (its first receive) and, run again, resumes after its
    // done step and finishes
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].receive_count(), 1);
    let resumed = Worker::default();
    let response = run_sqs_jobs(
        &platform,
        event_delivered("jobs", &[again[0].body.clone()], 1),
        &resumed,
    )
    .await;
    assert!(failed_ids(&response).is_empty());
    let record = record(&platform, &job).await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:?}");
    assert_eq!(record.error, None);
}

/// A FIFO queue "offboarding.fifo" in `local`'s moto, and a platform whose offboarding jobs go
/// there.
async fn fifo_queue(local: &crate::Local) -> Platform {
    offboarding_queue(local, "offboarding.fifo", true).await.1
}

#[tokio::test]
async fn given_a_fifo_job_graph_asks_to_wait_more_times_than_it_has_deliveries_when_delivered_again_then_the_waits_do_not_use_them_up_and_it_finishes()
 {
    let (local, _) = platform().await;
    let platform = fifo_queue(&local).await;
    // GIVEN a connected tenant's job on the offboarding FIFO queue whose worker meets a 429 with
    // Retry-After: 90 s, on seven deliveries in a row (SQS counts each)
    let tenant = connection(&tenant(29));
    platform.connect_tenant(&tenant).await.expect("connected");
    let job = offboard(&tenant.tenant_id);
    let body = serde_json::to_string(&job).expect("json");
    let throttled = Worker {
        hand_back_every_time: throttled_for_90_s().hand_back_after_first_step,
        ..Worker::default()
    };
    for delivery in 1..=7 {
        let response = run_sqs_jobs(
            &platform,
            event_delivered("offboarding.fifo", std::slice::from_ref(&body), delivery),
            &throttled,
        )
        .await;
        // ... each kept on the queue (FIFO: no fresh message may overtake the account's later jobs)
        assert_eq!(failed_ids(&response), vec!["m0"], "delivery {delivery}");
    }

    // THEN the job is still running, not failed after 5 deliveries: its record counts the waits
    let waiting = record(&platform, &job).await;
    assert_eq!(waiting.status, JobStatus::Running, "{waiting:?}");
    assert_eq!(waiting.waited_deliveries, 7);
    assert!(
        waiting
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("retry after 90s"),
        "{waiting:?}"
    );
    assert!(throttled.abandoned.lock().expect("lock").is_empty());
    // ... and once Graph answers, its 8th delivery finishes it
    let answered = Worker::default();
    let response = run_sqs_jobs(
        &platform,
        event_delivered("offboarding.fifo", &[body], 8),
        &answered,
    )
    .await;
    assert!(failed_ids(&response).is_empty());
    let record = record(&platform, &job).await;
    assert_eq!(record.status, JobStatus::Succeeded, "{record:?}");
}

#[tokio::test]
async fn given_a_fifo_job_whose_function_stopped_on_every_delivery_when_delivered_once_more_than_allowed_then_it_fails_saying_why()
 {
    let (local, _) = platform().await;
    let platform = fifo_queue(&local).await;
    // GIVEN a connected tenant's job on the offboarding FIFO queue that started and whose
    // function then stopped without a word on 5 deliveries (cut off at its timeout, or crashed),
    // none of them a wait for Graph
    let tenant = connection(&tenant(30));
    platform.connect_tenant(&tenant).await.expect("connected");
    let job = offboard(&tenant.tenant_id);
    let body = serde_json::to_string(&job).expect("json");
    let mut started = JobRecord::queued(&job, chrono::Utc::now());
    started.status = JobStatus::Running;
    platform
        .store
        .put_new_job_record(&started)
        .await
        .expect("record");

    // WHEN SQS delivers it a 6th time (the FIFO queue's maxReceiveCount leaves room for waits)
    let worker = Worker::default();
    let response = run_sqs_jobs(
        &platform,
        event_delivered("offboarding.fifo", &[body], lifecycle::MAX_DELIVERIES + 1),
        &worker,
    )
    .await;

    // THEN the job is not run again but failed with the reason, as a standard queue's
    // dead-letter queue would have ended it
    assert!(
        failed_ids(&response).is_empty(),
        "{:?}",
        failed_ids(&response)
    );
    assert!(worker.ran.lock().expect("lock").is_empty());
    let record = record(&platform, &job).await;
    assert_eq!(record.status, JobStatus::Failed, "{record:?}");
    let reason = record.error.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("gave up after 5 deliveries that ended without a result"),
        "{reason}"
    );
    assert_eq!(worker.abandoned.lock().expect("lock").len(), 1);
}

/// A worker that meets Graph's 429 with `Retry-After: 90 s` after its first step, every time.
fn throttled_for_90_s() -> Worker {
    Worker {
        hand_back_after_first_step: Some(JobError::Transient {
            reason: "throttled by Microsoft Graph (retry after 90s)".into(),
            retry_after: Some(std::time::Duration::from_secs(90)),
            source: None,
        }),
        ..Worker::default()
    }
}
