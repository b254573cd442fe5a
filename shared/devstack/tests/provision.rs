//! Provisioning the real template into a moto server, with the real SDK clients.

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_sqs::types::QueueAttributeName;
use devstack::Template;
use devstack::provision::{StackIdentity, provision};

fn real_template() -> Template {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
    Template::load(&path).expect("the real template parses")
}

fn identity() -> StackIdentity {
    StackIdentity {
        stack_name: "m365-lifecycle".into(),
        region: local_aws::REGION.into(),
        parameters: BTreeMap::from([
            (
                "PlatformAppClientId".into(),
                "00000000-0000-0000-0000-000000000001".into(),
            ),
            ("PublicBaseUrl".into(), "http://127.0.0.1:1".into()),
        ]),
    }
}

#[tokio::test]
async fn given_the_real_template_when_provisioned_twice_then_table_queues_and_secrets_exist_once() {
    // GIVEN a fresh emulator and the real template
    let moto = local_aws::Moto::start().await.expect("moto starts");
    let aws = moto.sdk_config().await;
    let template = real_template();

    // WHEN it is provisioned twice
    let first = provision(&template, &aws, &identity())
        .await
        .expect("first provisioning");
    let second = provision(&template, &aws, &identity())
        .await
        .expect("second provisioning");

    // THEN the names are stable and each resource is as the template declares
    assert_eq!(first.queue_urls(), second.queue_urls());
    assert_eq!(
        first.secret_arn("PlatformAppSecret"),
        second.secret_arn("PlatformAppSecret")
    );

    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let table = first.table_name("Table").expect("table provisioned");
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .expect("describe ttl");
    assert_eq!(
        ttl.time_to_live_description.and_then(|d| d.attribute_name),
        Some("expires_at".to_owned())
    );

    let sqs = aws_sdk_sqs::Client::new(&aws);
    let onboarding = first
        .queue_url("OnboardingQueue")
        .expect("onboarding queue");
    assert!(onboarding.ends_with(".fifo"), "{onboarding}");
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(onboarding)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("attributes")
        .attributes
        .unwrap_or_default();
    assert_eq!(attributes[&QueueAttributeName::FifoQueue], "true");
    let redrive: serde_json::Value =
        serde_json::from_str(&attributes[&QueueAttributeName::RedrivePolicy]).expect("json");
    assert_eq!(
        redrive["deadLetterTargetArn"],
        first
            .queue_arn("OnboardingDeadLetterQueue")
            .expect("dlq arn")
    );
    assert_eq!(
        redrive["maxReceiveCount"].as_u64(),
        Some(u64::from(
            lifecycle::MAX_DELIVERIES + lifecycle::jobs::MAX_FIFO_WAITS
        ))
    );

    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let key = secrets
        .get_secret_value()
        .secret_id(first.secret_arn("StateSigningKeySecret").expect("key"))
        .send()
        .await
        .expect("generated key");
    assert_eq!(key.secret_string.map(|s| s.len()), Some(64));
    let described = secrets
        .describe_secret()
        .secret_id(first.secret_arn("PlatformAppSecret").expect("app secret"))
        .send()
        .await
        .expect("platform app secret exists");
    assert_eq!(
        described.name.as_deref(),
        Some("m365-lifecycle/platform/app-secret")
    );
}
