//! Creates the template's tables, queues and secrets in the local AWS emulator, and remembers what
//! each logical id resolves to (`!Ref` and `!GetAtt` values) so that the functions' environment
//! can be resolved the way CloudFormation would.
//!
//! Idempotent: an existing table, queue or secret is kept (queues get their attributes set again),
//! so provisioning twice against the same emulator succeeds and yields the same names.

use std::collections::{BTreeMap, HashMap};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use thiserror::Error;

use crate::template::{
    Expr, FunctionSpec, GenerateSecret, Lookup, QueueSpec, Template, TemplateError,
};

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why provisioning failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProvisionError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{action} of {resource} failed: {detail}")]
    Aws {
        resource: String,
        action: &'static str,
        /// The SDK error with its whole chain (the SDK's own Display says only "service error").
        detail: String,
        #[source]
        source: BoxError,
    },
    #[error("{resource}: the emulator's answer lacks {what}")]
    Incomplete {
        resource: String,
        what: &'static str,
    },
}

fn aws_error<E>(resource: &str, action: &'static str) -> impl FnOnce(E) -> ProvisionError
where
    E: std::error::Error + Send + Sync + 'static,
{
    let resource = resource.to_owned();
    move |source| ProvisionError::Aws {
        resource,
        action,
        detail: aws_sdk_sqs::error::DisplayErrorContext(&source).to_string(),
        source: Box::new(source),
    }
}

/// Account id the emulator assigns to every resource.
pub const ACCOUNT_ID: &str = "123456789012";

/// What the template's logical ids and parameters resolve to on this machine.
#[derive(Debug, Clone, Default)]
pub struct Provisioned {
    references: HashMap<String, String>,
    attributes: HashMap<(String, String), String>,
    queue_urls: BTreeMap<String, String>,
    table_names: BTreeMap<String, String>,
    secret_arns: BTreeMap<String, String>,
}

impl Lookup for Provisioned {
    fn reference(&self, name: &str) -> Option<String> {
        self.references.get(name).cloned()
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Option<String> {
        self.attributes
            .get(&(resource.to_owned(), attribute.to_owned()))
            .cloned()
    }
}

impl Provisioned {
    /// URL of the queue with this logical id.
    pub fn queue_url(&self, logical_id: &str) -> Option<&str> {
        self.queue_urls.get(logical_id).map(String::as_str)
    }

    /// Every queue: logical id -> URL.
    pub fn queue_urls(&self) -> &BTreeMap<String, String> {
        &self.queue_urls
    }

    /// ARN of the queue with this logical id.
    pub fn queue_arn(&self, logical_id: &str) -> Option<String> {
        self.attribute(logical_id, "Arn")
    }

    /// Name of the table with this logical id.
    pub fn table_name(&self, logical_id: &str) -> Option<&str> {
        self.table_names.get(logical_id).map(String::as_str)
    }

    /// ARN of the secret with this logical id.
    pub fn secret_arn(&self, logical_id: &str) -> Option<&str> {
        self.secret_arns.get(logical_id).map(String::as_str)
    }

    fn set(&mut self, logical_id: &str, reference: String) {
        self.references.insert(logical_id.to_owned(), reference);
    }

    fn set_attribute(&mut self, logical_id: &str, attribute: &str, value: String) {
        self.attributes
            .insert((logical_id.to_owned(), attribute.to_owned()), value);
    }
}

/// Names the stack and the values of its parameters.
#[derive(Debug, Clone)]
pub struct StackIdentity {
    /// `AWS::StackName`: prefixes generated names and, through the template, secret names.
    pub stack_name: String,
    /// `AWS::Region`.
    pub region: String,
    /// Parameter values that replace the template's defaults.
    pub parameters: BTreeMap<String, String>,
}

/// Creates every table, queue and secret of `template` in the emulator `aws` points at.
pub async fn provision(
    template: &Template,
    aws: &SdkConfig,
    identity: &StackIdentity,
) -> Result<Provisioned, ProvisionError> {
    let mut out = Provisioned::default();
    out.set("AWS::StackName", identity.stack_name.clone());
    out.set("AWS::Region", identity.region.clone());
    out.set("AWS::AccountId", ACCOUNT_ID.to_owned());
    out.set("AWS::Partition", "aws".to_owned());
    out.set("AWS::URLSuffix", "amazonaws.com".to_owned());
    for (name, parameter) in &template.parameters {
        if let Some(value) = identity.parameters.get(name).or(parameter.default.as_ref()) {
            out.set(name, value.clone());
        }
    }
    for api in &template.http_apis {
        out.set(api, "local".to_owned());
    }
    for function in &template.functions {
        let name = format!("{}-{}", identity.stack_name, function.logical_id);
        let arn = format!(
            "arn:aws:lambda:{}:{ACCOUNT_ID}:function:{name}",
            identity.region
        );
        out.set(&function.logical_id, name);
        out.set_attribute(&function.logical_id, "Arn", arn);
    }

    let dynamodb = aws_sdk_dynamodb::Client::new(aws);
    for table in &template.tables {
        let name = physical_name(&table.table_name, &table.logical_id, identity, &out, "")?;
        let arn = ensure_table(&dynamodb, table, &name).await?;
        out.set(&table.logical_id, name.clone());
        out.set_attribute(&table.logical_id, "Arn", arn);
        out.table_names.insert(table.logical_id.clone(), name);
    }

    let sqs = aws_sdk_sqs::Client::new(aws);
    for queue in &template.queues {
        let suffix = if queue.fifo { ".fifo" } else { "" };
        let name = physical_name(&queue.queue_name, &queue.logical_id, identity, &out, suffix)?;
        let url = ensure_queue(&sqs, queue, &name).await?;
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(aws_error(&name, "GetQueueAttributes"))?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or_else(|| ProvisionError::Incomplete {
                resource: name.clone(),
                what: "QueueArn",
            })?;
        out.set(&queue.logical_id, url.clone());
        out.set_attribute(&queue.logical_id, "Arn", arn);
        out.set_attribute(&queue.logical_id, "QueueName", name);
        out.set_attribute(&queue.logical_id, "QueueUrl", url.clone());
        out.queue_urls.insert(queue.logical_id.clone(), url);
    }
    // Redrive policies point at other queues' ARNs, known only once every queue exists.
    for queue in &template.queues {
        let Some(redrive) = &queue.redrive_policy else {
            continue;
        };
        let location = format!("Resources.{}.Properties.RedrivePolicy", queue.logical_id);
        let target = redrive.dead_letter_target_arn.resolve(&out, &location)?;
        let policy = serde_json::json!({
            "deadLetterTargetArn": target,
            "maxReceiveCount": redrive.max_receive_count,
        });
        let url = out.queue_urls[&queue.logical_id].clone();
        sqs.set_queue_attributes()
            .queue_url(&url)
            .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
            .send()
            .await
            .map_err(aws_error(&queue.logical_id, "SetQueueAttributes"))?;
    }

    let secrets = aws_sdk_secretsmanager::Client::new(aws);
    for secret in &template.secrets {
        let name = match &secret.name {
            Some(expr) => expr.resolve(&out, &format!("Resources.{}.Name", secret.logical_id))?,
            None => format!("{}/{}", identity.stack_name, secret.logical_id),
        };
        let arn = match secrets.describe_secret().secret_id(&name).send().await {
            Ok(existing) => existing.arn,
            Err(_) => {
                let value = match (&secret.secret_string, &secret.generate) {
                    (Some(expr), _) => Some(expr.resolve(
                        &out,
                        &format!("Resources.{}.SecretString", secret.logical_id),
                    )?),
                    (None, Some(generate)) => Some(generate_secret(generate)),
                    (None, None) => None,
                };
                secrets
                    .create_secret()
                    .name(&name)
                    .set_secret_string(value)
                    .send()
                    .await
                    .map_err(aws_error(&name, "CreateSecret"))?
                    .arn
            }
        }
        .ok_or_else(|| ProvisionError::Incomplete {
            resource: name.clone(),
            what: "ARN",
        })?;
        out.set(&secret.logical_id, arn.clone());
        out.set_attribute(&secret.logical_id, "Id", arn.clone());
        out.secret_arns.insert(secret.logical_id.clone(), arn);
    }
    Ok(out)
}

fn physical_name(
    explicit: &Option<Expr>,
    logical_id: &str,
    identity: &StackIdentity,
    lookup: &Provisioned,
    suffix: &str,
) -> Result<String, ProvisionError> {
    Ok(match explicit {
        Some(expr) => expr.resolve(lookup, &format!("Resources.{logical_id}"))?,
        None => format!("{}-{logical_id}{suffix}", identity.stack_name),
    })
}

/// Creates the table of `template` (its keys, indexes and TTL) as `name` in the emulator `aws`
/// points at, nothing else of the stack: for tests and benches that need the table alone.
pub async fn table(template: &Template, aws: &SdkConfig, name: &str) -> Result<(), ProvisionError> {
    let spec = template
        .tables
        .first()
        .ok_or_else(|| ProvisionError::Incomplete {
            resource: "the template".to_owned(),
            what: "a DynamoDB table",
        })?;
    ensure_table(&aws_sdk_dynamodb::Client::new(aws), spec, name).await?;
    Ok(())
}

async fn ensure_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &crate::template::TableSpec,
    name: &str,
) -> Result<String, ProvisionError> {
    if let Ok(existing) = dynamodb.describe_table().table_name(name).send().await
        && let Some(arn) = existing.table.and_then(|t| t.table_arn)
    {
        return Ok(arn);
    }
    let key = |k: &crate::template::KeyElement| {
        KeySchemaElement::builder()
            .attribute_name(&k.attribute_name)
            .key_type(KeyType::from(k.key_type.as_str()))
            .build()
            .map_err(aws_error(name, "KeySchema"))
    };
    let mut request = dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for (attribute, kind) in &table.attribute_definitions {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()
                .map_err(aws_error(name, "AttributeDefinitions"))?,
        );
    }
    for element in &table.key_schema {
        request = request.key_schema(key(element)?);
    }
    for index in &table.global_secondary_indexes {
        let mut projection = Projection::builder()
            .projection_type(ProjectionType::from(index.projection_type.as_str()));
        for attribute in &index.non_key_attributes {
            projection = projection.non_key_attributes(attribute);
        }
        let mut gsi = GlobalSecondaryIndex::builder()
            .index_name(&index.index_name)
            .projection(projection.build());
        for element in &index.key_schema {
            gsi = gsi.key_schema(key(element)?);
        }
        request = request.global_secondary_indexes(
            gsi.build()
                .map_err(aws_error(name, "GlobalSecondaryIndexes"))?,
        );
    }
    let created = request
        .send()
        .await
        .map_err(aws_error(name, "CreateTable"))?;
    if let Some(attribute) = &table.ttl_attribute {
        dynamodb
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build()
                    .map_err(aws_error(name, "TimeToLiveSpecification"))?,
            )
            .send()
            .await
            .map_err(aws_error(name, "UpdateTimeToLive"))?;
    }
    created
        .table_description
        .and_then(|t| t.table_arn)
        .ok_or_else(|| ProvisionError::Incomplete {
            resource: name.to_owned(),
            what: "TableArn",
        })
}

