//! What the local stack's own tests share.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};

/// A table `name` keyed by a string `pk` alone, made by `dynamodb` (an administrator); answers
/// its ARN.
pub async fn table(dynamodb: &aws_sdk_dynamodb::Client, name: &str) -> String {
    dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .send()
        .await
        .expect("the table is made")
        .table_description
        .and_then(|t| t.table_arn)
        .expect("table ARN")
}
