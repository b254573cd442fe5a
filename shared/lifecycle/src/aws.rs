//! AWS SDK configuration and the clients every function shares, built once per cold start.

use aws_config::{BehaviorVersion, SdkConfig};

/// Loads the SDK configuration from the environment: region, credentials (the Lambda role), and
/// `AWS_ENDPOINT_URL` (honoured by the SDK itself), which points every client at a local emulator.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// The DynamoDB, SQS and Secrets Manager clients, built once from one [`SdkConfig`] and shared by
/// reference (each is a cheap handle over one connection pool).
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub events: aws_sdk_eventbridge::Client,
}

impl AwsClients {
    /// Builds the clients from one configuration.
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            events: aws_sdk_eventbridge::Client::new(config),
        }
    }
}

impl From<&SdkConfig> for AwsClients {
    fn from(config: &SdkConfig) -> Self {
        Self::new(config)
    }
}
