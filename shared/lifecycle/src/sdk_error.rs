//! Turns an AWS SDK error into the parts every adapter error keeps: the service's error code and
//! message, and whether trying again can help.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// A boxed error source, kept so the chain can be walked.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Error codes that mean "busy or broken for now": throttling and server-side failures.
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "RequestThrottled",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "InternalServerError",
    "InternalFailure",
    "InternalServiceError",
    "InternalServiceErrorException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "KMSThrottlingException",
];

/// The parts of an SDK error.
pub(crate) struct AwsFailure {
    pub code: Option<String>,
    pub message: String,
    pub retryable: bool,
    pub source: BoxError,
}

pub(crate) fn classify<E>(err: SdkError<E, HttpResponse>) -> AwsFailure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = err.code().map(str::to_owned);
    let message = match err.message() {
        Some(message) => message.to_owned(),
        None => DisplayErrorContext(&err).to_string(),
    };
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(context) => {
            context.raw().status().is_server_error()
                || code
                    .as_deref()
                    .is_some_and(|code| RETRYABLE_CODES.contains(&code))
        }
        _ => false,
    };
    AwsFailure {
        code,
        message,
        retryable,
        source: Box::new(err),
    }
}
