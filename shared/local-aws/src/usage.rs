//! Which IAM actions each function's code was allowed and used on the local stack.
//!
//! With `LOCAL_AWS_IAM_LOG=<file>` set, every request that an SDK configuration of
//! [`crate::Moto::sdk_config_for`] sends (a function's own credentials) and that the emulator
//! answers with success appends one line `{principal}\t{service}:{Action}` to that file (lines are
//! short and appended whole, so the processes of a parallel test run can share it). The
//! administrator's requests (seeding, assertions) are not recorded. `devstack iam-coverage <file>`
//! then compares what was used with each function's policy in infra/template.yaml: an action that
//! no test used is either dead weight in the policy or untested code (`make iam-coverage`).

use std::io::Write as _;

use aws_smithy_runtime_api::client::orchestrator::HttpRequest;

/// The environment variable naming the file the used actions are appended to.
pub const LOG_ENV: &str = "LOCAL_AWS_IAM_LOG";

/// The IAM action of a request of the AWS JSON protocols (`x-amz-target` `DynamoDB_20120810.PutItem`
/// is `dynamodb:PutItem`), for the services the bundle uses; `None` for any other.
pub fn action_of(request: &HttpRequest) -> Option<String> {
    let target = request.headers().get("x-amz-target")?;
    let (prefix, operation) = target.split_once('.')?;
    let service = match prefix {
        "DynamoDB_20120810" => "dynamodb",
        "AmazonSQS" => "sqs",
        "secretsmanager" => "secretsmanager",
        "AWSEvents" => "events",
        _ => return None,
    };
    // A transaction is authorized per item by AWS (its Puts as PutItem: the only kind the bundle
    // sends), so that is the action of the policy it uses.
    if service == "dynamodb" && operation == "TransactWriteItems" {
        return Some("dynamodb:PutItem".to_owned());
    }
    Some(format!("{service}:{operation}"))
}

/// Appends `principal` and `action` to the file of [`LOG_ENV`], when it is set. A failed write
/// is ignored: the record is evidence for a report, never part of what a test checks.
pub fn record(principal: &str, action: &str) {
    let Some(path) = std::env::var_os(LOG_ENV) else {
        return;
    };
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = file.write_all(format!("{principal}\t{action}\n").as_bytes());
    }
}
