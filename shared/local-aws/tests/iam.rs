//! IAM is enforced: code runs with exactly the permissions of the policy it was given.

mod support;

use local_aws::Moto;
use serde_json::json;

async fn table(moto: &Moto) -> String {
    let admin = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    support::table(&admin, "t").await
}

#[tokio::test]
async fn given_a_policy_without_query_when_its_code_queries_then_access_is_denied_as_in_aws() {
    // GIVEN a principal allowed PutItem and GetItem on the table, not Query
    let moto = Moto::start()
        .await
        .expect("moto_server starts (run `make venv`)");
    let arn = table(&moto).await;
    let policy = json!({"Statement": [{"Effect": "Allow",
        "Action": ["dynamodb:PutItem", "dynamodb:GetItem"], "Resource": arn}]});
    let config = moto
        .sdk_config_for("function", &policy)
        .await
        .expect("principal");
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);

    // WHEN it writes (allowed) and then queries (not allowed)
    let put = dynamodb
        .put_item()
        .table_name("t")
        .item("pk", aws_sdk_dynamodb::types::AttributeValue::S("a".into()))
        .send()
        .await;
    let query = dynamodb
        .query()
        .table_name("t")
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", aws_sdk_dynamodb::types::AttributeValue::S("a".into()))
        .send()
        .await;

    // THEN the write succeeds and the query is refused (HTTP 403)
    assert!(put.is_ok(), "{put:?}");
    let error = query.expect_err("Query is not in the policy");
    let status = error.raw_response().map(|r| r.status().as_u16());
    assert_eq!(status, Some(403), "{error:?}");
}

#[tokio::test]
async fn given_a_policy_for_one_queue_when_its_code_sends_to_another_then_access_is_denied() {
    // GIVEN two queues and a principal allowed to send to the first only
    let moto = Moto::start()
        .await
        .expect("moto_server starts (run `make venv`)");
    let admin = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
    let allowed = admin
        .create_queue()
        .queue_name("allowed")
        .send()
        .await
        .expect("queue");
    let other = admin
        .create_queue()
        .queue_name("other")
        .send()
        .await
        .expect("queue");
    let policy = json!({"Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage",
        "Resource": "arn:aws:sqs:us-east-1:123456789012:allowed"}]});
    let sqs = aws_sdk_sqs::Client::new(
        &moto
            .sdk_config_for("sender", &policy)
            .await
            .expect("principal"),
    );

    // WHEN it sends to both
    let to_allowed = sqs
        .send_message()
        .queue_url(allowed.queue_url.unwrap_or_default())
        .message_body("x")
        .send()
        .await;
    let to_other = sqs
        .send_message()
        .queue_url(other.queue_url.unwrap_or_default())
        .message_body("x")
        .send()
        .await;

    // THEN only the queue named in the policy accepts it
    assert!(to_allowed.is_ok(), "{to_allowed:?}");
    assert!(
        to_other.is_err(),
        "sending to a queue outside the policy must be refused"
    );
}
