//! The m365-lifecycle domain: typed identifiers and records, configuration, tracing set-up, and the
//! adapters over DynamoDB (store), SQS (queue) and Secrets Manager (vault).

pub mod config;
pub mod function;

pub use config::{Config, ConfigError};
pub use function::{Function, HandlerError};
