//! A queue subscribed to events through an EventBridge rule, as another service of the platform
//! would be: how tests read what a function put on the bus.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_eventbridge::types::Target;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};

/// A subscriber queue and the rule that routes events to it.
#[derive(Debug, Clone)]
pub struct Subscriber {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Subscriber {
    /// Creates queue `name` and a rule of that name on `bus` (the account's default bus when
    /// `None`) that sends it every event whose `source` is `source`. Panics on a broken fixture.
    pub async fn start(config: &SdkConfig, name: &str, bus: Option<&str>, source: &str) -> Self {
        let sqs = aws_sdk_sqs::Client::new(config);
        let queue_url = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("subscriber queue")
            .queue_url
            .expect("subscriber queue url");
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("subscriber queue attributes")
            .attributes
            .and_then(|attributes| attributes.get(&QueueAttributeName::QueueArn).cloned())
            .expect("subscriber queue arn");
        let events = aws_sdk_eventbridge::Client::new(config);
        events
            .put_rule()
            .name(name)
            .set_event_bus_name(bus.map(str::to_owned))
            .event_pattern(json!({ "source": [source] }).to_string())
            .send()
            .await
            .expect("subscriber rule");
        let target = Target::builder()
            .id("subscriber")
            .arn(arn)
            .build()
            .expect("subscriber target");
        events
            .put_targets()
            .rule(name)
            .set_event_bus_name(bus.map(str::to_owned))
            .targets(target)
            .send()
            .await
            .expect("subscriber rule target");
        Self { sqs, queue_url }
    }

    /// The subscriber queue's URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Every event the queue got since the last call, as sent (each deleted once read), waiting
    /// up to `wait` (at most 20 s, SQS's longest poll) for the first (EventBridge delivers to the
    /// queue as the event is put).
    pub async fn bodies(&self, wait: Duration) -> Vec<String> {
        let mut bodies = Vec::new();
        loop {
            // SQS long-polls for at most 20 s a request.
            let seconds = if bodies.is_empty() {
                wait.as_secs().min(20)
            } else {
                0
            };
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(i32::try_from(seconds).unwrap_or(20))
                .send()
                .await
                .expect("subscriber receive");
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                return bodies;
            }
            for message in messages {
                bodies.push(message.body.unwrap_or_default());
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle.unwrap_or_default())
                    .send()
                    .await
                    .expect("subscriber delete");
            }
        }
    }

    /// [`Self::bodies`], each parsed as the JSON event it is.
    pub async fn events(&self, wait: Duration) -> Vec<Value> {
        self.bodies(wait)
            .await
            .iter()
            .map(|body| serde_json::from_str(body).expect("an event is JSON"))
            .collect()
    }
}
