//! AWS's size limits on the local stack, one test per limit, through the real SDK against moto
//! with the SDK configuration the local stack gives every function. DynamoDB's 400 KB item is
//! moto's own refusal; the SQS and EventBridge limits are refused by the local stack's HTTP
//! client (`local_aws::limits`), since moto takes them.

mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use local_aws::Moto;

async fn moto() -> (Moto, aws_config::SdkConfig) {
    let moto = Moto::start()
        .await
        .expect("moto_server starts (run `make venv`)");
    let config = moto.sdk_config().await;
    (moto, config)
}

fn service_code<E: aws_sdk_sqs::error::ProvideErrorMetadata>(error: &E) -> String {
    format!(
        "{}: {}",
        error.code().unwrap_or_default(),
        error.message().unwrap_or_default()
    )
}

async fn queue(config: &aws_config::SdkConfig, name: &str, fifo: bool) -> String {
    let mut request = aws_sdk_sqs::Client::new(config)
        .create_queue()
        .queue_name(name);
    if fifo {
        request = request.attributes(QueueAttributeName::FifoQueue, "true");
    }
    request
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("queue url")
}

#[tokio::test]
async fn given_a_dynamodb_item_over_400_kb_when_put_then_it_is_refused() {
    // GIVEN a table
    let (_moto, config) = moto().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    support::table(&dynamodb, "limits").await;
    let put = |size: usize| {
        dynamodb
            .put_item()
            .table_name("limits")
            .item("pk", AttributeValue::S("a".into()))
            .item("v", AttributeValue::S("x".repeat(size)))
            .send()
    };
    // WHEN an item of 300 KB and one of 410 KB are put
    // THEN the first is stored and the second refused as DynamoDB does
    put(300 * 1024).await.expect("a 300 KB item is stored");
    let error = put(410 * 1024)
        .await
        .expect_err("an item over 400 KB is refused");
    let error = error.into_service_error();
    assert!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::message(&error)
            .unwrap_or_default()
            .contains("Item size has exceeded the maximum allowed size"),
        "{error:?}"
    );
}

#[tokio::test]
async fn given_an_sqs_message_over_1_mib_when_sent_then_it_is_refused_alone_and_in_a_batch() {
    // GIVEN a queue
    let (_moto, config) = moto().await;
    let url = queue(&config, "limits", false).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    // WHEN a 1 MiB message (what SQS takes since August 2025; 256 KiB before), a 1 MiB + 1 byte
    // message and a batch of 3 x 400 KB are sent
    let fits = sqs
        .send_message()
        .queue_url(&url)
        .message_body("a".repeat(1_048_576))
        .send()
        .await;
    let over = sqs
        .send_message()
        .queue_url(&url)
        .message_body("a".repeat(1_048_577))
        .send()
        .await;
    let entries: Vec<SendMessageBatchRequestEntry> = (0..3)
        .map(|i| {
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body("a".repeat(400_000))
                .build()
                .expect("entry")
        })
        .collect();
    let batch = sqs
        .send_message_batch()
        .queue_url(&url)
        .set_entries(Some(entries))
        .send()
        .await;
    // THEN only the message that fits is taken, as SQS does
    fits.expect("a 1 MiB message is taken");
    let over = over.expect_err("a message over 1 MiB is refused");
    let over = service_code(&over.into_service_error());
    assert!(
        over.contains("Message must be shorter than 1048576 bytes"),
        "{over}"
    );
    let batch = batch.expect_err("a batch over 1 MiB is refused");
    let batch = service_code(&batch.into_service_error());
    assert!(
        batch.contains("Batch requests cannot be longer than 1048576 bytes"),
        "{batch}"
    );
}

#[tokio::test]
async fn given_a_fifo_message_group_id_over_128_characters_when_sent_then_it_is_refused() {
    // GIVEN a FIFO queue
    let (_moto, config) = moto().await;
    let url = queue(&config, "limits.fifo", true).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let send = |group: String, dedup: &'static str| {
        sqs.send_message()
            .queue_url(&url)
            .message_body("{}")
            .message_group_id(group)
            .message_deduplication_id(dedup)
            .send()
    };
    // WHEN messages with a 128- and a 129-character group id are sent
    // THEN the first is taken and the second refused naming MessageGroupId, as SQS does
    send("g".repeat(128), "d1")
        .await
        .expect("a 128-character group id is taken");
    let error = send("g".repeat(129), "d2")
        .await
        .expect_err("a 129-character group id is refused");
    let error = service_code(&error.into_service_error());
    assert!(error.contains("MessageGroupId"), "{error}");
}

#[tokio::test]
async fn given_an_eventbridge_entry_over_1_mb_when_put_then_it_is_refused() {
    // GIVEN the default bus
    let (_moto, config) = moto().await;
    let events = aws_sdk_eventbridge::Client::new(&config);
    let put = |detail: String| {
        events
            .put_events()
            .entries(
                PutEventsRequestEntry::builder()
                    .event_bus_name("default")
                    .source("m365-lifecycle")
                    .detail_type("Lifecycle Job Finished")
                    .detail(detail)
                    .build(),
            )
            .send()
    };
    // WHEN an entry of 300 KB (over the 256 KiB of before January 2026) and one of 1.1 MB are put
    // THEN the first is taken and the second refused, as EventBridge does
    put(format!("{{\"a\":\"{}\"}}", "x".repeat(300_000)))
        .await
        .expect("a 300 KB entry is taken");
    let error = put(format!("{{\"a\":\"{}\"}}", "x".repeat(1_100_000)))
        .await
        .expect_err("an entry over 1 MB is refused");
    let error = service_code(&error.into_service_error());
    assert!(error.contains("over the limit"), "{error}");
}

#[tokio::test]
async fn given_a_transaction_with_one_failing_condition_when_written_then_none_of_it_is_and_the_reason_names_that_put()
 {
    // GIVEN a table holding item "b"
    let (_moto, config) = moto().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    support::table(&dynamodb, "tx").await;
    dynamodb
        .put_item()
        .table_name("tx")
        .item("pk", AttributeValue::S("b".into()))
        .send()
        .await
        .expect("b");
    let put_new = |pk: &str| {
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name("tx")
            .item("pk", AttributeValue::S(pk.into()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .expect("put");
        aws_sdk_dynamodb::types::TransactWriteItem::builder()
            .put(put)
            .build()
    };

    // WHEN a transaction puts "a", "b" and "c", each only if new
    let error = dynamodb
        .transact_write_items()
        .transact_items(put_new("a"))
        .transact_items(put_new("b"))
        .transact_items(put_new("c"))
        .send()
        .await
        .expect_err("b exists");

    // THEN it is cancelled with "b"'s condition as the reason, and neither "a" nor "c" is written
    let Some(
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(
            cancelled,
        ),
    ) = error.as_service_error()
    else {
        panic!("{error:?}");
    };
    let codes: Vec<_> = cancelled
        .cancellation_reasons()
        .iter()
        .map(|reason| reason.code().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(codes, ["None", "ConditionalCheckFailed", "None"]);
    let scan = dynamodb.scan().table_name("tx").send().await.expect("scan");
    assert_eq!(scan.count, 1);

    // WHEN the same transaction without "b" is sent THEN both are written
    dynamodb
        .transact_write_items()
        .transact_items(put_new("a"))
        .transact_items(put_new("c"))
        .send()
        .await
        .expect("written");
    let scan = dynamodb.scan().table_name("tx").send().await.expect("scan");
    assert_eq!(scan.count, 3);
}