async fn ensure_queue(
    sqs: &aws_sdk_sqs::Client,
    queue: &QueueSpec,
    name: &str,
) -> Result<String, ProvisionError> {
    let mut attributes: HashMap<QueueAttributeName, String> = HashMap::new();
    if let Some(v) = queue.visibility_timeout {
        attributes.insert(QueueAttributeName::VisibilityTimeout, v.to_string());
    }
    if let Some(v) = queue.message_retention_period {
        attributes.insert(QueueAttributeName::MessageRetentionPeriod, v.to_string());
    }
    if let Some(v) = queue.delay_seconds {
        attributes.insert(QueueAttributeName::DelaySeconds, v.to_string());
    }
    if queue.fifo {
        attributes.insert(
            QueueAttributeName::ContentBasedDeduplication,
            queue.content_based_deduplication.to_string(),
        );
    }
    if let Ok(existing) = sqs.get_queue_url().queue_name(name).send().await
        && let Some(url) = existing.queue_url
    {
        if !attributes.is_empty() {
            sqs.set_queue_attributes()
                .queue_url(&url)
                .set_attributes(Some(attributes))
                .send()
                .await
                .map_err(aws_error(name, "SetQueueAttributes"))?;
        }
        return Ok(url);
    }
    if queue.fifo {
        attributes.insert(QueueAttributeName::FifoQueue, "true".to_owned());
    }
    sqs.create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(aws_error(name, "CreateQueue"))?
        .queue_url
        .ok_or_else(|| ProvisionError::Incomplete {
            resource: name.to_owned(),
            what: "QueueUrl",
        })
}

/// A random value as `GenerateSecretString` asks for (local only; Secrets Manager generates the
/// real one in AWS).
fn generate_secret(spec: &GenerateSecret) -> String {
    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const PUNCTUATION: &[u8] = b"!#$%&()*+,-.:;<=>?@[]^_{|}~";
    let alphabet: Vec<u8> = if spec.exclude_punctuation {
        LETTERS.to_vec()
    } else {
        [LETTERS, PUNCTUATION].concat()
    };
    let value: String = (0..spec.length.max(1))
        .map(|_| char::from(alphabet[fastrand::usize(..alphabet.len())]))
        .collect();
    match (&spec.secret_string_template, &spec.generate_string_key) {
        (Some(template), Some(key)) => {
            let mut object =
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(template)
                    .unwrap_or_default();
            object.insert(key.clone(), serde_json::Value::String(value));
            serde_json::Value::Object(object).to_string()
        }
        _ => value,
    }
}

/// The IAM policy document of a function's execution role: its `Policies` statements with every
/// `!GetAtt`/`!Ref`/`!Sub` resolved to the local ARNs. The devstack runs the function with
/// credentials that have exactly this policy (see `local_aws::Moto::sdk_config_for`).
pub fn function_policy(
    function: &FunctionSpec,
    provisioned: &Provisioned,
) -> Result<serde_json::Value, ProvisionError> {
    let mut statements = Vec::new();
    for (index, statement) in function.policy.iter().enumerate() {
        let location = format!(
            "Resources.{}.Properties.Policies.Statement[{index}].Resource",
            function.logical_id
        );
        let resources = statement
            .resources
            .iter()
            .map(|expr| expr.resolve(provisioned, &location))
            .collect::<Result<Vec<_>, _>>()?;
        let mut document = serde_json::json!({
            "Effect": statement.effect,
            "Action": statement.actions,
            "Resource": resources,
        });
        if let Some(sid) = &statement.sid {
            document["Sid"] = serde_json::Value::String(sid.clone());
        }
        statements.push(document);
    }
    Ok(serde_json::json!({"Version": "2012-10-17", "Statement": statements}))
}
